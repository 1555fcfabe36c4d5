package testbed

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/chaosd/chaosd/logging"
)

// Ways a watcher finds a run to take over (the label of runs_resumed_total).
const (
	foundOrphan   = "orphan"   // its owner's heartbeat is gone or stale
	foundReleased = "released" // its owner gave it up (graceful stop, handover)
	foundAdopted  = "adopted"  // it is ours by name but no dispatcher here runs it (we restarted)
)

// watchLoop scans for runs to take over every heartbeat interval, and at once when a
// heartbeat key is deleted (a pod stopping gracefully).
func (p *Pod) watchLoop(ctx context.Context) {
	trigger := make(chan struct{}, 1)
	if p.trackBackground() {
		go func() {
			defer p.bgWG.Done()
			p.watchDeletes(ctx, trigger)
		}()
	}
	t := time.NewTicker(p.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		if p.freeze.wait(ctx) != nil {
			return
		}
		p.scan(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-trigger:
		}
	}
}

// watchDeletes pokes trigger whenever a heartbeat key is deleted or purged.
func (p *Pod) watchDeletes(ctx context.Context, trigger chan<- struct{}) {
	for ctx.Err() == nil {
		kv, _ := p.hb.bucket(ctx)
		if kv == nil {
			_ = sleep(ctx, p.cfg.HeartbeatInterval)
			continue
		}
		w, err := kv.WatchAll(ctx, jetstream.UpdatesOnly())
		if err != nil {
			_ = sleep(ctx, p.cfg.HeartbeatInterval)
			continue
		}
		for e := range w.Updates() {
			if e != nil && (e.Operation() == jetstream.KeyValueDelete || e.Operation() == jetstream.KeyValuePurge) {
				select {
				case trigger <- struct{}{}:
				default:
				}
			}
		}
		_ = w.Stop()
	}
}

// scan takes over every in-progress run whose owner is dead (heartbeat gone or older
// than the TTL), that was released, or that is ours but not running here. It judges
// nobody when it cannot see the bucket, when its own heartbeat is not visible (it is
// the one cut off), or when the bucket is younger than a TTL (after a NATS restart
// live pods have not re-written their keys yet).
func (p *Pod) scan(ctx context.Context) {
	kv, err := p.hb.bucket(ctx)
	if kv == nil {
		return
	}
	b, err := p.hb.read(ctx, kv)
	now := time.Now()
	if err != nil || !b.alive(p.cfg.PodName, p.cfg.HeartbeatTTL, now) {
		return
	}
	judge := b.age >= p.cfg.HeartbeatTTL
	rows, err := p.st.inProgressRuns(ctx)
	if err != nil {
		p.log.Debug("orphan scan: cannot list runs", zap.Error(err))
		return
	}
	for _, t := range rows {
		if how, dead := p.classify(t, b, judge, now); how != "" {
			p.takeOver(ctx, t, how, dead)
		}
	}
}

// classify says whether and how this pod should take t over.
func (p *Pod) classify(t thread, b beats, judge bool, now time.Time) (how string, dead *string) {
	switch {
	case t.Owner == nil:
		if p.runs.coolingDown(t.ID, now) {
			return "", nil
		}
		return foundReleased, nil
	case *t.Owner == p.cfg.PodName:
		return foundAdopted, nil
	case !judge || b.alive(*t.Owner, p.cfg.HeartbeatTTL, now):
		return "", nil
	}
	return foundOrphan, t.Owner
}

// takeOver claims t in Postgres first, then resumes it from the buffer.
func (p *Pod) takeOver(ctx context.Context, t thread, how string, dead *string) {
	if p.stopping.Load() || !p.runs.reserve(t.ID) {
		return // stopping, or it runs here already
	}
	cfg, ok, err := p.claim(ctx, t, how, dead)
	log := p.log.With(zap.String(logging.KeyThread, t.ID), zap.String("found", how))
	if dead != nil {
		log = log.With(zap.String("dead_owner", *dead))
	}
	if err != nil || !ok {
		p.runs.release(t.ID)
		p.metrics.claimsRefused.Inc()
		if p.bug(BugStrictClaim) && how == foundOrphan {
			log.Warn("cannot recover run: the claim failed (strict claim while the dead pod owns it)", zap.Error(err))
		} else if err != nil {
			log.Warn("cannot claim run", zap.Error(err))
		}
		return
	}
	log.Info("took run over")
	p.metrics.runsResumed.WithLabelValues(how).Inc()
	p.dispatch(&run{thread: t.ID, org: t.OrgID, cfg: cfg, resume: true})
}

func (p *Pod) claim(ctx context.Context, t thread, how string, dead *string) (runConfig, bool, error) {
	switch {
	case how == foundAdopted:
		return p.st.adoptRun(ctx, t.OrgID, t.ID, p.cfg.PodName)
	case p.bug(BugStrictClaim):
		return p.st.claimStrict(ctx, t.OrgID, t.ID, p.cfg.PodName)
	default:
		return p.st.claimOrphanedRun(ctx, t.OrgID, t.ID, p.cfg.PodName, dead)
	}
}
