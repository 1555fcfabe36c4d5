//go:build integration

package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/internal/testrig"
	"github.com/chaosd/chaosd/invariants"
	"github.com/chaosd/chaosd/scenario"
)

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
	rg := testrig.Start(t, bugs)
	r := &rig{hpath: rg.HPath}
	wcfg := rg.WorkloadConfig()
	wcfg.Rate, wcfg.MaxInFlight = 2, 6
	var mu sync.Mutex
	live := invariants.NewLiveWith(rg.History, rg.Params, invariants.LiveOptions{OnFinding: func(name string, st invariants.Status, f invariants.Finding) {
		mu.Lock()
		r.findings = append(r.findings, finding{name, st, f})
		mu.Unlock()
	}})
	if err := scenario.Begin(live, rg.Meta()); err != nil {
		t.Fatal(err)
	}
	wl := rg.Workload(t, wcfg, live)
	pg, nc := rg.Postgres, rg.NATS
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
	res, err := Run(context.Background(), cfg, Deps{Workload: wl, Live: live, Faulters: map[string]scenario.Faulter{"kill": &testrig.KillFaulter{Cluster: rg.Cluster, DownFor: 2 * time.Second}},
		Dependencies: deps, Log: rg.Log, Progress: func(p Progress) { progress = append(progress, p) }})
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

var verdicts = testrig.Verdicts

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

// TestIntegrationSoakCleanPasses: a soak on the correct in-process cluster passes with
// every invariant exercised, counts its skips, and hits each victim run mid-stream.
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
	hit, missed := victimsHitMidRun(t, r.hpath)
	if hit == 0 || len(missed) > 0 {
		t.Errorf("owner faults: %d hit their run mid-stream; missed (the run had ended first): %v", hit, missed)
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

// victimsHitMidRun reads the history for each injected owner fault and its run: the
// first reading of the run's thread taken after the injection must still say
// in_progress, i.e. the fault landed before the run's stream ended.
func victimsHitMidRun(t *testing.T, hpath string) (hit int, missed []string) {
	t.Helper()
	rd, closer, err := history.Open(hpath)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	pending := map[string]string{} // run -> fault id, injected and not yet read after
	for {
		e, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case e.Type == history.TypeFault && e.Fault.Phase == history.FaultInjected && e.Fault.Run != "":
			pending[e.Fault.Run] = e.Fault.ID
		case e.Type == history.TypeProbe && e.Probe.Kind == history.ProbeThread && e.Probe.ThreadState != nil:
			id, ok := pending[e.Probe.Run]
			if !ok {
				continue
			}
			delete(pending, e.Probe.Run)
			if st := e.Probe.ThreadState.Status; st == history.StatusInProgress {
				hit++
			} else {
				missed = append(missed, fmt.Sprintf("%s on %s: %s", id, e.Probe.Run, st))
			}
		}
	}
	return hit, missed
}
