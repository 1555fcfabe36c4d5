// Package invariants checks a history (package history) against the invariant
// catalogue of DESIGN.md. Checkers are incremental: they see each event once, keep
// state only for what is still undecided (a run in flight, a pod down, a heal not yet
// followed by readiness), and keep a capped number of findings as evidence.
//
// Every verdict is one of pass, fail, unknown, not-exercised or not-promised. Unknown
// means some window that mattered could not be observed (a "could not observe"
// reading where a violation was possible, a history that ended before a deadline);
// not-exercised means nothing was observed that the invariant is about; not-promised
// means what was observed is something the mesh under test does not promise (package
// promise), e.g. a run whose owner was killed and never came back, on a mesh that
// recovers runs only on a restart. None of the three counts as a pass, nor as a
// fail: chaosd exits 2 for them.
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
type Verdict struct {
	Name        string    `json:"name"`
	Status      Status    `json:"status"`
	Checks      int       `json:"checks"`     // observations the rule was evaluated on
	Exercised   int       `json:"exercised"`  // observations of the situation the invariant is about
	UnderFault  int       `json:"underFault"` // of those, while chaosd's fault was in effect
	Violations  int       `json:"violations"`
	Unknowns    int       `json:"unknowns"`              // windows that could not be observed
	NotPromised int       `json:"notPromised,omitempty"` // cases judged that the mesh does not promise (notes say which)
	Evidence    []Finding `json:"evidence,omitempty"`    // the first violations (capped)
	Unobserved  []Finding `json:"unobserved,omitempty"`  // the first unknown windows (capped)
	Notes       []string  `json:"notes,omitempty"`
}

// Message is the verdict in one line: the first violation, else the first unknown
// window, else why it was not exercised (its first note, which says what was
// missing), else what was not promised (its first not-promised note; for a pass,
// with how many cases passed), else empty.
func (v Verdict) Message() string {
	switch {
	case len(v.Evidence) > 0:
		return v.Evidence[0].Message
	case len(v.Unobserved) > 0:
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
	for _, n := range v.Notes {
		if strings.HasPrefix(n, notPromisedPrefix) {
			return strings.TrimPrefix(n, notPromisedPrefix)
		}
	}
	return "this mesh does not promise it"
}

// notPromisedPrefix starts every note that a tally's notPromised writes.
const notPromisedPrefix = "not promised: "

// tally is the counting and evidence keeping that every checker shares. Its state
// lives behind a pointer that the World also holds, so that the counts can be read
// while the history is still being written (Engine.Counts), and every finding goes
// through the World (outage excuses, the OnFinding hook).
type tally struct {
	*tallyState
	w *World
}

type tallyState struct {
	name                          string
	max                           int
	checks, exercised, underFault int
	violations, unknowns          int
	unpromised, unpromisedKept    int // cases not promised; their notes kept (capped at max)
	evidence, unobserved          []Finding
	notes                         []string
}

func newTally(w *World, name string, maxEvidence int) tally {
	s := &tallyState{name: name, max: maxEvidence}
	if w != nil {
		w.tallies = append(w.tallies, s)
	}
	return tally{tallyState: s, w: w}
}

// exercise counts one exercise, under fault or not.
func (t *tally) exercise(underFault bool) {
	t.exercised++
	if underFault {
		t.underFault++
	}
}

// violate records a violation, unless one of the service's dependencies was away
// when it was found or shortly before (World.outageExcuse): then the finding says so
// and is an unknown window instead.
func (t *tally) violate(f Finding) {
	if why, ok := t.w.outageExcuse(f.At); ok {
		f.Message = "not judged: " + why + "; would have been: " + f.Message
		f.Cause = causeOf(f.Message)
		t.unknown(f)
		return
	}
	t.violations++
	if len(t.evidence) < t.max {
		t.evidence = append(t.evidence, f)
	}
	t.w.emit(t.name, Fail, f)
}

func (t *tally) unknown(f Finding) {
	t.unknowns++
	if len(t.unobserved) < t.max {
		t.unobserved = append(t.unobserved, f)
	}
	t.w.emit(t.name, Unknown, f)
}

func (t *tally) note(format string, args ...any) {
	t.notes = append(t.notes, fmt.Sprintf(format, args...))
}

// notPromised counts a case the mesh does not promise (a check, not an exercise)
// and keeps its note (the first max of them; the rest are counted in the last note).
func (t *tally) notPromised(format string, args ...any) {
	t.checks++
	t.unpromised++
	if t.unpromisedKept < t.max {
		t.unpromisedKept++
		t.note(notPromisedPrefix+format, args...)
	}
}

// verdict applies the status rule: any violation fails; else any unknown window is
// unknown; else any case the mesh does not promise makes it not-promised (never a
// pass: the message says how many passed beside); else nothing exercised is
// not-exercised; else pass.
func (t *tally) verdict() Verdict {
	v := Verdict{Name: t.name, Checks: t.checks, Exercised: t.exercised, UnderFault: t.underFault,
		Violations: t.violations, Unknowns: t.unknowns, NotPromised: t.unpromised, Evidence: t.evidence, Unobserved: t.unobserved, Notes: t.notes}
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
	case t.exercised == 0:
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
