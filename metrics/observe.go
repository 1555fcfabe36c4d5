package metrics

import (
	"strconv"
	"time"

	"github.com/chaosd/chaosd/history"
)

// Fault kinds that get their series from the start; others are added as seen.
var knownKinds = []string{history.KindKill, history.KindPause, history.KindPartition, history.KindStop, history.KindRollout, history.KindRestart}

// Fault outcomes counted by chaosd_faults_total: every ledger phase but the intent.
var faultOutcomes = []string{history.FaultInjected, history.FaultInjectFailed, history.FaultHealed, history.FaultHealUnknown}

// Watch results (chaosd_watches_total's result label).
const (
	WatchFinished   = "finished"   // the finish chunk arrived
	WatchError      = "error"      // the stream ended before the finish (Watch.Err)
	WatchUnfinished = "unfinished" // neither: given up without an error
)

// Observe derives the metrics from one history event. Feed it every event as it is
// written, once: the counters count events.
func (m *Metrics) Observe(e *history.Event) {
	if m == nil || e == nil {
		return
	}
	m.events.WithLabelValues(string(e.Type)).Inc()
	switch {
	case e.Fault != nil:
		m.observeFault(e.Fault)
	case e.Op != nil:
		m.ops.WithLabelValues(e.Op.Name, e.Op.Phase).Inc()
	case e.Watch != nil:
		m.observeWatch(e.Watch)
	case e.Docker != nil:
		m.docker.WithLabelValues(e.Docker.Action, strconv.FormatBool(e.Docker.ByChaosd)).Inc()
	case e.Probe != nil:
		m.observeProbe(e.Probe)
	}
}

func (m *Metrics) observeFault(f *history.Fault) {
	switch f.Phase {
	case history.FaultInjected:
		m.active.inject(f.ID, f.Kind, f.At)
	case history.FaultHealed:
		m.active.heal(f.ID)
	case history.FaultInjectFailed, history.FaultHealUnknown:
		// inject-failed: never in effect. heal-unknown: possibly still in effect, so it
		// stays active (and ChaosdFaultStuck fires) until a later heal is confirmed.
	default:
		return // the intent is not an outcome
	}
	m.faults.WithLabelValues(f.Kind, f.Phase).Inc()
}

func (m *Metrics) observeWatch(w *history.Watch) {
	result := WatchUnfinished
	switch {
	case w.Finished:
		result = WatchFinished
	case w.Err != "":
		result = WatchError
	}
	m.watches.WithLabelValues(strconv.FormatBool(w.Late), result).Inc()
	if lag, ok := replayLag(w); ok {
		m.replayLag.Observe(lag.Seconds())
	}
}

// replayLag is a late watch's wait for its replayed prefix, when it is known.
func replayLag(w *history.Watch) (time.Duration, bool) {
	if !w.Late || w.PrefixAt.IsZero() || w.OpenedAt.IsZero() {
		return 0, false
	}
	return max(w.PrefixAt.Sub(w.OpenedAt), 0), true
}

func (m *Metrics) observeProbe(p *history.Probe) {
	if p.Dependency != nil {
		m.SetDependency(p.Dependency.Name, p.Dependency.Up)
	}
	if p.Err != "" {
		m.probeErrs.WithLabelValues(p.Kind).Inc()
	}
}
