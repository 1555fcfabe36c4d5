package invariants

import (
	"fmt"
	"time"

	"github.com/chaosd/chaosd/history"
)

// RunCompletes: every run the workload started reaches completed (the finish chunk
// seen by a watcher and Postgres saying completed) by its deadline, also when its
// owner was killed, paused or cut off.
//
// Judged when both are seen (pass, or fail if after the deadline), when Postgres
// gives a terminal status other than completed (fail), or at the deadline (+ Skew).
// Cases: the runs started (each judged once, whatever the outcome); under fault: a
// chaosd fault hit its owner while it ran.
// Unknown: at the deadline the last thread reading had failed; Postgres said
// completed but no watcher could show the finish (none reported, or all cut off by
// faults on their pods); the finish was seen but Postgres never read; or the
// history ended before the deadline of a run still in flight; a start whose answer
// was lost (indeterminate) with no sign of the run ever running.
// A start that definitely failed (4xx) is not a run.
//
// On a mesh that recovers a dead owner's runs only when it restarts (restart-recovery
// promised, survivor-takeover not: Params.restartOnly), a run cannot progress while
// its owner is down, so its deadline is extended by the time its owner was down by
// a kill, a pause, a partition or a Docker die while the run was in progress (a
// graceful stop is not: its runs are handed over). A run whose owner went down so and
// had not come back when the history ended is not promised to complete
// (not-promised; a failed status read while its owner was down is judged only once
// the owner is back: the restarted pod may still complete it).
type RunCompletes struct {
	w       *World
	p       Params
	t       tally
	pending runIndex[rcRun]
	queue   dropHeap // judge times
	started int      // starts invoked (for the note)
	refused int
}

var _ Checker = (*RunCompletes)(nil)
var _ dropper = (*RunCompletes)(nil)

type rcRun struct {
	judgeAt     time.Time
	finishAt    time.Time // first finish seen by a watcher
	completedAt time.Time // first completed reading
	watchers    int
	excused     int  // watchers without finish whose pod was faulted
	began       bool // seen in_progress, or a watcher saw one of its chunks

	ended   string    // restartOnly: a terminal status other than completed, read while its owner was down
	endedAt time.Time // when
}

func newRunCompletes(w *World, p Params) *RunCompletes {
	return &RunCompletes{w: w, p: p, t: newTally(w, NameRunCompletes, p.MaxEvidence), pending: newRunIndex(w, func(r *Run) **rcRun { return &r.rcRun })}
}

// Name implements Checker.
func (c *RunCompletes) Name() string { return NameRunCompletes }

// Observe implements Checker.
func (c *RunCompletes) Observe(e *history.Event) {
	switch {
	case e.Type == history.TypeOp && e.Op.Name == history.OpStartRun && e.Op.Run != "":
		c.observeStart(e.Op)
	case e.Type == history.TypeWatch:
		c.observeWatch(e)
	case e.Type == history.TypeProbe && e.Probe.Kind == history.ProbeThread:
		c.observeThread(e)
	}
	c.judgeDue(c.w.Now())
}

func (c *RunCompletes) observeStart(o *history.Op) {
	switch o.Phase {
	case history.PhaseInvoke:
		c.started++
		r := c.w.Run(o.Run)
		st := &rcRun{judgeAt: r.Deadline.Add(c.p.Skew)}
		c.pending.set(o.Run, st)
		c.queue.push(dropAt{at: st.judgeAt, run: o.Run})
	case history.PhaseFailed:
		if c.pending.get(o.Run) != nil {
			c.pending.del(o.Run)
			c.refused++
		}
	}
}

func (c *RunCompletes) observeWatch(e *history.Event) {
	wt := e.Watch
	st := c.pending.get(wt.Run)
	if st == nil {
		return
	}
	st.watchers++
	st.began = st.began || len(wt.Order) > 0
	switch {
	case wt.Finished && st.finishAt.IsZero():
		st.finishAt = e.Time
	case !wt.Finished && c.w.FaultOn(wt.Pod, wt.OpenedAt, e.Time) != nil:
		st.excused++
	}
	c.decideIfDone(wt.Run, st)
}

func (c *RunCompletes) observeThread(e *history.Event) {
	p := e.Probe
	st := c.pending.get(p.Run)
	if st == nil || p.ThreadState == nil || p.Err != "" {
		return
	}
	switch p.ThreadState.Status {
	case history.StatusInProgress:
		st.began = true
	case history.StatusCompleted:
		if st.completedAt.IsZero() {
			st.completedAt = e.Time
		}
		c.decideIfDone(p.Run, st)
	case history.StatusFailed, history.StatusRequiresAction:
		r := c.w.Run(p.Run)
		if r != nil && r.StartPhase == history.PhaseInvoke {
			return // read while the start was in flight: may be the thread's previous state
		}
		if _, open := c.ownerDown(r, e.Time); open != nil || st.ended != "" {
			if st.ended == "" {
				st.ended, st.endedAt = p.ThreadState.Status, e.Time
			}
			return // judged at its deadline, after the owner is back (the restarted pod may still complete it), or not promised if it never is
		}
		c.fail(p.Run, e.Time, fmt.Sprintf("ended %s instead of completed", p.ThreadState.Status))
	}
}

// ownerDown is, on a mesh that recovers runs only on the owner's restart, how long
// the run's owner was down while it ran up to until, and the interval still open; 0
// and nil on other meshes.
func (c *RunCompletes) ownerDown(r *Run, until time.Time) (time.Duration, *interval) {
	if r == nil || !c.p.restartOnly() {
		return 0, nil
	}
	return c.w.ownerDowntime(r, until)
}

// deadline is the run's deadline as of until: its Deadline, extended by its owner's
// downtime on a mesh that recovers runs only on a restart.
func (c *RunCompletes) deadline(r *Run, until time.Time) time.Time {
	down, _ := c.ownerDown(r, until)
	return r.Deadline.Add(down)
}

// extensionText is how the deadline was extended: "" or " + 40s its owner was down".
func (c *RunCompletes) extensionText(r *Run, until time.Time) string {
	if down, _ := c.ownerDown(r, until); down > 0 {
		return fmt.Sprintf(" + %s its owner was down", down.Round(time.Millisecond))
	}
	return ""
}

func (c *RunCompletes) decideIfDone(id string, st *rcRun) {
	if st.finishAt.IsZero() || st.completedAt.IsZero() {
		return
	}
	r := c.w.Run(id)
	done := later(st.finishAt, st.completedAt)
	if r != nil && done.After(c.deadline(r, done)) {
		c.fail(id, done, fmt.Sprintf("completed only at %s, %s after its start, past its deadline of %s",
			clock(done), done.Sub(r.Started).Round(time.Millisecond), r.Deadline.Sub(r.Started).String()+c.extensionText(r, done)))
		return
	}
	c.t.pass(r != nil && r.Hit())
	c.pending.del(id)
}

func (c *RunCompletes) fail(id string, at time.Time, what string) {
	r := c.w.Run(id)
	c.t.fail(r != nil && r.Hit(), c.finding(id, at, what))
	c.pending.del(id)
}

// unknown judges the run undecided: why it could not be, and what would have decided
// it (remedy).
func (c *RunCompletes) unknown(id string, at time.Time, why, remedy string) {
	r := c.w.Run(id)
	f := c.finding(id, at, why)
	c.t.undecided(r != nil && r.Hit(), &f, remedy)
	c.pending.del(id)
}

// What decides the runs that could not be judged.
func (c *RunCompletes) readRemedy() string {
	return fmt.Sprintf("Postgres must answer the run's reading at its deadline (judged %s after it): check chaosd's reach to it (chaosd doctor, --database-url)", c.p.Skew)
}

func (c *RunCompletes) endedRemedy() string {
	return fmt.Sprintf("the history must outlast each run's deadline (its streaming time + the owner grace %s + 2 × slack %s): "+
		"let runs finish before it ends (chaosd soak: --cooldown ≥ the longest deadline; chaosd --fault waits for its runs unless interrupted)", c.p.OwnerGrace, c.p.Slack)
}

func (c *RunCompletes) finding(id string, at time.Time, what string) Finding {
	r := c.w.Run(id)
	f := Finding{At: at, Run: id, Message: fmt.Sprintf("run %s %s", id, what), Details: c.w.Details(r)}
	if r != nil {
		f.Pods = podsOf(r)
		f.Message += fmt.Sprintf(" (started on %s; Postgres last said %s)", orDash(r.StartPod), orDash(describeOwner(r)))
	}
	return f
}

// judgeDue judges the runs whose deadline (+ Skew) has passed by now.
func (c *RunCompletes) judgeDue(now time.Time) {
	for len(c.queue) > 0 && !c.queue[0].at.After(now) {
		d := c.queue.pop()
		st := c.pending.get(d.run)
		if st == nil || !st.judgeAt.Equal(d.at) {
			continue
		}
		if next := c.extendedJudgeAt(d.run, st, now); next.After(d.at) {
			st.judgeAt = next // its owner was down: the deadline moved on
			c.queue.push(dropAt{at: next, run: d.run})
			continue
		}
		c.judgeAtDeadline(d.run, st)
	}
}

// extendedJudgeAt is the run's judge time with its deadline extended by its owner's
// downtime up to now (or its completion), on a mesh that recovers runs only on a
// restart; zero elsewhere.
func (c *RunCompletes) extendedJudgeAt(id string, st *rcRun, now time.Time) time.Time {
	r := c.w.Run(id)
	if r == nil || !c.p.restartOnly() {
		return time.Time{}
	}
	until := now
	if !st.completedAt.IsZero() {
		until = st.completedAt
	}
	return c.deadline(r, until).Add(c.p.Skew)
}

func (c *RunCompletes) judgeAtDeadline(id string, st *rcRun) {
	r := c.w.Run(id)
	at := st.judgeAt.Add(-c.p.Skew)
	deadline := "its deadline"
	if r != nil {
		deadline = fmt.Sprintf("its deadline (%s after its start%s, %s)", r.Deadline.Sub(r.Started), c.extensionText(r, at), clock(c.deadline(r, at)))
	}
	switch {
	case st.ended != "":
		c.fail(id, at, fmt.Sprintf("ended %s at %s while its owner was down, and was not completed by %s after the owner came back", st.ended, clock(st.endedAt), deadline))
	case r != nil && r.lastReadErr:
		c.unknown(id, at, "could not be judged at "+deadline+": the last Postgres reading failed", c.readRemedy())
	case r != nil && r.StartPhase == history.PhaseIndeterminate && !st.began && st.finishAt.IsZero():
		c.unknown(id, at, "had an indeterminate start (the POST's answer was lost) and never showed a sign of running: it may never have started",
			fmt.Sprintf("a start whose answer was lost (timeout, reset) is judged only if the run shows a sign of running (an in_progress reading or a chunk) by its deadline "+
				"(streaming time + owner grace %s + 2 × slack %s): check the start route (chaosd doctor) and start more runs (--runs, or --rate for a soak)", c.p.OwnerGrace, c.p.Slack))
	case !st.completedAt.IsZero() && st.watchers == st.excused:
		c.unknown(id, at, fmt.Sprintf("is completed in Postgres, but no watcher could show the finish chunk (%d watchers reported, %d cut off by faults on their pods)", st.watchers, st.excused),
			"a watcher on a pod that no fault hit must see the finish chunk: leave at least 1 pod unfaulted (--max-faulted below the pod count; --fault=KIND-owner hits 1 pod, --fault=rollout every pod)")
	case !st.completedAt.IsZero():
		c.fail(id, at, fmt.Sprintf("is completed in Postgres, but none of its %d watchers saw the finish chunk", st.watchers))
	case r == nil || r.postgres.empty():
		c.unknown(id, at, "could not be judged at "+deadline+": Postgres was never read for it",
			"chaosd must read the run's thread from Postgres at least 1 time: check its reach (chaosd doctor, --database-url) and the owner source (--owner-source)")
	case !st.finishAt.IsZero():
		c.fail(id, at, "had its finish chunk seen, but Postgres did not say completed by "+deadline)
	default:
		c.fail(id, at, "did not complete by "+deadline)
	}
}

// Drop implements dropper: the World forgot the run; judge it now if still pending.
func (c *RunCompletes) Drop(run string) {
	if st := c.pending.get(run); st != nil {
		c.judgeAtDeadline(run, st)
	}
}

// Finish implements Checker.
func (c *RunCompletes) Finish(at time.Time) []Verdict {
	c.judgeDue(at)
	for _, id := range c.pending.ids() {
		st := c.pending.get(id)
		if c.ownerNeverBack(id, st, at) {
			continue
		}
		why := fmt.Sprintf("was still in flight when the history ended at %s, %s before its deadline", clock(at), st.judgeAt.Add(-c.p.Skew).Sub(at).Round(time.Millisecond))
		remedy := c.endedRemedy()
		if r := c.w.Run(id); r != nil && r.lastReadErr {
			why, remedy = "could not be judged: the last Postgres reading failed, and the history ended before its deadline", c.readRemedy()
		}
		c.unknown(id, at, why, remedy)
	}
	if c.refused > 0 {
		c.t.note("%d starts were refused by mesh (not runs)", c.refused)
	}
	c.t.notExercised("%s", c.notExercised())
	return []Verdict{c.t.verdict()}
}

// notExercised says, in numbers, why no run was judged.
func (c *RunCompletes) notExercised() string {
	if c.started > 0 && c.refused == c.started {
		return fmt.Sprintf("no run was judged: all %d starts were refused by mesh (4xx): check the route and tenant chaosd starts runs with (chaosd doctor; --runs sets how many)", c.started)
	}
	return fmt.Sprintf("no run was judged: %d runs were started; runs must flow through the cluster (--runs ≥ 1 with --workload=true for chaosd --fault; --rate for chaosd soak)", c.started)
}

// ownerNeverBack judges, at the end of the history, a run whose owner went down
// while it ran and had not come back, on a mesh that recovers runs only on a
// restart: not promised to complete. It reports whether it did.
func (c *RunCompletes) ownerNeverBack(id string, st *rcRun, at time.Time) bool {
	r := c.w.Run(id)
	if !st.completedAt.IsZero() {
		return false
	}
	_, open := c.ownerDown(r, at)
	if open == nil {
		return false
	}
	c.pending.del(id)
	ended := ""
	if st.ended != "" {
		ended = fmt.Sprintf("; Postgres said %s at %s", st.ended, clock(st.endedAt))
	}
	c.t.notPromised(r != nil && r.Hit(), "run %s: its owner %s went down at %s (%s) while it ran and had not come back when the history ended at %s%s. "+
		"This mesh recovers a dead pod's runs only when a pod of the same name restarts, or with a DBOS Conductor "+
		"(restart-recovery is promised, survivor-takeover is not); its reaper fails such a run eventually",
		id, open.pod, clock(open.from), open.what(), clock(at), ended)
	return true
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func describeOwner(r *Run) string {
	if r.Status == "" {
		return ""
	}
	if r.Owner == "" {
		return r.Status
	}
	return r.Status + " owner " + r.Owner
}

// podsOf lists the pods involved in a run: where it started and who owned it.
func podsOf(r *Run) []string {
	var out []string
	add := func(p string) {
		for _, q := range out {
			if q == p {
				return
			}
		}
		if p != "" {
			out = append(out, p)
		}
	}
	add(r.StartPod)
	for _, o := range r.ownerTrail {
		add(o.pod)
	}
	for _, f := range r.hits {
		add(f.Pod)
	}
	return out
}
