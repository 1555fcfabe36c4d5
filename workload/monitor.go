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
// bucket (a mesh without one). The bucket is read on a loop of its own: a frozen
// pod's readiness reading takes its whole timeout, and with the bucket read after
// it, a pause stretched the bucket's cadence from one tick to three, long enough for
// a key to be refreshed and overwritten unread (what looked like a missed refresh
// on the other pods at every pause injection).
func (w *Workload) Monitor(ctx context.Context, every time.Duration, heartbeats bool) {
	var wg sync.WaitGroup
	if heartbeats {
		wg.Go(func() { repeat(ctx, every, w.readHeartbeats) })
	}
	repeat(ctx, every, w.sampleCluster)
	wg.Wait()
}

// repeat calls sample now and then on every tick until ctx ends; a sample that
// outlasts a tick is followed by the next at once, not by a burst.
func repeat(ctx context.Context, every time.Duration, sample func(context.Context)) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		sample(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sampleCluster reads every pod's readiness, then the user checks.
func (w *Workload) sampleCluster(ctx context.Context) {
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
}

// readHeartbeats reads the heartbeat bucket once and records the reading.
func (w *Workload) readHeartbeats(ctx context.Context) {
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
