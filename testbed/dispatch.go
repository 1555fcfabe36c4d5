package testbed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Outcomes of a dispatch that are not failures of the pod.
var (
	errFenced   = errors.New("fenced: another pod owns the run now")
	errStale    = errors.New("buffer re-read after a conflict")
	errHandover = errors.New("handed over: the provider is unreachable from this pod")
)

// run is one run this pod dispatches, fresh (it won claimRunStart) or resumed (it
// took the run over from a dead, stopped or stuck owner). In today's mesh each
// dispatch is one attempt, fenced by its fence token.
type run struct {
	thread, org string
	cfg         runConfig
	resume      bool
	fence       int64 // today's mesh: the attempt's threads.run_fence_token; 0 in May
	log         *zap.Logger

	prog    progress  // what the buffer holds of this run
	reply   string    // the text of the text-deltas in the buffer (today's mesh persists it)
	errText string    // the error chunk's text, once the run fails
	lastSeq uint64    // the subject's last sequence as this pod knows it: the fence
	bumped  time.Time // today's mesh: the last write of threads.last_progress_at
	bumping atomic.Bool
}

// dispatch runs r in the background until it ends, is fenced, handed over, or the
// pod stops. The caller has reserved r.thread in the registry.
func (p *Pod) dispatch(r *run) {
	if !p.track() {
		p.runs.release(r.thread)
		return
	}
	r.log = p.runLogger(r)
	p.metrics.runsActive.Inc()
	go func() {
		defer p.runWG.Done()
		defer p.metrics.runsActive.Dec()
		defer p.runs.release(r.thread)
		p.finishDispatch(r, p.drive(p.work, r))
	}()
}

func (p *Pod) finishDispatch(r *run, err error) {
	switch {
	case err == nil:
	case errors.Is(err, errFenced):
		p.metrics.fenced.Inc()
		r.log.Info("run stopped: another pod owns it now")
	case errors.Is(err, errHandover):
		p.handOver(r, err)
	case p.work.Err() != nil:
		r.log.Info("run interrupted: pod stopping")
	default:
		r.log.Error("run dispatch failed", zap.Error(err))
	}
}

// drive takes a run from whatever the buffer holds to its terminal status.
func (p *Pod) drive(ctx context.Context, r *run) error {
	r.log.Info("dispatching run")
	if err := p.prepare(ctx, r); err != nil {
		return err
	}
	if !r.prog.complete() {
		if err := p.streamReply(ctx, r); err != nil {
			return err
		}
	}
	if err := p.publishDone(ctx, r); err != nil {
		return err
	}
	status := StatusCompleted
	if r.prog.Errored {
		status = StatusFailed
	}
	if err := p.finish(ctx, r, status); err != nil {
		return err
	}
	p.schedulePurge(r.thread, r.lastSeq)
	return nil
}

// prepare reads the buffer. A resumed run goes on from what the buffer holds (unless
// a defect switch says otherwise). A fresh run closes and trims what earlier runs left
// on the subject, unless the buffer already holds some of this very run: then another
// pod took it over while this one could not reach NATS, and this one goes on like a
// resumer (its publishes are fenced like everyone's).
func (p *Pod) prepare(ctx context.Context, r *run) error {
	for {
		st, err := p.readBuffer(ctx, r)
		if err != nil {
			return err
		}
		r.prog, r.reply, r.lastSeq = st.prog, st.reply, st.lastSeq
		if r.resume {
			return p.resumeDefects(ctx, r, st)
		}
		if st.prog != (progress{}) {
			return nil
		}
		err = p.trimLeftovers(ctx, r, st)
		if !errors.Is(err, errStale) {
			return err
		}
	}
}

// resumeDefects applies the resume-time defect switches.
func (p *Pod) resumeDefects(ctx context.Context, r *run, st bufferState) error {
	r.log.Info("resuming run", zap.Int("buffered", st.count), zap.Int("text_bytes", r.prog.Text), zap.Bool("done", r.prog.Done))
	if p.bug(BugDuplicateOnResume) {
		r.prog = progress{}
	}
	if p.bug(BugPurgeOnResume) {
		if err := p.buf.purge(ctx, r.thread, 0); err != nil {
			return err
		}
		r.lastSeq = 0
	}
	return nil
}

// trimLeftovers ends an earlier run that left no done sentinel (fenced, like every
// publish) and purges everything before the subject's last message, so an attach
// replays only the new run. The subject is never emptied, so an owner that lost a run
// can never match "expect an empty subject".
func (p *Pod) trimLeftovers(ctx context.Context, r *run, st bufferState) error {
	if st.count == 0 {
		return nil
	}
	if !isDoneMessage(st.lastWas) {
		if err := p.publishRaw(ctx, r, encodeDone(r.fence)); err != nil {
			return err
		}
	}
	if st.count > 1 || !isDoneMessage(st.lastWas) {
		return p.buf.purge(ctx, r.thread, r.lastSeq)
	}
	return nil
}

func isDoneMessage(b []byte) bool {
	var e envelope
	return b != nil && json.Unmarshal(b, &e) == nil && e.Done
}

// readBuffer reads the run's progress from the buffer, retrying while NATS is away
// (and giving up once another pod owns the run).
func (p *Pod) readBuffer(ctx context.Context, r *run) (bufferState, error) {
	bo := newBackoff(100*time.Millisecond, 2*time.Second)
	for attempt := 1; ; attempt++ {
		st, err := p.buf.read(ctx, r.thread, messageIDFor(r.cfg.TaskID), r.fence)
		if err == nil {
			return st, nil
		}
		if attempt%5 == 0 && !p.stillOwner(ctx, r) {
			return st, errFenced
		}
		r.log.Warn("cannot read the stream buffer; retrying", zap.Error(err))
		if err := bo.wait(ctx); err != nil {
			return st, err
		}
	}
}

// streamReply streams the reply from the provider into the buffer, retrying with
// resume semantics: every attempt re-streams from the start and publishes only what
// the buffer lacks.
func (p *Pod) streamReply(ctx context.Context, r *run) error {
	pv, err := p.providerFor(ctx, r)
	var pe *providerErr
	if errors.As(err, &pe) {
		r.log.Warn("the run fails", zap.Error(pe))
		return p.failReply(ctx, r, pe.msg)
	}
	if err != nil {
		return err
	}
	var apiFails, netFails int
	bo := newBackoff(200*time.Millisecond, 2*time.Second)
	for {
		s, before := newScript(r.cfg.TaskID), r.prog.Text
		err := p.attempt(ctx, r, pv, s)
		if !errors.As(err, &pe) {
			return err
		}
		if r.prog.Text > before { // the stream broke after some progress: not "in a row"
			netFails = 0
			bo.reset()
		}
		if pe.api {
			p.metrics.providerErrors.WithLabelValues("api").Inc()
			if apiFails++; apiFails >= p.cfg.ProviderRetries {
				r.log.Warn("provider keeps failing; the run fails", zap.Error(pe))
				return p.failReply(ctx, r, pe.msg)
			}
		} else {
			p.metrics.providerErrors.WithLabelValues("transport").Inc()
			if netFails++; netFails >= p.cfg.HandoverAfter {
				return fmt.Errorf("%w: %v", errHandover, pe)
			}
		}
		r.log.Warn("provider attempt failed; retrying", zap.Error(pe), zap.Int("api_failures", apiFails), zap.Int("transport_failures", netFails))
		if err := bo.wait(ctx); err != nil {
			return err
		}
	}
}

// attempt is one provider call: begin (start, start-step), each delta, the end.
func (p *Pod) attempt(ctx context.Context, r *run, pv *provider, s *script) error {
	s.begun = true
	if err := p.sync(ctx, r, s); err != nil || r.prog.complete() {
		return err
	}
	err := pv.stream(ctx, r.cfg.Messages, func(delta string) error {
		s.add(delta)
		return p.sync(ctx, r, s)
	})
	if err != nil {
		return err
	}
	s.ended = true
	return p.sync(ctx, r, s)
}

// providerFor builds the provider client of the run's tier. A missing or unusable
// key is a permanent provider error: the run fails.
func (p *Pod) providerFor(ctx context.Context, r *run) (*provider, error) {
	bo := newBackoff(100*time.Millisecond, 2*time.Second)
	for {
		raw, err := p.st.providerKey(ctx, r.org, r.cfg.KeyID)
		if errors.Is(err, errNotFound) {
			return nil, &providerErr{api: true, permanent: true, msg: fmt.Sprintf("provider key %q not found", r.cfg.KeyID)}
		}
		if err == nil {
			cred, err := parseCredential(raw)
			if err != nil {
				return nil, &providerErr{api: true, permanent: true, msg: fmt.Sprintf("provider key %q unusable: %v", r.cfg.KeyID, err)}
			}
			return newProvider(p.providerHTTP, cred, r.cfg.ModelID, p.cfg.ProviderIdleTimeout), nil
		}
		r.log.Warn("cannot read the provider key; retrying", zap.Error(err))
		if err := bo.wait(ctx); err != nil {
			return nil, err
		}
	}
}

// failReply ends the run's reply with an error chunk; drive then publishes done and
// marks the thread failed.
func (p *Pod) failReply(ctx context.Context, r *run, msg string) error {
	s := newScript(r.cfg.TaskID)
	s.begun, s.errText = true, msg
	r.errText = msg
	return p.sync(ctx, r, s)
}

// sync publishes, in order, what the script has that the buffer lacks.
func (p *Pod) sync(ctx context.Context, r *run, s *script) error {
	for {
		chunks := s.pending(r.prog)
		if len(chunks) == 0 {
			return nil
		}
		err := p.publishRaw(ctx, r, encodeChunk(chunks[0], r.fence))
		if errors.Is(err, errStale) {
			continue // the buffer was re-read: recompute what is missing
		}
		if err != nil {
			return err
		}
		r.prog.apply(chunks[0])
		if chunks[0].Type == ChunkTextDelta {
			r.reply += chunks[0].Delta
		}
		p.metrics.chunksPublished.Inc()
		p.noteProgress(r)
	}
}

// publishDone ends the run's buffer with the done sentinel.
func (p *Pod) publishDone(ctx context.Context, r *run) error {
	for !r.prog.Done {
		err := p.publishRaw(ctx, r, encodeDone(r.fence))
		if errors.Is(err, errStale) {
			continue
		}
		if err != nil {
			return err
		}
		r.prog.Done = true
	}
	return nil
}

// publishRaw appends one message, fenced by the subject's last sequence. On a
// conflict it re-checks ownership in Postgres: lost -> errFenced; still owner -> the
// buffer is re-read and errStale tells the caller to recompute. Other failures (NATS
// away) are retried.
func (p *Pod) publishRaw(ctx context.Context, r *run, data []byte) error {
	bo := newBackoff(50*time.Millisecond, time.Second)
	for attempt := 1; ; attempt++ {
		if err := p.freeze.wait(ctx); err != nil {
			return err
		}
		seq, err := p.buf.publish(ctx, r.thread, data, r.lastSeq)
		switch {
		case err == nil:
			r.lastSeq = seq
			return nil
		case errors.Is(err, errConflict) && p.bug(BugZombieOwner):
			p.metrics.conflicts.Inc()
			if last, lerr := p.buf.lastSeq(ctx, r.thread); lerr == nil {
				r.log.Warn("zombie-owner: publish conflict taken for a stale sequence; publishing again without checking ownership",
					zap.Uint64("had", r.lastSeq), zap.Uint64("now", last))
				r.lastSeq = last
				continue
			}
		case errors.Is(err, errConflict):
			p.metrics.conflicts.Inc()
			return p.refence(ctx, r)
		case ctx.Err() != nil:
			return ctx.Err()
		}
		if attempt%10 == 0 && !p.stillOwner(ctx, r) {
			return errFenced
		}
		r.log.Warn("publish failed; retrying", zap.Error(err), zap.Int("attempt", attempt))
		if err := bo.wait(ctx); err != nil {
			return err
		}
	}
}

// stillOwner is false only when Postgres says another pod owns the run (or it
// ended); when Postgres cannot answer, the pod goes on as the owner. zombie-owner
// never asks.
func (p *Pod) stillOwner(ctx context.Context, r *run) bool {
	if p.bug(BugZombieOwner) {
		return true
	}
	owns, err := p.owns(ctx, r)
	return err != nil || owns
}

// owns asks Postgres whether r is still this pod's: in May its run_owner_pod, in
// today's mesh its fence (a later attempt has a higher one).
func (p *Pod) owns(ctx context.Context, r *run) (bool, error) {
	if p.current() {
		return p.st.holdsFence(ctx, r.thread, r.cfg.TaskID, r.fence)
	}
	return p.st.owns(ctx, r.thread, p.cfg.PodName, r.cfg.TaskID)
}

// refence handles a publish conflict.
func (p *Pod) refence(ctx context.Context, r *run) error {
	bo := newBackoff(100*time.Millisecond, 2*time.Second)
	for {
		owns, err := p.owns(ctx, r)
		if err == nil && !owns {
			return errFenced
		}
		if err == nil {
			st, rerr := p.buf.read(ctx, r.thread, messageIDFor(r.cfg.TaskID), r.fence)
			if rerr == nil {
				r.log.Info("buffer changed under us; still the owner, going on from the buffer", zap.Int("text_bytes", st.prog.Text))
				r.prog, r.reply, r.lastSeq = st.prog, st.reply, st.lastSeq
				return errStale
			}
			err = rerr
		}
		r.log.Warn("cannot settle a publish conflict; retrying", zap.Error(err))
		if err := bo.wait(ctx); err != nil {
			return err
		}
	}
}

// finish writes the terminal status, retrying until Postgres answers: an owner cut
// off from Postgres keeps its heartbeat, so nobody else will finish the run for it.
// In today's mesh the same statement ends the workflows and persists the reply, and
// only while the attempt holds the current fence.
func (p *Pod) finish(ctx context.Context, r *run, status string) error {
	bo := newBackoff(100*time.Millisecond, 2*time.Second)
	for {
		var ok bool
		var err error
		if p.current() {
			ok, err = p.st.finishAttempt(ctx, r, status, p.bug(BugPersistTwice))
		} else {
			ok, err = p.st.finishRun(ctx, r.thread, p.cfg.PodName, r.cfg.TaskID, status)
		}
		if err == nil && !ok {
			return errFenced
		}
		if err == nil {
			p.metrics.runsEnded.WithLabelValues(status).Inc()
			r.log.Info("run ended", zap.String("status", status))
			return nil
		}
		r.log.Warn("cannot mark the run ended; retrying", zap.Error(err))
		if err := bo.wait(ctx); err != nil {
			return err
		}
	}
}

// schedulePurge purges the run from the buffer after PurgeGrace, keeping the done
// sentinel. Mesh purges at once; the grace lets attached readers that are still
// replaying drain the run before its messages vanish under them.
func (p *Pod) schedulePurge(thread string, doneSeq uint64) {
	if !p.trackBackground() {
		return
	}
	go func() {
		defer p.bgWG.Done()
		if sleep(p.work, p.cfg.PurgeGrace) != nil {
			return
		}
		if err := p.buf.purge(p.work, thread, doneSeq); err != nil {
			p.log.Warn("purge after run failed", zap.String("thread", thread), zap.Error(err))
		}
	}()
}

// handOver releases a run this pod cannot stream, so another pod's watcher takes it;
// this pod's own watcher leaves it alone for a TTL. A run handed over too often fails.
// Today's mesh hands nothing over: its harness step is not retried, and a caught
// error publishes the failure (hosted-harness-workflow.ts publishHostedHarnessFailure).
func (p *Pod) handOver(r *run, cause error) {
	if p.current() {
		r.log.Warn("provider unreachable from this pod; the run fails (today's mesh does not hand it over)", zap.Error(cause))
		p.finishDispatch(r, p.endFailed(p.work, r, cause.Error()))
		return
	}
	ok, err := p.st.handOverRun(p.work, r.thread, p.cfg.PodName, r.cfg.TaskID)
	switch {
	case err != nil:
		r.log.Warn("could not hand the run over; a watcher will adopt it", zap.Error(err))
	case ok:
		p.runs.handedOver(r.thread, time.Now().Add(p.cfg.HeartbeatTTL))
		p.metrics.runsHandedOver.Inc()
		r.log.Warn("run handed over: provider unreachable from this pod", zap.Error(cause))
	default:
		r.log.Warn("provider unreachable and the run was handed over too often; it fails", zap.Error(cause))
		p.finishDispatch(r, p.endFailed(p.work, r, cause.Error()))
	}
}

// endFailed ends the run as failed: error chunk, done sentinel, status failed.
func (p *Pod) endFailed(ctx context.Context, r *run, msg string) error {
	if err := p.failReply(ctx, r, msg); err != nil {
		return err
	}
	if err := p.publishDone(ctx, r); err != nil {
		return err
	}
	if err := p.finish(ctx, r, StatusFailed); err != nil {
		return err
	}
	p.schedulePurge(r.thread, r.lastSeq)
	return nil
}
