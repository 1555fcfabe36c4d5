package invariants

import (
	"fmt"
	"time"

	"github.com/chaosd/chaosd/history"
)

// NameRunsFlow is the invariant that runs keep flowing while no fault is in effect.
const NameRunsFlow = "runs-flow"

// RunsFlow: runs keep flowing. A stretch longer than the flow bound (Params.FlowBound;
// default the larger of 60 s and 10 times the longest streaming time of a run seen)
// with no run started and completed, counting only the time no chaosd fault was in
// effect, is a violation: a vacuous soak (the cluster stopped serving, or the
// workload stalled) is a finding, not a quiet night. The stretch runs from the
// history's first start (or the previous completion) to the next completion: a
// thread reading that says completed, the first for a run whose start was answered
// 2xx. A stretch still open when the history ends is judged too.
// Cases: the stretches judged (each completion closes one; the last, open one when
// it is past the bound). Under fault: a fault was in effect during the stretch.
type RunsFlow struct {
	w *World
	t tally
	p Params

	started   bool          // a start was invoked: the first stretch is open
	since     time.Time     // the stretch's start
	last      string        // the run whose completion opened it, "" for the first
	quiet     time.Duration // fault-free time in the stretch so far
	tick      time.Time     // the last event's time
	faulted   bool          // a fault was in effect after the last event
	hadFault  bool          // a fault was in effect during the stretch
	reported  bool          // the stretch's violation is recorded
	completed map[string]bool
}

var _ Checker = (*RunsFlow)(nil)
var _ dropper = (*RunsFlow)(nil)

func newRunsFlow(w *World, p Params) *RunsFlow {
	return &RunsFlow{w: w, p: p, t: newTally(w, NameRunsFlow, p.MaxEvidence), completed: map[string]bool{}}
}

// Name implements Checker.
func (c *RunsFlow) Name() string { return NameRunsFlow }

// bound is the longest fault-free stretch allowed without a completed run.
func (c *RunsFlow) bound() time.Duration {
	if c.p.FlowBound > 0 {
		return c.p.FlowBound
	}
	return max(time.Minute, 10*c.w.maxExpect)
}

// Observe implements Checker.
func (c *RunsFlow) Observe(e *history.Event) {
	now := c.w.Now()
	c.advance(now)
	c.faulted = c.w.AnyFault()
	c.hadFault = c.hadFault || c.faulted
	switch {
	case e.Type == history.TypeOp && e.Op.Name == history.OpStartRun && e.Op.Phase == history.PhaseInvoke && !c.started:
		c.started, c.since, c.quiet, c.hadFault = true, now, 0, c.faulted
	case e.Type == history.TypeProbe && e.Probe.Kind == history.ProbeThread && e.Probe.ThreadState != nil &&
		e.Probe.ThreadState.Status == history.StatusCompleted && e.Probe.Run != "" && !c.completed[e.Probe.Run]:
		r := c.w.Run(e.Probe.Run)
		if r == nil || r.StartPhase != history.PhaseOK {
			return
		}
		c.completed[r.ID] = true
		if c.started {
			c.close(now)
		}
		c.started, c.since, c.last, c.quiet, c.hadFault, c.reported = true, now, r.ID, 0, c.faulted, false
	}
}

// advance counts the time since the last event as quiet unless a fault was in
// effect, and reports a stretch that passed the bound.
func (c *RunsFlow) advance(now time.Time) {
	prev, from := c.quiet, c.tick
	counting := c.started && !from.IsZero() && now.After(from) && !c.faulted
	if counting {
		c.quiet += now.Sub(from)
	}
	if now.After(c.tick) {
		c.tick = now
	}
	if bound := c.bound(); c.started && !c.reported && c.quiet > bound {
		at := now
		if counting && prev <= bound {
			at = from.Add(bound - prev) // when the stretch passed the bound
		}
		c.reported = true
		c.t.fail(c.hadFault, Finding{At: at, Message: c.message(at, bound)})
	}
}

func (c *RunsFlow) message(at time.Time, bound time.Duration) string {
	after := "since the first start at " + clock(c.since)
	if c.last != "" {
		after = fmt.Sprintf("since run %s completed at %s", c.last, clock(c.since))
	}
	return fmt.Sprintf("no run was started and completed for %s without a fault in effect (%s, %s in all up to %s): "+
		"a vacuous soak: the cluster stopped serving runs, or the workload stalled", bound, after, at.Sub(c.since).Round(time.Second), clock(at))
}

// close judges the stretch a completion ends: its violation, if any, is recorded.
func (c *RunsFlow) close(time.Time) {
	if !c.reported {
		c.t.pass(c.hadFault)
	}
}

// Drop implements dropper: the World forgot the run.
func (c *RunsFlow) Drop(run string) { delete(c.completed, run) }

// Finish implements Checker.
func (c *RunsFlow) Finish(at time.Time) []Verdict {
	c.advance(at)
	c.t.notExercised("no run was started and completed: runs must flow through the cluster (--runs ≥ 1 with --workload=true for chaosd --fault; --rate for chaosd soak)")
	return []Verdict{c.t.verdict()}
}
