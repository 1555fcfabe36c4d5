package invariants

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/chaosd/chaosd/history"
)

// NameNoWriteAfterEnd is the invariant that nothing is written into a run's buffer
// after its end sentinel.
const NameNoWriteAfterEnd = "no-write-after-end"

// NoWriteAfterEnd: once a run is decided, nothing more is written into its buffer:
// no message after its end sentinel, no second sentinel. A pod that was frozen
// (paused) or cut off while it owned a run, and wakes after a survivor took the run
// over and finished it, must stop at its fence instead of writing on: split brain,
// the bug pause and partition faults exist to find. No mesh may do it, so it is
// chaosd's own: judged on every target.
//
// The workload reads a decided run's buffer for its settle window (workload.settle,
// recorded on the run's start op) after the Postgres reading that decided it. Any
// reading after the decision that shows messages after the first end sentinel, or a
// second sentinel, is a violation naming the run, how many messages came after the
// sentinel, JetStream's time of the first, how long after the decision that was, a
// second sentinel if any, and the writer: the buffer's messages name none, so it is
// inferred from the history (a pod that owned the run and was frozen or cut off by a
// chaosd fault healed shortly before the first late write), or the finding says the
// history cannot say.
//
// A mesh that purges a decided run's subject (mesh does at every terminal event; the
// testbed keeps the sentinel) leaves no sentinel to compare with: there, once a reading
// after the decision found the subject empty, every message read in it afterwards was
// written after the end.
//
// The window starts at the decision or, if later, at the last heal of a chaosd fault
// that was in effect while the run ran (a frozen owner writes only once it wakes),
// and lasts the run's settle (auto: the heartbeat TTL).
//
// Cases: decided runs whose buffer was read at or after the window's end with its end
// sentinel there, or with the subject empty after it had been purged at the end
// (passed), and decided runs with writes after the end (violated).
// Under fault: a chaosd fault was in effect at some time from the run's start to its
// last reading. Not cases (notes): a run with no settle window (settle 0), or whose
// window was cut short (chaosd stopped first), or whose buffer was purged or expired
// before the settle reading, or never showed the sentinel; a run of a history written
// before the settle window existed is "not recorded". A failed reading at the end of
// the window leaves the run undecided.
type NoWriteAfterEnd struct {
	w *World
	p Params
	t tally

	runs   runIndex[endRun]
	faults map[string]*faultSpan // chaosd's faults, by id

	// Decided runs that are no case, by why.
	off, cutShort, purged, neverDone, unrecorded int
}

// endRun is what the checker knows of one run until it is judged.
type endRun struct {
	settle    time.Duration
	recorded  bool      // the start op recorded the settle window
	started   time.Time // the start op
	decidedAt time.Time // the World's, copied when seen: the dossier may be gone at Drop
	sawDone   bool      // a reading showed the end sentinel
	endSeq    uint64    // the sentinel's sequence, from a reading that ended with it
	emptied   bool      // a reading after the decision found the subject empty (purged at the end)
	sawAny    bool      // a reading found messages in the subject
	late      *Finding  // the violation, from the reading with the most written after the end
	lateAfter int       // that reading's messages after the end
}

var _ Checker = (*NoWriteAfterEnd)(nil)
var _ dropper = (*NoWriteAfterEnd)(nil)

func newNoWriteAfterEnd(w *World, p Params) *NoWriteAfterEnd {
	return &NoWriteAfterEnd{w: w, p: p, t: newTally(w, NameNoWriteAfterEnd, p.MaxEvidence),
		runs: newRunIndex(w, func(r *Run) **endRun { return &r.endRun }), faults: map[string]*faultSpan{}}
}

// Name implements Checker.
func (c *NoWriteAfterEnd) Name() string { return NameNoWriteAfterEnd }

// Observe implements Checker.
func (c *NoWriteAfterEnd) Observe(e *history.Event) {
	switch {
	case e.Type == history.TypeOp && e.Op.Name == history.OpStartRun && e.Op.Phase == history.PhaseInvoke && e.Op.Run != "":
		st := &endRun{started: e.Time, recorded: e.Op.Settle != nil}
		if st.recorded {
			st.settle = e.Op.Settle.D()
		}
		c.runs.set(e.Op.Run, st)
	case e.Type == history.TypeFault:
		c.observeFault(e)
	case e.Type == history.TypeProbe && e.Probe.Kind == history.ProbeThread:
		if st := c.runs.get(e.Probe.Run); st != nil && st.decidedAt.IsZero() {
			if r := c.w.Run(e.Probe.Run); r != nil && r.decided() {
				st.decidedAt = r.decidedAt
			}
		}
	case e.Type == history.TypeProbe && e.Probe.Kind == history.ProbeBuffer:
		c.observeBuffer(e)
	}
}

func (c *NoWriteAfterEnd) observeFault(e *history.Event) {
	s, at := spanOf(c.faults, e)
	switch e.Fault.Phase {
	case history.FaultHealed, history.FaultHealUnknown, history.FaultInjectFailed:
		s.to = at
	}
	// Forget faults that ended before every run still judged began.
	oldest := c.w.Now()
	for _, st := range c.runs.all() {
		if st.started.Before(oldest) {
			oldest = st.started
		}
	}
	for id, f := range c.faults {
		if !f.to.IsZero() && f.to.Before(oldest.Add(-c.p.Skew)) {
			delete(c.faults, id)
		}
	}
}

// underFault reports whether a chaosd fault was in effect at some time in [from, to].
func (c *NoWriteAfterEnd) underFault(from, to time.Time) bool {
	for _, f := range c.faults {
		if !f.from.After(to) && (f.to.IsZero() || !f.to.Before(from)) {
			return true
		}
	}
	return false
}

func (c *NoWriteAfterEnd) observeBuffer(e *history.Event) {
	p := e.Probe
	st := c.runs.get(p.Run)
	if st == nil {
		return // a run this history never started, or one already judged
	}
	r := c.w.Run(p.Run)
	if r != nil && r.decided() && st.decidedAt.IsZero() {
		st.decidedAt = r.decidedAt
	}
	if p.Err != "" || p.Buffer == nil {
		if c.due(st, e.Time) {
			// The settle window's last reading failed: whether the buffer was
			// written after its end cannot be told.
			c.runs.del(p.Run)
			if st.late != nil {
				c.t.fail(c.underFault(st.started, e.Time), *st.late)
				return
			}
			c.t.undecided(c.underFault(st.started, e.Time), &Finding{At: e.Time, Run: p.Run,
				Message: fmt.Sprintf("run %s: its buffer could not be read at the end of its settle window (%s after its decision at %s): %s",
					p.Run, st.settle, clock(st.decidedAt), excerpt(p.Err, 160))},
				"the last reading of a settle window failed: run again with NATS reachable from chaosd throughout (chaosd doctor checks it: --nats-url)")
		}
		return
	}
	b := p.Buffer
	st.sawDone = st.sawDone || b.Done
	st.sawAny = st.sawAny || b.Messages > 0
	if b.Done && b.AfterDone == 0 && b.Sentinels <= 1 && st.endSeq == 0 {
		st.endSeq = b.LastSeq
	}
	if st.decidedAt.IsZero() || e.Time.Before(st.decidedAt) {
		return // not decided yet: the run may still write (a resume after a takeover)
	}
	if !b.Done && b.Messages > 0 && (st.emptied || (st.endSeq > 0 && b.FirstSeq > st.endSeq)) {
		// The subject was purged at the end (mesh purges a decided run's subject, the
		// testbed up to its sentinel), and messages came after: every one of them was
		// written after the end. JetStream's time of the first is not known here.
		after := *b
		after.AfterDone, after.FirstAfterDone = int(b.Messages), time.Time{}
		b = &after
	}
	if b.Messages == 0 && st.sawAny {
		st.emptied = true
	}
	if (b.AfterDone > 0 || b.Sentinels > 1) && (st.late == nil || b.AfterDone > st.lateAfter) {
		f := c.finding(p.Run, st, r, b, e.Time)
		st.late, st.lateAfter = &f, b.AfterDone
	}
	if !c.due(st, e.Time) {
		return
	}
	c.runs.del(p.Run)
	hit := c.underFault(st.started, e.Time)
	switch {
	case st.late != nil:
		c.t.fail(hit, *st.late)
	case b.Done:
		c.t.pass(hit)
	case b.Messages == 0 && st.emptied:
		// Purged at the end (or expired) and nothing written since: mesh's own way.
		c.t.pass(hit)
	case st.sawDone:
		c.purged++
	default:
		c.neverDone++
	}
}

// due reports whether a reading at at is the settle window's last: at or after
// SettleFrom (the decision, or the last heal of a chaosd fault in effect while the
// run ran, whichever is later) + settle; never while such a fault is in effect.
func (c *NoWriteAfterEnd) due(st *endRun, at time.Time) bool {
	if st.settle <= 0 || st.decidedAt.IsZero() {
		return false
	}
	from, ok := c.settleFrom(st)
	return ok && !at.Before(from.Add(st.settle))
}

// settleFrom is when a decided run's settle window starts: its decision, or the last
// heal of a chaosd fault that was in effect at some time from its start to its
// decision, if later (a frozen owner can write only once it wakes). false while such
// a fault has not healed yet.
func (c *NoWriteAfterEnd) settleFrom(st *endRun) (time.Time, bool) {
	from := st.decidedAt
	for _, f := range c.faults {
		if f.from.After(st.decidedAt) || (!f.to.IsZero() && f.to.Before(st.started)) {
			continue
		}
		if f.to.IsZero() {
			return time.Time{}, false
		}
		if f.to.After(from) {
			from = f.to
		}
	}
	return from, true
}

// finding is the violation of a reading that shows writes after the end.
func (c *NoWriteAfterEnd) finding(run string, st *endRun, r *Run, b *history.Buffer, at time.Time) Finding {
	var what strings.Builder
	fmt.Fprintf(&what, "run %s: %s after its end sentinel", run, plural(b.AfterDone, "message"))
	switch extra := b.Sentinels - 1; {
	case extra == 1:
		what.WriteString(", a second end sentinel among them")
	case extra > 1:
		fmt.Fprintf(&what, ", %d more end sentinels among them", extra)
	}
	if b.Finishes > 1 {
		fmt.Fprintf(&what, " (%d finish chunks in the buffer)", b.Finishes)
	}
	first := b.FirstAfterDone
	switch {
	case first.IsZero():
		fmt.Fprintf(&what, "; the run was decided at %s", clock(st.decidedAt))
	case first.Before(st.decidedAt):
		fmt.Fprintf(&what, "; the first stored by JetStream at %s, %s before Postgres said the run was decided (%s)",
			clock(first), st.decidedAt.Sub(first).Round(time.Millisecond), clock(st.decidedAt))
	default:
		fmt.Fprintf(&what, "; the first stored by JetStream at %s, %s after the run was decided (%s)",
			clock(first), first.Sub(st.decidedAt).Round(time.Millisecond), clock(st.decidedAt))
	}
	fmt.Fprintf(&what, "; read at %s (seq %d-%d). Writer: ", clock(at), b.FirstSeq, b.LastSeq)
	pod, writer := c.writer(r, first)
	what.WriteString(writer)
	f := Finding{At: at, Run: run, Message: what.String(), Details: c.w.Details(r)}
	if pod != "" {
		f.Pods = []string{pod}
	}
	if r != nil {
		for _, q := range podsOf(r) {
			if !slices.Contains(f.Pods, q) {
				f.Pods = append(f.Pods, q)
			}
		}
	}
	return f
}

// ownerSpan is a stretch in which Postgres named one pod the run's owner; until is
// zero while it still does at the last reading.
type ownerSpan struct {
	pod         string
	from, until time.Time
}

func ownerSpans(r *Run) []ownerSpan {
	var out []ownerSpan
	for i, o := range r.ownerTrail {
		if o.pod == "" {
			continue
		}
		s := ownerSpan{pod: o.pod, from: o.at}
		if i+1 < len(r.ownerTrail) {
			s.until = r.ownerTrail[i+1].at
		}
		out = append(out, s)
	}
	return out
}

// wakeWindow is how long after a pod's heal its first write after a run's end is
// still put down to it: Params.reconnectWindow (it reconnects, finds its stream,
// writes).
func (c *NoWriteAfterEnd) wakeWindow() time.Duration { return c.p.reconnectWindow() }

// writer infers which pod wrote after the end, since the buffer's messages name none:
// a pod that owned the run and that a chaosd pause or partition froze or cut off
// while (or before) it owned it, healed shortly before the first late write (within
// wakeWindow; up to Skew after it, for the heal's confirmation). Of several, the one
// healed last before the write. It returns the pod ("" when none fits) and the text.
func (c *NoWriteAfterEnd) writer(r *Run, first time.Time) (string, string) {
	const none = "the history cannot say which pod wrote it: the buffer names no writer"
	if r == nil || first.IsZero() {
		return "", none
	}
	type candidate struct {
		span ownerSpan
		f    *fault
	}
	var best *candidate
	others := map[string]bool{}
	for _, s := range ownerSpans(r) {
		p := c.w.pods[s.pod]
		if p == nil {
			continue
		}
		for _, f := range p.faults {
			if (f.Kind != history.KindPause && f.Kind != history.KindPartition) || f.endPhase != history.FaultHealed {
				continue
			}
			if !s.until.IsZero() && f.intentAt.After(s.until) {
				continue // frozen only after it stopped owning the run
			}
			if f.endAt.After(first.Add(c.p.Skew)) || first.Sub(f.endAt) > c.wakeWindow() {
				continue // healed after the write, or long before it
			}
			if best == nil || f.endAt.After(best.f.endAt) {
				if best != nil && best.span.pod != s.pod {
					others[best.span.pod] = true
				}
				best = &candidate{s, f}
			} else if s.pod != best.span.pod {
				others[s.pod] = true
			}
		}
	}
	if best == nil {
		return "", fmt.Sprintf("%s, and no pod that owned the run was healed from a chaosd pause or partition within %s before the first late write", none, c.wakeWindow())
	}
	delete(others, best.span.pod)
	var b strings.Builder
	fmt.Fprintf(&b, "likely %s, its owner ", best.span.pod)
	if best.span.until.IsZero() {
		fmt.Fprintf(&b, "from %s (still at the last reading)", clock(best.span.from))
	} else {
		fmt.Fprintf(&b, "until %s", clock(best.span.until))
	}
	f := best.f
	from := f.injectedAt
	if from.IsZero() {
		from = f.intentAt
	}
	fmt.Fprintf(&b, ", %s %s-%s (fault %s)", f.verb(), clock(from), clock(f.endAt), f.ID)
	if d := first.Sub(f.endAt); d >= 0 {
		fmt.Fprintf(&b, ", woke %s before the first late write", d.Round(time.Millisecond))
	} else {
		fmt.Fprintf(&b, ", its heal confirmed %s after the first late write", (-d).Round(time.Millisecond))
	}
	if len(others) > 0 {
		fmt.Fprintf(&b, " (%s fitting too: %s)", plural(len(others), "other pod"), strings.Join(slices.Sorted(maps.Keys(others)), ", "))
	}
	b.WriteString("; inferred: the buffer names no writer")
	return best.span.pod, b.String()
}

// Drop implements dropper: the run is judged with what was read of it.
func (c *NoWriteAfterEnd) Drop(run string) {
	st := c.runs.get(run)
	if st == nil {
		return
	}
	c.runs.del(run)
	c.unsettled(st)
}

// unsettled judges a run whose settle window never reached its end: a violation
// seen meanwhile fails it; a decided run without one is counted by why.
func (c *NoWriteAfterEnd) unsettled(st *endRun) {
	switch {
	case st.late != nil:
		c.t.fail(c.underFault(st.started, st.late.At), *st.late)
	case st.decidedAt.IsZero():
		// never decided: run-completes' business
	case !st.recorded:
		c.unrecorded++
	case st.settle == 0:
		c.off++
	default:
		c.cutShort++
	}
}

// Finish implements Checker.
func (c *NoWriteAfterEnd) Finish(time.Time) []Verdict {
	for _, run := range c.runs.ids() {
		c.Drop(run)
	}
	decided := c.t.checks + c.off + c.cutShort + c.purged + c.neverDone + c.unrecorded
	c.notes()
	switch {
	case c.unrecorded > 0 && c.unrecorded == decided:
		c.t.notExercised("not recorded: this history's runs record no settle window (it was written before chaosd had one), so writes after a run's end " +
			"were never looked for; run chaosd again (--settle=auto, the default) to judge them")
	default:
		c.t.notExercised("no decided run was read at the end of its settle window with its end sentinel in the buffer, or its subject purged at the end (%d decided: %d with settle 0, %d cut short by chaosd's stop, "+
			"%d purged or expired, %d never showed the sentinel, %d not recorded): give the runs a settle window (--settle=auto, the default: the heartbeat "+
			"TTL after the decision or the fault's heal; or a duration) and let chaosd run to its end (a one-shot and a soak wait for the windows)", decided, c.off, c.cutShort, c.purged, c.neverDone, c.unrecorded)
	}
	return []Verdict{c.t.verdict()}
}

// notes say which decided runs were no case, and why, when some were judged (with
// none judged, the not-exercised note says it all).
func (c *NoWriteAfterEnd) notes() {
	if c.t.checks == 0 {
		return
	}
	if c.purged+c.neverDone > 0 {
		c.t.note("not judged: %d decided runs whose buffer was purged or had expired by the end of the settle window, %d whose buffer never showed the end sentinel",
			c.purged, c.neverDone)
	}
	if c.cutShort > 0 {
		c.t.note("not judged: %s whose settle window was cut short (chaosd stopped reading before the decision + settle)", plural(c.cutShort, "decided run"))
	}
	if c.off > 0 {
		c.t.note("not judged: %s with no settle window (settle 0)", plural(c.off, "decided run"))
	}
	if c.unrecorded > 0 {
		c.t.note("not recorded: %s whose start records no settle window (a history written before chaosd had one)", plural(c.unrecorded, "decided run"))
	}
}
