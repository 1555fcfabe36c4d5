package invariants

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/promise"
)

// downRun is one run r1 (20 chunks, 10 s of streaming) started on mesh-1 at 1 s,
// watched early from mesh-3 and read every 2 s, whose owner mesh-1 goes down at
// downAt by kind and comes back at upAt (never when negative). On mesh's timings the
// run's deadline is 96 s (1 + 10 + 65 + 2×10), the restart grace 70 s (boot 30 +
// detection 10 + 2×10 + 10), the handover grace 40 s (10 + 2×10 + 10).
type downRun struct {
	kind     string // kill, pause, stop, rollout-term, rollout-kill
	downAt   float64
	upAt     float64                // < 0: never
	owner    func(s float64) string // the owner read at s while in progress; nil: mesh-1
	doneAt   float64                // read completed (a watcher saw the finish just before); < 0 never
	failAt   float64                // read failed from then on; 0 never
	end      float64
	second   bool // also run r2 on mesh-2 at 2 s, completed at 15 s
	promises []string
}

func (d downRun) build() *hist {
	h := &hist{}
	h.at(0).beginPromised(d.promises)
	h.at(0.5).add(history.OpEvent(history.Op{ID: 1, Name: history.OpAttach, Phase: history.PhaseOK, Run: "r1", Pod: "mesh-3", Watcher: "w1"}))
	h.at(1).start("r1", "mesh-1", 20, 10*time.Second)
	if d.second {
		h.at(2).start("r2", "mesh-2", 5, 2*time.Second)
	}
	for s := 1.0; s <= d.end; s += 0.5 {
		h.at(s)
		d.events(h, s)
		if s == float64(int(s)) && int(s)%2 == 0 {
			d.sample(h, s)
		}
	}
	return h.end()
}

func (d downRun) events(h *hist, s float64) {
	switch s {
	case d.downAt - 1:
		switch d.kind {
		case "rollout-default", "rollout-default-137":
			h.faultSig("f1", history.FaultIntent, history.KindRollout, "all", "")
		case "rollout-term":
			h.faultSig("f1", history.FaultIntent, history.KindRollout, "all", history.SignalTerm)
		case "rollout-kill":
			h.faultSig("f1", history.FaultIntent, history.KindRollout, "all", history.SignalKill)
		case "stop":
			h.faultSig("f1", history.FaultIntent, history.KindStop, "mesh-1", history.SignalTerm)
		}
	case d.downAt:
		switch d.kind {
		case "kill", "pause":
			h.fault("f1", history.FaultIntent, d.kind, "mesh-1", "r1").fault("f1", history.FaultInjected, d.kind, "mesh-1", "r1")
			if d.kind == "kill" {
				h.dockerOf(history.DockerDie, "mesh-1", "f1", 137)
			}
		case "stop":
			h.dockerOf(history.DockerDie, "mesh-1", "f1", 143)
			h.faultSig("f1", history.FaultInjected, history.KindStop, "mesh-1", history.SignalTerm)
		default:
			h.dockerOf(history.DockerDie, "mesh-1", "f1", map[bool]int{true: 143, false: 137}[d.kind == "rollout-term" || d.kind == "rollout-default"])
		}
	case d.upAt:
		switch {
		case strings.HasPrefix(d.kind, "rollout"):
			h.dockerOf(history.DockerStart, "mesh-1", "f1", 0)
		case d.kind == "stop":
			h.faultSig("f1", history.FaultHealed, history.KindStop, "mesh-1", history.SignalTerm).dockerOf(history.DockerStart, "mesh-1", "f1", 0)
		default:
			h.fault("f1", history.FaultHealed, d.kind, "mesh-1", "r1")
		}
	case d.upAt + 5:
		if strings.HasPrefix(d.kind, "rollout") {
			sig := map[bool]string{true: history.SignalTerm, false: history.SignalKill}[d.kind == "rollout-term"]
			h.faultSig("f1", history.FaultInjected, history.KindRollout, "all", sig)
			h.faultSig("f1", history.FaultHealed, history.KindRollout, "all", sig)
		}
	case d.doneAt - 0.5:
		h.watch("r1", "w1", "mesh-3", false, 0, 0.5, "1-20", true, "")
	case 14.5:
		if d.second {
			h.watch("r2", "w2", "mesh-3", false, 0, 2, "1-5", true, "")
		}
	case d.end - 1:
		if d.doneAt < 0 {
			h.watch("r1", "w1", "mesh-3", false, 0, 0.5, "1-6", false, "gave up")
		}
	}
}

func (d downRun) sample(h *hist, s float64) {
	owner := "mesh-1"
	if d.owner != nil {
		owner = d.owner(s)
	}
	switch {
	case d.doneAt >= 0 && s >= d.doneAt:
		h.thread("r1", history.StatusCompleted, "")
		if s < d.doneAt+2 {
			h.messages("r1", mockReply(20))
		}
	case d.failAt > 0 && s >= d.failAt:
		h.thread("r1", history.StatusFailed, "")
	default:
		h.thread("r1", history.StatusInProgress, owner)
	}
	if d.second {
		if s < 15 {
			h.thread("r2", history.StatusInProgress, "mesh-2")
		} else {
			h.thread("r2", history.StatusCompleted, "")
		}
	}
}

func ownerFrom(at float64, pod string) func(float64) string {
	return func(s float64) string {
		if s >= at {
			return pod
		}
		return "mesh-1"
	}
}

func TestRestartRecovers(t *testing.T) {
	cur := promise.Current
	t.Run("pass: completed after its owner's restart", func(t *testing.T) {
		r := downRun{kind: "kill", downAt: 4, upAt: 30, doneAt: 60, end: 120, promises: cur}.build().report(Params{})
		v := expect(t, r, NameRestartRecovers, Pass)
		if v.Exercised != 1 || v.UnderFault != 1 {
			t.Errorf("exercised %d, under fault %d\n%s", v.Exercised, v.UnderFault, dump(v))
		}
		expect(t, r, NameRunCompletes, Pass)
		expect(t, r, NameHandoverCompletes, NotExercised, "no run's owner was stopped gracefully")
		expect(t, r, NameReplyPersisted, Pass)
		if r.Status != NotExercised && r.Status != Unknown {
			t.Errorf("overall %s (handover was not exercised)", r.Status)
		}
	})
	t.Run("pause: the same", func(t *testing.T) {
		r := downRun{kind: "pause", downAt: 4, upAt: 30, doneAt: 60, end: 120, promises: cur}.build().report(Params{})
		expect(t, r, NameRestartRecovers, Pass)
	})
	t.Run("fail: still in progress past the grace", func(t *testing.T) {
		r := downRun{kind: "kill", downAt: 4, upAt: 30, doneAt: -1, end: 200, promises: cur}.build().report(Params{})
		expect(t, r, NameRestartRecovers, Fail,
			"run r1 was still in progress at 12:01:40.000, 1m10s after its owner mesh-1 came back (12:00:30.000): not recovered within the restart grace 1m10s (boot 30s + detection 10s + 2×slack 10s + streaming 10s)",
			"its owner went down at 12:00:04.000 (chaosd killed mesh-1 (fault f1, owner of run r1)")
		expect(t, r, NameRunCompletes, Fail, "run r1 did not complete by its deadline (1m35s after its start + 26s its owner was down, 12:02:02.000)")
	})
	t.Run("fail: ended failed after the restart", func(t *testing.T) {
		r := downRun{kind: "kill", downAt: 4, upAt: 30, doneAt: -1, failAt: 50, end: 120, promises: cur}.build().report(Params{})
		expect(t, r, NameRestartRecovers, Fail, "run r1 ended failed at 12:00:50.000, 20s after its owner mesh-1 came back (12:00:30.000), instead of completing")
		expect(t, r, NameRunCompletes, Fail, "run r1 ended failed instead of completed")
	})
	t.Run("not promised: the owner never came back", func(t *testing.T) {
		r := downRun{kind: "kill", downAt: 4, upAt: -1, doneAt: -1, end: 300, promises: cur}.build().report(Params{})
		v := expect(t, r, NameRestartRecovers, NotPromised, "not promised: run r1: its owner mesh-1 went down at 12:00:04.000", "had not come back when the history ended")
		if v.Exercised != 0 || v.NotPromised != 1 || !strings.HasPrefix(v.Message(), "not promised: run r1") {
			t.Errorf("exercised %d, not promised %d, message %q", v.Exercised, v.NotPromised, v.Message())
		}
		expect(t, r, NameRunCompletes, NotPromised, "This mesh recovers a dead pod's runs only when a pod of the same name restarts, or with a DBOS Conductor", "its reaper fails such a run eventually")
		if r.Status != NotPromised && r.Status != Unknown {
			t.Errorf("overall %s", r.Status)
		}
	})
	t.Run("not exercised: someone else completed it while its owner was down", func(t *testing.T) {
		r := downRun{kind: "kill", downAt: 4, upAt: 100, owner: ownerFrom(20, "mesh-2"), doneAt: 60, end: 120, promises: cur}.build().report(Params{})
		expect(t, r, NameRestartRecovers, NotExercised, "1 run completed while its owner was still down, so no restart recovered it (someone else finished it, e.g. a DBOS Conductor")
		expect(t, r, NameRunCompletes, Pass)
	})
	t.Run("a failed status while the owner is down waits for its restart", func(t *testing.T) {
		r := downRun{kind: "kill", downAt: 4, upAt: 60, doneAt: 80, failAt: 40, end: 160, promises: cur}.build().report(Params{})
		expect(t, r, NameRestartRecovers, Pass)
		expect(t, r, NameRunCompletes, Pass)
	})
	t.Run("a rollout by SIGKILL is a restart", func(t *testing.T) {
		r := downRun{kind: "rollout-kill", downAt: 4, upAt: 8, doneAt: 30, end: 80, promises: cur}.build().report(Params{})
		expect(t, r, NameRestartRecovers, Pass)
		expect(t, r, NameHandoverCompletes, NotExercised, "1 stop or rollouts confirmed, none by SIGTERM")
	})
}

func TestRunCompletesNotCountingOwnerDowntime(t *testing.T) {
	// mesh-1 is down 4 s to 80 s; the run completes at 140 s, past its 96 s deadline
	// but within it plus the 76 s its owner was down.
	d := downRun{kind: "kill", downAt: 4, upAt: 80, doneAt: 140, end: 200, promises: promise.Current}
	expect(t, d.build().report(Params{}), NameRunCompletes, Pass)
	expect(t, d.build().report(Params{}), NameRestartRecovers, Pass)
	// On the May 2026 mesh a survivor should have finished it: late.
	d.promises = promise.May2026
	expect(t, d.build().report(Params{}), NameRunCompletes, Fail, "did not complete by its deadline (1m35s after its start, 12:01:36.000)")
	// A graceful stop is no excuse: the run is handed over.
	d = downRun{kind: "stop", downAt: 4, upAt: 80, doneAt: 140, end: 200, promises: promise.Current}
	expect(t, d.build().report(Params{}), NameRunCompletes, Fail, "did not complete by its deadline (1m35s after its start, 12:01:36.000)")
	// Late past the extended deadline too.
	d = downRun{kind: "kill", downAt: 4, upAt: 30, doneAt: 130, end: 200, promises: promise.Current}
	expect(t, d.build().report(Params{}), NameRunCompletes, Fail, "did not complete by its deadline (1m35s after its start + 26s its owner was down, 12:02:02.000)")
}

// A case the mesh does not promise beside passes: the verdict is not-promised (never
// a pass: part of what happened is outside the promises) and says both.
func TestNotPromisedBesidePasses(t *testing.T) {
	r := downRun{kind: "kill", downAt: 4, upAt: -1, doneAt: -1, end: 300, second: true, promises: promise.Current}.build().report(Params{})
	v := expect(t, r, NameRunCompletes, NotPromised)
	if v.NotPromised != 1 || v.Exercised != 1 || !strings.HasPrefix(v.Message(), "1 not promised (and 1 passed): run r1: its owner mesh-1 went down") {
		t.Fatalf("not promised %d, exercised %d, message %q", v.NotPromised, v.Exercised, v.Message())
	}
	var b strings.Builder
	if err := WriteDiagnoses(&b, r); err != nil || !strings.Contains(b.String(), "== run-completes: not-promised (0 violations, 0 unobserved windows, 1 not promised;") {
		t.Errorf("diagnoses: %v\n%s", err, b.String())
	}
	b.Reset()
	if err := WriteTable(&b, r); err != nil || !strings.Contains(b.String(), "NOT-PROMISED") {
		t.Errorf("table: %v\n%s", err, b.String())
	}
}

func TestHandoverCompletes(t *testing.T) {
	cur := promise.Current
	t.Run("pass: another pod completed it", func(t *testing.T) {
		r := downRun{kind: "stop", downAt: 4, upAt: 60, owner: ownerFrom(10, "mesh-2"), doneAt: 20, end: 80, promises: cur}.build().report(Params{})
		v := expect(t, r, NameHandoverCompletes, Pass)
		if v.Exercised != 1 || v.UnderFault != 1 {
			t.Errorf("exercised %d, under fault %d", v.Exercised, v.UnderFault)
		}
		expect(t, r, NameRestartRecovers, NotExercised)
		expect(t, r, NameRunCompletes, Pass)
	})
	t.Run("pass: completed while the stopped pod was down, no owner read", func(t *testing.T) {
		r := downRun{kind: "stop", downAt: 4, upAt: 60, owner: ownerFrom(5, ""), doneAt: 20, end: 80, promises: cur}.build().report(Params{})
		expect(t, r, NameHandoverCompletes, Pass)
	})
	t.Run("fail: the gate was not handed over", func(t *testing.T) {
		r := downRun{kind: "stop", downAt: 4, upAt: -1, doneAt: -1, end: 120, promises: cur}.build().report(Params{})
		expect(t, r, NameHandoverCompletes, Fail,
			"run r1 was still in progress at 12:00:44.000, 40s after its owner mesh-1 was stopped: the gate was not handed over (handover grace 40s (detection 10s + 2×slack 10s + streaming 10s); Postgres last named mesh-1 its owner at 12:00:46.000; mesh-1 still down)",
			"chaosd stopped mesh-1 (fault f1)")
		expect(t, r, NameRunCompletes, Fail, "did not complete by its deadline (1m35s after its start, 12:01:36.000)")
	})
	t.Run("fail: it waited for its owner to restart", func(t *testing.T) {
		r := downRun{kind: "stop", downAt: 4, upAt: 30, doneAt: 40, end: 80, promises: cur}.build().report(Params{})
		expect(t, r, NameHandoverCompletes, Fail, "run r1 waited for its owner to restart instead of being handed over: completed at 12:00:40.000, 36s after mesh-1 was stopped, after mesh-1 came back (12:00:30.000); Postgres named mesh-1 its owner at 12:00:38.000")
	})
	t.Run("pass: handed over, then taken from the queue by the restarted pod itself", func(t *testing.T) {
		// A rollout brings the stopped pod back at once; the gate it put back on the
		// queue (the run read with no owner) may be dequeued by that pod first.
		owner := func(s float64) string {
			switch {
			case s < 5:
				return "mesh-1"
			case s < 7:
				return ""
			}
			return "mesh-1"
		}
		r := downRun{kind: "stop", downAt: 4, upAt: 6, owner: owner, doneAt: 20, end: 80, promises: cur}.build().report(Params{})
		expect(t, r, NameHandoverCompletes, Pass)
		// Not seen ownerless: it waited for the restart.
		r = downRun{kind: "stop", downAt: 4, upAt: 6, doneAt: 20, end: 80, promises: cur}.build().report(Params{})
		expect(t, r, NameHandoverCompletes, Fail, "waited for its owner to restart instead of being handed over")
		// Handed over, but completed past the grace.
		r = downRun{kind: "stop", downAt: 4, upAt: 6, owner: owner, doneAt: 60, end: 120, promises: cur}.build().report(Params{})
		expect(t, r, NameHandoverCompletes, Fail, "was still in progress at 12:00:44.000, 40s after its owner mesh-1 was stopped: read back on the queue (in progress, no owner) at 12:00:06.000, it was not completed in time")
	})
	t.Run("a rollout by SIGTERM hands over", func(t *testing.T) {
		r := downRun{kind: "rollout-term", downAt: 4, upAt: 8, owner: ownerFrom(6, "mesh-2"), doneAt: 20, end: 80, promises: cur}.build().report(Params{})
		expect(t, r, NameHandoverCompletes, Pass)
		expect(t, r, NameRestartRecovers, NotExercised)
		// No signal recorded: a rollout's default, SIGTERM.
		r = downRun{kind: "rollout-default", downAt: 4, upAt: 8, owner: ownerFrom(6, "mesh-2"), doneAt: 20, end: 80, promises: cur}.build().report(Params{})
		expect(t, r, NameHandoverCompletes, Pass)
		// No signal recorded, but the pod died of SIGKILL: a restart.
		r = downRun{kind: "rollout-default-137", downAt: 4, upAt: 8, doneAt: 30, end: 80, promises: cur}.build().report(Params{})
		expect(t, r, NameHandoverCompletes, NotExercised)
		expect(t, r, NameRestartRecovers, Pass)
	})
}

// keptLog is one run of n chunks whose watcher saw order with the reply restarting
// at restarts, judged by promises.
func keptLog(promises []string, n int, late bool, k int, order string, restarts []int, finished bool) Report {
	h := &hist{}
	h.at(0).beginPromised(promises)
	h.at(1).start("r1", "mesh-1", n, 10*time.Second).thread("r1", history.StatusInProgress, "mesh-1")
	h.at(20).watchRestarts("r1", "w1", "mesh-2", late, k, 0.5, order, restarts, finished)
	return h.at(21).thread("r1", history.StatusCompleted, "").end().report(Params{})
}

func TestStreamKeptLog(t *testing.T) {
	cur, may := promise.Current, promise.May2026
	expect(t, keptLog(cur, 20, false, 0, "1-6,1-20", []int{6}, true), NameStreamIntegrity, Pass)
	expect(t, keptLog(cur, 20, false, 0, "1-6,1-9,1-20", []int{6, 15}, true), NameStreamIntegrity, Pass)
	expect(t, keptLog(cur, 20, false, 0, "1-6,1-12", []int{6}, false), NameStreamIntegrity, Pass) // no finish yet: judged on what it saw
	// The same stream on the May 2026 mesh: a duplicate.
	expect(t, keptLog(may, 20, false, 0, "1-6,1-20", []int{6}, true), NameStreamIntegrity, Fail, "saw chunk-1..6 twice", "the reply restarted (a new start chunk) after 6 chunks")
	// The catches.
	expect(t, keptLog(cur, 20, false, 0, "1-6,3-20", []int{6}, true), NameStreamIntegrity, Fail,
		"attempt 2 of 2 began at chunk-3: seq 1 missing (mesh's StreamGapError)")
	expect(t, keptLog(cur, 20, false, 0, "3-20", nil, true), NameStreamIntegrity, Fail, "its reply began at chunk-3: seq 1 missing")
	expect(t, keptLog(cur, 20, false, 0, "1-6,1-20", nil, true), NameStreamIntegrity, Fail,
		"its reply returned to chunk-1 after chunk-6 with no new start chunk: chunk-1..6 again (a duplicate)")
	expect(t, keptLog(cur, 20, false, 0, "1-6,1-10,8-20", []int{6}, true), NameStreamIntegrity, Fail, "attempt 2 of 2 repeated chunk-8..10 after chunk-10")
	expect(t, keptLog(cur, 20, false, 0, "1-6,1-5,9-20", []int{6}, true), NameStreamIntegrity, Fail, "attempt 2 of 2 skipped chunk-6..8 (chunk-9 came right after chunk-5)")
	expect(t, keptLog(cur, 20, false, 0, "1-6,1-12", []int{6}, true), NameStreamIntegrity, Fail, "saw the finish, but attempt 2 of 2 ran only chunks 1-12 in that order (12) of 20")
	expect(t, keptLog(cur, 20, false, 0, "1-20,1-22", []int{20}, true), NameStreamIntegrity, Fail, "saw chunk-21..22 beyond the 20 asked for")
}

func TestKeptLogLateWatcher(t *testing.T) {
	cur := promise.Current
	// The replayed kept log: prefix-replay and stream-integrity both pass.
	r := keptLog(cur, 20, true, 5, "1-6,1-20", []int{6}, true)
	expect(t, r, NameStreamIntegrity, Pass)
	expect(t, r, NamePrefixReplay, Pass)
	// A late watcher's missed prefix is prefix-replay's, not a second finding.
	r = keptLog(cur, 20, true, 5, "6-20", nil, true)
	expect(t, r, NameStreamIntegrity, Pass)
	expect(t, r, NamePrefixReplay, Fail, "missed chunk-1..5")
	// Its second attempt is judged whole.
	r = keptLog(cur, 20, true, 5, "1-6,2-20", []int{6}, true)
	expect(t, r, NameStreamIntegrity, Fail, "attempt 2 of 2 began at chunk-2: seq 1 missing")
}

func TestKeptLogBufferPurgeStillFails(t *testing.T) {
	r := killOwner(defects{purge: true}).report(Params{Promises: promise.Current})
	expect(t, r, NameStreamIntegrity, Fail, "its buffer lost messages while the run was in progress")
}

func TestAttempts(t *testing.T) {
	cases := []struct {
		order    string
		restarts []int
		want     []string
	}{
		{"1-20", nil, []string{"1-20"}},
		{"1-6,1-20", []int{6}, []string{"1-6", "1-20"}},
		{"1-26", []int{6}, []string{"1-6", "7-26"}},
		{"1-6,1-20", []int{0, 6, 6, 99}, []string{"1-6", "1-20"}},
		{"1-6,1-3,1-20", []int{6, 9}, []string{"1-6", "1-3", "1-20"}},
		{"1-4,2-8", []int{2, 6}, []string{"1-2", "3-4,2-3", "4-8"}},
	}
	for _, tc := range cases {
		o, err := history.ParseOrder(tc.order)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range attempts(o, tc.restarts) {
			got = append(got, a.String())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("attempts(%s, %v) = %q, want %q", tc.order, tc.restarts, got, tc.want)
		}
	}
}

// replyRun is one completed run of 5 chunks whose persisted replies are read after.
func replyRun(status string, read func(h *hist)) Report {
	h := &hist{}
	h.at(0).beginPromised(promise.Current)
	h.at(1).start("r1", "mesh-1", 5, time.Second).thread("r1", history.StatusInProgress, "mesh-1")
	h.at(2).messages("r1", "chunk-1 ") // read while in progress: not judged
	h.at(3).watch("r1", "w1", "mesh-2", false, 0, 0.5, "1-5", true, "").thread("r1", status, "")
	read(h.at(3.5))
	return h.at(4).end().report(Params{})
}

func TestReplyPersisted(t *testing.T) {
	done := history.StatusCompleted
	v := expect(t, replyRun(done, func(h *hist) { h.messages("r1", "chunk-1 chunk-2 chunk-3 chunk-4 chunk-5 ") }), NameReplyPersisted, Pass)
	if v.Checks != 1 || v.Exercised != 1 || !slices.Contains(v.Notes, "1 messages reading taken before the run was read completed, not judged") {
		t.Errorf("checks %d exercised %d notes %q", v.Checks, v.Exercised, v.Notes)
	}
	expect(t, replyRun(done, func(h *hist) { h.messages("r1", "chunk-1 chunk-2 chunk-3 chunk-4 chunk-5") }), NameReplyPersisted, Pass) // trailing whitespace
	expect(t, replyRun(done, func(h *hist) { h.messages("r1") }), NameReplyPersisted, Fail, "run r1: its persisted reply is wrong: blank: no assistant reply was persisted")
	expect(t, replyRun(done, func(h *hist) { h.messages("r1", "  ") }), NameReplyPersisted, Fail, "blank: the assistant reply has no text")
	expect(t, replyRun(done, func(h *hist) { h.messages("r1", mockReply(5), mockReply(5)) }), NameReplyPersisted, Fail, "persisted 2 times")
	expect(t, replyRun(done, func(h *hist) { h.messages("r1", "chunk-1 chunk-2 ") }), NameReplyPersisted, Fail, "missing chunk-3..5")
	expect(t, replyRun(done, func(h *hist) { h.messages("r1", "chunk-1 chunk-2 chunk-2 chunk-3 chunk-4 chunk-5 ") }), NameReplyPersisted, Fail, "chunk-2 repeated")
	expect(t, replyRun(done, func(h *hist) { h.messages("r1", "chunk-1 chunk-2 chunk-1 chunk-2 chunk-3 chunk-4 chunk-5 ") }), NameReplyPersisted, Fail, "chunk-1..2 repeated")
	expect(t, replyRun(done, func(h *hist) { h.messages("r1", "chunk-1 chunk-2 chunk-3 chunk-4 chunk-5 hello") }), NameReplyPersisted, Fail, `1 words that are not mockai's (first "hello")`)
	expect(t, replyRun(done, func(h *hist) { h.messagesErr("r1", "dial tcp: refused") }), NameReplyPersisted, Unknown, "its persisted reply could not be read: dial tcp: refused")
	expect(t, replyRun(history.StatusFailed, func(h *hist) { h.messages("r1") }), NameReplyPersisted, NotExercised,
		"the persisted replies of 1 run were not judged: the run ended otherwise (1 failed, 0 requires_action)")
}

func TestPromisesChooseTheCheckers(t *testing.T) {
	r := downRun{kind: "kill", downAt: 4, upAt: 30, doneAt: 60, end: 120, promises: promise.Current}.build().report(Params{})
	var got []string
	for _, v := range r.Verdicts {
		got = append(got, v.Name)
	}
	want := []string{NameRunCompletes, NamePrefixReplay, NameStreamIntegrity, NameChunkGrammar, NameNoWriteAfterEnd, NameRestartRecovers, NameHandoverCompletes, NameReplyPersisted, NamePodRecovers, NameRequestsAnswered, NameRunsFlow, NameNoUnexpectedDeath}
	if !slices.Equal(got, want) {
		t.Errorf("verdicts %q, want %q", got, want)
	}
	for _, n := range []string{
		"owner-alive: not promised by this mesh (survivor-takeover: a survivor takes over a dead owner's run)",
		"heartbeat-bucket: not promised by this mesh (heartbeat-bucket: every live pod keeps a fresh key in the heartbeat bucket)",
	} {
		if !slices.Contains(r.Notes, n) {
			t.Errorf("notes %q lack %q", r.Notes, n)
		}
	}
	if !slices.Equal(r.Params.Promises, promise.Current) || *r.Params.HeartbeatCheck {
		t.Errorf("params promises %v heartbeat %v", r.Params.Promises, *r.Params.HeartbeatCheck)
	}
}

func TestOldHistoryJudgesAsBefore(t *testing.T) {
	// No promises on the begin line: the May 2026 mesh's; the same verdicts as when
	// they are named.
	old := killOwner(defects{strictClaim: true}).report(Params{})
	named := killOwner(defects{strictClaim: true})
	named.evs[0].Meta.Promises = promise.May2026
	explicit := named.report(Params{})
	a, _ := json.Marshal(old.Verdicts)
	b, _ := json.Marshal(explicit.Verdicts)
	if string(a) != string(b) {
		t.Fatalf("verdicts differ:\n%s\n%s", a, b)
	}
	if !slices.Equal(old.Params.Promises, promise.May2026) || !slices.Contains(old.Notes, "the history records no promises: judged by the May 2026 mesh's (survivor-takeover, heartbeat-bucket, prefix-replay, stream-exactly-once, run-completes)") {
		t.Errorf("promises %v notes %q", old.Params.Promises, old.Notes)
	}
	for _, n := range []string{NameRestartRecovers, NameHandoverCompletes, NameReplyPersisted} {
		for _, v := range old.Verdicts {
			if v.Name == n {
				t.Errorf("%s judged an old history", n)
			}
		}
	}
}

func TestResolvePromises(t *testing.T) {
	off := false
	cases := []struct {
		name string
		p    Params
		m    *history.Meta
		want []string
		hb   bool
	}{
		{"none: the default", Params{}, nil, promise.May2026, true},
		{"begin line", Params{}, &history.Meta{Promises: promise.Current}, promise.Current, false},
		{"params win", Params{Promises: []string{promise.RunCompletes}}, &history.Meta{Promises: promise.Current}, []string{promise.RunCompletes}, false},
		{"heartbeat check off on the begin line", Params{}, &history.Meta{HeartbeatCheck: &off},
			[]string{promise.SurvivorTakeover, promise.PrefixReplay, promise.StreamExactlyOnce, promise.RunCompletes}, false},
		{"heartbeat check off in params", Params{HeartbeatCheck: &off}, nil,
			[]string{promise.SurvivorTakeover, promise.PrefixReplay, promise.StreamExactlyOnce, promise.RunCompletes}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p.Resolve(tc.m)
			if !slices.Equal(p.Promises, tc.want) || *p.HeartbeatCheck != tc.hb {
				t.Fatalf("promises %v heartbeat %v; want %v %v", p.Promises, *p.HeartbeatCheck, tc.want, tc.hb)
			}
			if again := p.Resolve(tc.m); !slices.Equal(again.Promises, p.Promises) {
				t.Fatalf("resolving twice: %v", again.Promises)
			}
		})
	}
	if slices.Contains(promise.Default, promise.HeartbeatBucket) != true {
		t.Fatal("a resolve must not change promise.Default")
	}
	if err := (Params{Promises: []string{"bogus"}}).Validate(); err == nil || !strings.Contains(err.Error(), `unknown promise "bogus"`) {
		t.Errorf("validate: %v", err)
	}
	p := Params{}.Resolve(&history.Meta{BootTime: history.Duration(30 * time.Second)})
	if g := p.RestartGraceFor(10 * time.Second); g != 70*time.Second {
		t.Errorf("restart grace %s, want 1m10s (30 + 10 + 2×10 + 10)", g)
	}
	if g := p.HandoverGraceFor(0); g != 90*time.Second {
		t.Errorf("handover grace %s, want 1m30s (10 + 2×10 + RunBase 1m)", g)
	}
	if g := (Params{}).Resolve(nil).RestartGraceFor(10 * time.Second); g != 130*time.Second {
		t.Errorf("restart grace without a boot time %s, want 2m10s (recover deadline 1m30s + 10 + 2×10 + 10)", g)
	}
}

func TestPromisesOf(t *testing.T) {
	if got := PromisesOf(NameOwnerAlive); !slices.Equal(got, []string{promise.SurvivorTakeover}) {
		t.Errorf("owner-alive: %v", got)
	}
	if got := PromisesOf(NamePodRecovers); got != nil {
		t.Errorf("pod-recovers: %v", got)
	}
	for _, k := range kinds {
		for _, n := range k.promises {
			if _, ok := promise.Lookup(n); !ok {
				t.Errorf("%s checks unknown promise %q", k.name, n)
			}
		}
	}
	for _, pr := range promise.All { // every promise is checked by some invariant
		found := false
		for _, k := range kinds {
			found = found || slices.Contains(k.promises, pr.Name)
		}
		if !found {
			t.Errorf("no invariant checks %s", pr.Name)
		}
	}
}

func TestOverallNotPromised(t *testing.T) {
	v := func(sts ...Status) []Verdict {
		var out []Verdict
		for _, st := range sts {
			out = append(out, Verdict{Status: st})
		}
		return out
	}
	for _, tc := range []struct {
		in   []Verdict
		want Status
	}{
		{v(Pass, NotPromised), NotPromised},
		{v(NotPromised, Pass), NotPromised},
		{v(NotPromised, NotExercised), Unknown},
		{v(NotPromised, Unknown), Unknown},
		{v(NotPromised, Fail), Fail},
		{v(Pass), Pass},
	} {
		if got := Overall(tc.in); got != tc.want {
			t.Errorf("Overall(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// A graceful stop hands the runs over before the pod exits: the run reads ownerless
// between the SIGTERM and the Docker die, and still counts as the stopped pod's.
func TestHandoverOfARunReleasedBeforeTheExit(t *testing.T) {
	build := func(kind, signal string, exit int) Report {
		h := &hist{}
		h.at(0).beginPromised(promise.Current)
		h.at(1).start("r1", "mesh-1", 20, 10*time.Second)
		h.at(2).thread("r1", history.StatusInProgress, "mesh-1")
		h.at(3).faultSig("f1", history.FaultIntent, kind, "all", signal)
		h.at(3.5).thread("r1", history.StatusInProgress, "")
		h.at(4).dockerOf(history.DockerDie, "mesh-1", "f1", exit)
		h.at(5).thread("r1", history.StatusInProgress, "mesh-2")
		h.at(6).dockerOf(history.DockerStart, "mesh-1", "f1", 0)
		h.at(12).thread("r1", history.StatusCompleted, "")
		h.at(13).faultSig("f1", history.FaultInjected, kind, "all", signal)
		return h.at(20).end().report(Params{})
	}
	v := expect(t, build(history.KindRollout, history.SignalTerm, 0), NameHandoverCompletes, Pass)
	if v.Exercised != 1 {
		t.Errorf("handover-completes exercised %d, want 1 (the run released just before mesh-1 exited)", v.Exercised)
	}
	// Released before a SIGKILL's death: no hand-over to judge (nor was it one).
	expect(t, build(history.KindRollout, history.SignalKill, 137), NameHandoverCompletes, NotExercised)
}

// A slow drain and a quick claim: the run is handed over and already claimed by
// another pod before the stopped pod exits (seen in CI on a loaded machine: the
// clean rollout's handover-completes went unexercised). It still counts as the
// stopped pod's, for the first pod of a rollout and for a later one, whose stop began
// after the previous pod's start; a run that pod owned only before that does not.
func TestHandoverOfARunClaimedBeforeTheExit(t *testing.T) {
	build := func(kind, signal string, exit int) Report {
		h := &hist{}
		h.at(0).beginPromised(promise.Current)
		h.at(1).start("r1", "mesh-1", 20, 10*time.Second)
		h.at(2).thread("r1", history.StatusInProgress, "mesh-1")
		h.at(3).faultSig("f1", history.FaultIntent, kind, "all", signal)
		h.at(3.5).thread("r1", history.StatusInProgress, "mesh-2") // claimed while mesh-1 drains
		h.at(4).dockerOf(history.DockerDie, "mesh-1", "f1", exit)
		h.at(4.5).dockerOf(history.DockerStart, "mesh-1", "f1", 0)
		h.at(5).thread("r1", history.StatusInProgress, "mesh-2")
		// mesh-2's stop begins after mesh-1's start; r1 is claimed by mesh-3 before mesh-2 exits.
		h.at(6).thread("r1", history.StatusInProgress, "mesh-3")
		h.at(6.5).dockerOf(history.DockerDie, "mesh-2", "f1", exit)
		h.at(7).dockerOf(history.DockerStart, "mesh-2", "f1", 0)
		h.at(12).thread("r1", history.StatusCompleted, "")
		h.at(13).faultSig("f1", history.FaultInjected, kind, "all", signal)
		return h.at(30).end().report(Params{})
	}
	v := expect(t, build(history.KindRollout, history.SignalTerm, 0), NameHandoverCompletes, Pass)
	if v.Exercised != 1 {
		t.Errorf("handover-completes exercised %d, want 1 (the episode of mesh-2's stop supersedes mesh-1's)", v.Exercised)
	}
	expect(t, build(history.KindRollout, history.SignalKill, 137), NameHandoverCompletes, NotExercised)

	// mesh-3 owned the run only before the rollout's previous pod started again: its
	// stop did not hit the run.
	h := &hist{}
	h.at(0).beginPromised(promise.Current)
	h.at(1).start("r1", "mesh-3", 20, 10*time.Second)
	h.at(2).thread("r1", history.StatusInProgress, "mesh-3")
	h.at(3).faultSig("f1", history.FaultIntent, history.KindRollout, "all", history.SignalTerm)
	h.at(3.5).thread("r1", history.StatusInProgress, "mesh-2")
	h.at(4).dockerOf(history.DockerDie, "mesh-1", "f1", 0)
	h.at(4.5).dockerOf(history.DockerStart, "mesh-1", "f1", 0)
	h.at(5).thread("r1", history.StatusCompleted, "")
	h.at(6).dockerOf(history.DockerDie, "mesh-3", "f1", 0)
	h.at(6.5).dockerOf(history.DockerStart, "mesh-3", "f1", 0)
	h.at(7).faultSig("f1", history.FaultInjected, history.KindRollout, "all", history.SignalTerm)
	expect(t, h.at(30).end().report(Params{}), NameHandoverCompletes, NotExercised)
}

// A --fault of one kind names what it cannot put to the test, and the report says
// so rather than "not promised".
func TestUntestedPromiseNote(t *testing.T) {
	h := &hist{}
	h.at(0).add(history.MetaEvent(history.Meta{Phase: history.MetaBegin, Pods: []string{"mesh-1", "mesh-2"},
		Promises: []string{promise.RestartRecovery, promise.RunCompletes}, Untested: []string{promise.SigtermHandover}}))
	r := h.at(1).end().report(Params{})
	want := "handover-completes: not judged: this run's fault does not put it to the test (sigterm-handover: " + promise.Statement(promise.SigtermHandover) + ")"
	if !slices.Contains(r.Notes, want) {
		t.Fatalf("notes %q lack %q", r.Notes, want)
	}
}
