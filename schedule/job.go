package schedule

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"
)

// job is the cron job of one kind. It counts its skips itself, which
// cron.SkipIfStillRunning would not.
type job struct {
	kindSchedule
	s       *Scheduler
	id      cron.EntryID
	running atomic.Bool // waiting out the jitter or firing
}

var _ cron.Job = (*job)(nil)

// Run is one firing: skip it if the kind is still running, a gate is closed or another
// kind is firing; else wait out the jitter, check again, and fire.
func (j *job) Run() {
	s := j.s
	scheduled := s.scheduledTime(j.id)
	log := s.log.With(kindField(j.Kind), zap.Time(LogKeyScheduled, scheduled))
	if !j.running.CompareAndSwap(false, true) {
		s.skip(j.Kind, log, ReasonStillRunning, "the previous firing is still running")
		return
	}
	defer j.running.Store(false)

	ctx := s.runCtx()
	if r, why, blocked := s.blocked(ctx, j.Kind, scheduled); blocked {
		s.skip(j.Kind, log, r, why)
		return
	}
	var delay time.Duration
	if j.Jitter > 0 {
		delay = s.jitter(j.Jitter)
	}
	if err := sleep(ctx, delay); err != nil {
		s.skip(j.Kind, log, ReasonEnded, "stopped during the jitter delay")
		return
	}
	now := s.now()
	if r, why, blocked := s.blocked(ctx, j.Kind, now); blocked {
		s.skip(j.Kind, log, r, why+" (after the jitter delay)")
		return
	}
	if other, ok := s.acquire(j.Kind); !ok {
		s.skip(j.Kind, log, ReasonBusy, fmt.Sprintf("%s is firing", other))
		return
	}
	defer s.release()
	s.fireOnce(ctx, j.Kind, scheduled, now, delay, log)
}

// fireOnce calls Fire on a context that ends at the next quiet period, and counts a
// failure.
func (s *Scheduler) fireOnce(ctx context.Context, kind string, scheduled, now time.Time, delay time.Duration, log *zap.Logger) {
	if q := s.plan.nextQuietStart(now); !q.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, q)
		defer cancel()
	}
	fields := []zap.Field{zap.Duration(LogKeyDelay, delay)}
	if deadline, ok := ctx.Deadline(); ok {
		fields = append(fields, zap.Time("heal_by", deadline))
	}
	log.Info("fault firing", fields...)
	err := s.fire(ctx, kind, scheduled)
	took := time.Since(now)
	if err != nil {
		s.mu.Lock()
		st := s.stats[kind]
		st.Failed++
		s.stats[kind] = st
		s.mu.Unlock()
		log.Warn("fault failed", zap.Duration("took", took), zap.Error(err))
		return
	}
	log.Info("fault fired", zap.Duration("took", took))
}

// scheduledTime is the cron time of the firing that just started: the entry's Prev,
// which the cron sets before it answers the snapshot that Entry asks for.
func (s *Scheduler) scheduledTime(id cron.EntryID) time.Time {
	if e := s.cron.Entry(id); !e.Prev.IsZero() {
		return e.Prev.UTC()
	}
	return s.now().UTC().Truncate(time.Second)
}

func (s *Scheduler) runCtx() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ctx
}

// blocked says whether kind may not fire at t: Run ended, a gate is closed, or another
// kind is firing.
func (s *Scheduler) blocked(ctx context.Context, kind string, t time.Time) (Reason, string, bool) {
	if ctx.Err() != nil {
		return ReasonEnded, "the scheduler is stopping", true
	}
	if g, closed := s.plan.closedAt(t); closed {
		return g.Reason, g.What, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active != "" && s.active != kind {
		return ReasonBusy, fmt.Sprintf("%s is firing", s.active), true
	}
	return "", "", false
}

// acquire takes the one fault slot for kind and counts the firing, or says which
// kind holds the slot.
func (s *Scheduler) acquire(kind string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active != "" {
		return s.active, false
	}
	s.active = kind
	st := s.stats[kind]
	st.Fired++
	s.stats[kind] = st
	return "", true
}

func (s *Scheduler) release() {
	s.mu.Lock()
	s.active = ""
	s.mu.Unlock()
}

// skip counts a skipped firing and logs it: at info when faults collide, at debug for
// the gates, which skip firings by design.
func (s *Scheduler) skip(kind string, log *zap.Logger, r Reason, why string) {
	s.mu.Lock()
	st := s.stats[kind]
	st.Skipped.add(r)
	s.stats[kind] = st
	s.mu.Unlock()
	level := zap.DebugLevel
	if r == ReasonStillRunning || r == ReasonBusy {
		level = zap.InfoLevel
	}
	log.Log(level, "firing skipped", zap.String(LogKeyReason, string(r)), zap.String(LogKeyWhy, why))
}

// sleep waits d or until ctx ends, whichever is first.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
