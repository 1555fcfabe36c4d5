package mockai

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are mockai's Prometheus metrics.
type metrics struct {
	requests *prometheus.CounterVec   // route, code
	open     prometheus.Gauge         // streams open now
	chunks   prometheus.Counter       // content chunks written
	duration *prometheus.HistogramVec // outcome
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chaosd_mockai_requests_total",
			Help: "HTTP requests answered, by route and status code (\"aborted\": a non-streamed answer cut or stalled by a fault hint).",
		}, []string{"route", "code"}),
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chaosd_mockai_open_streams",
			Help: "Chat completion streams open now.",
		}),
		chunks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chaosd_mockai_chunks_sent_total",
			Help: "Content chunks written to streams.",
		}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chaosd_mockai_stream_duration_seconds",
			Help:    "How long streams were open, by outcome: complete, cut, stall, client_gone, shutdown.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600},
		}, []string{"outcome"}),
	}
	m.requests = register(reg, m.requests)
	m.open = register(reg, m.open)
	m.chunks = register(reg, m.chunks)
	m.duration = register(reg, m.duration)
	return m
}

// register registers c, or returns the collector already registered under its name,
// so that several Servers can share one registry.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if prev, ok := are.ExistingCollector.(C); ok {
			return prev
		}
	}
	return c
}

func (m *metrics) request(route string, status int) {
	code := "aborted"
	if status > 0 {
		code = strconv.Itoa(status)
	}
	m.requests.WithLabelValues(route, code).Inc()
}

func (m *metrics) streamEnded(outcome string, d time.Duration) {
	m.duration.WithLabelValues(outcome).Observe(d.Seconds())
}
