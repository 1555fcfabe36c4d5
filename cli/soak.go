package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/chaosd/chaosd/alert"
	"github.com/chaosd/chaosd/config"
	"github.com/chaosd/chaosd/faults"
	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/invariants"
	"github.com/chaosd/chaosd/kube"
	"github.com/chaosd/chaosd/metrics"
	"github.com/chaosd/chaosd/preflight"
	"github.com/chaosd/chaosd/report"
	"github.com/chaosd/chaosd/scenario"
	"github.com/chaosd/chaosd/schedule"
	"github.com/chaosd/chaosd/soak"
	"github.com/chaosd/chaosd/workload"
)

const soakHelp = `
Run the overnight soak: runs flow through the cluster at soak.rate for --duration,
each watched early from one pod and late from a sample of pods (--watchers: 2, which
is every pod on three), while faults fire on cron schedules (UTC)
on the owners of runs in flight: soak.faults holds one schedule per kind (kill, stop,
pause, partition; rollout, which restarts every pod in turn, takes target all), cron
(5 or 6 fields) or @every, with an optional jitter. A firing while a fault is still in
effect is skipped, never stacked; none fires during the warmup, a quiet window
(soak.quiet) or the cooldown, which is the final quiet check: runs still flow, every
fault is healed, every pod must be ready again. Each decided run's buffer is read
for its settle window after its decision, or after the heal of a fault in effect
while it ran if later (--settle; auto: the heartbeat TTL, or one refresh interval on
a mesh without a heartbeat bucket), for writes after its end;
the soak's end waits for the last windows.

Every invariant judges each event as it is written. A violation is logged with its
evidence and sent, deduplicated per invariant and cause, to the alert destinations
(alerts.webhooks, alerts.slack, alerts.alertmanager), with a resolved notice once it
stops. chaosd's own metrics are on http://` + "127.0.0.1:9464" + `/metrics (metrics.addr).

Postgres, NATS or the Docker daemon going away is recorded: findings in that window
(and a grace after it) are unknown, not violations, and the soak carries on.

Each soak lands in its own directory, --out/<start time>/ (--out/latest points at the
newest): history.jsonl (rotated at soak.history_max, older segments gzipped),
report.html, junit.xml and summary.md.

  chaosd soak --duration 8h
  chaosd soak --duration 5m --warmup 20s --cooldown 60s --schedule 'kill=@every 40s;pause=@every 50s'

Exit status: 0 every invariant passed and was exercised; 1 an invariant was
violated; 2 the soak could not run, was stopped early, or a verdict is unknown,
not exercised or not promised.`

func runSoak(ctx context.Context, io IO, args []string) error {
	fs, lf := newFlagSet(io, "soak", "[flags]", soakHelp+"\n\n"+invariants.TableLegend)
	checkOnly := fs.Bool("check-config", false, "print the resolved configuration and exit")
	check := fs.Bool("preflight", envOr(io, "CHAOSD_PREFLIGHT", "true") != "false",
		"check the target profile against the live cluster before the soak starts (chaosd doctor); false: skip it (env CHAOSD_PREFLIGHT)")
	cf := config.RegisterSoakFlags(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	cfg, path, err := cf.Resolve(io.Getenv)
	if err != nil {
		return err
	}
	if *checkOnly {
		return printConfig(io.Stdout, cfg, path)
	}
	log, err := lf.logger(io)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	defer onSecondSignal(ctx, io, log)()
	return soakMain(ctx, io, cfg, path, log, *check)
}

func soakMain(ctx context.Context, io IO, cfg config.Config, path string, log *zap.Logger, check bool) error {
	lock, err := lockInstance(ctx, io, cfg)
	if err != nil {
		return err
	}
	defer lock.Close()
	env, err := openFaultEnv(ctx, cfg, path, log, false, false)
	if err != nil {
		return err
	}
	defer env.close()
	// /metrics is bound before anything else happens, so that a taken address is
	// refused at once; the invariants' counts join once the checkers exist.
	var live *invariants.Live
	m := metrics.New(metrics.Options{Version: Version(), Invariants: func() []metrics.InvariantCount { return invariantCounts(live) }})
	if cfg.Metrics.Pprof {
		m.EnablePprof()
	}
	if cfg.Metrics.Addr != "" {
		bound, err := metrics.Serve(ctx, cfg.Metrics.Addr, m, log)
		if err != nil {
			return metricsAddrError(cfg.Metrics.Addr, err)
		}
		log.Info("metrics", zap.String("url", "http://"+bound+"/metrics"))
	}
	// The soak's own directory only once the target is ours: a refused soak leaves
	// <out>/latest pointing at the running one's.
	dir, err := soakDir(cfg.Soak.Out, time.Now())
	if err != nil {
		return err
	}
	if err := startupRecovery(ctx, io, env, false); err != nil {
		return err
	}
	v, err := preflightGate(ctx, io, env, check, preflight.Options{Run: true, Cadence: true})
	if err != nil {
		return err
	}
	defer v.close()
	cfg, env.cfg = v.cfg, v.cfg
	warnObservationLoad(io.Stdout, cfg)
	obs, err := openObservers(ctx, cfg)
	if err != nil {
		return err
	}
	defer obs.close()

	hpath := cfg.Workload.History
	if hpath == "" {
		hpath = filepath.Join(dir, "history.jsonl")
	}
	hw, err := history.Create(hpath, history.Options{Log: log, MaxBytes: int64(cfg.Soak.HistoryMax), Compress: cfg.Soak.Compress})
	if err != nil {
		return err
	}
	defer hw.Close()

	params := paramsOf(cfg)
	notifier, err := newNotifier(cfg, log)
	if err != nil {
		return err
	}
	alertCtx, stopAlerts := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAlerts()
	go notifier.Run(alertCtx)
	live = invariants.NewLiveWith(hw, params, invariants.LiveOptions{
		OnFinding: findingSink(notifier, log),
		OnEvent:   m.Observe,
	})
	meta := metaOf(cfg, params)
	meta.Note = fmt.Sprintf("soak %s", cfg.Soak.Duration)
	events, in, err := beginRecording(ctx, env, live, meta, log)
	if err != nil {
		return err
	}
	faulters, err := soakFaulters(cfg, in, env.kube != nil)
	if err != nil {
		return err
	}
	wcfg := watchedLongEnough(workloadConfig(cfg), cfg)
	wcfg.Rate, wcfg.MaxInFlight, wcfg.Runs = cfg.Soak.Rate, cfg.Soak.MaxInFlight, 0
	wcfg.Settle = settleOf(cfg, log, soakHolds(cfg)...)
	wl, err := workload.New(wcfg, workload.Deps{Driver: obs.driver, Postgres: obs.pg, NATS: obs.nats, Recorder: live, Log: log,
		UserChecks: userChecks(cfg.Checks), OnDecided: func(_ *workload.Run, outcome string, took time.Duration) { m.RunDecided(outcome, took) }})
	if err != nil {
		return err
	}
	scfg := soakConfig(cfg)
	m.SoakStarted(time.Now(), cfg.Soak.Duration.Std())
	prog := newProgress(io, cfg.Soak.Progress, log)
	res, runErr := soak.Run(ctx, scfg, soak.Deps{
		Workload: wl, Live: live, Faulters: faulters, Log: log,
		Dependencies: []soak.Dependency{
			{Name: history.DepPostgres, Ping: obs.pg.Ping},
			{Name: history.DepNATS, Ping: obs.nats.Ping},
			env.runtimeDependency(),
		},
		Discover:     env.discover(),
		OnDependency: m.SetDependency,
		OnPhase:      func(p string) { m.SetPhase(metricsPhase(p)) },
		Progress:     prog.update,
	})
	prog.done()
	if _, err := events.Stop(200 * time.Millisecond); err != nil {
		log.Warn("docker events", zap.Error(err))
	}
	if res != nil && res.FinalCheck.Violations == 0 && res.FinalCheck.AllReady && !res.Stopped {
		notifier.ResolveAll(time.Now())
	}
	closeCtx, cancelClose := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	if err := notifier.Close(closeCtx); err != nil {
		log.Warn("alerts: not every notice was delivered", zap.Error(err))
	}
	cancelClose()
	if err := hw.Close(); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("history: %w", err))
	}
	return soakOutcome(io, cfg, dir, hpath, res, runErr, notifier.Stats())
}

// metricsAddrError explains a metrics address that could not be bound: chaosd never
// picks another port by itself (a scrape config names it), so a taken port, e.g. a
// second chaosd's, is refused with the settings that fix it.
func metricsAddrError(addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return &ExitCodeError{Code: ExitError, Err: fmt.Errorf("metrics.addr %s is already in use (another chaosd's /metrics?); nothing was injected: "+
			"set --metrics-addr or CHAOSD_METRICS_ADDR to a free address, to 127.0.0.1:0 to let chaosd choose one (it logs the URL), or --metrics-addr= to serve none", addr)}
	}
	return &ExitCodeError{Code: ExitError, Err: fmt.Errorf("metrics.addr %s: %w (set --metrics-addr or CHAOSD_METRICS_ADDR)", addr, err)}
}

// soakOutcome writes the report files and prints the summary; the exit code follows
// the verdicts.
func soakOutcome(io IO, cfg config.Config, dir, hpath string, res *soak.Result, runErr error, as alert.Stats) error {
	if res == nil {
		return runErr
	}
	w := io.Stdout
	fmt.Fprintf(w, "\nsoak %s: %s to %s (%s)%s\n", cfg.Soak.Duration, res.Start.UTC().Format(time.RFC3339), res.End.UTC().Format(time.RFC3339),
		res.End.Sub(res.Start).Round(time.Second), map[bool]string{true: ", stopped early", false: ""}[res.Stopped])
	fmt.Fprintf(w, "runs: %d started, %d completed, %d not, %d due but skipped at the in-flight cap",
		res.Runs.Started, res.Runs.Completed, res.Runs.Failed, res.Runs.Skipped)
	if res.Runs.Late > 0 {
		fmt.Fprintf(w, ", %d not started with chaosd over a second behind its schedule", res.Runs.Late)
	}
	fmt.Fprintln(w)
	f := res.Faults
	fmt.Fprintf(w, "faults: %d fired, %d healed, %d failed; skipped: %d no victim, %d dependency away\n", f.Fired, f.Healed, f.Failed, f.NoVictim, f.Outage)
	writeScheduleStats(w, res.Schedule)
	fc := res.FinalCheck
	fmt.Fprintf(w, "final quiet check (from %s): %d violations, every pod ready: %v\n", clockOf(fc.From), fc.Violations, fc.AllReady)
	fmt.Fprintf(w, "alerts: %d fired, %d re-notified, %d resolved; %d sent, %d failed, %d dropped\n\n",
		as.Fired, as.Renotified, as.Resolved, as.Sent, as.Failed, as.Dropped)
	_ = invariants.WriteTable(w, res.Report)
	_ = invariants.WriteDiagnoses(w, res.Report)
	// The report's verdicts are the live checkers' own (with the target's graces):
	// the history is read once more for the timeline only.
	if d, err := report.FromFileWith(hpath, res.Report); err != nil {
		runErr = errors.Join(runErr, err)
	} else if err := writeReports(dir, d); err != nil {
		runErr = errors.Join(runErr, err)
	} else {
		fmt.Fprintf(w, "report: %s, %s, %s\n", filepath.Join(dir, "report.html"), filepath.Join(dir, "junit.xml"), filepath.Join(dir, "summary.md"))
	}
	fmt.Fprintf(w, "history: %s (chaosd analyze %[1]s re-checks it)\n", hpath)
	switch {
	case runErr != nil:
		return &ExitCodeError{Code: ExitError, Err: fmt.Errorf("the soak could not run to its end: %w", runErr)}
	case res.Report.Status == invariants.Fail:
		return verdictExit(res.Report.Status)
	case res.Stopped:
		return &ExitCodeError{Code: ExitError, Err: errors.New("stopped early by a signal: every fault was healed; the verdicts cover what ran")}
	}
	return verdictExit(res.Report.Status)
}

// soakDir makes the directory of one soak, <out>/<start time, UTC>, and points
// <out>/latest at it: every soak keeps its own history and report, so that a nightly
// soak never appends to, or overwrites, the one before.
func soakDir(out string, start time.Time) (string, error) {
	name := start.UTC().Format("20060102T150405Z")
	dir := filepath.Join(out, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("soak.out: %w", err)
	}
	latest := filepath.Join(out, "latest")
	tmp := latest + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Symlink(name, tmp); err != nil {
		return "", fmt.Errorf("soak.out: %w", err)
	}
	if err := os.Rename(tmp, latest); err != nil {
		return "", fmt.Errorf("soak.out: %w", err)
	}
	return dir, nil
}

func writeScheduleStats(w interface{ Write([]byte) (int, error) }, st schedule.Stats) {
	for kind, k := range st {
		fmt.Fprintf(w, "  %-9s fired %d (failed %d); skipped: %d still running, %d busy, %d quiet, %d warmup, %d cooldown, %d ended\n",
			kind, k.Fired, k.Failed, k.Skipped.StillRunning, k.Skipped.Busy, k.Skipped.Quiet, k.Skipped.Warmup, k.Skipped.Cooldown, k.Skipped.Ended)
	}
}

func clockOf(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("15:04:05")
}

func soakConfig(cfg config.Config) soak.Config {
	s := cfg.Soak
	sc := soak.Config{Duration: s.Duration.Std(), Warmup: s.Warmup.Std(), Cooldown: s.Cooldown.Std(),
		OwnerWait: ownerWait(cfg), RecoverWait: recoverWait(paramsOf(cfg)),
		MonitorTick: cfg.Workload.HeartbeatInt.Std() / 2, Heartbeats: cfg.Workload.Heartbeats,
		DependencyTick: time.Second, ProgressEvery: time.Second}
	for _, f := range s.Faults {
		sc.Faults = append(sc.Faults, soak.Fault{Kind: f.Kind, Spec: f.Schedule, Jitter: f.Jitter.Std(), Target: f.Target})
	}
	for _, q := range s.Quiet {
		sc.Quiet = append(sc.Quiet, schedule.Quiet{Spec: q.Schedule, For: q.For.Std()})
	}
	return sc
}

// soakFaulters is one faulter per scheduled kind, all through one injector (the
// schedule fires one fault at a time).
func soakFaulters(cfg config.Config, in *faults.Injector, onKube bool) (map[string]scenario.Faulter, error) {
	out := map[string]scenario.Faulter{}
	for _, f := range cfg.Soak.Faults {
		info, err := faults.LookupKind(f.Kind)
		if err != nil {
			return nil, err
		}
		ts := faults.TargetSpec{Mode: faults.PickNamed, Name: f.Target, OwnerWait: cfg.Owner.Wait.Std()}
		switch f.Target {
		case soak.TargetOwner:
			ts = faults.TargetSpec{Mode: faults.PickOwner, OwnerWait: cfg.Owner.Wait.Std()}
		case soak.TargetRandom:
			ts = faults.TargetSpec{Mode: faults.PickRandom}
		case soak.TargetAll: // a rollout's, and only its (config checks)
			ts = faults.TargetSpec{Mode: faults.PickAll}
		}
		hold := cfg.Hold(info.Name)
		req := faults.Request{Kind: f.Kind, Target: ts, Spec: kindSpec(info, cfg, hold)}
		if hold.Never {
			return nil, fmt.Errorf("soak.faults %s: faults.kinds.%s holds forever; a soak must heal every fault", f.Kind, f.Kind)
		}
		out[f.Kind] = &dockerFaulter{in: in, req: req, replaced: onKube && kube.Replaces(f.Kind)}
	}
	return out, nil
}

// soakHolds are the holds of the kinds the soak schedules, as their faulters hold
// them (soakFaulters).
func soakHolds(cfg config.Config) []time.Duration {
	var out []time.Duration
	for _, f := range cfg.Soak.Faults {
		if info, err := faults.LookupKind(f.Kind); err == nil {
			out = append(out, specHold(kindSpec(info, cfg, cfg.Hold(info.Name))))
		}
	}
	return out
}

func newNotifier(cfg config.Config, log *zap.Logger) (*alert.Notifier, error) {
	a := cfg.Alerts
	var sinks []alert.Sink
	add := func(s alert.Sink, err error) error {
		if err != nil {
			return err
		}
		sinks = append(sinks, s)
		return nil
	}
	timeout := 10 * time.Second
	for _, u := range a.Webhooks {
		if err := add(alert.NewWebhook(u, timeout)); err != nil {
			return nil, err
		}
	}
	if a.Slack != "" {
		if err := add(alert.NewSlack(a.Slack, timeout)); err != nil {
			return nil, err
		}
	}
	if a.Alertmanager != "" {
		if err := add(alert.NewAlertmanager(a.Alertmanager, timeout)); err != nil {
			return nil, err
		}
	}
	labels := map[string]string{"project": cfg.Selector.Project}
	for k, v := range a.Labels {
		labels[k] = v
	}
	return alert.New(alert.Config{Renotify: a.Renotify.Std(), ResolveAfter: a.ResolveAfter.Std(), Labels: labels}, sinks, log), nil
}

// findingSink logs every violation with its evidence and hands it to the notifier;
// unknown windows are logged at info.
func findingSink(n *alert.Notifier, log *zap.Logger) func(string, invariants.Status, invariants.Finding) {
	log = log.Named("invariants")
	return func(name string, st invariants.Status, f invariants.Finding) {
		if st != invariants.Fail {
			log.Info("unknown window", zap.String("invariant", name), zap.String("run", f.Run), zap.String("message", f.Message))
			return
		}
		log.Error("violation", zap.String("invariant", name), zap.String("run", f.Run), zap.Strings("pods", f.Pods),
			zap.String("message", f.Message), zap.Strings("evidence", f.Details))
		n.Violation(alert.Violation{Invariant: name, Cause: f.Cause, Summary: f.Message, Details: f.Details, Run: f.Run, Pods: f.Pods, At: f.At})
	}
}

func invariantCounts(live *invariants.Live) []metrics.InvariantCount {
	if live == nil {
		return nil
	}
	cs := live.Counts()
	out := make([]metrics.InvariantCount, len(cs))
	for i, c := range cs {
		out[i] = metrics.InvariantCount{Name: c.Name, Checks: c.Checks, Exercised: c.Exercised, UnderFault: c.UnderFault,
			Violations: c.Violations, Unknowns: c.Unknowns}
	}
	return out
}

// metricsPhase maps the soak's phases onto chaosd_soak_phase's.
func metricsPhase(p string) string {
	switch p {
	case soak.PhaseStarting, soak.PhaseWarmup:
		return metrics.PhaseWarmup
	case soak.PhaseFaulting:
		return metrics.PhaseFaulting
	case soak.PhaseCooldown:
		return metrics.PhaseQuiet
	case soak.PhaseDraining:
		return metrics.PhaseFinalCheck
	}
	return strings.ToLower(p)
}
