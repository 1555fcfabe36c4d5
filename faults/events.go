package faults

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"go.uber.org/zap"
)

// WatchedActions are the container events chaosd accounts for: each one not caused by
// chaosd itself is unexpected.
var WatchedActions = []string{"die", "oom", "restart", "pause"}

// Event is one watched container event.
type Event struct {
	At       time.Time `json:"at"`
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Action   string    `json:"action"`
	ExitCode string    `json:"exit_code,omitempty"`
	Expected bool      `json:"expected"`
	Fault    string    `json:"fault,omitempty"` // the fault that caused it, when expected
	Err      string    `json:"error,omitempty"` // Action ActionWatchError: why the stream ended
}

// ActionWatchError is told to onEvent functions when the event stream breaks: events
// from then on are not seen.
const ActionWatchError = "watch-error"

// Events watches the selector's containers for die, OOM, restart and pause events and
// tells chaosd's own from the unexpected.
type Events struct {
	log    *zap.Logger
	cancel context.CancelFunc
	done   chan struct{}

	onEvent []func(Event)

	mu     sync.Mutex
	expect []*expectation
	seen   []Event
	err    error
}

type expectation struct {
	id, fault   string
	actions     []string
	from, until time.Time // until zero: still active
}

// WatchEvents starts watching; Stop ends it. Events are asked from the moment of the
// call, so none is missed between here and the first fault. Each onEvent function is
// told every event as it arrives, already classified (chaosd's history records them).
func WatchEvents(ctx context.Context, c eventer, sel Selector, log *zap.Logger, onEvent ...func(Event)) *Events {
	ctx, cancel := context.WithCancel(ctx)
	e := &Events{log: log.Named("events"), cancel: cancel, done: make(chan struct{}), onEvent: onEvent}
	f := sel.filters()
	f.Add("type", "container")
	for _, a := range WatchedActions {
		f.Add("event", a)
	}
	since := strconv.FormatFloat(float64(time.Now().UnixNano())/1e9, 'f', 9, 64)
	msgs, errs := c.Events(ctx, events.ListOptions{Since: since, Filters: filters.Args(f)})
	go e.loop(ctx, msgs, errs)
	return e
}

func (e *Events) loop(ctx context.Context, msgs <-chan events.Message, errs <-chan error) {
	defer close(e.done)
	for {
		select {
		case m := <-msgs:
			e.record(m)
		case err := <-errs:
			if ctx.Err() == nil {
				e.mu.Lock()
				e.err = err
				e.mu.Unlock()
				e.log.Warn("docker events stream ended: unexpected events can no longer be seen", zap.Error(err))
				for _, f := range e.onEvent {
					f(Event{At: time.Now(), Action: ActionWatchError, Err: err.Error()})
				}
			}
			return
		case <-ctx.Done():
			return
		}
	}
}

func (e *Events) record(m events.Message) {
	ev := Event{At: time.Unix(0, m.TimeNano), ID: m.Actor.ID, Name: m.Actor.Attributes["name"], Action: string(m.Action), ExitCode: m.Actor.Attributes["exitCode"]}
	e.mu.Lock()
	for _, x := range e.expect {
		if x.id == ev.ID && slices.Contains(x.actions, ev.Action) && !ev.At.Before(x.from) && (x.until.IsZero() || !ev.At.After(x.until)) {
			ev.Expected, ev.Fault = true, x.fault
		}
	}
	e.seen = append(e.seen, ev)
	e.mu.Unlock()
	for _, f := range e.onEvent {
		f(ev)
	}
	if !ev.Expected {
		e.log.Warn("unexpected container event", zap.String("container", ev.Name), zap.String("action", ev.Action), zap.String("exit_code", ev.ExitCode), zap.Time("at", ev.At))
	}
}

// Expect marks actions on container id as caused by fault from now until release.
func (e *Events) Expect(id, fault string, actions []string) (release func()) {
	if e == nil || len(actions) == 0 {
		return func() {}
	}
	x := &expectation{id: id, fault: fault, actions: actions, from: time.Now().Add(-time.Second)}
	e.mu.Lock()
	e.expect = append(e.expect, x)
	e.mu.Unlock()
	return func() {
		e.mu.Lock()
		x.until = time.Now()
		e.mu.Unlock()
	}
}

// Stop waits settle for events still on their way, ends the watch and returns every
// event seen, and the error that ended the stream early, if any.
func (e *Events) Stop(settle time.Duration) ([]Event, error) {
	if e == nil {
		return nil, nil
	}
	t := time.NewTimer(settle)
	select {
	case <-t.C:
	case <-e.done:
		t.Stop()
	}
	e.cancel()
	<-e.done
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.seen), e.err
}

// Unexpected filters the unexpected events.
func Unexpected(evs []Event) []Event {
	var out []Event
	for _, ev := range evs {
		if !ev.Expected {
			out = append(out, ev)
		}
	}
	return out
}
