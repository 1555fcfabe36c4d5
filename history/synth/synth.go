// Package synth generates synthetic histories: a steady stream of runs on three
// pods, each watched early and late, sampled every second, with a pause fault every
// so often. It feeds the analyze benchmark and tests that need a long history that
// passes (or, with a defect switched on, fails) every invariant.
package synth

import (
	"fmt"
	"slices"
	"time"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/probes"
)

// Options shape the history.
type Options struct {
	Events     int           // stop once about this many events are written (0: use Runs)
	Runs       int           // runs to start (default 100 when Events is 0)
	Start      time.Time     // default 2026-05-01T00:00:00Z
	Every      time.Duration // between run starts; default 200 ms
	Chunks     int           // per run; default 20 (streamed over 10 s)
	FaultEvery time.Duration // a 5 s pause of one pod this often; default 60 s; negative: none
	DeliverNew bool          // mesh's defect 5: late watchers miss the buffered prefix
}

// Pods are the synthetic cluster's pods.
var Pods = []string{"mesh-1", "mesh-2", "mesh-3"}

const (
	runLen    = 12 // seconds a run lives in the history
	pauseLen  = 5  // seconds a pause lasts
	lateAfter = 3  // seconds after its start a run gets its late watchers
	// settle is each run's settle window: decided at 11 s, its buffer (purged up to
	// its end sentinel) is read again at 11.5 s.
	settle = 500 * time.Millisecond
)

type gen struct {
	o    Options
	w    *history.Writer
	slot []history.Event
	runs int // runs started
	n    int // events written
	op   uint64
}

// Generate writes the history to w and returns the events written.
func Generate(w *history.Writer, o Options) (int, error) {
	g := &gen{o: defaults(o), w: w}
	if err := g.write(history.MetaEvent(history.Meta{Phase: history.MetaBegin, Pods: Pods, Note: "synthetic",
		HeartbeatTTL: history.Duration(45 * time.Second), HeartbeatInterval: history.Duration(10 * time.Second)}), g.o.Start); err != nil {
		return g.n, err
	}
	for s := 0; !g.done() || g.inFlight(s); s++ {
		if err := g.second(s); err != nil {
			return g.n, err
		}
	}
	return g.n, g.write(history.MetaEvent(history.Meta{Phase: history.MetaEnd}), g.o.Start.Add(time.Duration(g.lastSecond()+1)*time.Second))
}

func defaults(o Options) Options {
	if o.Events == 0 && o.Runs == 0 {
		o.Runs = 100
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	}
	if o.Every <= 0 {
		o.Every = 200 * time.Millisecond
	}
	if o.Chunks <= 0 {
		o.Chunks = 20
	}
	if o.FaultEvery == 0 {
		o.FaultEvery = time.Minute
	}
	return o
}

func (g *gen) done() bool {
	if g.o.Events > 0 {
		return g.n >= g.o.Events
	}
	return g.runs >= g.o.Runs
}

// inFlight reports whether runs started before second s still have events due.
func (g *gen) inFlight(s int) bool {
	return g.runs > 0 && g.startOf(g.runs-1).After(g.at(s-runLen-1))
}

func (g *gen) lastSecond() int {
	return int(g.startOf(g.runs-1).Sub(g.o.Start)/time.Second) + runLen + 1
}

func (g *gen) at(s int) time.Time { return g.o.Start.Add(time.Duration(s) * time.Second) }

func (g *gen) startOf(i int) time.Time {
	return g.o.Start.Add(time.Second + time.Duration(i)*g.o.Every)
}

// second emits every event due in [s, s+1), in time order.
func (g *gen) second(s int) error {
	g.slot = g.slot[:0]
	from, to := g.at(s), g.at(s+1)
	g.periodic(s)
	for !g.done() && g.startOf(g.runs).Before(to) {
		g.runs++
	}
	first := max(0, int(from.Add(-runLen*time.Second).Sub(g.startOf(0))/g.o.Every))
	for i := first; i < g.runs; i++ {
		g.run(i, from, to)
	}
	slices.SortStableFunc(g.slot, func(a, b history.Event) int { return a.Time.Compare(b.Time) })
	for _, e := range g.slot {
		if err := g.write(e, e.Time); err != nil {
			return err
		}
	}
	return nil
}

func (g *gen) write(e history.Event, at time.Time) error {
	e.Time = at
	if _, err := g.w.Append(e); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	g.n++
	return nil
}

func (g *gen) emit(at time.Time, e history.Event) {
	e.Time = at
	g.slot = append(g.slot, e)
}

// paused returns the pod paused at second s, if any: pod k%3 from k*FaultEvery for
// pauseLen seconds (k >= 1).
func (g *gen) paused(s int) (string, int, bool) {
	if g.o.FaultEvery < 0 {
		return "", 0, false
	}
	every := int(g.o.FaultEvery / time.Second)
	k := s / every
	if k == 0 || s-k*every >= pauseLen {
		return "", k, false
	}
	return Pods[k%len(Pods)], k, true
}

// periodic emits the fault steps, and every 5 s readiness and heartbeats.
func (g *gen) periodic(s int) {
	at := g.at(s)
	g.faults(s, at)
	if s%5 != 0 {
		return
	}
	pausedPod, _, paused := g.paused(s)
	hb := &history.Heartbeats{Bucket: true}
	for _, p := range Pods {
		down := paused && p == pausedPod
		r := &history.Ready{Ready: !down, Status: "ok", Postgres: "ok", NATS: "ok"}
		if down {
			r = &history.Ready{Err: "context deadline exceeded"}
		}
		g.emit(at, history.ProbeEvent(history.Probe{Kind: history.ProbeReady, Pod: p, Ready: r}, at))
		hb.Keys = append(hb.Keys, history.HeartbeatKey{Pod: p, Age: history.Duration(time.Duration(s%10) * time.Second)})
	}
	g.emit(at.Add(time.Millisecond), history.ProbeEvent(history.Probe{Kind: history.ProbeHeartbeats, Heartbeats: hb}, at))
}

func (g *gen) faults(s int, at time.Time) {
	every := int(g.o.FaultEvery / time.Second)
	if g.o.FaultEvery < 0 || s < every {
		return
	}
	k, off := s/every, s%every
	pod := Pods[k%len(Pods)]
	f := history.Fault{ID: fmt.Sprintf("f%d", k), Kind: history.KindPause, Pod: pod, Container: "c-" + pod, Target: "random"}
	dk := history.Docker{Pod: pod, Container: "c-" + pod, ByChaosd: true, Fault: f.ID}
	switch off {
	case 0:
		f.Phase, f.At = history.FaultIntent, at
		g.emit(at, history.FaultEvent(f))
		f.Phase, f.At = history.FaultInjected, at.Add(20*time.Millisecond)
		g.emit(f.At, history.FaultEvent(f))
		dk.Action, dk.At = history.DockerPause, f.At
		g.emit(f.At, history.DockerEvent(dk))
	case pauseLen:
		f.Phase, f.At = history.FaultHealed, at.Add(-10*time.Millisecond)
		g.emit(f.At, history.FaultEvent(f))
		dk.Action, dk.At = history.DockerUnpause, f.At
		g.emit(f.At, history.DockerEvent(dk))
	}
}

// run emits run i's events due in [from, to).
func (g *gen) run(i int, from, to time.Time) {
	start := g.startOf(i)
	id := fmt.Sprintf("r%d", i+1)
	thread := "thrd_synth_" + id
	owner := Pods[i%len(Pods)]
	due := func(off time.Duration) (time.Time, bool) {
		t := start.Add(off)
		return t, !t.Before(from) && t.Before(to)
	}
	if t, ok := due(0); ok {
		g.opPair(t, history.Op{Name: history.OpAttach, Run: id, Thread: thread, Pod: Pods[(i+1)%3], Watcher: id + "/w1"})
		s := history.Duration(settle)
		g.opPair(t.Add(time.Millisecond), history.Op{Name: history.OpStartRun, Run: id, Thread: thread, Pod: owner,
			Hint: "slow:20x500", Chunks: g.o.Chunks, Expect: history.Duration(10 * time.Second), Settle: &s})
	}
	for sec := 1; sec <= 10; sec++ {
		if t, ok := due(time.Duration(sec) * time.Second); ok {
			g.sample(t, id, thread, owner, min(sec*g.o.Chunks/10, g.o.Chunks), false)
		}
	}
	if t, ok := due(lateAfter*time.Second + 100*time.Millisecond); ok {
		k := lateAfter * g.o.Chunks / 10
		for j := 2; j <= 3; j++ {
			g.opPair(t, history.Op{Name: history.OpAttach, Run: id, Thread: thread, Pod: Pods[(i+j)%3], Watcher: fmt.Sprintf("%s/w%d", id, j), Late: true, K: k})
		}
	}
	if t, ok := due(10*time.Second + 500*time.Millisecond); ok {
		g.watches(t, i, id, thread, start)
	}
	if t, ok := due(11 * time.Second); ok {
		g.sample(t, id, thread, "", 0, true)
	}
	if t, ok := due(11*time.Second + settle); ok {
		g.emit(t, history.ProbeEvent(history.Probe{Kind: history.ProbeBuffer, Run: id, Thread: thread, Buffer: g.ended()}, t))
	}
}

// ended is a decided run's buffer: purged up to its end sentinel, as the testbed
// leaves it.
func (g *gen) ended() *history.Buffer {
	last := uint64(g.o.Chunks + 7) // start, step, text start, the deltas, text end, step end, finish, sentinel
	return &history.Buffer{Messages: 1, FirstSeq: last, LastSeq: last, Done: true, Sentinels: 1}
}

func (g *gen) opPair(at time.Time, o history.Op) {
	g.op++
	o.ID = g.op
	o.Phase = history.PhaseInvoke
	g.emit(at, history.OpEvent(o))
	o.Phase = history.PhaseOK
	g.emit(at.Add(5*time.Millisecond), history.OpEvent(o))
}

func (g *gen) sample(at time.Time, id, thread, owner string, deltas int, done bool) {
	st := &history.ThreadState{Status: history.StatusInProgress, Owner: owner}
	buf := &history.Buffer{Messages: uint64(deltas + 2), FirstSeq: 1, LastSeq: uint64(deltas + 2), TextDeltas: deltas}
	if done {
		st = &history.ThreadState{Status: history.StatusCompleted}
		buf = g.ended()
	}
	g.emit(at, history.ProbeEvent(history.Probe{Kind: history.ProbeThread, Run: id, Thread: thread, ThreadState: st}, at))
	g.emit(at.Add(2*time.Millisecond), history.ProbeEvent(history.Probe{Kind: history.ProbeBuffer, Run: id, Thread: thread, Buffer: buf}, at))
}

// streamGrammar is the chunk grammar (history.Watch.Chunks) of a watcher that saw the
// clean stream of a run of n text deltas from after the from-th delta on (from 0: all
// of it, from its start chunk).
func streamGrammar(run string, from, n int) string {
	var gr probes.Grammar
	if from == 0 {
		gr.Add(probes.Chunk{Type: probes.ChunkStart, MessageID: "msg-" + run})
		gr.Add(probes.Chunk{Type: probes.ChunkStartStep})
		gr.Add(probes.Chunk{Type: probes.ChunkTextStart, ID: "txt-0"})
	}
	for range n - from {
		gr.Add(probes.Chunk{Type: probes.ChunkTextDelta, ID: "txt-0"})
	}
	gr.Add(probes.Chunk{Type: probes.ChunkTextEnd, ID: "txt-0"})
	gr.Add(probes.Chunk{Type: probes.ChunkFinishStep})
	gr.Add(probes.Chunk{Type: probes.ChunkFinish})
	return gr.String()
}

func (g *gen) watches(at time.Time, i int, id, thread string, start time.Time) {
	full := history.Order{{From: 1, To: g.o.Chunks}}
	late := full
	k := lateAfter * g.o.Chunks / 10
	if g.o.DeliverNew {
		late = history.Order{{From: k + 1, To: g.o.Chunks}}
	}
	for j := 1; j <= 3; j++ {
		w := history.Watch{Watcher: fmt.Sprintf("%s/w%d", id, j), Run: id, Thread: thread, Pod: Pods[(i+j)%3],
			OpenedAt: start, Order: full, Finished: true}
		w.Chunks = streamGrammar(id, 0, g.o.Chunks)
		if j > 1 {
			w.Late, w.K, w.OpenedAt, w.Order = true, k, start.Add(lateAfter*time.Second+100*time.Millisecond), late
			if g.o.DeliverNew {
				w.Chunks = streamGrammar(id, k, g.o.Chunks)
			}
		}
		g.emit(at, history.WatchEvent(w))
	}
}

// WriteFile writes a synthetic history to a new file at path and returns the events
// written.
func WriteFile(path string, o Options) (int, error) {
	return write(path, o, history.Options{Buffered: true})
}

// WriteRotated is WriteFile with the history rotated every maxBytes and its rotated
// segments gzipped, as a long soak leaves it.
func WriteRotated(path string, o Options, maxBytes int64) (int, error) {
	return write(path, o, history.Options{Buffered: true, MaxBytes: maxBytes, Compress: true})
}

func write(path string, o Options, ho history.Options) (int, error) {
	w, err := history.Create(path, ho)
	if err != nil {
		return 0, err
	}
	n, err := Generate(w, o)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return n, err
}
