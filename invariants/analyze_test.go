package invariants_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/history/synth"
	"github.com/chaosd/chaosd/invariants"
)

// synthLines is a synthetic history as written, with mesh's defect 5 so that
// verdicts fail with their evidence.
func synthLines(t *testing.T, o synth.Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := history.NewWriter(&buf, history.Options{Buffered: true})
	if _, err := synth.Generate(w, o); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestReadAheadKeepsTheReport: decoding ahead on workers changes nothing of the
// report, evidence and every event handed to Each included.
func TestReadAheadKeepsTheReport(t *testing.T) {
	data := synthLines(t, synth.Options{Events: 30_000, DeliverNew: true})
	torn := append(bytes.Clone(data), `{"v":1,"seq":99999999,"time":"2026-`...)
	for name, data := range map[string][]byte{"whole": data, "torn": torn} {
		analyze := func(workers int) (invariants.Report, []uint64) {
			var seqs []uint64
			rep, err := invariants.AnalyzeWith(history.NewReader(bytes.NewReader(data)), invariants.Params{MaxEvidence: 50},
				invariants.Options{Workers: workers, Each: func(e *history.Event) { seqs = append(seqs, e.Seq) }})
			if err != nil {
				t.Fatalf("%s, workers %d: %v", name, workers, err)
			}
			return rep, seqs
		}
		want, wantSeqs := analyze(-1)
		if want.Status != invariants.Fail || want.Events < 30_000 || want.Torn != (name == "torn") {
			t.Fatalf("%s: the history should fail with evidence: status %s, %d events, torn %v", name, want.Status, want.Events, want.Torn)
		}
		for _, workers := range []int{0, 1, 3} {
			got, seqs := analyze(workers)
			if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(seqs, wantSeqs) {
				t.Fatalf("%s, workers %d: the report or the events differ from reading one by one", name, workers)
			}
		}
	}
}

// TestReadAheadNamesTheBadLine: a malformed line stops Analyze with the same error,
// naming the line, with and without read-ahead.
func TestReadAheadNamesTheBadLine(t *testing.T) {
	lines := strings.SplitAfter(string(synthLines(t, synth.Options{Events: 3_000})), "\n")
	lines[2345] = "{\"v\":1,\"seq\":2346,\"time\":\"2026-05-01T00:00:00Z\",\"type\":\"op\"}\n"
	data := strings.Join(lines, "")
	var errs []string
	for _, workers := range []int{-1, 0, 2} {
		_, err := invariants.AnalyzeWith(history.NewReader(strings.NewReader(data)), invariants.Params{}, invariants.Options{Workers: workers})
		if err == nil {
			t.Fatalf("workers %d: a malformed line was accepted", workers)
		}
		errs = append(errs, err.Error())
	}
	want := "history: line 2346: not a history event: 0 payloads, want exactly one"
	for i, e := range errs {
		if e != want {
			t.Fatalf("error %d: %q, want %q", i, e, want)
		}
	}
}
