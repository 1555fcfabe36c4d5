package workload

import (
	"context"
	"time"

	"github.com/chaosd/chaosd/history"
)

// Monitor samples what belongs to the cluster rather than to one run: every pod's
// readiness and the heartbeat bucket with its keys' ages. heartbeats false skips the
// bucket (a mesh without one).
func (w *Workload) Monitor(ctx context.Context, every time.Duration, heartbeats bool) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		w.sampleCluster(ctx, heartbeats)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (w *Workload) sampleCluster(ctx context.Context, heartbeats bool) {
	// A reading cut short by chaosd's own shutdown says nothing about the cluster.
	for _, p := range w.cfg.Pods {
		at := time.Now()
		r := w.deps.Driver.Ready(ctx, p.URL)
		if ctx.Err() != nil {
			return
		}
		w.record(history.ProbeEvent(history.ReadyProbe(p.Name, r), at))
	}
	if heartbeats {
		at := time.Now()
		hs, err := w.deps.NATS.Heartbeats(ctx)
		if ctx.Err() != nil {
			return
		}
		w.record(history.ProbeEvent(history.HeartbeatsProbe(hs, err), at))
	}
}

// Ready asks pod's readiness once and records the reading.
func (w *Workload) Ready(ctx context.Context, p Pod) bool {
	at := time.Now()
	r := w.deps.Driver.Ready(ctx, p.URL)
	if ctx.Err() != nil {
		return false
	}
	w.record(history.ProbeEvent(history.ReadyProbe(p.Name, r), at))
	return r.Ready
}
