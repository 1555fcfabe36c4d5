//go:build integration

package soak

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/internal/testcluster"
	"github.com/chaosd/chaosd/invariants"
	"github.com/chaosd/chaosd/probes"
	"github.com/chaosd/chaosd/scenario"
	"github.com/chaosd/chaosd/testbed"
	"github.com/chaosd/chaosd/workload"
)

// killFaulter kills a pod in-process (as SIGKILL would) and starts it again after
// downFor, recording each step as the ledger does, with a fresh id per fault.
type killFaulter struct {
	c       *testcluster.Cluster
	downFor time.Duration
	n       atomic.Int64
}

func (k *killFaulter) Fault(ctx context.Context, pod, run string, rec workload.Recorder, onInjected func(string)) error {
	if pod == "" {
		return errors.New("killFaulter: owner faults only")
	}
	f := history.Fault{ID: fmt.Sprintf("f%d", k.n.Add(1)), Kind: history.KindKill, Pod: pod, Target: "owner", Run: run, DownFor: history.Duration(k.downFor)}
	f.Phase, f.At = history.FaultIntent, time.Now()
	rec.Append(history.FaultEvent(f))
	k.c.Kill(pod)
	f.Phase, f.At = history.FaultInjected, time.Now()
	rec.Append(history.FaultEvent(f))
	onInjected(pod)
	select {
	case <-ctx.Done():
	case <-time.After(k.downFor):
	}
	k.c.Restart(pod)
	f.Phase, f.At = history.FaultHealed, time.Now()
	rec.Append(history.FaultEvent(f))
	return nil
}

// finding is one OnFinding call.
type finding struct {
	invariant string
	status    invariants.Status
	f         invariants.Finding
}

type rig struct {
	res      *Result
	findings []finding
	hpath    string
}

// play runs a soak against an in-process cluster with bugs switched on; down, when
// not nil, is the fake "docker" dependency's reach (true: away).
func play(t *testing.T, bugs string, cfg Config, down *atomic.Bool) *rig {
	t.Helper()
	c := testcluster.Start(t, 3, func(tc *testbed.Config) {
		b, err := testbed.ParseBugs(bugs)
		if err != nil {
			t.Fatal(err)
		}
		tc.Bugs = b
	})
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	d, err := probes.NewDriver(probes.DriverConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pg, err := probes.NewPostgres(ctx, probes.PostgresConfig{DSN: c.DSN})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Close)
	nc, err := probes.NewNATS(probes.NATSConfig{URL: c.NATSURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	r := &rig{hpath: filepath.Join(t.TempDir(), "history.jsonl")}
	hw, err := history.Create(r.hpath, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hw.Close() })
	var pods []workload.Pod
	for _, n := range c.Names() {
		pods = append(pods, workload.Pod{Name: n, URL: c.URL(n)})
	}
	wcfg := workload.DefaultConfig()
	wcfg.Pods, wcfg.ProviderURL, wcfg.Hint, wcfg.LateAfter = pods, c.Provider, "slow:16x150", 3
	wcfg.ProbeEvery, wcfg.Grace, wcfg.Rate, wcfg.MaxInFlight = 100*time.Millisecond, 40*time.Second, 2, 6
	params := invariants.Params{HeartbeatTTL: 2 * time.Second, HeartbeatInterval: 250 * time.Millisecond,
		DetectInterval: 250 * time.Millisecond, Slack: 3 * time.Second}
	var mu sync.Mutex
	live := invariants.NewLiveWith(hw, params, invariants.LiveOptions{OnFinding: func(name string, st invariants.Status, f invariants.Finding) {
		mu.Lock()
		r.findings = append(r.findings, finding{name, st, f})
		mu.Unlock()
	}})
	if err := scenario.Begin(live, history.Meta{Pods: c.Names(), HeartbeatTTL: history.Duration(params.HeartbeatTTL),
		HeartbeatInterval: history.Duration(params.HeartbeatInterval), DetectInterval: history.Duration(params.DetectInterval)}); err != nil {
		t.Fatal(err)
	}
	wl, err := workload.New(wcfg, workload.Deps{Driver: d, Postgres: pg, NATS: nc, Recorder: live, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	deps := []Dependency{{Name: history.DepPostgres, Ping: pg.Ping}, {Name: history.DepNATS, Ping: nc.Ping}}
	if down != nil {
		deps = append(deps, Dependency{Name: history.DepDocker, Ping: func(context.Context) error {
			if down.Load() {
				return errors.New("Cannot connect to the Docker daemon")
			}
			return nil
		}})
	}
	cfg.OwnerWait, cfg.RecoverWait, cfg.MonitorTick, cfg.DependencyTick, cfg.Heartbeats = 10*time.Second, 15*time.Second, 250*time.Millisecond, 200*time.Millisecond, true
	var progress []Progress
	res, err := Run(ctx, cfg, Deps{Workload: wl, Live: live, Faulters: map[string]scenario.Faulter{"kill": &killFaulter{c: c, downFor: 2 * time.Second}},
		Dependencies: deps, Log: log, Progress: func(p Progress) { progress = append(progress, p) }})
	if err != nil {
		t.Fatalf("soak: %v", err)
	}
	if len(progress) == 0 || progress[len(progress)-1].Phase != PhaseDone {
		t.Errorf("progress: %d snapshots, last %+v", len(progress), progress)
	}
	r.res = res
	var b strings.Builder
	invariants.WriteTable(&b, res.Report)
	t.Logf("bugs %q: runs %+v, faults %+v, schedule %+v, final %+v\n%s", bugs, res.Runs, res.Faults, res.Schedule, res.FinalCheck, b.String())
	return r
}

func verdicts(r invariants.Report) map[string]invariants.Verdict {
	out := map[string]invariants.Verdict{}
	for _, v := range r.Verdicts {
		out[v.Name] = v
	}
	return out
}

func TestIntegrationSoakCleanPasses(t *testing.T) {
	t.Parallel()
	r := play(t, "", Config{Duration: 40 * time.Second, Warmup: 4 * time.Second, Cooldown: 10 * time.Second, ProgressEvery: time.Second,
		Faults: []Fault{{Kind: "kill", Spec: "@every 5s", Jitter: time.Second, Target: TargetOwner}}}, nil)
	res := r.res
	vs := verdicts(res.Report)
	for _, name := range []string{"run-completes", "prefix-replay", "stream-integrity", "heartbeat-bucket", "owner-alive", "pod-recovers"} {
		v := vs[name]
		if v.Status != invariants.Pass || v.Exercised == 0 {
			t.Errorf("%s: %s, exercised %d, first finding: %s", name, v.Status, v.Exercised, v.Message())
		}
	}
	if v := vs["prefix-replay"]; v.UnderFault == 0 {
		t.Errorf("prefix-replay never exercised under a fault: %+v", v)
	}
	if res.Faults.Healed < 2 || res.Faults.Failed != 0 {
		t.Errorf("faults: %+v, want at least 2 healed and none failed", res.Faults)
	}
	k := res.Schedule["kill"]
	if k.Fired != res.Faults.Fired+res.Faults.NoVictim+res.Faults.Outage {
		t.Errorf("schedule fired %d, soak counted %+v", k.Fired, res.Faults)
	}
	if k.Skipped.Cooldown == 0 {
		t.Errorf("no firing was skipped in the cooldown: %+v", k)
	}
	if !res.FinalCheck.AllReady || res.FinalCheck.Violations != 0 || res.FinalCheck.OpenFaults != "" {
		t.Errorf("final check: %+v", res.FinalCheck)
	}
	if res.Runs.Completed < 20 {
		t.Errorf("runs: %+v, want a steady flow (2/s for 40 s)", res.Runs)
	}
	for _, f := range r.findings {
		if f.status == invariants.Fail {
			t.Errorf("violation on the clean testbed: %s: %s", f.invariant, f.f.Message)
		}
	}
	// The stored history says the same as the live checkers.
	rd, closer, err := history.Open(r.hpath)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	off, err := invariants.Analyze(rd, invariants.Params{Slack: 3 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if off.Status != res.Report.Status || !off.Ended {
		t.Errorf("offline %s (ended %v), live %s", off.Status, off.Ended, res.Report.Status)
	}
}

func TestIntegrationSoakDefectAndOutage(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	go func() {
		time.Sleep(19 * time.Second)
		down.Store(true)
		time.Sleep(5 * time.Second)
		down.Store(false)
	}()
	r := play(t, "deliver-new", Config{Duration: 36 * time.Second, Warmup: 3 * time.Second, Cooldown: 6 * time.Second,
		Faults: []Fault{{Kind: "kill", Spec: "@every 4s", Target: TargetOwner}}}, &down)
	res := r.res
	v := verdicts(res.Report)["prefix-replay"]
	if v.Status != invariants.Fail || v.Violations == 0 {
		t.Fatalf("deliver-new: prefix-replay %s with %d violations, want fail", v.Status, v.Violations)
	}
	if v.Unknowns == 0 {
		t.Errorf("prefix-replay: no finding was excused by the Docker outage: %+v", v)
	}
	excused := false
	for _, f := range v.Unobserved {
		excused = excused || strings.Contains(f.Message, "not judged: docker")
	}
	if !excused {
		t.Errorf("no unknown window names the outage: %+v", v.Unobserved)
	}
	if res.Faults.Outage == 0 {
		t.Errorf("no fault was skipped while the dependency was away: %+v", res.Faults)
	}
	fails := 0
	for _, f := range r.findings {
		if f.status == invariants.Fail && f.invariant == "prefix-replay" {
			fails++
			if f.f.Cause == "" {
				t.Errorf("finding without a cause: %+v", f.f)
			}
		}
	}
	if fails != v.Violations {
		t.Errorf("OnFinding saw %d prefix-replay violations, the report %d", fails, v.Violations)
	}
}
