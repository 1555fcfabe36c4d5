package invariants

import (
	"fmt"
	"strings"
	"time"

	"github.com/chaosd/chaosd/history"
)

// StreamIntegrity: within one response, the text deltas follow the rule the mesh
// promises; and the buffer of an in-progress run never loses messages.
//
// Responses (watcher reports), by promise stream-exactly-once (the May 2026 mesh):
// no chunk twice ("chunk-1..7 twice": republished on resume), none beyond N, no
// foreign text; for early watchers (late ones are prefix-replay's) first arrivals in
// order with none skipped, and all of 1..N when the finish was seen.
// By promise stream-kept-log (today's mesh, PR #6431: a resume keeps the dead
// attempt's log in the buffer, then the new attempt streams from its start): the
// arrival order is split into attempts at the watcher's restarts (a new start chunk
// after text, history.Watch.Restarts); every attempt must run chunk-1, 2, 3, ...
// with no repeat and no gap. A first chunk other than chunk-1 is a gap ("seq 1
// missing", mesh's StreamGapError), a return to chunk-1 without a restart is a
// duplicate, as is any repeat inside an attempt; earlier attempts may stop short,
// and when the finish was seen the last attempt must be whole (chunk-1..N). None
// beyond N, no foreign text. A late watcher's first attempt (its replayed prefix) is
// judged for repeats only: its gaps and completeness are prefix-replay's. A watcher
// whose stream broke (or that gave up) is judged on what it received: completeness
// only with the finish. When both stream promises are made, the stricter
// (exactly-once) rule judges.
// Buffer: between two readings of a run's buffer taken while Postgres said
// in_progress, the message count falls or the first sequence rises (JetStream
// sequences only grow, so a purge shows even across unobserved gaps), the earlier
// reading had no end sentinel, and Postgres still says in_progress at least
// PurgeConfirm after the later reading (a run's own end purges too).
// Cases: the watcher reports with at least one chunk (or foreign text), and the
// comparisons of two buffer readings while in_progress whose first had at least one
// message (one that suspects a purge is counted when it is confirmed or cleared);
// under fault: the run was hit by a fault, or the watcher's pod was faulted, or a
// fault was in effect at the comparison. Never unknown, but for a dependency outage.
type StreamIntegrity struct {
	w       *World
	p       Params
	t       tally
	buffers runIndex[bufState]

	reports, empty int // watcher reports, those with no chunk (for the note)
	compared, bare int // buffer comparisons while in_progress, those of an empty buffer (for the note)
}

var _ Checker = (*StreamIntegrity)(nil)
var _ dropper = (*StreamIntegrity)(nil)

type bufState struct {
	last    history.Buffer
	lastAt  time.Time
	suspect *purge
	judged  bool // a purge was reported for this run
}

type purge struct {
	at         time.Time
	before     history.Buffer
	after      history.Buffer
	beforeAt   time.Time
	underFault bool
}

func newStreamIntegrity(w *World, p Params) *StreamIntegrity {
	return &StreamIntegrity{w: w, p: p, t: newTally(w, NameStreamIntegrity, p.MaxEvidence), buffers: newRunIndex(w, func(r *Run) **bufState { return &r.bufState })}
}

// Name implements Checker.
func (c *StreamIntegrity) Name() string { return NameStreamIntegrity }

// Observe implements Checker.
func (c *StreamIntegrity) Observe(e *history.Event) {
	switch {
	case e.Type == history.TypeWatch:
		c.observeWatch(e)
	case e.Type == history.TypeProbe && e.Probe.Kind == history.ProbeBuffer && e.Probe.Err == "" && e.Probe.Buffer != nil:
		c.observeBuffer(e)
	case e.Type == history.TypeProbe && e.Probe.Kind == history.ProbeThread && e.Probe.ThreadState != nil:
		c.confirmPurge(e)
	}
}

func (c *StreamIntegrity) observeWatch(e *history.Event) {
	wt := e.Watch
	c.reports++
	r := c.w.Run(wt.Run)
	n := chunksOf(r)
	ch := c.w.Order(wt, n)
	if ch.total == 0 && wt.Foreign == 0 {
		c.empty++
		return
	}
	cut := c.w.FaultOn(wt.Pod, wt.OpenedAt, e.Time)
	hit := (r != nil && r.Hit()) || cut != nil
	judge := judgeResponse
	if c.p.keptLog() {
		judge = judgeKeptLog
	}
	if problems := judge(wt, ch); len(problems) > 0 {
		f := Finding{At: e.Time, Run: wt.Run, Pods: []string{wt.Pod},
			Message: fmt.Sprintf("run %s: watcher on %s (%s) %s", wt.Run, wt.Pod, watchWhen(wt), strings.Join(problems, "; "))}
		f.Details = append([]string{"this watcher " + describeWatch(wt, n)}, c.w.Details(r)...)
		c.t.fail(hit, f)
		return
	}
	c.t.pass(hit)
}

// judgeResponse lists what is wrong with one watcher's response.
func judgeResponse(wt *history.Watch, ch chunks) []string {
	var out []string
	if d := ch.duplicates(); d != "" {
		out = append(out, "saw "+d)
	}
	if b := ch.beyond(); len(b) > 0 {
		out = append(out, fmt.Sprintf("saw %s beyond the %d asked for", chunkRanges(b), ch.n))
	}
	if wt.Foreign > 0 {
		out = append(out, fmt.Sprintf("saw %d text deltas that are not mockai's (first %q)", wt.Foreign, wt.FirstFgn))
	}
	if wt.Late && wt.K >= 1 {
		return out // order and completeness of late watchers: prefix-replay
	}
	if ch.disorder != "" && ch.total > 0 {
		out = append(out, "first arrivals out of order: "+ch.disorder)
	}
	if wt.Finished {
		if miss := ch.missing(1, ch.limit()); len(miss) > 0 {
			out = append(out, "saw the finish but missed "+chunkRanges(miss))
		}
	}
	return out
}

// judgeKeptLog lists what is wrong with one watcher's response by the kept-log rule.
func judgeKeptLog(wt *history.Watch, ch chunks) []string {
	var out []string
	late := wt.Late && wt.K >= 1
	atts := attempts(wt.Order, wt.Restarts)
	for i, a := range atts {
		out = append(out, judgeAttempt(a, attemptName(i, len(atts)), late && i == 0)...)
	}
	if b := ch.beyond(); len(b) > 0 {
		out = append(out, fmt.Sprintf("saw %s beyond the %d asked for", chunkRanges(b), ch.n))
	}
	if wt.Foreign > 0 {
		out = append(out, fmt.Sprintf("saw %d text deltas that are not mockai's (first %q)", wt.Foreign, wt.FirstFgn))
	}
	if !wt.Finished || (late && len(atts) <= 1) {
		return out // not finished: judged on what it received; a late prefix: prefix-replay's
	}
	last := history.Order{}
	if len(atts) > 0 {
		last = atts[len(atts)-1]
	}
	if top := ch.limit(); last.Max() < top || (len(last) > 0 && last[0].From != 1) {
		out = append(out, fmt.Sprintf("saw the finish, but %s ran only %s of %d", attemptName(len(atts)-1, len(atts)), orderText(last), top))
	}
	return out
}

// judgeAttempt lists what is wrong with one attempt: it must run chunk-1, 2, 3, ...
// with no repeat and no gap. prefix: the replayed prefix of a late watcher, judged for
// repeats only.
func judgeAttempt(a history.Order, name string, prefix bool) []string {
	var out []string
	if len(a) == 0 {
		return nil
	}
	if a[0].From != 1 && !prefix {
		out = append(out, fmt.Sprintf("%s began at chunk-%d: seq 1 missing (mesh's StreamGapError)", name, a[0].From))
	}
	for j := 1; j < len(a); j++ {
		prev, cur := a[j-1].To, a[j].From
		switch {
		case cur == 1:
			out = append(out, fmt.Sprintf("%s returned to chunk-1 after chunk-%d with no new start chunk: %s again (a duplicate)", name, prev, chunkSpan(1, min(prev, a[j].To))))
		case cur <= prev:
			out = append(out, fmt.Sprintf("%s repeated %s after chunk-%d", name, chunkSpan(cur, min(prev, a[j].To)), prev))
		case !prefix:
			out = append(out, fmt.Sprintf("%s skipped %s (chunk-%d came right after chunk-%d)", name, chunkSpan(prev+1, cur-1), cur, prev))
		}
	}
	return out
}

// attemptName names attempt i of n in messages.
func attemptName(i, n int) string {
	if n <= 1 {
		return "its reply"
	}
	return fmt.Sprintf("attempt %d of %d", i+1, n)
}

// attempts splits an arrival order at the restart positions (the number of chunks
// seen before each new start chunk); positions out of range or repeated are ignored.
func attempts(o history.Order, restarts []int) []history.Order {
	total := o.Len()
	var cuts []int
	for _, r := range restarts {
		if r > 0 && r < total && (len(cuts) == 0 || r > cuts[len(cuts)-1]) {
			cuts = append(cuts, r)
		}
	}
	out := []history.Order{{}}
	pos := 0
	for _, sp := range o {
		for i := sp.From; i <= sp.To; {
			end := sp.To // the last index of this piece
			if len(cuts) > 0 && pos == cuts[0] {
				out = append(out, history.Order{})
				cuts = cuts[1:]
			}
			if len(cuts) > 0 && cuts[0]-pos <= end-i {
				end = i + cuts[0] - pos - 1
			}
			out[len(out)-1] = append(out[len(out)-1], history.Span{From: i, To: end})
			pos += end - i + 1
			i = end + 1
		}
	}
	return out
}

func (c *StreamIntegrity) observeBuffer(e *history.Event) {
	p := e.Probe
	st := c.buffers.get(p.Run)
	if st == nil {
		st = &bufState{}
		c.buffers.set(p.Run, st)
	}
	prev, prevAt := st.last, st.lastAt
	st.last, st.lastAt = *p.Buffer, e.Time
	r := c.w.Run(p.Run)
	if prevAt.IsZero() || st.judged || r == nil || !r.inProgress() {
		return
	}
	c.compared++
	hit := r.Hit() || c.w.AnyFault()
	cur := *p.Buffer
	lost := cur.Messages < prev.Messages || (prev.FirstSeq > 0 && cur.FirstSeq > prev.FirstSeq)
	switch {
	case lost && !prev.Done && st.suspect == nil:
		st.suspect = &purge{at: e.Time, before: prev, after: cur, beforeAt: prevAt, underFault: hit} // a case once confirmed or cleared
	case prev.TextDeltas >= 1 || prev.Messages >= 1:
		c.t.pass(hit)
	default:
		c.bare++
	}
}

// confirmPurge turns a suspected purge into a violation when Postgres still says
// in_progress long enough after it, and forgets it when the run ended.
func (c *StreamIntegrity) confirmPurge(e *history.Event) {
	st := c.buffers.get(e.Probe.Run)
	if st == nil || st.suspect == nil {
		return
	}
	switch status := e.Probe.ThreadState.Status; {
	case status != history.StatusInProgress:
		c.t.pass(st.suspect.underFault) // the run's own end purged it
		st.suspect = nil
		c.buffers.del(e.Probe.Run)
	case e.Time.Sub(st.suspect.at) >= c.p.PurgeConfirm:
		c.reportPurge(e.Probe.Run, st, e)
	}
}

func (c *StreamIntegrity) reportPurge(run string, st *bufState, confirm *history.Event) {
	s := st.suspect
	st.suspect, st.judged = nil, true
	r := c.w.Run(run)
	msg := fmt.Sprintf("run %s: its buffer lost messages while the run was in progress: %s at %s, then %s at %s; Postgres still said %s at %s",
		run, bufText(s.before), clock(s.beforeAt), bufText(s.after), clock(s.at), describeThread(confirm.Probe.ThreadState), clock(confirm.Time))
	f := Finding{At: s.at, Run: run, Message: msg, Details: c.w.Details(r)}
	if r != nil {
		f.Pods = podsOf(r)
	}
	c.t.fail(s.underFault, f)
}

func bufText(b history.Buffer) string {
	return fmt.Sprintf("%d msgs seq %d-%d (%d deltas)", b.Messages, b.FirstSeq, b.LastSeq, b.TextDeltas)
}

// Drop implements dropper. A purge still suspected was not confirmed: its comparison
// passes.
func (c *StreamIntegrity) Drop(run string) {
	if st := c.buffers.get(run); st != nil && st.suspect != nil {
		c.t.pass(st.suspect.underFault)
	}
	c.buffers.del(run)
}

// Finish implements Checker.
func (c *StreamIntegrity) Finish(time.Time) []Verdict {
	for _, run := range c.buffers.ids() {
		c.Drop(run)
	}
	c.t.notExercised("no reply and no buffer was judged (%s, %d with no chunk; %d buffer comparisons of a run in progress, %d of an empty buffer): "+
		"runs must stream chunks while watched and read (--runs ≥ 1, --hint with chunks, e.g. slow:20x250)",
		plural(c.reports, "watcher report"), c.empty, c.compared, c.bare)
	return []Verdict{c.t.verdict()}
}
