package invariants

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/probes"
)

// PrefixReplay: an attach opened after the first k chunks of a run were confirmed
// in the buffer (a late watcher, k >= 1) receives chunk-1..k, then the rest, in
// order, none missing.
//
// Judged on each late watcher's report: the first chunk it saw must be chunk-1, its
// first arrivals must run 1, 2, 3, ... with no index skipped (duplicates are
// stream-integrity's), and, when it saw the finish, every chunk up to the run's N
// must have arrived. Then the whole replayed prefix, not only the text: where both
// record their chunks by type (history.Watch.Chunks), the late watcher's chunks must
// equal the early watcher's stream on their overlapping prefix, type by type with
// the message and part ids (a replay that drops the start chunk or a step). The late
// watcher is judged when the early one's report is in (or on its text alone when
// none is, or when the history does not record chunk types). A watcher that ended without the finish is judged on what it
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
	empty          int // late k >= 1 ones that received no chunk, their pod not faulted (for the note)

	early      map[string]*history.Watch // run -> its early watcher's report, with chunks recorded
	pending    map[string][]*lateReplay  // run -> late watchers waiting for the early one
	compared   int                       // late replays compared chunk by chunk with the early stream
	uncompared int                       // of the late ones, with no early stream recorded to compare with
	unrec      int                       // late ones whose chunk types were not recorded (an older history)
}

var _ dropper = (*PrefixReplay)(nil)

var _ Checker = (*PrefixReplay)(nil)

func newPrefixReplay(w *World, p Params) *PrefixReplay {
	return &PrefixReplay{w: w, t: newTally(w, NamePrefixReplay, p.MaxEvidence), early: map[string]*history.Watch{}, pending: map[string][]*lateReplay{}}
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
	c.observeEarly(wt)
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
	if len(wt.Order) == 0 && !wt.Finished {
		// No chunk at all before its stream ended, its own pod not faulted: the run
		// was over and its buffer purged before it opened (k is chaosd's last count),
		// a rollout restarted the pod, or chaosd stopped watching. An empty prefix
		// proves nothing either way: not a case (counted in a note).
		c.empty++
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
	if problem := judgeReplay(wt, c.w.Order(wt, n)); problem != "" {
		c.violate(e.Time, wt, r, problem, ownerDown)
		return
	}
	if wt.Chunks == "" {
		c.unrec++
		c.t.pass(ownerDown != "")
		return
	}
	// The whole replayed prefix, every chunk type, is compared with the early
	// watcher's stream once both are reported.
	l := &lateReplay{at: e.Time, wt: wt, ownerDown: ownerDown}
	if early, ok := c.early[wt.Run]; ok {
		c.compare(early, l)
		return
	}
	c.pending[wt.Run] = append(c.pending[wt.Run], l)
}

// lateReplay is a late watcher whose text passed, waiting for the early watcher's
// report to compare every chunk type of its replayed prefix with.
type lateReplay struct {
	at        time.Time
	wt        *history.Watch
	ownerDown string
}

// observeEarly keeps an early watcher's report with recorded chunks as its run's
// reference and compares the late watchers waiting for it.
func (c *PrefixReplay) observeEarly(wt *history.Watch) {
	if wt.Late || wt.Chunks == "" {
		return
	}
	if _, ok := c.early[wt.Run]; ok {
		return
	}
	c.early[wt.Run] = wt
	for _, l := range c.pending[wt.Run] {
		c.compare(wt, l)
	}
	delete(c.pending, wt.Run)
}

// compare judges a late watcher's replay against the early watcher's stream: on their
// overlapping prefix every chunk (type, message id, part id) must be the same.
func (c *PrefixReplay) compare(early *history.Watch, l *lateReplay) {
	if problem := comparePrefix(early, l.wt); problem != "" {
		c.violate(l.at, l.wt, c.w.Run(l.wt.Run), problem, l.ownerDown)
		return
	}
	c.compared++
	c.t.pass(l.ownerDown != "")
}

// comparePrefix returns how a late watcher's chunks differ from the early watcher's
// on their overlapping prefix, or "".
func comparePrefix(early, late *history.Watch) string {
	if early.Chunks == late.Chunks {
		return "" // the same grammar: the same chunks (most replays), nothing to parse
	}
	a, _, errA := probes.ParseGrammar(early.Chunks, maxGrammarChunks)
	b, _, errB := probes.ParseGrammar(late.Chunks, maxGrammarChunks)
	if errA != nil || errB != nil {
		return "" // chunk-grammar reports a grammar that does not parse
	}
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	if i == n {
		return ""
	}
	ref := fmt.Sprintf("the early watcher %s on %s", early.Watcher, early.Pod)
	switch {
	case alignsAt(a[i+1:], b[i:]):
		return fmt.Sprintf("its replay is missing the %s chunk #%d of %s's stream", describeGChunk(a[i]), i+1, ref)
	case alignsAt(a[i:], b[i+1:]):
		return fmt.Sprintf("its replay has an extra %s as chunk #%d, which %s's stream has not", describeGChunk(b[i]), i+1, ref)
	}
	return fmt.Sprintf("its replay differs from %s's stream at chunk #%d: %s where that watcher saw %s", ref, i+1, describeGChunk(b[i]), describeGChunk(a[i]))
}

// alignsAt reports whether x and y agree on their next few chunks (at least one):
// the streams line up again after one chunk lost or added.
func alignsAt(x, y []probes.GrammarChunk) bool {
	n := min(len(x), len(y), 8)
	if n == 0 {
		return len(x) == len(y)
	}
	for j := range n {
		if x[j] != y[j] {
			return false
		}
	}
	return true
}

// describeGChunk names a chunk in a message: `start (message id "m")`.
func describeGChunk(g probes.GrammarChunk) string {
	name := "`" + probes.GrammarName(g.Kind) + "`"
	switch {
	case g.Kind == probes.GStart:
		return fmt.Sprintf("%s (message id %q)", name, g.ID)
	case g.Kind == probes.GTextStart || g.Kind == probes.GTextDelta || g.Kind == probes.GTextEnd:
		return fmt.Sprintf("%s (part %q)", name, g.ID)
	}
	return name
}

// Drop implements dropper: late watchers still waiting for an early watcher's report
// are judged on their text alone (it passed).
func (c *PrefixReplay) Drop(run string) {
	for _, l := range c.pending[run] {
		c.uncompared++
		c.t.pass(l.ownerDown != "")
	}
	delete(c.pending, run)
	delete(c.early, run)
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
	for _, run := range slices.Sorted(maps.Keys(c.pending)) {
		c.Drop(run)
	}
	if c.empty > 0 {
		c.t.note("%s received no chunk before their stream ended, their own pod not faulted (the run over and its buffer purged before they opened, a rollout, or chaosd stopped watching): not judged, an empty prefix proves nothing",
			plural(c.empty, "late watcher"))
	}
	if c.compared+c.uncompared+c.unrec > 0 {
		c.t.note("chunk by chunk: %d late replays compared with the early watcher's stream (every chunk type and id on their overlapping prefix); "+
			"%d with no early stream to compare with; %d not recorded by type (an older history): judged on their text alone", c.compared, c.uncompared, c.unrec)
	}
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
	s += fmt.Sprintf(" (%s: %d early, %d late with k = 0", plural(c.reports, "watcher report"), c.reports-c.lateK0-c.cutOff-c.empty, c.lateK0)
	if c.cutOff > 0 {
		s += fmt.Sprintf(", %d late that saw nothing while their own pod was faulted", c.cutOff)
	}
	if c.empty > 0 {
		s += fmt.Sprintf(", %d late that received nothing before their stream ended", c.empty)
	}
	return s + "): " + lateRemedy
}
