// Package soak is the overnight soak: runs flow through the cluster at a steady rate
// for hours, each watched from several pods, while faults fire on cron schedules
// (package schedule) on the owners of runs in flight; the invariants judge every
// event as it is written. A dependency that goes away (Postgres, NATS, the Docker
// daemon) is recorded and its window judged unknown, not violated; the soak carries
// on. At the end no fault fires during the cooldown (the final quiet check), runs
// stop being started, those in flight are decided and their settle windows end
// (their buffers read for writes after the end), every pod must be ready again, and
// the verdicts are returned.
//
// The package knows nothing of Docker, alerts or metrics: the caller (cli/soak.go)
// hands in one scenario.Faulter per fault kind, pings for the dependencies, and the
// hooks of invariants.Live and workload.Deps.
package soak

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/invariants"
	"github.com/chaosd/chaosd/scenario"
	"github.com/chaosd/chaosd/schedule"
	"github.com/chaosd/chaosd/workload"
)

// Config shapes a soak.
type Config struct {
	Duration time.Duration // runs are started and faults fire for this long
	Warmup   time.Duration // no faults this long after the start
	Cooldown time.Duration // no faults in the last stretch: the final quiet check
	Faults   []Fault
	Quiet    []schedule.Quiet

	OwnerWait      time.Duration // an owner fault waits this long for a run with k chunks buffered and a known owner
	RecoverWait    time.Duration // after a heal, and at the end: for every pod to be ready again
	MonitorTick    time.Duration // readiness and heartbeat sampling
	Heartbeats     bool          // sample the heartbeat bucket
	DependencyTick time.Duration // dependency pings
	ProgressEvery  time.Duration // Deps.Progress calls
	BootstrapWait  time.Duration // give up when the tenant cannot be made for this long (0: until the soak ends)
}

// Fault is one fault kind's schedule and target.
type Fault struct {
	Kind   string
	Spec   string        // cron spec or @every
	Jitter time.Duration // a random delay in [0, Jitter) before each firing
	Target string        // TargetOwner, TargetRandom, TargetAll or a pod's name
}

// Targets.
const (
	TargetOwner  = "owner"  // the owner of a run in flight with k chunks buffered
	TargetRandom = "random" // the faulter picks
	TargetAll    = "all"    // every pod in turn (a rollout): no victim is picked
)

// Dependency is something the service needs that chaosd can ping.
type Dependency struct {
	Name string // history.DepPostgres, DepNATS, DepDocker
	Ping func(ctx context.Context) error
}

// Deps are the parts of a soak.
type Deps struct {
	Workload     *workload.Workload
	Live         *invariants.Live // also the workload's Recorder; begun (scenario.Begin)
	Faulters     map[string]scenario.Faulter
	Dependencies []Dependency
	// OnDependency is told each change of a dependency's reach (e.g. metrics).
	OnDependency func(name string, up bool)
	// OnPhase is told each phase the soak enters (e.g. metrics).
	OnPhase func(phase string)
	// Progress is called every ProgressEvery and once at the end.
	Progress func(Progress)
	Log      *zap.Logger
	// Discover, when set, lists the pods under test as they are now, and the
	// workload follows it (scenario.FollowPods): on Kubernetes a delete, a stop or a
	// rollout replaces pods under new names. Nil: the workload's pods throughout.
	Discover func(ctx context.Context) ([]workload.Pod, error)
}

// Phases of a soak.
const (
	PhaseStarting = "starting" // making the tenant
	PhaseWarmup   = "warmup"
	PhaseFaulting = "faulting"
	PhaseCooldown = "cooldown" // the final quiet check: no faults, runs flow
	PhaseDraining = "draining" // no new runs; the ones in flight are decided
	PhaseDone     = "done"
)

// FaultStats counts what the soak's faults did.
type FaultStats struct {
	Fired    int // a fault was attempted
	Healed   int // injected, held and healed (the faulter returned no error)
	Failed   int // the faulter returned an error (not injected, or the heal unconfirmed)
	NoVictim int // skipped: no run in flight with a known owner within OwnerWait
	Outage   int // skipped: a dependency was away
}

// Progress is a snapshot for the progress line.
type Progress struct {
	Phase      string
	Elapsed    time.Duration
	Total      time.Duration
	Runs       workload.Stats
	InFlight   int
	Faults     FaultStats
	Active     string // the fault in effect, "" for none
	Violations int
	Unknowns   int
	Outage     string // the dependency outage in progress, "" for none
}

// Result is what a soak did and found.
type Result struct {
	Start, End time.Time
	Report     invariants.Report
	Runs       workload.Stats
	Faults     FaultStats
	Schedule   schedule.Stats
	// FinalCheck is the cooldown's verdict: violations found during it, and whether
	// every pod was ready at the end.
	FinalCheck FinalCheck
	Stopped    bool // the soak was stopped early (a signal)
}

// FinalCheck is what the final quiet check saw.
type FinalCheck struct {
	From       time.Time
	Violations int    // violations recorded from the cooldown's start to the end
	AllReady   bool   // every pod was ready at the end
	OpenFaults string // a fault still in effect at the end (should never be)
}

// Validate names the first bad field.
func (c Config) Validate(d Deps) error {
	switch {
	case c.Duration <= 0:
		return fmt.Errorf("soak duration %s: must be positive", c.Duration)
	case c.Warmup < 0 || c.Cooldown < 0 || c.Warmup+c.Cooldown >= c.Duration:
		return fmt.Errorf("soak warmup %s and cooldown %s: must not be negative and must leave time for faults in %s", c.Warmup, c.Cooldown, c.Duration)
	case c.OwnerWait <= 0 || c.RecoverWait <= 0 || c.MonitorTick <= 0 || c.DependencyTick <= 0:
		return errors.New("soak: owner wait, recover wait, monitor tick and dependency tick must be positive")
	case d.Workload == nil || d.Live == nil:
		return errors.New("soak: needs a workload and a live checker")
	}
	for _, f := range c.Faults {
		if d.Faulters[f.Kind] == nil {
			return fmt.Errorf("soak fault %q: no faulter for this kind", f.Kind)
		}
	}
	return nil
}

// soak is one soak in progress.
type soak struct {
	cfg    Config
	d      Deps
	log    *zap.Logger
	start  time.Time
	ctx    context.Context // the soak's own: ends only on a signal
	follow *scenario.Follower

	mu          sync.Mutex
	phase       string
	faults      FaultStats
	active      string
	targetByKnd map[string]string
}

// Run plays the soak until cfg.Duration has passed (then drains) or ctx ends (then
// heals whatever is in effect and stops early). The history's end line is written
// and the report returned in both cases; err says why the soak could not run to its
// end.
func Run(ctx context.Context, cfg Config, d Deps) (*Result, error) {
	if err := cfg.Validate(d); err != nil {
		return nil, err
	}
	if d.Log == nil {
		d.Log = zap.NewNop()
	}
	s := &soak{cfg: cfg, d: d, log: d.Log.Named("soak"), start: time.Now(), phase: PhaseStarting, targetByKnd: map[string]string{}}
	for _, f := range cfg.Faults {
		s.targetByKnd[f.Kind] = f.Target
	}
	s.ctx = ctx
	res := &Result{Start: s.start}
	err := s.play(ctx, res)
	if _, herr := d.Live.Append(history.MetaEvent(history.Meta{Phase: history.MetaEnd})); herr != nil {
		err = errors.Join(err, fmt.Errorf("history: %w", herr))
	}
	s.setPhase(PhaseDone)
	res.End = time.Now()
	res.Report = d.Live.Finish()
	res.Runs = d.Workload.Stats()
	res.Faults = s.faultStats()
	res.Stopped = ctx.Err() != nil
	if d.Progress != nil {
		d.Progress(s.progress(res.Report))
	}
	return res, err
}

func (s *soak) play(ctx context.Context, res *Result) error {
	wl, cfg := s.d.Workload, s.cfg
	end := s.start.Add(cfg.Duration)
	bg, stopBackground := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		stopBackground()
		wg.Wait()
	}()
	wg.Go(func() { s.watchDependencies(bg) })
	wg.Go(func() { wl.Monitor(bg, cfg.MonitorTick, cfg.Heartbeats) })
	s.follow = scenario.FollowPods(bg, s.d.Discover, wl, cfg.MonitorTick, s.log)
	if s.d.Progress != nil && cfg.ProgressEvery > 0 {
		wg.Go(func() { s.reportProgress(bg) })
	}

	if err := s.bootstrap(ctx, end); err != nil {
		return err
	}
	s.setPhase(PhaseWarmup)
	starting, stopStarting := context.WithDeadline(ctx, end)
	defer stopStarting()
	runsDone := make(chan struct{})
	go func() {
		defer close(runsDone)
		_ = wl.RunWith(starting, ctx)
	}()

	sched, err := schedule.New(schedule.Config{Entries: s.entries(), Quiet: cfg.Quiet, Warmup: cfg.Warmup, Cooldown: cfg.Cooldown,
		Start: s.start, End: end}, s.fire, s.log)
	if err != nil {
		stopStarting()
		<-runsDone
		return err
	}
	schedCtx, stopSched := context.WithDeadline(ctx, end)
	defer stopSched()
	schedDone := make(chan struct{})
	go func() {
		defer close(schedDone)
		sched.Run(schedCtx)
	}()
	cooldownAt := end.Add(-cfg.Cooldown)
	from, before := s.phaseTimers(ctx, s.start.Add(cfg.Warmup), cooldownAt)

	<-schedDone // a fault in progress is healed before Run returns
	res.Schedule = sched.Stats()
	s.setPhase(PhaseDraining)
	s.log.Info("no new runs; waiting for the runs in flight and the settle windows of the decided ones", zap.Int("in_flight", wl.InFlight()))
	<-runsDone
	res.FinalCheck = FinalCheck{From: from, Violations: s.violations() - before,
		AllReady: scenario.WaitAllReady(ctx, wl, cfg.RecoverWait), OpenFaults: s.activeFault()}
	if !res.FinalCheck.AllReady && ctx.Err() == nil {
		s.log.Warn("final check: not every pod was ready again", zap.Duration("within", cfg.RecoverWait))
	}
	return nil
}

// phaseTimers moves the phase along (warmup, faulting, cooldown) until the soak's
// end or ctx, and returns when the cooldown began and the violations counted then
// (zero and 0 when it never began).
func (s *soak) phaseTimers(ctx context.Context, faultingAt, cooldownAt time.Time) (cooldownFrom time.Time, violationsBefore int) {
	for _, step := range []struct {
		at    time.Time
		phase string
	}{{faultingAt, PhaseFaulting}, {cooldownAt, PhaseCooldown}} {
		t := time.NewTimer(time.Until(step.at))
		select {
		case <-ctx.Done():
			t.Stop()
			return cooldownFrom, violationsBefore
		case <-t.C:
		}
		s.setPhase(step.phase)
		s.log.Info("phase", zap.String("phase", step.phase))
		if step.phase == PhaseCooldown {
			cooldownFrom, violationsBefore = time.Now(), s.violations()
		}
	}
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(s.start.Add(s.cfg.Duration))):
	}
	return cooldownFrom, violationsBefore
}

func (s *soak) entries() []schedule.Entry {
	out := make([]schedule.Entry, 0, len(s.cfg.Faults))
	for _, f := range s.cfg.Faults {
		out = append(out, schedule.Entry{Kind: f.Kind, Spec: f.Spec, Jitter: f.Jitter})
	}
	return out
}

// bootstrap makes the tenant, retrying while the cluster (or its database) is not
// there yet, until the soak's end or BootstrapWait.
func (s *soak) bootstrap(ctx context.Context, end time.Time) error {
	deadline := end
	if s.cfg.BootstrapWait > 0 {
		deadline = time.Now().Add(s.cfg.BootstrapWait)
	}
	wait := time.Second
	for {
		err := s.d.Workload.Bootstrap(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("soak: %w", err)
		}
		s.log.Warn("cannot make the tenant yet; retrying", zap.Error(err), zap.Duration("in", wait))
		select {
		case <-ctx.Done():
			return fmt.Errorf("soak: %w", err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// fire is one scheduled fault: pick the victim, inject, hold, heal, and wait for the
// cluster to be ready again, so that the next fault does not land on a cluster still
// recovering from this one.
func (s *soak) fire(ctx context.Context, kind string, scheduled time.Time) error {
	log := s.log.With(zap.String("kind", kind), zap.Time("scheduled", scheduled))
	if why, down := s.d.Live.Outage(); down {
		s.count(func(f *FaultStats) { f.Outage++ })
		log.Info("fault skipped: a dependency is away", zap.String("outage", why))
		return nil
	}
	target := s.targetByKnd[kind]
	owner, run := "", ""
	if target == TargetOwner {
		r := s.victim(ctx)
		if r == nil {
			s.count(func(f *FaultStats) { f.NoVictim++ })
			log.Info("fault skipped: no run in flight with k chunks buffered and a known owner", zap.Duration("waited", s.cfg.OwnerWait))
			return nil
		}
		owner, run = r.Owner(), r.ID
	}
	s.count(func(f *FaultStats) { f.Fired++ })
	s.setActive(kind + " " + orAny(owner, target))
	log.Info("fault", zap.String("target", target), zap.String("owner", owner), zap.String("run", run))
	// The fault is held for its whole hold even if the schedule's window closes
	// meanwhile (the cooldown begins): only a signal cuts it short. The cooldown
	// should outlast the longest hold.
	healed := s.d.Workload.Fault() // the runs' settle windows start no earlier than the heal
	err := s.d.Faulters[kind].Fault(s.ctx, owner, run, s.d.Live, func(pod string) {
		s.setActive(kind + " " + pod)
		scenario.AttachSurvivors(s.ctx, s.d.Workload, pod, log)
	})
	healed()
	s.follow.Once(s.ctx) // a pod the fault removed for good leaves now, its replacement joins
	s.setActive("")
	if err != nil {
		s.count(func(f *FaultStats) { f.Failed++ })
		log.Warn("fault failed", zap.Error(err))
	} else {
		s.count(func(f *FaultStats) { f.Healed++ })
	}
	if !scenario.WaitAllReady(s.ctx, s.d.Workload, s.cfg.RecoverWait) {
		log.Warn("not every pod was ready again after the heal", zap.Duration("within", s.cfg.RecoverWait))
	}
	return err
}

// victim picks a run in flight whose k chunks are in its buffer and whose owner
// Postgres names, waiting up to OwnerWait for one. Of those it takes the one with the
// fewest chunks streamed (ties at random): the fault should land while the run still
// has most of its stream ahead, not on a run about to finish, whose end may beat
// the fault and leave nothing for owner-alive or the takeover to show. A run whose
// stream has ended (its watchers still reading to the end) is not a candidate.
func (s *soak) victim(ctx context.Context) *workload.Run {
	deadline := time.Now().Add(s.cfg.OwnerWait)
	for {
		if r := pickVictim(s.d.Workload.Live()); r != nil {
			return r
		}
		if time.Now().After(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// victimRun is what pickVictim needs of a run; *workload.Run has it.
type victimRun interface {
	Done() <-chan struct{}
	Buffered() <-chan struct{}
	Owner() string
	Streamed() (chunks int, ended bool)
}

// closed reports whether c is closed. (One select over Done and Buffered would pick
// at random when both are, and take a decided run.)
func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// pickVictim returns the candidate with the fewest chunks streamed, nil if none.
func pickVictim[R victimRun](runs []R) R {
	var best []R
	fewest := 0
	for _, r := range runs {
		if closed(r.Done()) || !closed(r.Buffered()) {
			continue
		}
		n, ended := r.Streamed()
		if ended || r.Owner() == "" {
			continue
		}
		switch {
		case len(best) == 0 || n < fewest:
			best, fewest = []R{r}, n
		case n == fewest:
			best = append(best, r)
		}
	}
	if len(best) == 0 {
		var none R
		return none
	}
	return best[rand.IntN(len(best))]
}

// watchDependencies pings every dependency each tick and records each change of
// reach (and the first reading) in the history.
func (s *soak) watchDependencies(ctx context.Context) {
	if len(s.d.Dependencies) == 0 {
		return
	}
	up := map[string]bool{}
	since := map[string]time.Time{}
	tick := time.NewTicker(s.cfg.DependencyTick)
	defer tick.Stop()
	for {
		for _, dep := range s.d.Dependencies {
			at := time.Now()
			pctx, cancel := context.WithTimeout(ctx, max(s.cfg.DependencyTick, 2*time.Second))
			err := dep.Ping(pctx)
			cancel()
			if ctx.Err() != nil {
				return
			}
			was, seen := up[dep.Name]
			if seen && was == (err == nil) {
				continue
			}
			up[dep.Name] = err == nil
			if _, herr := s.d.Live.Append(history.ProbeEvent(history.DependencyProbe(dep.Name, err), at)); herr != nil {
				s.log.Error("history write failed", zap.Error(herr))
			}
			switch {
			case err != nil:
				since[dep.Name] = at
				s.log.Warn("dependency unreachable: its window is judged unknown, not violated; the soak carries on",
					zap.String("dependency", dep.Name), zap.Error(err))
			case seen:
				s.log.Info("dependency back", zap.String("dependency", dep.Name), zap.Duration("away", at.Sub(since[dep.Name])))
			}
			if s.d.OnDependency != nil {
				s.d.OnDependency(dep.Name, err == nil)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (s *soak) reportProgress(ctx context.Context) {
	tick := time.NewTicker(s.cfg.ProgressEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.d.Progress(s.progress(invariants.Report{}))
		}
	}
}

// progress is a snapshot; final, when it has verdicts, gives the final counts.
func (s *soak) progress(final invariants.Report) Progress {
	p := Progress{Elapsed: time.Since(s.start), Total: s.cfg.Duration, Runs: s.d.Workload.Stats(), InFlight: s.d.Workload.InFlight()}
	s.mu.Lock()
	p.Phase, p.Faults, p.Active = s.phase, s.faults, s.active
	s.mu.Unlock()
	if len(final.Verdicts) > 0 {
		for _, v := range final.Verdicts {
			p.Violations += v.Violations
			p.Unknowns += v.Unknowns
		}
	} else {
		for _, c := range s.d.Live.Counts() {
			p.Violations += c.Violations
			p.Unknowns += c.Unknowns
		}
		p.Outage, _ = s.d.Live.Outage()
	}
	return p
}

func (s *soak) violations() int {
	n := 0
	for _, c := range s.d.Live.Counts() {
		n += c.Violations
	}
	return n
}

func (s *soak) setPhase(p string) {
	s.mu.Lock()
	s.phase = p
	s.mu.Unlock()
	if s.d.OnPhase != nil {
		s.d.OnPhase(p)
	}
}

func (s *soak) setActive(a string) {
	s.mu.Lock()
	s.active = a
	s.mu.Unlock()
}

func (s *soak) activeFault() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

func (s *soak) count(f func(*FaultStats)) {
	s.mu.Lock()
	f(&s.faults)
	s.mu.Unlock()
}

func (s *soak) faultStats() FaultStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

func orAny(owner, target string) string {
	if owner != "" {
		return owner
	}
	return target
}
