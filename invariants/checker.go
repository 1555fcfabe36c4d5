package invariants

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/chaosd/chaosd/history"
)

// Checker is one invariant (or a family, like the user checks). Observe sees every
// event in history order, after the World has; Finish returns the verdicts at the
// end of the history (at: the last event's time).
type Checker interface {
	Name() string
	Observe(e *history.Event)
	Finish(at time.Time) []Verdict
}

// dropper is the optional ability to forget a run whose dossier the World dropped.
type dropper interface {
	Drop(run string)
}

// Invariant names.
const (
	NameRunCompletes      = "run-completes"
	NamePrefixReplay      = "prefix-replay"
	NameStreamIntegrity   = "stream-integrity"
	NameHeartbeatBucket   = "heartbeat-bucket"
	NameOwnerAlive        = "owner-alive"
	NamePodRecovers       = "pod-recovers"
	NameNoUnexpectedDeath = "no-unexpected-death"
	NameUserPrefix        = "user:" // user checks are named user:<name>
)

// kind is one entry of the list of checkers.
type kind struct {
	name    string
	enabled func(Params) bool
	build   func(*World, Params) Checker
}

func always(Params) bool { return true }

// kinds is the one list of checkers, in report order.
var kinds = []kind{
	{NameRunCompletes, always, func(w *World, p Params) Checker { return newRunCompletes(w, p) }},
	{NamePrefixReplay, always, func(w *World, p Params) Checker { return newPrefixReplay(w, p) }},
	{NameStreamIntegrity, always, func(w *World, p Params) Checker { return newStreamIntegrity(w, p) }},
	{NameHeartbeatBucket, func(p Params) bool { return *p.HeartbeatCheck }, func(w *World, p Params) Checker { return newHeartbeatBucket(w, p) }},
	{NameOwnerAlive, always, func(w *World, p Params) Checker { return newOwnerAlive(w, p) }},
	{NamePodRecovers, always, func(w *World, p Params) Checker { return newPodRecovers(w, p) }},
	{NameNoUnexpectedDeath, always, func(w *World, p Params) Checker { return newNoUnexpectedDeath(w, p) }},
	{NameUserPrefix + "*", always, func(w *World, p Params) Checker { return newUserChecks(w, p) }},
}

// Names lists the invariants, in report order.
func Names() []string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = k.name
	}
	return out
}

// Engine feeds events to the World and every checker.
type Engine struct {
	// OnFinding, when set before the first event, is called with every finding as
	// it is recorded: each violation (Fail) and each unknown window (Unknown), with
	// the invariant's name. It runs on the Observe path: it must not block.
	OnFinding func(invariant string, st Status, f Finding)

	p        Params
	world    *World
	checkers []Checker
	events   int
	from, to time.Time
	started  bool
}

// NewEngine builds an engine. Params are resolved against the history's begin line
// when it is the first event, else against the defaults.
func NewEngine(p Params) *Engine { return &Engine{p: p} }

func (g *Engine) start(e *history.Event) {
	var m *history.Meta
	if e.Type == history.TypeMeta && e.Meta.Phase == history.MetaBegin {
		m = e.Meta
	}
	g.p = g.p.Resolve(m)
	g.world = newWorld(g.p)
	g.world.onFinding = g.OnFinding
	for _, k := range kinds {
		if k.enabled(g.p) {
			g.checkers = append(g.checkers, k.build(g.world, g.p))
		}
	}
	g.world.onDrop = func(run string) {
		for _, c := range g.checkers {
			if d, ok := c.(dropper); ok {
				d.Drop(run)
			}
		}
	}
	g.from, g.started = e.Time, true
}

// Observe processes one event.
func (g *Engine) Observe(e *history.Event) {
	if !g.started {
		g.start(e)
	}
	g.events++
	if e.Time.After(g.to) {
		g.to = e.Time
	}
	g.world.observe(e)
	for _, c := range g.checkers {
		c.Observe(e)
	}
	g.world.expire()
}

// Count is one invariant's counts so far.
type Count struct {
	Name                                                string
	Checks, Exercised, UnderFault, Violations, Unknowns int
}

// Counts returns every invariant's counts so far, in report order (user checks by
// name). Before the first event it returns nil.
func (g *Engine) Counts() []Count {
	if !g.started {
		return nil
	}
	out := make([]Count, 0, len(g.world.tallies))
	for _, t := range g.world.tallies {
		out = append(out, Count{Name: t.name, Checks: t.checks, Exercised: t.exercised, UnderFault: t.underFault,
			Violations: t.violations, Unknowns: t.unknowns})
	}
	return out
}

// Outage says whether a dependency outage is open at the latest event, and which.
func (g *Engine) Outage() (string, bool) {
	if !g.started {
		return "", false
	}
	return g.world.Outage()
}

// Report is the outcome of checking a history.
type Report struct {
	Verdicts []Verdict `json:"verdicts"`
	Status   Status    `json:"status"`
	Events   int       `json:"events"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Ended    bool      `json:"ended"` // the history's end line was seen (a clean exit)
	Torn     bool      `json:"torn"`  // the last line was torn by a crash
	Params   Params    `json:"params"`
	Notes    []string  `json:"notes,omitempty"`
}

// Finish ends the history and returns the report.
func (g *Engine) Finish() Report {
	r := Report{Events: g.events, From: g.from, To: g.to}
	if !g.started {
		r.Status = Unknown
		r.Notes = append(r.Notes, "the history holds no events")
		return r
	}
	for _, c := range g.checkers {
		r.Verdicts = append(r.Verdicts, c.Finish(g.to)...)
	}
	r.Status, r.Ended, r.Params = Overall(r.Verdicts), g.world.ended, g.p
	if !*g.p.HeartbeatCheck {
		r.Notes = append(r.Notes, "heartbeat-bucket is off (this mesh has no heartbeat bucket)")
	}
	if !r.Ended {
		r.Notes = append(r.Notes, "the history has no end line: chaosd did not exit cleanly")
	}
	return r
}

// Analyze checks a stored history. progress, when not nil, is called every 64k
// events with the count so far. A malformed line is an error naming its number.
func Analyze(r *history.Reader, p Params, progress func(events int)) (Report, error) {
	return AnalyzeEach(r, p, progress, nil)
}

// AnalyzeEach is Analyze that also hands every event to each (when not nil), so that a
// caller that needs the events too (the report's timeline) reads the history once.
func AnalyzeEach(r *history.Reader, p Params, progress func(events int), each func(*history.Event)) (Report, error) {
	g := NewEngine(p)
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Report{}, fmt.Errorf("history: %w", err)
		}
		g.Observe(&e)
		if each != nil {
			each(&e)
		}
		if progress != nil && g.events%(64<<10) == 0 {
			progress(g.events)
		}
	}
	rep := g.Finish()
	rep.Torn = r.Torn()
	if rep.Torn {
		rep.Notes = append(rep.Notes, fmt.Sprintf("the last line (%d) was torn by a crash and ignored", r.Line()))
	}
	return rep, nil
}
