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
// from then on are not seen until ActionWatchResumed.
const ActionWatchError = "watch-error"

// ActionWatchResumed is told to onEvent functions when the stream is live again after
// a break (the Docker daemon came back): it asks for the events since the last one
// seen, so that what happened in between is not lost as long as the daemon kept it.
const ActionWatchResumed = "watch-start"

// maxSeen bounds the events kept for Stop; a soak of hours keeps the latest.
const maxSeen = 4096

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
// When the stream breaks (the Docker daemon went away) the functions are told
// ActionWatchError, and the watch is asked for again, with a backoff, from the last
// event seen; once it holds they are told ActionWatchResumed.
func WatchEvents(ctx context.Context, c eventer, sel Selector, log *zap.Logger, onEvent ...func(Event)) *Events {
	ctx, cancel := context.WithCancel(ctx)
	e := &Events{log: log.Named("events"), cancel: cancel, done: make(chan struct{}), onEvent: onEvent}
	f := sel.filters()
	f.Add("type", "container")
	for _, a := range WatchedActions {
		f.Add("event", a)
	}
	go e.loop(ctx, c, filters.Args(f), time.Now())
	return e
}

// resumeAfter is how long a re-asked stream must hold before it counts as resumed.
const resumeAfter = time.Second

func (e *Events) loop(ctx context.Context, c eventer, f filters.Args, since time.Time) {
	defer close(e.done)
	wait, broken := time.Second, false
	for {
		sub, cancel := context.WithCancel(ctx)
		msgs, errs := c.Events(sub, events.ListOptions{Since: strconv.FormatFloat(float64(since.UnixNano())/1e9, 'f', 9, 64), Filters: f})
		err := e.drain(ctx, msgs, errs, &since, &broken, &wait)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if !broken {
			broken = true
			e.mu.Lock()
			e.err = err
			e.mu.Unlock()
			e.log.Warn("docker events stream ended: unexpected events are not seen until it is back; retrying", zap.Error(err))
			e.tell(Event{At: time.Now(), Action: ActionWatchError, Err: err.Error()})
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// drain reads one subscription until it breaks or ctx ends. A subscription that
// holds for resumeAfter after a break is the watch resumed.
func (e *Events) drain(ctx context.Context, msgs <-chan events.Message, errs <-chan error, since *time.Time, broken *bool, wait *time.Duration) error {
	var resumed <-chan time.Time
	if *broken {
		resumed = time.After(resumeAfter)
	}
	for {
		select {
		case m := <-msgs:
			ev := e.record(m)
			if ev.At.After(*since) {
				*since = ev.At
			}
		case err := <-errs:
			return err
		case <-resumed:
			resumed, *broken, *wait = nil, false, time.Second
			e.mu.Lock()
			e.err = nil
			e.mu.Unlock()
			e.log.Info("docker events stream is back")
			e.tell(Event{At: time.Now(), Action: ActionWatchResumed})
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (e *Events) tell(ev Event) {
	for _, f := range e.onEvent {
		f(ev)
	}
}

func (e *Events) record(m events.Message) Event {
	ev := Event{At: time.Unix(0, m.TimeNano), ID: m.Actor.ID, Name: m.Actor.Attributes["name"], Action: string(m.Action), ExitCode: m.Actor.Attributes["exitCode"]}
	e.mu.Lock()
	for _, x := range e.expect {
		if (x.id == ev.ID || x.id == EveryPod) && slices.Contains(x.actions, ev.Action) && !ev.At.Before(x.from) && (x.until.IsZero() || !ev.At.After(x.until)) {
			ev.Expected, ev.Fault = true, x.fault
		}
	}
	e.seen = append(e.seen, ev)
	if len(e.seen) > maxSeen {
		e.seen = slices.Delete(e.seen, 0, len(e.seen)-maxSeen)
	}
	e.mu.Unlock()
	e.tell(ev)
	if !ev.Expected {
		e.log.Warn("unexpected container event", zap.String("container", ev.Name), zap.String("action", ev.Action), zap.String("exit_code", ev.ExitCode), zap.Time("at", ev.At))
	}
	return ev
}

// Expect marks actions on container id (EveryPod: on any) as caused by fault from now
// until release.
func (e *Events) Expect(id, fault string, actions []string) (release func()) {
	if e == nil || len(actions) == 0 {
		return func() {}
	}
	x := &expectation{id: id, fault: fault, actions: actions, from: time.Now().Add(-time.Second)}
	e.mu.Lock()
	// Expectations released long ago can no longer match an event on its way: drop
	// them, so that a soak of hours keeps a short list.
	e.expect = slices.DeleteFunc(e.expect, func(o *expectation) bool { return !o.until.IsZero() && time.Since(o.until) > time.Minute })
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
