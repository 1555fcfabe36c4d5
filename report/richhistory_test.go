package report

import (
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/chaosd/chaosd/history"
)

// soakHistory writes a soak-like history of four minutes on three pods: a run
// every 3 s (20 chunks over 10 s, one early and two late watchers each), readiness
// and heartbeats every 2 s, owner readings every second; a kill of mesh-1 (an
// owner) at 40 s whose runs mesh-2 takes over, a NATS outage at 100–112 s, a pause
// of mesh-2 at 130 s, a partition of mesh-3 at 170 s, and a kill of mesh-3 at 200 s
// that leaves its run r98 never finishing. With deliverNew, late watchers of the runs
// started after 60 s miss the buffered prefix (mesh's defect 5): prefix-replay
// fails.
func soakHistory(t testing.TB, deliverNew bool) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "history.jsonl")
	w, err := history.Create(path, history.Options{Buffered: true})
	if err != nil {
		t.Fatal(err)
	}
	g := &soakGen{t0: time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC), pods: []string{"mesh-1", "mesh-2", "mesh-3"}}
	g.generate(deliverNew)
	sort.SliceStable(g.evs, func(i, j int) bool { return g.evs[i].Time.Before(g.evs[j].Time) })
	for _, e := range g.evs {
		if _, err := w.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

type soakGen struct {
	t0   time.Time
	pods []string
	evs  []history.Event
	op   uint64
}

func (g *soakGen) at(s float64) time.Time { return g.t0.Add(time.Duration(s * float64(time.Second))) }

func (g *soakGen) add(s float64, e history.Event) {
	e.Time = g.at(s)
	g.evs = append(g.evs, e)
}

func (g *soakGen) opPair(s float64, o history.Op, done string) {
	g.op++
	o.ID, o.Phase = g.op, history.PhaseInvoke
	g.add(s, history.OpEvent(o))
	o.Phase = done
	g.add(s+0.02, history.OpEvent(o))
}

// fault writes a fault's intent, injection and heal (heal < 0: never healed).
func (g *soakGen) fault(id, kind, pod, target, run string, from, heal float64, peers ...string) {
	f := history.Fault{ID: id, Kind: kind, Pod: pod, Target: target, Run: run, Peers: peers, Container: "c-" + pod}
	f.Phase, f.At = history.FaultIntent, g.at(from)
	g.add(from, history.FaultEvent(f))
	f.Phase, f.At = history.FaultInjected, g.at(from+0.03)
	g.add(from+0.03, history.FaultEvent(f))
	if heal >= 0 {
		f.Phase, f.At = history.FaultHealed, g.at(heal)
		g.add(heal, history.FaultEvent(f))
	}
}

func (g *soakGen) docker(s float64, action, pod, fault string, exit *int) {
	g.add(s, history.DockerEvent(history.Docker{Action: action, Pod: pod, Container: "c-" + pod, ByChaosd: true, Fault: fault, At: g.at(s), ExitCode: exit}))
}

func (g *soakGen) generate(deliverNew bool) {
	const end = 240.0
	ttl := history.Duration(6 * time.Second)
	g.add(0, history.MetaEvent(history.Meta{Phase: history.MetaBegin, Pods: g.pods, Chaosd: "dev", Target: "testbed", Note: "synthetic kill-owner soak",
		HeartbeatTTL: ttl, HeartbeatInterval: history.Duration(2 * time.Second), BootTime: history.Duration(10 * time.Second)}))
	exit := 137
	// down[pod] are the windows in which a pod serves nothing.
	type win struct{ from, to float64 }
	down := map[string][]win{
		"mesh-1": {{40, 52}},
		"mesh-2": {{130, 138}},
		"mesh-3": {{200, 212}},
	}
	isDown := func(pod string, s float64) bool {
		for _, w := range down[pod] {
			if s >= w.from && s < w.to {
				return true
			}
		}
		return false
	}
	g.fault("f1", history.KindKill, "mesh-1", "owner", "r12", 40, 46)
	g.docker(40.01, history.DockerDie, "mesh-1", "f1", &exit)
	g.docker(46, history.DockerStart, "mesh-1", "f1", nil)
	g.fault("f2", history.KindPause, "mesh-2", "random", "", 130, 138)
	g.fault("f3", history.KindPartition, "mesh-3", "random", "", 170, 178, history.PeerNATS)
	g.fault("f4", history.KindKill, "mesh-3", "owner", "r98", 200, 206)
	g.docker(200.01, history.DockerDie, "mesh-3", "f4", &exit)
	g.docker(206, history.DockerStart, "mesh-3", "f4", nil)
	g.add(1, history.ProbeEvent(history.DependencyProbe(history.DepNATS, nil), g.at(1)))
	g.add(100, history.ProbeEvent(history.DependencyProbe(history.DepNATS, fmt.Errorf("nats: no servers available for connection")), g.at(100)))
	g.add(112, history.ProbeEvent(history.DependencyProbe(history.DepNATS, nil), g.at(112)))
	for s := 0.0; s < end; s += 2 {
		hb := &history.Heartbeats{Bucket: true}
		for _, p := range g.pods {
			r := &history.Ready{Ready: true, Status: "ok", Postgres: "ok", NATS: "ok"}
			if isDown(p, s) {
				r = &history.Ready{Err: "connection refused"}
			} else {
				hb.Keys = append(hb.Keys, history.HeartbeatKey{Pod: p, Age: history.Duration(time.Second)})
			}
			g.add(s, history.ProbeEvent(history.Probe{Kind: history.ProbeReady, Pod: p, Ready: r}, g.at(s)))
		}
		g.add(s+0.01, history.ProbeEvent(history.Probe{Kind: history.ProbeHeartbeats, Heartbeats: hb}, g.at(s+0.01)))
	}
	n := 0
	for start := 5.0; start <= 215; start += 2 {
		n++
		g.run(n, start, end, deliverNew && start > 60, isDown)
	}
	g.add(end, history.MetaEvent(history.Meta{Phase: history.MetaEnd}))
}

// run writes run n: started at start on its owner; a kill of its owner hands it to
// the next pod once the owner's heartbeat expired (6 s later) and it starts again
// there; a pause delays it; the run hit by the last kill never finishes.
func (g *soakGen) run(n int, start, end float64, deliverNew bool, isDown func(string, float64) bool) {
	id := fmt.Sprintf("r%d", n)
	thread := "thrd_" + id
	owner := g.pods[n%3]
	const chunks, dur = 20, 10.0
	g.opPair(start-0.01, history.Op{Name: history.OpAttach, Run: id, Thread: thread, Pod: g.pods[(n+1)%3], Watcher: id + "/w1"}, history.PhaseOK)
	g.opPair(start, history.Op{Name: history.OpStartRun, Run: id, Thread: thread, Pod: owner, Hint: "slow:20x500", Chunks: chunks,
		Expect: history.Duration(dur * time.Second)}, history.PhaseOK)
	// Walk the run second by second: progress stops while its owner is down; after
	// 6 s down, the next pod takes it over and starts the reply again.
	cur, progress, s := owner, 0.0, start
	takeover := -1.0
	never := id == "r98"
	finish := -1.0
	buffered := 0 // chunks in the buffer: it keeps the first attempt's across a takeover
	for ; s < end; s += 0.5 {
		if isDown(cur, s) {
			if takeover < 0 {
				takeover = s
			}
			if s-takeover >= 6 && !never {
				cur = g.pods[(indexOf(g.pods, cur)+1)%3]
				progress = 0
				takeover = -1
			}
		} else {
			takeover = -1
			if !never || s < 200 { // the last kill's run stops for good
				progress += 0.5
			}
		}
		if progress >= dur {
			finish = s + 0.5
			break
		}
		if int(s*2)%2 == 0 {
			g.add(s, history.ProbeEvent(history.Probe{Kind: history.ProbeThread, Run: id, Thread: thread,
				ThreadState: &history.ThreadState{Status: history.StatusInProgress, Owner: cur}}, g.at(s)))
			buffered = max(buffered, min(chunks, int(progress*chunks/dur)))
			k := buffered
			g.add(s+0.01, history.ProbeEvent(history.Probe{Kind: history.ProbeBuffer, Run: id, Thread: thread,
				Buffer: &history.Buffer{Messages: uint64(k + 2), FirstSeq: 1, LastSeq: uint64(k + 2), TextDeltas: k}}, g.at(s+0.01)))
		}
	}
	late := start + 3.1
	k := 6
	for j := 2; j <= 3; j++ {
		g.opPair(late, history.Op{Name: history.OpAttach, Run: id, Thread: thread, Pod: g.pods[(n+j)%3], Watcher: fmt.Sprintf("%s/w%d", id, j), Late: true, K: k}, history.PhaseOK)
	}
	full := history.Order{{From: 1, To: chunks}}
	for j := 1; j <= 3; j++ {
		pod := g.pods[(n+j)%3]
		wt := history.Watch{Watcher: fmt.Sprintf("%s/w%d", id, j), Run: id, Thread: thread, Pod: pod, OpenedAt: g.at(start), Order: full}
		if j > 1 {
			wt.Late, wt.K, wt.OpenedAt = true, k, g.at(late)
			if deliverNew {
				wt.Order = history.Order{{From: k + 1, To: chunks}}
			}
		}
		reportAt := finish + 0.2
		cut := false
		for s := start; finish > 0 && s < finish; s += 0.5 {
			if isDown(pod, s) && s >= wt.OpenedAt.Sub(g.t0).Seconds() {
				cut, reportAt = true, s
				break
			}
		}
		switch {
		case finish < 0 && !cut:
			reportAt = end - 1
			wt.Err = "gave up: no finish within the run's deadline"
			wt.Order = history.Order{{From: 1, To: 9}}
		case cut:
			wt.Err = "stream cut: unexpected EOF"
			wt.Order = history.Order{{From: 1, To: 7}}
			if j > 1 && deliverNew {
				wt.Order = history.Order{{From: k + 1, To: 9}}
			}
		default:
			wt.Finished = true
		}
		if finish < 0 && cut {
			continue // reported below with the others that gave up
		}
		g.add(reportAt+float64(j)*0.01, history.WatchEvent(wt))
	}
	if finish > 0 {
		g.add(finish+0.5, history.ProbeEvent(history.Probe{Kind: history.ProbeThread, Run: id, Thread: thread,
			ThreadState: &history.ThreadState{Status: history.StatusCompleted}}, g.at(finish+0.5)))
		g.add(finish+0.6, history.ProbeEvent(history.MessagesProbe(id, thread, []string{"reply"}, nil), g.at(finish+0.6)))
	}
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return 0
}
