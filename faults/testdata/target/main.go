// Command target is the stand-in container chaosd's fault tests hurt while the bundled
// cluster is not at hand, and the decoy they must never touch: a static binary that
// answers every HTTP request on each port it is given with a ready pod's JSON
// (GET /health/ready), so readiness checks and TCP probes both work against it.
package main

import (
	"context"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

const ready = `{"status":"ok","services":{"postgres":{"status":"ok"},"nats":{"status":"ok"}}}`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ports := os.Args[1:]
	if len(ports) == 0 {
		ports = []string{"3000"}
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(ready))
	})
	for _, p := range ports {
		srv := &http.Server{Addr: ":" + p, Handler: h}
		go func() { _ = srv.ListenAndServe() }()
	}
	<-ctx.Done()
}
