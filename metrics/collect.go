package metrics

import (
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// activeFaults are the faults injected and not yet healed, by ledger id.
type activeFaults struct {
	mu   sync.Mutex
	byID map[string]activeFault
	seen []string // every kind ever active, known ones first: each keeps a series
}

type activeFault struct {
	kind string
	at   time.Time // confirmed in effect
}

func newActiveFaults() *activeFaults {
	return &activeFaults{byID: map[string]activeFault{}, seen: slices.Clone(knownKinds)}
}

func (a *activeFaults) inject(id, kind string, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.byID[id] = activeFault{kind: kind, at: at}
	if !slices.Contains(a.seen, kind) {
		a.seen = append(a.seen, kind)
	}
}

func (a *activeFaults) heal(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.byID, id)
}

// kindState is one kind's active faults and the oldest one's injection time.
type kindState struct {
	count  int
	oldest time.Time
}

func (a *activeFaults) byKind() ([]string, map[string]kindState) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := map[string]kindState{}
	for _, f := range a.byID {
		s := st[f.kind]
		s.count++
		if s.oldest.IsZero() || f.at.Before(s.oldest) {
			s.oldest = f.at
		}
		st[f.kind] = s
	}
	return slices.Clone(a.seen), st
}

// faultCollector exposes the active faults at scrape time.
type faultCollector struct {
	active *activeFaults
}

var (
	descFaultsActive = prometheus.NewDesc("chaosd_faults_active",
		"Faults injected and not yet healed, by kind (a heal-unknown fault stays until a heal is confirmed).", []string{"kind"}, nil)
	descFaultSince = prometheus.NewDesc("chaosd_fault_active_since_timestamp_seconds",
		"When the oldest active fault of a kind was injected, in seconds since the epoch; absent while none is.", []string{"kind"}, nil)
)

var _ prometheus.Collector = (*faultCollector)(nil)

func (c *faultCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descFaultsActive
	ch <- descFaultSince
}

func (c *faultCollector) Collect(ch chan<- prometheus.Metric) {
	kinds, st := c.active.byKind()
	for _, kind := range kinds {
		s := st[kind]
		ch <- prometheus.MustNewConstMetric(descFaultsActive, prometheus.GaugeValue, float64(s.count), kind)
		if s.count > 0 {
			ch <- prometheus.MustNewConstMetric(descFaultSince, prometheus.GaugeValue, seconds(s.oldest), kind)
		}
	}
}

// invariantCollector exposes the invariants' totals, read at scrape time.
type invariantCollector struct {
	counts func() []InvariantCount
}

var invariantDescs = []struct {
	desc  *prometheus.Desc
	value func(InvariantCount) int
}{
	{prometheus.NewDesc("chaosd_invariant_checks_total", "Cases the invariant judged, each in its unit (see the verdict table legend: chaosd analyze --help).", []string{"invariant"}, nil),
		func(c InvariantCount) int { return c.Checks }},
	{prometheus.NewDesc("chaosd_invariant_exercised_total", "Of the cases judged, those decided on an observation (passed or violated).", []string{"invariant"}, nil),
		func(c InvariantCount) int { return c.Exercised }},
	{prometheus.NewDesc("chaosd_invariant_under_fault_total", "Of the cases judged, those a chaosd fault bore on.", []string{"invariant"}, nil),
		func(c InvariantCount) int { return c.UnderFault }},
	{prometheus.NewDesc("chaosd_invariant_violations_total", "Violations found, each in a different case.", []string{"invariant"}, nil),
		func(c InvariantCount) int { return c.Violations }},
	{prometheus.NewDesc("chaosd_invariant_unknowns_total", "Cases that could not be decided (unknown, never a pass).", []string{"invariant"}, nil),
		func(c InvariantCount) int { return c.Unknowns }},
}

var _ prometheus.Collector = (*invariantCollector)(nil)

func (c *invariantCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range invariantDescs {
		ch <- d.desc
	}
}

func (c *invariantCollector) Collect(ch chan<- prometheus.Metric) {
	for _, inv := range c.counts() {
		for _, d := range invariantDescs {
			ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, float64(d.value(inv)), inv.Name)
		}
	}
}
