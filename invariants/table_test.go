package invariants

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/promise"
)

// allPromises builds every checker (stream-integrity by the exactly-once rule).
var allPromises = []string{promise.SurvivorTakeover, promise.RestartRecovery, promise.SigtermHandover, promise.HeartbeatBucket,
	promise.PrefixReplay, promise.StreamExactlyOnce, promise.ReplyPersistedOnce, promise.RunCompletes}

// allBegin is a begin line that promises everything (30 s boot: recover deadline
// 50 s, restart grace 1m10s for a 10 s run) and declares the user check chk.
func allBegin(h *hist) *hist {
	h.beginPromised(allPromises)
	h.evs[len(h.evs)-1].Meta.UserChecks = []string{"chk"}
	return h
}

// killAt kills pod at s (intent and confirmation), for run.
func (h *hist) killAt(s float64, id, pod, run string) *hist {
	return h.at(s).fault(id, history.FaultIntent, history.KindKill, pod, run).fault(id, history.FaultInjected, history.KindKill, pod, run)
}

// stopAt stops pod gracefully at s (SIGTERM), for run.
func (h *hist) stopAt(s float64, id, pod, run string) *hist {
	h.at(s).fault(id, history.FaultIntent, history.KindStop, pod, run).fault(id, history.FaultInjected, history.KindStop, pod, run)
	for i := len(h.evs) - 2; i < len(h.evs); i++ {
		h.evs[i].Fault.Signal = history.SignalTerm
	}
	return h
}

// pathCase is one way a verdict ends not exercised or unknown.
type pathCase struct {
	name      string
	invariant string
	status    Status
	report    func() Report
}

// undecidedPaths are the not-exercised and unknown paths of every checker.
func undecidedPaths() []pathCase {
	empty := func() Report { h := &hist{}; allBegin(h.at(0)); return h.at(1).end().report(Params{}) }
	started := func(more func(h *hist)) func() Report {
		return func() Report {
			h := &hist{}
			allBegin(h.at(0))
			h.at(1).start("r1", "mesh-1", 20, 10*time.Second)
			more(h)
			return h.end().report(Params{})
		}
	}
	outage := func(d defects) func() Report {
		return func() Report {
			return withEvents(killOwner(d), depEvent(2, history.DepNATS, errors.New("nats: no servers available for connection")),
				depEvent(20, history.DepNATS, nil)).report(Params{})
		}
	}
	heartbeatErr := func(h *hist) {
		h.add(history.ProbeEvent(history.Probe{Kind: history.ProbeHeartbeats, Err: "nats: timeout"}, h.now))
	}
	var out []pathCase
	for _, name := range []string{NameRunCompletes, NamePrefixReplay, NameStreamIntegrity, NameHeartbeatBucket, NameOwnerAlive, NameRestartRecovers,
		NameHandoverCompletes, NameReplyPersisted, NamePodRecovers, NameNoUnexpectedDeath, NameUserPrefix + "chk"} {
		out = append(out, pathCase{"nothing happened", name, NotExercised, empty})
	}
	return append(out,
		// run-completes
		pathCase{"last reading failed at the deadline", NameRunCompletes, Unknown, started(func(h *hist) {
			h.at(2).thread("r1", history.StatusInProgress, "mesh-1").at(90).threadErr("r1", "timeout").at(100).ready("mesh-2", true)
		})},
		pathCase{"indeterminate start", NameRunCompletes, Unknown, func() Report {
			h := &hist{}
			allBegin(h.at(0))
			h.at(1).add(history.OpEvent(history.Op{ID: 1, Name: history.OpStartRun, Run: "r1", Thread: "t-r1", Pod: "mesh-1", Phase: history.PhaseInvoke, Expect: history.Duration(10 * time.Second)}))
			h.add(history.OpEvent(history.Op{ID: 1, Name: history.OpStartRun, Run: "r1", Thread: "t-r1", Pod: "mesh-1", Phase: history.PhaseIndeterminate}))
			return h.at(100).ready("mesh-2", true).end().report(Params{})
		}},
		pathCase{"every watcher cut off", NameRunCompletes, Unknown, started(func(h *hist) {
			h.at(2).fault("p1", history.FaultIntent, history.KindPause, "mesh-2", "").fault("p1", history.FaultInjected, history.KindPause, "mesh-2", "")
			h.at(5).watch("r1", "w1", "mesh-2", false, 0, 1.5, "1-3", false, "cut off")
			h.at(20).thread("r1", history.StatusCompleted, "").at(100).ready("mesh-3", true)
		})},
		pathCase{"never read", NameRunCompletes, Unknown, started(func(h *hist) { h.at(100).ready("mesh-2", true) })},
		pathCase{"history ended before the deadline", NameRunCompletes, Unknown, started(func(h *hist) { h.at(2).thread("r1", history.StatusInProgress, "mesh-1").at(20) })},
		// prefix-replay, stream-integrity: unknown only in an outage
		pathCase{"violation in an outage", NamePrefixReplay, Unknown, outage(defects{deliverNew: true})},
		pathCase{"violation in an outage", NameStreamIntegrity, Unknown, outage(defects{duplicate: true})},
		// heartbeat-bucket
		pathCase{"no ready pod", NameHeartbeatBucket, NotExercised, func() Report {
			h := &hist{}
			allBegin(h.at(0)).heartbeats(true, nil)
			return h.at(1).end().report(Params{})
		}},
		pathCase{"bucket unreadable", NameHeartbeatBucket, Unknown, func() Report {
			h := &hist{}
			allBegin(h.at(0)).ready("mesh-1", true)
			heartbeatErr(h.at(2))
			heartbeatErr(h.at(3))
			return h.at(4).end().report(Params{})
		}},
		// owner-alive
		pathCase{"owner back before the grace, readings failed (strict-claim)", NameOwnerAlive, NotExercised, func() Report {
			return strictClaimKill(func(h *hist) { h.thread("run-1", history.StatusInProgress, "mesh-1") },
				func(h *hist) { h.threadErr("run-1", "timeout") }).report(Params{})
		}},
		pathCase{"reading failed past the grace", NameOwnerAlive, Unknown, started(func(h *hist) {
			h.at(2).thread("r1", history.StatusInProgress, "mesh-1")
			h.killAt(3, "f1", "mesh-1", "r1").at(10).thread("r1", history.StatusInProgress, "mesh-1").at(80).threadErr("r1", "timeout")
		})},
		pathCase{"history ended within the grace", NameOwnerAlive, Unknown, started(func(h *hist) {
			h.at(2).thread("r1", history.StatusInProgress, "mesh-1")
			h.killAt(3, "f1", "mesh-1", "r1").at(10).thread("r1", history.StatusInProgress, "mesh-1").at(30)
		})},
		// restart-recovers
		pathCase{"completed while the owner was down", NameRestartRecovers, NotExercised, started(func(h *hist) {
			h.at(2).thread("r1", history.StatusInProgress, "mesh-1")
			h.killAt(3, "f1", "mesh-1", "r1").at(10).thread("r1", history.StatusCompleted, "").at(11)
		})},
		pathCase{"reading failed at the end of the grace", NameRestartRecovers, Unknown, started(func(h *hist) {
			h.at(2).thread("r1", history.StatusInProgress, "mesh-1")
			h.killAt(3, "f1", "mesh-1", "r1").at(10).fault("f1", history.FaultHealed, history.KindKill, "mesh-1", "r1")
			h.at(20).threadErr("r1", "timeout").at(90).ready("mesh-2", true)
		})},
		pathCase{"history ended within the grace", NameRestartRecovers, Unknown, started(func(h *hist) {
			h.at(2).thread("r1", history.StatusInProgress, "mesh-1")
			h.killAt(3, "f1", "mesh-1", "r1").at(10).fault("f1", history.FaultHealed, history.KindKill, "mesh-1", "r1")
			h.at(20).thread("r1", history.StatusInProgress, "mesh-1").at(30)
		})},
		// handover-completes
		pathCase{"a stop of a pod owning no run", NameHandoverCompletes, NotExercised, func() Report {
			h := &hist{}
			allBegin(h.at(0)).stopAt(2, "s1", "mesh-3", "")
			return h.at(3).end().report(Params{})
		}},
		pathCase{"completed after the comeback, no owner read", NameHandoverCompletes, Unknown, started(func(h *hist) {
			h.at(2).thread("r1", history.StatusInProgress, "mesh-1")
			h.stopAt(11, "s1", "mesh-1", "r1").at(15).fault("s1", history.FaultHealed, history.KindStop, "mesh-1", "r1")
			h.at(20).thread("r1", history.StatusCompleted, "")
		})},
		pathCase{"reading failed at the end of the grace", NameHandoverCompletes, Unknown, started(func(h *hist) {
			h.at(2).thread("r1", history.StatusInProgress, "mesh-1")
			h.stopAt(11, "s1", "mesh-1", "r1").at(30).threadErr("r1", "timeout").at(60).ready("mesh-2", true)
		})},
		pathCase{"history ended within the grace", NameHandoverCompletes, Unknown, started(func(h *hist) {
			h.at(2).thread("r1", history.StatusInProgress, "mesh-1")
			h.stopAt(11, "s1", "mesh-1", "r1").at(20).thread("r1", history.StatusInProgress, "").at(25)
		})},
		// reply-persisted
		pathCase{"reply unreadable", NameReplyPersisted, Unknown, started(func(h *hist) {
			h.at(20).thread("r1", history.StatusCompleted, "").messagesErr("r1", "dial tcp: refused").at(21)
		})},
		// pod-recovers
		pathCase{"heal unconfirmed", NamePodRecovers, Unknown, func() Report {
			h := &hist{}
			allBegin(h.at(0)).killAt(1, "f1", "mesh-1", "").at(5).fault("f1", history.FaultHealUnknown, history.KindKill, "mesh-1", "")
			return h.at(6).end().report(Params{})
		}},
		pathCase{"readiness never read", NamePodRecovers, Unknown, func() Report {
			h := &hist{}
			allBegin(h.at(0)).killAt(1, "f1", "mesh-1", "").at(5).fault("f1", history.FaultHealed, history.KindKill, "mesh-1", "")
			return h.at(100).ready("mesh-2", true).end().report(Params{})
		}},
		pathCase{"history ended before ready", NamePodRecovers, Unknown, func() Report {
			h := &hist{}
			allBegin(h.at(0)).killAt(1, "f1", "mesh-1", "").at(5).fault("f1", history.FaultHealed, history.KindKill, "mesh-1", "")
			return h.at(10).end().report(Params{})
		}},
		// no-unexpected-death
		pathCase{"event stream broke", NameNoUnexpectedDeath, Unknown, func() Report {
			h := &hist{}
			allBegin(h.at(0)).add(history.DockerEvent(history.Docker{Action: history.DockerWatchStart, At: sec(0)}))
			h.at(5).add(history.DockerEvent(history.Docker{Action: history.DockerWatchError, Err: "unexpected EOF", At: sec(5)}))
			return h.at(6).end().report(Params{})
		}},
		// user checks
		pathCase{"check could not run", NameUserPrefix + "chk", Unknown, func() Report {
			h := &hist{}
			allBegin(h.at(0)).at(2).user("chk", false, "", "pq: relation \"runs\" does not exist")
			return h.at(3).end().report(Params{})
		}},
	)
}

// Every not-exercised or unknown verdict says, with numbers, what was missing or what
// would have decided it, and the flag that gets there: in its one-line message (the
// table's last column).
func TestEveryNotExercisedOrUnknownSaysWhatWouldExerciseIt(t *testing.T) {
	for _, pc := range undecidedPaths() {
		t.Run(pc.invariant+"/"+pc.name, func(t *testing.T) {
			v := verdict(t, pc.report(), pc.invariant)
			if v.Status != pc.status {
				t.Fatalf("status %s, want %s\n%s", v.Status, pc.status, dump(v))
			}
			msg := v.Message()
			why, ok := "", false
			switch pc.status {
			case NotExercised:
				why, ok = strings.CutPrefix(msg, "never exercised: ")
				if v.Checks != 0 {
					t.Errorf("not exercised with %d checks", v.Checks)
				}
			case Unknown:
				_, why, ok = strings.Cut(msg, "; to decide it: ")
			}
			if !ok || !strings.ContainsAny(why, "0123456789") || !strings.Contains(why, "--") {
				t.Errorf("the message does not say, with a number and a flag, what would have exercised or decided it:\n%s\n%s", msg, dump(v))
			}
			if v.Checks < v.UnderFault || v.Checks < v.Violations || v.Checks < v.Unknowns || v.Checks < v.Exercised || v.Checks < v.NotPromised {
				t.Errorf("a count exceeds the cases checked\n%s", dump(v))
			}
		})
	}
}

// pauseAndPartition is the history: a pause and then a partition of mesh-1
// (owner of a run each), with the Docker event watch on: no container died, and
// no-unexpected-death judged the events it saw, not more than it checked.
func pauseAndPartition() *hist {
	h := &hist{}
	h.at(0).begin().add(history.DockerEvent(history.Docker{Action: history.DockerWatchStart, At: sec(0)}))
	h.at(1).start("r1", "mesh-1", 20, 10*time.Second).thread("r1", history.StatusInProgress, "mesh-1")
	h.at(2).fault("p1", history.FaultIntent, history.KindPause, "mesh-1", "r1").fault("p1", history.FaultInjected, history.KindPause, "mesh-1", "r1")
	h.docker(history.DockerPause, "mesh-1", true, 0)
	h.at(12).docker(history.DockerUnpause, "mesh-1", true, 0).fault("p1", history.FaultHealed, history.KindPause, "mesh-1", "r1")
	h.at(15).thread("r1", history.StatusCompleted, "")
	h.at(20).start("r2", "mesh-1", 20, 10*time.Second).thread("r2", history.StatusInProgress, "mesh-1")
	h.at(21).fault("n1", history.FaultIntent, history.KindPartition, "mesh-1", "r2").fault("n1", history.FaultInjected, history.KindPartition, "mesh-1", "r2")
	h.at(31).fault("n1", history.FaultHealed, history.KindPartition, "mesh-1", "r2")
	h.at(35).thread("r2", history.StatusCompleted, "")
	return h.at(36).end()
}

func TestPauseAndPartitionNoDeathCountsItsCases(t *testing.T) {
	v := expect(t, pauseAndPartition().report(Params{}), NameNoUnexpectedDeath, Pass)
	if v.Checks != 3 || v.UnderFault != 2 || v.Exercised != 3 {
		t.Fatalf("checks %d, under fault %d, exercised %d; want 3 Docker events (the watch's start, the pause, the unpause), 2 in the pause\n%s",
			v.Checks, v.UnderFault, v.Exercised, dump(v))
	}
}

// tableRows parses WriteTable's rows: name, status and the four counts.
func tableRows(t *testing.T, r Report) map[string][4]int {
	t.Helper()
	var b strings.Builder
	if err := WriteTable(&b, r); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if want := strings.Join(strings.Split(TableHeader, "\t"), " "); strings.Join(strings.Fields(lines[0]), " ") != strings.Join(strings.Fields(want), " ") {
		t.Fatalf("header %q, want %q", lines[0], want)
	}
	rows := map[string][4]int{}
	for _, line := range lines[1 : len(lines)-1] {
		f := strings.Fields(line)
		var n [4]int
		for i := range n {
			x, err := strconv.Atoi(f[2+i])
			if err != nil {
				t.Fatalf("row %q: column %d: %v", line, 3+i, err)
			}
			n[i] = x
		}
		rows[f[0]] = n
	}
	if len(rows) != len(r.Verdicts) {
		t.Fatalf("%d rows for %d verdicts:\n%s", len(rows), len(r.Verdicts), b.String())
	}
	return rows
}

// In every row of the verdict table, UNDER FAULT, VIOLATED and UNKNOWN are parts of
// CHECKED; so are the verdict's other counts, and the live counts agree.
func TestTableCountsArePartsOfChecked(t *testing.T) {
	reports := map[string]Report{"pause and partition": pauseAndPartition().report(Params{})}
	for name, d := range map[string]defects{"clean": {}, "deliver-new": {deliverNew: true}, "no-bucket": {noBucket: true}, "strict-claim": {strictClaim: true},
		"purge": {purge: true}, "duplicate": {duplicate: true}, "postgres down": {pgDown: true}, "all": {true, true, true, true, true, true}} {
		reports["kill-owner "+name] = killOwner(d).report(Params{})
		reports["kill-owner "+name+" in an outage"] = withEvents(killOwner(d), depEvent(2, history.DepNATS, errors.New("down")), depEvent(20, history.DepNATS, nil)).report(Params{})
	}
	for _, pc := range undecidedPaths() {
		reports[pc.invariant+"/"+pc.name] = pc.report()
	}
	for name, r := range reports {
		rows := tableRows(t, r)
		for _, v := range r.Verdicts {
			n := rows[v.Name]
			checked, underFault, violated, unknown := n[0], n[1], n[2], n[3]
			if checked != v.Checks || underFault != v.UnderFault || violated != v.Violations || unknown != v.Unknowns {
				t.Errorf("%s: %s: row %v, verdict %s", name, v.Name, n, dump(v))
			}
			if underFault > checked || violated > checked || unknown > checked || v.Exercised > checked || v.NotPromised > checked ||
				v.Exercised+v.NotPromised > checked {
				t.Errorf("%s: %s: a count exceeds CHECKED %d: under fault %d, violated %d, unknown %d, exercised %d, not promised %d\n%s",
					name, v.Name, checked, underFault, violated, unknown, v.Exercised, v.NotPromised, dump(v))
			}
			if (v.Status == NotExercised) != (checked == 0) {
				t.Errorf("%s: %s: status %s with %d checked", name, v.Name, v.Status, checked)
			}
		}
	}
}

// The live counts (Engine.Counts, the metrics and the soak's progress) are the
// verdicts' counts.
func TestLiveCountsAreTheVerdictCounts(t *testing.T) {
	h := killOwner(defects{deliverNew: true, purge: true})
	g := NewEngine(Params{})
	for i := range h.evs {
		g.Observe(&h.evs[i])
	}
	counts := g.Counts()
	r := g.Finish()
	byName := map[string]Count{}
	for _, c := range counts {
		byName[c.Name] = c
	}
	for _, v := range r.Verdicts {
		c, ok := byName[v.Name]
		if !ok {
			t.Fatalf("no live count for %s", v.Name)
		}
		// Finish judges what is still open (runs in flight, open episodes): counts
		// only grow.
		if c.Checks > v.Checks || c.UnderFault > v.UnderFault || c.Violations > v.Violations || c.Unknowns > v.Unknowns || c.Exercised > v.Exercised {
			t.Errorf("%s: live %+v beyond the verdict\n%s", v.Name, c, dump(v))
		}
	}
}

// The legend names every column of the table and every status.
func TestTableLegendExplainsEveryColumnAndStatus(t *testing.T) {
	for _, col := range strings.Split(TableHeader, "\t")[2:6] {
		if !strings.Contains(TableLegend, "  "+col+" ") {
			t.Errorf("the legend does not explain column %q", col)
		}
	}
	for _, st := range []Status{Pass, Fail, Unknown, NotExercised, NotPromised} {
		if !strings.Contains(TableLegend, strings.ToUpper(string(st))+" ") {
			t.Errorf("the legend does not explain status %s", st)
		}
	}
	for _, k := range kinds {
		if name := strings.TrimSuffix(k.name, "*"); !strings.Contains(TableLegend, name) {
			t.Errorf("the legend does not say what %s counts", k.name)
		}
	}
}
