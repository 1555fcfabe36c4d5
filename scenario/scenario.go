// Package scenario is "one fault, one verdict": it starts a few runs through the
// cluster, waits until a run's owner is known and k chunks are confirmed in its
// buffer (the late attaches open then), injects a fault on that owner, opens more
// late attaches on the survivors while the fault is in effect, heals, lets every run
// be decided and every pod come back, waits for the runs' settle windows (their
// buffers read for writes after the end), and returns the invariants' report.
package scenario

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/invariants"
	"github.com/chaosd/chaosd/workload"
)

// Faulter injects one fault, holds it and heals it, recording each step (intent,
// injected, healed) to rec as history fault events. owner is the victim run's owner:
// the target of an owner fault (a faulter with a random or named target may hit
// another pod). onInjected is called with the pod hit once the fault is confirmed in
// effect. Fault returns after the heal.
type Faulter interface {
	Fault(ctx context.Context, owner, run string, rec workload.Recorder, onInjected func(pod string)) error
}

// Config shapes the scenario.
type Config struct {
	Runs        int           // runs started before the fault (one per pod by default)
	OwnerWait   time.Duration // for the victim run's owner and its k chunks
	RecoverWait time.Duration // after the heal, for every pod to be ready again
	MonitorTick time.Duration // readiness and heartbeat sampling
	Heartbeats  bool          // sample the heartbeat bucket (mesh with the bucket)
	// ServeAfter > 0: once every pod is ready again, and at least this long after the
	// heal, one run is started on the pod the fault hit and watched from it (it must
	// serve again, not only say ready: requests-answered judges its answers). The
	// checkers' request grace (invariants.Params.RequestGrace); 0: no such run.
	ServeAfter time.Duration
}

// Deps are the parts the scenario uses. Live must also be the workload's Recorder,
// so that every event reaches the history and the checkers, and must have been
// begun (Begin) before anything else was written to it.
type Deps struct {
	Workload *workload.Workload
	Live     *invariants.Live
	Faulter  Faulter
	Log      *zap.Logger
	// Discover, when set, lists the pods under test as they are now (Kubernetes: the
	// ready pods the selector matches). It is asked every MonitorTick and once right
	// after the heal, and the workload follows it (workload.Workload.SetPods): a pod
	// removed for good leaves the rotation, its replacement joins it. Nil: the pods
	// are the workload's, by name, throughout (Docker).
	Discover func(ctx context.Context) ([]workload.Pod, error)
}

// Begin writes the history's begin line (pods, heartbeat settings, user checks):
// the first line, from which an offline re-check derives its graces.
func Begin(live *invariants.Live, meta history.Meta) error {
	meta.Phase = history.MetaBegin
	if _, err := live.Append(history.MetaEvent(meta)); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	return nil
}

// Result is what happened.
type Result struct {
	Victim     string // the run whose owner was hit
	Owner      string // its owner when the fault was injected
	Hit        string // the pod the fault hit
	InjectedAt time.Time
	FaultErr   error
	Report     invariants.Report
	Stats      workload.Stats
}

// Run plays the scenario. The report is returned even when the fault could not be
// injected: runs that happened are still judged.
func Run(ctx context.Context, cfg Config, d Deps) (*Result, error) {
	if d.Log == nil {
		d.Log = zap.NewNop()
	}
	live := d.Live
	res := &Result{}
	err := play(ctx, cfg, d, live, res)
	if _, herr := live.Append(history.MetaEvent(history.Meta{Phase: history.MetaEnd})); herr != nil {
		err = errors.Join(err, fmt.Errorf("history: %w", herr))
	}
	res.Report = live.Finish()
	res.Stats = d.Workload.Stats()
	return res, err
}

func play(ctx context.Context, cfg Config, d Deps, rec workload.Recorder, res *Result) error {
	wl := d.Workload
	monCtx, stopMonitor := context.WithCancel(ctx)
	defer stopMonitor()
	go wl.Monitor(monCtx, cfg.MonitorTick, cfg.Heartbeats)
	follow := FollowPods(monCtx, d.Discover, wl, cfg.MonitorTick, d.Log)
	if err := wl.Bootstrap(ctx); err != nil {
		return err
	}
	runs := make([]*workload.Run, 0, cfg.Runs)
	for range max(cfg.Runs, 1) {
		runs = append(runs, wl.Start(ctx))
	}
	victim := runs[0]
	res.Victim = victim.ID
	owner, err := waitOwner(ctx, victim, cfg.OwnerWait)
	if err != nil {
		wl.Wait()
		return err
	}
	res.Owner = owner
	d.Log.Info("injecting", zap.String("run", victim.ID), zap.String("owner", owner))
	healed := wl.Fault() // the runs' settle windows start no earlier than the heal
	res.FaultErr = d.Faulter.Fault(ctx, owner, victim.ID, rec, func(pod string) {
		res.InjectedAt, res.Hit = time.Now(), pod
		AttachSurvivors(ctx, wl, pod, d.Log)
	})
	healed()
	healedAt := time.Now()
	follow.Once(ctx) // a pod the fault removed for good leaves now, its replacement joins
	wl.WaitDecided()
	WaitAllReady(ctx, wl, cfg.RecoverWait)
	serveAgain(ctx, cfg, wl, follow.ReplacementOf(res.Hit), healedAt, d.Log)
	// The settle windows of the runs decided above went on meanwhile; they end before
	// the verdict, so that a frozen or cut-off owner that woke after a survivor
	// finished its run, and wrote on, is seen.
	wl.Wait()
	stopMonitor()
	return nil
}

// serveAgain starts one run on the pod the fault hit, posted to it and watched from
// it, once the request grace after the heal has passed, and waits until it is
// decided. It has no settle window of its own: it starts after the heal, and a pod
// that wakes writes into the runs the fault froze, which have theirs.
func serveAgain(ctx context.Context, cfg Config, wl *workload.Workload, hit string, healedAt time.Time, log *zap.Logger) {
	if cfg.ServeAfter <= 0 || hit == "" {
		return
	}
	var pod workload.Pod
	for _, p := range wl.Pods() {
		if p.Name == hit {
			pod = p
		}
	}
	if pod.Name == "" {
		return
	}
	if wait := time.Until(healedAt.Add(cfg.ServeAfter + time.Second)); wait > 0 {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
	}
	log.Info("a run on the healed pod", zap.String("pod", hit))
	wl.StartOn(ctx, pod, pod, 0)
	wl.WaitDecided()
}

// waitOwner waits until run has k chunks in its buffer and Postgres names its owner.
func waitOwner(ctx context.Context, r *workload.Run, wait time.Duration) (string, error) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-r.Buffered():
	case <-r.Done():
		return "", fmt.Errorf("run %s ended (%s) before %s", r.ID, r.Outcome(), "its chunks were buffered")
	case <-t.C:
		return "", fmt.Errorf("run %s: no chunks buffered after %s", r.ID, wait)
	case <-ctx.Done():
		return "", ctx.Err()
	}
	for {
		if o := r.Owner(); o != "" {
			return o, nil
		}
		select {
		case <-r.Done():
			return "", fmt.Errorf("run %s ended (%s) before its owner was known", r.ID, r.Outcome())
		case <-t.C:
			return "", fmt.Errorf("run %s: Postgres named no owner within %s", r.ID, wait)
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// AttachSurvivors opens a late attach on one survivor for every run in flight, while
// the fault is in effect: those must replay the prefix from a pod that is not the
// owner.
func AttachSurvivors(ctx context.Context, wl *workload.Workload, owner string, log *zap.Logger) {
	for _, r := range wl.Live() {
		for _, p := range wl.Entries() {
			if p.Name == owner {
				continue
			}
			if err := r.AttachLate(ctx, p); err != nil {
				log.Debug("attach during the fault failed", zap.String("run", r.ID), zap.String("pod", p.Name), zap.Error(err))
				continue
			}
			break
		}
	}
}

// WaitAllReady lets the monitor see every pod ready again (pod-recovers), within wait,
// and reports whether they all were.
func WaitAllReady(ctx context.Context, wl *workload.Workload, wait time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		all := true
		for _, p := range wl.Pods() {
			if !wl.Ready(ctx, p) {
				all = false
			}
		}
		if all {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Follower keeps a workload's pods as a Discover function lists them (Kubernetes,
// where pods are replaced under new names).
type Follower struct {
	discover func(ctx context.Context) ([]workload.Pod, error)
	wl       *workload.Workload
	log      *zap.Logger

	mu     sync.Mutex
	joined []string // pods that joined, oldest first
}

// FollowPods asks discover every tick until ctx ends, and makes what it lists the
// workload's pods (workload.Workload.SetPods). A nil discover follows nothing: the
// pods stay the workload's, by name (Docker).
func FollowPods(ctx context.Context, discover func(ctx context.Context) ([]workload.Pod, error), wl *workload.Workload, every time.Duration, log *zap.Logger) *Follower {
	f := &Follower{discover: discover, wl: wl, log: log}
	if discover != nil && every > 0 {
		go f.loop(ctx, every)
	}
	return f
}

func (f *Follower) loop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f.Once(ctx)
		}
	}
}

// Once lists the pods now and makes them the workload's; a listing that fails
// changes nothing (logged).
func (f *Follower) Once(ctx context.Context) {
	if f == nil || f.discover == nil {
		return
	}
	pods, err := f.discover(ctx)
	if err != nil {
		if ctx.Err() == nil {
			f.log.Warn("list the pods under test: the workload keeps the pods it has", zap.Error(err))
		}
		return
	}
	_, joined := f.wl.SetPods(pods)
	f.mu.Lock()
	f.joined = append(f.joined, joined...)
	f.mu.Unlock()
}

// ReplacementOf is the pod to serve a run on again after a fault that hit pod: pod
// itself, or when it left the rotation (removed for good), the pod that joined last.
func (f *Follower) ReplacementOf(pod string) string {
	if pod == "" || slices.ContainsFunc(f.wl.Pods(), func(p workload.Pod) bool { return p.Name == pod }) {
		return pod
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.joined) == 0 {
		return pod
	}
	return f.joined[len(f.joined)-1]
}
