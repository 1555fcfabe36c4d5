package schedule

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"

	"github.com/chaosd/chaosd/logging"
)

// ErrUnknownKind is returned for a kind that has no Entry.
var ErrUnknownKind = errors.New("unknown kind")

// Log field keys of this package, beside logging.KeyFault for the kind.
const (
	LogKeyScheduled = "scheduled" // the firing's cron time
	LogKeyReason    = "reason"    // why a firing was skipped
	LogKeyDelay     = "delay"     // the jitter waited
	LogKeyWhy       = "why"       // what closed the gate: `quiet "0 2 * * *" from ...`
)

// Fire injects one fault of kind, holds it and heals it, returning when it is healed.
// scheduled is the cron time of the firing (before jitter). ctx ends when Run's
// context does, or when the next quiet period begins: a fault still held then should
// heal at once, on a context of its own (context.WithoutCancel).
type Fire func(ctx context.Context, kind string, scheduled time.Time) error

// Planned is a coming firing.
type Planned struct {
	Kind string
	At   time.Time // the cron time, before jitter
}

// Scheduler fires faults on their cron schedules, one at a time.
type Scheduler struct {
	plan   *compiled
	fire   Fire
	log    *zap.Logger
	cron   *cron.Cron
	jobs   []*job
	now    func() time.Time
	jitter func(max time.Duration) time.Duration // a delay in [0, max)

	mu     sync.Mutex
	stats  Stats
	active string          // the kind whose Fire is running, "" if none
	ctx    context.Context // Run's, set once Run starts
	state  runState

	cronStopped atomic.Bool // set before the cron is stopped
}

type runState int

const (
	notStarted runState = iota
	running
	stopped
)

// New checks cfg and prepares a Scheduler that calls fire; a zero cfg.Start means now.
func New(cfg Config, fire Fire, log *zap.Logger) (*Scheduler, error) {
	if fire == nil {
		return nil, errors.New("schedule: fire is nil")
	}
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Now()
	}
	cfg.Start, cfg.End = cfg.Start.UTC(), cfg.End.UTC()
	plan, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	s := &Scheduler{
		plan:   plan,
		fire:   fire,
		log:    log,
		now:    time.Now,
		jitter: uniform,
		stats:  make(Stats, len(plan.entries)),
	}
	s.cron = cron.New(cron.WithLocation(time.UTC), cron.WithParser(parser), cron.WithLogger(cronLogger{log, &s.cronStopped}))
	for _, e := range plan.entries {
		j := &job{s: s, kindSchedule: e}
		j.id = s.cron.Schedule(e.sched, j)
		s.jobs = append(s.jobs, j)
		s.stats[e.Kind] = KindStats{}
	}
	return s, nil
}

func uniform(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(max)))
}

// Run fires faults until ctx ends or End passes, then stops the cron and returns once
// a fire in progress has returned (its context is cancelled, so it heals). Run works
// once; a second call returns at once.
func (s *Scheduler) Run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	if s.state != notStarted {
		s.mu.Unlock()
		s.log.Error("schedule: Run called again; it runs once")
		return
	}
	s.state, s.ctx = running, ctx
	s.mu.Unlock()

	s.cron.Start()
	s.logStart()
	var end <-chan time.Time
	if e := s.plan.cfg.End; !e.IsZero() {
		t := time.NewTimer(time.Until(e))
		defer t.Stop()
		end = t.C
	}
	select {
	case <-ctx.Done():
	case <-end:
	}
	cancel()
	s.cronStopped.Store(true)
	<-s.cron.Stop().Done()

	s.mu.Lock()
	s.state = stopped
	s.mu.Unlock()
	t := s.Stats().Total()
	s.log.Info("schedule stopped", zap.Int("fired", t.Fired), zap.Int("failed", t.Failed), zap.Int("skipped", t.Skipped.Total()))
}

func (s *Scheduler) logStart() {
	fields := []zap.Field{zap.Time("start", s.plan.cfg.Start)}
	if !s.plan.cfg.End.IsZero() {
		fields = append(fields, zap.Time("end", s.plan.cfg.End))
	}
	for _, p := range s.Upcoming(len(s.jobs)) {
		fields = append(fields, zap.Time("next "+p.Kind, p.At))
	}
	s.log.Info("schedule started", fields...)
}

// Stats returns a copy of the counts so far, one entry per kind.
func (s *Scheduler) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(Stats, len(s.stats))
	for k, v := range s.stats {
		out[k] = v
	}
	return out
}

// InQuiet says whether no fault may fire at t and why: "warmup until ...",
// "cooldown", "ended", or `quiet "0 2 * * *" from ... until ...`.
func (s *Scheduler) InQuiet(t time.Time) (bool, string) {
	g, closed := s.plan.closedAt(t)
	if !closed {
		return false, ""
	}
	if !g.Until.IsZero() {
		return true, fmt.Sprintf("%s until %s", g.What, g.Until.Format(time.RFC3339))
	}
	return true, g.What
}

// Upcoming returns the next n firings, in time order, that no warmup, cooldown, quiet
// window or end would skip. A firing may still be skipped because its kind or another
// is running then. Once Run has returned there are none.
func (s *Scheduler) Upcoming(n int) []Planned {
	s.mu.Lock()
	state := s.state
	s.mu.Unlock()
	if state == stopped || n <= 0 {
		return nil
	}
	now := s.now().UTC()
	next := make([]time.Time, len(s.jobs))
	for i, j := range s.jobs {
		var t time.Time
		if state == running {
			t = s.cron.Entry(j.id).Next // the cron's own timeline, which matters for @every
		}
		if t.IsZero() || t.Before(now) {
			t = j.sched.Next(now)
		}
		next[i] = s.plan.openFrom(j.sched, t)
	}
	var out []Planned
	for len(out) < n {
		i := earliest(next)
		if i < 0 {
			break
		}
		out = append(out, Planned{Kind: s.jobs[i].Kind, At: next[i]})
		next[i] = s.plan.nextOpen(s.jobs[i].sched, next[i])
	}
	return out
}

// earliest is the index of the earliest non-zero time, -1 if all are zero.
func earliest(ts []time.Time) int {
	best := -1
	for i, t := range ts {
		if !t.IsZero() && (best < 0 || t.Before(ts[best])) {
			best = i
		}
	}
	return best
}

// cronLogger hands robfig/cron's logs to zap: its chatty info at debug, and none once
// the scheduler stops (the cron logs "stop" after Stop has returned, which could be
// after Run has, and a logger's owner may be gone by then).
type cronLogger struct {
	log     *zap.Logger
	stopped *atomic.Bool
}

func (l cronLogger) Info(msg string, kv ...any) {
	if l.stopped.Load() {
		return
	}
	if ce := l.log.Check(zap.DebugLevel, "cron: "+msg); ce != nil {
		ce.Write(kvFields(kv)...)
	}
}

func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kvFields(kv), zap.Error(err))...)
}

func kvFields(kv []any) []zap.Field {
	fields := make([]zap.Field, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		fields = append(fields, zap.Any(fmt.Sprint(kv[i]), kv[i+1]))
	}
	return fields
}

var _ cron.Logger = cronLogger{}

// kindField names the kind in logs with the key the faults package uses.
func kindField(kind string) zap.Field { return zap.String(logging.KeyFault, kind) }
