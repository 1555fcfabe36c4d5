// Package invariants checks a history (package history) against the invariant
// catalogue of DESIGN.md. Checkers are incremental: they see each event once, keep
// state only for what is still undecided (a run in flight, a pod down, a heal not yet
// followed by readiness), and keep a capped number of findings as evidence.
//
// Every verdict is one of pass, fail, unknown, not-exercised or not-promised. Unknown
// means some window that mattered could not be observed (a "could not observe"
// reading where a violation was possible, a history that ended before a deadline);
// not-exercised means no case was judged: nothing was observed that the invariant is
// about (its note says, in numbers, what was missing and the flag that gets there);
// not-promised means what was observed is something the mesh under test does not
// promise (package promise), e.g. a run whose owner was killed and never came back,
// on a mesh that recovers runs only on a restart. None of the three counts as a pass,
// nor as a fail: chaosd exits 2 for them. Verdict says what each count counts.
//
// Invariants check promises: each kind of checker names the promise it checks
// (checker.go), and one whose promise the mesh does not make is not run at all; the
// report says so in a note.
package invariants

import (
	"fmt"
	"strings"
	"time"
)

// Status is a verdict's outcome.
type Status string

// Statuses, from best to worst for the exit code: pass (0), not-promised,
// not-exercised and unknown (2), fail (1, which wins over the others).
const (
	Pass         Status = "pass"
	Fail         Status = "fail"
	Unknown      Status = "unknown"
	NotExercised Status = "not-exercised"
	// NotPromised: some of what the invariant judged is something the mesh does not
	// promise (e.g. a run whose owner never came back, on a mesh that recovers runs
	// only on a restart), and nothing failed. Never a pass, never a fail.
	NotPromised Status = "not-promised"
)

// Finding is one violation, or one window that could not be observed, with its
// diagnosis.
type Finding struct {
	At      time.Time `json:"at"`
	Run     string    `json:"run,omitempty"`
	Pods    []string  `json:"pods,omitempty"`
	Message string    `json:"message"`
	Details []string  `json:"details,omitempty"` // what chaosd did, what each watcher, Postgres and NATS said
	// Cause is the message with what varies between occurrences (run ids, chunk
	// numbers, times) taken out: findings of one invariant with one cause are one
	// alert. Set when the finding is recorded.
	Cause string `json:"cause,omitempty"`
}

// String is the message with its details, one per line.
func (f Finding) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s", f.At.UTC().Format("15:04:05.000"), f.Message)
	for _, d := range f.Details {
		b.WriteString("\n    ")
		b.WriteString(d)
	}
	return b.String()
}

// Verdict is one invariant's result over a history.
//
// Every invariant judges cases, each of one unit (CaseUnit: a run, a late watcher,
// an owner-down episode, a heal, a heartbeat reading, a Docker event, ...), and
// every count below is a number of its cases or a part of them: Checks is every
// case judged, and Exercised, UnderFault, Violations, Unknowns and NotPromised are
// each at most Checks (TableLegend says the same for the verdict table).
type Verdict struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	// Checks (CHECKED in the table) is the number of cases judged, whatever the
	// outcome: passed, violated, undecided (unknown) or not promised. 0 is
	// not-exercised.
	Checks int `json:"checks"`
	// Exercised is, of Checks, the cases decided on what was observed (passed or
	// violated): Checks less the undecided and the not-promised ones.
	Exercised int `json:"exercised"`
	// UnderFault (UNDER FAULT) is, of Checks, the cases a chaosd fault bore on: it
	// hit the run's owner, the watcher's pod or the pod judged, or was in effect at
	// the reading (each checker says which).
	UnderFault int `json:"underFault"`
	// Violations (VIOLATED) are the violations found, each in a different case of
	// Checks (a streak of bad readings of one thing is one violation).
	Violations int `json:"violations"`
	// Unknowns (UNKNOWN) are the windows that could not be observed, each in a
	// different case of Checks (a streak of failed readings is one window).
	Unknowns int `json:"unknowns"`
	// NotPromised are, of Checks, the cases that the mesh does not promise (notes
	// say which).
	NotPromised int       `json:"notPromised,omitempty"`
	Evidence    []Finding `json:"evidence,omitempty"`   // the first violations (capped)
	Unobserved  []Finding `json:"unobserved,omitempty"` // the first unknown windows (capped)
	// Notes say what was observed besides: for not-exercised (first) what was
	// missing, in numbers, and the flag that gets there; for unknown windows what
	// would have decided them ("undecided: ..."); the cases not promised.
	Notes []string `json:"notes,omitempty"`
}

// Message is the verdict in one line: the first violation; else the first unknown
// window with what would have decided it; else why it was not exercised (its first
// note, which says what was missing); else what was not promised (its first
// not-promised note; for a pass, with how many cases passed), else empty.
func (v Verdict) Message() string {
	switch {
	case len(v.Evidence) > 0:
		return v.Evidence[0].Message
	case len(v.Unobserved) > 0:
		if d := v.firstNote(undecidedPrefix); d != "" {
			if _, text, ok := strings.Cut(d, ": "); ok { // "2 cases: <what decides them>"
				d = text
			}
			return v.Unobserved[0].Message + "; to decide it: " + d
		}
		return v.Unobserved[0].Message
	case v.Status == NotExercised && len(v.Notes) > 0:
		return "never exercised: " + v.Notes[0]
	case v.Status == NotExercised:
		return "never exercised: nothing was observed that this invariant is about"
	case v.NotPromised > 0 && v.Exercised > 0 && v.Status == NotPromised:
		return fmt.Sprintf("%d not promised (and %d passed): %s", v.NotPromised, v.Exercised, v.firstNotPromised())
	case v.NotPromised > 0:
		return "not promised: " + v.firstNotPromised()
	}
	return ""
}

// firstNotPromised is the first note that says what was not promised.
func (v Verdict) firstNotPromised() string {
	if n := v.firstNote(notPromisedPrefix); n != "" {
		return n
	}
	return "this mesh does not promise it"
}

// firstNote is the first note with the prefix, without it; "" when none.
func (v Verdict) firstNote(prefix string) string {
	for _, n := range v.Notes {
		if s, ok := strings.CutPrefix(n, prefix); ok {
			return s
		}
	}
	return ""
}

// notPromisedPrefix starts every note that a tally's notPromised writes.
const notPromisedPrefix = "not promised: "

// undecidedPrefix starts every note that says what would have decided the cases that
// could not be: "undecided: 2 cases: <what decides them>". The first such note goes
// with the first unknown window.
const undecidedPrefix = "undecided: "

// tally is the counting and evidence keeping that every checker shares. Its state
// lives behind a pointer that the World also holds, so that the counts can be read
// while the history is still being written (Engine.Counts), and every finding goes
// through the World (outage excuses, the OnFinding hook).
//
// A checker counts each case once, when it is decided, through one of pass, fail,
// undecided or notPromised (the case's outcome); each counts the case in checks, and
// in underFault when a chaosd fault bore on it. So every count is a part of checks.
type tally struct {
	*tallyState
	w *World
}

type tallyState struct {
	name                        string
	max                         int
	checks, decided, underFault int
	violations, unknowns        int
	unpromised, unpromisedKept  int // cases not promised; their notes kept (capped at max)
	evidence, unobserved        []Finding
	notes                       []string
	remedies                    []*remedy // what would have decided the undecided cases, by kind
	missing                     string    // with no case judged: what was missing (the first note)
}

// remedy is what would have decided one kind of undecided case, and how many were.
// Its texts come from a few formats per checker, with the history's settings: few.
type remedy struct {
	text string
	n    int
}

func newTally(w *World, name string, maxEvidence int) tally {
	s := &tallyState{name: name, max: maxEvidence}
	if w != nil {
		w.tallies = append(w.tallies, s)
	}
	return tally{tallyState: s, w: w}
}

// count counts one case.
func (t *tally) count(underFault bool) {
	t.checks++
	if underFault {
		t.underFault++
	}
}

// pass counts a case decided without a new violation: it held, or it goes on a
// streak of bad readings whose violation is already recorded.
func (t *tally) pass(underFault bool) {
	t.count(underFault)
	t.decided++
}

// fail counts a case that broke the rule and records its violation, unless one of
// the service's dependencies was away when it was found or shortly before
// (World.outageExcuse): then the case is undecided and its finding, which says so, an
// unknown window.
func (t *tally) fail(underFault bool, f Finding) {
	t.count(underFault)
	if !t.violate(f) {
		t.decided++
	}
}

// undecided counts a case that could not be decided and records its unknown window
// (nil: one already recorded, in a streak), with what would have decided it: a text
// with numbers and the flag that gets there (remedy). Cases with the same remedy
// share one note.
func (t *tally) undecided(underFault bool, f *Finding, remedy string) {
	t.count(underFault)
	if f != nil {
		t.unknown(*f)
	}
	t.remedy(remedy)
}

// violate records the violation of the case fail counts, or, when an outage excuses
// it, an unknown window instead (with what would have decided it): it reports whether
// it was excused.
func (t *tally) violate(f Finding) (excused bool) {
	if why, ok := t.w.outageExcuse(f.At); ok {
		f.Message = "not judged: " + why + "; would have been: " + f.Message
		f.Cause = causeOf(f.Message)
		t.unknown(f)
		t.remedy(fmt.Sprintf("a dependency outage excused it (findings in an outage and for the outage grace after it, %s here, are not judged): "+
			"run again with Postgres and NATS reachable throughout (chaosd doctor checks chaosd's reach to them: --database-url, --nats-url)", t.w.outageGrace()))
		return true
	}
	t.violations++
	if len(t.evidence) < t.max {
		t.evidence = append(t.evidence, f)
	}
	t.w.emit(t.name, Fail, f)
	return false
}

func (t *tally) unknown(f Finding) {
	t.unknowns++
	if len(t.unobserved) < t.max {
		t.unobserved = append(t.unobserved, f)
	}
	t.w.emit(t.name, Unknown, f)
}

func (t *tally) remedy(text string) {
	if text == "" {
		return
	}
	for _, r := range t.remedies {
		if r.text == text {
			r.n++
			return
		}
	}
	t.remedies = append(t.remedies, &remedy{text: text, n: 1})
}

func (t *tally) note(format string, args ...any) {
	t.notes = append(t.notes, fmt.Sprintf(format, args...))
}

// notExercised says what was missing for any case to be judged: what was observed
// instead, what would have exercised the invariant, in numbers, and the flag that
// gets there. It is the verdict's first note when no case was judged, and dropped
// otherwise.
func (t *tally) notExercised(format string, args ...any) {
	t.missing = fmt.Sprintf(format, args...)
}

// notPromised counts a case the mesh does not promise and keeps its note (the first
// max of them; the rest are counted in the last note).
func (t *tally) notPromised(underFault bool, format string, args ...any) {
	t.count(underFault)
	t.unpromised++
	if t.unpromisedKept < t.max {
		t.unpromisedKept++
		t.note(notPromisedPrefix+format, args...)
	}
}

// verdict applies the status rule: any violation fails; else any unknown window is
// unknown; else any case the mesh does not promise makes it not-promised (never a
// pass: the message says how many passed beside); else no case judged is
// not-exercised; else pass.
func (t *tally) verdict() Verdict {
	v := Verdict{Name: t.name, Checks: t.checks, Exercised: t.decided, UnderFault: t.underFault,
		Violations: t.violations, Unknowns: t.unknowns, NotPromised: t.unpromised, Evidence: t.evidence, Unobserved: t.unobserved}
	if t.checks == 0 && t.missing != "" {
		v.Notes = append(v.Notes, t.missing)
	}
	for _, r := range t.remedies {
		v.Notes = append(v.Notes, fmt.Sprintf("%s%s: %s", undecidedPrefix, plural(r.n, "case"), r.text))
	}
	v.Notes = append(v.Notes, t.notes...)
	if t.unpromised > t.unpromisedKept {
		v.Notes = append(v.Notes, fmt.Sprintf("… %d more cases not promised (notes are capped)", t.unpromised-t.unpromisedKept))
	}
	switch {
	case t.violations > 0:
		v.Status = Fail
	case t.unknowns > 0:
		v.Status = Unknown
	case t.unpromised > 0:
		// Never a pass: part of what happened is outside what the mesh promises.
		v.Status = NotPromised
	case t.checks == 0:
		v.Status = NotExercised
	default:
		v.Status = Pass
	}
	return v
}

// Overall folds verdicts into one status: fail if any failed, else unknown if any is
// unknown or not exercised (or there are none), else not-promised if any is, else
// pass.
func Overall(vs []Verdict) Status {
	st := Pass
	if len(vs) == 0 {
		return Unknown
	}
	for _, v := range vs {
		switch v.Status {
		case Fail:
			return Fail
		case Unknown, NotExercised:
			st = Unknown
		case NotPromised:
			if st == Pass {
				st = NotPromised
			}
		}
	}
	return st
}
