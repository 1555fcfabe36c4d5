package invariants

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/chaosd/chaosd/history"
)

// OwnerAlive: no in-progress run is owned by a pod that has been down longer than
// OwnerGrace (HeartbeatTTL + DetectInterval + Slack).
//
// A pod is down from a confirmed kill, stop, pause or partition from NATS (or all),
// or a Docker die/pause, until the heal, a Docker start/unpause, or a ready reading.
// Each thread reading of an in-progress run whose owner is down is a check: past the
// grace it is a violation (once per run and pod); within it, an episode opens. The
// episode is exercised when it resolves: Postgres names another owner or a terminal
// status while the pod is still down (the recovery worked), or a violation; under
// fault when a chaosd fault took the pod down. An episode whose pod came back first
// is not exercised.
// Unknown: a thread reading that failed while the run's last known owner had been
// down past the grace; an episode still open at the end of the history, or when the
// run was forgotten.
type OwnerAlive struct {
	w        *World
	p        Params
	t        tally
	episodes map[string]*episode // by run
}

var _ Checker = (*OwnerAlive)(nil)
var _ dropper = (*OwnerAlive)(nil)

type episode struct {
	pod     string
	since   time.Time
	why     string
	decided bool // violation or unknown reported
}

func newOwnerAlive(w *World, p Params) *OwnerAlive {
	return &OwnerAlive{w: w, p: p, t: newTally(w, NameOwnerAlive, p.MaxEvidence), episodes: map[string]*episode{}}
}

// Name implements Checker.
func (c *OwnerAlive) Name() string { return NameOwnerAlive }

// Observe implements Checker.
func (c *OwnerAlive) Observe(e *history.Event) {
	if e.Type != history.TypeProbe || e.Probe.Kind != history.ProbeThread || e.Probe.Run == "" {
		return
	}
	p := e.Probe
	if p.Err != "" || p.ThreadState == nil {
		c.unreadable(e)
		return
	}
	ep := c.episodes[p.Run]
	st := p.ThreadState
	since, why, down := c.w.DownSince(st.Owner)
	switch {
	case st.Status == history.StatusInProgress && st.Owner != "" && down:
		c.t.checks++
		c.ownedByDown(e, st.Owner, since, why)
	case ep != nil && ep.decided:
		c.closeEpisode(p.Run, ep, false)
	case ep != nil:
		_, _, stillDown := c.w.DownSince(ep.pod)
		c.closeEpisode(p.Run, ep, stillDown)
	}
}

func (c *OwnerAlive) ownedByDown(e *history.Event, owner string, since time.Time, why string) {
	run := e.Probe.Run
	ep := c.episodes[run]
	if ep != nil && ep.pod != owner {
		_, _, stillDown := c.w.DownSince(ep.pod)
		c.closeEpisode(run, ep, stillDown)
		ep = nil
	}
	if ep == nil {
		ep = &episode{pod: owner, since: since, why: why}
		c.episodes[run] = ep
	}
	if ep.decided || e.Time.Sub(since) <= c.p.OwnerGrace {
		return
	}
	ep.decided = true
	c.t.exercise(c.byFault(owner, since))
	r := c.w.Run(run)
	f := Finding{At: e.Time, Run: run, Pods: []string{owner}, Message: fmt.Sprintf(
		"run %s is still in_progress and owned by %s at %s, %s after %s went down (%s); grace %s. %s",
		run, owner, clock(e.Time), e.Time.Sub(since).Round(time.Millisecond), owner, why, c.p.OwnerGrace, c.w.Heartbeat())}
	f.Details = c.w.Details(r)
	c.t.violate(f)
}

// byFault reports whether a chaosd fault took the pod down at since.
func (c *OwnerAlive) byFault(pod string, since time.Time) bool {
	return c.w.FaultOn(pod, since, since) != nil
}

func (c *OwnerAlive) closeEpisode(run string, ep *episode, recovered bool) {
	delete(c.episodes, run)
	if recovered && !ep.decided {
		c.t.exercise(c.byFault(ep.pod, ep.since))
	}
}

// unreadable handles a failed thread reading: unknown when a violation was possible.
func (c *OwnerAlive) unreadable(e *history.Event) {
	r := c.w.Run(e.Probe.Run)
	if r == nil || !r.inProgress() || r.Owner == "" {
		return
	}
	since, why, down := c.w.DownSince(r.Owner)
	if !down || e.Time.Sub(since) <= c.p.OwnerGrace {
		return
	}
	ep := c.episodes[r.ID]
	if ep == nil {
		ep = &episode{pod: r.Owner, since: since, why: why}
		c.episodes[r.ID] = ep
	}
	if ep.decided {
		return
	}
	ep.decided = true
	c.t.unknown(Finding{At: e.Time, Run: r.ID, Pods: []string{r.Owner}, Message: fmt.Sprintf(
		"run %s could not be read from Postgres at %s (%s), %s after its last known owner %s went down (%s)",
		r.ID, clock(e.Time), e.Probe.Err, e.Time.Sub(since).Round(time.Millisecond), r.Owner, why), Details: c.w.Details(r)})
}

// Drop implements dropper.
func (c *OwnerAlive) Drop(run string) {
	if ep := c.episodes[run]; ep != nil {
		c.openAtEnd(run, ep, c.w.Now())
	}
}

func (c *OwnerAlive) openAtEnd(run string, ep *episode, at time.Time) {
	delete(c.episodes, run)
	if ep.decided {
		return
	}
	c.t.unknown(Finding{At: at, Run: run, Pods: []string{ep.pod}, Message: fmt.Sprintf(
		"run %s was last seen in_progress and owned by %s, down since %s (%s); nothing was observed after that to decide it (%s of the %s grace had passed at %s)",
		run, ep.pod, clock(ep.since), ep.why, at.Sub(ep.since).Round(time.Millisecond), c.p.OwnerGrace, clock(at))})
}

// Finish implements Checker.
func (c *OwnerAlive) Finish(at time.Time) []Verdict {
	for _, run := range slices.Sorted(maps.Keys(c.episodes)) {
		c.openAtEnd(run, c.episodes[run], at)
	}
	if c.t.exercised == 0 {
		c.t.note("no run was seen in progress while its owner was down")
	}
	return []Verdict{c.t.verdict()}
}
