package schedule

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Entry is the schedule of one fault kind.
type Entry struct {
	Kind   string        // fault kind, handed to Fire; one Entry per kind
	Spec   string        // cron spec: "*/10 * * * *", "30 */5 * * * *", "@every 45s", "@hourly"
	Jitter time.Duration // each firing waits a uniform random delay in [0, Jitter) first
}

// Quiet is a recurring quiet window: one opens at each firing of Spec and lasts For.
// No fault fires inside one. E.g. {"0 2 * * *", 30 * time.Minute} for 02:00-02:30 UTC.
type Quiet struct {
	Spec string
	For  time.Duration
}

// Config is what the scheduler needs to know about a soak.
type Config struct {
	Entries  []Entry
	Quiet    []Quiet
	Warmup   time.Duration // no faults before Start+Warmup
	Cooldown time.Duration // no faults at or after End-Cooldown: the final quiet check
	Start    time.Time     // the soak's start; New uses the current time when zero
	End      time.Time     // the soak's end; zero means open-ended
}

// parser accepts five fields, six with seconds first, and descriptors, as cron.New's
// default does not (it has no seconds).
var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// gapSamples is how many consecutive firings the gap checks look at.
const gapSamples = 16

// FieldError is one problem of a Config: the field, the value found there, and what is
// wrong with it. Error reads `schedule entry "kill": spec "61 * * * *": ...`.
type FieldError struct {
	Field string // e.g. `schedule entry "kill": spec`
	Value any
	Err   error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s %s: %v", e.Field, show(e.Value), e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

func show(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("%q", v)
	case time.Time:
		return v.UTC().Format(time.RFC3339)
	case nil:
		return "unset"
	}
	return fmt.Sprint(v)
}

// errs collects FieldErrors in the order they are found.
type errs []error

func (e *errs) add(field string, value any, msg string, args ...any) {
	*e = append(*e, &FieldError{Field: field, Value: value, Err: fmt.Errorf(msg, args...)})
}

// Validate checks cfg; the errors, all *FieldError, are joined in field order.
func Validate(cfg Config) error {
	_, err := compile(cfg)
	return err
}

// compiled is a validated Config with its specs parsed.
type compiled struct {
	cfg     Config
	entries []kindSchedule
	quiet   []quietSchedule
}

type kindSchedule struct {
	Entry
	sched cron.Schedule
}

type quietSchedule struct {
	Quiet
	sched cron.Schedule
}

func compile(cfg Config) (*compiled, error) {
	var e errs
	c := &compiled{cfg: cfg}
	seen := map[string]int{}
	for i, en := range cfg.Entries {
		name := fmt.Sprintf("schedule entry %q", en.Kind)
		if en.Kind == "" {
			name = fmt.Sprintf("schedule entry[%d]", i)
			e.add(name+": kind", en.Kind, "must not be empty")
		} else if j, dup := seen[en.Kind]; dup {
			e.add(fmt.Sprintf("schedule entry[%d]: kind", i), en.Kind, "duplicate of entry[%d]: one schedule per kind", j)
		} else {
			seen[en.Kind] = i
		}
		sched, ok := parseSpec(&e, name+": spec", en.Spec, true)
		if en.Jitter < 0 {
			e.add(name+": jitter", en.Jitter, "must not be negative")
		} else if ok && en.Jitter > 0 {
			if gap := minGap(sched, cfg.Start); en.Jitter >= gap {
				e.add(name+": jitter", en.Jitter, "must be shorter than the %s between firings", gap)
			}
		}
		c.entries = append(c.entries, kindSchedule{Entry: en, sched: sched})
	}
	for i, q := range cfg.Quiet {
		name := fmt.Sprintf("schedule quiet[%d]", i)
		sched, ok := parseSpec(&e, name+": spec", q.Spec, false)
		if q.For <= 0 {
			e.add(name+": for", q.For, "must be positive")
		} else if ok {
			if gap := minGap(sched, cfg.Start); q.For >= gap {
				e.add(name+": for", q.For, "must be shorter than the %s between firings of %q, or no fault would ever fire", gap, q.Spec)
			}
		}
		c.quiet = append(c.quiet, quietSchedule{Quiet: q, sched: sched})
	}
	cfg.validateSpan(&e)
	if len(e) > 0 {
		return nil, errors.Join(e...)
	}
	return c, nil
}

func (cfg Config) validateSpan(e *errs) {
	if cfg.Warmup < 0 {
		e.add("schedule warmup", cfg.Warmup, "must not be negative")
	}
	if cfg.Cooldown < 0 {
		e.add("schedule cooldown", cfg.Cooldown, "must not be negative")
	}
	if cfg.End.IsZero() {
		return
	}
	switch {
	case cfg.Start.IsZero():
		e.add("schedule start", nil, "must be set when end is set")
	case !cfg.End.After(cfg.Start):
		e.add("schedule end", cfg.End, "must be after start %s", show(cfg.Start))
	case cfg.Warmup >= 0 && cfg.Cooldown >= 0 && cfg.Warmup+cfg.Cooldown >= cfg.End.Sub(cfg.Start):
		e.add("schedule warmup + cooldown", cfg.Warmup+cfg.Cooldown,
			"must be shorter than the span %s (warmup %s, cooldown %s): no fault could fire",
			cfg.End.Sub(cfg.Start), cfg.Warmup, cfg.Cooldown)
	}
}

// parseSpec parses spec, adding an error to e if it does not parse, is not in UTC,
// never fires, or is an @every descriptor where one is not allowed (quiet windows need
// fixed firing times; @every counts from whenever it is asked).
func parseSpec(e *errs, field, spec string, everyOK bool) (cron.Schedule, bool) {
	sched, err := parser.Parse(spec)
	if err != nil {
		e.add(field, spec, "%w", err)
		return nil, false
	}
	switch s := sched.(type) {
	case cron.ConstantDelaySchedule:
		if !everyOK {
			e.add(field, spec, "@every has no fixed firing times; use a cron spec such as \"0 2 * * *\"")
			return nil, false
		}
		d, _ := time.ParseDuration(strings.TrimSpace(strings.TrimPrefix(spec, "@every")))
		if d != s.Delay {
			e.add(field, spec, "@every must be a whole number of seconds, at least 1s (cron would use %s)", s.Delay)
			return nil, false
		}
	case *cron.SpecSchedule:
		if s.Location != time.Local && s.Location != time.UTC {
			e.add(field, spec, "schedules run in UTC; drop the time zone %s", s.Location)
			return nil, false
		}
	}
	if sched.Next(reference(time.Time{})).IsZero() {
		e.add(field, spec, "never fires")
		return nil, false
	}
	return sched, true
}

// reference is where gap checks start: start, or a fixed instant when start is unset,
// so that Validate does not depend on the clock.
func reference(start time.Time) time.Time {
	if start.IsZero() {
		return time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return start.UTC()
}

// minGap is the shortest time between consecutive firings of sched among the first
// gapSamples after start: exact for @every and regular specs, a sample for others.
func minGap(sched cron.Schedule, start time.Time) time.Duration {
	t := sched.Next(reference(start))
	gap := time.Duration(1<<63 - 1)
	for range gapSamples {
		n := sched.Next(t)
		if n.IsZero() {
			break
		}
		gap = min(gap, n.Sub(t))
		t = n
	}
	return gap
}
