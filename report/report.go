// Package report turns a history into what people read after a run: an HTML page
// (html.go, timeline.go) with one lane per pod (each run a bar from its start to its
// decision on the lane of the pod that owned it, owner changes marked, fault windows
// on the pod they hit, dependency outages shaded, violations marked and linked to
// their evidence), latency and throughput over time, the verdict table and the
// diagnoses, all inline (no network) and printable; a JUnit XML file with one test
// case per invariant for CI systems; and a short Markdown summary.
package report

import (
	"errors"
	"fmt"
	"io"
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

	// Pods are the pods under test: those the history's begin line names, in its
	// order, then any other pod a run, a watcher, a readiness probe or a fault named,
	// sorted. The timeline has one lane per pod.
	Pods []string
	// Target and Version are the target profile and chaosd's version from the
	// history's begin line (empty in older histories).
	Target, Version string
	// Owners are the changes of a run's owner between two readings (Postgres, via
	// package owners), to another pod under test, in time order.
	Owners []OwnerChange
	// Outages are the windows in which chaosd could not reach a dependency
	// (Postgres, NATS, Docker), in time order.
	Outages []Outage
	// NotReady are the windows in which a pod did not answer ready, in time order.
	NotReady []Window
	// PodEvents are the pods' container deaths and starts that Docker reported.
	PodEvents []PodEvent
}

// Run outcomes.
const (
	OutcomeCompleted = "completed" // a watcher saw its finish
	OutcomeFailed    = "failed"    // its start failed, or Postgres said the thread failed
	OutcomeNever     = "never"     // never seen finishing by the end of the history
)

// Run is one run: its start, where it went, how long until a watcher saw its finish
// (Latency; 0: never), and what each watcher saw.
type Run struct {
	ID      string
	Pod     string
	Start   time.Time
	Latency time.Duration

	Thread  string
	Outcome string    // OutcomeCompleted, OutcomeFailed or OutcomeNever
	End     time.Time // its decision: the first finish seen, or the failure; zero: never
	Err     string    // why the start failed, or was indeterminate
	Status  string    // the thread's status at the last reading (Postgres)
	Owner   string    // the last owner reading that named a pod
	// Watchers are what each watcher saw of the run, in the order they reported.
	Watchers []Watcher
}

// Watcher is what one watcher (an attach stream) saw of one run.
type Watcher struct {
	ID       string
	Pod      string    // the pod serving the attach
	Late     bool      // opened after K chunks were confirmed
	K        int       // chunks confirmed when it opened
	Chunks   int       // mock chunks it received (duplicates included)
	Restarts int       // times the reply started again in its stream
	Foreign  int       // text deltas that were not mockai's
	Finished bool      // the finish chunk arrived
	Err      string    // why the stream ended before the finish
	At       time.Time // when it reported
}

// Fault is one fault's window: from its confirmed injection to its confirmed heal
// (zero: not healed in the history).
type Fault struct {
	ID, Kind, Pod, Target, Outcome string
	Injected, Healed               time.Time
}

// OwnerChange is a reading of a run's owner naming another pod than the one before
// (the first reading is compared with the pod the run was started on).
type OwnerChange struct {
	Run      string
	From, To string
	At       time.Time
}

// Outage is a window in which chaosd could not reach a dependency. To is zero when
// it was still away at the end of the history.
type Outage struct {
	Name     string
	From, To time.Time
	Err      string
}

// Window is a span of time on one pod; To is zero when still open at the end.
type Window struct {
	Pod      string
	From, To time.Time
}

// PodEvent is a container event of a pod: a death (die, oom) or a start.
type PodEvent struct {
	Pod, Action string
	At          time.Time
	ByChaosd    bool
	Fault       string
	ExitCode    *int
}

// maxWatchers caps the watchers kept per run.
const maxWatchers = 16

// FromFile reads the history at path once, for the verdicts and the timeline.
func FromFile(path string, p invariants.Params) (*Data, error) {
	hr, f, err := history.Open(path) // with its rotated segments
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	defer f.Close()
	b := newBuilder()
	rep, err := invariants.AnalyzeEach(hr, p, nil, b.observe)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	d := b.finish()
	d.Verdicts = rep
	return d, nil
}

// FromFileWith reads the history at path once for the timeline and takes the
// verdicts as given: those a live checker already holds (chaosd soak's), so that the
// report neither checks the history a second time nor can disagree with the verdicts
// printed beside it.
func FromFileWith(path string, verdicts invariants.Report) (*Data, error) {
	hr, f, err := history.Open(path) // with its rotated segments
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	defer f.Close()
	b := newBuilder()
	for {
		e, err := hr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
		b.observe(&e)
	}
	d := b.finish()
	d.Verdicts = verdicts
	return d, nil
}

// builder collects the Data of a history one event at a time.
type builder struct {
	d        Data
	runs     map[string]*Run
	faults   map[string]*Fault
	owner    map[string]string // run -> the pod its owner readings last named
	owners   []OwnerChange     // every change, filtered by the pods in finish
	notReady map[string]*Window
	deps     map[string]*Outage
	metaPods []string
	pods     map[string]bool // pods seen besides the begin line's
}

func newBuilder() *builder {
	return &builder{runs: map[string]*Run{}, faults: map[string]*Fault{}, owner: map[string]string{},
		notReady: map[string]*Window{}, deps: map[string]*Outage{}, pods: map[string]bool{}}
}

func (b *builder) seePod(p string) {
	if p != "" && p != history.PeerAll {
		b.pods[p] = true
	}
}

func (b *builder) observe(e *history.Event) {
	d := &b.d
	if d.From.IsZero() {
		d.From = e.Time
	}
	if e.Time.After(d.To) {
		d.To = e.Time
	}
	switch e.Type {
	case history.TypeMeta:
		if m := e.Meta; m.Phase == history.MetaBegin {
			if len(b.metaPods) == 0 {
				b.metaPods = append([]string{}, m.Pods...)
			}
			d.Target, d.Version = m.Target, m.Chaosd
		}
	case history.TypeOp:
		b.observeOp(e)
	case history.TypeWatch:
		b.observeWatch(e)
	case history.TypeFault:
		b.observeFault(e.Fault)
	case history.TypeDocker:
		dk := e.Docker
		switch dk.Action {
		case history.DockerDie, history.DockerOOM, history.DockerStart, history.DockerRestart:
			if dk.Pod != "" {
				d.PodEvents = append(d.PodEvents, PodEvent{Pod: dk.Pod, Action: dk.Action, At: nonZero(dk.At, e.Time),
					ByChaosd: dk.ByChaosd, Fault: dk.Fault, ExitCode: dk.ExitCode})
			}
		}
	case history.TypeProbe:
		b.observeProbe(e)
	}
}

func (b *builder) observeOp(e *history.Event) {
	o := e.Op
	if o.Name != history.OpStartRun || o.Run == "" {
		return
	}
	switch o.Phase {
	case history.PhaseInvoke:
		if b.runs[o.Run] == nil {
			b.runs[o.Run] = &Run{ID: o.Run, Pod: o.Pod, Thread: o.Thread, Start: e.Time, Outcome: OutcomeNever}
			b.seePod(o.Pod)
		}
	case history.PhaseFailed:
		if r := b.runs[o.Run]; r != nil && r.End.IsZero() {
			r.Outcome, r.End, r.Err = OutcomeFailed, e.Time, opErr(o)
		}
	case history.PhaseIndeterminate:
		if r := b.runs[o.Run]; r != nil && r.Err == "" {
			r.Err = "start indeterminate: " + opErr(o)
		}
	}
}

func opErr(o *history.Op) string {
	switch {
	case o.Err != "" && o.Status != 0:
		return fmt.Sprintf("%s (HTTP %d)", o.Err, o.Status)
	case o.Err != "":
		return o.Err
	case o.Status != 0:
		return fmt.Sprintf("HTTP %d", o.Status)
	}
	return "no reason given"
}

func (b *builder) observeWatch(e *history.Event) {
	w := e.Watch
	b.seePod(w.Pod)
	r := b.runs[w.Run]
	if r == nil {
		return
	}
	if len(r.Watchers) < maxWatchers {
		r.Watchers = append(r.Watchers, Watcher{ID: w.Watcher, Pod: w.Pod, Late: w.Late, K: w.K, Chunks: w.Order.Len(),
			Restarts: len(w.Restarts), Foreign: w.Foreign, Finished: w.Finished, Err: w.Err, At: e.Time})
	}
	if w.Finished && r.Latency == 0 {
		r.Latency = e.Time.Sub(r.Start)
		if r.Outcome != OutcomeFailed || e.Time.Before(r.End) {
			r.Outcome, r.End = OutcomeCompleted, e.Time
		}
	}
}

func (b *builder) observeFault(ev *history.Fault) {
	f := b.faults[ev.ID]
	if f == nil {
		f = &Fault{ID: ev.ID, Kind: ev.Kind, Pod: ev.Pod, Target: ev.Target, Outcome: "not confirmed"}
		b.faults[ev.ID] = f
		if ev.Kind != history.KindRollout {
			b.seePod(ev.Pod)
		}
	}
	switch ev.Phase {
	case history.FaultInjected:
		f.Injected, f.Outcome = ev.At, "in effect"
	case history.FaultHealed:
		f.Healed, f.Outcome = ev.At, "healed"
	case history.FaultHealUnknown:
		f.Outcome = "heal unknown"
	case history.FaultInjectFailed:
		f.Outcome = "injection failed"
	}
}

func (b *builder) observeProbe(e *history.Event) {
	p := e.Probe
	switch p.Kind {
	case history.ProbeThread:
		if p.ThreadState == nil || p.Run == "" {
			return
		}
		r := b.runs[p.Run]
		if r == nil {
			return
		}
		st := p.ThreadState
		r.Status = st.Status
		if st.Status == history.StatusFailed && r.End.IsZero() {
			r.Outcome, r.End = OutcomeFailed, e.Time
		}
		if st.Owner == "" {
			return
		}
		prev, ok := b.owner[p.Run]
		if !ok {
			prev = r.Pod
		}
		if st.Owner != prev {
			b.owners = append(b.owners, OwnerChange{Run: p.Run, From: prev, To: st.Owner, At: e.Time})
		}
		b.owner[p.Run] = st.Owner
	case history.ProbeReady:
		if p.Ready == nil || p.Pod == "" {
			return
		}
		b.seePod(p.Pod)
		open := b.notReady[p.Pod]
		switch {
		case !p.Ready.Ready && open == nil:
			b.notReady[p.Pod] = &Window{Pod: p.Pod, From: e.Time}
		case p.Ready.Ready && open != nil:
			open.To = e.Time
			b.d.NotReady = append(b.d.NotReady, *open)
			delete(b.notReady, p.Pod)
		}
	case history.ProbeDependency:
		dep := p.Dependency
		if dep == nil {
			return
		}
		open := b.deps[dep.Name]
		switch {
		case !dep.Up && open == nil:
			b.deps[dep.Name] = &Outage{Name: dep.Name, From: e.Time, Err: dep.Err}
		case dep.Up && open != nil:
			open.To = e.Time
			b.d.Outages = append(b.d.Outages, *open)
			delete(b.deps, dep.Name)
		}
	}
}

// finish sorts what was collected and keeps the owner changes between pods.
func (b *builder) finish() *Data {
	d := &b.d
	known := map[string]bool{}
	for _, p := range b.metaPods {
		if !known[p] {
			known[p] = true
			d.Pods = append(d.Pods, p)
		}
	}
	var extra []string
	for p := range b.pods {
		if !known[p] {
			extra = append(extra, p)
		}
	}
	sort.Strings(extra)
	for _, p := range extra {
		known[p] = true
		d.Pods = append(d.Pods, p)
	}
	for _, r := range b.runs {
		if o := b.owner[r.ID]; known[o] {
			r.Owner = o
		}
		d.Runs = append(d.Runs, *r)
	}
	sort.Slice(d.Runs, func(i, j int) bool {
		if !d.Runs[i].Start.Equal(d.Runs[j].Start) {
			return d.Runs[i].Start.Before(d.Runs[j].Start)
		}
		return d.Runs[i].ID < d.Runs[j].ID
	})
	for _, f := range b.faults {
		d.Faults = append(d.Faults, *f)
	}
	sort.Slice(d.Faults, func(i, j int) bool {
		if !d.Faults[i].Injected.Equal(d.Faults[j].Injected) {
			return d.Faults[i].Injected.Before(d.Faults[j].Injected)
		}
		return d.Faults[i].ID < d.Faults[j].ID
	})
	// An owner reading that names no pod under test (a DBOS executor id that is not a
	// pod's name) moves no run between lanes: the change is kept only between pods.
	cur := map[string]string{}
	for _, c := range b.owners {
		from, seen := cur[c.Run]
		if !seen {
			from = c.From
			if r := b.runs[c.Run]; r != nil {
				from = r.Pod
			}
		}
		if !known[c.To] {
			continue
		}
		cur[c.Run] = c.To
		if from != c.To && known[from] {
			d.Owners = append(d.Owners, OwnerChange{Run: c.Run, From: from, To: c.To, At: c.At})
		}
	}
	for _, w := range b.notReady {
		d.NotReady = append(d.NotReady, *w)
	}
	sort.Slice(d.NotReady, func(i, j int) bool {
		if a, b := d.NotReady[i], d.NotReady[j]; !a.From.Equal(b.From) {
			return a.From.Before(b.From)
		}
		return d.NotReady[i].Pod < d.NotReady[j].Pod
	})
	for _, o := range b.deps {
		d.Outages = append(d.Outages, *o)
	}
	sort.Slice(d.Outages, func(i, j int) bool {
		if a, b := d.Outages[i], d.Outages[j]; !a.From.Equal(b.From) {
			return a.From.Before(b.From)
		}
		return d.Outages[i].Name < d.Outages[j].Name
	})
	return d
}

func nonZero(t, otherwise time.Time) time.Time {
	if t.IsZero() {
		return otherwise
	}
	return t
}
