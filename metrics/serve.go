package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// shutdownTimeout bounds the wait for scrapes in flight when the server stops.
const shutdownTimeout = 5 * time.Second

// Handler serves the metrics in the Prometheus exposition formats (what /metrics
// answers).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, EnableOpenMetrics: true})
}

// EnablePprof makes Serve also serve Go's profiles under /debug/pprof/ (for
// diagnosing chaosd itself: a heap profile early and late in a long soak shows what
// grows). Call it before Serve.
func (m *Metrics) EnablePprof() { m.pprof.Store(true) }

func bound(ln net.Listener) string { return ln.Addr().String() }

// Serve listens on addr (host:port; DefaultAddr is 127.0.0.1:9464, and port 0 picks a
// free one) and serves /metrics and /healthz until ctx ends. It returns once the
// listener is bound, with the address it is bound to; a listen error names addr.
func Serve(ctx context.Context, addr string, m *Metrics, log *zap.Logger) (string, error) {
	if log == nil {
		log = zap.NewNop()
	}
	log = log.Named("metrics")
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	if m.pprof.Load() {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
		log.Info("serving Go profiles", zap.String("addr", bound(ln)), zap.String("path", "/debug/pprof/"))
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	bound := ln.Addr().String()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", zap.String("addr", bound), zap.Error(err))
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("metrics server shutdown", zap.String("addr", bound), zap.Error(err))
		}
	}()
	log.Info("serving metrics", zap.String("addr", bound), zap.String("path", "/metrics"))
	return bound, nil
}
