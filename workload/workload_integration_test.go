//go:build integration

package workload

import (
	"bytes"
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/internal/testcluster"
	"github.com/chaosd/chaosd/probes"
)

// TestIntegrationSteadyRunsRespectRateAndCap drives runs at a rate with a cap on
// runs in flight against an in-process cluster: every run completes, watched early
// and late, and the cap holds (ticks over it are skipped, not stacked).
func TestIntegrationSteadyRunsRespectRateAndCap(t *testing.T) {
	c := testcluster.Start(t, 3)
	ctx := context.Background()
	d, err := probes.NewDriver(probes.DriverConfig{})
	if err != nil {
		t.Fatal(err)
	}
	pg, err := probes.NewPostgres(ctx, probes.PostgresConfig{DSN: c.DSN})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	nc, err := probes.NewNATS(probes.NATSConfig{URL: c.NATSURL})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var buf bytes.Buffer
	hw := history.NewWriter(&buf, history.Options{})
	cfg := DefaultConfig()
	for _, n := range c.Names() {
		cfg.Pods = append(cfg.Pods, Pod{Name: n, URL: c.URL(n)})
	}
	cfg.ProviderURL, cfg.Hint, cfg.LateAfter = c.Provider, "slow:10x100", 2
	cfg.Rate, cfg.MaxInFlight, cfg.Runs, cfg.ProbeEvery, cfg.Grace = 10, 2, 6, 50*time.Millisecond, 20*time.Second
	w, err := New(cfg, Deps{Driver: d, Postgres: pg, NATS: nc, Recorder: hw, Log: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	peak := 0
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
				peak = max(peak, w.InFlight())
			}
		}
	}()
	if err := w.Run(ctx); err != nil {
		t.Fatal(err)
	}
	close(stop)
	<-sampled
	hw.Close()
	st := w.Stats()
	if st.Started != 6 || st.Completed != 6 || st.Skipped == 0 {
		t.Fatalf("stats %+v: want 6 started and completed, and ticks skipped at the cap", st)
	}
	if peak > 2 {
		t.Fatalf("%d runs in flight at once, cap 2", peak)
	}
	watches, late := 0, 0
	r := history.NewReader(&buf)
	for {
		e, err := r.Next()
		if err != nil {
			break
		}
		if e.Type == history.TypeWatch {
			watches++
			if e.Watch.Late && e.Watch.K >= 2 && e.Watch.Finished && e.Watch.Order.String() == "1-10" {
				late++
			}
		}
	}
	if watches != 18 || late != 12 {
		t.Fatalf("watches %d (want 3 per run), late ones replaying the prefix in full %d (want 12)", watches, late)
	}
}
