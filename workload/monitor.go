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
	for _, p := range w.cfg.Pods {
		at := time.Now()
		w.record(history.ProbeEvent(history.ReadyProbe(p.Name, w.deps.Driver.Ready(ctx, p.URL)), at))
	}
	if heartbeats {
		at := time.Now()
		hs, err := w.deps.NATS.Heartbeats(ctx)
		w.record(history.ProbeEvent(history.HeartbeatsProbe(hs, err), at))
	}
}
