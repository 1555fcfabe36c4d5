package invariants_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/history/synth"
	"github.com/chaosd/chaosd/invariants"
)

// BenchmarkAnalyze checks a synthetic history of about 100k events per iteration
// and reports events/s. The 1M-event figure: go run ./bench/analyze.
func BenchmarkAnalyze(b *testing.B) {
	var buf bytes.Buffer
	w := history.NewWriter(&buf, history.Options{Buffered: true})
	n, err := synth.Generate(w, synth.Options{Events: 100_000})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		rep, err := invariants.Analyze(history.NewReader(bytes.NewReader(data)), invariants.Params{}, nil)
		if err != nil || rep.Events != n || rep.Status != invariants.Pass {
			b.Fatalf("events %d of %d, status %s, err %v", rep.Events, n, rep.Status, err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkObserve is the checkers' share of BenchmarkAnalyze: the same history,
// decoded beforehand, fed to an Engine.
func BenchmarkObserve(b *testing.B) {
	var buf bytes.Buffer
	w := history.NewWriter(&buf, history.Options{Buffered: true})
	n, err := synth.Generate(w, synth.Options{Events: 100_000})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	r := history.NewReader(&buf)
	events := make([]history.Event, 0, n)
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		events = append(events, e)
	}
	b.ResetTimer()
	for b.Loop() {
		g := invariants.NewEngine(invariants.Params{})
		for i := range events {
			g.Observe(&events[i])
		}
		if rep := g.Finish(); rep.Status != invariants.Pass {
			b.Fatalf("status %s", rep.Status)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
