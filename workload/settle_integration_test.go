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

// settleRig is a workload with a settle window on an in-process cluster, recording
// to buf.
func settleRig(t *testing.T, settle time.Duration) (*Workload, *history.Writer, *bytes.Buffer) {
	t.Helper()
	c := testcluster.Start(t, 2)
	d, err := probes.NewDriver(probes.DriverConfig{})
	if err != nil {
		t.Fatal(err)
	}
	pg, err := probes.NewPostgres(context.Background(), probes.PostgresConfig{DSN: c.DSN})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Close)
	nc, err := probes.NewNATS(probes.NATSConfig{URL: c.NATSURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	var buf bytes.Buffer
	hw := history.NewWriter(&buf, history.Options{})
	cfg := DefaultConfig()
	for _, n := range c.Names() {
		cfg.Pods = append(cfg.Pods, Pod{Name: n, URL: c.URL(n)})
	}
	cfg.ProviderURL, cfg.Hint, cfg.LateAfter, cfg.Watchers = c.Provider, "slow:8x50", 2, 1
	cfg.ProbeEvery, cfg.Grace, cfg.Settle = 50*time.Millisecond, 20*time.Second, settle
	w, err := New(cfg, Deps{Driver: d, Postgres: pg, NATS: nc, Recorder: hw, Log: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	return w, hw, &buf
}

// settled is what the history says of one run's settle window.
type settled struct {
	settle    *history.Duration // on its start op
	decidedAt time.Time         // the thread reading that said completed
	after     []time.Time       // buffer readings after it, each with the end sentinel
	unended   int               // buffer readings after it without the sentinel
}

func settleOfRuns(t *testing.T, buf *bytes.Buffer) map[string]*settled {
	t.Helper()
	out := map[string]*settled{}
	get := func(run string) *settled {
		if out[run] == nil {
			out[run] = &settled{}
		}
		return out[run]
	}
	r := history.NewReader(buf)
	for {
		e, err := r.Next()
		if err != nil {
			break
		}
		switch {
		case e.Type == history.TypeOp && e.Op.Name == history.OpStartRun && e.Op.Phase == history.PhaseInvoke:
			get(e.Op.Run).settle = e.Op.Settle
		case e.Type == history.TypeProbe && e.Probe.Kind == history.ProbeThread && e.Probe.ThreadState != nil:
			if s := get(e.Probe.Run); s.decidedAt.IsZero() && e.Probe.ThreadState.Status == history.StatusCompleted {
				s.decidedAt = e.Time
			}
		case e.Type == history.TypeProbe && e.Probe.Kind == history.ProbeBuffer && e.Probe.Buffer != nil:
			if s := get(e.Probe.Run); !s.decidedAt.IsZero() && e.Time.After(s.decidedAt) {
				if e.Probe.Buffer.Done {
					s.after = append(s.after, e.Time)
				} else {
					s.unended++
				}
			}
		}
	}
	return out
}

// A decided run leaves the in-flight count at once and keeps its buffer read about
// once a second until its settle window is over, the last reading at or after the
// deadline; Wait waits for that, WaitDecided does not; the window is on the run's
// start op.
func TestIntegrationSettleWindow(t *testing.T) {
	const settle = 2500 * time.Millisecond
	w, hw, buf := settleRig(t, settle)
	ctx := context.Background()
	w.Start(ctx)
	w.Start(ctx)
	w.WaitDecided()
	decided := time.Now()
	if n, st := w.InFlight(), w.Stats(); n != 0 || st.Completed != 2 {
		t.Fatalf("after WaitDecided: %d in flight, %+v; want none in flight, 2 completed", n, st)
	}
	w.Wait()
	if took := time.Since(decided); took < settle-time.Second {
		t.Errorf("Wait returned %s after every run was decided, want about the settle window %s", took, settle)
	}
	hw.Close()
	runs := settleOfRuns(t, buf)
	if len(runs) != 2 {
		t.Fatalf("%d runs in the history, want 2", len(runs))
	}
	for id, s := range runs {
		if s.settle == nil || s.settle.D() != settle {
			t.Errorf("%s: start op settle %v, want %s", id, s.settle, settle)
		}
		if s.decidedAt.IsZero() || len(s.after) < 3 {
			t.Fatalf("%s: decided %s, %d buffer readings with the sentinel after it, want 3 or more (once a second for %s)", id, s.decidedAt, len(s.after), settle)
		}
		if s.unended > 0 {
			t.Errorf("%s: %d readings after the decision without the end sentinel (the testbed keeps it)", id, s.unended)
		}
		last := s.after[len(s.after)-1]
		if last.Before(s.decidedAt.Add(settle)) || last.After(s.decidedAt.Add(settle+2*time.Second)) {
			t.Errorf("%s: last reading %s after the decision, want at or just after the window %s", id, last.Sub(s.decidedAt), settle)
		}
		for i := 1; i < len(s.after); i++ {
			if gap := s.after[i].Sub(s.after[i-1]); gap > 1500*time.Millisecond {
				t.Errorf("%s: %s between settle readings, want about a second", id, gap)
			}
		}
	}
}

// Cut short by the context (chaosd stops), the window simply ends: Wait returns at
// once and no reading reaches the deadline.
func TestIntegrationSettleWindowCutShort(t *testing.T) {
	const settle = time.Minute
	w, hw, buf := settleRig(t, settle)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w.Start(ctx)
	w.WaitDecided()
	time.Sleep(1500 * time.Millisecond)
	cancel()
	waited := make(chan struct{})
	go func() { w.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return within 5s of the context's end")
	}
	hw.Close()
	for id, s := range settleOfRuns(t, buf) {
		if len(s.after) == 0 {
			t.Errorf("%s: no reading in the settle window before it was cut short", id)
		}
		if n := len(s.after); n > 0 && !s.after[n-1].Before(s.decidedAt.Add(settle)) {
			t.Errorf("%s: a reading at the deadline of a window cut short", id)
		}
	}
}
