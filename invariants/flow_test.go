package invariants

import (
	"testing"
	"time"

	"github.com/chaosd/chaosd/history"
)

// flowRuns starts a run every step seconds from from to to, each completed 5 s later.
func flowRuns(h *hist, prefix string, from, to, step float64) {
	for s, i := from, 0; s <= to; s, i = s+step, i+1 {
		run := prefix + string(rune('a'+i%26)) + time.Duration(i).String()
		h.at(s).start(run, "mesh-1", 20, 5*time.Second)
		h.at(s+5).thread(run, history.StatusCompleted, "mesh-1")
	}
}

func TestRunsFlow(t *testing.T) {
	for _, tc := range []struct {
		name     string
		p        Params
		build    func(h *hist)
		end      float64
		st       Status
		mentions []string
	}{{
		name:  "runs flow",
		build: func(h *hist) { flowRuns(h, "r", 1, 200, 10) },
		end:   210,
		st:    Pass,
	}, {
		name:     "runs stop for good",
		build:    func(h *hist) { flowRuns(h, "r", 1, 30, 10) },
		end:      200,
		st:       Fail,
		mentions: []string{"12:01:26.000  no run was started and completed for 1m0s without a fault in effect (since run rc2ns completed at 12:00:26.000, 1m0s in all up to 12:01:26.000)", "a vacuous soak"},
	}, {
		name: "a stall while a fault is in effect does not count",
		build: func(h *hist) {
			flowRuns(h, "r", 1, 40, 10)
			h.at(50).fault("f1", history.FaultIntent, history.KindPartition, "mesh-2", "")
			h.at(50.1).fault("f1", history.FaultInjected, history.KindPartition, "mesh-2", "")
			h.at(150).fault("f1", history.FaultHealed, history.KindPartition, "mesh-2", "")
			flowRuns(h, "s", 160, 200, 10)
		},
		end: 210,
		st:  Pass,
	}, {
		name: "a completion of a run whose start failed does not count",
		build: func(h *hist) {
			flowRuns(h, "r", 1, 1, 10)
			o := history.Op{ID: 99, Name: history.OpStartRun, Run: "x", Thread: "t-x", Pod: "mesh-2", Phase: history.PhaseInvoke}
			h.at(30).add(history.OpEvent(o))
			o.Phase, o.Status = history.PhaseIndeterminate, 500
			h.at(30.1).add(history.OpEvent(o))
			h.at(40).thread("x", history.StatusCompleted, "mesh-2")
		},
		end:      100,
		st:       Fail,
		mentions: []string{"since run ra0s completed at 12:00:06.000"},
	}, {
		name:     "the bound is a parameter",
		p:        Params{FlowBound: 20 * time.Second},
		build:    func(h *hist) { flowRuns(h, "r", 1, 10, 10); flowRuns(h, "s", 50, 60, 10) },
		end:      70,
		st:       Fail,
		mentions: []string{"12:00:26.000  no run was started and completed for 20s"},
	}, {
		name:  "no run at all",
		build: func(h *hist) {},
		end:   100,
		st:    NotExercised,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			h := &hist{}
			allBegin(h.at(0))
			tc.build(h)
			h.at(tc.end).end()
			expect(t, h.report(tc.p), NameRunsFlow, tc.st, tc.mentions...)
		})
	}
}

// runs-flow judges a written and analyzed history as it did live.
func TestRunsFlowLiveEqualsAnalyze(t *testing.T) {
	h := &hist{}
	allBegin(h.at(0))
	flowRuns(h, "r", 1, 30, 10)
	h.at(200).end()
	sameLiveAndAnalyzed(t, h, NameRunsFlow, Fail)
}
