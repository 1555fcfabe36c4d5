package invariants

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/chaosd/chaosd/history"
)

// Dependency outages. A soak runs for hours, and in hours Postgres, NATS or the
// Docker daemon may go away for a while: a maintenance restart, a full disk, a
// network blip. What the service does then is not what chaosd is judging (a mesh
// whose database is gone cannot finish runs), and chaos that cries wolf overnight
// is switched off by morning. So while a dependency is away, and for OutageGrace
// after it is back, a finding that would be a violation is recorded as an unknown
// window that names the outage. The grace covers the longest run that may have been
// caught in the outage and the takeovers it causes.
//
// An outage is known from chaosd's own reach to the dependency (dependency probes,
// written on each change) and from Docker events of a dependency's container
// (Params.Dependencies: a die or stop opens it, a start closes it).

type outage struct {
	name     string
	from, to time.Time // to zero while open
	why      string
}

func (o *outage) String() string {
	if o.to.IsZero() {
		return fmt.Sprintf("%s has been unreachable since %s (%s)", o.name, clock(o.from), o.why)
	}
	return fmt.Sprintf("%s was unreachable from %s to %s (%s)", o.name, clock(o.from), clock(o.to), o.why)
}

// maxOutages bounds the outages remembered; older ones are past every grace.
const maxOutages = 16

// outageGrace is how long after an outage findings are still excused: the longest
// run deadline seen (a run started just before the outage ended) plus the heartbeat
// TTL, or Params.OutageGrace when set.
func (w *World) outageGrace() time.Duration {
	if w.p.OutageGrace > 0 {
		return w.p.OutageGrace
	}
	return w.p.runDeadline(w.maxExpect) + w.p.HeartbeatTTL
}

// outageExcuse says whether a finding at t falls in or shortly after an outage,
// and which.
func (w *World) outageExcuse(t time.Time) (string, bool) {
	if w == nil {
		return "", false
	}
	grace := w.outageGrace()
	for i := len(w.outages) - 1; i >= 0; i-- {
		o := w.outages[i]
		if o.from.After(t.Add(w.p.Skew)) {
			continue
		}
		if o.to.IsZero() || !t.After(o.to.Add(grace)) {
			return o.String(), true
		}
	}
	return "", false
}

// Outage reports whether a dependency is away now, and which.
func (w *World) Outage() (string, bool) {
	for _, o := range w.outages {
		if o.to.IsZero() {
			return o.String(), true
		}
	}
	return "", false
}

func (w *World) dependencyDown(name string, at time.Time, why string) {
	for _, o := range w.outages {
		if o.name == name && o.to.IsZero() {
			return
		}
	}
	w.outages = append(w.outages, &outage{name: name, from: at, why: why})
	if len(w.outages) > maxOutages {
		w.outages = slices.Delete(w.outages, 0, len(w.outages)-maxOutages)
	}
}

func (w *World) dependencyUp(name string, at time.Time) {
	for _, o := range w.outages {
		if o.name == name && o.to.IsZero() {
			o.to = at
		}
	}
}

func (w *World) observeDependency(at time.Time, d *history.Dependency) {
	if d.Up {
		w.dependencyUp(d.Name, at)
		return
	}
	w.dependencyDown(d.Name, at, orDash(d.Err))
}

// observeDependencyContainer opens or closes an outage from a Docker event of a
// dependency's container; it reports whether the container is a dependency.
func (w *World) observeDependencyContainer(d *history.Docker, at time.Time) bool {
	name := ""
	for _, dep := range w.p.Dependencies {
		if d.Pod == dep {
			name = dep
		}
	}
	if name == "" {
		return false
	}
	switch d.Action {
	case history.DockerDie, history.DockerStop, history.DockerPause, history.DockerKill:
		w.dependencyDown(name, at, dockerWhy(d))
	case history.DockerStart, history.DockerUnpause:
		w.dependencyUp(name, at)
	}
	return true
}

// emit hands a finding to the OnFinding hook.
func (w *World) emit(invariant string, st Status, f Finding) {
	if w == nil || w.onFinding == nil {
		return
	}
	if f.Cause == "" {
		f.Cause = causeOf(f.Message)
	}
	w.onFinding(invariant, st, f)
}

var (
	causeIDs   = regexp.MustCompile(`[A-Za-z0-9_]*[0-9][A-Za-z0-9_]*`)
	causeClock = regexp.MustCompile(`\d{2}:\d{2}:\d{2}(\.\d+)?`)
)

// maxCause bounds a cause, in bytes.
const maxCause = 160

// causeOf is a finding's message with what varies between occurrences taken out:
// times, ids and counts become #, so that "run run-12 missed chunks 1-3" and "run
// run-40 missed chunks 1-2" are one cause.
func causeOf(msg string) string {
	s := causeClock.ReplaceAllString(strings.ToValidUTF8(msg, ""), "#")
	s = causeIDs.ReplaceAllString(s, "#")
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxCause {
		s = strings.Join(strings.Fields(strings.ToValidUTF8(s[:maxCause], "")), " ")
	}
	return s
}
