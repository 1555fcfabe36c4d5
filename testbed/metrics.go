package testbed

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the pod's Prometheus series, on a private registry served at /metrics.
type metrics struct {
	reg             *prometheus.Registry
	runsStarted     prometheus.Counter
	runsEnded       *prometheus.CounterVec // by status: completed, failed
	runsResumed     *prometheus.CounterVec // by how: orphan, released, adopted; today's mesh: restart, handover
	runsHandedOver  prometheus.Counter
	gatesHandedOff  prometheus.Counter
	runsReaped      prometheus.Counter
	claimsRefused   prometheus.Counter
	runsActive      prometheus.Gauge
	chunksPublished prometheus.Counter
	conflicts       prometheus.Counter
	fenced          prometheus.Counter
	providerErrors  *prometheus.CounterVec // by kind: api, transport
	heartbeatErrors prometheus.Counter
	attaches        prometheus.Gauge
}

func newMetrics(pod string) *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	labels := prometheus.Labels{"pod": pod}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "testbed", Name: name, Help: help, ConstLabels: labels})
		reg.MustRegister(c)
		return c
	}
	counterVec := func(name, help, label string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "testbed", Name: name, Help: help, ConstLabels: labels}, []string{label})
		reg.MustRegister(c)
		return c
	}
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "testbed", Name: name, Help: help, ConstLabels: labels})
		reg.MustRegister(g)
		return g
	}
	return &metrics{
		reg:             reg,
		runsStarted:     counter("runs_started_total", "Runs started on this pod."),
		runsEnded:       counterVec("runs_ended_total", "Runs this pod ended, by terminal status.", "status"),
		runsResumed:     counterVec("runs_resumed_total", "Runs this pod took over, by how it found them (orphan, released, adopted; today's mesh: restart, handover).", "how"),
		gatesHandedOff:  counter("gates_handed_off_total", "Thread-gate workflows this pod put back on the queue at a graceful stop (today's mesh)."),
		runsReaped:      counter("runs_reaped_total", "In-progress runs this pod's reaper failed for making no progress (today's mesh)."),
		claimsRefused:   counter("claims_refused_total", "Takeover claims that Postgres refused (another pod was faster, or the strict-claim defect)."),
		runsHandedOver:  counter("runs_handed_over_total", "Runs this pod released because it could not reach the provider."),
		runsActive:      gauge("runs_active", "Runs this pod is dispatching."),
		chunksPublished: counter("chunks_published_total", "Chunks published to the stream buffer."),
		conflicts:       counter("publish_conflicts_total", "Publishes refused because the buffer changed (optimistic concurrency)."),
		fenced:          counter("runs_fenced_total", "Runs this pod stopped because another pod owns them now."),
		providerErrors:  counterVec("provider_errors_total", "Failed provider attempts, by kind (api, transport).", "kind"),
		heartbeatErrors: counter("heartbeat_errors_total", "Heartbeat writes that failed."),
		attaches:        gauge("attaches_open", "Open attach (SSE) streams."),
	}
}
