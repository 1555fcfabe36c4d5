package invariants

import (
	"fmt"
	"strings"
	"time"

	"github.com/chaosd/chaosd/history"
)

// PodRecovers: after a heal, the pod is ready again within RecoverDeadline.
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
type PodRecovers struct {
	w     *World
	p     Params
	t     tally
	waits []*recoverWait

	faults map[string]string // fault id -> its latest phase, until healed (for the note)
}

var _ Checker = (*PodRecovers)(nil)

type recoverWait struct {
	f        *fault
	pod      string
	since    string // what the deadline counts from: the heal, or the pod's restart in a rollout
	healedAt time.Time
	deadline time.Time
	readings int    // readiness readings of the pod since the heal
	last     string // the last of them
}

func newPodRecovers(w *World, p Params) *PodRecovers {
	return &PodRecovers{w: w, p: p, t: newTally(w, NamePodRecovers, p.MaxEvidence), faults: map[string]string{}}
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
	}
	c.judgeDue(c.w.Now())
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
		if f.Kind != history.KindRollout { // its pods' waits opened as each one died
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
	c.waits = append(c.waits, &recoverWait{f: f, pod: d.Pod, since: "its restart by the rollout", healedAt: at, deadline: at.Add(c.p.RecoverDeadline)})
}

func (c *PodRecovers) observeReady(e *history.Event) {
	kept := c.waits[:0]
	for _, wt := range c.waits {
		if wt.pod != e.Probe.Pod || e.Time.Before(wt.healedAt) {
			kept = append(kept, wt)
			continue
		}
		wt.readings++
		wt.last = readyNote(e.Probe.Ready) + " at " + clock(e.Time)
		if !e.Probe.Ready.Ready {
			kept = append(kept, wt)
			continue
		}
		if e.Time.After(wt.deadline) {
			c.t.fail(true, Finding{At: e.Time, Pods: []string{wt.pod}, Message: fmt.Sprintf(
				"%s was ready again only at %s, %s after %s; deadline %s (%s)",
				wt.pod, clock(e.Time), e.Time.Sub(wt.healedAt).Round(time.Millisecond), wt.since, c.p.RecoverDeadline, wt.f)})
		} else {
			c.t.pass(true)
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
}

func (c *PodRecovers) judgeLate(wt *recoverWait, at time.Time) {
	if wt.readings == 0 {
		c.t.undecided(true, &Finding{At: at, Pods: []string{wt.pod}, Message: fmt.Sprintf(
			"%s's readiness was never read in the %s after %s (%s)", wt.pod, at.Sub(wt.healedAt).Round(time.Millisecond), wt.since, wt.f)},
			fmt.Sprintf("the pod's readiness must be read at least 1 time within the recover deadline %s after the heal "+
				"(chaosd reads it with the workload, --workload=true; chaosd analyze --recover-deadline sets the deadline)", c.p.RecoverDeadline))
		return
	}
	c.t.fail(true, Finding{At: at, Pods: []string{wt.pod}, Message: fmt.Sprintf(
		"%s was not ready %s after %s (%s): %d readiness readings since, the last %s",
		wt.pod, c.p.RecoverDeadline, wt.since, wt.f, wt.readings, wt.last)})
}

// Finish implements Checker.
func (c *PodRecovers) Finish(at time.Time) []Verdict {
	c.judgeDue(at)
	for _, wt := range c.waits {
		c.t.undecided(true, &Finding{At: at, Pods: []string{wt.pod}, Message: fmt.Sprintf(
			"the history ended %s after %s (%s), before %s was seen ready (deadline %s)",
			at.Sub(wt.healedAt).Round(time.Millisecond), wt.since, wt.f, wt.pod, c.p.RecoverDeadline)},
			fmt.Sprintf("the history must go on until the pod is ready or the recover deadline %s has passed after the heal "+
				"(chaosd --fault waits that long unless interrupted; chaosd soak: --cooldown ≥ %s)", c.p.RecoverDeadline, c.p.RecoverDeadline))
	}
	c.t.notExercised("%s", c.notExercised())
	return []Verdict{c.t.verdict()}
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
