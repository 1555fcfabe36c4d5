package invariants

import (
	"bytes"
	"testing"

	"github.com/chaosd/chaosd/history"
)

// op records one operation's invoke at s and its completion at done (phase, status, err).
func (h *hist) op(id uint64, name, run, pod string, s, done float64, phase string, status int, err string) *hist {
	o := history.Op{ID: id, Name: name, Run: run, Thread: "t-" + run, Pod: pod, Phase: history.PhaseInvoke}
	h.at(s).add(history.OpEvent(o))
	o.Phase, o.Status, o.Err = phase, status, err
	return h.at(done).add(history.OpEvent(o))
}

// degraded records pod ready with NATS down (mesh's readiness: 200, status degraded).
func (h *hist) degraded(pod string) *hist {
	r := &history.Ready{Ready: true, Status: "degraded", Postgres: "up", NATS: "down"}
	return h.add(history.ProbeEvent(history.Probe{Kind: history.ProbeReady, Pod: pod, Ready: r}, h.now))
}

// readyAll records every pod ready at s.
func (h *hist) readyAll(s float64) *hist {
	h.at(s)
	for _, p := range []string{"mesh-1", "mesh-2", "mesh-3"} {
		h.ready(p, true)
	}
	return h
}

// partitionHealed: every pod ready with its key at 1 s, mesh-3 partitioned from 2 s,
// healed at 10 s.
func partitionHealed(h *hist) {
	h.readyAll(1)
	h.at(1.2).heartbeats(true, map[string]float64{"mesh-1": 0.1, "mesh-2": 0.1, "mesh-3": 0.1})
	h.at(2).fault("f1", history.FaultIntent, history.KindPartition, "mesh-3", "r0")
	h.at(2.1).fault("f1", history.FaultInjected, history.KindPartition, "mesh-3", "r0")
	h.at(10).fault("f1", history.FaultHealed, history.KindPartition, "mesh-3", "r0")
}

func TestRequestsAnswered(t *testing.T) {
	const err500 = "GET http://127.0.0.1:13002/api/attach/t-r1: 500 stream subscriber gone since the NATS disconnect"
	const err503 = "GET http://127.0.0.1:13003/api/attach/t-r1: 503 stream buffer unavailable: not connected to NATS"
	for _, tc := range []struct {
		name     string
		build    func(h *hist)
		st       Status
		mentions []string
	}{{
		name: "clean",
		build: func(h *hist) {
			h.readyAll(1)
			h.op(1, history.OpAttach, "r1", "mesh-2", 2, 2.1, history.PhaseOK, 0, "")
			h.op(2, history.OpStartRun, "r1", "mesh-1", 2.2, 2.3, history.PhaseOK, 0, "")
		},
		st: Pass,
	}, {
		name: "500 from a ready pod outside faults",
		build: func(h *hist) {
			h.readyAll(1)
			h.op(1, history.OpAttach, "r1", "mesh-2", 2, 2.1, history.PhaseIndeterminate, 500, err500)
			h.op(2, history.OpAttach, "r2", "mesh-2", 3, 3.1, history.PhaseIndeterminate, 500, err500)
		},
		st:       Fail,
		mentions: []string{"mesh-2 answered attach r1 with 500", "stream subscriber gone", "pod mesh-2 says ready but answered 500 to 2 attaches since 12:00:02.100"},
	}, {
		name: "500 during a fault window",
		build: func(h *hist) {
			h.readyAll(1)
			h.at(1.5).fault("f1", history.FaultIntent, history.KindPartition, "mesh-1", "r0")
			h.op(1, history.OpAttach, "r1", "mesh-2", 2, 2.1, history.PhaseIndeterminate, 500, err500)
			h.at(20).fault("f1", history.FaultHealed, history.KindPartition, "mesh-1", "r0")
		},
		st: NotExercised,
	}, {
		name: "failure just after a heal, within the grace",
		build: func(h *hist) {
			h.readyAll(1)
			h.at(1.5).fault("f1", history.FaultIntent, history.KindPartition, "mesh-2", "r0")
			h.at(1.6).fault("f1", history.FaultInjected, history.KindPartition, "mesh-2", "r0")
			h.at(10).fault("f1", history.FaultHealed, history.KindPartition, "mesh-2", "r0")
			h.readyAll(12)
			h.op(1, history.OpAttach, "r1", "mesh-2", 13, 13.1, history.PhaseIndeterminate, 500, err500)
			h.op(2, history.OpAttach, "r2", "mesh-3", 21, 21.1, history.PhaseOK, 0, "")
		},
		st: Pass,
	}, {
		name: "failure past the grace after a heal",
		build: func(h *hist) {
			h.readyAll(1)
			h.at(1.5).fault("f1", history.FaultIntent, history.KindPartition, "mesh-2", "r0")
			h.at(1.6).fault("f1", history.FaultInjected, history.KindPartition, "mesh-2", "r0")
			h.at(10).fault("f1", history.FaultHealed, history.KindPartition, "mesh-2", "r0")
			h.readyAll(25)
			h.op(1, history.OpAttach, "r1", "mesh-2", 26, 26.1, history.PhaseIndeterminate, 500, err500)
		},
		st:       Fail,
		mentions: []string{"mesh-2 answered attach r1 with 500 at 12:00:26.100"},
	}, {
		name: "a start that failed on a ready pod",
		build: func(h *hist) {
			h.readyAll(1)
			h.op(1, history.OpAttach, "r1", "mesh-2", 2, 2.1, history.PhaseOK, 0, "")
			h.op(2, history.OpStartRun, "r1", "mesh-1", 2.2, 17.2, history.PhaseIndeterminate, 0, "POST http://127.0.0.1:13001/api/threads/t-r1/messages: context deadline exceeded")
		},
		st:       Fail,
		mentions: []string{"mesh-1 answered start r1 with no answer", "context deadline exceeded"},
	}, {
		name: "a reset from a ready pod",
		build: func(h *hist) {
			h.readyAll(1)
			h.op(1, history.OpAttach, "r1", "mesh-3", 2, 2.1, history.PhaseIndeterminate, 0, "read: connection reset by peer")
		},
		st:       Fail,
		mentions: []string{"mesh-3 answered attach r1 with no answer", "connection reset by peer"},
	}, {
		name: "not judged: pod not ready, cut short by chaosd, refused",
		build: func(h *hist) {
			h.at(1).ready("mesh-1", false)
			h.at(1).ready("mesh-2", true)
			h.op(1, history.OpAttach, "r1", "mesh-1", 2, 2.1, history.PhaseIndeterminate, 0, "connection refused")
			h.op(2, history.OpAttach, "r1", "mesh-2", 2, 5, history.PhaseIndeterminate, 0, "context canceled")
			h.op(3, history.OpStartRun, "r1", "mesh-2", 6, 6.1, history.PhaseFailed, 404, "not found")
			h.op(4, history.OpStartRun, "r2", "mesh-2", 7, 7.1, history.PhaseOK, 0, "")
		},
		st: Pass,
	}, {
		name: "503 from a pod that said it was degraded (NATS down) just before",
		build: func(h *hist) {
			h.readyAll(1)
			h.at(1.5).degraded("mesh-3")
			h.op(1, history.OpAttach, "r1", "mesh-3", 2, 2.1, history.PhaseIndeterminate, 503, err503)
			h.at(2.5).ready("mesh-3", true)
			h.op(2, history.OpAttach, "r2", "mesh-3", 3, 3.1, history.PhaseOK, 0, "")
		},
		st:       Pass,
		mentions: []string{"1 from pods that said they were degraded (NATS down)"},
	}, {
		name: "503 from a pod that said it was degraded at its next reading",
		build: func(h *hist) {
			h.readyAll(1)
			h.op(1, history.OpAttach, "r1", "mesh-3", 2, 2.1, history.PhaseIndeterminate, 503, err503)
			h.at(2.5).degraded("mesh-3")
			h.op(2, history.OpAttach, "r2", "mesh-2", 3, 3.1, history.PhaseOK, 0, "")
		},
		st: Pass,
	}, {
		name: "503 from a pod whose readings before and after said ok",
		build: func(h *hist) {
			h.readyAll(1)
			h.op(1, history.OpAttach, "r1", "mesh-3", 2, 2.1, history.PhaseIndeterminate, 503, err503)
			h.at(2.5).ready("mesh-3", true)
			h.at(3).degraded("mesh-3")
		},
		st:       Fail,
		mentions: []string{"mesh-3 answered attach r1 with 503 at 12:00:02.100", "pod mesh-3 says ready but answered 503 to 1 attach"},
	}, {
		name: "a failure with no reading after it is judged at the end",
		build: func(h *hist) {
			h.readyAll(1)
			h.op(1, history.OpAttach, "r1", "mesh-3", 2, 2.1, history.PhaseIndeterminate, 500, err500)
		},
		st:       Fail,
		mentions: []string{"mesh-3 answered attach r1 with 500"},
	}, {
		// The clean soak of CI: mesh-3 partitioned 8 s, healed; its NATS client finds
		// its connection dead seconds later and answers 503 while it reconnects. Its
		// heartbeat key has not been written since the heal: not judged.
		name: "503 after a heal, before the pod's heartbeat key is back",
		build: func(h *hist) {
			partitionHealed(h)
			h.readyAll(16)
			h.at(16.1).heartbeats(true, map[string]float64{"mesh-1": 0.5, "mesh-2": 0.5})
			h.op(1, history.OpAttach, "r1", "mesh-3", 16.5, 16.6, history.PhaseIndeterminate, 503, err503)
			h.readyAll(17)
			h.at(17.1).heartbeats(true, map[string]float64{"mesh-1": 0.5, "mesh-2": 0.5, "mesh-3": 0.2})
			h.op(2, history.OpAttach, "r2", "mesh-3", 18, 18.1, history.PhaseOK, 0, "")
		},
		st:       Pass,
		mentions: []string{"1 answered 503 by pods not yet back on NATS after a fault's heal"},
	}, {
		// The clean soak of CI again (2026-12-06): mesh-2 answered 503 5.2 s after its
		// partition healed, its key already written since (over the old connection,
		// before its client found it dead): within the TTL + slack, not judged.
		name: "503 after a heal, the key back, within the TTL + slack",
		build: func(h *hist) {
			partitionHealed(h)
			h.readyAll(11)
			h.at(11.1).heartbeats(true, map[string]float64{"mesh-1": 0.5, "mesh-2": 0.5, "mesh-3": 0.5})
			h.op(1, history.OpAttach, "r1", "mesh-3", 15.2, 15.3, history.PhaseIndeterminate, 503, err503)
			h.readyAll(16)
		},
		st:       NotExercised,
		mentions: []string{"1 answered 503 by pods not yet back on NATS after a fault's heal"},
	}, {
		name: "503 past the TTL + slack after a heal, the key back: judged",
		build: func(h *hist) {
			partitionHealed(h)
			h.readyAll(80)
			h.at(80.1).heartbeats(true, map[string]float64{"mesh-1": 0.5, "mesh-2": 0.5, "mesh-3": 0.5})
			h.op(1, history.OpAttach, "r1", "mesh-3", 81, 81.1, history.PhaseIndeterminate, 503, err503)
			h.readyAll(82)
		},
		st:       Fail,
		mentions: []string{"mesh-3 answered attach r1 with 503 at 12:01:21.100"},
	}, {
		name: "500 after a heal, before the pod's heartbeat key is back: judged (only a 503 says unavailable)",
		build: func(h *hist) {
			partitionHealed(h)
			h.readyAll(16)
			h.at(16.1).heartbeats(true, map[string]float64{"mesh-1": 0.5, "mesh-2": 0.5})
			h.op(1, history.OpAttach, "r1", "mesh-3", 16.5, 16.6, history.PhaseIndeterminate, 500, err500)
			h.readyAll(17)
		},
		st:       Fail,
		mentions: []string{"mesh-3 answered attach r1 with 500 at 12:00:16.600"},
	}, {
		name: "500 after a heal, once the pod's heartbeat key is back",
		build: func(h *hist) {
			partitionHealed(h)
			h.readyAll(16)
			h.at(16.1).heartbeats(true, map[string]float64{"mesh-1": 0.5, "mesh-2": 0.5, "mesh-3": 0.5})
			h.op(1, history.OpAttach, "r1", "mesh-3", 16.5, 16.6, history.PhaseIndeterminate, 500, err500)
			h.readyAll(17)
		},
		st:       Fail,
		mentions: []string{"mesh-3 answered attach r1 with 500 at 12:00:16.600"},
	}, {
		name: "a killed pod: its readiness went stale",
		build: func(h *hist) {
			h.readyAll(1)
			h.killAt(2, "f1", "mesh-1", "r0")
			h.op(1, history.OpAttach, "r1", "mesh-1", 2.5, 2.6, history.PhaseIndeterminate, 0, "connection refused")
		},
		st: NotExercised,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			h := &hist{}
			allBegin(h.at(0))
			tc.build(h)
			h.at(40).end()
			expect(t, h.report(Params{}), NameRequestsAnswered, tc.st, tc.mentions...)
		})
	}
}

// A history checked live and the same history written and analyzed give one verdict.
func TestRequestsAnsweredLiveEqualsAnalyze(t *testing.T) {
	h := &hist{}
	allBegin(h.at(0))
	h.readyAll(1)
	h.op(1, history.OpAttach, "r1", "mesh-2", 2, 2.1, history.PhaseOK, 0, "")
	h.op(2, history.OpAttach, "r2", "mesh-2", 3, 3.1, history.PhaseIndeterminate, 500, "GET /api/attach/t-r2: 500 boom")
	h.at(40).end()
	sameLiveAndAnalyzed(t, h, NameRequestsAnswered, Fail)
}

// sameLiveAndAnalyzed checks h live (Live over a history writer), then analyzes what
// was written: the named verdict must have status st both ways, with the same findings.
func sameLiveAndAnalyzed(t *testing.T, h *hist, name string, st Status) {
	t.Helper()
	var buf bytes.Buffer
	w := history.NewWriter(&buf, history.Options{Buffered: true})
	live := NewLive(w, Params{})
	for _, e := range h.evs {
		e.Seq = 0
		if _, err := live.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	got := verdict(t, live.Finish(), name)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := Analyze(history.NewReader(&buf), Params{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := verdict(t, rep, name)
	same := got.Status == st && want.Status == st && len(want.Evidence) == len(got.Evidence) && got.Checks == want.Checks
	for i := range got.Evidence {
		same = same && want.Evidence[i].Message == got.Evidence[i].Message && want.Evidence[i].At.Equal(got.Evidence[i].At)
	}
	if !same {
		t.Fatalf("want %s both ways; live:\n%s\nanalyze:\n%s", st, dump(got), dump(want))
	}
}
