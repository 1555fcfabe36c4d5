// Package workload keeps runs flowing through the cluster and watches each from
// several pods: it creates a thread, attaches early on one pod, starts the run on
// another (round-robin), samples the thread's owner and status from Postgres and its
// buffer from JetStream, and once k chunks are confirmed in the buffer opens late
// attaches on a sample of the other pods (Config.Watchers; Run.latePods), so that
// prefix replay is really exercised without every run being watched from every one
// of 30 pods. Every operation and observation goes to a Recorder (the history) before
// and after it happens.
package workload

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/mockai"
	"github.com/chaosd/chaosd/probes"
)

// Pod is one pod under test: its name (mesh's POD_NAME) and its base URL as chaosd
// reaches it.
type Pod struct {
	Name string
	URL  string
}

// Recorder takes history events; history.Writer is one, a tee to checkers another.
type Recorder interface {
	Append(history.Event) (history.Event, error)
}

// Config shapes the workload.
type Config struct {
	Pods []Pod
	// APIPods take requests but run nothing (mesh's API pods): runs are posted to
	// them and watched from them as well; they are neither sampled for readiness nor
	// expected to heartbeat, and never faulted.
	APIPods     []Pod
	ProviderURL string  // mockai's base URL as the pods reach it
	Hint        string  // mockai hint of every run, e.g. slow:20x250
	Rate        float64 // runs started per second
	MaxInFlight int     // runs in flight at most; a tick over the cap is skipped
	LateAfter   int     // k: late attaches open once k chunks are in the buffer
	// Watchers is how many pods watch each run late (besides its early watcher);
	// 0 means every pod but the early one. See Run.latePods for which.
	Watchers   int
	ProbeEvery time.Duration // thread and buffer sampling of each run in flight
	Grace      time.Duration // added to the hint's own duration to bound a run
	Runs       int           // stop after starting this many runs (0: until ctx ends)
	Tiers      []string      // the bootstrap's simple_mode.tiers keys (probes.BootstrapOptions.Tiers)
	// Replies: once a run is decided, read its persisted reply (probes.Postgres.Replies)
	// into the history, for reply-persisted-once.
	Replies bool
	// Settle is each run's settle window: once the run is decided (Postgres said
	// completed or failed), its buffer is still read about once a second until this
	// long after the reading that decided it or, if later, after the heal of the last
	// fault (Workload.Fault) that was in effect while the run ran, so that what a
	// frozen or cut-off owner writes after the end, once it wakes, is seen
	// (no-write-after-end). 0: none.
	Settle time.Duration
}

// DefaultConfig is a light steady load for the bundled cluster.
func DefaultConfig() Config {
	return Config{ProviderURL: "http://mockai:9000/v1", Hint: "slow:20x250", Rate: 0.5, MaxInFlight: 4, LateAfter: 3, Watchers: DefaultWatchers,
		ProbeEvery: 250 * time.Millisecond, Grace: 60 * time.Second}
}

// DefaultWatchers is the late watchers of a run by default: on three pods, every pod
// but the early one, as before watching was sampled.
const DefaultWatchers = 2

// Validate names the first bad field.
func (c Config) Validate() error {
	plan, err := mockai.ParseHints(c.Hint, mockai.Limits{})
	switch {
	case len(c.Pods) < 2:
		return fmt.Errorf("workload pods: need at least 2, got %d", len(c.Pods))
	case err != nil:
		return fmt.Errorf("workload hint: %w", err)
	case plan.Fault.Kind != mockai.FaultNone:
		return fmt.Errorf("workload hint %q: a provider fault makes every run fail", c.Hint)
	case c.Rate <= 0:
		return fmt.Errorf("workload rate %v: must be positive", c.Rate)
	case c.MaxInFlight < 1:
		return fmt.Errorf("workload max in flight %d: must be at least 1", c.MaxInFlight)
	case c.LateAfter < 1 || c.LateAfter >= plan.Chunks:
		return fmt.Errorf("workload late-after %d: must be in [1, %d), the chunks of hint %q", c.LateAfter, plan.Chunks, c.Hint)
	case c.Watchers < 0:
		return fmt.Errorf("workload watchers %d: must be 0 (every pod) or more", c.Watchers)
	case c.ProbeEvery <= 0 || c.Grace <= 0:
		return fmt.Errorf("workload probe interval %s and grace %s: must be positive", c.ProbeEvery, c.Grace)
	case c.Settle < 0:
		return fmt.Errorf("workload settle %s: must not be negative (0: no settle window)", c.Settle)
	}
	for _, p := range c.Pods {
		if p.Name == "" || p.URL == "" {
			return fmt.Errorf("workload pod %+v: needs a name and a URL", p)
		}
	}
	return nil
}

// Deps are the parts the workload drives and observes through.
type Deps struct {
	Driver   *probes.Driver
	Postgres *probes.Postgres
	NATS     *probes.NATS
	Recorder Recorder
	Log      *zap.Logger
	// UserChecks are read with every cluster sample (Monitor).
	UserChecks []probes.UserCheck
	// OnDecided, when set, is called once per run when the workload decides it
	// (an Outcome* and the time since the run was started), e.g. for metrics.
	OnDecided func(r *Run, outcome string, took time.Duration)
}

// Workload runs runs.
type Workload struct {
	cfg    Config
	deps   Deps
	plan   mockai.Plan
	tenant *probes.Tenant
	log    *zap.Logger

	ops     atomic.Uint64  // operation ids
	runs    atomic.Uint64  // run ids and round-robin position
	wg      sync.WaitGroup // every run until it is decided and its settle window is over
	decided sync.WaitGroup // every run until it is decided
	mu      sync.Mutex
	faults  []*faultSpan // Fault's, for the settle windows
	live    map[string]*Run
	stats   Stats

	tapFailed sync.Once // the buffer tap's failure is logged once

	pods atomic.Pointer[[]Pod] // the pods under test (SetPods replaces them); never modified in place
}

// Stats counts what the workload did.
type Stats struct {
	Started, Completed, Failed int
	// Skipped counts runs due on the schedule but not started because the in-flight
	// cap was reached (the target is slow). Late counts runs not started because the
	// workload itself fell over a second behind its schedule (chaosd is slow, or was
	// stopped): the starts it owes past that second are dropped rather than fired in
	// a burst.
	Skipped, Late int
}

// New validates cfg and returns a workload; Bootstrap must run before runs start.
func New(cfg Config, deps Deps) (*Workload, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	plan, _ := mockai.ParseHints(cfg.Hint, mockai.Limits{})
	if deps.Log == nil {
		deps.Log = zap.NewNop()
	}
	w := &Workload{cfg: cfg, deps: deps, plan: plan, log: deps.Log.Named("workload"), live: map[string]*Run{}}
	pods := slices.Clone(cfg.Pods)
	w.pods.Store(&pods)
	return w, nil
}

// Bootstrap creates the tenant every run uses, through the first pod.
func (w *Workload) Bootstrap(ctx context.Context) error {
	pod := w.Pods()[0]
	op := w.invoke(history.Op{Name: history.OpBootstrap, Pod: pod.Name})
	t, err := w.deps.Driver.Bootstrap(ctx, pod.URL, probes.BootstrapOptions{ProviderBaseURL: w.cfg.ProviderURL, Tiers: w.cfg.Tiers})
	w.complete(op, err)
	if err != nil {
		return fmt.Errorf("bootstrap on %s: %w", pod.Name, err)
	}
	w.tenant = t
	w.log.Info("tenant ready", zap.String("org", t.OrgSlug))
	return nil
}

// Run starts runs at the configured rate until ctx ends or Runs were started, then
// waits for the runs in flight to be decided and their settle windows to end.
func (w *Workload) Run(ctx context.Context) error { return w.RunWith(ctx, ctx) }

// RunWith is Run with two contexts: runs are started until starting ends (or Runs
// were started), and each run lives on runs, so that a soak can stop starting new
// runs and still let the ones in flight finish. It returns once every run started is
// decided and its settle window is over (or runs ended).
func (w *Workload) RunWith(starting, runs context.Context) error {
	return w.RunAt(starting, runs, w.cfg.Rate, w.cfg.MaxInFlight)
}

// RunAt is RunWith at rate runs per second with at most maxInFlight in flight, for a
// load that changes step by step (chaosd bench) on one workload, so that run names
// stay unique across the steps.
func (w *Workload) RunAt(starting, runs context.Context, rate float64, maxInFlight int) error {
	if w.tenant == nil {
		return errors.New("workload: not bootstrapped")
	}
	if rate <= 0 || maxInFlight < 1 {
		return fmt.Errorf("workload: rate %v and max in flight %d must be positive", rate, maxInFlight)
	}
	// Run i (from 0) is due at i/rate after the start, whenever the loop wakes: a
	// ticker would drop the ticks of a loop that woke late (a busy machine), and the
	// rate started would fall short of the rate asked for with nothing to say so.
	sched := newSchedule(time.Now(), rate)
	tm := time.NewTimer(0)
	defer tm.Stop()
	for {
		due, late := sched.due(time.Now())
		if late > 0 {
			w.count(func(s *Stats) { s.Late += late })
		}
		for range due {
			if w.cfg.Runs > 0 && int(w.runs.Load()) >= w.cfg.Runs {
				w.wg.Wait()
				return nil
			}
			if w.InFlight() < maxInFlight {
				w.Start(runs)
			} else {
				w.count(func(s *Stats) { s.Skipped++ })
			}
		}
		tm.Reset(time.Until(sched.next()))
		select {
		case <-starting.Done():
			w.wg.Wait()
			return nil
		case <-tm.C:
		}
	}
}

// schedule paces starts at a fixed rate from a start time: start i is due at
// start + i/rate. A loop that wakes late gets every start it owes up to a second's
// worth (at least one); older ones are reported late and dropped, so that a stall
// does not end in a burst.
type schedule struct {
	start   time.Time
	rate    float64
	n       int // starts handed out or dropped so far
	catchUp int // most starts handed out at one wake-up
}

func newSchedule(start time.Time, rate float64) *schedule {
	return &schedule{start: start, rate: rate, catchUp: max(1, int(math.Ceil(rate)))}
}

// due returns how many starts are due at now, and how many older ones were dropped.
func (s *schedule) due(now time.Time) (due, late int) {
	owed := int(math.Floor(now.Sub(s.start).Seconds()*s.rate)) + 1 - s.n
	if owed <= 0 {
		return 0, 0
	}
	if owed > s.catchUp {
		late = owed - s.catchUp
		owed = s.catchUp
	}
	s.n += owed + late
	return owed, late
}

// next is when the next start is due.
func (s *schedule) next() time.Time {
	return s.start.Add(time.Duration(float64(s.n) / s.rate * float64(time.Second)))
}

// Wait waits until every run started so far is decided and its settle window is
// over (cut short when the run's context ends).
func (w *Workload) Wait() { w.wg.Wait() }

// WaitDecided waits until every run started so far is decided; their settle
// windows may go on (Wait waits for those too).
func (w *Workload) WaitDecided() { w.decided.Wait() }

// Settle is the settle window of the runs Start starts.
func (w *Workload) Settle() time.Duration { return w.cfg.Settle }

// InFlight is the number of runs not yet decided.
func (w *Workload) InFlight() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.live)
}

// Live returns the runs in flight.
func (w *Workload) Live() []*Run {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]*Run, 0, len(w.live))
	for _, r := range w.live {
		out = append(out, r)
	}
	return out
}

// Stats returns a copy of the counters.
func (w *Workload) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

func (w *Workload) count(f func(*Stats)) {
	w.mu.Lock()
	f(&w.stats)
	w.mu.Unlock()
}

// Pods returns the pods under test, in their rotation order; the caller must not
// modify the slice.
func (w *Workload) Pods() []Pod {
	if p := w.pods.Load(); p != nil {
		return *p
	}
	return w.cfg.Pods // a Workload not made by New (tests)
}

// Entries are the pods runs are posted to and watched from: the pods under test and
// the API pods.
func (w *Workload) Entries() []Pod {
	if len(w.cfg.APIPods) == 0 {
		return w.Pods()
	}
	return append(slices.Clone(w.Pods()), w.cfg.APIPods...)
}

// SetPods makes found the pods under test, as a runtime that replaces pods under new
// names (Kubernetes) lists them: a pod no longer found leaves the rotation (no run is
// posted to, attached on or read from it), a new one joins at its end, and the pods
// still there keep their order. Runs already started keep their pods. An empty found
// is ignored: a listing that found nothing says nothing about the pods. It returns the
// names of the pods that left and joined.
func (w *Workload) SetPods(found []Pod) (left, joined []string) {
	if len(found) == 0 {
		return nil, nil
	}
	old := w.Pods()
	next := make([]Pod, 0, len(found))
	for _, p := range old {
		if i := slices.IndexFunc(found, func(f Pod) bool { return f.Name == p.Name }); i >= 0 {
			next = append(next, found[i])
		} else {
			left = append(left, p.Name)
		}
	}
	for _, f := range found {
		if !slices.ContainsFunc(old, func(p Pod) bool { return p.Name == f.Name }) {
			next = append(next, f)
			joined = append(joined, f.Name)
		}
	}
	if len(left) > 0 || len(joined) > 0 {
		w.pods.Store(&next)
		w.log.Info("pods under test changed", zap.Strings("left", left), zap.Strings("joined", joined))
	}
	return left, joined
}

// invoke records an operation before it is sent and returns it for complete.
func (w *Workload) invoke(op history.Op) history.Op {
	op.ID = w.ops.Add(1)
	op.Phase = history.PhaseInvoke
	w.record(history.OpEvent(op))
	return op
}

// complete records the outcome of an invoked operation.
func (w *Workload) complete(op history.Op, err error) {
	op.Phase = history.PhaseOK
	if err != nil {
		op.Phase, op.Err = phaseOf(err), err.Error()
		var apiErr *probes.APIError
		if errors.As(err, &apiErr) {
			op.Status = apiErr.Status
		}
	}
	w.record(history.OpEvent(op))
}

// phaseOf tells a definite failure (the pod answered no) from an indeterminate one
// (timeout, connection cut: the operation may have happened).
func phaseOf(err error) string {
	var apiErr *probes.APIError
	if errors.As(err, &apiErr) && apiErr.Status < 500 {
		return history.PhaseFailed
	}
	return history.PhaseIndeterminate
}

func (w *Workload) record(e history.Event) {
	if _, err := w.deps.Recorder.Append(e); err != nil {
		w.log.Error("history write failed", zap.Error(err))
	}
}

// faultSpan is a fault from Fault's call to its heal (to zero until then).
type faultSpan struct{ from, to time.Time }

// Fault tells the workload that a fault is in effect from now until healed is called
// (once it is healed, or given up): the settle window of a run that ran meanwhile
// starts no earlier than the heal, since a frozen or cut-off owner can write into
// the run's buffer only once it wakes. The one-shot and the soak call it around
// every fault.
func (w *Workload) Fault() (healed func()) {
	f := &faultSpan{from: time.Now()}
	w.mu.Lock()
	// Forget faults healed long ago: no settle window reaches back that far.
	w.faults = slices.DeleteFunc(w.faults, func(o *faultSpan) bool { return !o.to.IsZero() && time.Since(o.to) > time.Hour })
	w.faults = append(w.faults, f)
	w.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			w.mu.Lock()
			f.to = time.Now()
			w.mu.Unlock()
		})
	}
}

// settleFrom is when the settle window of a run that ran from started to decided
// begins: decided, or the heal of the last fault in effect meanwhile if later; false
// while such a fault is still in effect.
func (w *Workload) settleFrom(started, decided time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	from := decided
	for _, f := range w.faults {
		if f.from.After(decided) || (!f.to.IsZero() && f.to.Before(started)) {
			continue
		}
		if f.to.IsZero() {
			return time.Time{}, false
		}
		if f.to.After(from) {
			from = f.to
		}
	}
	return from, true
}
