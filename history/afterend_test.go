package history

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chaosd/chaosd/probes"
)

// A buffer reading's counts of what came after the end round-trip; a clean reading
// writes none of them, and a line written before they existed reads as none.
func TestBufferAfterEndFieldsRoundTrip(t *testing.T) {
	late := time.Date(2026, 5, 1, 12, 0, 20, 123456789, time.UTC)
	evs := []Event{
		ProbeEvent(BufferProbe("r1", "t1", probes.Buffer{Messages: 48, FirstSeq: 1, LastSeq: 48, TextDeltas: 40, Done: true,
			Sentinels: 2, AfterDone: 25, FirstAfterDone: late, Finishes: 2}, nil), t0),
		ProbeEvent(BufferProbe("r2", "t2", probes.Buffer{Messages: 23, FirstSeq: 1, LastSeq: 23, TextDeltas: 20, Done: true, Sentinels: 1, Finishes: 1}, nil), t0),
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
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	for _, want := range []string{`"sentinels":2`, `"afterDone":25`, `"firstAfterDone":"2026-05-01T12:00:20.123456789Z"`, `"finishes":2`} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("late writes' reading lacks %s:\n%s", want, lines[0])
		}
	}
	for _, absent := range []string{"afterDone", "firstAfterDone"} {
		if strings.Contains(lines[1], absent) {
			t.Errorf("a clean reading writes %s:\n%s", absent, lines[1])
		}
	}
	r := NewReader(&buf)
	for i, want := range written {
		got, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("event %d: got %+v, want %+v", i, got.Probe.Buffer, want.Probe.Buffer)
		}
	}

	old := `{"v":1,"seq":1,"time":"2026-05-01T12:00:00Z","type":"probe","probe":{"kind":"buffer","run":"r1","thread":"t1","buffer":{"messages":23,"firstSeq":1,"lastSeq":23,"textDeltas":20,"done":true}}}`
	e, err := Decode([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	if b := e.Probe.Buffer; b.Sentinels != 0 || b.AfterDone != 0 || !b.FirstAfterDone.IsZero() || b.Finishes != 0 || !b.Done || b.TextDeltas != 20 {
		t.Errorf("an older reading decodes to %+v", b)
	}
}

// A start op records its settle window, 0 included; one written before the field
// existed reads as not recorded (nil).
func TestStartOpSettle(t *testing.T) {
	zero, settle := Duration(0), Duration(34*time.Second)
	for _, tc := range []struct {
		settle *Duration
		want   string
	}{{&settle, `"settle":"34s"`}, {&zero, `"settle":"0s"`}, {nil, ""}} {
		e := OpEvent(Op{ID: 1, Name: OpStartRun, Phase: PhaseInvoke, Run: "r1", Thread: "t1", Settle: tc.settle})
		e.V, e.Seq, e.Time = SchemaVersion, 1, t0
		line, err := Encode(&e)
		if err != nil {
			t.Fatal(err)
		}
		if tc.want != "" && !strings.Contains(string(line), tc.want) || tc.want == "" && strings.Contains(string(line), "settle") {
			t.Errorf("settle %v: %s, want %q", tc.settle, line, tc.want)
		}
		got, err := Decode(line)
		if err != nil {
			t.Fatal(err)
		}
		if (got.Op.Settle == nil) != (tc.settle == nil) || got.Op.Settle != nil && *got.Op.Settle != *tc.settle {
			t.Errorf("settle %v decodes to %v", tc.settle, got.Op.Settle)
		}
	}
}
