package invariants

import (
	"fmt"
	"strings"
	"time"

	"github.com/chaosd/chaosd/history"
)

// NoUnexpectedDeath: no container dies, restarts or OOMs except by chaosd's hand.
//
// Cases: the Docker events, each judged as it comes: the watch's start
// (watch-start), and every lifecycle event of a container not ignored
// (Params.IgnoreContainers, e.g. the one-shot migrate). A die, oom or restart that
// chaosd did not cause is a violation; chaosd's own are the deaths of its kills,
// stops and rollouts (a rollout's, pod by pod as it stops each), which the event
// watch expected; any other event (a start, a pause, ...) passes: it is no death,
// and shows the stream live (a history with no event at all proves nothing: not
// exercised). Events after the history's end line (teardown) are not judged. Under
// fault: seen while a fault was in effect. Unknown: the event stream broke
// (watch-error), so deaths in that window may be missing.
type NoUnexpectedDeath struct {
	w *World
	p Params
	t tally
}

var _ Checker = (*NoUnexpectedDeath)(nil)

func newNoUnexpectedDeath(w *World, p Params) *NoUnexpectedDeath {
	return &NoUnexpectedDeath{w: w, p: p, t: newTally(w, NameNoUnexpectedDeath, p.MaxEvidence)}
}

// Name implements Checker.
func (c *NoUnexpectedDeath) Name() string { return NameNoUnexpectedDeath }

// Observe implements Checker.
func (c *NoUnexpectedDeath) Observe(e *history.Event) {
	if e.Type != history.TypeDocker || c.w.Ended() {
		return
	}
	d := e.Docker
	at := d.At
	if at.IsZero() {
		at = e.Time
	}
	uf := c.w.AnyFault()
	if d.Action == history.DockerWatchError {
		c.t.undecided(uf, &Finding{At: at, Message: "the container event stream (Docker's, or the pods' on Kubernetes) broke: container deaths around " + clock(at) + " may be missing (" + d.Err + ")"},
			"the container event stream must stay up from the history's start (1 watch-start) to its end: check chaosd's reach to the runtime (the Docker daemon: --docker-host; the API server: kubernetes.kubeconfig; chaosd doctor)")
		return
	}
	if d.Action != history.DockerWatchStart && c.p.ignored(d.Pod, d.Container) {
		return
	}
	switch d.Action {
	case history.DockerDie, history.DockerOOM, history.DockerRestart:
		if !d.ByChaosd {
			c.t.fail(uf, c.finding(at, d))
			return
		}
	}
	c.t.pass(uf)
}

func (c *NoUnexpectedDeath) finding(at time.Time, d *history.Docker) Finding {
	name := orDash(d.Pod)
	if d.Container != "" {
		name += " (container " + shortID(d.Container) + ")"
	}
	what := map[string]string{history.DockerDie: "died", history.DockerOOM: "ran out of memory", history.DockerRestart: "restarted"}[d.Action]
	if d.ExitCode != nil {
		what += fmt.Sprintf(" with exit code %d", *d.ExitCode)
	}
	f := Finding{At: at, Pods: []string{d.Pod}, Message: fmt.Sprintf("%s %s at %s, not by chaosd's hand", name, what, clock(at))}
	var active []string
	for _, fl := range c.w.open {
		active = append(active, fl.String())
	}
	if len(active) > 0 {
		f.Details = append(f.Details, "faults in effect: "+strings.Join(active, "; "))
	}
	return f
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Finish implements Checker.
func (c *NoUnexpectedDeath) Finish(time.Time) []Verdict {
	c.t.notExercised("no Docker event was recorded (0 events): the event stream was not shown to be watched; " +
		"chaosd watches it when it reaches the Docker daemon (chaosd doctor, --docker-host) and runs the workload against containers (--workload=true)")
	return []Verdict{c.t.verdict()}
}
