package invariants

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chaosd/chaosd/history"
)

// ReplyPersisted (promise reply-persisted-once): the reply of a completed run is
// persisted exactly once, whole: one assistant message whose text is mockai's reply
// "chunk-1 chunk-2 ... chunk-N " (N from the start op; compared without trailing
// whitespace). rollout-churn in mesh's own harness asks that no thread ends blank.
//
// Judged on the first messages reading (history.ProbeMessages) of a run taken while
// Postgres last said it completed: a violation when there is no reply or a blank
// one ("blank"), more than one ("persisted N times"), or a text that is not the whole
// reply ("missing chunk-3..5", "chunk-2 repeated", chunks out of order, text that is
// not mockai's). Cases: the completed runs judged; under fault: a chaosd fault hit its
// owner while it ran. Unknown: that reading could not be taken. Not judged
// (counted in the notes): readings of a run that ended otherwise (failed,
// requires_action), and readings taken before the run was read completed.
type ReplyPersisted struct {
	w     *World
	p     Params
	t     tally
	done  map[string]bool // runs judged or not to be judged
	early int             // readings taken before the run was read completed
	other map[string]int  // runs that ended otherwise, by status
}

var _ Checker = (*ReplyPersisted)(nil)
var _ dropper = (*ReplyPersisted)(nil)

func newReplyPersisted(w *World, p Params) *ReplyPersisted {
	return &ReplyPersisted{w: w, p: p, t: newTally(w, NameReplyPersisted, p.MaxEvidence), done: map[string]bool{}, other: map[string]int{}}
}

// Name implements Checker.
func (c *ReplyPersisted) Name() string { return NameReplyPersisted }

// Observe implements Checker.
func (c *ReplyPersisted) Observe(e *history.Event) {
	if e.Type != history.TypeProbe || e.Probe.Kind != history.ProbeMessages || e.Probe.Run == "" || c.done[e.Probe.Run] {
		return
	}
	p := e.Probe
	r := c.w.Run(p.Run)
	status := ""
	if r != nil {
		status = r.Status
	}
	switch status {
	case history.StatusCompleted:
	case history.StatusFailed, history.StatusRequiresAction:
		c.done[p.Run] = true
		c.other[status]++
		return
	default:
		c.early++
		return
	}
	c.done[p.Run] = true
	if p.Err != "" || p.Messages == nil {
		c.t.undecided(r.Hit(), &Finding{At: e.Time, Run: p.Run, Message: fmt.Sprintf("run %s: its persisted reply could not be read: %s", p.Run, orDash(p.Err)), Details: c.w.Details(r)},
			"chaosd must read a completed run's messages at least 1 time: check its reach to Postgres (chaosd doctor, --database-url) and postgres.reply_query (--config)")
		return
	}
	if problem := judgeReplies(p.Messages.Replies, r.Chunks); problem != "" {
		c.t.fail(r.Hit(), Finding{At: e.Time, Run: p.Run, Pods: podsOf(r), Message: fmt.Sprintf("run %s: its persisted reply is wrong: %s (read at %s, after the run completed)", p.Run, problem, clock(e.Time)),
			Details: append([]string{"persisted replies: " + quoteReplies(p.Messages.Replies)}, c.w.Details(r)...)})
		return
	}
	c.t.pass(r.Hit())
}

// judgeReplies returns what is wrong with a completed run's persisted replies, or "".
func judgeReplies(replies []string, n int) string {
	switch {
	case len(replies) == 0:
		return "blank: no assistant reply was persisted"
	case len(replies) > 1:
		return fmt.Sprintf("persisted %d times (%d assistant messages for one run)", len(replies), len(replies))
	}
	text := strings.TrimRight(replies[0], " \t\r\n")
	if strings.TrimSpace(text) == "" {
		return "blank: the assistant reply has no text"
	}
	if n > 0 && text == strings.TrimRight(mockReply(n), " ") {
		return ""
	}
	return judgeReplyText(text, n)
}

// mockReply is mockai's whole reply of n chunks: "chunk-1 chunk-2 ... chunk-n ".
func mockReply(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "chunk-%d ", i)
	}
	return b.String()
}

// judgeReplyText diagnoses a reply text that is not mockai's whole reply of n chunks
// (n 0: unknown, judged up to the highest chunk seen).
func judgeReplyText(text string, n int) string {
	var o history.Order
	foreign := 0
	firstForeign := ""
	for _, w := range strings.Fields(text) {
		i, ok := mockIndex(w)
		if !ok {
			if foreign++; foreign == 1 {
				firstForeign = w
			}
			continue
		}
		o.Add(i)
	}
	ch := analyzeOrder(o, n)
	var out []string
	if miss := ch.missing(1, ch.limit()); len(miss) > 0 {
		out = append(out, "missing "+chunkRanges(miss))
	}
	if d := ch.repeated(); d != "" {
		out = append(out, d)
	}
	if b := ch.beyond(); len(b) > 0 {
		out = append(out, fmt.Sprintf("%s beyond the %d asked for", chunkRanges(b), n))
	}
	if ch.disorder != "" && len(out) == 0 {
		out = append(out, "out of order: "+ch.disorder)
	}
	if foreign > 0 {
		out = append(out, fmt.Sprintf("%d words that are not mockai's (first %q)", foreign, firstForeign))
	}
	if len(out) == 0 { // same chunks, other spacing
		return fmt.Sprintf("not mockai's text: %q", oneLine(text, 80))
	}
	return strings.Join(out, "; ")
}

// repeated describes indexes that arrived more than once: "chunk-2 repeated,
// chunk-5..6 repeated (3 times)".
func (c *chunks) repeated() string {
	var parts []string
	c.repeatSpans(func(i, j int, k int32) {
		if k == 2 {
			parts = append(parts, chunkSpan(i, j)+" repeated")
		} else {
			parts = append(parts, chunkSpan(i, j)+" repeated ("+times(int(k))+")")
		}
	})
	return strings.Join(parts, ", ")
}

// mockIndex parses "chunk-<i>".
func mockIndex(w string) (int, bool) {
	s, ok := strings.CutPrefix(w, "chunk-")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < 1 || i > history.MaxOrderLen || strconv.Itoa(i) != s {
		return 0, false
	}
	return i, true
}

func quoteReplies(rs []string) string {
	if len(rs) == 0 {
		return "none"
	}
	q := make([]string, len(rs))
	for i, r := range rs {
		q[i] = strconv.Quote(oneLine(r, 200))
	}
	return strings.Join(q, ", ")
}

// Drop implements dropper.
func (c *ReplyPersisted) Drop(run string) { delete(c.done, run) }

// Finish implements Checker.
func (c *ReplyPersisted) Finish(time.Time) []Verdict {
	if n := c.other[history.StatusFailed] + c.other[history.StatusRequiresAction]; n > 0 {
		c.t.note("the persisted replies of %s were not judged: the run ended otherwise (%d failed, %d requires_action)", plural(n, "run"), c.other[history.StatusFailed], c.other[history.StatusRequiresAction])
	}
	if c.early > 0 {
		c.t.note("%s taken before the run was read completed, not judged", plural(c.early, "messages reading"))
	}
	c.t.notExercised("no run's persisted reply was read after the run was read completed (%d runs ended otherwise, %s taken before completion): "+
		"chaosd reads replies when postgres.reply_query is set (in --config, or the target profile's) and runs complete (--runs ≥ 1)",
		c.other[history.StatusFailed]+c.other[history.StatusRequiresAction], plural(c.early, "messages reading"))
	return []Verdict{c.t.verdict()}
}
