// Package metrics is chaosd's own Prometheus metrics: what it did (faults, runs,
// workload operations), what it saw (watches, replay lag, Docker events, its reach
// to Postgres, NATS and Docker) and what it concluded (invariant checks, violations,
// unknowns). A soak is watched through them: deploy/prometheus/chaosd-rules.yml alerts
// on them and deploy/grafana/chaosd-dashboard.json draws them.
//
// Most series are derived from the history as it is written (Observe is fed every
// event), so they say exactly what the history says. The rest are set by the soak
// (RunDecided, SetPhase, SoakStarted, SetDependency) or read at scrape time
// (Options.Invariants).
//
// Metrics (every name is checked against the rules and the dashboard by
// TestReferencedMetricsExist):
//
//	chaosd_build_info{version,goversion}                     1
//	chaosd_history_events_total{type}                         events observed
//	chaosd_faults_total{kind,outcome}                         injected, inject-failed, healed, heal-unknown
//	chaosd_faults_active{kind}                                injected and not yet healed (heal-unknown stays)
//	chaosd_fault_active_since_timestamp_seconds{kind}         injection time of the oldest active fault (only while one is)
//	chaosd_ops_total{op,phase}                                workload operations, by name and phase
//	chaosd_watches_total{late,result}                         watcher reports: finished, error, unfinished
//	chaosd_attach_replay_lag_seconds                          late watches: Watch.PrefixAt - Watch.OpenedAt
//	chaosd_docker_events_total{action,by_chaosd}              container events seen
//	chaosd_probe_errors_total{kind}                           readings that could not be taken
//	chaosd_runs_total{outcome}                                runs decided: completed, failed, timeout, aborted
//	chaosd_run_duration_seconds{outcome}                      how long each decided run took
//	chaosd_last_run_completed_timestamp_seconds               the last completed run (the soak start until one is)
//	chaosd_soak_start_timestamp_seconds, chaosd_soak_end_timestamp_seconds   the soak's window (planned end)
//	chaosd_soak_phase{phase}                                  1 for the current phase, 0 for the others
//	chaosd_dependency_up{dependency}                          chaosd's reach to postgres, nats, docker
//	chaosd_invariant_{checks,exercised,under_fault,violations,unknowns}_total{invariant}   read at scrape time
//
// plus the Go runtime's go_* and the process's process_* collectors.
package metrics

import (
	"regexp"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/chaosd/chaosd/history"
)

// DefaultAddr is where chaosd serves /metrics unless told otherwise: loopback only.
const DefaultAddr = "127.0.0.1:9464"

// Soak phases for SetPhase.
const (
	PhaseWarmup     = "warmup"      // runs flowing, no faults yet
	PhaseFaulting   = "faulting"    // faults on their schedule
	PhaseQuiet      = "quiet"       // no new faults, runs still flowing (the soak's cooldown)
	PhaseFinalCheck = "final-check" // runs drain, then the verdicts over the whole history
	PhaseDone       = "done"
)

// Phases lists the soak phases in order; each has a chaosd_soak_phase series from
// the start.
var Phases = []string{PhaseWarmup, PhaseFaulting, PhaseQuiet, PhaseFinalCheck, PhaseDone}

// Run outcomes that get a chaosd_runs_total series from the start (workload's
// Outcome* values), so that increase() sees the first one. Others are added as seen.
var runOutcomes = []string{"completed", "failed", "timeout", "aborted"}

// OutcomeCompleted is the run outcome that sets chaosd_last_run_completed_timestamp_seconds.
const OutcomeCompleted = "completed"

// InvariantCount is one invariant's running totals, as the live checkers hold them.
// Every field only grows for the life of the process: they are exposed as counters.
type InvariantCount struct {
	Name                                                string
	Checks, Exercised, UnderFault, Violations, Unknowns int
}

// Options configure New. Every field is optional.
type Options struct {
	// Version is chaosd's version, for chaosd_build_info.
	Version string
	// Invariants is called at every scrape for the invariants' totals (nil: no
	// chaosd_invariant_* series). It must be safe to call from any goroutine.
	Invariants func() []InvariantCount
	// Now is the clock (default time.Now): the last-completed-run time, and the
	// start of the process as its initial value.
	Now func() time.Time
}

// Metrics is chaosd's metrics and their registry. Its methods are safe for
// concurrent use; a nil *Metrics ignores every call, so that callers need no check.
type Metrics struct {
	reg *prometheus.Registry
	now func() time.Time

	events     *prometheus.CounterVec
	faults     *prometheus.CounterVec
	ops        *prometheus.CounterVec
	watches    *prometheus.CounterVec
	replayLag  prometheus.Histogram
	docker     *prometheus.CounterVec
	probeErrs  *prometheus.CounterVec
	runs       *prometheus.CounterVec
	runTook    *prometheus.HistogramVec
	lastRun    prometheus.Gauge
	soakStart  prometheus.Gauge
	soakEnd    prometheus.Gauge
	phase      *prometheus.GaugeVec
	dependency *prometheus.GaugeVec

	pprof atomic.Bool // Serve adds /debug/pprof/ (EnablePprof)

	mu        sync.Mutex
	active    *activeFaults
	phases    []string // every phase with a series
	completed bool     // a run completed: SoakStarted leaves lastRun alone
}

// New makes the metrics with a registry of their own, holding them and the Go and
// process collectors.
func New(o Options) *Metrics {
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &Metrics{reg: prometheus.NewRegistry(), now: o.Now, active: newActiveFaults(), phases: append([]string(nil), Phases...)}
	m.events = m.counterVec("chaosd_history_events_total", "History events observed, by type.", "type")
	m.faults = m.counterVec("chaosd_faults_total", "Faults by kind and outcome: injected, inject-failed, healed, heal-unknown (a heal that could not be confirmed).", "kind", "outcome")
	m.ops = m.counterVec("chaosd_ops_total", "Workload operations by name and phase (invoke, then ok, failed or indeterminate).", "op", "phase")
	m.watches = m.counterVec("chaosd_watches_total", "Watcher reports by lateness and result: finished (finish chunk seen), error (the stream ended early), unfinished.", "late", "result")
	m.docker = m.counterVec("chaosd_docker_events_total", "Container events seen, by action and whether chaosd caused them.", "action", "by_chaosd")
	m.probeErrs = m.counterVec("chaosd_probe_errors_total", "Readings that could not be taken (the observer failed), by probe kind.", "kind")
	m.runs = m.counterVec("chaosd_runs_total", "Runs decided, by outcome.", "outcome")
	m.replayLag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "chaosd_attach_replay_lag_seconds",
		Help:    "Late attaches: from the stream opening to the watcher holding the replayed prefix (its first k chunks).",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	})
	m.runTook = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "chaosd_run_duration_seconds",
		Help:    "How long each decided run took, from its start to its outcome, by outcome.",
		Buckets: []float64{1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300},
	}, []string{"outcome"})
	m.lastRun = m.gauge("chaosd_last_run_completed_timestamp_seconds", "When the last run completed, in seconds since the epoch; the soak's start (else the process's) until one has.")
	m.soakStart = m.gauge("chaosd_soak_start_timestamp_seconds", "When the soak started, in seconds since the epoch; 0 outside a soak.")
	m.soakEnd = m.gauge("chaosd_soak_end_timestamp_seconds", "When the soak is planned to end, in seconds since the epoch; 0 outside a soak.")
	m.phase = m.gaugeVec("chaosd_soak_phase", "The soak's current phase: 1 for it, 0 for the others.", "phase")
	m.dependency = m.gaugeVec("chaosd_dependency_up", "Whether chaosd reaches a dependency (postgres, nats, docker): 1 up, 0 down.", "dependency")
	info := m.gaugeVec("chaosd_build_info", "chaosd's version and Go version; always 1.", "version", "goversion")
	info.WithLabelValues(o.Version, runtime.Version()).Set(1)

	m.reg.MustRegister(m.replayLag, m.runTook,
		&faultCollector{active: m.active},
		// The default go_* series, plus the live heap after the last GC
		// (go_gc_heap_live_bytes): unlike heap in use it holds no garbage, so it is
		// what says whether a soak of hours keeps flat memory.
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
			collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if o.Invariants != nil {
		m.reg.MustRegister(&invariantCollector{counts: o.Invariants})
	}
	m.initSeries()
	m.lastRun.Set(seconds(o.Now()))
	return m
}

// initSeries creates the series of the known label values at zero, so that the first
// fault, run or operation is an increase() and not a series appearing.
func (m *Metrics) initSeries() {
	for _, kind := range knownKinds {
		for _, outcome := range faultOutcomes {
			m.faults.WithLabelValues(kind, outcome)
		}
	}
	for _, op := range []string{history.OpBootstrap, history.OpCreateThread, history.OpStartRun, history.OpAttach, history.OpCancel} {
		for _, phase := range []string{history.PhaseInvoke, history.PhaseOK, history.PhaseFailed, history.PhaseIndeterminate} {
			m.ops.WithLabelValues(op, phase)
		}
	}
	for _, o := range runOutcomes {
		m.runs.WithLabelValues(o)
	}
	for _, p := range m.phases {
		m.phase.WithLabelValues(p)
	}
}

// Registry is the registry holding every chaosd metric, for a caller that adds its own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// RunDecided records one run's outcome (workload's Outcome* values) and how long it
// took. A completed run also moves chaosd_last_run_completed_timestamp_seconds.
func (m *Metrics) RunDecided(outcome string, took time.Duration) {
	if m == nil {
		return
	}
	m.runs.WithLabelValues(outcome).Inc()
	m.runTook.WithLabelValues(outcome).Observe(took.Seconds())
	if outcome == OutcomeCompleted {
		m.mu.Lock()
		m.completed = true
		m.lastRun.Set(seconds(m.now()))
		m.mu.Unlock()
	}
}

// SoakStarted records the soak's window: its start and planned duration. Until a
// run completes, the last completed run counts as the soak's start, so that the "no
// runs flowing" alert measures from there.
func (m *Metrics) SoakStarted(start time.Time, planned time.Duration) {
	if m == nil {
		return
	}
	m.soakStart.Set(seconds(start))
	m.soakEnd.Set(seconds(start.Add(planned)))
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.completed {
		m.lastRun.Set(seconds(start))
	}
}

// SetPhase makes phase the soak's current phase (one of Phases; another name gets a
// series of its own).
func (m *Metrics) SetPhase(phase string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	known := false
	for _, p := range m.phases {
		known = known || p == phase
		m.phase.WithLabelValues(p).Set(0)
	}
	if !known {
		m.phases = append(m.phases, phase)
	}
	m.phase.WithLabelValues(phase).Set(1)
}

// SetDependency records whether chaosd reaches a dependency (history.DepPostgres,
// DepNATS, DepDocker). Observe does it too for every dependency probe in the history.
func (m *Metrics) SetDependency(name string, up bool) {
	if m == nil {
		return
	}
	v := 0.0
	if up {
		v = 1
	}
	m.dependency.WithLabelValues(name).Set(v)
}

func (m *Metrics) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	m.reg.MustRegister(c)
	return c
}

func (m *Metrics) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	m.reg.MustRegister(g)
	return g
}

func (m *Metrics) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	m.reg.MustRegister(g)
	return g
}

// seconds is t as fractional seconds since the epoch.
func seconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
