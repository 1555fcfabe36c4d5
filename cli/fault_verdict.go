package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"go.uber.org/zap"

	"github.com/chaosd/chaosd/config"
	"github.com/chaosd/chaosd/faults"
	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/invariants"
	"github.com/chaosd/chaosd/kube"
	"github.com/chaosd/chaosd/mockai"
	"github.com/chaosd/chaosd/owners"
	"github.com/chaosd/chaosd/probes"
	"github.com/chaosd/chaosd/promise"
	"github.com/chaosd/chaosd/scenario"
	"github.com/chaosd/chaosd/workload"
)

// faultWithVerdict is chaosd --fault=... with its workload: runs flow and are watched
// from every pod, the fault hits (the owner of a run with k chunks buffered, for the
// -owner forms), and every invariant judges what happened. Exit 0 all pass, 1 any
// violated, 2 could not run, or a verdict unknown, not exercised or not promised.
func faultWithVerdict(ctx context.Context, io IO, env *faultEnv, log *zap.Logger, req faults.Request) error {
	cfg := env.cfg
	obs, err := openObservers(ctx, cfg)
	if err != nil {
		return err
	}
	defer obs.close()
	hpath := cfg.Workload.History
	if hpath == "" { // the target's own directory: two chaosd on two clusters never mix histories
		if err := os.MkdirAll(cfg.Workload.HistoryDir, 0o755); err != nil {
			return fmt.Errorf("workload.history_dir: %w (set --history-dir or CHAOSD_HISTORY_DIR)", err)
		}
		hpath = filepath.Join(cfg.Workload.HistoryDir, "chaosd-"+time.Now().UTC().Format("20060102T150405Z")+".jsonl")
	}
	hw, err := history.Create(hpath, history.Options{Log: log})
	if err != nil {
		return err
	}
	defer hw.Close()
	params, untested := putToTest(paramsOf(cfg), req, cfg.RuntimeName())
	if len(untested) > 0 {
		fmt.Fprintf(io.Stdout, "not put to the test by --fault=%s, so not judged: %s\n", req.Kind, strings.Join(untested, "; "))
	}
	live := invariants.NewLive(hw, params)
	events, in, err := beginRecording(ctx, env, live, metaOf(cfg, params), log)
	if err != nil {
		return err
	}
	wcfg := watchedLongEnough(workloadConfig(cfg), cfg)
	wcfg.Settle = settleOf(cfg, log, specHold(req.Spec))
	wl, err := workload.New(wcfg, workload.Deps{Driver: obs.driver, Postgres: obs.pg, NATS: obs.nats, Recorder: live, Log: log,
		UserChecks: userChecks(cfg.Checks)})
	if err != nil {
		return err
	}
	df := &dockerFaulter{in: in, req: req, replaced: env.kube != nil && kube.Replaces(req.Kind)}
	res, runErr := scenario.Run(ctx, scenario.Config{Runs: cfg.Workload.Runs, OwnerWait: ownerWait(cfg), RecoverWait: recoverWait(params),
		MonitorTick: cfg.Workload.HeartbeatInt.Std() / 2, Heartbeats: cfg.Workload.Heartbeats, ServeAfter: params.RequestGrace()},
		scenario.Deps{Workload: wl, Live: live, Faulter: df, Log: log, Discover: env.discover()})
	evs, evErr := events.Stop(200 * time.Millisecond)
	printReport(io.Stdout, df.rep, cfg.Ledger.Path, evs, evErr, res.FaultErr)
	return verdictOutcome(io.Stdout, res, runErr, hpath)
}

// putToTest narrows the target's promises to those one fault of req's kind can put
// to the test, and says which it left out: no SIGKILL, pause or partition stops a
// pod gracefully (sigterm-handover), a graceful stop leaves no run to its owner's
// restart (restart-recovery), a Kubernetes delete neither, and a Kubernetes kill,
// restarted in place at once, leaves no run to a survivor (survivor-takeover). A
// soak, with every kind, judges them all.
func putToTest(p invariants.Params, req faults.Request, runtime string) (invariants.Params, []string) {
	graceful := req.Kind == "stop" || (req.Kind == "rollout" && req.Spec.Signal != faults.SignalKill)
	drops := []string{promise.SigtermHandover}
	switch {
	case graceful:
		drops = []string{promise.RestartRecovery}
	case req.Kind == history.KindDelete: // SIGKILLed and removed: no hand-over, and never back to adopt its runs
		drops = append(drops, promise.RestartRecovery)
	case req.Kind == history.KindKill && runtime == config.RuntimeKubernetes:
		// The kubelet restarts a killed container at once (measured: the owner down
		// 1-2 s), well within the heartbeat TTL: the pod adopts its own runs before
		// any survivor may take them over. delete is the takeover's test there.
		drops = append(drops, promise.SurvivorTakeover)
	}
	all := p.Resolve(nil).Promises
	var said []string
	for _, drop := range drops {
		if !slices.Contains(all, drop) {
			continue
		}
		p.Untested = append(p.Untested, drop)
		said = append(said, drop+" ("+promise.Statement(drop)+")")
	}
	if len(said) == 0 {
		return p, nil
	}
	p.Promises = slices.DeleteFunc(slices.Clone(all), func(n string) bool { return slices.Contains(p.Untested, n) })
	return p, said
}

func verdictOutcome(w io.Writer, res *scenario.Result, runErr error, hpath string) error {
	if res == nil {
		return runErr
	}
	fmt.Fprintf(w, "\nworkload: %d runs started, %d completed, %d not; victim %s (owner %s), fault hit %s\n",
		res.Stats.Started, res.Stats.Completed, res.Stats.Failed, res.Victim, orDash(res.Owner), orDash(res.Hit))
	fmt.Fprintln(w)
	_ = invariants.WriteTable(w, res.Report)
	_ = invariants.WriteDiagnoses(w, res.Report)
	fmt.Fprintf(w, "history: %s (chaosd analyze %[1]s re-checks it)\n", hpath)
	switch {
	case runErr != nil:
		return &ExitCodeError{Code: ExitError, Err: fmt.Errorf("the scenario could not run to its end: %w", runErr)}
	case res.FaultErr != nil:
		return &ExitCodeError{Code: ExitError, Err: fmt.Errorf("fault: %w", res.FaultErr)}
	}
	return verdictExit(res.Report.Status)
}

// observers are the probes the workload uses.
type observers struct {
	driver *probes.Driver
	pg     *probes.Postgres
	nats   *probes.NATS
}

func openObservers(ctx context.Context, cfg config.Config) (*observers, error) {
	d, err := probes.NewDriver(probes.DriverConfig{AttachRoute: cfg.Workload.AttachRoute})
	if err != nil {
		return nil, err
	}
	q := owners.Lookup{Source: cfg.Owner.Source, Query: cfg.Owner.Query}.ThreadSQL()
	pg, err := probes.NewPostgres(ctx, probes.PostgresConfig{DSN: cfg.Postgres.DSN, OwnerQuery: q, ReplyQuery: cfg.Postgres.ReplyQuery})
	if err != nil {
		return nil, err
	}
	nc, err := probes.NewNATS(probes.NATSConfig{URL: cfg.Workload.NATS})
	if err != nil {
		pg.Close()
		return nil, err
	}
	return &observers{driver: d, pg: pg, nats: nc}, nil
}

func (o *observers) close() {
	o.pg.Close()
	o.nats.Close()
}

func workloadConfig(cfg config.Config) workload.Config {
	w := cfg.Workload
	c := workload.DefaultConfig()
	c.Replies = cfg.Postgres.ReplyQuery != ""
	for _, p := range w.Pods {
		c.Pods = append(c.Pods, workload.Pod{Name: p.Name, URL: p.URL})
	}
	for _, p := range w.APIPods {
		c.APIPods = append(c.APIPods, workload.Pod{Name: p.Name, URL: p.URL})
	}
	c.ProviderURL, c.Hint, c.LateAfter, c.Tiers = w.ProviderURL, w.Hint, w.LateAfter, w.Tiers
	c.Watchers, c.ProbeEvery = w.Watchers, w.ProbeInterval.Std()
	c.MaxInFlight = max(c.MaxInFlight, w.Runs)
	return c
}

// watchedLongEnough makes the workload watch each run as long as run-completes and
// owner-alive need to judge it: the hint's streaming time plus the owner grace and
// two slacks, for the target's timings (85s past the hint on mesh's 45s TTL), so
// that a run whose owner never came back is read past the grace, not given up on
// before it.
func watchedLongEnough(c workload.Config, cfg config.Config) workload.Config {
	p := paramsOf(cfg).Resolve(nil)
	c.Grace = max(c.Grace, p.OwnerGrace+2*p.Slack+2*p.Skew)
	var expect time.Duration
	if plan, err := mockai.ParseHints(c.Hint, mockai.Limits{}); err == nil {
		expect = time.Duration(plan.Chunks) * plan.Delay
	}
	if p.Promised(promise.RestartRecovery) {
		// The run waits for its owner to come back: the hold, then the restart's
		// grace (which counts the streaming time once more: the run starts over).
		c.Grace = max(c.Grace, p.TakeoverHold()+p.RestartGraceFor(expect)+2*p.Skew)
		// run-completes does not count the owner's downtime (the hold) there.
		c.Grace = max(c.Grace, p.OwnerGrace+2*p.Slack+2*p.Skew+p.TakeoverHold())
	}
	if p.Promised(promise.SigtermHandover) {
		c.Grace = max(c.Grace, p.HandoverGraceFor(expect)+2*p.Skew)
	}
	return c
}

// settleOf resolves workload.settle for a workload whose faults hold for holds (none:
// no fault, chaosd bench): a duration as given; auto, the heartbeat TTL (one refresh
// interval on a mesh without a heartbeat bucket), counted from
// a run's decision or from the heal of the fault in effect while it ran, if later
// (workload.Workload.Fault): long enough for a pod frozen or cut off until the heal
// to wake, reconnect and write. None when no fault is held (chaosd bench).
func settleOf(cfg config.Config, log *zap.Logger, holds ...time.Duration) time.Duration {
	s := cfg.Workload.Settle
	switch {
	case !s.Auto:
		log.Info("settle window: each decided run's buffer is read for writes after its end", zap.Duration("settle", s.D))
		return s.D
	case len(holds) == 0:
		return 0
	}
	if !cfg.Workload.Heartbeats {
		// No heartbeat bucket: no survivor takes over a silent owner's run (only a
		// restart or a hand-over moves it), so a woken owner is the run's one writer
		// and any late write of its own comes at once; one refresh interval is ample.
		d := cfg.Workload.HeartbeatInt.Std()
		log.Info("settle window: each decided run's buffer is read for writes after its end", zap.Duration("settle", d),
			zap.String("auto", fmt.Sprintf("one refresh interval %s after the run's decision or the fault's heal, whichever is later: this mesh has no heartbeat bucket, so no survivor takes over a silent owner's run", d)))
		return d
	}
	ttl := cfg.Workload.HeartbeatTTL.Std()
	log.Info("settle window: each decided run's buffer is read for writes after its end", zap.Duration("settle", ttl),
		zap.String("auto", fmt.Sprintf("the heartbeat TTL %s after the run's decision or the fault's heal, whichever is later", ttl)))
	return ttl
}

// specHold is how long a fault holds its pod: a fault that never heals holds none
// (the pod never wakes).
func specHold(s faults.Spec) time.Duration {
	if s.Never {
		return 0
	}
	return s.Hold
}

// paramsOf derives the invariants' graces from the cluster's heartbeat settings.
func paramsOf(cfg config.Config) invariants.Params {
	w := cfg.Workload
	p := invariants.Defaults()
	p.HeartbeatTTL, p.HeartbeatInterval, p.DetectInterval = w.HeartbeatTTL.Std(), w.HeartbeatInt.Std(), w.DetectInt.Std()
	if p.DetectInterval == 0 {
		p.DetectInterval = p.HeartbeatInterval
	}
	p.BootTime = cfg.Pods.BootTime.Std()
	on := w.Heartbeats
	p.HeartbeatCheck = &on
	if len(cfg.Promises) > 0 {
		p.Promises = slices.Clone(cfg.Promises)
	}
	return p
}

func userChecks(cs []config.Check) []probes.UserCheck {
	out := make([]probes.UserCheck, 0, len(cs))
	for _, c := range cs {
		out = append(out, probes.UserCheck{Name: c.Name, SQL: c.SQL, URL: c.HTTP, Stream: c.NATSStream, Bucket: c.NATSBucket})
	}
	return out
}

// metaOf is the history's begin line; the checkers take the user checks' names and
// the heartbeat settings from it.
func metaOf(cfg config.Config, p invariants.Params) history.Meta {
	m := history.Meta{Chaosd: Version(), HeartbeatTTL: history.Duration(p.HeartbeatTTL), HeartbeatInterval: history.Duration(p.HeartbeatInterval),
		DetectInterval: history.Duration(p.DetectInterval), BootTime: history.Duration(p.BootTime), HeartbeatCheck: p.HeartbeatCheck, Target: cfg.Target, Promises: p.Resolve(nil).Promises, Untested: p.Untested}
	for _, pod := range cfg.Workload.Pods {
		m.Pods = append(m.Pods, pod.Name)
	}
	for _, c := range cfg.Checks {
		m.UserChecks = append(m.UserChecks, c.Name)
	}
	return m
}

// recoverWait is how long chaosd waits, after the heal, for every pod to be ready
// again: pod-recovers' deadline for the target's timings, and at least 30 s.
func recoverWait(p invariants.Params) time.Duration {
	return max(p.Resolve(nil).RecoverDeadline, 30*time.Second)
}

// autoHold is what a hold of "auto" means for the target's timings: long enough that
// a takeover that never happens is told apart from a slow one.
func autoHold(cfg config.Config) time.Duration {
	return paramsOf(cfg).Resolve(nil).TakeoverHold()
}

func ownerWait(cfg config.Config) time.Duration {
	if d := cfg.Owner.Wait.Std(); d > 0 {
		return d
	}
	return time.Minute
}

// beginRecording writes the history's begin line, starts the Docker event watch into
// the history, and wires the injector that records its faults there: what --fault and
// the soak do before any run starts.
func beginRecording(ctx context.Context, env *faultEnv, live *invariants.Live, meta history.Meta, log *zap.Logger) (*faults.Events, *faults.Injector, error) {
	if err := scenario.Begin(live, meta); err != nil {
		return nil, nil, err
	}
	events, err := watchIntoHistory(ctx, env, live, log)
	if err != nil {
		return nil, nil, err
	}
	in, err := env.injector(events, false)
	if err != nil {
		return nil, nil, err
	}
	return events, in, nil
}

// watchIntoHistory watches the runtime's container events (Docker's, or the pods'
// deaths on Kubernetes) and writes each to the history, pod-named.
func watchIntoHistory(ctx context.Context, env *faultEnv, rec workload.Recorder, log *zap.Logger) (*faults.Events, error) {
	members, err := env.members(ctx)
	if err != nil {
		return nil, err
	}
	pods := map[string]string{}
	for _, m := range members {
		pods[m.ID] = m.Pod
	}
	ev := faults.WatchEvents(ctx, env.eventer(), env.deps.Selector, log, func(e faults.Event) {
		d := history.Docker{Action: e.Action, Container: e.ID, Pod: pods[e.ID], ByChaosd: e.Expected, Fault: e.Fault, At: e.At, Err: e.Err}
		if d.Pod == "" {
			d.Pod = e.Name
		}
		if code, err := strconv.Atoi(e.ExitCode); err == nil {
			d.ExitCode = &code
		}
		_, _ = rec.Append(history.DockerEvent(d))
	})
	snapshot := func() []history.Docker { return runningSince(ctx, env.docker, members, log) }
	if env.kube != nil {
		snapshot = func() []history.Docker { return kubeRunningSince(ctx, env, members, log) }
	}
	for _, d := range snapshot() {
		if _, err := rec.Append(history.DockerEvent(d)); err != nil {
			return ev, err
		}
	}
	_, err = rec.Append(history.DockerEvent(history.Docker{Action: history.DockerWatchStart, At: time.Now()}))
	return ev, err
}

// runningSince is the running snapshot of the pods under test (not infra, not
// skipped) that run or are paused as the watch starts: one event each, at the time
// its container started. heartbeat-bucket judges a pod's key from it (a pod that ran
// long before chaosd must have its key at the first reading). A pod that cannot be
// inspected is logged and left out: its key is then judged from its first ready
// reading, as before.
func runningSince(ctx context.Context, c interface {
	ContainerInspect(context.Context, string) (container.InspectResponse, error)
}, members []faults.Member, log *zap.Logger) []history.Docker {
	var out []history.Docker
	for _, m := range members {
		if m.Infra || m.Skipped || (m.State != "running" && m.State != "paused") {
			continue
		}
		ci, err := c.ContainerInspect(ctx, m.ID)
		var at time.Time
		if err == nil && ci.State != nil {
			at, err = time.Parse(time.RFC3339Nano, ci.State.StartedAt)
		}
		if err != nil || at.IsZero() {
			log.Warn("container start time unknown: its heartbeat key is judged from its first ready reading", zap.String("pod", m.Pod), zap.Error(err))
			continue
		}
		out = append(out, history.Docker{Action: history.DockerRunning, Container: m.ID, Pod: m.Pod, At: at})
	}
	return out
}

// kubeRunningSince is runningSince on Kubernetes: the pods that run, each at the
// time its containers last started (to the second, the kubelet's resolution).
func kubeRunningSince(ctx context.Context, env *faultEnv, members []faults.Member, log *zap.Logger) []history.Docker {
	started, err := env.kube.Started(ctx)
	if err != nil {
		log.Warn("pods' start times unknown: their heartbeat keys are judged from their first ready readings", zap.Error(err))
		return nil
	}
	var out []history.Docker
	for _, m := range members {
		if at, ok := started[m.Pod]; ok && !m.Skipped && m.State == "running" {
			out = append(out, history.Docker{Action: history.DockerRunning, Container: m.ID, Pod: m.Pod, At: at})
		}
	}
	return out
}

// dockerFaulter runs one fault through the injector, for the scenario.
type dockerFaulter struct {
	in       *faults.Injector
	req      faults.Request
	rep      *faults.Report
	replaced bool // the fault removes its pod(s) for good (history.Fault.Replaced)
}

var _ scenario.Faulter = (*dockerFaulter)(nil)

// Fault implements scenario.Faulter: an owner fault hits the victim run's owner by
// name; a random or named one hits what it picks.
func (f *dockerFaulter) Fault(ctx context.Context, owner, run string, rec workload.Recorder, onInjected func(string)) error {
	req, mode := f.req, f.req.Target.Mode
	if mode == faults.PickOwner {
		req.Target = faults.TargetSpec{Mode: faults.PickNamed, Name: owner}
	} else {
		run = ""
	}
	f.in.OnStep = func(step string, r *faults.Report) {
		fe := faultEventOf(step, r, mode, run)
		fe.Replaced = f.replaced
		_, _ = rec.Append(history.FaultEvent(fe))
		if step == faults.StepInjected {
			onInjected(r.Plan.Target.Pod)
		}
	}
	rep, err := f.in.Run(ctx, req)
	f.rep = rep
	if rep != nil && rep.Interrupted && err == nil {
		err = errors.New("interrupted by a signal: the fault was healed early")
	}
	return err
}

func faultEventOf(step string, r *faults.Report, mode, run string) history.Fault {
	f := history.Fault{ID: r.Fault, Kind: r.Kind, Pod: r.Plan.Target.Pod, Container: r.Plan.Target.ID, Target: mode, Run: run,
		Peers: r.Plan.Spec.Peers, At: time.Now()}
	if (r.Kind == history.KindKill || r.Kind == history.KindStop) && !r.Plan.Spec.Never {
		f.DownFor = history.Duration(r.Plan.Spec.Hold)
	}
	switch r.Kind {
	case history.KindStop:
		f.Signal = history.SignalTerm
	case history.KindRollout:
		if sig, err := faults.ParseSignal(r.Plan.Spec.Signal); err == nil {
			f.Signal = sig
		}
	}
	switch step {
	case faults.StepRecorded:
		f.Phase, f.At = history.FaultIntent, r.Recorded
	case faults.StepInjected:
		f.Phase, f.At = history.FaultInjected, r.Effect.Confirmed
	case faults.StepInjectFailed:
		f.Phase = history.FaultInjectFailed
	case faults.StepHealed:
		f.Phase = history.FaultHealed
		if c := r.Heal.Healing.Confirmed; !c.IsZero() {
			f.At = c
		}
	default:
		f.Phase, f.Err = history.FaultHealUnknown, r.Heal.Healing.Evidence
	}
	return f
}
