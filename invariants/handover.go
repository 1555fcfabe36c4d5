package invariants

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/chaosd/chaosd/history"
)

// HandoverCompletes (promise sigterm-handover): a run whose owner is stopped
// gracefully while it runs completes on another pod. Today's mesh drains on SIGTERM,
// then puts its in-flight thread-gate workflows back on the queue for another pod.
//
// An episode opens when a run's owner (Postgres's owner at that time) is stopped
// gracefully while the run is in progress: a confirmed fault of kind stop on that pod
// (from its confirmation, or from the pod's Docker die when that came first), or a
// pod's Docker die while a rollout is open, unless the rollout's fault line says
// signal KILL (a rollout's default is TERM; one that records no signal and whose pod
// died of SIGKILL, exit 137, is taken for a kill): those are restart-recovers'.
// The run must be read completed within HandoverGraceFor(the run's streaming time)
// after the stop, and on another pod: it completed while the stopped pod was still
// down, or the last owner reading after the stop named another pod.
// Cases (always under fault): the episodes judged. Pass: completed in time on
// another pod. Fail: still not completed at the end of the grace (the gate was not
// handed over); completed only after the stopped pod came back, with the last owner
// reading naming it and no reading in between that showed the run with no owner (it
// waited for its owner to restart instead of being handed over; a run seen ownerless
// after the stop was handed over, and the queue may give it to the restarted pod
// itself, as it does in a rollout, whose pods come back at once: judged by time
// only); completed on another pod past the grace; ended failed or requires_action.
// Unknown: at the end of the grace the last thread reading had failed; completed
// after the stopped pod came back with no owner read since the stop, so the pod that
// completed it is not known; the history ended during the grace.
type HandoverCompletes struct {
	w        *World
	p        Params
	t        tally
	episodes map[string]*hoEpisode // by run
	stops    int                   // graceful stops confirmed (for the note)
}

var _ Checker = (*HandoverCompletes)(nil)

type hoEpisode struct {
	run           string
	iv            *interval // the stopped pod's down interval
	grace, stream time.Duration
	owner         string    // the last owner read since the stop ("" none)
	ownerAt       time.Time // when
	handedOver    time.Time // first reading since the stop of the run in progress with no owner: its gate back on the queue
	lastErr       string    // the last thread reading failed: why
}

func newHandoverCompletes(w *World, p Params) *HandoverCompletes {
	return &HandoverCompletes{w: w, p: p, t: newTally(w, NameHandoverCompletes, p.MaxEvidence), episodes: map[string]*hoEpisode{}}
}

// Name implements Checker.
func (c *HandoverCompletes) Name() string { return NameHandoverCompletes }

// Observe implements Checker.
func (c *HandoverCompletes) Observe(e *history.Event) {
	if e.Type == history.TypeFault && e.Fault.Phase == history.FaultInjected &&
		(e.Fault.Kind == history.KindStop || e.Fault.Kind == history.KindRollout) {
		c.stops++
	}
	for _, od := range c.w.ownerDownsNow() {
		if od.iv.graceful() {
			ep := &hoEpisode{run: od.run.ID, iv: od.iv, grace: c.p.HandoverGraceFor(od.run.Expect), stream: or(od.run.Expect, c.p.RunBase)}
			if owner, at := od.run.lastOwner(); owner != "" && owner != od.iv.pod {
				// Claimed by another pod before the stopped one exited: that reading
				// is the run's owner since the stop.
				ep.owner, ep.ownerAt = owner, at
			}
			c.episodes[od.run.ID] = ep
		}
	}
	if e.Type == history.TypeProbe && e.Probe.Kind == history.ProbeThread {
		if ep := c.episodes[e.Probe.Run]; ep != nil {
			c.observeThread(e, ep)
		}
	}
	c.judgeDue(c.w.Now())
}

func (c *HandoverCompletes) observeThread(e *history.Event, ep *hoEpisode) {
	p := e.Probe
	if p.Err != "" || p.ThreadState == nil {
		ep.lastErr = p.Err
		return
	}
	ep.lastErr = ""
	switch st := p.ThreadState; st.Status {
	case history.StatusInProgress:
		if st.Owner != "" {
			ep.owner, ep.ownerAt = st.Owner, e.Time
		} else if ep.handedOver.IsZero() {
			ep.handedOver = e.Time
		}
	case history.StatusCompleted:
		c.completed(ep, e.Time)
	default:
		c.violate(ep, e.Time, fmt.Sprintf("ended %s at %s, %s after its owner %s was stopped, instead of completing on another pod",
			st.Status, clock(e.Time), e.Time.Sub(ep.iv.from).Round(time.Millisecond), ep.iv.pod))
	}
}

// completed judges the run read completed at.
func (c *HandoverCompletes) completed(ep *hoEpisode, at time.Time) {
	back := !ep.iv.to.IsZero() && !ep.iv.to.After(at)
	after := at.Sub(ep.iv.from).Round(time.Millisecond)
	switch {
	case back && ep.owner == ep.iv.pod && ep.handedOver.IsZero():
		c.violate(ep, at, fmt.Sprintf("waited for its owner to restart instead of being handed over: completed at %s, %s after %s was stopped, "+
			"after %s came back (%s); Postgres named %s its owner at %s", clock(at), after, ep.iv.pod, ep.iv.pod, clock(ep.iv.to), ep.iv.pod, clock(ep.ownerAt)))
	case back && ep.owner == "":
		c.close(ep)
		f := c.finding(ep, at, fmt.Sprintf("was completed at %s, after its stopped owner %s came back (%s), and no owner was read since the stop: "+
			"which pod completed it is not known", clock(at), ep.iv.pod, clock(ep.iv.to)))
		c.t.undecided(true, &f, fmt.Sprintf("an owner reading must fall between the stop and the stopped pod's return: hold the stop longer "+
			"(--down-for ≥ the handover grace: detection %s + 2 × slack %s + the run's streaming time)", c.p.DetectInterval, c.p.Slack))
	case at.After(ep.iv.from.Add(ep.grace)):
		c.violate(ep, at, fmt.Sprintf("was not handed over in time: completed only at %s, %s after its owner %s was stopped, past the handover grace %s",
			clock(at), after, ep.iv.pod, c.graceText(ep)))
	default:
		c.close(ep)
		c.t.pass(true)
	}
}

func (c *HandoverCompletes) close(ep *hoEpisode) { delete(c.episodes, ep.run) }

func (c *HandoverCompletes) violate(ep *hoEpisode, at time.Time, what string) {
	c.close(ep)
	c.t.fail(true, c.finding(ep, at, what))
}

func (c *HandoverCompletes) finding(ep *hoEpisode, at time.Time, what string) Finding {
	return Finding{At: at, Run: ep.run, Pods: []string{ep.iv.pod},
		Message: fmt.Sprintf("run %s %s; %s", ep.run, what, ep.iv.what()), Details: c.w.Details(c.w.Run(ep.run))}
}

// judgeDue judges the episodes whose grace (+ Skew) after the stop has passed by now.
func (c *HandoverCompletes) judgeDue(now time.Time) {
	var due []string
	for run, ep := range c.episodes {
		if !now.Before(ep.iv.from.Add(ep.grace + c.p.Skew)) {
			due = append(due, run)
		}
	}
	slices.Sort(due)
	for _, run := range due {
		ep := c.episodes[run]
		at := ep.iv.from.Add(ep.grace)
		if ep.lastErr != "" {
			c.close(ep)
			f := c.finding(ep, at, fmt.Sprintf("could not be judged at the end of its handover grace %s: the last Postgres reading failed (%s)", c.graceText(ep), ep.lastErr))
			c.t.undecided(true, &f, fmt.Sprintf("Postgres must answer the run's reading at the end of the handover grace (judged %s after it): check chaosd's reach to it (chaosd doctor, --database-url)", c.p.Skew))
			continue
		}
		why := "the gate was not handed over"
		if !ep.handedOver.IsZero() {
			why = fmt.Sprintf("read back on the queue (in progress, no owner) at %s, it was not completed in time", clock(ep.handedOver))
		}
		c.violate(ep, at, fmt.Sprintf("was still in progress at %s, %s after its owner %s was stopped: %s (handover grace %s; %s)",
			clock(at), ep.grace, ep.iv.pod, why, c.graceText(ep), c.whereText(ep, at)))
	}
}

// whereText says who Postgres last named the run's owner since the stop, and whether
// the stopped pod was back.
func (c *HandoverCompletes) whereText(ep *hoEpisode, at time.Time) string {
	s := "no owner read since the stop"
	if ep.owner != "" {
		s = fmt.Sprintf("Postgres last named %s its owner at %s", ep.owner, clock(ep.ownerAt))
	}
	if !ep.iv.to.IsZero() && !ep.iv.to.After(at) {
		return s + fmt.Sprintf("; %s came back at %s", ep.iv.pod, clock(ep.iv.to))
	}
	return s + fmt.Sprintf("; %s still down", ep.iv.pod)
}

// graceText is the episode's grace with how it was derived, when it was.
func (c *HandoverCompletes) graceText(ep *hoEpisode) string {
	if c.p.HandoverGrace > 0 {
		return ep.grace.String()
	}
	return fmt.Sprintf("%s (detection %s + 2×slack %s + streaming %s)", ep.grace, c.p.DetectInterval, c.p.Slack, ep.stream)
}

// Finish implements Checker.
func (c *HandoverCompletes) Finish(at time.Time) []Verdict {
	c.judgeDue(at)
	for _, run := range slices.Sorted(maps.Keys(c.episodes)) {
		ep := c.episodes[run]
		c.close(ep)
		f := c.finding(ep, at, fmt.Sprintf("was still in progress when the history ended at %s, %s after its owner %s was stopped, within the handover grace %s",
			clock(at), at.Sub(ep.iv.from).Round(time.Millisecond), ep.iv.pod, c.graceText(ep)))
		c.t.undecided(true, &f, fmt.Sprintf("the history must go on for the handover grace after a stop (detection %s + 2 × slack %s + the run's streaming time): "+
			"chaosd --fault watches that long unless interrupted; chaosd soak: --cooldown ≥ the grace", c.p.DetectInterval, c.p.Slack))
	}
	c.t.notExercised("%s", c.notExercised())
	return []Verdict{c.t.verdict()}
}

// notExercised says, in numbers, why no episode was judged, and which fault stops a
// run's owner gracefully.
func (c *HandoverCompletes) notExercised() string {
	const remedy = ": stop a run's owner by SIGTERM while the run streams (--fault=stop-owner, or --fault=rollout with --signal=TERM)"
	if c.stops == 0 {
		return "no run's owner was stopped gracefully while the run was in progress (0 stop or rollout faults were confirmed)" + remedy
	}
	return fmt.Sprintf("no run's owner was stopped gracefully while the run was in progress (%s or rollouts confirmed, none by SIGTERM of a pod owning a run read in progress)",
		plural(c.stops, "stop")) + remedy
}
