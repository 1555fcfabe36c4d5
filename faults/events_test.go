package faults

import (
	"context"
	"slices"
	"strings"
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
