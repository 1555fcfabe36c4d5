package invariants

import (
	"fmt"
	"time"

	"github.com/chaosd/chaosd/history"
)

// PrefixReplay: an attach opened after the first k chunks of a run were confirmed
// in the buffer (a late watcher, k >= 1) receives chunk-1..k, then the rest, in
// order, none missing.
//
// Judged on each late watcher's report: the first chunk it saw must be chunk-1, its
// first arrivals must run 1, 2, 3, ... with no index skipped (duplicates are
// stream-integrity's), and, when it saw the finish, every chunk up to the run's N
// must have arrived. A watcher that ended without the finish is judged on what it
// received (a run that never ends is run-completes'); one whose own pod was faulted
// during the watch and that saw nothing is not judged.
// Cases: the late watchers with k >= 1 judged; under fault: its attach opened while
// the run's owner was down. Never unknown (a watcher report is a complete observation
// of its attach), but for a dependency outage.
type PrefixReplay struct {
	w *World
	t tally

	reports        int // watcher reports (for the note)
	lateK0, cutOff int // late reports with k = 0; late k >= 1 ones not judged (for the note)
}

var _ Checker = (*PrefixReplay)(nil)

func newPrefixReplay(w *World, p Params) *PrefixReplay {
	return &PrefixReplay{w: w, t: newTally(w, NamePrefixReplay, p.MaxEvidence)}
}

// Name implements Checker.
func (c *PrefixReplay) Name() string { return NamePrefixReplay }

// Observe implements Checker.
func (c *PrefixReplay) Observe(e *history.Event) {
	if e.Type != history.TypeWatch {
		return
	}
	c.reports++
	wt := e.Watch
	if !wt.Late || wt.K < 1 {
		if wt.Late {
			c.lateK0++
		}
		return
	}
	cutOff := c.w.FaultOn(wt.Pod, wt.OpenedAt, e.Time)
	if len(wt.Order) == 0 && !wt.Finished && cutOff != nil {
		c.cutOff++
		return
	}
	r := c.w.Run(wt.Run)
	n := 0
	if r != nil {
		n = r.Chunks
	}
	ownerDown := ""
	if r != nil {
		if why, down := c.w.WasDown(r.OwnerAt(wt.OpenedAt), wt.OpenedAt); down {
			ownerDown = fmt.Sprintf("while its owner %s was down (%s)", r.OwnerAt(wt.OpenedAt), why)
		}
	}
	if problem := judgeReplay(wt, analyzeOrder(wt.Order, n)); problem != "" {
		c.violate(e.Time, wt, r, problem, ownerDown)
		return
	}
	c.t.pass(ownerDown != "")
}

// judgeReplay returns what is wrong with a late watcher's view, or "".
func judgeReplay(wt *history.Watch, c chunks) string {
	if c.total == 0 && wt.Finished {
		return fmt.Sprintf("missed every chunk (saw the finish and nothing else; chunk-1..%d were confirmed in the buffer when it opened)", wt.K)
	}
	if miss := c.missing(1, min(wt.K, c.limit())); len(miss) > 0 && c.total > 0 {
		return fmt.Sprintf("missed %s of the %d chunks buffered before it opened (%s)", chunkRanges(miss), wt.K, c.disorder)
	}
	if c.disorder != "" {
		return "received the chunks out of order: " + c.disorder
	}
	if wt.Finished {
		if miss := c.missing(1, c.limit()); len(miss) > 0 {
			return "saw the finish but missed " + chunkRanges(miss)
		}
	}
	return ""
}

// violate judges the watcher's case violated.
func (c *PrefixReplay) violate(at time.Time, wt *history.Watch, r *Run, problem, ownerDown string) {
	msg := fmt.Sprintf("watcher on %s (%s) %s", wt.Pod, watchWhen(wt), problem)
	if ownerDown != "" {
		msg += ", opened " + ownerDown
	}
	f := Finding{At: at, Run: wt.Run, Pods: []string{wt.Pod}, Message: fmt.Sprintf("run %s: %s", wt.Run, msg)}
	f.Details = append([]string{"this watcher " + describeWatch(wt, chunksOf(r))}, c.w.Details(r)...)
	if r != nil {
		f.Pods = append(f.Pods, podsOf(r)...)
	}
	c.t.fail(ownerDown != "", f)
}

func chunksOf(r *Run) int {
	if r == nil {
		return 0
	}
	return r.Chunks
}

// Finish implements Checker.
func (c *PrefixReplay) Finish(time.Time) []Verdict {
	c.t.notExercised("%s", c.notExercised())
	return []Verdict{c.t.verdict()}
}

// lateRemedy is what opens late attaches with k >= 1.
const lateRemedy = "late attaches open once workload.late_after chunks are in the run's buffer: " +
	"runs must stream more chunks than that and be watched meanwhile (--hint, e.g. slow:20x250 streams 20 chunks in 5s; --runs ≥ 1)"

// notExercised says, in numbers, what the watcher reports were instead, and what
// would have opened a late attach.
func (c *PrefixReplay) notExercised() string {
	s := "no late attach opened with k >= 1 chunks buffered was reported"
	if c.reports == 0 {
		return s + " (no watcher report at all): " + lateRemedy
	}
	s += fmt.Sprintf(" (%s: %d early, %d late with k = 0", plural(c.reports, "watcher report"), c.reports-c.lateK0-c.cutOff, c.lateK0)
	if c.cutOff > 0 {
		s += fmt.Sprintf(", %d late that saw nothing while their own pod was faulted", c.cutOff)
	}
	return s + "): " + lateRemedy
}
