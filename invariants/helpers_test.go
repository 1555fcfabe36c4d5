package invariants

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/probes"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// hist builds a history by hand on a clock in seconds from t0.
type hist struct {
	evs []history.Event
	now time.Time
}

func sec(s float64) time.Time { return t0.Add(time.Duration(math.Round(s*1000)) * time.Millisecond) }

func (h *hist) at(s float64) *hist { h.now = sec(s); return h }

func (h *hist) add(e history.Event) *hist {
	if e.Time.IsZero() {
		e.Time = h.now
	}
	e.V, e.Seq = history.SchemaVersion, uint64(len(h.evs)+1)
	h.evs = append(h.evs, e)
	return h
}

func (h *hist) begin(userChecks ...string) *hist {
	return h.add(history.MetaEvent(history.Meta{Phase: history.MetaBegin, Pods: []string{"mesh-1", "mesh-2", "mesh-3"},
		HeartbeatTTL: history.Duration(45 * time.Second), HeartbeatInterval: history.Duration(10 * time.Second),
		DetectInterval: history.Duration(10 * time.Second), UserChecks: userChecks}))
}

func (h *hist) end() *hist { return h.add(history.MetaEvent(history.Meta{Phase: history.MetaEnd})) }

func (h *hist) start(run, pod string, chunks int, expect time.Duration) *hist {
	o := history.Op{ID: uint64(len(h.evs)), Name: history.OpStartRun, Run: run, Thread: "t-" + run, Pod: pod, Chunks: chunks, Expect: history.Duration(expect)}
	o.Phase = history.PhaseInvoke
	h.add(history.OpEvent(o))
	o.Phase = history.PhaseOK
	return h.add(history.OpEvent(o))
}

// settle records a settle window on the start op just written (its invoke and its
// completion, the last two events), as the workload does.
func (h *hist) settle(d time.Duration) *hist {
	s := history.Duration(d)
	for _, e := range h.evs[len(h.evs)-2:] {
		if e.Op == nil || e.Op.Name != history.OpStartRun {
			panic("settle: the last two events are not a start op")
		}
		e.Op.Settle = &s
	}
	return h
}

func (h *hist) thread(run, status, owner string) *hist {
	return h.add(history.ProbeEvent(history.Probe{Kind: history.ProbeThread, Run: run, Thread: "t-" + run,
		ThreadState: &history.ThreadState{Status: status, Owner: owner}}, h.now))
}

func (h *hist) threadErr(run, err string) *hist {
	return h.add(history.ProbeEvent(history.Probe{Kind: history.ProbeThread, Run: run, Thread: "t-" + run, Err: err}, h.now))
}

func (h *hist) buffer(run string, msgs, first, last uint64, deltas int, done bool) *hist {
	return h.add(history.ProbeEvent(history.Probe{Kind: history.ProbeBuffer, Run: run, Thread: "t-" + run,
		Buffer: &history.Buffer{Messages: msgs, FirstSeq: first, LastSeq: last, TextDeltas: deltas, Done: done}}, h.now))
}

func (h *hist) watch(run, id, pod string, late bool, k int, opened float64, order string, finished bool, err string) *hist {
	o, perr := history.ParseOrder(order)
	if perr != nil {
		panic(perr)
	}
	return h.add(history.WatchEvent(history.Watch{Watcher: id, Run: run, Thread: "t-" + run, Pod: pod, Late: late, K: k,
		OpenedAt: sec(opened), Order: o, Finished: finished, Err: err, Chunks: cleanGrammar(run, o.Len(), nil, finished)}))
}

// cleanGrammar is the chunk grammar of a clean stream of n text deltas (one start
// with the message id msg-<run>, one step, part txt-0), started again (a new start,
// step and part) before the deltas at each position in restarts, closed with
// text-end, finish-step and finish when finished.
func cleanGrammar(run string, n int, restarts []int, finished bool) string {
	var g probes.Grammar
	begin := func() {
		g.Add(probes.Chunk{Type: probes.ChunkStart, MessageID: "msg-" + run})
		g.Add(probes.Chunk{Type: probes.ChunkStartStep})
		if n > 0 {
			g.Add(probes.Chunk{Type: probes.ChunkTextStart, ID: "txt-0"})
		}
	}
	begin()
	for i := range n {
		if i > 0 && slices.Contains(restarts, i) {
			begin()
		}
		g.Add(probes.Chunk{Type: probes.ChunkTextDelta, ID: "txt-0"})
	}
	if finished {
		if n > 0 {
			g.Add(probes.Chunk{Type: probes.ChunkTextEnd, ID: "txt-0"})
		}
		g.Add(probes.Chunk{Type: probes.ChunkFinishStep})
		g.Add(probes.Chunk{Type: probes.ChunkFinish})
	}
	return g.String()
}

func (h *hist) fault(id, phase, kind, pod, run string) *hist {
	return h.add(history.FaultEvent(history.Fault{ID: id, Phase: phase, Kind: kind, Pod: pod, Run: run, Target: "owner", At: h.now}))
}

func (h *hist) docker(action, pod string, byChaosd bool, exit int) *hist {
	d := history.Docker{Action: action, Pod: pod, Container: "c0ffee" + pod, ByChaosd: byChaosd, At: h.now}
	if action == history.DockerDie {
		d.ExitCode = &exit
	}
	return h.add(history.DockerEvent(d))
}

func (h *hist) ready(pod string, ok bool) *hist {
	r := &history.Ready{Ready: ok, Status: "ok"}
	if !ok {
		r.Status, r.Err = "", "connection refused"
	}
	return h.add(history.ProbeEvent(history.Probe{Kind: history.ProbeReady, Pod: pod, Ready: r}, h.now))
}

// heartbeats records a reading; ages maps pod -> key age in seconds; nil ages with
// bucket false is a missing bucket.
func (h *hist) heartbeats(bucket bool, ages map[string]float64) *hist {
	hb := &history.Heartbeats{Bucket: bucket}
	for _, pod := range []string{"mesh-1", "mesh-2", "mesh-3"} {
		if a, ok := ages[pod]; ok {
			hb.Keys = append(hb.Keys, history.HeartbeatKey{Pod: pod, Age: history.Duration(time.Duration(a * float64(time.Second)))})
		}
	}
	return h.add(history.ProbeEvent(history.Probe{Kind: history.ProbeHeartbeats, Heartbeats: hb}, h.now))
}

func (h *hist) user(check string, ok bool, detail, err string) *hist {
	return h.add(history.ProbeEvent(history.Probe{Kind: history.ProbeUser, Err: err,
		User: &history.UserCheck{Check: check, Kind: history.UserSQL, OK: ok, Detail: detail}}, h.now))
}

// report runs the engine over the history.
func (h *hist) report(p Params) Report {
	g := NewEngine(p)
	for i := range h.evs {
		g.Observe(&h.evs[i])
	}
	return g.Finish()
}

func verdict(t *testing.T, r Report, name string) Verdict {
	t.Helper()
	for _, v := range r.Verdicts {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("no verdict %q in %v", name, names(r))
	return Verdict{}
}

func names(r Report) []string {
	var out []string
	for _, v := range r.Verdicts {
		out = append(out, v.Name+"="+string(v.Status))
	}
	return out
}

// expect asserts a verdict's status and that its findings mention every string.
func expect(t *testing.T, r Report, name string, st Status, mentions ...string) Verdict {
	t.Helper()
	v := verdict(t, r, name)
	if v.Status != st {
		t.Fatalf("%s: status %s, want %s\n%s", name, v.Status, st, dump(v))
	}
	text := dump(v)
	for _, m := range mentions {
		if !strings.Contains(text, m) {
			t.Errorf("%s: findings do not mention %q:\n%s", name, m, text)
		}
	}
	return v
}

func dump(v Verdict) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s checks=%d exercised=%d underFault=%d\n", v.Name, v.Status, v.Checks, v.Exercised, v.UnderFault)
	for _, f := range append(append([]Finding{}, v.Evidence...), v.Unobserved...) {
		b.WriteString(f.String())
		b.WriteByte('\n')
	}
	for _, n := range v.Notes {
		b.WriteString("note: " + n + "\n")
	}
	return b.String()
}

// builtKinds counts the kinds of checkers built for p's promises (the user checks
// count as one).
func builtKinds(p Params) int {
	n := 0
	for _, k := range kinds {
		if k.enabled(p) {
			n++
		}
	}
	return n
}

// beginPromised is begin with the mesh's promises on the begin line, and a 30 s boot.
func (h *hist) beginPromised(promises []string) *hist {
	return h.add(history.MetaEvent(history.Meta{Phase: history.MetaBegin, Pods: []string{"mesh-1", "mesh-2", "mesh-3"},
		HeartbeatTTL: history.Duration(45 * time.Second), HeartbeatInterval: history.Duration(10 * time.Second),
		DetectInterval: history.Duration(10 * time.Second), BootTime: history.Duration(30 * time.Second), Promises: promises}))
}

// watchRestarts is watch with the positions where the reply restarted.
func (h *hist) watchRestarts(run, id, pod string, late bool, k int, opened float64, order string, restarts []int, finished bool) *hist {
	h.watch(run, id, pod, late, k, opened, order, finished, "")
	h.evs[len(h.evs)-1].Watch.Restarts = restarts
	h.evs[len(h.evs)-1].Watch.Chunks = cleanGrammar(run, h.evs[len(h.evs)-1].Watch.Order.Len(), restarts, finished)
	return h
}

// messages records a reading of the run's persisted replies.
func (h *hist) messages(run string, replies ...string) *hist {
	return h.add(history.ProbeEvent(history.MessagesProbe(run, "t-"+run, replies, nil), h.now))
}

func (h *hist) messagesErr(run, err string) *hist {
	return h.add(history.ProbeEvent(history.Probe{Kind: history.ProbeMessages, Run: run, Thread: "t-" + run, Err: err}, h.now))
}

// faultSig records a fault step with a signal (stop, rollout) and no pod for a rollout.
func (h *hist) faultSig(id, phase, kind, pod, signal string) *hist {
	return h.add(history.FaultEvent(history.Fault{ID: id, Phase: phase, Kind: kind, Pod: pod, Signal: signal, Target: "random", At: h.now}))
}

// dockerOf is docker with the fault it belongs to.
func (h *hist) dockerOf(action, pod, fault string, exit int) *hist {
	h.docker(action, pod, true, exit)
	h.evs[len(h.evs)-1].Docker.Fault = fault
	return h
}
