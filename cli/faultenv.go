package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/client"
	"go.uber.org/zap"

	"github.com/chaosd/chaosd/config"
	"github.com/chaosd/chaosd/faults"
	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/kube"
	"github.com/chaosd/chaosd/probes"
	"github.com/chaosd/chaosd/soak"
	"github.com/chaosd/chaosd/workload"
)

// faultEnv is what the fault commands (--fault, recover, the watchdog) act through,
// built from the configuration.
type faultEnv struct {
	cfg    config.Config
	path   string // the config file, "" for none
	log    *zap.Logger
	docker *client.Client // nil on Kubernetes
	kube   *kube.Runtime  // the Kubernetes runtime, nil on Docker
	// fwd holds the port-forwards when viewKube decided to reach the pods through
	// them (kubernetes.reach); nil: directly.
	fwd    *kube.Forwarder
	deps   faults.Deps
	ledger *faults.Ledger // nil in a dry run
	healer *faults.Healer
}

// openFaultEnv connects to Docker (pinging it unless lazy) and opens the ledger
// (unless dryRun: then nothing is written, not even a new ledger file).
func openFaultEnv(ctx context.Context, cfg config.Config, path string, log *zap.Logger, dryRun, lazy bool) (*faultEnv, error) {
	e := &faultEnv{cfg: cfg, path: path, log: log}
	var err error
	if cfg.RuntimeName() == config.RuntimeKubernetes {
		return e.openKube(ctx, dryRun)
	}
	if lazy {
		e.docker, err = faults.DockerClient(cfg.Docker.Host)
	} else {
		e.docker, err = faults.NewDocker(ctx, cfg.Docker.Host, cfg.Docker.Timeout.Std())
	}
	if err != nil {
		return nil, err
	}
	e.deps, err = deps(cfg, e.docker, log)
	if err != nil {
		e.close()
		return nil, err
	}
	if !dryRun {
		if e.ledger, err = faults.OpenLedger(cfg.Ledger.Path); err != nil {
			e.close()
			return nil, err
		}
	}
	e.healer = faults.NewHealer(e.ledger, e.deps, cfg.Faults.HealTimeout.Std())
	return e, nil
}

// openKube is openFaultEnv on Kubernetes: the API server instead of Docker.
func (e *faultEnv) openKube(ctx context.Context, dryRun bool) (*faultEnv, error) {
	k := e.cfg.Kubernetes
	rt, err := kube.Connect(ctx, kube.Config{Kubeconfig: k.Kubeconfig, Context: k.Context, Namespace: k.Namespace, Selector: k.Selector, APISelector: k.APISelector,
		Port: e.cfg.Pods.Port, ProbeImage: k.ProbeImage, Timeout: k.Timeout.Std()}, e.log)
	if err != nil {
		return nil, err
	}
	e.kube = rt
	e.deps = faults.Deps{Runtime: rt, Timing: faults.Timing{Confirm: e.cfg.Faults.ConfirmTimeout.Std(), Probe: e.cfg.Faults.ProbeTimeout.Std(), Settle: e.cfg.Faults.Settle.Std()}, PeerGroups: e.cfg.Faults.Peers, Log: e.log}
	if !dryRun {
		if e.ledger, err = faults.OpenLedger(e.cfg.Ledger.Path); err != nil {
			return nil, err
		}
	}
	e.healer = faults.NewHealer(e.ledger, e.deps, e.cfg.Faults.HealTimeout.Std())
	return e, nil
}

// dockerOnly refuses, with nothing done, what is not built for Kubernetes yet.
func (e *faultEnv) dockerOnly(what string) error {
	if e.kube == nil {
		return nil
	}
	return &ExitCodeError{Code: ExitError, Err: fmt.Errorf("%s: runtime kubernetes is not supported yet (chaosd --fault=KIND, chaosd doctor and chaosd recover are); nothing was done", what)}
}

// watchEvents watches the runtime's container events: Docker's, or the pods' deaths
// on Kubernetes (kube.Runtime.Events).
func (e *faultEnv) watchEvents(ctx context.Context) *faults.Events {
	return faults.WatchEvents(ctx, e.eventer(), e.deps.Selector, e.log)
}

// eventer is the runtime's source of container events.
func (e *faultEnv) eventer() interface {
	Events(context.Context, events.ListOptions) (<-chan events.Message, <-chan error)
} {
	if e.kube != nil {
		return e.kube
	}
	return e.docker
}

// members lists the pods under test (and on Docker the infrastructure containers).
func (e *faultEnv) members(ctx context.Context) ([]faults.Member, error) {
	if e.kube != nil {
		return e.kube.List(ctx)
	}
	return e.deps.Selector.List(ctx, e.docker)
}

// runtimeDependency is the soak's ping of the runtime: the Docker daemon, or the API
// server on Kubernetes.
func (e *faultEnv) runtimeDependency() soak.Dependency {
	if e.kube != nil {
		return soak.Dependency{Name: history.DepKubernetes, Ping: e.kube.Ping}
	}
	return soak.Dependency{Name: history.DepDocker, Ping: func(ctx context.Context) error {
		_, err := e.docker.Ping(ctx)
		return err
	}}
}

// discover is the scenario's Discover on Kubernetes, where a delete, a stop or a
// rollout replaces pods under new names: the ready pods at their pod IPs. Nil on
// Docker, where pods come back by name.
func (e *faultEnv) discover() func(context.Context) ([]workload.Pod, error) {
	if e.kube == nil {
		return nil
	}
	return func(ctx context.Context) ([]workload.Pod, error) {
		ps, err := kubePods(ctx, e, nil)
		if err != nil {
			return nil, err
		}
		out := make([]workload.Pod, 0, len(ps))
		for _, p := range ps {
			out = append(out, workload.Pod{Name: p.Name, URL: p.URL})
		}
		return out, nil
	}
}

func deps(cfg config.Config, d faults.Docker, log *zap.Logger) (faults.Deps, error) {
	rule, err := faults.ParsePodNameRule(cfg.Pods.NameFrom)
	if err != nil {
		return faults.Deps{}, err
	}
	return faults.Deps{
		Docker: d,
		Net:    faults.NetNS{},
		Selector: faults.Selector{
			Project: cfg.Selector.Project, Labels: cfg.Selector.Labels, Infra: cfg.Selector.Infra, PodName: rule,
		},
		PeerGroups: cfg.Faults.Peers,
		Timing:     faults.Timing{Confirm: cfg.Faults.ConfirmTimeout.Std(), Probe: cfg.Faults.ProbeTimeout.Std(), Settle: cfg.Faults.Settle.Std()},
		Log:        log,
	}, nil
}

func (e *faultEnv) close() {
	if e.fwd != nil {
		e.fwd.Close()
	}
	if e.ledger != nil {
		_ = e.ledger.Close()
	}
	if e.docker != nil {
		_ = e.docker.Close()
	}
}

// injector wires an Injector for one request.
func (e *faultEnv) injector(events *faults.Events, dryRun bool) (*faults.Injector, error) {
	ready, err := e.readiness()
	if err != nil {
		return nil, err
	}
	in := &faults.Injector{
		Deps: e.deps, Ledger: e.ledger, Path: e.cfg.Ledger.Path, Scope: e.cfg.StateKey(), Healer: e.healer,
		Watchdog: faults.NoWatchdog{}, Readiness: ready, Events: events, Log: e.log,
		Blast: faults.BlastRadius{MaxFaulted: e.cfg.BlastRadius.MaxFaulted, MinReady: e.cfg.BlastRadius.MinReady},
	}
	if q := e.ownerQuery(); q != "" {
		in.Owners = faults.PostgresOwners{DSN: e.cfg.Postgres.DSN, Query: q}
	}
	if e.cfg.Watchdog.Enabled && !dryRun {
		if in.Watchdog, err = e.watchdog(); err != nil {
			return nil, err
		}
	}
	return in, nil
}

func (e *faultEnv) ownerQuery() string {
	if q, ok := faults.OwnerSources[e.cfg.Owner.Source]; ok {
		return q
	}
	return e.cfg.Owner.Query
}

func (e *faultEnv) readiness() (faults.Readiness, error) {
	if e.cfg.Pods.Ready == config.ReadyRunning {
		return faults.RunningReadiness{}, nil
	}
	d, err := probes.NewDriver(probes.DriverConfig{RequestTimeout: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	urls := map[string]string{}
	for _, p := range e.cfg.Workload.Pods {
		if p.Name != "" { // a bare URL not yet named: the pod's published port serves
			urls[p.Name] = p.URL
		}
	}
	return faults.HTTPReadiness{Driver: d, Port: uint16(e.cfg.Pods.Port), URLs: urls}, nil
}

// watchdog runs this chaosd (or watchdog.binary) as the watchdog, with the settings a
// heal needs: the config file, and the flags that may have overridden it.
func (e *faultEnv) watchdog() (faults.Watchdog, error) {
	exe := e.cfg.Watchdog.Binary
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("watchdog: find chaosd's executable: %w (set watchdog.binary)", err)
		}
	}
	ledger, err := filepath.Abs(e.cfg.Ledger.Path)
	if err != nil {
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	args := []string{"--log-format=json", "--log-level=info", "--target=" + e.cfg.Target}
	if e.path != "" {
		abs, err := filepath.Abs(e.path)
		if err != nil {
			return nil, fmt.Errorf("watchdog: %w", err)
		}
		args = append(args, "--config="+abs)
	}
	if e.cfg.Docker.Host != "" {
		args = append(args, "--docker-host="+e.cfg.Docker.Host)
	}
	if e.cfg.RuntimeName() == config.RuntimeKubernetes {
		k := e.cfg.Kubernetes
		args = append(args, "--runtime="+config.RuntimeKubernetes, "--namespace="+k.Namespace)
		if k.Kubeconfig != "" {
			abs, err := filepath.Abs(k.Kubeconfig)
			if err != nil {
				return nil, fmt.Errorf("watchdog: %w", err)
			}
			args = append(args, "--kubeconfig="+abs)
		}
		if k.Context != "" {
			args = append(args, "--kube-context="+k.Context)
		}
	}
	return faults.ProcessWatchdog{Exe: exe, Ledger: ledger, Args: args, LogPath: ledger + ".watchdog.log"}, nil
}

// lockInstance takes the target's instance lock (beside the ledger) for the rest of
// the run: a second chaosd against the same cluster is refused at once, naming the
// pid and command line of the one that holds it, unless ledger.wait_lock
// (--wait-lock, CHAOSD_WAIT_LOCK) says to wait. It is taken before Docker is contacted
// or the ledger opened, so a refused chaosd has touched nothing.
func lockInstance(ctx context.Context, io IO, cfg config.Config) (*faults.InstanceLock, error) {
	wait, forever, err := config.ParseWaitLock(cfg.Ledger.WaitLock)
	if err != nil {
		return nil, fmt.Errorf("ledger.wait_lock: %w", err)
	}
	key := cfg.StateKey()
	path := faults.InstanceLockPath(cfg.Ledger.Path, key)
	l, err := faults.LockInstance(ctx, path, key, faults.LockOptions{Wait: wait, Forever: forever, OnWait: func(h faults.Holder) {
		fmt.Fprintf(io.Stderr, "chaosd: target %s is held by %s; waiting (--wait-lock %s)\n", key, h, orDash(cfg.Ledger.WaitLock))
	}})
	if err != nil {
		return nil, &ExitCodeError{Code: ExitError, Err: fmt.Errorf("%w; nothing was injected", err)}
	}
	return l, nil
}

// recoverAtStart heals what an earlier, crashed chaosd left open on this target; it
// reports what it did on out and fails only when a fault could not be healed.
func (e *faultEnv) recoverAtStart(ctx context.Context, io IO) error {
	recs, err := faults.Recover(ctx, e.healer, faults.RecoverOptions{Scope: e.cfg.StateKey()})
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range recs {
		printRecovery(io.Stdout, r, false)
		errs = append(errs, r.Err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("start-up recovery: %w (chaosd recover retries; nothing new was injected)", err)
	}
	return nil
}
