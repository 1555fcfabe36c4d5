package invariants

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/promise"
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
	NameRestartRecovers   = "restart-recovers"
	NameHandoverCompletes = "handover-completes"
	NameReplyPersisted    = "reply-persisted"
	NamePodRecovers       = "pod-recovers"
	NameNoUnexpectedDeath = "no-unexpected-death"
	NameUserPrefix        = "user:" // user checks are named user:<name>
)

// kind is one entry of the list of checkers.
type kind struct {
	name string
	// promises are the promises (package promise) the checker checks: it is built
	// when the mesh makes one of them. nil: chaosd's own, always built.
	promises []string
	build    func(*World, Params) Checker
}

// enabled reports whether the mesh makes a promise the kind checks.
func (k kind) enabled(p Params) bool {
	return k.promises == nil || slices.ContainsFunc(k.promises, p.Promised)
}

// kinds is the one list of checkers, in report order, each with the promise it
// checks. stream-integrity checks either stream promise, by its rule.
var kinds = []kind{
	{NameRunCompletes, []string{promise.RunCompletes}, func(w *World, p Params) Checker { return newRunCompletes(w, p) }},
	{NamePrefixReplay, []string{promise.PrefixReplay}, func(w *World, p Params) Checker { return newPrefixReplay(w, p) }},
	{NameStreamIntegrity, []string{promise.StreamExactlyOnce, promise.StreamKeptLog}, func(w *World, p Params) Checker { return newStreamIntegrity(w, p) }},
	{NameChunkGrammar, nil, func(w *World, p Params) Checker { return newChunkGrammar(w, p) }},
	{NameNoWriteAfterEnd, nil, func(w *World, p Params) Checker { return newNoWriteAfterEnd(w, p) }},
	{NameHeartbeatBucket, []string{promise.HeartbeatBucket}, func(w *World, p Params) Checker { return newHeartbeatBucket(w, p) }},
	{NameOwnerAlive, []string{promise.SurvivorTakeover}, func(w *World, p Params) Checker { return newOwnerAlive(w, p) }},
	{NameRestartRecovers, []string{promise.RestartRecovery}, func(w *World, p Params) Checker { return newRestartRecovers(w, p) }},
	{NameHandoverCompletes, []string{promise.SigtermHandover}, func(w *World, p Params) Checker { return newHandoverCompletes(w, p) }},
	{NameReplyPersisted, []string{promise.ReplyPersistedOnce}, func(w *World, p Params) Checker { return newReplyPersisted(w, p) }},
	{NamePodRecovers, nil, func(w *World, p Params) Checker { return newPodRecovers(w, p) }},
	{NameRequestsAnswered, nil, func(w *World, p Params) Checker { return newRequestsAnswered(w, p) }},
	{NameRunsFlow, nil, func(w *World, p Params) Checker { return newRunsFlow(w, p) }},
	{NameNoUnexpectedDeath, nil, func(w *World, p Params) Checker { return newNoUnexpectedDeath(w, p) }},
	{NameUserPrefix + "*", nil, func(w *World, p Params) Checker { return newUserChecks(w, p) }},
}

// Names lists the invariants, in report order.
func Names() []string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = k.name
	}
	return out
}

// PromisesOf lists the promises the named invariant checks (any one of them makes it
// run); nil for chaosd's own invariants, which always run, and for unknown names.
func PromisesOf(invariant string) []string {
	for _, k := range kinds {
		if k.name == invariant || (strings.HasPrefix(invariant, NameUserPrefix) && k.name == NameUserPrefix+"*") {
			return slices.Clone(k.promises)
		}
	}
	return nil
}

// notPromisedNote says that an invariant is not run because the mesh does not make
// its promise: "owner-alive: not promised by this mesh (survivor-takeover: a
// survivor takes over a dead owner's run)".
func notPromisedNote(k kind, p Params) string {
	if len(k.promises) == 1 && slices.Contains(p.Untested, k.promises[0]) {
		return fmt.Sprintf("%s: not judged: this run's fault does not put it to the test (%s: %s)", k.name, k.promises[0], promise.Statement(k.promises[0]))
	}
	if len(k.promises) == 1 {
		return fmt.Sprintf("%s: not promised by this mesh (%s: %s)", k.name, k.promises[0], promise.Statement(k.promises[0]))
	}
	return fmt.Sprintf("%s: not promised by this mesh (%s)", k.name, strings.Join(k.promises, ", "))
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
	skipped  []string // notes for the kinds not built: their promise is not made
	events   int
	from, to time.Time
	started  bool
	defaults bool // neither the params nor the history named promises
}

// NewEngine builds an engine. Params are resolved against the history's begin line
// when it is the first event, else against the defaults.
func NewEngine(p Params) *Engine { return &Engine{p: p} }

func (g *Engine) start(e *history.Event) {
	var m *history.Meta
	if e.Type == history.TypeMeta && e.Meta.Phase == history.MetaBegin {
		m = e.Meta
	}
	g.defaults = g.p.Promises == nil && (m == nil || m.Promises == nil)
	g.p = g.p.Resolve(m)
	g.world = newWorld(g.p)
	g.world.onFinding = g.OnFinding
	for _, k := range kinds {
		if k.enabled(g.p) {
			g.checkers = append(g.checkers, k.build(g.world, g.p))
		} else {
			g.skipped = append(g.skipped, notPromisedNote(k, g.p))
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

// Count is one invariant's counts so far, as in its Verdict: cases checked, of
// them decided (Exercised), under fault, violated, unknown.
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
		out = append(out, Count{Name: t.name, Checks: t.checks, Exercised: t.decided, UnderFault: t.underFault,
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
	r.Notes = append(r.Notes, g.promiseNotes()...)
	if !r.Ended {
		r.Notes = append(r.Notes, "the history has no end line: chaosd did not exit cleanly")
	}
	return r
}

// promiseNotes are the report's notes about promises: which invariants were not run
// (their promise is not made), promises this chaosd does not know, and that the
// default promises were assumed.
func (g *Engine) promiseNotes() []string {
	var out []string
	if g.defaults {
		out = append(out, fmt.Sprintf("the history records no promises: judged by the May 2026 mesh's (%s)", strings.Join(promise.Default, ", ")))
	}
	var unknown []string
	for _, n := range g.p.Promises {
		if _, ok := promise.Lookup(n); !ok {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		out = append(out, fmt.Sprintf("promises this chaosd does not know were ignored: %s", strings.Join(unknown, ", ")))
	}
	if g.p.Promised(promise.StreamExactlyOnce) && g.p.Promised(promise.StreamKeptLog) {
		out = append(out, "stream-exactly-once and stream-kept-log are both promised: stream-integrity judges by the stricter, exactly once")
	}
	return append(out, g.skipped...)
}

// Analyze checks a stored history. progress, when not nil, is called every 64k
// events with the count so far. A malformed line is an error naming its number.
func Analyze(r *history.Reader, p Params, progress func(events int)) (Report, error) {
	return AnalyzeWith(r, p, Options{Progress: progress})
}

// AnalyzeEach is Analyze that also hands every event to each (when not nil), so that a
// caller that needs the events too (the report's timeline) reads the history once.
func AnalyzeEach(r *history.Reader, p Params, progress func(events int), each func(*history.Event)) (Report, error) {
	return AnalyzeWith(r, p, Options{Progress: progress, Each: each})
}

// Options are the ways of Analyze that a caller may choose.
type Options struct {
	// Progress, when not nil, is called every 64k events with the count so far.
	Progress func(events int)
	// Each, when not nil, is handed every event after the checkers.
	Each func(*history.Event)
	// Workers is how many goroutines decode the lines of the history ahead of the
	// checkers, which take the events in file order (history.Reader.ReadAhead): 0
	// means one per CPU (GOMAXPROCS); a negative number, none (each line is decoded
	// when the checkers want it, on the caller's goroutine).
	Workers int
}

// DecodeWorkers is the number of decoding goroutines that Options.Workers asks for:
// 0 when the lines are decoded one by one.
func (o Options) DecodeWorkers() int {
	switch {
	case o.Workers < 0:
		return 0
	case o.Workers == 0:
		return runtime.GOMAXPROCS(0)
	}
	return o.Workers
}

// GCPercent is the collector's GOGC that chaosd analyze sets while it runs Analyze
// (unless the environment sets GOGC). Decoding leaves a few hundred bytes of
// garbage per event while the heap that stays is some MB, so at Go's default of 100
// the collector runs every few thousand events and takes about a fifth of the
// CPU; at 200 most of that is saved, for about 10 MB more at the peak (400 saves
// little more and costs 20 MB more).
const GCPercent = 200

// AnalyzeWith checks a stored history the ways o says. Progress and Each run on the
// caller's goroutine. A malformed line is an error naming its number.
func AnalyzeWith(r *history.Reader, p Params, o Options) (Report, error) {
	if n := o.DecodeWorkers(); n > 0 {
		stop := r.ReadAhead(n)
		defer stop()
	}
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
		if o.Each != nil {
			o.Each(&e)
		}
		if o.Progress != nil && g.events%(64<<10) == 0 {
			o.Progress(g.events)
		}
	}
	rep := g.Finish()
	rep.Torn = r.Torn()
	if rep.Torn {
		rep.Notes = append(rep.Notes, fmt.Sprintf("the last line (%d) was torn by a crash and ignored", r.Line()))
	}
	return rep, nil
}
