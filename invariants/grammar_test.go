package invariants

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/promise"
)

// grammarRun is one run of 20 chunks with one watcher per grammar: the first early
// on mesh-2, the others late on mesh-3, mesh-1, ... (k = 5). A grammar of "" records
// none (an older history); finished says the finish arrived.
func grammarRun(promises []string, grammars ...string) *hist {
	h := &hist{}
	h.at(0).beginPromised(promises)
	h.at(1).start("r1", "mesh-1", 20, 10*time.Second)
	h.at(2).thread("r1", history.StatusInProgress, "mesh-1")
	pods := []string{"mesh-2", "mesh-3", "mesh-1"}
	for i, g := range grammars {
		finished := strings.Contains(g, "F")
		n := strings.Count(g, "d") // counts are written out in these tests
		order := ""
		if n > 0 {
			order = "1-" + strconv.Itoa(min(n, 20))
		}
		if g == "" { // not recorded: a whole stream of an older history
			order, finished = "1-20", true
		}
		h.at(12).watch("r1", "w"+strconv.Itoa(i+1), pods[i%len(pods)], i > 0, 5*min(i, 1), 0.5+3*float64(min(i, 1)), order, finished, "")
		h.evs[len(h.evs)-1].Watch.Chunks = g
	}
	return h.at(13).thread("r1", history.StatusCompleted, "").at(14).end()
}

func TestChunkGrammarClean(t *testing.T) {
	clean := "S(m)sT(t)" + strings.Repeat("d", 20) + "EfF"
	v := expect(t, grammarRun(promise.May2026, clean, clean, clean).report(Params{}), NameChunkGrammar, Pass)
	if v.Checks != 3 {
		t.Fatalf("checks %d\n%s", v.Checks, dump(v))
	}
	// A run that failed: error ends it, parts may stay open.
	expect(t, grammarRun(promise.May2026, "S(m)sT(t)dddX").report(Params{}), NameChunkGrammar, Pass)
	// data-* and unknown chunks anywhere inside the message.
	expect(t, grammarRun(promise.May2026, "S(m)DsT(t)dD?dEfDF").report(Params{}), NameChunkGrammar, Pass)
	// Two text parts, interleaved, each closed.
	expect(t, grammarRun(promise.May2026, "S(m)sT(a)T(b)d(a)d(b)E(a)E(b)fF").report(Params{}), NameChunkGrammar, Pass)
}

func TestChunkGrammarViolations(t *testing.T) {
	d5 := strings.Repeat("d", 5)
	for _, c := range []struct{ name, grammar, want string }{
		{"missing start", "sT(t)" + d5 + "EfF", "chunk #1: the first chunk is start-step, not start: the start chunk (with the message id) is missing"},
		{"start without id", "SsT(t)" + d5 + "EfF", "the start chunk carries no message id"},
		{"step opened twice", "S(m)ssT(t)" + d5 + "EfF", "chunk #3: start-step while a step is open"},
		{"step closed twice", "S(m)sT(t)" + d5 + "EffF", "finish-step with no step open"},
		{"step never closed", "S(m)sT(t)" + d5 + "EF", "finish with a step open (no finish-step)"},
		{"delta outside its part", "S(m)sT(a)dEd(a)fF", `chunk #6: text-delta of part "a" outside its part`},
		{"delta of another part", "S(m)sT(a)dd(b)E(a)fF", `text-delta of part "b" outside its part`},
		{"part never closed", "S(m)sT(a)dfF", `finish with text part "a" open (no text-end)`},
		{"part closed twice", "S(m)sT(a)dEEfF", `text-end of part "a" that is not open`},
		{"second finish", "S(m)sT(t)" + d5 + "EfFF", "chunk #12: a second finish (the run ended at chunk #11)"},
		{"chunk after the finish", "S(m)sT(t)" + d5 + "EfFd", "text-delta after the run's finish"},
		{"second start, exactly once", "S(m)sT(t)ddS(m)sT(t)" + d5 + "EfF", "chunk #6: a second start chunk: the reply started again"},
	} {
		t.Run(c.name, func(t *testing.T) {
			expect(t, grammarRun(promise.May2026, c.grammar).report(Params{}), NameChunkGrammar, Fail, "watcher w1 on mesh-2", c.want)
		})
	}
}

// TestChunkGrammarSameChunksPassAgain: a watcher whose chunks are those of a watcher of
// the run that passed passes without a second parse; one whose chunks differ after it
// is judged on its own.
func TestChunkGrammarSameChunksPassAgain(t *testing.T) {
	clean := "S(m)sT(t)" + strings.Repeat("d", 20) + "EfF"
	v := expect(t, grammarRun(promise.May2026, clean, clean, "S(m)sT(t)dddfF", clean).report(Params{}), NameChunkGrammar, Fail,
		"watcher w3 on mesh-1", `finish with text part "t" open (no text-end)`)
	if v.Checks != 4 || len(v.Evidence) != 1 {
		t.Fatalf("checks %d, findings %d, want 4 and 1\n%s", v.Checks, len(v.Evidence), dump(v))
	}
	// The same chunks under another message id than the run's first are still caught.
	expect(t, grammarRun(promise.May2026, clean, "S(n)sT(t)"+strings.Repeat("d", 20)+"EfF", clean).report(Params{}), NameChunkGrammar, Fail,
		`its message id "n" differs from "m"`)
}

func TestChunkGrammarAcrossWatchers(t *testing.T) {
	a := "S(m1)sT(t)dddddEfF"
	b := "S(m2)sT(t)dddddEfF"
	expect(t, grammarRun(promise.May2026, a, b).report(Params{}), NameChunkGrammar, Fail,
		`run r1: watcher w2 on mesh-3 (late, opened`, `its message id "m2" differs from "m1" that watcher w1 on mesh-2 saw`)
	// A late watcher that lost the start: named with its pod and the missing chunk.
	expect(t, grammarRun(promise.May2026, a, "sT(t)dddddEfF").report(Params{}), NameChunkGrammar, Fail,
		"watcher w2 on mesh-3", "the start chunk (with the message id) is missing")
}

func TestChunkGrammarTruncatedPasses(t *testing.T) {
	// Cut short (a killed pod, chaosd's deadline): a valid prefix passes.
	for _, g := range []string{"S(m)", "S(m)s", "S(m)sT(t)dddddd", "S(m)sT(t)dE", "S(m)sT(t)dEf"} {
		expect(t, grammarRun(promise.May2026, "S(m)sT(t)dddddEfF", g).report(Params{}), NameChunkGrammar, Pass)
	}
	// But an invalid prefix fails.
	expect(t, grammarRun(promise.May2026, "S(m)sT(t)dddddEfF", "sT(t)ddd").report(Params{}), NameChunkGrammar, Fail, "is missing")
}

func TestChunkGrammarKeptLogRestart(t *testing.T) {
	// Today's mesh keeps the dead attempt's log and the resumed attempt starts over.
	resumed := "S(m)sT(t)ddddddS(m)sT(t)" + strings.Repeat("d", 20) + "EfF"
	expect(t, grammarRun(promise.Current, resumed, resumed).report(Params{}), NameChunkGrammar, Pass)
	// The dead attempt died before its text: a start again right after the first.
	expect(t, grammarRun(promise.Current, "S(m)sS(m)sT(t)dddEfF").report(Params{}), NameChunkGrammar, Pass)
	// By the May mesh's promise (each chunk once) the same stream fails.
	expect(t, grammarRun(promise.May2026, resumed).report(Params{}), NameChunkGrammar, Fail, "a second start chunk")
	// The new attempt must be the same message, and valid in itself.
	expect(t, grammarRun(promise.Current, "S(m)sT(t)dddS(n)sT(t)dddEfF").report(Params{}), NameChunkGrammar, Fail,
		`attempt 2's start carries message id "n", not the run's "m"`)
	expect(t, grammarRun(promise.Current, "S(m)sT(t)dddS(m)sdddEfF").report(Params{}), NameChunkGrammar, Fail, `text-delta of part "t" outside its part`)
	// No restart after the finish.
	expect(t, grammarRun(promise.Current, "S(m)sT(t)dddEfFS(m)").report(Params{}), NameChunkGrammar, Fail, "start after the run's finish")
}

func TestChunkGrammarNotRecorded(t *testing.T) {
	v := expect(t, grammarRun(promise.May2026, "", "").report(Params{}), NameChunkGrammar, NotExercised,
		"not recorded: the chunk types of 2 watcher reports were not recorded")
	if v.Checks != 0 {
		t.Fatalf("checks %d", v.Checks)
	}
	// Recorded and not recorded side by side: only the recorded one is judged.
	v = expect(t, grammarRun(promise.May2026, "S(m)sT(t)dddddEfF", "").report(Params{}), NameChunkGrammar, Pass, "not recorded: 1 watcher report")
	if v.Checks != 1 {
		t.Fatalf("checks %d", v.Checks)
	}
	// Unparsable: a violation that says so, not a pass.
	expect(t, grammarRun(promise.May2026, "S(m)Z").report(Params{}), NameChunkGrammar, Fail, "do not parse")
}

func TestPrefixReplayComparesEveryChunk(t *testing.T) {
	d20 := strings.Repeat("d", 20)
	early := "S(m)sT(t)" + d20 + "EfF"
	expect(t, grammarRun(promise.May2026, early, early, "S(m)sT(t)dddddd").report(Params{}), NamePrefixReplay, Pass,
		"chunk by chunk: 2 late replays compared")
	// A replay that drops the start chunk: the text is whole, the stream is not.
	expect(t, grammarRun(promise.May2026, early, "sT(t)"+d20+"EfF").report(Params{}), NamePrefixReplay, Fail,
		"run r1: watcher on mesh-3 (late", "its replay is missing the `start` (message id \"m\") chunk #1 of the early watcher w1 on mesh-2's stream")
	// A lost step, a changed part id, an extra chunk.
	expect(t, grammarRun(promise.May2026, early, "S(m)T(t)"+d20+"EfF").report(Params{}), NamePrefixReplay, Fail, "missing the `start-step` chunk #2")
	expect(t, grammarRun(promise.May2026, early, "S(m)sT(u)"+d20+"EfF").report(Params{}), NamePrefixReplay, Fail,
		"differs from the early watcher w1 on mesh-2's stream at chunk #3: `text-start` (part \"u\") where that watcher saw `text-start` (part \"t\")")
	expect(t, grammarRun(promise.May2026, early, "S(m)ssT(t)"+d20+"EfF").report(Params{}), NamePrefixReplay, Fail, "an extra `start-step` as chunk #3")
	// The late report first, the early one after it: judged all the same.
	h := grammarRun(promise.May2026, early, "sT(t)"+d20+"EfF")
	var ws []int
	for i, e := range h.evs {
		if e.Type == history.TypeWatch {
			ws = append(ws, i)
		}
	}
	h.evs[ws[0]], h.evs[ws[1]] = h.evs[ws[1]], h.evs[ws[0]]
	expect(t, h.report(Params{}), NamePrefixReplay, Fail, "missing the `start`")
	// No early stream recorded (an older history): the text alone, as before.
	expect(t, grammarRun(promise.May2026, "", "sT(t)"+d20+"EfF").report(Params{}), NamePrefixReplay, Pass, "1 with no early stream to compare with")
	expect(t, grammarRun(promise.May2026, "", "").report(Params{}), NamePrefixReplay, Pass, "1 not recorded by type")
}
