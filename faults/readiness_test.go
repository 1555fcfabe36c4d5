package faults

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"

	"github.com/chaosd/chaosd/probes"
)

// A pod named in URLs is asked there, not through its published port: inside a
// container (the soak service) the published ports are the host's.
func TestHTTPReadinessPrefersNamedURLs(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health/ready" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"status":"ok","services":{"postgres":{"status":"ok"},"nats":{"status":"ok"}}}`))
	}))
	defer srv.Close()
	d, err := probes.NewDriver(probes.DriverConfig{})
	if err != nil {
		t.Fatal(err)
	}
	// The published port points nowhere.
	m := Member{Target: Target{Pod: "mesh-1"}, State: "running", Ports: []container.Port{{PrivatePort: 3000, PublicPort: 1, Type: "tcp", IP: "127.0.0.1"}}}
	h := HTTPReadiness{Driver: d, Port: 3000, URLs: map[string]string{"mesh-1": srv.URL}}
	if ok, why := h.Ready(context.Background(), m); !ok {
		t.Fatalf("not ready through the named URL: %s", why)
	}
	h.URLs = nil
	if ok, why := h.Ready(context.Background(), m); ok || !strings.Contains(why, "127.0.0.1:1") {
		t.Fatalf("without URLs: ready %v (%s), want the published port tried", ok, why)
	}
}
