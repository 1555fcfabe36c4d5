package history

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The fields added for mesh's promises round-trip, and are absent from the lines of
// an event that does not set them (older readers and histories agree).
func TestPromiseFieldsRoundTrip(t *testing.T) {
	evs := []Event{
		MetaEvent(Meta{Phase: MetaBegin, Promises: []string{"restart-recovery", "stream-kept-log"}}),
		WatchEvent(Watch{Watcher: "w1", Run: "r1", Thread: "t1", Pod: "mesh-2", OpenedAt: t0, Order: Order{{1, 6}, {1, 20}}, Restarts: []int{6}, Finished: true}),
		FaultEvent(Fault{ID: "f1", Phase: FaultIntent, Kind: KindRollout, Signal: SignalTerm, At: t0}),
		ProbeEvent(MessagesProbe("r1", "t1", []string{"chunk-1 chunk-2 "}, nil), t0),
		ProbeEvent(MessagesProbe("r2", "t2", nil, nil), t0),
		ProbeEvent(MessagesProbe("r3", "t3", []string{"x"}, errors.New("dial tcp: refused")), t0),
	}
	var buf bytes.Buffer
	w := NewWriter(&buf, Options{Now: func() time.Time { return t0 }})
	var written []Event
	for _, e := range evs {
		got, err := w.Append(e)
		if err != nil {
			t.Fatal(err)
		}
		written = append(written, got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"promises":["restart-recovery","stream-kept-log"]`, `"restarts":[6]`, `"signal":"TERM"`,
		`"kind":"messages","run":"r1","thread":"t1","messages":{"replies":["chunk-1 chunk-2 "]}`, `"messages":{"replies":[]}`, `"error":"dial tcp: refused"`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("history lacks %s:\n%s", want, buf.String())
		}
	}
	r := NewReader(&buf)
	for i, want := range written {
		got, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("event %d: got %+v, want %+v", i, got, want)
		}
	}
	if evs[5].Probe.Messages != nil {
		t.Errorf("a failed messages reading carries replies: %+v", evs[5].Probe.Messages)
	}
}

func TestOlderLinesDecodeWithoutPromiseFields(t *testing.T) {
	lines := []string{
		`{"v":1,"seq":1,"time":"2026-05-01T12:00:00Z","type":"meta","meta":{"phase":"begin","heartbeatCheck":false}}`,
		`{"v":1,"seq":2,"time":"2026-05-01T12:00:01Z","type":"watch","watch":{"watcher":"w1","run":"r1","thread":"t1","pod":"mesh-2","late":false,"k":0,"openedAt":"2026-05-01T12:00:00Z","order":"1-7,1-20","foreign":0,"finished":true}}`,
		`{"v":1,"seq":3,"time":"2026-05-01T12:00:02Z","type":"fault","fault":{"id":"f1","phase":"injected","kind":"kill","pod":"mesh-1","at":"2026-05-01T12:00:02Z"}}`,
	}
	r := NewReader(strings.NewReader(strings.Join(lines, "\n") + "\n"))
	var evs []Event
	for range lines {
		e, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	if evs[0].Meta.Promises != nil || evs[0].Meta.HeartbeatCheck == nil || *evs[0].Meta.HeartbeatCheck {
		t.Errorf("meta %+v", evs[0].Meta)
	}
	if evs[1].Watch.Restarts != nil || evs[1].Watch.Order.String() != "1-7,1-20" {
		t.Errorf("watch %+v", evs[1].Watch)
	}
	if evs[2].Fault.Signal != "" {
		t.Errorf("fault %+v", evs[2].Fault)
	}
}
