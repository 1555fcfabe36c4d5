package invariants

import (
	"fmt"
	"strings"
	"time"

	"github.com/chaosd/chaosd/history"
)

// PodRecovers: after a heal, the pod is ready again within RecoverDeadline, and
// serves again: readiness that says ok while the pod fails is not a recovery.
//
// Each confirmed heal opens a wait, closed by the pod's first ready reading at or
// after the heal: in time it passes, late it fails. A rollout restarts each pod the
// moment it is down: each death it causes (a Docker die by chaosd, of the rollout's
// fault) opens a wait of its own, from the death; its heal opens none (its target is
// every pod, not one). At the deadline (+ Skew) with no ready reading: fail when the
// pod was read and said not ready (or did not answer), unknown when it was never
// read. Cases: the waits judged, and the heals that could not be confirmed (always
// under fault: heals and rollouts are chaosd's faults). Unknown also: a heal that
// could not be confirmed (heal-unknown), and a wait still open when the history ended.
//
// Serving: a pod ready again in time is then judged on the run starts and attaches
// sent to it from that ready reading on (the one-shot starts one run there, posted to
// it and watched from it, once every pod is ready again). It serves once each route
// sent to it was answered 2xx (both, when both were sent: a start is answered from
// Postgres, an attach needs the stream buffer). A 4xx is mesh saying no and a
// request chaosd cut short says nothing; nor does a 503 within the heartbeat TTL +
// slack of the heal or before a heartbeat key the pod wrote since the heal has been
// read (as in requests-answered). Other failures (a
// 5xx, a reset, a timeout) within RecoverDeadline of the ready reading are the pod
// still reconnecting and decide nothing yet; at that deadline a pod that served
// passes, and one with failures only is decided by its next answer: 2xx passes
// (noted: "served again only at ..."), a failure fails, naming the pod, the route,
// the first answers and the readiness that said ok meanwhile. A case where no request
// reached the pod in the window passes on readiness alone (counted in a note); one
// with failures only when the history ends is unknown.
type PodRecovers struct {
	w     *World
	p     Params
	t     tally
	waits []*recoverWait
	serve []*serveWait
	sent  map[uint64]sentOp // start and attach ops in flight to a pod with a serve wait

	readinessOnly int // cases passed on readiness alone (no request to the pod in the window)

	faults  map[string]string // fault id -> its latest phase, until healed (for the note)
	claimed map[string]bool   // replacements already counted for a pod removed for good
}

// orReplaced is the pod a finding names: the wait's pod, else the one removed.
func orReplaced(wt *recoverWait) string {
	if wt.pod != "" {
		return wt.pod
	}
	return wt.replaced
}

var _ Checker = (*PodRecovers)(nil)

type recoverWait struct {
	f        *fault
	pod      string // "" for a replaced pod until its replacement is read ready
	replaced string // the pod the fault removed for good (history.Fault.Replaced), whose replacement is awaited
	since    string // what the deadline counts from: the heal, or the pod's restart in a rollout
	healedAt time.Time
	deadline time.Time
	readings int    // readiness readings of the pod since the heal
	last     string // the last of them
}

// serveWait: a pod ready again after a heal, until a request to it is answered 2xx.
type serveWait struct {
	f        *fault
	pod      string
	healedAt time.Time // the heal, or its restart by a rollout
	readyAt  time.Time // its first ready reading after the heal
	deadline time.Time // readyAt + RecoverDeadline: failures until then decide nothing
	fails    []string  // failed answers, oldest first (the first few)
	failed   int
	sent, ok map[string]bool // route (start, attach) -> sent since readyAt; answered 2xx
	okAt     time.Time       // the last request answered 2xx was sent
	late     bool            // past the deadline with failures only: the next answer decides
}

type sentOp struct {
	route, pod string
	at         time.Time
}

func newPodRecovers(w *World, p Params) *PodRecovers {
	return &PodRecovers{w: w, p: p, t: newTally(w, NamePodRecovers, p.MaxEvidence), faults: map[string]string{}, sent: map[uint64]sentOp{}, claimed: map[string]bool{}}
}

// Name implements Checker.
func (c *PodRecovers) Name() string { return NamePodRecovers }

// Observe implements Checker.
func (c *PodRecovers) Observe(e *history.Event) {
	switch {
	case e.Type == history.TypeFault:
		c.observeFault(e)
	case e.Type == history.TypeProbe && e.Probe.Kind == history.ProbeReady && e.Probe.Ready != nil:
		c.observeReady(e)
	case e.Type == history.TypeDocker && e.Docker.Action == history.DockerDie:
		c.observeDeath(e)
	case e.Type == history.TypeOp && (e.Op.Name == history.OpStartRun || e.Op.Name == history.OpAttach):
		c.observeOp(e)
	}
	c.judgeDue(c.w.Now())
	if c.w.Ended() {
		c.endServe(c.w.Now())
	}
}

// observeOp follows the starts and attaches sent to a pod with a serve wait.
func (c *PodRecovers) observeOp(e *history.Event) {
	o := e.Op
	if o.Phase == history.PhaseInvoke {
		for _, sw := range c.serve {
			if sw.pod == o.Pod && !e.Time.Before(sw.readyAt) {
				c.sent[o.ID] = sentOp{route: routeName(o.Name), pod: o.Pod, at: e.Time}
				return
			}
		}
		return
	}
	rq, ok := c.sent[o.ID]
	if !ok {
		return
	}
	delete(c.sent, o.ID)
	failed := o.Phase != history.PhaseOK
	if failed && (refused(o) || cutShort(o)) {
		return // mesh said no, or chaosd cut the request short: neither says the pod fails
	}
	kept := c.serve[:0]
	for _, sw := range c.serve {
		if sw.pod != rq.pod || rq.at.Before(sw.readyAt) {
			kept = append(kept, sw)
			continue
		}
		if failed && o.Status == 503 && c.w.Reconnecting(sw.pod, sw.healedAt, rq.at) {
			kept = append(kept, sw) // not connected to NATS yet (the rule of requests-answered)
			continue
		}
		sw.sent[rq.route] = true
		if !failed {
			sw.ok[rq.route], sw.okAt = true, rq.at
			// Both routes served: decided. One only: the other may yet fail (a start
			// is answered by Postgres, an attach needs the stream buffer), so the
			// window's end decides, unless the window is over.
			if !(sw.ok["start"] && sw.ok["attach"]) && !sw.late {
				kept = append(kept, sw)
				continue
			}
			if !sw.serves() {
				kept = append(kept, sw)
				continue
			}
			c.served(sw, sw.okAt)
			continue
		}
		answer := "no answer"
		if o.Status != 0 {
			answer = fmt.Sprintf("%d", o.Status)
		}
		sw.fails, sw.failed = appendFail(sw.fails, fmt.Sprintf("%s answered %s at %s (%s)", rq.route, answer, clock(rq.at), excerpt(o.Err, 80))), sw.failed+1
		if sw.ok[rq.route] || (!sw.late && rq.at.Before(sw.deadline)) {
			kept = append(kept, sw) // a route that served already, or the pod may still be reconnecting
			continue
		}
		c.t.fail(true, Finding{At: e.Time, Pods: []string{sw.pod}, Message: fmt.Sprintf(
			"%s says ready but does not serve: ready again at %s after %s, its readiness says %s, yet %s since, none answered 2xx on %s (the last sent %s after it said ready): %s",
			sw.pod, clock(sw.readyAt), sw.f, c.w.pod(sw.pod).readyNote, plural(sw.failed, "failed request"), rq.route,
			rq.at.Sub(sw.readyAt).Round(time.Millisecond), strings.Join(sw.fails, "; "))})
	}
	c.serve = kept
}

// served passes a serve wait, with a note when the pod failed requests first.
func (c *PodRecovers) served(sw *serveWait, at time.Time) {
	c.t.pass(true)
	if sw.failed > 0 {
		c.t.note("%s served again only at %s, %s after it said ready (%s), after %s: %s",
			sw.pod, clock(at), at.Sub(sw.readyAt).Round(time.Millisecond), sw.f, plural(sw.failed, "failed request"), strings.Join(sw.fails, "; "))
	}
}

// serves: every route sent to the pod since it said ready (start, attach) was
// answered 2xx at least once, and one was sent.
func (sw *serveWait) serves() bool {
	for r := range sw.sent {
		if !sw.ok[r] {
			return false
		}
	}
	return len(sw.ok) > 0
}

// appendFail keeps the first three failures of a serve wait.
func appendFail(fails []string, what string) []string {
	if len(fails) < 3 {
		return append(fails, what)
	}
	return fails
}

func (c *PodRecovers) observeFault(e *history.Event) {
	h := e.Fault
	c.faults[h.ID] = h.Phase
	if h.Phase == history.FaultHealed || h.Phase == history.FaultHealUnknown {
		delete(c.faults, h.ID) // a heal is a check: no note is due
	}
	f := c.w.pods[h.Pod].faultByID(h.ID)
	if f == nil {
		return
	}
	switch h.Phase {
	case history.FaultHealed:
		switch {
		case f.Kind == history.KindRollout: // its pods' waits opened as each one died
		case f.Replaced: // the pod is gone for good: its replacement must be ready
			c.waits = append(c.waits, &recoverWait{f: f, replaced: f.Pod, since: "the heal", healedAt: f.endAt, deadline: f.endAt.Add(c.p.RecoverDeadline)})
		default:
			c.waits = append(c.waits, &recoverWait{f: f, pod: f.Pod, since: "the heal", healedAt: f.endAt, deadline: f.endAt.Add(c.p.RecoverDeadline)})
		}
	case history.FaultHealUnknown:
		c.t.undecided(true, &Finding{At: e.Time, Pods: []string{h.Pod}, Message: fmt.Sprintf(
			"the heal of %s could not be confirmed (%s): whether the pod recovers is unknown", f, h.Err)},
			"chaosd must confirm the heal (1 confirmed start, unpause or reconnect): chaosd recover heals what is left, and a watchdog heals it if chaosd dies (--watchdog=true)")
	}
}

// observeDeath opens a wait for a pod that a rollout took down: it is started again
// at once, so it must be ready within RecoverDeadline of its death, as a killed pod of
// its heal.
func (c *PodRecovers) observeDeath(e *history.Event) {
	d := e.Docker
	f := c.w.open[d.Fault]
	if !d.ByChaosd || d.Fault == "" || f == nil || f.Kind != history.KindRollout || d.Pod == "" || c.p.ignored(d.Pod, d.Container) || c.w.Ended() {
		return
	}
	at := d.At
	if at.IsZero() {
		at = e.Time
	}
	wt := &recoverWait{f: f, pod: d.Pod, since: "its restart by the rollout", healedAt: at, deadline: at.Add(c.p.RecoverDeadline)}
	if f.Replaced { // the rollout removed the pod for good: a replacement must be ready
		wt.pod, wt.replaced, wt.since = "", d.Pod, "its removal by the rollout"
	}
	c.waits = append(c.waits, wt)
}

// who names the pod a wait is for: the pod, or the replacement of a pod removed for
// good while none has been read ready.
func (wt *recoverWait) who() string {
	if wt.pod != "" {
		return wt.pod
	}
	return "a replacement of " + wt.replaced
}

// matches reports whether a readiness reading of pod is one the wait counts: the
// pod's own, or for a replaced pod, that of a pod first seen after the fault's
// decision that no other wait has claimed (a replacement is a new pod).
func (c *PodRecovers) matches(wt *recoverWait, pod string) bool {
	if wt.replaced == "" {
		return wt.pod == pod
	}
	if wt.pod != "" {
		return wt.pod == pod
	}
	p := c.w.pods[pod]
	return p != nil && p.firstSeen.After(wt.f.intentAt) && !c.claimed[pod]
}

func (c *PodRecovers) observeReady(e *history.Event) {
	kept := c.waits[:0]
	for _, wt := range c.waits {
		if !c.matches(wt, e.Probe.Pod) || e.Time.Before(wt.healedAt) {
			kept = append(kept, wt)
			continue
		}
		wt.readings++
		wt.last = readyNote(e.Probe.Ready) + " at " + clock(e.Time)
		if !e.Probe.Ready.Ready {
			kept = append(kept, wt)
			continue
		}
		if wt.replaced != "" && wt.pod == "" {
			wt.pod = e.Probe.Pod
			c.claimed[wt.pod] = true
			c.t.note("%s was removed for good (%s): its replacement %s was ready at %s", wt.replaced, wt.f, wt.pod, clock(e.Time))
		}
		if e.Time.After(wt.deadline) {
			c.t.fail(true, Finding{At: e.Time, Pods: []string{wt.pod}, Message: fmt.Sprintf(
				"%s was ready again only at %s, %s after %s; deadline %s (%s)",
				wt.pod, clock(e.Time), e.Time.Sub(wt.healedAt).Round(time.Millisecond), wt.since, c.p.RecoverDeadline, wt.f)})
		} else {
			c.serve = append(c.serve, &serveWait{f: wt.f, pod: wt.pod, healedAt: wt.healedAt, readyAt: e.Time, deadline: e.Time.Add(c.p.RecoverDeadline),
				sent: map[string]bool{}, ok: map[string]bool{}})
		}
	}
	c.waits = kept
}

func (c *PodRecovers) judgeDue(now time.Time) {
	kept := c.waits[:0]
	for _, wt := range c.waits {
		if now.Before(wt.deadline.Add(c.p.Skew)) {
			kept = append(kept, wt)
			continue
		}
		c.judgeLate(wt, wt.deadline)
	}
	c.waits = kept
	served := c.serve[:0]
	for _, sw := range c.serve {
		switch {
		case sw.late || now.Before(sw.deadline.Add(c.p.Skew)):
			served = append(served, sw)
		case sw.serves():
			c.served(sw, sw.okAt)
		case sw.failed == 0:
			c.t.pass(true) // nothing was sent there in the window: ready is all there is
			c.readinessOnly++
		default:
			sw.late = true // failures only: the next answer decides
			served = append(served, sw)
		}
	}
	c.serve = served
}

func (c *PodRecovers) judgeLate(wt *recoverWait, at time.Time) {
	if wt.readings == 0 {
		c.t.undecided(true, &Finding{At: at, Pods: []string{orReplaced(wt)}, Message: fmt.Sprintf(
			"%s's readiness was never read in the %s after %s (%s)", wt.who(), at.Sub(wt.healedAt).Round(time.Millisecond), wt.since, wt.f)},
			fmt.Sprintf("the pod's readiness must be read at least 1 time within the recover deadline %s after the heal "+
				"(chaosd reads it with the workload, --workload=true; chaosd analyze --recover-deadline sets the deadline)", c.p.RecoverDeadline))
		return
	}
	c.t.fail(true, Finding{At: at, Pods: []string{orReplaced(wt)}, Message: fmt.Sprintf(
		"%s was not ready %s after %s (%s): %d readiness readings since, the last %s",
		wt.who(), c.p.RecoverDeadline, wt.since, wt.f, wt.readings, wt.last)})
}

// Finish implements Checker.
func (c *PodRecovers) Finish(at time.Time) []Verdict {
	c.judgeDue(at)
	for _, wt := range c.waits {
		c.t.undecided(true, &Finding{At: at, Pods: []string{orReplaced(wt)}, Message: fmt.Sprintf(
			"the history ended %s after %s (%s), before %s was seen ready (deadline %s)",
			at.Sub(wt.healedAt).Round(time.Millisecond), wt.since, wt.f, wt.who(), c.p.RecoverDeadline)},
			fmt.Sprintf("the history must go on until the pod is ready or the recover deadline %s has passed after the heal "+
				"(chaosd --fault waits that long unless interrupted; chaosd soak: --cooldown ≥ %s)", c.p.RecoverDeadline, c.p.RecoverDeadline))
	}
	c.endServe(at)
	if c.readinessOnly > 0 {
		c.t.note("%s judged on readiness alone: no run was started on or attached to the pod within %s (the recover deadline) after it was ready again",
			plural(c.readinessOnly, "heal"), c.p.RecoverDeadline)
	}
	c.t.notExercised("%s", c.notExercised())
	return []Verdict{c.t.verdict()}
}

// endServe decides the serve waits still open when the history ends (at its end
// line, so that the live counts agree with the verdict, or at Finish).
func (c *PodRecovers) endServe(at time.Time) {
	for _, sw := range c.serve {
		if sw.serves() {
			c.served(sw, sw.okAt)
			continue
		}
		if sw.failed == 0 {
			c.t.pass(true)
			c.readinessOnly++
			continue
		}
		c.t.undecided(true, &Finding{At: at, Pods: []string{sw.pod}, Message: fmt.Sprintf(
			"%s was ready again at %s after %s, but the history ended with %s to it since and none answered 2xx: %s",
			sw.pod, clock(sw.readyAt), sw.f, plural(sw.failed, "failed request"), strings.Join(sw.fails, "; "))},
			fmt.Sprintf("a run start or attach sent to the pod after it was ready again must be answered (2xx: it serves; a failure %s after it said ready: it does not)", c.p.RecoverDeadline))
	}
	c.serve = nil
}

// faultByID finds a recent fault on the pod.
func (p *pod) faultByID(id string) *fault {
	if p == nil {
		return nil
	}
	for _, f := range p.faults {
		if f.ID == id {
			return f
		}
	}
	return nil
}

// notExercised says, in numbers, why no heal was judged: the faults seen and where
// each stopped.
func (c *PodRecovers) notExercised() string {
	const remedy = ": a fault that is healed while the history goes on (--fault=KIND with a finite --down-for or --duration, not never)"
	if len(c.faults) == 0 {
		return "no fault was healed: none was injected (0 faults)" + remedy
	}
	var open, failed int
	for _, phase := range c.faults {
		switch phase {
		case history.FaultInjectFailed:
			failed++
		case history.FaultIntent, history.FaultInjected:
			open++
		}
	}
	var parts []string
	if open > 0 {
		parts = append(parts, fmt.Sprintf("%d still in effect when the history ended", open))
	}
	if failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed to inject", failed))
	}
	return fmt.Sprintf("no fault was healed (%s: %s)", plural(len(c.faults), "fault"), strings.Join(parts, ", ")) + remedy
}

// plural is "1 fault", "2 faults".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
