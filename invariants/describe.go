package invariants

import (
	"fmt"
	"strings"

	"github.com/chaosd/chaosd/history"
)

// chunks is what one watcher's arrival order says: how often each index arrived and
// the first place where first arrivals left the order 1, 2, 3, ...
type chunks struct {
	n        int     // chunks the run asked for, 0 when unknown
	max      int     // highest index seen
	counts   []int32 // index -> arrivals
	total    int
	disorder string // first arrival out of order, "" when none
}

func analyzeOrder(o history.Order, n int) chunks {
	c := chunks{n: n, max: o.Max(), total: o.Len()}
	c.counts = make([]int32, c.max+1)
	high := 0 // highest first arrival so far
	for _, s := range o {
		for i := s.From; i <= s.To; i++ {
			if c.counts[i] == 0 {
				c.firstArrival(i, high)
				high = max(high, i)
			}
			c.counts[i]++
		}
	}
	return c
}

func (c *chunks) firstArrival(i, high int) {
	if c.disorder != "" || i == high+1 {
		return
	}
	switch {
	case high == 0:
		c.disorder = fmt.Sprintf("the first chunk it saw was chunk-%d", i)
	case i > high+1:
		c.disorder = fmt.Sprintf("chunk-%d came right after chunk-%d", i, high)
	default:
		c.disorder = fmt.Sprintf("chunk-%d arrived after chunk-%d", i, high)
	}
}

// limit is the highest index the run should have: n, or the highest seen.
func (c *chunks) limit() int {
	if c.n > 0 {
		return c.n
	}
	return c.max
}

// missing lists the indexes in [from, to] that never arrived.
func (c *chunks) missing(from, to int) []int {
	var out []int
	for i := max(from, 1); i <= to; i++ {
		if i >= len(c.counts) || c.counts[i] == 0 {
			out = append(out, i)
		}
	}
	return out
}

// beyond lists indexes above n (when n is known).
func (c *chunks) beyond() []int {
	var out []int
	for i := c.n + 1; c.n > 0 && i <= c.max; i++ {
		if c.counts[i] > 0 {
			out = append(out, i)
		}
	}
	return out
}

// duplicates describes indexes that arrived more than once: "chunk-1..7 twice".
func (c *chunks) duplicates() string {
	var parts []string
	c.repeatSpans(func(i, j int, k int32) { parts = append(parts, chunkSpan(i, j)+" "+times(int(k))) })
	return strings.Join(parts, ", ")
}

// repeatSpans calls f for each maximal run i..j of indexes that all arrived the same
// number of times k, k > 1, in index order.
func (c *chunks) repeatSpans(f func(i, j int, k int32)) {
	for i := 1; i <= c.max; {
		k := c.counts[i]
		j := i
		for j+1 <= c.max && c.counts[j+1] == k {
			j++
		}
		if k > 1 {
			f(i, j, k)
		}
		i = j + 1
	}
}

func times(k int) string {
	if k == 2 {
		return "twice"
	}
	return fmt.Sprintf("%d times", k)
}

// chunkRanges formats sorted indexes: [1 2 3 5] -> "chunk-1..3, chunk-5".
func chunkRanges(xs []int) string {
	var parts []string
	for i := 0; i < len(xs); {
		j := i
		for j+1 < len(xs) && xs[j+1] == xs[j]+1 {
			j++
		}
		parts = append(parts, chunkSpan(xs[i], xs[j]))
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

func chunkSpan(from, to int) string {
	if from == to {
		return fmt.Sprintf("chunk-%d", from)
	}
	return fmt.Sprintf("chunk-%d..%d", from, to)
}

// describeWatch is one watcher's view of a run, for diagnoses.
func describeWatch(w *history.Watch, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "on %s (%s): saw %s", orDash(w.Pod), watchWhen(w), orderText(w.Order))
	if n > 0 {
		fmt.Fprintf(&b, " of %d", n)
	}
	if len(w.Restarts) > 0 {
		fmt.Fprintf(&b, ", the reply restarted (a new start chunk) after %s", restartsText(w.Restarts))
	}
	if w.Foreign > 0 {
		fmt.Fprintf(&b, ", %d foreign deltas (first %q)", w.Foreign, w.FirstFgn)
	}
	if w.Finished {
		b.WriteString(", finish seen")
	} else {
		b.WriteString(", no finish")
	}
	if w.Err != "" {
		fmt.Fprintf(&b, ", ended: %s", w.Err)
	}
	return b.String()
}

// restartsText formats restart positions: "6 chunks", "6 and 14 chunks".
func restartsText(rs []int) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprint(r)
	}
	if len(parts) == 1 {
		return parts[0] + " chunks"
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1] + " chunks"
}

func watchWhen(w *history.Watch) string {
	if w.Late {
		return fmt.Sprintf("late, opened %s with %d chunks buffered", clock(w.OpenedAt), w.K)
	}
	return "early, opened " + clock(w.OpenedAt)
}

func orderText(o history.Order) string {
	if len(o) == 0 {
		return "no chunks"
	}
	return fmt.Sprintf("chunks %s in that order (%d)", o.String(), o.Len())
}

func describeThread(st *history.ThreadState) string {
	return threadReading{status: st.Status, owner: st.Owner}.String()
}

// threadReading is a thread probe's reading as a run's Postgres trail keeps it,
// described only when a diagnosis shows it: two are equal exactly when String
// describes them alike.
type threadReading struct {
	unread        bool   // the thread could not be read
	err           string // why
	status, owner string
}

func (t threadReading) String() string {
	switch {
	case t.unread:
		return "could not read: " + t.err
	case t.owner == "":
		return t.status
	}
	return t.status + " owner " + t.owner
}

func describeMessages(p *history.Probe) string {
	if p.Err != "" || p.Messages == nil {
		return "could not read: " + p.Err
	}
	return fmt.Sprintf("%s persisted: %s", plural(len(p.Messages.Replies), "assistant message"), quoteReplies(p.Messages.Replies))
}

// bufferReading is a buffer probe's reading as a run's NATS trail keeps it: two are
// equal exactly when String describes them alike (every field of the buffer is in
// its description).
type bufferReading struct {
	unread bool   // the buffer could not be read
	err    string // why
	buf    history.Buffer
}

func bufferReadingOf(p *history.Probe) bufferReading {
	if p.Err != "" || p.Buffer == nil {
		return bufferReading{unread: true, err: p.Err}
	}
	return bufferReading{buf: *p.Buffer}
}

func (r bufferReading) String() string {
	if r.unread {
		return "could not read: " + r.err
	}
	b := r.buf
	s := fmt.Sprintf("%d msgs seq %d-%d, %d deltas", b.Messages, b.FirstSeq, b.LastSeq, b.TextDeltas)
	if b.Done {
		s += ", done"
	}
	if b.Sentinels > 1 {
		s += fmt.Sprintf(" (%d sentinels)", b.Sentinels)
	}
	if b.Finishes > 1 {
		s += fmt.Sprintf(", %d finishes", b.Finishes)
	}
	if b.AfterDone > 0 {
		s += fmt.Sprintf(", %d after the end (the first stored %s)", b.AfterDone, clock(b.FirstAfterDone))
	}
	return s
}

func describeHeartbeats(p *history.Probe) string {
	switch {
	case p.Err != "" || p.Heartbeats == nil:
		return "heartbeats could not be read: " + p.Err
	case !p.Heartbeats.Bucket:
		return "heartbeat bucket missing"
	}
	var keys []string
	for _, k := range p.Heartbeats.Keys {
		keys = append(keys, fmt.Sprintf("%s %s old", k.Pod, k.Age.D().Round(100_000_000)))
	}
	if len(keys) == 0 {
		return "heartbeat bucket with no keys"
	}
	return "heartbeat keys: " + strings.Join(keys, ", ")
}
