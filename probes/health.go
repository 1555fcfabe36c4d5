package probes

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Readiness is a pod's /health/ready answer (mesh-contract.md).
type Readiness struct {
	Pod      string `json:"pod"`
	Ready    bool   `json:"ready"`
	Status   string `json:"status"`
	Postgres string `json:"postgres"`
	NATS     string `json:"nats"`
	Err      string `json:"error,omitempty"` // set when the pod could not be asked
}

// Ready asks pod's /health/ready. A pod that does not answer gives Ready=false and
// Err, not an error: an unreachable pod is an observation.
func (d *Driver) Ready(ctx context.Context, pod string) Readiness {
	r := Readiness{Pod: pod}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pod+"/health/ready", nil)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	resp, err := d.http.Do(req)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer resp.Body.Close()
	var body struct {
		Status   string `json:"status"`
		Services struct {
			Postgres struct{ Status string } `json:"postgres"`
			NATS     struct{ Status string } `json:"nats"`
		} `json:"services"`
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err := json.Unmarshal(data, &body); err != nil {
		r.Err = fmt.Sprintf("status %d, undecodable body %.100q", resp.StatusCode, data)
		return r
	}
	r.Status, r.Postgres, r.NATS = body.Status, body.Services.Postgres.Status, body.Services.NATS.Status
	r.Ready = resp.StatusCode == http.StatusOK
	return r
}

// WaitReady polls every pod until all are ready or ctx ends; it returns the last
// readings either way.
func (d *Driver) WaitReady(ctx context.Context, pods []string, every time.Duration) ([]Readiness, error) {
	for {
		out := make([]Readiness, len(pods))
		all := true
		for i, p := range pods {
			out[i] = d.Ready(ctx, p)
			all = all && out[i].Ready
		}
		if all {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return out, fmt.Errorf("pods not ready: %w", ctx.Err())
		case <-time.After(every):
		}
	}
}

// Live asks pod's /health/live: nil when it answers 200 with {"status":"ok"}.
func (d *Driver) Live(ctx context.Context, pod string) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pod+"/health/live", nil)
	if err != nil {
		return err
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	var body struct {
		Status string `json:"status"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(data, &body) != nil || body.Status != "ok" {
		return fmt.Errorf("GET %s/health/live: %d %.100q, want 200 {\"status\":\"ok\"}", pod, resp.StatusCode, data)
	}
	return nil
}
