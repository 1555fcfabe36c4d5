package testbed

import (
	"context"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Service states in /health/ready.
const (
	serviceUp   = "up"
	serviceDown = "down"
)

func (p *Pod) handleLive(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReady reports Postgres and NATS. Only Postgres (or a schema not yet in place)
// makes the pod unready: NATS is soft, as in mesh. Status is ok, degraded (NATS
// down) or error (503); in today's mesh also stopping (503) from the start of a
// graceful stop (index.ts markShuttingDown).
func (p *Pod) handleReady(w http.ResponseWriter, r *http.Request) {
	pg, nc := p.postgresState(r.Context()), p.natsState()
	status, code := "ok", http.StatusOK
	switch {
	case p.current() && p.stopping.Load():
		status, code = "stopping", http.StatusServiceUnavailable
	case pg != serviceUp || !p.ready.Load():
		status, code = "error", http.StatusServiceUnavailable
	case nc != serviceUp:
		status = "degraded"
	}
	writeJSON(w, code, map[string]any{
		"status": status,
		"pod":    p.cfg.PodName,
		"services": map[string]any{
			"postgres": map[string]string{"status": pg},
			"nats":     map[string]string{"status": nc},
		},
	})
}

func (p *Pod) postgresState(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := p.db.Ping(ctx); err != nil {
		return serviceDown
	}
	return serviceUp
}

func (p *Pod) natsState() string {
	if p.nc.Status() != nats.CONNECTED {
		return serviceDown
	}
	return serviceUp
}

func (p *Pod) handleMetrics(w http.ResponseWriter, r *http.Request) {
	promhttp.HandlerFor(p.metrics.reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}
