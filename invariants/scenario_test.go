package invariants

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/chaosd/chaosd/history"
)

// defects switch mesh's known bugs on in the kill-owner scenario (mesh-contract.md).
type defects struct {
	deliverNew  bool // late attaches get only new messages
	noBucket    bool // the heartbeat bucket was never created: nobody notices the death
	strictClaim bool // the survivor cannot claim the orphan: the dead pod keeps owning it
	purge       bool // resume purges the run's buffer
	duplicate   bool // resume republishes the reply from chunk-1
	pgDown      bool // Postgres unreadable from the kill on
}

// killOwner is one run of 20 chunks (10 s of streaming) started on mesh-1 at 1 s,
// watched early from mesh-2 and late (k=5) from mesh-1 and mesh-3; chaosd SIGKILLs
// its owner mesh-1 at 4 s; a survivor (mesh-2) reclaims it at 60 s (TTL 45 s +
// detection) and finishes it at 70 s; mesh-1 is started again at 80 s. A late
// attach on mesh-2 at 30 s replays while the owner is down. The run has a settle
// window of 10 s: its buffer, purged up to its end sentinel once it ended (as the
// testbed does), is read until 82 s.
func killOwner(d defects) *hist {
	stuck := d.noBucket || d.strictClaim
	end := 90.0
	if stuck {
		end = 130
	}
	h := &hist{}
	h.at(0).begin("no-orphans")
	h.at(0.5).add(history.OpEvent(history.Op{ID: 1, Name: history.OpAttach, Phase: history.PhaseOK, Run: "r1", Pod: "mesh-2", Watcher: "w1"}))
	h.at(1).start("r1", "mesh-1", 20, 10*time.Second).settle(10 * time.Second)
	for s := 0.0; s <= end; s += 0.5 {
		h.at(s)
		if s == float64(int(s)) && int(s)%5 == 0 {
			periodic(h, s, d)
		}
		if s >= 1.5 && s == float64(int(s)) && int(s)%2 == 0 || s == 1.5 {
			sample(h, s, d, stuck)
		}
		events(h, s, d, stuck)
	}
	return h.end()
}

// periodic: readiness of every pod and the heartbeat bucket, every 5 s.
func periodic(h *hist, s float64, d defects) {
	down := s >= 4 && s < 82
	h.ready("mesh-1", !down).ready("mesh-2", true).ready("mesh-3", true)
	if d.noBucket {
		h.heartbeats(false, nil)
		return
	}
	ages := map[string]float64{"mesh-2": float64(int(s) % 10), "mesh-3": float64(int(s) % 10)}
	switch {
	case s < 4:
		ages["mesh-1"] = float64(int(s) % 10)
	case s < 45:
		ages["mesh-1"] = s // not refreshed since 0 s; expires at 45 s
	case s >= 85:
		ages["mesh-1"] = 0
	}
	h.heartbeats(true, ages)
	if s == 50 {
		h.user("no-orphans", true, "", "")
	}
}

// sample: the thread and its buffer, as the workload reads them every 2 s.
func sample(h *hist, s float64, d defects, stuck bool) {
	owner, status := "mesh-1", history.StatusInProgress
	if s >= 60 && !stuck {
		owner = "mesh-2"
	}
	if s >= 70.5 && !stuck {
		owner, status = "", history.StatusCompleted
	}
	if d.pgDown && s >= 4 {
		h.threadErr("r1", "dial tcp 127.0.0.1:15432: connection refused")
	} else {
		h.thread("r1", status, owner)
	}
	deltas := min(6, int((s-1)*2))
	if s >= 60 && !stuck {
		deltas = min(20, 6+int((s-60)*2))
	}
	switch {
	case status == history.StatusCompleted:
		h.buffer("r1", 1, 25, 25, 0, true) // purged up to the end sentinel
	case d.purge && s >= 60:
		n := uint64(deltas - 6)
		h.buffer("r1", n+1, 9, 9+n, int(n), false)
	default:
		h.buffer("r1", uint64(deltas+2), 1, uint64(deltas+2), deltas, false)
	}
}

// events: attaches, the fault, the watchers' reports.
func events(h *hist, s float64, d defects, stuck bool) {
	switch s {
	case 3.5:
		h.add(history.OpEvent(history.Op{ID: 2, Name: history.OpAttach, Phase: history.PhaseOK, Run: "r1", Pod: "mesh-1", Watcher: "w2", Late: true, K: 5}))
		h.add(history.OpEvent(history.Op{ID: 3, Name: history.OpAttach, Phase: history.PhaseOK, Run: "r1", Pod: "mesh-3", Watcher: "w3", Late: true, K: 5}))
	case 4:
		h.fault("f1", history.FaultIntent, history.KindKill, "mesh-1", "r1")
		h.at(4.1).fault("f1", history.FaultInjected, history.KindKill, "mesh-1", "r1").docker(history.DockerDie, "mesh-1", true, 137)
		h.at(4.2).watch("r1", "w2", "mesh-1", true, 5, 3.5, "1-6", false, "unexpected EOF")
	case 80:
		h.fault("f1", history.FaultHealed, history.KindKill, "mesh-1", "r1").docker(history.DockerStart, "mesh-1", true, 0)
	}
	if !stuck && s == 70 {
		early, late, replay := "1-20", "1-20", "1-20"
		if d.duplicate {
			early = "1-6,1-20"
		}
		if d.deliverNew {
			late, replay = "6-20", "7-20"
		}
		h.watch("r1", "w1", "mesh-2", false, 0, 0.5, early, true, "")
		h.watch("r1", "w3", "mesh-3", true, 5, 3.5, late, true, "")
		h.watch("r1", "w4", "mesh-2", true, 6, 30, replay, true, "")
		if d.duplicate { // the late replays here show no duplicate: not the early stream, chunk by chunk
			h.evs[len(h.evs)-1].Watch.Chunks, h.evs[len(h.evs)-2].Watch.Chunks = "", ""
		}
	}
	if stuck && s == 96 {
		for _, w := range []struct{ id, pod string }{{"w1", "mesh-2"}, {"w3", "mesh-3"}, {"w4", "mesh-2"}} {
			h.watch("r1", w.id, w.pod, w.id != "w1", 5, 3.5, "1-6", false, "gave up at the run's deadline")
		}
	}
}

func TestCleanKillOwnerPassesEverything(t *testing.T) {
	r := killOwner(defects{}).report(Params{})
	for _, v := range r.Verdicts {
		if v.Status != Pass {
			t.Errorf("%s", dump(v))
		}
	}
	if r.Status != Pass || !r.Ended {
		t.Fatalf("overall %s, ended %v", r.Status, r.Ended)
	}
	// The fault is what each invariant was exercised under. stream-integrity: the 4
	// watcher reports (the run was hit) and the 33 buffer comparisons after the kill.
	for name, want := range map[string]int{NameRunCompletes: 1, NameOwnerAlive: 1, NamePodRecovers: 1, NamePrefixReplay: 1, NameStreamIntegrity: 37} {
		if v := verdict(t, r, name); v.UnderFault != want {
			t.Errorf("%s: under fault %d, want %d\n%s", name, v.UnderFault, want, dump(v))
		}
	}
	if v := verdict(t, r, NamePrefixReplay); v.Exercised != 3 || v.Checks != 3 {
		t.Errorf("prefix-replay exercised %d, checks %d; want 3 (the late watchers, mesh-1's cut off after its replay; the early one is no case)", v.Exercised, v.Checks)
	}
	if got := len(r.Verdicts); got != builtKinds(r.Params)-1+1 {
		t.Errorf("%d verdicts: %v", got, names(r))
	}
}

func TestDeliverNewFailsPrefixReplay(t *testing.T) {
	r := killOwner(defects{deliverNew: true}).report(Params{})
	v := expect(t, r, NamePrefixReplay, Fail,
		"run r1: watcher on mesh-3 (late, opened 12:00:03.500 with 5 chunks buffered) missed chunk-1..5",
		"the first chunk it saw was chunk-6",
		"watcher on mesh-2", "missed chunk-1..6", "while its owner mesh-1 was down (chaosd killed mesh-1 (fault f1, owner of run r1)",
		"Postgres said: in_progress owner mesh-1")
	if v.Violations != 2 {
		t.Errorf("violations %d, want 2", v.Violations)
	}
	expect(t, r, NameRunCompletes, Pass)
	expect(t, r, NameStreamIntegrity, Pass)
	if r.Status != Fail {
		t.Fatalf("overall %s", r.Status)
	}
}

func TestNoHeartbeatBucket(t *testing.T) {
	r := killOwner(defects{noBucket: true}).report(Params{})
	expect(t, r, NameHeartbeatBucket, Fail, "the heartbeat bucket is missing from JetStream while mesh-1, mesh-2, mesh-3 were ready")
	if v := verdict(t, r, NameHeartbeatBucket); v.Violations != 1 {
		t.Errorf("a streak of missing readings should be one violation, got %d", v.Violations)
	}
	expect(t, r, NameOwnerAlive, Fail, "run r1 is still in_progress and owned by mesh-1", "after mesh-1 went down (chaosd killed mesh-1", "heartbeat bucket missing")
	expect(t, r, NameRunCompletes, Fail, "run r1 did not complete by its deadline (1m35s after its start", "chaosd killed mesh-1 (fault f1, owner of run r1) confirmed 12:00:04.100")
}

func TestStrictClaim(t *testing.T) {
	r := killOwner(defects{strictClaim: true}).report(Params{})
	expect(t, r, NameOwnerAlive, Fail, "still in_progress and owned by mesh-1 at 12:01:10.000, 1m5.9s after mesh-1 went down", "grace 1m5s",
		"Postgres said: in_progress owner mesh-1")
	expect(t, r, NameRunCompletes, Fail, "did not complete", "watcher on mesh-3 (late, opened 12:00:03.500 with 5 chunks buffered): saw chunks 1-6 in that order (6) of 20, no finish, ended: gave up")
	expect(t, r, NameHeartbeatBucket, Pass)
	expect(t, r, NamePrefixReplay, Pass)
}

func TestPurgeOnResume(t *testing.T) {
	r := killOwner(defects{purge: true}).report(Params{})
	expect(t, r, NameStreamIntegrity, Fail, "run r1: its buffer lost messages while the run was in progress: 8 msgs seq 1-8 (6 deltas)",
		"then 1 msgs seq 9-9 (0 deltas) at 12:01:00.000", "Postgres still said in_progress owner mesh-2")
	expect(t, r, NameRunCompletes, Pass)
}

func TestDuplicateOnResume(t *testing.T) {
	r := killOwner(defects{duplicate: true}).report(Params{})
	expect(t, r, NameStreamIntegrity, Fail, "watcher on mesh-2 (early, opened 12:00:00.500) saw chunk-1..6 twice")
	expect(t, r, NamePrefixReplay, Pass)
}

func TestUnobservableIsUnknownNotPass(t *testing.T) {
	r := killOwner(defects{pgDown: true}).report(Params{})
	expect(t, r, NameOwnerAlive, Unknown, "could not be read from Postgres", "connection refused")
	expect(t, r, NameRunCompletes, Unknown, "the last Postgres reading failed")
	if r.Status != Unknown {
		t.Fatalf("overall %s, want unknown", r.Status)
	}
}

func TestNothingExercisedIsNotAPass(t *testing.T) {
	h := &hist{}
	h.at(0).begin().ready("mesh-1", true)
	h.at(5).ready("mesh-1", true).end()
	r := h.report(Params{})
	for _, v := range r.Verdicts {
		if v.Status != NotExercised {
			t.Errorf("%s: %s, want not-exercised", v.Name, v.Status)
		}
	}
	if r.Status != Unknown {
		t.Fatalf("overall %s, want unknown", r.Status)
	}
	if v := verdict(t, r, NameNoUnexpectedDeath); v.Message() == "" || len(v.Notes) == 0 {
		t.Errorf("not-exercised should say why: %+v", v)
	}
}

func TestHistoryEndingMidRunIsUnknown(t *testing.T) {
	h := &hist{}
	h.at(0).begin()
	h.at(1).start("r1", "mesh-1", 20, 10*time.Second).thread("r1", history.StatusInProgress, "mesh-1")
	h.at(5).end()
	r := h.report(Params{})
	expect(t, r, NameRunCompletes, Unknown, "was still in flight when the history ended")
}

func TestCompletedLateFails(t *testing.T) {
	h := &hist{}
	h.at(0).begin()
	h.at(1).start("r1", "mesh-1", 3, time.Second).thread("r1", history.StatusInProgress, "mesh-1")
	h.at(2).watch("r1", "w1", "mesh-2", false, 0, 0.5, "1-3", true, "")
	h.at(3).thread("r1", history.StatusCompleted, "").end()
	r := h.report(Params{RunDeadline: time.Second})
	expect(t, r, NameRunCompletes, Fail, "completed only at 12:00:03.000, 2s after its start, past its deadline of 1s")
}

func TestRunFailedStatusFails(t *testing.T) {
	h := &hist{}
	h.at(0).begin()
	h.at(1).start("r1", "mesh-1", 3, time.Second).thread("r1", history.StatusFailed, "")
	r := h.at(2).end().report(Params{})
	expect(t, r, NameRunCompletes, Fail, "run r1 ended failed instead of completed")
}

func TestRefusedStartIsNotARun(t *testing.T) {
	h := &hist{}
	h.at(0).begin()
	h.at(1).add(history.OpEvent(history.Op{ID: 1, Name: history.OpStartRun, Phase: history.PhaseInvoke, Run: "r1", Pod: "mesh-1"}))
	h.add(history.OpEvent(history.Op{ID: 1, Name: history.OpStartRun, Phase: history.PhaseFailed, Run: "r1", Pod: "mesh-1", Status: 409}))
	r := h.at(300).end().report(Params{})
	v := expect(t, r, NameRunCompletes, NotExercised)
	if len(v.Notes) == 0 || v.Notes[len(v.Notes)-1] != "1 starts were refused by mesh (not runs)" {
		t.Errorf("notes %v", v.Notes)
	}
}

func TestUnexpectedDeath(t *testing.T) {
	h := &hist{}
	h.at(0).begin()
	h.at(1).docker(history.DockerDie, "migrate", false, 0) // one-shot service: expected
	h.at(2).fault("f1", history.FaultIntent, history.KindPause, "mesh-1", "")
	h.fault("f1", history.FaultInjected, history.KindPause, "mesh-1", "").docker(history.DockerPause, "mesh-1", true, 0)
	h.at(3).docker(history.DockerDie, "mesh-3", false, 137)
	h.at(4).docker(history.DockerOOM, "mesh-2", false, 0)
	h.at(9).fault("f1", history.FaultHealed, history.KindPause, "mesh-1", "").docker(history.DockerUnpause, "mesh-1", true, 0)
	h.at(9.5).end()
	h.at(10).docker(history.DockerDie, "mesh-2", false, 1) // teardown after the end line: not judged
	r := h.report(Params{})
	v := expect(t, r, NameNoUnexpectedDeath, Fail, "mesh-3 (container c0ffeemesh-3) died with exit code 137 at 12:00:03.000, not by chaosd's hand",
		"faults in effect: chaosd paused mesh-1 (fault f1) confirmed 12:00:02.000, not healed", "mesh-2 (container c0ffeemesh-2) ran out of memory")
	if v.Violations != 2 || v.UnderFault != 3 {
		t.Errorf("violations %d (want 2), under fault %d (want 3)\n%s", v.Violations, v.UnderFault, dump(v))
	}
}

func TestDockerWatchErrorIsUnknown(t *testing.T) {
	h := &hist{}
	h.at(0).begin()
	h.at(1).docker(history.DockerStart, "mesh-1", false, 0)
	h.at(2).add(history.DockerEvent(history.Docker{Action: history.DockerWatchError, Err: "EOF", At: sec(2)}))
	r := h.at(3).end().report(Params{})
	expect(t, r, NameNoUnexpectedDeath, Unknown, "the container event stream (Docker's, or the pods' on Kubernetes) broke")
}

func TestPodRecovers(t *testing.T) {
	base := func() *hist {
		h := &hist{}
		h.at(0).begin().ready("mesh-1", true)
		h.at(1).fault("f1", history.FaultIntent, history.KindPause, "mesh-1", "")
		h.fault("f1", history.FaultInjected, history.KindPause, "mesh-1", "")
		h.at(10).fault("f1", history.FaultHealed, history.KindPause, "mesh-1", "")
		return h
	}
	h := base()
	h.at(12).ready("mesh-1", false).at(15).ready("mesh-1", true)
	expect(t, h.at(16).end().report(Params{}), NamePodRecovers, Pass)

	h = base()
	for s := 15.0; s <= 120; s += 15 {
		h.at(s).ready("mesh-1", false)
	}
	expect(t, h.end().report(Params{}), NamePodRecovers, Fail,
		"mesh-1 was not ready 1m30s after the heal (chaosd paused mesh-1 (fault f1) confirmed 12:00:01.000, healed 12:00:10.000): 7 readiness readings since, the last not answering (connection refused)")

	h = base()
	expect(t, h.at(200).end().report(Params{}), NamePodRecovers, Unknown, "readiness was never read")

	h = base()
	h.at(12).fault("f2", history.FaultIntent, history.KindKill, "mesh-2", "")
	h.fault("f2", history.FaultInjected, history.KindKill, "mesh-2", "")
	h.add(history.FaultEvent(history.Fault{ID: "f2", Phase: history.FaultHealUnknown, Kind: history.KindKill, Pod: "mesh-2", At: sec(20), Err: "container vanished"}))
	h.at(20).ready("mesh-1", true)
	expect(t, h.end().report(Params{}), NamePodRecovers, Unknown, "the heal of chaosd killed mesh-2 (fault f2) confirmed 12:00:12.000, heal unconfirmed at 12:00:20.000 could not be confirmed (container vanished)")
}

func TestHeartbeatKeys(t *testing.T) {
	h := &hist{}
	h.at(0).begin()
	for s := 0.0; s <= 60; s += 5 {
		h.at(s).ready("mesh-1", true).ready("mesh-2", true)
		ages := map[string]float64{"mesh-1": 3}
		if s < 30 {
			ages["mesh-2"] = 4
		} else if s < 50 {
			ages["mesh-2"] = s // stale: no longer refreshed
		}
		h.heartbeats(true, ages)
	}
	r := h.end().report(Params{})
	v := expect(t, r, NameHeartbeatBucket, Fail, "ready pod mesh-2 has a heartbeat key 45s old, not fresher than the TTL 45s")
	if v.Violations != 1 {
		t.Errorf("a stale streak then a missing key should be one violation, got %d\n%s", v.Violations, dump(v))
	}
}

func TestHeartbeatUnreadableIsUnknown(t *testing.T) {
	h := &hist{}
	h.at(0).begin().ready("mesh-1", true)
	h.add(history.ProbeEvent(history.Probe{Kind: history.ProbeHeartbeats, Err: "nats: timeout"}, sec(0)))
	r := h.at(1).end().report(Params{})
	expect(t, r, NameHeartbeatBucket, Unknown, "could not be read while mesh-1 were ready: nats: timeout")
}

func TestHeartbeatCheckOff(t *testing.T) {
	off := false
	r := killOwner(defects{noBucket: true}).report(Params{HeartbeatCheck: &off})
	for _, v := range r.Verdicts {
		if v.Name == NameHeartbeatBucket {
			t.Fatalf("heartbeat-bucket should be off")
		}
	}
}

func TestUserChecks(t *testing.T) {
	h := &hist{}
	h.at(0).begin("no-orphans", "never-read")
	h.at(1).user("no-orphans", true, "", "")
	h.at(2).user("no-orphans", false, "2 rows: thrd_a, thrd_b", "")
	h.at(3).user("no-orphans", false, "2 rows: thrd_a, thrd_b", "")
	h.at(4).user("api-up", true, "200", "")
	h.at(5).user("api-up", false, "", "dial tcp: refused")
	r := h.end().report(Params{})
	v := expect(t, r, "user:no-orphans", Fail, "user check no-orphans (sql) failed at 12:00:02.000: 2 rows: thrd_a, thrd_b")
	if v.Violations != 1 || v.Checks != 3 {
		t.Errorf("violations %d checks %d", v.Violations, v.Checks)
	}
	expect(t, r, "user:never-read", NotExercised)
	expect(t, r, "user:api-up", Unknown, "could not be run")
}

func TestOwnerRecoversBeforeGraceIsNotExercised(t *testing.T) {
	h := &hist{}
	h.at(0).begin()
	h.at(1).start("r1", "mesh-1", 20, 10*time.Second).thread("r1", history.StatusInProgress, "mesh-1")
	h.at(2).fault("f1", history.FaultIntent, history.KindPause, "mesh-1", "r1").fault("f1", history.FaultInjected, history.KindPause, "mesh-1", "r1")
	h.at(3).thread("r1", history.StatusInProgress, "mesh-1")
	h.at(10).fault("f1", history.FaultHealed, history.KindPause, "mesh-1", "r1")
	h.at(11).thread("r1", history.StatusInProgress, "mesh-1")
	r := h.at(12).end().report(Params{})
	v := expect(t, r, NameOwnerAlive, NotExercised, "owner mesh-1 of run r1 was down 8.0s while the run was in progress, but a takeover is due only after the grace 1m5s")
	if v.Checks != 0 {
		t.Errorf("checks %d, want 0 (the pause ended before the grace: no takeover was due)", v.Checks)
	}
}

func TestPartitionFromPostgresDoesNotMakeTheOwnerDown(t *testing.T) {
	h := &hist{}
	h.at(0).begin()
	h.at(1).start("r1", "mesh-1", 20, 10*time.Second).thread("r1", history.StatusInProgress, "mesh-1")
	h.add(history.FaultEvent(history.Fault{ID: "f1", Phase: history.FaultInjected, Kind: history.KindPartition, Pod: "mesh-1", Peers: []string{history.PeerPostgres}, At: sec(1)}))
	for s := 10.0; s <= 100; s += 10 {
		h.at(s).thread("r1", history.StatusInProgress, "mesh-1")
	}
	r := h.end().report(Params{})
	if v := verdict(t, r, NameOwnerAlive); v.Violations != 0 || v.Checks != 0 {
		t.Fatalf("a pod cut off only from Postgres keeps its heartbeat: %s", dump(v))
	}
}

func TestEvidenceIsCapped(t *testing.T) {
	h := &hist{}
	h.at(0).begin()
	for i := range 50 {
		h.at(float64(i)).docker(history.DockerDie, fmt.Sprintf("mesh-%d", i), false, 1)
	}
	r := h.end().report(Params{MaxEvidence: 5})
	v := verdict(t, r, NameNoUnexpectedDeath)
	if v.Violations != 50 || len(v.Evidence) != 5 {
		t.Fatalf("violations %d evidence %d", v.Violations, len(v.Evidence))
	}
}

func TestPartitionedPodIsExcusedFromItsHeartbeatKey(t *testing.T) {
	h := &hist{}
	h.at(0).begin()
	h.at(1).add(history.FaultEvent(history.Fault{ID: "f1", Phase: history.FaultInjected, Kind: history.KindPartition, Pod: "mesh-1", Peers: []string{history.PeerNATS}, At: sec(1)}))
	for s := 0.0; s <= 120; s += 5 {
		ages := map[string]float64{"mesh-2": 1}
		if s < 1 || s >= 100 {
			ages["mesh-1"] = 1
		}
		h.at(s).ready("mesh-1", true).ready("mesh-2", true).heartbeats(true, ages)
		if s == 90 {
			h.fault("f1", history.FaultHealed, history.KindPartition, "mesh-1", "")
		}
	}
	r := h.end().report(Params{})
	expect(t, r, NameHeartbeatBucket, Pass)
}

func TestLiveChecksWhatIsWritten(t *testing.T) {
	var buf bytes.Buffer
	w := history.NewWriter(&buf, history.Options{})
	live := NewLive(w, Params{})
	src := killOwner(defects{deliverNew: true})
	for _, e := range src.evs {
		e.Seq, e.V = 0, 0 // the writer numbers them
		if _, err := live.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rep := live.Finish()
	expect(t, rep, NamePrefixReplay, Fail, "missed chunk-1..5")
	offline, err := Analyze(history.NewReader(&buf), Params{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(names(offline)) != fmt.Sprint(names(rep)) || offline.Events != rep.Events {
		t.Fatalf("offline %v (%d events) differs from live %v (%d)", names(offline), offline.Events, names(rep), rep.Events)
	}
	if _, err := live.Append(history.MetaEvent(history.Meta{Phase: history.MetaEnd})); !errors.Is(err, history.ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
}

func TestIndeterminateStartWithoutSignOfLifeIsUnknown(t *testing.T) {
	h := &hist{}
	h.at(0).begin()
	h.at(1).add(history.OpEvent(history.Op{ID: 1, Name: history.OpStartRun, Phase: history.PhaseInvoke, Run: "r1", Thread: "t-r1", Pod: "mesh-1", Chunks: 5}))
	h.at(31).add(history.OpEvent(history.Op{ID: 1, Name: history.OpStartRun, Phase: history.PhaseIndeterminate, Run: "r1", Thread: "t-r1", Pod: "mesh-1", Err: "timeout"}))
	for s := 32.0; s < 200; s += 10 {
		h.at(s).thread("r1", history.StatusCompleted, "") // the thread's state before any run
	}
	r := h.end().report(Params{})
	expect(t, r, NameRunCompletes, Unknown, "indeterminate start")
}
