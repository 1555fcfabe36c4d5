package invariants

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/chaosd/chaosd/history"
)

// NameRequestsAnswered is the invariant that judges every start and attach answer.
const NameRequestsAnswered = "requests-answered"

// RequestsAnswered: every run start and attach sent to a pod that was ready (its last
// readiness reading, not older than ReadyStale, said ready when the request was sent)
// and outside every fault window is answered 2xx. A 5xx, a reset or a timeout from
// such a pod is a violation naming the pod, the route, the status, an excerpt of the
// error and the time. A run that could not be started (its early attach or its start
// failed so) is judged here: run-completes counts only started runs.
//
// Not judged (no case): a request the pod refused with a 4xx (mesh said no: not a
// failure to serve); a request chaosd itself cut short (context canceled: its
// shutdown or the run's end); a request sent to a pod that was not ready or down; a
// request in flight while any chaosd fault was in effect, or within the request
// grace (Params.RequestGrace) after a heal, on any pod (a fault on the
// owner of a run may fail an attach elsewhere for a moment); a request never
// answered before the history ended.
// Cases: every 2xx answer (under fault: in flight near a fault, as above) and every
// failed answer judged.
// Nor a 503 (unavailable: a pod's own word that it cannot serve for now) from a pod
// that a fault hit, sent within the heartbeat TTL + slack of that fault's heal or
// before a heartbeat key the pod wrote since the heal has been read: its NATS client
// has not yet found out that its connection died during the fault and reconnected (a
// client notices only at its next ping or write, up to a ping interval after the
// heal, and a key may still be written over the old connection meanwhile: seen 5.2 s
// after a partition's heal in CI, the key back). The TTL is the mesh's own bound on a
// pod's silence. A 500, a reset or a timeout then is judged. A pod that never writes
// its key again is heartbeat-bucket's finding.
// Nor a failure from a pod that said it was degraded: its readiness reading just before
// the request, or the first one after the answer, reported NATS down (mesh's readiness
// stays 200 then: NATS is soft). Such a pod told the truth; a pod that never reconnects
// is heartbeat-bucket's finding. A failure is therefore judged at the pod's next
// readiness reading (or at the end of the history), not at once.
// When the failing pod's readiness said ready at the time, the finding says so: "pod X
// says ready but answered 500 to N attaches since T".
type RequestsAnswered struct {
	w       *World
	p       Params
	t       tally
	flight  map[uint64]request    // by op id; kept by value: one request a run, or more, is in flight at once
	windows map[string]*faultSpan // chaosd's faults, by id
	spans   []*faultSpan          // the spans of windows, in no order (nil: made again from windows)
	streaks map[string]*failStreak
	grace   time.Duration
	said    map[string]reading    // each pod's last readiness reading
	healed  map[string]time.Time  // each pod's last heal of a chaosd fault on it
	pending map[string][]*failure // failures waiting for their pod's next reading

	sent, refused, canceled, notReady, nearFaults, degraded, reconnecting int
}

// reading is what a pod's readiness said, and when.
type reading struct {
	at       time.Time
	degraded bool
}

// failure is a failed answer judged at its pod's next readiness reading.
type failure struct {
	rq    *request
	o     history.Op
	at    time.Time
	ready bool // the pod's readiness said ready when the answer came
}

var _ Checker = (*RequestsAnswered)(nil)

type request struct {
	name, pod, run string
	at             time.Time
	ready          bool
}

type faultSpan struct {
	from, to time.Time // to zero while in effect (or its heal unconfirmed)
}

// failStreak is a pod's failed answers to one route, since its last 2xx there.
type failStreak struct {
	n     int
	since time.Time
}

func newRequestsAnswered(w *World, p Params) *RequestsAnswered {
	return &RequestsAnswered{w: w, p: p, t: newTally(w, NameRequestsAnswered, p.MaxEvidence),
		flight: map[uint64]request{}, windows: map[string]*faultSpan{}, streaks: map[string]*failStreak{}, grace: p.RequestGrace(),
		said: map[string]reading{}, pending: map[string][]*failure{}, healed: map[string]time.Time{}}
}

// Name implements Checker.
func (c *RequestsAnswered) Name() string { return NameRequestsAnswered }

// requestGrace is how long after a heal requests are still not judged.
func (c *RequestsAnswered) requestGrace() time.Duration { return c.grace }

// RequestGrace is how long after a heal requests-answered does not judge requests
// yet (the pod reconnects, a restarted pod settles): half the heartbeat interval,
// at least 2 s (5 s with mesh's settings).
func (p Params) RequestGrace() time.Duration {
	p = p.Resolve(nil)
	return max(p.HeartbeatInterval/2, 2*time.Second)
}

// Observe implements Checker.
func (c *RequestsAnswered) Observe(e *history.Event) {
	switch e.Type {
	case history.TypeFault:
		c.observeFault(e)
	case history.TypeProbe:
		switch p := e.Probe; {
		case p.Kind == history.ProbeReady && p.Ready != nil && p.Pod != "":
			c.observeReading(p.Pod, reading{at: e.Time, degraded: saysDegraded(p.Ready)})
		}
	case history.TypeOp:
		o := e.Op
		if o.Name != history.OpStartRun && o.Name != history.OpAttach {
			return
		}
		if o.Phase == history.PhaseInvoke {
			c.sent++
			c.flight[o.ID] = request{name: o.Name, pod: o.Pod, run: o.Run, at: e.Time, ready: o.Pod != "" && c.w.Ready(o.Pod)}
			return
		}
		rq, ok := c.flight[o.ID]
		if !ok {
			return
		}
		delete(c.flight, o.ID)
		c.judge(rq, o, e.Time)
	}
}

// saysDegraded: the pod answered its readiness route and reported NATS not up.
func saysDegraded(r *history.Ready) bool {
	if r.Err != "" {
		return false
	}
	if r.Status == "degraded" {
		return true
	}
	switch r.NATS {
	case "", "up", "ok", "connected":
		return false
	}
	return true
}

// observeReading settles the pod's failures waiting for this reading.
func (c *RequestsAnswered) observeReading(pod string, r reading) {
	c.said[pod] = r
	fs := c.pending[pod]
	if len(fs) == 0 {
		return
	}
	delete(c.pending, pod)
	for _, f := range fs {
		if r.degraded {
			c.degraded++
			continue
		}
		c.fail(f)
	}
}

// spanOf is the span of the fault e belongs to in spans (made at e's time when it is
// the fault's first event), and the time e says the phase happened.
func spanOf(spans map[string]*faultSpan, e *history.Event) (*faultSpan, time.Time) {
	at := e.Fault.At
	if at.IsZero() {
		at = e.Time
	}
	s := spans[e.Fault.ID]
	if s == nil {
		s = &faultSpan{from: at}
		spans[e.Fault.ID] = s
	}
	return s, at
}

func (c *RequestsAnswered) observeFault(e *history.Event) {
	h := e.Fault
	s, at := spanOf(c.windows, e)
	switch h.Phase {
	case history.FaultHealed, history.FaultInjectFailed:
		s.to = at
		if h.Phase == history.FaultHealed && h.Pod != "" {
			c.healed[h.Pod] = at
		}
	}
	// Forget spans long past: no request is in flight that long.
	for id, w := range c.windows {
		if !w.to.IsZero() && c.w.Now().Sub(w.to) > time.Hour {
			delete(c.windows, id)
		}
	}
	c.spans = nil
}

// nearFault reports whether a fault was in effect, or healed less than the grace
// before, at some time in [from, to].
func (c *RequestsAnswered) nearFault(from, to time.Time) bool {
	grace := c.requestGrace()
	if c.spans == nil && len(c.windows) > 0 {
		// nearFault runs for every answer, faults change seldom: a slice walks faster
		// than the map.
		c.spans = make([]*faultSpan, 0, len(c.windows))
		for _, s := range c.windows {
			c.spans = append(c.spans, s)
		}
	}
	for _, s := range c.spans {
		if s.from.After(to) {
			continue
		}
		if s.to.IsZero() || !s.to.Add(grace).Before(from) {
			return true
		}
	}
	return false
}

func (c *RequestsAnswered) judge(rq request, o *history.Op, at time.Time) {
	route := routeName(rq.name)
	key := rq.pod + " " + route
	if o.Phase == history.PhaseOK {
		delete(c.streaks, key)
		c.t.pass(c.nearFault(rq.at, at))
		return
	}
	switch {
	case refused(o):
		c.refused++
		return
	case cutShort(o):
		c.canceled++
		return
	case !rq.ready:
		c.notReady++
		return
	case c.nearFault(rq.at, at):
		c.nearFaults++
		return
	}
	if c.w.downAt(rq.pod, rq.at) != nil {
		c.notReady++
		return
	}
	if o.Status == 503 && c.reconnectingAt(rq.pod, rq.at) {
		c.reconnecting++
		return
	}
	if r, ok := c.said[rq.pod]; ok && r.degraded && rq.at.Sub(r.at) <= c.p.ReadyStale {
		c.degraded++
		return
	}
	kept := rq // on the heap only when it is kept
	c.pending[rq.pod] = append(c.pending[rq.pod], &failure{rq: &kept, o: *o, at: at, ready: c.w.Ready(rq.pod)})
}

// refused: a failed answer that is mesh saying no (a 4xx, or no status at all on a
// definite failure), not a pod failing.
func refused(o *history.Op) bool {
	return o.Phase == history.PhaseFailed && (o.Status == 0 || o.Status < 500)
}

// cutShort: a request chaosd itself canceled; its failure says nothing of the pod.
func cutShort(o *history.Op) bool {
	return o.Status == 0 && strings.Contains(o.Err, "context canceled")
}

// reconnectingAt: a chaosd fault on pod healed before t, and the pod may still be
// reconnecting to NATS at t (World.Reconnecting).
func (c *RequestsAnswered) reconnectingAt(pod string, t time.Time) bool {
	h, ok := c.healed[pod]
	return ok && c.w.Reconnecting(pod, h, t)
}

// fail records a failed answer from a pod that did not say it was degraded.
func (c *RequestsAnswered) fail(fl *failure) {
	rq, o, at := fl.rq, &fl.o, fl.at
	route := routeName(rq.name)
	key := rq.pod + " " + route
	st := c.streaks[key]
	if st == nil {
		st = &failStreak{since: at}
		c.streaks[key] = st
	}
	st.n++
	answer := "no answer"
	if o.Status != 0 {
		answer = fmt.Sprintf("%d", o.Status)
	}
	msg := fmt.Sprintf("%s answered %s %s with %s at %s (sent %s, ready and outside any fault): %s",
		rq.pod, route, orDash(rq.run), answer, clock(at), clock(rq.at), excerpt(o.Err, 160))
	if fl.ready {
		msg += fmt.Sprintf("; pod %s says ready but answered %s to %s since %s", rq.pod, answer, routeCount(st.n, route), clock(st.since))
	}
	f := Finding{At: at, Run: rq.run, Pods: []string{rq.pod}, Message: msg}
	if r := c.w.Run(rq.run); r != nil {
		f.Details = c.w.Details(r)
	}
	c.t.fail(false, f)
}

// routeName is the route of an operation: start or attach.
func routeName(op string) string {
	if op == history.OpStartRun {
		return "start"
	}
	return op
}

// excerpt shortens an error text to n bytes on one line.
func excerpt(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "-"
	}
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// routeCount is "1 attach", "3 attaches", "2 starts".
func routeCount(n int, route string) string {
	if n == 1 {
		return "1 " + route
	}
	if route == "attach" {
		return fmt.Sprintf("%d attaches", n)
	}
	return fmt.Sprintf("%d %ss", n, route)
}

// Finish implements Checker.
func (c *RequestsAnswered) Finish(at time.Time) []Verdict {
	for _, pod := range slices.Sorted(maps.Keys(c.pending)) {
		for _, f := range c.pending[pod] {
			c.fail(f)
		}
	}
	clear(c.pending)
	if n := c.canceled + c.notReady + c.nearFaults + c.refused + c.degraded + c.reconnecting; n > 0 {
		c.t.note("not judged: %d answers cut short by chaosd, %d to pods not ready, %d near a fault (in one or within %s of its heal), %d refused (4xx), %d from pods that said they were degraded (NATS down), %d answered 503 by pods not yet back on NATS after a fault's heal (within the TTL + slack of it, or no heartbeat key written since)",
			c.canceled, c.notReady, c.nearFaults, c.requestGrace(), c.refused, c.degraded, c.reconnecting)
	}
	c.t.notExercised("no start or attach answer was judged: %d sent, none answered 2xx or failed on a ready pod outside a fault; "+
		"runs must flow while the pods are ready (--runs ≥ 1 with --workload=true for chaosd --fault; --rate for chaosd soak)", c.sent)
	return []Verdict{c.t.verdict()}
}
