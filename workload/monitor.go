package workload

import (
	"context"
	"sync"
	"time"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/probes"
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
	// Pods are asked at once, each bounded, so that a frozen pod does not hold up
	// the readings of the others. A reading cut short by chaosd's own shutdown says
	// nothing about the cluster.
	var wg sync.WaitGroup
	for _, p := range w.Pods() {
		wg.Go(func() { w.Ready(ctx, p) })
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	w.userChecks(ctx)
	if heartbeats {
		at := time.Now()
		pods := w.Pods()
		names := make([]string, len(pods))
		for i, p := range pods {
			names[i] = p.Name
		}
		hs, err := w.deps.NATS.Heartbeats(ctx, names...)
		if ctx.Err() != nil {
			return
		}
		w.record(history.ProbeEvent(history.HeartbeatsProbe(hs, err), at))
	}
}

// readyTimeout bounds one readiness reading: a pod that takes longer is not ready.
const readyTimeout = 2 * time.Second

// Ready asks pod's readiness once and records the reading.
func (w *Workload) Ready(ctx context.Context, p Pod) bool {
	at := time.Now()
	rctx, cancel := context.WithTimeout(ctx, readyTimeout)
	r := w.deps.Driver.Ready(rctx, p.URL)
	cancel()
	if ctx.Err() != nil {
		return false
	}
	w.record(history.ProbeEvent(history.ReadyProbe(p.Name, r), at))
	return r.Ready
}

// userChecks reads every declared user check once; a check that could not be made is
// recorded as unobserved, with the check's name.
func (w *Workload) userChecks(ctx context.Context) {
	for _, c := range w.deps.UserChecks {
		at := time.Now()
		r := probes.RunUserCheck(ctx, c, w.deps.Driver, w.deps.Postgres, w.deps.NATS)
		if ctx.Err() != nil {
			return
		}
		p := history.Probe{Kind: history.ProbeUser, User: &history.UserCheck{Check: c.Name, Kind: c.Kind(), OK: r.OK, Detail: r.Detail}}
		if r.Err != nil {
			p.Err = r.Err.Error()
		}
		w.record(history.ProbeEvent(p, at))
	}
}
