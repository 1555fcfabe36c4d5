package invariants

import (
	"strings"
	"testing"
	"time"

	"github.com/chaosd/chaosd/history"
)

// pod-recovers judges serving, not only readiness: mesh-3 is partitioned 2-10 s and
// says ready at 11 s; the recover deadline is 17 s (boot 5 s + interval 10 s + slack
// 2 s), so its serve window ends at 28 s.
func TestPodRecoversServes(t *testing.T) {
	const err500 = "GET http://127.0.0.1:13003/api/attach/t-r1: 500 stream subscriber gone since the NATS disconnect"
	const err503 = "GET http://127.0.0.1:13003/api/attach/t-r1: 503 stream buffer unavailable: not connected to NATS"
	p := Params{BootTime: 5 * time.Second, Slack: 2 * time.Second}
	for _, tc := range []struct {
		name     string
		build    func(h *hist)
		end      float64
		st       Status
		mentions []string
		note     string
	}{{
		name: "served at once",
		build: func(h *hist) {
			h.op(1, history.OpStartRun, "r1", "mesh-3", 14, 14.1, history.PhaseOK, 0, "")
			h.op(2, history.OpAttach, "r1", "mesh-3", 14.2, 14.3, history.PhaseOK, 0, "")
		},
		end: 40, st: Pass,
	}, {
		name:  "nothing sent there: readiness alone, said in a note",
		build: func(h *hist) { h.op(1, history.OpAttach, "r1", "mesh-2", 14, 14.1, history.PhaseOK, 0, "") },
		end:   40, st: Pass, note: "1 heal judged on readiness alone",
	}, {
		name: "a 503 soon after the heal says nothing (reconnecting to NATS)",
		build: func(h *hist) {
			h.op(1, history.OpAttach, "r1", "mesh-3", 12, 12.1, history.PhaseIndeterminate, 503, err503)
		},
		end: 40, st: Pass, note: "1 heal judged on readiness alone",
	}, {
		name: "a 500 counts, then served",
		build: func(h *hist) {
			h.op(1, history.OpAttach, "r1", "mesh-3", 12, 12.1, history.PhaseIndeterminate, 500, err500)
			h.op(2, history.OpAttach, "r2", "mesh-3", 20, 20.1, history.PhaseOK, 0, "")
		},
		end: 40, st: Pass, note: "mesh-3 served again only at 12:00:20.000, 9s after it said ready",
	}, {
		name: "failures in the window, served only after it: passes, said in a note",
		build: func(h *hist) {
			h.op(1, history.OpAttach, "r1", "mesh-3", 12, 12.1, history.PhaseIndeterminate, 500, err500)
			h.op(2, history.OpAttach, "r2", "mesh-3", 30, 30.1, history.PhaseOK, 0, "")
		},
		end: 40, st: Pass, note: "served again only at 12:00:30.000",
	}, {
		name: "says ready, keeps failing past the window",
		build: func(h *hist) {
			h.op(1, history.OpAttach, "r1", "mesh-3", 12, 12.1, history.PhaseIndeterminate, 500, err500)
			h.op(2, history.OpStartRun, "r2", "mesh-3", 20, 20.1, history.PhaseIndeterminate, 0, "read: connection reset by peer")
			h.at(25).ready("mesh-3", true)
			h.op(3, history.OpAttach, "r3", "mesh-3", 30, 30.1, history.PhaseIndeterminate, 500, err500)
		},
		end: 40, st: Fail,
		mentions: []string{"mesh-3 says ready but does not serve", "ready again at 12:00:11.000", "its readiness says ready at 12:00:25.000",
			"3 failed requests since", "attach answered 500 at 12:00:12.000 (GET http", "start answered no answer at 12:00:20.000 (read: connection reset by peer)"},
	}, {
		name: "a failure sent past the window with none before: fails at once",
		build: func(h *hist) {
			h.op(1, history.OpAttach, "r1", "mesh-3", 29, 29.1, history.PhaseIndeterminate, 500, err500)
		},
		end: 40, st: Fail, mentions: []string{"mesh-3 says ready but does not serve", "1 failed request since"},
	}, {
		name: "its start served, its attaches fail (ready-but-failing): a start is not enough",
		build: func(h *hist) {
			h.op(1, history.OpStartRun, "r1", "mesh-3", 14, 14.1, history.PhaseOK, 0, "")
			h.op(2, history.OpAttach, "r1", "mesh-3", 14.2, 14.3, history.PhaseIndeterminate, 500, err500)
			h.op(3, history.OpAttach, "r2", "mesh-3", 31, 31.1, history.PhaseIndeterminate, 500, err500)
		},
		end: 40, st: Fail, mentions: []string{"none answered 2xx on attach", "2 failed requests since"},
	}, {
		name: "failures only, then the history ends: unknown",
		build: func(h *hist) {
			h.op(1, history.OpAttach, "r1", "mesh-3", 12, 12.1, history.PhaseIndeterminate, 500, err500)
		},
		end: 20, st: Unknown, mentions: []string{"the history ended with 1 failed request to it since and none answered 2xx"},
	}, {
		name: "a 4xx and a request chaosd cut short say nothing",
		build: func(h *hist) {
			h.op(1, history.OpStartRun, "r1", "mesh-3", 12, 12.1, history.PhaseFailed, 409, "409 thread busy")
			h.op(2, history.OpAttach, "r1", "mesh-3", 13, 13.1, history.PhaseIndeterminate, 0, "context canceled")
		},
		end: 40, st: Pass, note: "1 heal judged on readiness alone",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			h := &hist{}
			h.at(0).begin()
			partitionHealed(h)
			h.at(11).ready("mesh-3", true)
			tc.build(h)
			r := h.at(tc.end).end().report(p)
			v := expect(t, r, NamePodRecovers, tc.st, tc.mentions...)
			if tc.note != "" && !strings.Contains(strings.Join(v.Notes, "\n"), tc.note) {
				t.Errorf("notes %q, want one with %q", v.Notes, tc.note)
			}
			if v.Checks != 1 {
				t.Errorf("%d cases, want the one heal:\n%s", v.Checks, dump(v))
			}
		})
	}
}
