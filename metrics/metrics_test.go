package metrics

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/history/synth"
)

var t0 = time.Date(2026, 5, 1, 20, 0, 0, 0, time.UTC)

func clock(t *time.Time) func() time.Time { return func() time.Time { return *t } }

func observe(m *Metrics, evs ...history.Event) {
	for i := range evs {
		m.Observe(&evs[i])
	}
}

// compare checks the exposition of the named metrics, exactly.
func compare(t *testing.T, m *Metrics, want string, names ...string) {
	t.Helper()
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}

func fault(id, kind, phase string, at time.Time) history.Event {
	return history.FaultEvent(history.Fault{ID: id, Kind: kind, Phase: phase, Pod: "mesh-1", At: at})
}

func TestFaultsByKindAndOutcome(t *testing.T) {
	m := New(Options{})
	observe(m,
		fault("f1", history.KindKill, history.FaultIntent, t0),
		fault("f1", history.KindKill, history.FaultInjected, t0.Add(time.Second)),
		fault("f2", history.KindPause, history.FaultIntent, t0.Add(2*time.Second)),
		fault("f2", history.KindPause, history.FaultInjected, t0.Add(3*time.Second)),
		fault("f3", history.KindPartition, history.FaultInjectFailed, t0.Add(4*time.Second)),
		fault("f1", history.KindKill, history.FaultHealed, t0.Add(11*time.Second)),
		fault("f4", history.KindPause, history.FaultInjected, t0.Add(12*time.Second)),
		fault("f4", history.KindPause, history.FaultHealUnknown, t0.Add(42*time.Second)),
		fault("f5", "netem", history.FaultInjected, t0.Add(50*time.Second)),
	)
	compare(t, m, `
# HELP chaosd_faults_active Faults injected and not yet healed, by kind (a heal-unknown fault stays until a heal is confirmed).
# TYPE chaosd_faults_active gauge
chaosd_faults_active{kind="kill"} 0
chaosd_faults_active{kind="netem"} 1
chaosd_faults_active{kind="partition"} 0
chaosd_faults_active{kind="pause"} 2
chaosd_faults_active{kind="restart"} 0
chaosd_faults_active{kind="rollout"} 0
chaosd_faults_active{kind="stop"} 0
# HELP chaosd_fault_active_since_timestamp_seconds When the oldest active fault of a kind was injected, in seconds since the epoch; absent while none is.
# TYPE chaosd_fault_active_since_timestamp_seconds gauge
chaosd_fault_active_since_timestamp_seconds{kind="netem"} 1.77766565e+09
chaosd_fault_active_since_timestamp_seconds{kind="pause"} 1.777665603e+09
`, "chaosd_faults_active", "chaosd_fault_active_since_timestamp_seconds")

	want := map[[2]string]float64{
		{"kill", "injected"}: 1, {"kill", "healed"}: 1, {"pause", "injected"}: 2, {"pause", "heal-unknown"}: 1,
		{"partition", "inject-failed"}: 1, {"netem", "injected"}: 1, {"stop", "injected"}: 0, {"restart", "healed"}: 0,
	}
	for kv, n := range want {
		if got := testutil.ToFloat64(m.faults.WithLabelValues(kv[0], kv[1])); got != n {
			t.Errorf("chaosd_faults_total{kind=%q,outcome=%q} = %v, want %v", kv[0], kv[1], got, n)
		}
	}
	if n := testutil.CollectAndCount(m.faults); n != 6*4+1 {
		t.Errorf("chaosd_faults_total has %d series, want 25 (6 known kinds x 4 outcomes, netem injected; no intent)", n)
	}

	// A later confirmed heal of the heal-unknown fault ends it.
	observe(m, fault("f4", history.KindPause, history.FaultHealed, t0.Add(60*time.Second)))
	compare(t, m, `
# HELP chaosd_fault_active_since_timestamp_seconds When the oldest active fault of a kind was injected, in seconds since the epoch; absent while none is.
# TYPE chaosd_fault_active_since_timestamp_seconds gauge
chaosd_fault_active_since_timestamp_seconds{kind="netem"} 1.77766565e+09
chaosd_fault_active_since_timestamp_seconds{kind="pause"} 1.777665603e+09
`, "chaosd_fault_active_since_timestamp_seconds")
	observe(m, fault("f2", history.KindPause, history.FaultHealed, t0.Add(61*time.Second)))
	if n := testutil.CollectAndCount(&faultCollector{active: m.active}, "chaosd_fault_active_since_timestamp_seconds"); n != 1 {
		t.Errorf("%d active-since series after the pauses healed, want 1 (netem)", n)
	}
}

func TestOpsWatchesDockerProbes(t *testing.T) {
	m := New(Options{})
	op := func(name, phase string) history.Event {
		return history.OpEvent(history.Op{ID: 1, Name: name, Phase: phase, Run: "r1"})
	}
	exit := 137
	observe(m,
		op(history.OpStartRun, history.PhaseInvoke), op(history.OpStartRun, history.PhaseOK),
		op(history.OpAttach, history.PhaseInvoke), op(history.OpAttach, history.PhaseIndeterminate),
		history.WatchEvent(history.Watch{Watcher: "w1", Run: "r1", Finished: true}),
		history.WatchEvent(history.Watch{Watcher: "w2", Run: "r1", Late: true, K: 3, Finished: true}),
		history.WatchEvent(history.Watch{Watcher: "w3", Run: "r1", Late: true, K: 3, Err: "unexpected EOF"}),
		history.WatchEvent(history.Watch{Watcher: "w4", Run: "r1", Late: true, K: 3}),
		history.DockerEvent(history.Docker{Action: history.DockerDie, Pod: "mesh-1", ExitCode: &exit, ByChaosd: true}),
		history.DockerEvent(history.Docker{Action: history.DockerDie, Pod: "mesh-2", ExitCode: &exit}),
		history.DockerEvent(history.Docker{Action: history.DockerStart, Pod: "mesh-1", ByChaosd: true}),
		history.ProbeEvent(history.Probe{Kind: history.ProbeThread, Run: "r1", Err: "connection refused"}, t0),
		history.ProbeEvent(history.Probe{Kind: history.ProbeReady, Pod: "mesh-1", Ready: &history.Ready{Err: "timeout"}}, t0),
	)
	compare(t, m, `
# HELP chaosd_docker_events_total Container events seen, by action and whether chaosd caused them.
# TYPE chaosd_docker_events_total counter
chaosd_docker_events_total{action="die",by_chaosd="false"} 1
chaosd_docker_events_total{action="die",by_chaosd="true"} 1
chaosd_docker_events_total{action="start",by_chaosd="true"} 1
# HELP chaosd_watches_total Watcher reports by lateness and result: finished (finish chunk seen), error (the stream ended early), unfinished.
# TYPE chaosd_watches_total counter
chaosd_watches_total{late="false",result="finished"} 1
chaosd_watches_total{late="true",result="error"} 1
chaosd_watches_total{late="true",result="finished"} 1
chaosd_watches_total{late="true",result="unfinished"} 1
# HELP chaosd_probe_errors_total Readings that could not be taken (the observer failed), by probe kind.
# TYPE chaosd_probe_errors_total counter
chaosd_probe_errors_total{kind="thread"} 1
# HELP chaosd_history_events_total History events observed, by type.
# TYPE chaosd_history_events_total counter
chaosd_history_events_total{type="docker"} 3
chaosd_history_events_total{type="op"} 4
chaosd_history_events_total{type="probe"} 2
chaosd_history_events_total{type="watch"} 4
`, "chaosd_docker_events_total", "chaosd_watches_total", "chaosd_probe_errors_total", "chaosd_history_events_total")
	for _, c := range []struct {
		op, phase string
		n         float64
	}{
		{history.OpStartRun, history.PhaseInvoke, 1}, {history.OpStartRun, history.PhaseOK, 1},
		{history.OpAttach, history.PhaseIndeterminate, 1}, {history.OpAttach, history.PhaseOK, 0}, {history.OpCancel, history.PhaseInvoke, 0},
	} {
		if got := testutil.ToFloat64(m.ops.WithLabelValues(c.op, c.phase)); got != c.n {
			t.Errorf("chaosd_ops_total{op=%q,phase=%q} = %v, want %v", c.op, c.phase, got, c.n)
		}
	}
}

func TestReplayLag(t *testing.T) {
	m := New(Options{})
	opened := t0.Add(3 * time.Second)
	watch := func(late bool, prefixAfter time.Duration) history.Event {
		w := history.Watch{Watcher: "w", Run: "r1", Late: late, K: 3, OpenedAt: opened, Finished: true}
		if prefixAfter >= 0 {
			w.PrefixAt = opened.Add(prefixAfter)
		}
		return history.WatchEvent(w)
	}
	observe(m,
		watch(true, 40*time.Millisecond),
		watch(true, 300*time.Millisecond),
		watch(true, 2*time.Second),
		watch(true, -1),                   // prefix never held: no lag
		watch(false, 10*time.Millisecond), // an early watch replays nothing
		history.WatchEvent(history.Watch{Watcher: "w", Late: true, K: 3, PrefixAt: opened, Finished: true}), // opening unknown
	)
	compare(t, m, `
# HELP chaosd_attach_replay_lag_seconds Late attaches: from the stream opening to the watcher holding the replayed prefix (its first k chunks).
# TYPE chaosd_attach_replay_lag_seconds histogram
chaosd_attach_replay_lag_seconds_bucket{le="0.005"} 0
chaosd_attach_replay_lag_seconds_bucket{le="0.01"} 0
chaosd_attach_replay_lag_seconds_bucket{le="0.025"} 0
chaosd_attach_replay_lag_seconds_bucket{le="0.05"} 1
chaosd_attach_replay_lag_seconds_bucket{le="0.1"} 1
chaosd_attach_replay_lag_seconds_bucket{le="0.25"} 1
chaosd_attach_replay_lag_seconds_bucket{le="0.5"} 2
chaosd_attach_replay_lag_seconds_bucket{le="1"} 2
chaosd_attach_replay_lag_seconds_bucket{le="2.5"} 3
chaosd_attach_replay_lag_seconds_bucket{le="5"} 3
chaosd_attach_replay_lag_seconds_bucket{le="10"} 3
chaosd_attach_replay_lag_seconds_bucket{le="30"} 3
chaosd_attach_replay_lag_seconds_bucket{le="+Inf"} 3
chaosd_attach_replay_lag_seconds_sum 2.34
chaosd_attach_replay_lag_seconds_count 3
`, "chaosd_attach_replay_lag_seconds")
}

func TestRunsAndSoak(t *testing.T) {
	now := t0.Add(-time.Hour) // the process started an hour before the soak
	m := New(Options{Now: clock(&now), Version: "v1.2.3"})
	if got := testutil.ToFloat64(m.lastRun); got != float64(now.Unix()) {
		t.Errorf("last completed run before any = %v, want the process start %d", got, now.Unix())
	}
	m.SoakStarted(t0, 8*time.Hour)
	if got := testutil.ToFloat64(m.lastRun); got != float64(t0.Unix()) {
		t.Errorf("last completed run after SoakStarted = %v, want the soak start %d", got, t0.Unix())
	}
	now = t0.Add(30 * time.Second)
	m.RunDecided("completed", 12*time.Second)
	now = t0.Add(45 * time.Second)
	m.RunDecided("timeout", 95*time.Second)
	m.RunDecided("completed", 8500*time.Millisecond)
	now = t0.Add(50 * time.Second)
	m.RunDecided("cancelled", 0)
	m.SoakStarted(t0, 8*time.Hour) // again: a completed run is kept
	compare(t, m, `
# HELP chaosd_runs_total Runs decided, by outcome.
# TYPE chaosd_runs_total counter
chaosd_runs_total{outcome="aborted"} 0
chaosd_runs_total{outcome="cancelled"} 1
chaosd_runs_total{outcome="completed"} 2
chaosd_runs_total{outcome="failed"} 0
chaosd_runs_total{outcome="timeout"} 1
# HELP chaosd_last_run_completed_timestamp_seconds When the last run completed, in seconds since the epoch; the soak's start (else the process's) until one has.
# TYPE chaosd_last_run_completed_timestamp_seconds gauge
chaosd_last_run_completed_timestamp_seconds 1.777665645e+09
# HELP chaosd_soak_start_timestamp_seconds When the soak started, in seconds since the epoch; 0 outside a soak.
# TYPE chaosd_soak_start_timestamp_seconds gauge
chaosd_soak_start_timestamp_seconds 1.7776656e+09
# HELP chaosd_soak_end_timestamp_seconds When the soak is planned to end, in seconds since the epoch; 0 outside a soak.
# TYPE chaosd_soak_end_timestamp_seconds gauge
chaosd_soak_end_timestamp_seconds 1.7776944e+09
`, "chaosd_runs_total", "chaosd_last_run_completed_timestamp_seconds", "chaosd_soak_start_timestamp_seconds", "chaosd_soak_end_timestamp_seconds")
	if n := testutil.CollectAndCount(m.runTook); n != 3 {
		t.Errorf("run duration histograms: %d, want 3 (completed, timeout, cancelled)", n)
	}
	compare(t, m, `
# HELP chaosd_run_duration_seconds How long each decided run took, from its start to its outcome, by outcome.
# TYPE chaosd_run_duration_seconds histogram
chaosd_run_duration_seconds_bucket{outcome="completed",le="1"} 0
chaosd_run_duration_seconds_bucket{outcome="completed",le="2"} 0
chaosd_run_duration_seconds_bucket{outcome="completed",le="5"} 0
chaosd_run_duration_seconds_bucket{outcome="completed",le="10"} 1
chaosd_run_duration_seconds_bucket{outcome="completed",le="15"} 2
chaosd_run_duration_seconds_bucket{outcome="completed",le="20"} 2
chaosd_run_duration_seconds_bucket{outcome="completed",le="30"} 2
chaosd_run_duration_seconds_bucket{outcome="completed",le="45"} 2
chaosd_run_duration_seconds_bucket{outcome="completed",le="60"} 2
chaosd_run_duration_seconds_bucket{outcome="completed",le="90"} 2
chaosd_run_duration_seconds_bucket{outcome="completed",le="120"} 2
chaosd_run_duration_seconds_bucket{outcome="completed",le="180"} 2
chaosd_run_duration_seconds_bucket{outcome="completed",le="300"} 2
chaosd_run_duration_seconds_bucket{outcome="completed",le="+Inf"} 2
chaosd_run_duration_seconds_sum{outcome="completed"} 20.5
chaosd_run_duration_seconds_count{outcome="completed"} 2
chaosd_run_duration_seconds_bucket{outcome="timeout",le="1"} 0
chaosd_run_duration_seconds_bucket{outcome="timeout",le="2"} 0
chaosd_run_duration_seconds_bucket{outcome="timeout",le="5"} 0
chaosd_run_duration_seconds_bucket{outcome="timeout",le="10"} 0
chaosd_run_duration_seconds_bucket{outcome="timeout",le="15"} 0
chaosd_run_duration_seconds_bucket{outcome="timeout",le="20"} 0
chaosd_run_duration_seconds_bucket{outcome="timeout",le="30"} 0
chaosd_run_duration_seconds_bucket{outcome="timeout",le="45"} 0
chaosd_run_duration_seconds_bucket{outcome="timeout",le="60"} 0
chaosd_run_duration_seconds_bucket{outcome="timeout",le="90"} 0
chaosd_run_duration_seconds_bucket{outcome="timeout",le="120"} 1
chaosd_run_duration_seconds_bucket{outcome="timeout",le="180"} 1
chaosd_run_duration_seconds_bucket{outcome="timeout",le="300"} 1
chaosd_run_duration_seconds_bucket{outcome="timeout",le="+Inf"} 1
chaosd_run_duration_seconds_sum{outcome="timeout"} 95
chaosd_run_duration_seconds_count{outcome="timeout"} 1
chaosd_run_duration_seconds_bucket{outcome="cancelled",le="1"} 1
chaosd_run_duration_seconds_bucket{outcome="cancelled",le="2"} 1
chaosd_run_duration_seconds_bucket{outcome="cancelled",le="5"} 1
chaosd_run_duration_seconds_bucket{outcome="cancelled",le="10"} 1
chaosd_run_duration_seconds_bucket{outcome="cancelled",le="15"} 1
chaosd_run_duration_seconds_bucket{outcome="cancelled",le="20"} 1
chaosd_run_duration_seconds_bucket{outcome="cancelled",le="30"} 1
chaosd_run_duration_seconds_bucket{outcome="cancelled",le="45"} 1
chaosd_run_duration_seconds_bucket{outcome="cancelled",le="60"} 1
chaosd_run_duration_seconds_bucket{outcome="cancelled",le="90"} 1
chaosd_run_duration_seconds_bucket{outcome="cancelled",le="120"} 1
chaosd_run_duration_seconds_bucket{outcome="cancelled",le="180"} 1
chaosd_run_duration_seconds_bucket{outcome="cancelled",le="300"} 1
chaosd_run_duration_seconds_bucket{outcome="cancelled",le="+Inf"} 1
chaosd_run_duration_seconds_sum{outcome="cancelled"} 0
chaosd_run_duration_seconds_count{outcome="cancelled"} 1
`, "chaosd_run_duration_seconds")
}

func TestPhaseDependencyBuildInfo(t *testing.T) {
	m := New(Options{Version: "v1.2.3"})
	m.SetPhase(PhaseWarmup)
	m.SetPhase(PhaseFaulting)
	m.SetDependency(history.DepPostgres, true)
	m.SetDependency(history.DepDocker, true)
	observe(m,
		history.ProbeEvent(history.DependencyProbe(history.DepNATS, errors.New("no servers available")), t0),
		history.ProbeEvent(history.DependencyProbe(history.DepDocker, errors.New("EOF")), t0),
	)
	compare(t, m, `
# HELP chaosd_soak_phase The soak's current phase: 1 for it, 0 for the others.
# TYPE chaosd_soak_phase gauge
chaosd_soak_phase{phase="done"} 0
chaosd_soak_phase{phase="faulting"} 1
chaosd_soak_phase{phase="final-check"} 0
chaosd_soak_phase{phase="quiet"} 0
chaosd_soak_phase{phase="warmup"} 0
# HELP chaosd_dependency_up Whether chaosd reaches a dependency (postgres, nats, docker): 1 up, 0 down.
# TYPE chaosd_dependency_up gauge
chaosd_dependency_up{dependency="docker"} 0
chaosd_dependency_up{dependency="nats"} 0
chaosd_dependency_up{dependency="postgres"} 1
`, "chaosd_soak_phase", "chaosd_dependency_up")
	m.SetPhase("paused") // a phase of the soak's own: a series of its own
	m.SetPhase(PhaseDone)
	if got, want := testutil.ToFloat64(m.phase.WithLabelValues("paused")), 0.0; got != want {
		t.Errorf("phase paused = %v after done, want %v", got, want)
	}
	if got := testutil.ToFloat64(m.phase.WithLabelValues(PhaseDone)); got != 1 {
		t.Errorf("phase done = %v, want 1", got)
	}
	if n, err := testutil.GatherAndCount(m.Registry(), "chaosd_build_info"); err != nil || n != 1 {
		t.Errorf("chaosd_build_info: %d series (%v), want 1", n, err)
	}
}

func TestInvariantsAtScrapeTime(t *testing.T) {
	counts := []InvariantCount{
		{Name: "run-completes", Checks: 3, Exercised: 3, UnderFault: 1},
		{Name: "prefix-replay", Checks: 15, Exercised: 12, UnderFault: 1, Violations: 2, Unknowns: 1},
	}
	m := New(Options{Invariants: func() []InvariantCount { return counts }})
	want := func(prefixViolations int) string {
		return strings.ReplaceAll(`
# HELP chaosd_invariant_checks_total Cases the invariant judged, each in its unit (see the verdict table legend: chaosd analyze --help).
# TYPE chaosd_invariant_checks_total counter
chaosd_invariant_checks_total{invariant="prefix-replay"} 15
chaosd_invariant_checks_total{invariant="run-completes"} 3
# HELP chaosd_invariant_exercised_total Of the cases judged, those decided on an observation (passed or violated).
# TYPE chaosd_invariant_exercised_total counter
chaosd_invariant_exercised_total{invariant="prefix-replay"} 12
chaosd_invariant_exercised_total{invariant="run-completes"} 3
# HELP chaosd_invariant_under_fault_total Of the cases judged, those a chaosd fault bore on.
# TYPE chaosd_invariant_under_fault_total counter
chaosd_invariant_under_fault_total{invariant="prefix-replay"} 1
chaosd_invariant_under_fault_total{invariant="run-completes"} 1
# HELP chaosd_invariant_violations_total Violations found, each in a different case.
# TYPE chaosd_invariant_violations_total counter
chaosd_invariant_violations_total{invariant="prefix-replay"} VIOL
chaosd_invariant_violations_total{invariant="run-completes"} 0
# HELP chaosd_invariant_unknowns_total Cases that could not be decided (unknown, never a pass).
# TYPE chaosd_invariant_unknowns_total counter
chaosd_invariant_unknowns_total{invariant="prefix-replay"} 1
chaosd_invariant_unknowns_total{invariant="run-completes"} 0
`, "VIOL", strconv.Itoa(prefixViolations))
	}
	names := []string{"chaosd_invariant_checks_total", "chaosd_invariant_exercised_total", "chaosd_invariant_under_fault_total",
		"chaosd_invariant_violations_total", "chaosd_invariant_unknowns_total"}
	compare(t, m, want(2), names...)
	counts[1].Violations = 5 // read again at the next scrape
	compare(t, m, want(5), names...)

	if n, _ := testutil.GatherAndCount(New(Options{}).Registry(), names...); n != 0 {
		t.Errorf("without Options.Invariants: %d invariant series, want none", n)
	}
}

// TestSyntheticHistory feeds a whole synthetic history, read back from its file as
// chaosd analyze would, and checks the counts the generator is known to produce.
func TestSyntheticHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.jsonl")
	if _, err := synth.WriteFile(path, synth.Options{Runs: 10, FaultEvery: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := New(Options{})
	r := history.NewReader(f)
	pauses, heals := 0.0, 0.0
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.Fault != nil && e.Fault.Phase == history.FaultInjected {
			pauses++
		}
		if e.Fault != nil && e.Fault.Phase == history.FaultHealed {
			heals++
		}
		m.Observe(&e)
	}
	if pauses == 0 {
		t.Fatal("the synthetic history has no fault: pick other options")
	}
	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"ops{start-run,invoke}", testutil.ToFloat64(m.ops.WithLabelValues(history.OpStartRun, history.PhaseInvoke)), 10},
		{"ops{start-run,ok}", testutil.ToFloat64(m.ops.WithLabelValues(history.OpStartRun, history.PhaseOK)), 10},
		{"ops{attach,ok}", testutil.ToFloat64(m.ops.WithLabelValues(history.OpAttach, history.PhaseOK)), 30},
		{"watches{late=false,finished}", testutil.ToFloat64(m.watches.WithLabelValues("false", WatchFinished)), 10},
		{"watches{late=true,finished}", testutil.ToFloat64(m.watches.WithLabelValues("true", WatchFinished)), 20},
		{"faults{pause,injected}", testutil.ToFloat64(m.faults.WithLabelValues(history.KindPause, history.FaultInjected)), pauses},
		{"faults{pause,healed}", testutil.ToFloat64(m.faults.WithLabelValues(history.KindPause, history.FaultHealed)), heals},
		{"docker{pause,true}", testutil.ToFloat64(m.docker.WithLabelValues(history.DockerPause, "true")), pauses},
		{"faults_active{pause}", activeOf(m, history.KindPause), pauses - heals},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func activeOf(m *Metrics, kind string) float64 {
	_, st := m.active.byKind()
	return float64(st[kind].count)
}

func TestNilMetricsIgnoresCalls(t *testing.T) {
	var m *Metrics
	e := fault("f1", history.KindKill, history.FaultInjected, t0)
	m.Observe(&e)
	m.RunDecided("completed", time.Second)
	m.SoakStarted(t0, time.Hour)
	m.SetPhase(PhaseWarmup)
	m.SetDependency(history.DepNATS, true)
}
