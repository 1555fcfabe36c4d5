// Package report turns a history into what people read after a run: an HTML page
// with a timeline (run latencies over time, fault windows shaded, violations marked,
// as an inline SVG that needs no network), a per-invariant and a per-fault table; a
// JUnit XML file with one test case per invariant for CI systems; and a short
// Markdown summary.
package report

import (
	"fmt"
	"sort"
	"time"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/invariants"
)

// Data is everything the report shows.
type Data struct {
	Verdicts invariants.Report
	Runs     []Run
	Faults   []Fault
	From, To time.Time
}

// Run is one run's start and how long until a watcher saw its finish (0: never).
type Run struct {
	ID      string
	Pod     string
	Start   time.Time
	Latency time.Duration
}

// Fault is one fault's window: from its confirmed injection to its confirmed heal
// (zero: not healed in the history).
type Fault struct {
	ID, Kind, Pod, Target, Outcome string
	Injected, Healed               time.Time
}

// FromFile reads the history at path once, for the verdicts and the timeline.
func FromFile(path string, p invariants.Params) (*Data, error) {
	hr, f, err := history.Open(path) // with its rotated segments
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	defer f.Close()
	d := &Data{}
	runs := map[string]*Run{}
	faults := map[string]*Fault{}
	rep, err := invariants.AnalyzeEach(hr, p, nil, func(e *history.Event) {
		if d.From.IsZero() {
			d.From = e.Time
		}
		if e.Time.After(d.To) {
			d.To = e.Time
		}
		d.observe(*e, runs, faults)
	})
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	d.Verdicts = rep
	for _, r := range runs {
		d.Runs = append(d.Runs, *r)
	}
	sort.Slice(d.Runs, func(i, j int) bool { return d.Runs[i].Start.Before(d.Runs[j].Start) })
	for _, f := range faults {
		d.Faults = append(d.Faults, *f)
	}
	sort.Slice(d.Faults, func(i, j int) bool { return d.Faults[i].Injected.Before(d.Faults[j].Injected) })
	return d, nil
}

func (d *Data) observe(e history.Event, runs map[string]*Run, faults map[string]*Fault) {
	switch {
	case e.Type == history.TypeOp && e.Op.Name == history.OpStartRun && e.Op.Phase == history.PhaseInvoke:
		runs[e.Op.Run] = &Run{ID: e.Op.Run, Pod: e.Op.Pod, Start: e.Time}
	case e.Type == history.TypeWatch && e.Watch.Finished:
		if r := runs[e.Watch.Run]; r != nil && r.Latency == 0 {
			r.Latency = e.Time.Sub(r.Start)
		}
	case e.Type == history.TypeFault:
		f := faults[e.Fault.ID]
		if f == nil {
			f = &Fault{ID: e.Fault.ID, Kind: e.Fault.Kind, Pod: e.Fault.Pod, Target: e.Fault.Target, Outcome: "not confirmed"}
			faults[e.Fault.ID] = f
		}
		switch e.Fault.Phase {
		case history.FaultInjected:
			f.Injected, f.Outcome = e.Fault.At, "in effect"
		case history.FaultHealed:
			f.Healed, f.Outcome = e.Fault.At, "healed"
		case history.FaultHealUnknown:
			f.Outcome = "heal unknown"
		case history.FaultInjectFailed:
			f.Outcome = "injection failed"
		}
	}
}
