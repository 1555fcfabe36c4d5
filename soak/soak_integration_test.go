//go:build integration

package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
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
	return playWith(t, testrig.Start(t, bugs), bugs, cfg, down, 0, func(rg *testrig.Rig) map[string]scenario.Faulter {
		return map[string]scenario.Faulter{"kill": &testrig.KillFaulter{Cluster: rg.Cluster, DownFor: 2 * time.Second}}
	})
}

// playWith is play on rg with the faulters given and each run's settle window.
func playWith(t *testing.T, rg *testrig.Rig, bugs string, cfg Config, down *atomic.Bool, settle time.Duration, faulters func(*testrig.Rig) map[string]scenario.Faulter) *rig {
	t.Helper()
	r := &rig{hpath: rg.HPath}
	wcfg := rg.WorkloadConfig()
	wcfg.Rate, wcfg.MaxInFlight, wcfg.Settle = 2, 6, settle
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
	res, err := Run(context.Background(), cfg, Deps{Workload: wl, Live: live, Faulters: faulters(rg),
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

// TestIntegrationSoakCatchesDetectionHoles (issue 15): a compressed soak per defect of
// the detection-holes class, with the fault kind that exposes it, fails the
// invariant that judges it, and a finding names the pod the fault hit (or its run)
// and the time. The clean soaks are TestIntegrationSoakCleanPasses here and, with
// every kind on Docker, the README's 10-minute soak.
func TestIntegrationSoakCatchesDetectionHoles(t *testing.T) {
	t.Parallel()
	const hold = 4 * time.Second // past the in-process heartbeat TTL (2 s): a survivor takes over
	for _, tc := range []struct {
		bugs, kind string
		faulter    func(*testrig.Rig) scenario.Faulter
		fail       []string
		settle     time.Duration
	}{
		{"replay-loses-start", "kill", func(rg *testrig.Rig) scenario.Faulter {
			return &testrig.KillFaulter{Cluster: rg.Cluster, DownFor: 2 * time.Second}
		}, []string{invariants.NameChunkGrammar, invariants.NamePrefixReplay}, 0},
		{"zombie-owner", "pause", func(rg *testrig.Rig) scenario.Faulter {
			return &testrig.PauseFaulter{Cluster: rg.Cluster, Hold: hold}
		}, []string{invariants.NameNoWriteAfterEnd}, 6 * time.Second},
		{"ready-but-failing", "partition", func(rg *testrig.Rig) scenario.Faulter {
			return &testrig.PartitionFaulter{Cluster: rg.Cluster, Hold: hold}
		}, []string{invariants.NameRequestsAnswered, invariants.NamePodRecovers}, 0},
	} {
		t.Run(tc.bugs+"/"+tc.kind, func(t *testing.T) {
			t.Parallel()
			rg := testrig.Start(t, tc.bugs)
			r := playWith(t, rg, tc.bugs, Config{Duration: 40 * time.Second, Warmup: 3 * time.Second, Cooldown: 10 * time.Second,
				Faults: []Fault{{Kind: tc.kind, Spec: "@every 10s", Target: TargetOwner}}}, nil, tc.settle,
				func(rg *testrig.Rig) map[string]scenario.Faulter {
					return map[string]scenario.Faulter{tc.kind: tc.faulter(rg)}
				})
			hit := faultedPods(t, r.hpath)
			if len(hit) == 0 {
				t.Fatalf("%s: no %s fault was injected", tc.bugs, tc.kind)
			}
			vs := verdicts(r.res.Report)
			for _, name := range tc.fail {
				v := vs[name]
				if v.Status != invariants.Fail || len(v.Evidence) == 0 {
					t.Errorf("%s under %s: %s is %s, want fail: %s", tc.bugs, tc.kind, name, v.Status, v.Message())
					continue
				}
				f := v.Evidence[0]
				named := false
				for pod := range hit {
					named = named || slices.Contains(f.Pods, pod) || strings.Contains(f.Message, pod)
				}
				if !named || f.At.IsZero() {
					t.Errorf("%s: %s's first finding names none of the pods hit %v, or no time (%s): %s", tc.bugs, name, hit, f.At, f.Message)
				}
				t.Logf("%s under %s: %s at %s: %s", tc.bugs, tc.kind, name, f.At.Format("15:04:05.000"), f.Message)
			}
			if r.res.Report.Status != invariants.Fail {
				t.Errorf("%s: the soak's verdict is %s, want fail", tc.bugs, r.res.Report.Status)
			}
			// The stored history says the same as the live checkers.
			rd, closer, err := history.Open(r.hpath)
			if err != nil {
				t.Fatal(err)
			}
			defer closer.Close()
			off, err := invariants.Analyze(rd, rg.Params, nil)
			if err != nil {
				t.Fatal(err)
			}
			offv := verdicts(off)
			for _, name := range tc.fail {
				if offv[name].Status != vs[name].Status {
					t.Errorf("%s: analyzed %s, live %s", name, offv[name].Status, vs[name].Status)
				}
			}
		})
	}
}

// TestIntegrationSoakCleanAllKinds: the same compressed soak on the correct cluster
// with kill, pause and partition scheduled has no violation, and the invariants of
// the detection holes are exercised under those faults: no false alarm from the
// settle window, the serve check after a heal or the chunk grammar.
func TestIntegrationSoakCleanAllKinds(t *testing.T) {
	t.Parallel()
	rg := testrig.Start(t, "")
	r := playWith(t, rg, "", Config{Duration: 45 * time.Second, Warmup: 3 * time.Second, Cooldown: 10 * time.Second,
		Faults: []Fault{{Kind: "kill", Spec: "@every 9s", Jitter: time.Second, Target: TargetOwner},
			{Kind: "pause", Spec: "@every 11s", Jitter: time.Second, Target: TargetOwner},
			{Kind: "partition", Spec: "@every 13s", Jitter: time.Second, Target: TargetOwner}}}, nil, 6*time.Second,
		func(rg *testrig.Rig) map[string]scenario.Faulter {
			return map[string]scenario.Faulter{"kill": &testrig.KillFaulter{Cluster: rg.Cluster, DownFor: 2 * time.Second},
				"pause": &testrig.PauseFaulter{Cluster: rg.Cluster, Hold: 4 * time.Second}, "partition": &testrig.PartitionFaulter{Cluster: rg.Cluster, Hold: 4 * time.Second}}
		})
	for _, f := range r.findings {
		if f.status == invariants.Fail {
			t.Errorf("violation on the clean testbed: %s: %s", f.invariant, f.f.Message)
		}
	}
	vs := verdicts(r.res.Report)
	for _, name := range []string{invariants.NameChunkGrammar, invariants.NameNoWriteAfterEnd, invariants.NameRequestsAnswered, invariants.NamePodRecovers} {
		if v := vs[name]; v.Status != invariants.Pass || v.Exercised == 0 || v.UnderFault == 0 {
			t.Errorf("%s: %s, exercised %d, under fault %d: %s", name, v.Status, v.Exercised, v.UnderFault, v.Message())
		}
	}
	kinds := map[string]int{}
	for kind, s := range r.res.Schedule {
		kinds[kind] = s.Fired - s.Failed
	}
	if kinds["kill"] == 0 || kinds["pause"] == 0 || kinds["partition"] == 0 {
		t.Errorf("every kind must have fired: %v", kinds)
	}
}

// faultedPods are the pods a chaosd fault was injected on, in the history.
func faultedPods(t *testing.T, hpath string) map[string]bool {
	t.Helper()
	rd, closer, err := history.Open(hpath)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	out := map[string]bool{}
	for {
		e, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.Type == history.TypeFault && e.Fault.Phase == history.FaultInjected {
			out[e.Fault.Pod] = true
		}
	}
}
