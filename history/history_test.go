package history

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaosd/chaosd/probes"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.UTC)

func sample() []Event {
	yes := true
	return []Event{
		MetaEvent(Meta{Phase: MetaBegin, Pods: []string{"mesh-1", "mesh-2"}, HeartbeatTTL: Duration(45 * time.Second), HeartbeatCheck: &yes}),
		OpEvent(Op{ID: 1, Name: OpStartRun, Phase: PhaseInvoke, Run: "r1", Thread: "t1", Pod: "mesh-1", Hint: "slow:20x500", Chunks: 20, Expect: Duration(10 * time.Second)}),
		WatchEvent(Watch{Watcher: "w1", Run: "r1", Thread: "t1", Pod: "mesh-2", Late: true, K: 5, OpenedAt: t0, Order: Order{{1, 7}, {1, 20}}, Finished: true}),
		FaultEvent(Fault{ID: "f1", Phase: FaultInjected, Kind: KindPartition, Pod: "mesh-1", Peers: []string{PeerNATS}, At: t0}),
		DockerEvent(Docker{Action: DockerDie, Pod: "mesh-1", ExitCode: new(137), ByChaosd: true, Fault: "f1", At: t0}),
		ProbeEvent(Probe{Kind: ProbeHeartbeats, Heartbeats: &Heartbeats{Bucket: true, Keys: []HeartbeatKey{{"mesh-1", Duration(3 * time.Second)}}}}, t0),
		ProbeEvent(Probe{Kind: ProbeThread, Run: "r1", Err: "connection refused"}, t0),
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, Options{Now: func() time.Time { return t0 }})
	var written []Event
	for _, e := range sample() {
		got, err := w.Append(e)
		if err != nil {
			t.Fatal(err)
		}
		written = append(written, got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append(sample()[0]); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v, want ErrClosed", err)
	}
	if !strings.Contains(buf.String(), `"order":"1-7,1-20"`) || !strings.Contains(buf.String(), `"time":"2026-05-01T12:00:00.123456789Z"`) {
		t.Fatalf("unexpected encoding:\n%s", buf.String())
	}
	r := NewReader(&buf)
	for i, want := range written {
		got, err := r.Next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if got.Seq != uint64(i+1) || got.V != SchemaVersion {
			t.Fatalf("event %d: seq %d v %d", i, got.Seq, got.V)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("event %d:\n got %+v\nwant %+v", i, got, want)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
}

func TestConcurrentWritersKeepWholeLinesAndOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.jsonl")
	w, err := Create(path, Options{SyncEvery: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 500
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				e := OpEvent(Op{ID: uint64(g*each + i + 1), Name: OpAttach, Phase: PhaseInvoke, Run: fmt.Sprintf("r%d", g), Watcher: strings.Repeat("x", i%300)})
				if _, err := w.Append(e); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	n := readAll(t, path, func(e Event) { seen[e.Op.ID] = true })
	if n != writers*each || len(seen) != writers*each {
		t.Fatalf("read %d events, %d distinct ops, want %d", n, len(seen), writers*each)
	}
}

// readAll reads path to the end, failing on any error, and returns the count.
func readAll(t *testing.T, path string, f func(Event)) int {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r := NewReader(fh)
	n := 0
	for {
		e, err := r.Next()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.Seq != uint64(n+1) {
			t.Fatalf("seq %d at event %d", e.Seq, n+1)
		}
		n++
		f(e)
	}
}

func encodeAll(t testing.TB, evs []Event) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf, Options{Now: func() time.Time { return t0 }})
	for _, e := range evs {
		if _, err := w.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestTornLastLineIsTolerated(t *testing.T) {
	data := encodeAll(t, sample())
	torn := data[:len(data)-25] // cut the last line mid-way, no newline
	r := NewReader(bytes.NewReader(torn))
	n := 0
	for {
		_, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d events: %v", n, err)
		}
		n++
	}
	if n != len(sample())-1 || !r.Torn() {
		t.Fatalf("read %d events, torn=%v; want %d and torn", n, r.Torn(), len(sample())-1)
	}
}

func TestCreateContinuesAfterTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.jsonl")
	data := encodeAll(t, sample())
	if err := os.WriteFile(path, data[:len(data)-10], 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := Create(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := w.Append(MetaEvent(Meta{Phase: MetaEnd}))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if want := uint64(len(sample())); e.Seq != want {
		t.Fatalf("continued at seq %d, want %d (after the last whole event)", e.Seq, want)
	}
	if n := readAll(t, path, func(Event) {}); n != len(sample()) {
		t.Fatalf("read %d events, want %d", n, len(sample()))
	}
}

func TestMalformedLineReportsItsNumber(t *testing.T) {
	lines := strings.Split(strings.TrimSpace(string(encodeAll(t, sample()))), "\n")
	lines[2] = `{"v":1,"seq":3,"time":"2026-05-01T12:00:00Z","type":"op"}` // no payload
	lines[4] = `{"v":1,"seq":5,`                                           // truncated mid-file
	r := NewReader(strings.NewReader(strings.Join(lines, "\n") + "\n"))
	var bad []int
	good := 0
	for {
		_, err := r.Next()
		if err == io.EOF {
			break
		}
		var le *LineError
		if errors.As(err, &le) {
			bad = append(bad, le.Line)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		good++
	}
	if !reflect.DeepEqual(bad, []int{3, 5}) || good != len(lines)-2 {
		t.Fatalf("bad lines %v, good %d; want [3 5] and %d", bad, good, len(lines)-2)
	}
}

func TestSeqMustIncrease(t *testing.T) {
	lines := strings.Split(strings.TrimSpace(string(encodeAll(t, sample()[:3]))), "\n")
	lines[2] = strings.Replace(lines[2], `"seq":3`, `"seq":1`, 1)
	r := NewReader(strings.NewReader(strings.Join(lines, "\n") + "\n"))
	_, _ = r.Next()
	_, _ = r.Next()
	_, err := r.Next()
	var le *LineError
	if !errors.As(err, &le) || le.Line != 3 || !strings.Contains(err.Error(), "seq 1 after seq 2") {
		t.Fatalf("got %v", err)
	}
}

func TestDecodeRejects(t *testing.T) {
	cases := map[string]string{
		`{"v":2,"seq":1,"time":"2026-05-01T12:00:00Z","type":"meta","meta":{"phase":"begin"}}`:                        "schema version 2",
		`{"v":1,"seq":0,"time":"2026-05-01T12:00:00Z","type":"meta","meta":{"phase":"begin"}}`:                        "no seq",
		`{"v":1,"seq":1,"type":"meta","meta":{"phase":"begin"}}`:                                                      "no time",
		`{"v":1,"seq":1,"time":"2026-05-01T12:00:00Z","type":"op","meta":{"phase":"begin"}}`:                          `type "op" with a meta payload`,
		`{"v":1,"seq":1,"time":"2026-05-01T12:00:00Z","type":"meta","meta":{},"op":{}}`:                               "2 payloads",
		`{"v":1,"seq":1,"time":"2026-05-01T12:00:00Z","type":"watch","watch":{"order":"3-1"}}`:                        "runs backwards",
		`{"v":1,"seq":1,"time":"2026-05-01T12:00:00Z","type":"watch","watch":{"order":"1-1048576,1"}}`:                "more than",
		`{"v":1,"seq":1,"time":"2026-05-01T12:00:00Z","type":"meta","meta":{"phase":"begin","heartbeatTTL":"forty"}}`: "duration",
		`{"v":1,"seq":1,"time":"2026-05-01T12:00:00Z","type":"meta","meta":{"phase":"begin"}} {}`:                     "invalid character",
	}
	for line, want := range cases {
		_, err := Decode([]byte(line))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", line, err, want)
		}
	}
}

func TestOrder(t *testing.T) {
	var o Order
	for _, i := range []int{1, 2, 3, 7, 1, 2, 9, 10} {
		o.Add(i)
	}
	if s := o.String(); s != "1-3,7,1-2,9-10" {
		t.Fatalf("String %q", s)
	}
	back, err := ParseOrder(o.String())
	if err != nil || !reflect.DeepEqual(back, o) || back.Len() != 8 || back.Max() != 10 {
		t.Fatalf("ParseOrder: %v %v len %d max %d", back, err, back.Len(), back.Max())
	}
	for _, bad := range []string{"0", "1-", "-3", "01", "1,,2", "a"} {
		if _, err := ParseOrder(bad); err == nil {
			t.Errorf("ParseOrder(%q) accepted", bad)
		}
	}
}

func TestConversionsFromProbes(t *testing.T) {
	hb := HeartbeatsProbe(nil, fmt.Errorf("get: %w", probes.ErrNoBucket))
	if hb.Err != "" || hb.Heartbeats == nil || hb.Heartbeats.Bucket {
		t.Fatalf("missing bucket should be an observation: %+v", hb)
	}
	if p := HeartbeatsProbe(nil, errors.New("timeout")); p.Err != "timeout" || p.Heartbeats != nil {
		t.Fatalf("an unreachable NATS should be unobserved: %+v", p)
	}
	tally := probes.NewTally()
	for _, d := range []string{"chunk-1 ", "chunk-2 ", "hello", "chunk-2 "} {
		tally.Add(probes.Chunk{Type: probes.ChunkTextDelta, Delta: d})
	}
	w := WatchOf(Watch{Watcher: "w"}, tally, errors.New("EOF"))
	if w.Order.String() != "1-2,2" || w.Foreign != 1 || w.FirstFgn != "hello" || w.Finished || w.Err != "EOF" {
		t.Fatalf("WatchOf: %+v", w)
	}
}
