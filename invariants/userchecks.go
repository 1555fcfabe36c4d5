package invariants

import (
	"fmt"
	"slices"
	"time"

	"github.com/chaosd/chaosd/history"
)

// UserChecks judges the readings of the checks declared in config, one verdict per
// check, named user:<check>. The probes that take the readings live with the config;
// this only judges them: a reading with OK false is a violation (SQL returned rows,
// HTTP answered non-2xx, a NATS stream or bucket is missing), one that could not be
// taken (Probe.Err, with User.Check naming the check) is unknown. A streak of
// failing readings is one violation. Cases: the readings taken; under fault: while a
// fault was in effect. A declared check never read is not-exercised.
type UserChecks struct {
	w      *World
	p      Params
	checks map[string]*userCheck
	order  []string
}

var _ Checker = (*UserChecks)(nil)

type userCheck struct {
	t       tally
	failing bool
	kind    string
}

func newUserChecks(w *World, p Params) *UserChecks {
	c := &UserChecks{w: w, p: p, checks: map[string]*userCheck{}}
	for _, name := range p.UserChecks {
		c.check(name)
	}
	return c
}

// Name implements Checker.
func (c *UserChecks) Name() string { return NameUserPrefix + "*" }

func (c *UserChecks) check(name string) *userCheck {
	uc := c.checks[name]
	if uc == nil {
		uc = &userCheck{t: newTally(c.w, NameUserPrefix+name, c.p.MaxEvidence)}
		c.checks[name] = uc
		c.order = append(c.order, name)
	}
	return uc
}

// Observe implements Checker.
func (c *UserChecks) Observe(e *history.Event) {
	if e.Type != history.TypeProbe || e.Probe.Kind != history.ProbeUser || e.Probe.User == nil || e.Probe.User.Check == "" {
		return
	}
	u := e.Probe.User
	uc := c.check(u.Check)
	uc.kind = u.Kind
	uf := c.w.AnyFault()
	if e.Probe.Err != "" {
		uc.t.undecided(uf, &Finding{At: e.Time, Message: fmt.Sprintf("user check %s could not be run at %s: %s", u.Check, clock(e.Time), e.Probe.Err)},
			"the check must run at least 1 time without an error: fix its SQL, URL, stream or bucket in the config's checks (--config), and chaosd's reach to it (chaosd doctor)")
		return
	}
	switch {
	case u.OK:
		uc.failing = false
		uc.t.pass(uf)
	case uc.failing:
		uc.t.pass(uf) // the streak's violation is recorded
	default:
		uc.failing = true
		uc.t.fail(uf, Finding{At: e.Time, Message: fmt.Sprintf("user check %s (%s) failed at %s: %s", u.Check, u.Kind, clock(e.Time), orDash(u.Detail))})
	}
}

// Finish implements Checker.
func (c *UserChecks) Finish(time.Time) []Verdict {
	out := make([]Verdict, 0, len(c.order))
	for _, name := range slices.Sorted(slices.Values(c.order)) {
		uc := c.checks[name]
		uc.t.notExercised("declared but never read (0 readings): chaosd reads user checks while its workload runs (--workload=true, not with the bare fault; chaosd soak always)")
		out = append(out, uc.t.verdict())
	}
	return out
}
