package testbed

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/chaosd/chaosd/logging"
)

// How a pod of today's mesh comes to resume a run (the label of runs_resumed_total).
const (
	resumedRestart  = "restart"  // it booted under the name whose executor id the run's gate is PENDING on
	resumedHandover = "handover" // its queue poll dequeued a gate that a graceful stop put back
)

// errBusy is a dequeued gate whose thread this pod is dispatching already.
var errBusy = errors.New("the run is dispatched here already")

// current reports whether the pod stands in for today's mesh.
func (p *Pod) current() bool { return p.cfg.Mesh == MeshCurrent }

// recoverOwn is DBOS's recovery at launch: the pod resumes every thread-gate workflow
// PENDING on its executor id, which an earlier process under its name left (killed, or
// stopped without a hand-over). restart-no-recover leaves them.
func (p *Pod) recoverOwn(ctx context.Context) {
	bo := newBackoff(200*time.Millisecond, 2*time.Second)
	var gates []gateRow
	for {
		var err error
		if gates, err = p.st.pendingGates(ctx, p.cfg.Executor()); err == nil {
			break
		}
		p.log.Warn("cannot list this pod's pending workflows; retrying", zap.Error(err))
		if bo.wait(ctx) != nil {
			return
		}
	}
	if len(gates) > 0 && p.bug(BugRestartNoRecover) {
		p.log.Warn("restart-no-recover: leaving this pod's pending workflows unrecovered", zap.Int("workflows", len(gates)))
		return
	}
	for _, g := range gates {
		p.recoverGate(ctx, g)
	}
}

// recoverGate resumes the run of one of this pod's pending gates.
func (p *Pod) recoverGate(ctx context.Context, g gateRow) {
	if !p.runs.reserve(g.thread) {
		return
	}
	var a resumption
	stale := false
	err := p.st.tx(ctx, func(tx pgx.Tx) error {
		var err error
		if a, err = resumeAttempt(ctx, tx, g.thread, g.id, p.cfg.Executor()); errors.Is(err, errNotFound) {
			stale = true
			return endStaleGate(ctx, tx, g.id)
		}
		return err
	})
	if err == nil && stale {
		err = errNotFound
	}
	if err != nil {
		p.runs.release(g.thread)
		if !errors.Is(err, errNotFound) {
			p.log.Warn("cannot recover a pending workflow", zap.String("workflow", g.id), zap.Error(err))
		}
		return
	}
	p.resume(a, resumedRestart)
}

// queueLoop polls the thread-gate queue every QueuePoll and resumes one handed-over
// run per poll (and keeps the stream buffer created, as the May heartbeat loop does).
func (p *Pod) queueLoop(ctx context.Context) {
	t := time.NewTicker(p.cfg.QueuePoll)
	defer t.Stop()
	failing := false
	for {
		if p.freeze.wait(ctx) != nil {
			return
		}
		err := errors.Join(p.buf.verify(ctx), p.dequeue(ctx))
		if ctx.Err() != nil {
			return
		}
		failing = p.logTransition(failing, err, "queue poll failing", "queue poll restored")
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// dequeue takes one ENQUEUED gate and starts its next attempt here, in one
// transaction: a gate whose thread runs here already stays on the queue, and one whose
// run ended meanwhile ends ERROR.
func (p *Pod) dequeue(ctx context.Context) error {
	var a resumption
	var thread string
	stale := false
	err := p.st.tx(ctx, func(tx pgx.Tx) error {
		gate, th, err := dequeueGate(ctx, tx, p.cfg.Executor())
		if err != nil {
			return err
		}
		if !p.runs.reserve(th) {
			return errBusy
		}
		thread = th
		if a, err = resumeAttempt(ctx, tx, th, gate, p.cfg.Executor()); errors.Is(err, errNotFound) {
			stale = true
			return endStaleGate(ctx, tx, gate)
		}
		return err
	})
	if err == nil && stale {
		err = errNotFound
	}
	if err != nil && thread != "" {
		p.runs.release(thread)
	}
	switch {
	case errors.Is(err, errNotFound), errors.Is(err, errBusy):
		return nil
	case err != nil:
		return fmt.Errorf("dequeue: %w", err)
	}
	p.resume(a, resumedHandover)
	return nil
}

// resume dispatches a's attempt; the caller has reserved its thread.
func (p *Pod) resume(a resumption, how string) {
	p.log.Info("took run over", zap.String(logging.KeyThread, a.thread), zap.String("how", how), zap.Int64("fence", a.fence))
	p.metrics.runsResumed.WithLabelValues(how).Inc()
	p.dispatch(&run{thread: a.thread, org: a.org, cfg: a.cfg, resume: true, fence: a.fence})
}

// reapLoop fails, every ReaperAfter/2 (mesh's 5 min sweep of a 10 min timeout), every
// in-progress run that made no progress for ReaperAfter, so that no run stays in
// progress forever: a pod killed and never restarted leaves its runs to it.
func (p *Pod) reapLoop(ctx context.Context) {
	t := time.NewTicker(p.cfg.ReaperAfter / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if p.freeze.wait(ctx) != nil {
			return
		}
		ids, err := p.st.reapStale(ctx, p.cfg.ReaperAfter)
		if err != nil {
			p.log.Debug("reaper: cannot sweep", zap.Error(err))
			continue
		}
		for _, id := range ids {
			p.metrics.runsReaped.Inc()
			p.log.Warn("run reaped: no progress within the reaper timeout", zap.String(logging.KeyThread, id), zap.Duration("after", p.cfg.ReaperAfter))
		}
	}
}

// noteProgress moves the run's last_progress_at (the reaper's clock) in the
// background, at most every progressEvery and one write at a time, so that a slow
// Postgres never slows the stream.
func (p *Pod) noteProgress(r *run) {
	if !p.current() || time.Since(r.bumped) < p.progressEvery() || r.bumping.Load() || !p.trackBackground() {
		return
	}
	r.bumped = time.Now()
	r.bumping.Store(true)
	go func() {
		defer p.bgWG.Done()
		defer r.bumping.Store(false)
		if err := p.st.bumpProgress(p.work, r.thread, r.fence); err != nil {
			r.log.Debug("cannot record progress", zap.Error(err))
		}
	}()
}

// progressEvery is how often a run records its progress: well inside the reaper's
// timeout.
func (p *Pod) progressEvery() time.Duration { return min(time.Second, p.cfg.ReaperAfter/4) }

// drain is today's graceful stop (index.ts gracefulShutdown): readiness answers 503
// and starts are refused at once; the pod's runs stop; then its thread-gate workflows
// go back on the queue with their children CANCELLED (handOffInFlightThreadGates), for
// another pod's poll to resume. DrainTimeout bounds it all: what is not done by then
// is left as a SIGKILL leaves it.
func (p *Pod) drain() {
	p.stopping.Store(true)
	p.log.Info("pod draining: stopping its runs and handing their gate workflows back to the queue", zap.Duration("drain_timeout", p.cfg.DrainTimeout))
	ctx, cancel := context.WithTimeout(p.life, p.cfg.DrainTimeout)
	defer cancel()
	p.stopAll()
	stopped := make(chan struct{})
	go func() {
		p.runWG.Wait()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-ctx.Done():
		p.log.Warn("runs still stopping when the drain timed out")
	}
	lose := p.bug(BugHandoverLosesRun)
	n, err := p.st.handOffGates(ctx, p.cfg.Executor(), lose)
	switch {
	case err != nil:
		p.log.Warn("could not hand the gate workflows over: they stay PENDING on this executor", zap.Error(err))
	case lose && n > 0:
		p.log.Warn("handover-loses-run: gate workflows CANCELLED instead of put back on the queue", zap.Int64("workflows", n))
	case n > 0:
		p.metrics.gatesHandedOff.Add(float64(n))
		p.log.Info("gate workflows put back on the queue", zap.Int64("workflows", n))
	}
	if err := p.srv.Shutdown(ctx); err != nil {
		p.log.Warn("http shutdown", zap.Error(err))
	}
	p.closeAll()
	p.log.Info("pod stopped")
}
