package faults

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
	"go.uber.org/zap/zaptest"
)

func TestEventsTellChaosdsOwnFromUnexpected(t *testing.T) {
	msgs := make(chan events.Message, 8)
	var asked events.ListOptions
	d := &fakeDocker{events: func(o events.ListOptions) (<-chan events.Message, <-chan error) {
		asked = o
		return msgs, make(chan error)
	}}
	ev := WatchEvents(context.Background(), d, Selector{Project: "proj"}, zaptest.NewLogger(t))
	release := ev.Expect("c2", "f-1", []string{"kill", "die"})
	send := func(id, action string) {
		msgs <- events.Message{Action: events.Action(action), Actor: events.Actor{ID: id, Attributes: map[string]string{"name": "proj_" + id, "exitCode": "137"}}, TimeNano: time.Now().UnixNano()}
	}
	send("c2", "die")   // ours
	send("c1", "die")   // someone else's
	send("c2", "pause") // not what the kill causes
	time.Sleep(20 * time.Millisecond)
	release()
	time.Sleep(5 * time.Millisecond)
	send("c2", "die") // after the fault: unexpected again
	seen, err := ev.Stop(50 * time.Millisecond)
	must(t, err)
	var got []string
	for _, e := range seen {
		got = append(got, e.ID+" "+e.Action+" "+map[bool]string{true: "expected", false: "UNEXPECTED"}[e.Expected])
	}
	want := []string{"c2 die expected", "c1 die UNEXPECTED", "c2 pause UNEXPECTED", "c2 die UNEXPECTED"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if n := len(Unexpected(seen)); n != 3 {
		t.Errorf("%d unexpected", n)
	}
	f := asked.Filters
	if !f.ExactMatch("label", LabelProject+"=proj") || !slices.Equal(sorted(f.Get("event")), sorted(WatchedActions)) || asked.Since == "" {
		t.Errorf("asked for %+v", asked)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestEventsStreamErrorIsReported(t *testing.T) {
	errs := make(chan error, 1)
	errs <- context.DeadlineExceeded
	d := &fakeDocker{events: func(events.ListOptions) (<-chan events.Message, <-chan error) { return make(chan events.Message), errs }}
	ev := WatchEvents(context.Background(), d, Selector{Project: "proj"}, zaptest.NewLogger(t))
	_, err := ev.Stop(time.Second)
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("err %v", err)
	}
}

// After the Docker daemon goes away the watch is asked for again from the last event
// seen, and the watchers are told it broke and that it is back.
func TestEventsResumeAfterTheDaemonReturns(t *testing.T) {
	first := make(chan events.Message, 1)
	firstErr := make(chan error, 1)
	second := make(chan events.Message, 1)
	var mu sync.Mutex
	var asked []events.ListOptions
	d := &fakeDocker{events: func(o events.ListOptions) (<-chan events.Message, <-chan error) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, o)
		if len(asked) == 1 {
			return first, firstErr
		}
		return second, make(chan error)
	}}
	var told []string
	var tmu sync.Mutex
	ev := WatchEvents(context.Background(), d, Selector{Project: "proj"}, zaptest.NewLogger(t), func(e Event) {
		tmu.Lock()
		told = append(told, e.Action)
		tmu.Unlock()
	})
	at := time.Now().Add(5 * time.Millisecond)
	first <- events.Message{Action: "die", Actor: events.Actor{ID: "c1"}, TimeNano: at.UnixNano()}
	time.Sleep(20 * time.Millisecond)
	firstErr <- errors.New("Cannot connect to the Docker daemon")
	time.Sleep(time.Second + resumeAfter + 300*time.Millisecond) // the backoff, then the stream holding
	second <- events.Message{Action: "die", Actor: events.Actor{ID: "c2"}, TimeNano: time.Now().UnixNano()}
	seen, err := ev.Stop(50 * time.Millisecond)
	if err != nil {
		t.Errorf("Stop: %v after the stream came back", err)
	}
	tmu.Lock()
	defer tmu.Unlock()
	if want := []string{"die", ActionWatchError, ActionWatchResumed, "die"}; !slices.Equal(told, want) {
		t.Fatalf("told %v, want %v", told, want)
	}
	if len(seen) != 2 {
		t.Errorf("seen %d events, want 2", len(seen))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 2 {
		t.Fatalf("asked %d times, want 2", len(asked))
	}
	if want := strconv.FormatFloat(float64(at.UnixNano())/1e9, 'f', 9, 64); asked[1].Since != want {
		t.Errorf("asked again since %s, want the last event's time %s", asked[1].Since, want)
	}
}
