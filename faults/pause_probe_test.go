package faults

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
)

// probingDocker is a container with a Docker health check every interval, each probe
// taking took; it records when the pause came.
type probingDocker struct {
	mu             sync.Mutex
	start          time.Time
	interval, took time.Duration
	healthcheck    bool
	pausedAt       time.Time
}

func (d *probingDocker) ContainerInspect(context.Context, string) (container.InspectResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := &container.State{Status: "running", Running: true}
	ci := container.InspectResponse{ContainerJSONBase: &container.ContainerJSONBase{ID: "c1", State: st}, Config: &container.Config{}}
	if !d.healthcheck {
		return ci, nil
	}
	ci.Config.Healthcheck = &container.HealthConfig{Test: []string{"CMD", "probe"}, Interval: d.interval}
	st.Health = &container.Health{Status: "healthy"}
	// Probes start at start + k*interval and end took later; the log holds those ended.
	for k := 0; ; k++ {
		s := d.start.Add(time.Duration(k) * d.interval)
		e := s.Add(d.took)
		if e.After(time.Now()) {
			break
		}
		st.Health.Log = append(st.Health.Log, &container.HealthcheckResult{Start: s, End: e})
	}
	return ci, nil
}

func (d *probingDocker) ContainerPause(context.Context, string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pausedAt = time.Now()
	return nil
}

func (d *probingDocker) ContainerUnpause(context.Context, string) error { return nil }

// A pause waits until a health probe has just ended, so that it never freezes a
// probe's exec half way (Docker then hangs every call on the container).
func TestPauseBetweenHealthProbes(t *testing.T) {
	const interval, took = 400 * time.Millisecond, 150 * time.Millisecond
	for _, offset := range []time.Duration{0, 100 * time.Millisecond, 250 * time.Millisecond, 350 * time.Millisecond} {
		// The pause is asked offset into a probe cycle: 0 and 100 ms land inside a probe.
		d := &probingDocker{start: time.Now().Add(-3*interval - offset), interval: interval, took: took, healthcheck: true}
		(&Pause{c: d}).betweenProbes(context.Background(), "c1")
		_ = d.ContainerPause(context.Background(), "c1")
		since := d.pausedAt.Sub(d.start)
		phase := since % interval
		if phase < took || phase > took+interval/2 {
			t.Errorf("asked %s into a cycle: paused %s into a cycle, want between the probe's end (%s) and half an interval after", offset, phase, took)
		}
	}
	// No health check: at once.
	d := &probingDocker{start: time.Now(), interval: interval, took: took}
	began := time.Now()
	(&Pause{c: d}).betweenProbes(context.Background(), "c1")
	if waited := time.Since(began); waited > 50*time.Millisecond {
		t.Errorf("no health check: waited %s, want none", waited)
	}
}
