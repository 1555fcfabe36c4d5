package schedule

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// Reason says why a firing was skipped.
type Reason string

// Reasons for a skipped firing.
const (
	ReasonStillRunning Reason = "still-running" // the same kind was still waiting or firing
	ReasonBusy         Reason = "busy"          // another kind was firing: one fault at a time
	ReasonQuiet        Reason = "quiet"         // inside a quiet window
	ReasonWarmup       Reason = "warmup"        // before Start+Warmup
	ReasonCooldown     Reason = "cooldown"      // at or after End-Cooldown
	ReasonEnded        Reason = "ended"         // at or after End, or the run was stopped
)

// maxSteps bounds the searches over firings, which stop at End anyway.
const maxSteps = 100000

// gate says why no fault may fire at some instant, and until when.
type gate struct {
	Reason Reason
	What   string    // "warmup", `quiet "0 2 * * *"`, ...
	Until  time.Time // when faults may fire again; zero if never
}

// closedAt returns the gate closed at t, if any: ended, then cooldown, warmup, and
// the quiet windows in config order.
func (c *compiled) closedAt(t time.Time) (gate, bool) {
	t = t.UTC()
	cfg := c.cfg
	if !cfg.End.IsZero() {
		if !t.Before(cfg.End) {
			return gate{Reason: ReasonEnded, What: "ended"}, true
		}
		if cfg.Cooldown > 0 && !t.Before(cfg.End.Add(-cfg.Cooldown)) {
			return gate{Reason: ReasonCooldown, What: "cooldown"}, true
		}
	}
	if cfg.Warmup > 0 && t.Before(cfg.Start.Add(cfg.Warmup)) {
		return gate{Reason: ReasonWarmup, What: "warmup", Until: cfg.Start.Add(cfg.Warmup).UTC()}, true
	}
	for _, q := range c.quiet {
		if from, until, ok := q.window(t); ok {
			return gate{Reason: ReasonQuiet, What: fmt.Sprintf("quiet %q from %s", q.Spec, from.Format(time.RFC3339)), Until: until}, true
		}
	}
	return gate{}, false
}

// window returns the quiet window of q that holds t: [f, f+For) for the latest firing
// f <= t, if f+For > t.
//
// robfig's schedules only say Next, so the window is found forwards: Next(t-For) is
// the first firing strictly after t-For. If it is after t, no firing lies in
// (t-For, t] and t is not quiet; otherwise t is quiet, and stepping on with Next while
// the firings stay <= t finds the latest one, whose window ends last. Firings are on
// whole seconds and Next is strict, so a window holds its first instant and not its
// last. Times are taken in UTC, which has no daylight saving to skip or repeat hours.
func (q quietSchedule) window(t time.Time) (from, until time.Time, ok bool) {
	t = t.UTC()
	f := q.sched.Next(t.Add(-q.For))
	if f.IsZero() || f.After(t) {
		return time.Time{}, time.Time{}, false
	}
	for range maxSteps {
		g := q.sched.Next(f)
		if g.IsZero() || g.After(t) {
			break
		}
		f = g
	}
	return f, f.Add(q.For), true
}

// nextQuietStart is when the next quiet period after t begins: the first quiet
// window opening after t or the cooldown, whichever is first; zero if none.
func (c *compiled) nextQuietStart(t time.Time) time.Time {
	t = t.UTC()
	var next time.Time
	if !c.cfg.End.IsZero() {
		next = c.cfg.End.Add(-c.cfg.Cooldown).UTC()
	}
	for _, q := range c.quiet {
		if n := q.sched.Next(t); !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	return next
}

// nextOpen returns the first firing of sched after after, in the timeline that
// starts at after, at which no gate is closed; zero if there is none before End (or
// within maxSteps firings).
func (c *compiled) nextOpen(sched cron.Schedule, after time.Time) time.Time {
	return c.openFrom(sched, sched.Next(after.UTC()))
}

// openFrom returns t if it is open, else the first later firing of sched (in the
// timeline through t) that is.
func (c *compiled) openFrom(sched cron.Schedule, t time.Time) time.Time {
	for range maxSteps {
		if t.IsZero() {
			return time.Time{}
		}
		g, closed := c.closedAt(t)
		if !closed {
			return t
		}
		if g.Until.IsZero() {
			return time.Time{}
		}
		t = skipTo(sched, t, g.Until)
	}
	return time.Time{}
}

// skipTo returns the first firing of sched at or after open, in the timeline through
// t (a firing): for @every, t plus whole delays; for cron specs, the next match.
func skipTo(sched cron.Schedule, t, open time.Time) time.Time {
	if !t.Before(open) {
		return sched.Next(t)
	}
	if every, ok := sched.(cron.ConstantDelaySchedule); ok {
		k := (open.Sub(t) + every.Delay - 1) / every.Delay
		return t.Add(k * every.Delay)
	}
	return sched.Next(open.Add(-time.Nanosecond))
}

// Next returns the first firing of kind after after that would not be skipped for
// warmup, cooldown, a quiet window or the end: zero if there is none. An @every
// schedule counts from after (the running scheduler counts from Run). Still-running
// and busy skips depend on how long faults take and are not foreseen.
func (c Config) Next(kind string, after time.Time) (time.Time, error) {
	cc, err := compile(c)
	if err != nil {
		return time.Time{}, err
	}
	for _, e := range cc.entries {
		if e.Kind == kind {
			return cc.nextOpen(e.sched, after), nil
		}
	}
	return time.Time{}, fmt.Errorf("schedule: kind %q: %w", kind, ErrUnknownKind)
}
