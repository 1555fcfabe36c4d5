package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/chaosd/chaosd/config"
	"github.com/chaosd/chaosd/faults"
	"github.com/chaosd/chaosd/invariants"
	"github.com/chaosd/chaosd/preflight"
)

const faultHelp = `
Inject one fault, hold it, heal it and exit, printing what was done and the confirmed
times. KIND is one of: %s.

  --fault=KIND-owner    the pod owning an in-progress run, per Postgres (owner.source)
  --fault=KIND-random   a random running pod
  --fault=KIND --pod=NAME   a named pod or service (postgres, nats and mockai only
                        this way); NAME is a pod name, compose service, container name
                        or id
  --fault=rollout       every pod in turn (rollout takes no -owner, -random or --pod)

--target=NAME picks the target profile (bundled, mesh-2026-05, ...: chaosd targets):
the cluster's topology, routes, owner source and timings. Before any fault, chaosd
checks the profile against the live cluster (chaosd doctor) and exits 2 with nothing
injected when it does not fit; --preflight=false skips that check.

kill and stop hold for --down-for (or never: left down); pause and partition for
--duration. Both default to auto: past owner-alive's grace for the target's timings
(heartbeat TTL + detection interval + slack) plus slack, so that a takeover that never
happens is told apart from a slow one (28s on the bundled cluster, 75s on mesh's 45s
TTL). partition cuts the pod off from everything (network disconnect), or with --peers
only from those peer groups (nftables rules in its network namespace, both directions).

stop stops the pod as a deploy does: SIGTERM, then SIGKILL if it has not exited within
--grace (default: the container's own stop timeout, compose's stop_grace_period, else
10s); the evidence says which. rollout restarts every pod in turn, by name, as a
rolling deploy does, one pod down at a time: stop it (--signal=TERM, the default, as
stop does with --grace; or --signal=KILL), start it, wait until it is ready (at most
pod-recovers' deadline, and at least 2m), pause --duration (auto: 5s, 0s for none),
then the next. A pod that is not ready in time stops the rollout there; the pods
after it are left alone, and every pod that is down is started again.

Safety: only containers of the selector (compose project and/or labels), never one
labelled chaosd.skip=true; at most blast_radius.max_faulted pods at once and never the
last ready pod. Each fault and its undo are written to the ledger before injection; a
detached watchdog heals it at its deadline even if chaosd dies; open faults left by a
crashed chaosd are healed at start-up (and by chaosd recover). SIGINT/SIGTERM heal at
once; a second signal exits immediately, leaving the fault to the watchdog.

Settings come from --config (YAML), then CHAOSD_* variables, then flags; the defaults
are the bundled cluster's.

With the workload (the default), runs flow through the cluster during the fault, each
watched early from one pod and late from --watchers others (2 by default: every pod on
three; always one that is not the pod the run was started on); for the -owner forms the fault hits the owner
of a run once k chunks are in its buffer, and late attaches open on the survivors
while it is in effect. After the heal, once every run is decided, each decided
run's buffer is still read about once a second for its settle window (--settle,
workload.settle; auto: the heartbeat TTL after the run's decision or the fault's
heal, whichever is later; one refresh interval on a mesh without a heartbeat
bucket), so
that an owner which wakes and writes after a survivor finished its run is seen
(no-write-after-end). Every invariant then judges the history (written to
workload.history) and a verdict table is printed. --workload=false injects the bare
fault.

Exit status: 0 every invariant passed (bare: injected, confirmed, healed, confirmed);
1 an invariant was violated; 2 could not run, a heal could not be confirmed, or a
verdict is unknown, not exercised or not promised.`

type faultFlags struct {
	fault, pod, duration, downFor, peers     string
	grace, signal                            string
	dryRun, checkConfig, workload, preflight bool
}

func runFault(ctx context.Context, io IO, args []string) error {
	if len(args) > 0 && strings.HasPrefix(args[0], "--watch-fault") {
		return runWatchdog(ctx, io, args)
	}
	fs, lf := newFlagSet(io, "--fault=KIND[-owner|-random]", "[flags]", fmt.Sprintf(faultHelp, strings.Join(faults.KindNamesFor(faults.RuntimeDocker), ", ")+" on Docker; "+strings.Join(faults.KindNamesFor(faults.RuntimeKubernetes), ", ")+" on Kubernetes")+"\n\n"+invariants.TableLegend)
	ff := bindFaultFlags(fs, io)
	cf := config.RegisterFlags(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	cfg, path, err := cf.Resolve(io.Getenv)
	if err != nil {
		return err
	}
	req, err := ff.request(cfg)
	if err != nil {
		return err
	}
	if ff.checkConfig {
		return printConfig(io.Stdout, cfg, path)
	}
	log, err := lf.logger(io)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	defer onSecondSignal(ctx, io, log)()
	return injectOne(ctx, io, cfg, path, log, req, ff.workload, ff.preflight)
}

func bindFaultFlags(fs *flag.FlagSet, io IO) *faultFlags {
	ff := &faultFlags{}
	fs.StringVar(&ff.fault, "fault", "", "KIND, KIND-owner or KIND-random (required)")
	fs.StringVar(&ff.pod, "pod", "", "hurt this pod, service or container (with --fault=KIND)")
	fs.StringVar(&ff.duration, "duration", "", "pause, partition: how long to hold the fault (default faults.kinds.<kind>.duration)")
	fs.StringVar(&ff.downFor, "down-for", "", "kill: how long the pod stays down, or never (default faults.kinds.kill.down_for)")
	fs.StringVar(&ff.peers, "peers", "", "partition: cut off only from these peer groups, comma-separated (pods, nats, postgres, mockai, ... from faults.peers); all = everything")
	fs.StringVar(&ff.grace, "grace", "", "stop, rollout: how long a pod sent SIGTERM has to exit before it is SIGKILLed (default its container's stop timeout, else 10s)")
	fs.StringVar(&ff.signal, "signal", "", "rollout: how each pod is stopped: TERM (SIGTERM, SIGKILL past its grace; the default) or KILL")
	fs.BoolVar(&ff.dryRun, "dry-run", false, "say what would be done; touch nothing")
	fs.BoolVar(&ff.checkConfig, "check-config", false, "print the resolved configuration and exit")
	fs.BoolVar(&ff.preflight, "preflight", envOr(io, "CHAOSD_PREFLIGHT", "true") != "false",
		"check the target profile against the live cluster before any fault (chaosd doctor); false: skip it (env CHAOSD_PREFLIGHT)")
	fs.BoolVar(&ff.workload, "workload", envOr(io, "CHAOSD_WORKLOAD", "true") != "false",
		"drive runs through the cluster during the fault and judge every invariant; false: the bare fault (env CHAOSD_WORKLOAD)")
	return ff
}

// request turns the flags into a fault request, with the config's defaults.
func (ff *faultFlags) request(cfg config.Config) (faults.Request, error) {
	if ff.fault == "" {
		return faults.Request{}, errors.New("--fault: required, e.g. --fault=kill-owner (see --help)")
	}
	kind, mode := ff.fault, faults.PickNamed
	for _, m := range []string{faults.PickOwner, faults.PickRandom} {
		if k, ok := strings.CutSuffix(ff.fault, "-"+m); ok {
			kind, mode = k, m
		}
	}
	info, err := faults.LookupKind(kind)
	if err != nil {
		return faults.Request{}, fmt.Errorf("--fault: %w", err)
	}
	if rt := cfg.RuntimeName(); !info.OfferedBy(rt) {
		return faults.Request{}, fmt.Errorf("--fault: %s: the %s runtime does not offer it (it offers %s)", kind, rt, strings.Join(faults.KindNamesFor(rt), ", "))
	}
	ts, err := ff.targetSpec(info, mode, cfg)
	if err != nil {
		return faults.Request{}, err
	}
	spec, err := ff.spec(info, cfg)
	if err != nil {
		return faults.Request{}, err
	}
	return faults.Request{Kind: kind, Target: ts, Spec: spec, DryRun: ff.dryRun}, nil
}

func (ff *faultFlags) targetSpec(info faults.KindInfo, mode string, cfg config.Config) (faults.TargetSpec, error) {
	switch {
	case info.AllPods && mode != faults.PickNamed:
		return faults.TargetSpec{}, fmt.Errorf("--fault=%s: %s restarts every pod in turn: use --fault=%[2]s, without -%s", ff.fault, info.Name, mode)
	case info.AllPods && ff.pod != "":
		return faults.TargetSpec{}, fmt.Errorf("--pod: %s restarts every pod in turn; it takes no --pod", info.Name)
	case info.AllPods:
		return faults.TargetSpec{Mode: faults.PickAll}, nil
	case mode == faults.PickNamed && ff.pod == "":
		return faults.TargetSpec{}, fmt.Errorf("--fault=%s: say which pod: --fault=%[1]s-owner, --fault=%[1]s-random or --pod=NAME", ff.fault)
	case mode != faults.PickNamed && ff.pod != "":
		return faults.TargetSpec{}, fmt.Errorf("--pod: cannot be combined with --fault=%s (the pod is chosen by %s)", ff.fault, mode)
	}
	return faults.TargetSpec{Mode: mode, Name: ff.pod, OwnerWait: cfg.Owner.Wait.Std()}, nil
}

func (ff *faultFlags) spec(info faults.KindInfo, cfg config.Config) (faults.Spec, error) {
	hold := cfg.Hold(info.Name)
	given, flagName := ff.duration, "--duration"
	other, otherName := ff.downFor, "--down-for"
	if info.Hold == "down_for" {
		given, flagName, other, otherName = ff.downFor, "--down-for", ff.duration, "--duration"
	}
	if other != "" {
		return faults.Spec{}, fmt.Errorf("%s: %s does not take it (use %s)", otherName, info.Name, flagName)
	}
	if given != "" {
		h, err := config.ParseHold(given)
		switch {
		case err != nil:
			return faults.Spec{}, fmt.Errorf("%s: %w", flagName, err)
		case h.Never && !info.CanLeave:
			return faults.Spec{}, fmt.Errorf("%s: %s cannot be held forever", flagName, info.Name)
		case h.D < 0 || h.D == 0 && !h.Never && !info.AllPods: // a rollout may go without a pause
			return faults.Spec{}, fmt.Errorf("%s: %s must be positive", flagName, given)
		}
		hold = h
	}
	s := kindSpec(info, cfg, hold)
	var err error
	if s.Peers, err = ff.peerGroups(info, cfg); err != nil {
		return faults.Spec{}, err
	}
	if s.Grace, err = ff.graceFlag(info); err != nil {
		return faults.Spec{}, err
	}
	if ff.signal != "" {
		if !info.Signal {
			return faults.Spec{}, fmt.Errorf("--signal: %s takes no signal (kinds that do: %s)", info.Name, kindsThat(func(k faults.KindInfo) bool { return k.Signal }))
		}
		if s.Signal, err = faults.ParseSignal(ff.signal); err != nil {
			return faults.Spec{}, fmt.Errorf("--signal: %w", err)
		}
	}
	if s.Signal == faults.SignalKill && s.Grace > 0 {
		return faults.Spec{}, fmt.Errorf("--grace: %s with --signal=%s SIGKILLs each pod at once: it has no grace", info.Name, faults.SignalKill)
	}
	return s, nil
}

// kindSpec is what a fault of kind is asked to do by the configuration alone: its
// hold (auto resolved for the target's timings; a rollout's pause is
// faults.DefaultRolloutPause), its peers, and for a rollout the signal (TERM) and how
// long each pod may take to be ready again: pod-recovers' deadline, at least
// faults.DefaultReadyWithin.
func kindSpec(info faults.KindInfo, cfg config.Config, hold config.Hold) faults.Spec {
	if hold.Auto {
		hold = config.Hold{D: autoHold(cfg)}
		if info.AllPods {
			hold.D = faults.DefaultRolloutPause
		}
	}
	s := faults.Spec{Hold: hold.D, Never: hold.Never, Peers: cfg.Peers(info.Name)}
	if info.Signal {
		s.Signal = faults.SignalTerm
	}
	if info.AllPods {
		s.ReadyWithin = max(faults.DefaultReadyWithin, recoverWait(paramsOf(cfg)))
	}
	return s
}

// graceFlag is --grace: 0 when not given (the container's own stop timeout).
func (ff *faultFlags) graceFlag(info faults.KindInfo) (time.Duration, error) {
	if ff.grace == "" {
		return 0, nil
	}
	if !info.Grace {
		return 0, fmt.Errorf("--grace: %s takes no grace (kinds that do: %s)", info.Name, kindsThat(func(k faults.KindInfo) bool { return k.Grace }))
	}
	d, err := time.ParseDuration(ff.grace)
	switch {
	case err != nil:
		return 0, fmt.Errorf("--grace: %q is not a duration (e.g. 10s, 1m)", ff.grace)
	case d <= 0:
		return 0, fmt.Errorf("--grace: %s must be positive", ff.grace)
	}
	return d, nil
}

// kindsThat names the kinds that have a property, e.g. "stop, rollout".
func kindsThat(has func(faults.KindInfo) bool) string {
	var names []string
	for _, k := range faults.Kinds() {
		if has(k) {
			names = append(names, k.Name)
		}
	}
	return strings.Join(names, ", ")
}

func (ff *faultFlags) peerGroups(info faults.KindInfo, cfg config.Config) ([]string, error) {
	if ff.peers == "" {
		return cfg.Peers(info.Name), nil
	}
	if !info.Peers {
		return nil, fmt.Errorf("--peers: %s takes no peers", info.Name)
	}
	if ff.peers == "all" {
		return nil, nil
	}
	known := faults.PeerGroupNames(cfg.Faults.Peers)
	var out []string
	for _, p := range strings.Split(ff.peers, ",") {
		if p = strings.TrimSpace(p); !slices.Contains(known, p) {
			return nil, fmt.Errorf("--peers: unknown peer group %q (known: %s, or all)", p, strings.Join(known, ", "))
		}
		out = append(out, p)
	}
	return out, nil
}

// injectOne recovers what a crashed chaosd left, then runs the fault and reports it.
func injectOne(ctx context.Context, io IO, cfg config.Config, path string, log *zap.Logger, req faults.Request, withWorkload, preflightOn bool) error {
	if !req.DryRun {
		lock, err := lockInstance(ctx, io, cfg)
		if err != nil {
			return err
		}
		defer lock.Close()
	}
	env, err := openFaultEnv(ctx, cfg, path, log, req.DryRun, false)
	if err != nil {
		return err
	}
	defer env.close()
	if err := startupRecovery(ctx, io, env, req.DryRun); err != nil {
		return err
	}
	if withWorkload && !req.DryRun {
		v, err := preflightGate(ctx, io, env, preflightOn, preflight.Options{Run: true, Cadence: true})
		if err != nil {
			return err
		}
		defer v.close()
		env.cfg = v.cfg
		return faultWithVerdict(ctx, io, env, log, req)
	}
	var events *faults.Events
	if !req.DryRun {
		events = env.watchEvents(ctx)
	}
	in, err := env.injector(events, req.DryRun)
	if err != nil {
		return err
	}
	rep, runErr := in.Run(ctx, req)
	evs, evErr := events.Stop(200 * time.Millisecond)
	printReport(io.Stdout, rep, cfg.Ledger.Path, evs, evErr, runErr)
	return faultExit(rep, runErr)
}

func startupRecovery(ctx context.Context, io IO, env *faultEnv, dryRun bool) error {
	if !dryRun {
		return env.recoverAtStart(ctx, io)
	}
	st, err := faults.ReadLedger(env.cfg.Ledger.Path)
	if err != nil {
		return err
	}
	for _, r := range faults.RecoverState(ctx, st, nil, faults.RecoverOptions{DryRun: true, Scope: env.cfg.StateKey(), Ledger: env.cfg.Ledger.Path}) {
		printRecovery(io.Stdout, r, true)
	}
	return nil
}

func faultExit(rep *faults.Report, err error) error {
	switch {
	case err != nil:
		return &ExitCodeError{Code: ExitError, Err: err}
	case rep.Interrupted:
		return &ExitCodeError{Code: ExitError, Err: errors.New("interrupted by a signal: the fault was healed early")}
	}
	return nil
}

// exitNow ends the process; tests replace it.
var exitNow = os.Exit

// onSecondSignal exits at once on a second SIGINT/SIGTERM. The first one cancels ctx
// (cmd/chaosd) and starts the heal; a second means "now": the ledger keeps the fault
// open for the watchdog and chaosd recover.
func onSecondSignal(ctx context.Context, io IO, log *zap.Logger) (stop func()) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	var once sync.Once
	go func() {
		seen := 0
		if ctx.Err() != nil {
			seen = 1 // the first signal came before we listened
		}
		for {
			select {
			case <-ch:
				if seen++; seen >= 2 {
					fmt.Fprintln(io.Stderr, "chaosd: second signal: exiting now; the ledger keeps the open fault for the watchdog and chaosd recover")
					_ = log.Sync()
					exitNow(130)
				}
			case <-done:
				return
			}
		}
	}()
	return func() { once.Do(func() { signal.Stop(ch); close(done) }) }
}

func printConfig(w io.Writer, cfg config.Config, path string) error {
	b, err := cfg.YAML()
	if err != nil {
		return err
	}
	p, _ := config.LookupProfile(cfg.Target)
	fmt.Fprintf(w, "# chaosd configuration: target %s (%s: %s), then file %s, then CHAOSD_* variables and flags: valid\n%s",
		cfg.Target, p.File, p.About, orDash(path), b)
	return nil
}
