package invariants

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/chaosd/chaosd/history"
)

// RestartRecovers (promise restart-recovery): a run whose owner dies while it runs
// completes once a pod of the same name is up again. Today's mesh has no survivor
// takeover: DBOS recovers a pod's pending workflows when the pod restarts under its
// name (or a DBOS Conductor re-homes them).
//
// An episode opens when a run's owner (Postgres's owner at that time) goes down while
// the run is in progress, by anything but a graceful stop (a kill, a pause, a
// partition from NATS or everything, a Docker die or pause; a stop is
// handover-completes'). From the moment the pod is up again, the run must be read
// completed within RestartGraceFor(the run's streaming time).
// Cases: the episodes judged: completed within the grace after the comeback (pass),
// still in progress past it, or ended failed (or requires_action) and not completed
// by then (fail; a terminal status read after the comeback fails at once), undecided
// (unknown) or not promised. Under fault: a chaosd fault took the owner down. A new
// down of the owner before the episode is judged starts it again.
// No case: the run was completed while its owner was still down (someone else
// finished it, e.g. a DBOS Conductor); the notes count those.
// Not promised: the owner had not come back when the history ended: mesh does not
// promise to recover a run whose pod never restarts.
// Unknown: at the end of the grace the last thread reading had failed; the history
// ended during the grace.
type RestartRecovers struct {
	w        *World
	p        Params
	t        tally
	episodes map[string]*rrEpisode // by run

	downs    int       // episodes opened (for the note)
	byOthers int       // runs completed while their owner was still down
	first    rrEpisode // the first of those, for the note
}

var _ Checker = (*RestartRecovers)(nil)

type rrEpisode struct {
	run     string
	iv      *interval // the owner's down interval
	grace   time.Duration
	stream  time.Duration // the run's streaming time, part of the grace
	ended   string        // a terminal status other than completed, read while the owner was down
	endedAt time.Time     // when
	doneAt  time.Time     // completed while the owner was down (byOthers)
	lastErr string        // the last thread reading failed: why
}

func newRestartRecovers(w *World, p Params) *RestartRecovers {
	return &RestartRecovers{w: w, p: p, t: newTally(w, NameRestartRecovers, p.MaxEvidence), episodes: map[string]*rrEpisode{}}
}

// Name implements Checker.
func (c *RestartRecovers) Name() string { return NameRestartRecovers }

// Observe implements Checker.
func (c *RestartRecovers) Observe(e *history.Event) {
	for _, od := range c.w.ownerDownsNow() {
		if !od.iv.graceful() {
			c.open(od)
		}
	}
	if e.Type == history.TypeProbe && e.Probe.Kind == history.ProbeThread {
		if ep := c.episodes[e.Probe.Run]; ep != nil {
			c.observeThread(e, ep)
		}
	}
	c.judgeDue(c.w.Now())
}

func (c *RestartRecovers) open(od ownerDown) {
	c.downs++
	c.episodes[od.run.ID] = &rrEpisode{run: od.run.ID, iv: od.iv, grace: c.p.RestartGraceFor(od.run.Expect), stream: or(od.run.Expect, c.p.RunBase)}
}

func (c *RestartRecovers) observeThread(e *history.Event, ep *rrEpisode) {
	p := e.Probe
	if p.Err != "" || p.ThreadState == nil {
		ep.lastErr = p.Err
		return
	}
	ep.lastErr = ""
	up, isUp := c.upAt(ep, e.Time)
	switch st := p.ThreadState.Status; {
	case st == history.StatusCompleted && !isUp:
		c.completedWhileDown(ep, e.Time)
	case st == history.StatusCompleted && !e.Time.After(up.Add(ep.grace)):
		c.close(ep)
		c.t.pass(ep.iv.cause != nil)
	case st == history.StatusCompleted:
		c.violate(ep, e.Time, fmt.Sprintf("was completed only at %s, %s after its owner %s came back (%s), past the restart grace %s",
			clock(e.Time), e.Time.Sub(up).Round(time.Millisecond), ep.iv.pod, clock(up), c.graceText(ep)))
	case st == history.StatusInProgress:
	case ep.ended != "": // ended while the owner was down: the restarted pod may still complete it
	case !isUp:
		ep.ended, ep.endedAt = st, e.Time
	default:
		c.violate(ep, e.Time, fmt.Sprintf("ended %s at %s, %s after its owner %s came back (%s), instead of completing",
			st, clock(e.Time), e.Time.Sub(up).Round(time.Millisecond), ep.iv.pod, clock(up)))
	}
}

// upAt returns when the episode's owner came back, if it had by t.
func (c *RestartRecovers) upAt(ep *rrEpisode, t time.Time) (time.Time, bool) {
	if ep.iv.to.IsZero() || ep.iv.to.After(t) {
		return time.Time{}, false
	}
	return ep.iv.to, true
}

func (c *RestartRecovers) completedWhileDown(ep *rrEpisode, at time.Time) {
	c.close(ep)
	c.byOthers++
	if c.byOthers == 1 {
		c.first = *ep
		c.first.doneAt = at
	}
}

func (c *RestartRecovers) close(ep *rrEpisode) { delete(c.episodes, ep.run) }

// judgeDue judges the episodes whose grace (+ Skew) after the owner's comeback has
// passed by now.
func (c *RestartRecovers) judgeDue(now time.Time) {
	var due []string
	for run, ep := range c.episodes {
		if up, isUp := c.upAt(ep, now); isUp && !now.Before(up.Add(ep.grace+c.p.Skew)) {
			due = append(due, run)
		}
	}
	slices.Sort(due)
	for _, run := range due {
		ep := c.episodes[run]
		up, _ := c.upAt(ep, now)
		at := up.Add(ep.grace)
		switch {
		case ep.ended != "":
			c.violate(ep, at, fmt.Sprintf("ended %s at %s while its owner %s was down, and was not completed within the restart grace %s after %s came back (%s)",
				ep.ended, clock(ep.endedAt), ep.iv.pod, c.graceText(ep), ep.iv.pod, clock(up)))
		case ep.lastErr != "":
			c.close(ep)
			f := c.finding(ep, at, fmt.Sprintf("could not be judged at the end of its restart grace (%s after its owner %s came back): the last Postgres reading failed (%s)",
				c.graceText(ep), ep.iv.pod, ep.lastErr))
			c.t.undecided(ep.iv.cause != nil, &f, fmt.Sprintf("Postgres must answer the run's reading at the end of the restart grace (judged %s after it): check chaosd's reach to it (chaosd doctor, --database-url)", c.p.Skew))
		default:
			c.violate(ep, at, fmt.Sprintf("was still in progress at %s, %s after its owner %s came back (%s): not recovered within the restart grace %s",
				clock(at), ep.grace, ep.iv.pod, clock(up), c.graceText(ep)))
		}
	}
}

func (c *RestartRecovers) violate(ep *rrEpisode, at time.Time, what string) {
	c.close(ep)
	c.t.fail(ep.iv.cause != nil, c.finding(ep, at, what))
}

func (c *RestartRecovers) finding(ep *rrEpisode, at time.Time, what string) Finding {
	r := c.w.Run(ep.run)
	return Finding{At: at, Run: ep.run, Pods: []string{ep.iv.pod},
		Message: fmt.Sprintf("run %s %s; its owner went down at %s (%s)", ep.run, what, clock(ep.iv.from), ep.iv.what()), Details: c.w.Details(r)}
}

// graceText is the episode's grace with how it was derived, when it was.
func (c *RestartRecovers) graceText(ep *rrEpisode) string {
	if c.p.RestartGrace > 0 {
		return ep.grace.String()
	}
	boot := fmt.Sprintf("boot %s", c.p.BootTime)
	if c.p.BootTime <= 0 {
		boot = fmt.Sprintf("recover deadline %s (boot time unknown)", c.p.RecoverDeadline)
	}
	return fmt.Sprintf("%s (%s + detection %s + 2×slack %s + streaming %s)", ep.grace, boot, c.p.DetectInterval, c.p.Slack, ep.stream)
}

// Finish implements Checker.
func (c *RestartRecovers) Finish(at time.Time) []Verdict {
	c.judgeDue(at)
	for _, run := range slices.Sorted(maps.Keys(c.episodes)) {
		ep := c.episodes[run]
		c.close(ep)
		up, isUp := c.upAt(ep, at)
		if !isUp {
			c.t.notPromised(ep.iv.cause != nil, "run %s: its owner %s went down at %s (%s) and had not come back when the history ended at %s, %s later: "+
				"mesh recovers a run when its pod restarts under the same name, and this one never did (hold the fault shorter than the history, or heal it)",
				run, ep.iv.pod, clock(ep.iv.from), ep.iv.what(), clock(at), at.Sub(ep.iv.from).Round(time.Millisecond))
			continue
		}
		f := c.finding(ep, at, fmt.Sprintf("was still in progress when the history ended at %s, %s after its owner %s came back (%s), within the restart grace %s",
			clock(at), at.Sub(up).Round(time.Millisecond), ep.iv.pod, clock(up), c.graceText(ep)))
		c.t.undecided(ep.iv.cause != nil, &f, fmt.Sprintf("the history must go on for the restart grace after the owner's return (boot + detection %s + 2 × slack %s + the run's streaming time): "+
			"chaosd --fault watches that long unless interrupted; chaosd soak: --cooldown ≥ the grace", c.p.DetectInterval, c.p.Slack))
	}
	if c.byOthers > 0 && c.t.checks > 0 { // with no case, the not-exercised note says it
		c.t.note("%s", c.byOthersText())
	}
	c.t.notExercised("%s", c.notExercised())
	return []Verdict{c.t.verdict()}
}

// byOthersText says how many runs were completed while their owner was still down.
func (c *RestartRecovers) byOthersText() string {
	f := c.first
	return fmt.Sprintf("%s completed while %s owner was still down, so no restart recovered it (someone else finished it, e.g. a DBOS Conductor or a survivor): first run %s, completed at %s, %s after its owner %s went down (%s)",
		plural(c.byOthers, "run"), map[bool]string{true: "its", false: "their"}[c.byOthers == 1], f.run, clock(f.doneAt), f.doneAt.Sub(f.iv.from).Round(100*time.Millisecond), f.iv.pod, clock(f.iv.from))
}

// notExercised says, in numbers, why no episode was judged, and which fault gets one.
func (c *RestartRecovers) notExercised() string {
	if c.byOthers > 0 {
		f := c.first
		return c.byOthersText() + fmt.Sprintf(": for a restart to recover a run, its owner must come back before anyone else finishes it (--down-for < %s)",
			f.doneAt.Sub(f.iv.from).Round(100*time.Millisecond))
	}
	const remedy = ": kill, pause or partition the owner of a run in progress, and heal it (--fault=kill-owner with a finite --down-for)"
	switch c.w.downCount {
	case 0:
		return "no run's owner went down while the run was in progress (0 pods went down)" + remedy
	case 1:
		return "no run's owner went down while the run was in progress (a pod went down once, owning no run read in progress, or stopped gracefully: handover-completes')" + remedy
	}
	return fmt.Sprintf("no run's owner went down while the run was in progress (pods went down %d times, owning no run read in progress, or stopped gracefully: handover-completes')", c.w.downCount) + remedy
}
