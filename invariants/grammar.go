package invariants

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/probes"
	"github.com/chaosd/chaosd/promise"
)

// NameChunkGrammar is the chunk-grammar invariant.
const NameChunkGrammar = "chunk-grammar"

// ChunkGrammar: every watcher's stream follows the UI-message grammar of the contract
// (mesh-contract.md, "Starting and watching a run"): one `start` with a message id
// first; steps opened and closed in pairs (start-step / finish-step); text parts
// opened and closed with matching ids; text deltas only inside their open part;
// `finish` last and once, with no step or text part open (or `error` instead, which
// may leave parts open: the run failed); and the same message id for every watcher
// of one run. A late watcher replays the buffered prefix, so it too must see the
// whole grammar from `start`. A watcher cut short (its pod faulted, chaosd's
// deadline) is judged on the prefix it has: no `finish` required, but what it has
// must be a valid prefix.
// Resumes, by promise: where the mesh keeps a dead attempt's log (stream-kept-log,
// today's mesh, PR #6431), a new `start` begins a new attempt: the dead attempt's
// open step and parts are dropped and the new one is judged from its start, which
// must carry the same message id; so too where the mesh makes neither stream promise.
// Where it promises stream-exactly-once (the May mesh) a second `start` is a
// violation: the reply started again.
// Judged on each watcher report that records its chunks (history.Watch.Chunks);
// older histories do not record them: "not recorded", never a pass. Cases: the
// watcher reports with at least one chunk; under fault: the run was hit by a fault
// or the watcher's pod was faulted during the watch. Never unknown, but for a
// dependency outage.
type ChunkGrammar struct {
	w       *World
	p       Params
	t       tally
	msgIDs  map[string]msgIDSeen  // run -> the first message id a watcher saw
	reports int                   // watcher reports (for the note)
	empty   int                   // of them, with no chunk
	unrec   int                   // of them, with chunks but none recorded by type (an older history)
	scratch []probes.GrammarChunk // the last parse's array, reused by the next
}

// msgIDSeen is the first message id a watcher of a run saw, and the last recorded
// grammar of the run's watchers that passed: most watchers of a run record the same
// chunks, and an identical grammar needs no second parse to pass again.
type msgIDSeen struct{ id, watcher, pod, passed string }

var _ Checker = (*ChunkGrammar)(nil)
var _ dropper = (*ChunkGrammar)(nil)

func newChunkGrammar(w *World, p Params) *ChunkGrammar {
	return &ChunkGrammar{w: w, p: p, t: newTally(w, NameChunkGrammar, p.MaxEvidence), msgIDs: map[string]msgIDSeen{}}
}

// Name implements Checker.
func (c *ChunkGrammar) Name() string { return NameChunkGrammar }

// maxGrammarChunks bounds the chunks decoded from one report.
const maxGrammarChunks = 1 << 20

// maxScratchChunks bounds the parsed chunks a checker keeps for the next parse.
const maxScratchChunks = 1 << 12

// Observe implements Checker.
func (c *ChunkGrammar) Observe(e *history.Event) {
	if e.Type != history.TypeWatch || e.Watch == nil {
		return
	}
	wt := e.Watch
	c.reports++
	if wt.Chunks == "" {
		if wt.Order.Len() > 0 || wt.Finished || wt.Foreign > 0 {
			c.unrec++
		} else {
			c.empty++
		}
		return
	}
	r := c.w.Run(wt.Run)
	hit := (r != nil && r.Hit()) || c.w.FaultOn(wt.Pod, wt.OpenedAt, e.Time) != nil
	if first, ok := c.msgIDs[wt.Run]; ok && first.passed == wt.Chunks {
		c.t.pass(hit) // the same chunks as a watcher of the run that passed, same message id
		return
	}
	chunks, _, err := probes.ParseGrammarInto(c.scratch, wt.Chunks, maxGrammarChunks)
	if err == nil && cap(chunks) <= maxScratchChunks {
		c.scratch = chunks // judgeGrammar keeps none of them
	}
	var problems []string
	msgID := ""
	if err != nil {
		problems = []string{"its recorded chunks do not parse: " + err.Error()}
	} else {
		msgID, problems = judgeGrammar(chunks, !c.p.Promised(promise.StreamExactlyOnce))
	}
	if msgID != "" {
		if first, ok := c.msgIDs[wt.Run]; !ok {
			c.msgIDs[wt.Run] = msgIDSeen{id: msgID, watcher: wt.Watcher, pod: wt.Pod}
		} else if first.id != msgID {
			problems = append(problems, fmt.Sprintf("its message id %q differs from %q that watcher %s on %s saw: one run, two messages",
				msgID, first.id, first.watcher, first.pod))
		}
	}
	if len(problems) == 0 {
		if first, ok := c.msgIDs[wt.Run]; ok && msgID != "" {
			first.passed = wt.Chunks
			c.msgIDs[wt.Run] = first
		}
		c.t.pass(hit)
		return
	}
	f := Finding{At: e.Time, Run: wt.Run, Pods: []string{wt.Pod},
		Message: fmt.Sprintf("run %s: watcher %s on %s (%s) %s", wt.Run, wt.Watcher, wt.Pod, watchWhen(wt), strings.Join(problems, "; "))}
	f.Details = append([]string{fmt.Sprintf("this watcher received %s (%s)", grammarText(wt.Chunks), grammarLegend)}, c.w.Details(r)...)
	if r != nil {
		f.Pods = append(f.Pods, podsOf(r)...)
	}
	c.t.fail(hit, f)
}

// grammarLegend explains the letters of a recorded grammar in findings.
const grammarLegend = "S start (message id), s start-step, T text-start (part id), d text-delta, E text-end, f finish-step, F finish, X error, D data-*"

// grammarText is a recorded grammar for a message, cut to a readable length.
func grammarText(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// maxGrammarProblems bounds the problems reported for one watcher.
const maxGrammarProblems = 3

// judgeGrammar checks one watcher's chunks against the UI-message grammar and returns
// the message id of its (first) start and what is wrong, in arrival order (at most
// maxGrammarProblems). A stream that stops early (no finish) is judged as a prefix.
// keptLog: a new start begins a new attempt (any mesh that does not promise
// stream-exactly-once: stream-kept-log, or neither).
func judgeGrammar(chunks []probes.GrammarChunk, keptLog bool) (msgID string, problems []string) {
	var (
		started, stepOpen, ended bool
		endedBy                  string
		endAt                    int
		attempt                  = 1
		parts                    = map[string]bool{}
	)
	add := func(i int, format string, args ...any) {
		if len(problems) < maxGrammarProblems {
			problems = append(problems, fmt.Sprintf("chunk #%d: ", i)+fmt.Sprintf(format, args...))
		}
	}
	openParts := func() string {
		ids := slices.Sorted(maps.Keys(parts))
		for i, id := range ids {
			ids[i] = fmt.Sprintf("%q", id)
		}
		return strings.Join(ids, ", ")
	}
	for j, ch := range chunks {
		i := j + 1
		name := probes.GrammarName(ch.Kind)
		if ended {
			if ch.Kind == probes.GFinish && endedBy == probes.ChunkFinish {
				add(i, "a second finish (the run ended at chunk #%d)", endAt)
			} else {
				add(i, "%s after the run's %s: %s must be last", name, endedBy, endedBy)
			}
			break
		}
		if !started {
			started = true
			switch ch.Kind {
			case probes.GStart:
				msgID = ch.ID
				if ch.ID == "" {
					add(i, "the start chunk carries no message id")
				}
				continue
			case probes.GError:
				ended, endedBy, endAt = true, probes.ChunkError, i // failed before it began
				continue
			default:
				add(i, "the first chunk is %s, not start: the start chunk (with the message id) is missing", name)
			}
		}
		switch ch.Kind {
		case probes.GStart:
			if !keptLog {
				add(i, "a second start chunk: the reply started again (this mesh promises stream-exactly-once, not a kept log)")
				continue
			}
			attempt++ // a resume: the dead attempt's log stays, the new attempt starts over
			stepOpen = false
			clear(parts)
			switch {
			case msgID == "":
				msgID = ch.ID
			case ch.ID != msgID:
				add(i, "attempt %d's start carries message id %q, not the run's %q", attempt, ch.ID, msgID)
			}
		case probes.GStartStep:
			if stepOpen {
				add(i, "start-step while a step is open (no finish-step before it)")
			}
			stepOpen = true
		case probes.GFinishStep:
			if !stepOpen {
				add(i, "finish-step with no step open")
			}
			stepOpen = false
		case probes.GTextStart:
			if parts[ch.ID] {
				add(i, "text-start of part %q that is already open", ch.ID)
			}
			parts[ch.ID] = true
		case probes.GTextDelta:
			if !parts[ch.ID] {
				add(i, "text-delta of part %q outside its part (no text-start of %q open)", ch.ID, ch.ID)
			}
		case probes.GTextEnd:
			if !parts[ch.ID] {
				add(i, "text-end of part %q that is not open", ch.ID)
			}
			delete(parts, ch.ID)
		case probes.GFinish:
			if stepOpen {
				add(i, "finish with a step open (no finish-step)")
			}
			if len(parts) > 0 {
				add(i, "finish with text part %s open (no text-end)", openParts())
			}
			ended, endedBy, endAt = true, probes.ChunkFinish, i
		case probes.GError:
			ended, endedBy, endAt = true, probes.ChunkError, i
		}
	}
	return msgID, problems
}

// Drop implements dropper.
func (c *ChunkGrammar) Drop(run string) { delete(c.msgIDs, run) }

// Finish implements Checker.
func (c *ChunkGrammar) Finish(time.Time) []Verdict {
	if c.unrec > 0 && c.unrec+c.empty == c.reports {
		// An older history: nothing to judge, and never a pass.
		c.t.notExercised("not recorded: the chunk types of %s were not recorded (a history written by a chaosd before chunk-grammar): "+
			"their grammar is not judged; run chaosd again to judge it", plural(c.unrec, "watcher report"))
		return []Verdict{c.t.verdict()}
	}
	if c.unrec > 0 {
		c.t.note("not recorded: %s of %s carry chunks but not their types: their grammar is not judged",
			plural(c.unrec, "watcher report"), plural(c.reports, "watcher report"))
	}
	c.t.notExercised("no watcher report recorded a chunk (%s, %d with no chunk): "+
		"runs must stream chunks while watched (--runs ≥ 1, --hint with chunks, e.g. slow:20x250)", plural(c.reports, "watcher report"), c.empty)
	return []Verdict{c.t.verdict()}
}
