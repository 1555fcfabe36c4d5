package faults

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
	"go.uber.org/zap/zaptest"
)

// down lists the rig's pods (not its infrastructure) that do not run.
func (r *rig) down() []string {
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	var out []string
	for _, id := range r.c.order {
		if b := r.c.boxes[id]; strings.HasPrefix(b.service, "mesh-") && b.state != "running" {
			out = append(out, b.service)
		}
	}
	return out
}

// use makes d the rig's Docker, for the injector and the healer alike.
func (r *rig) use(d *fakeDocker) {
	r.in.Deps.Docker, r.in.Healer = d, NewHealer(r.in.Ledger, withDocker(r.in.Deps, d), time.Second)
}

var all = TargetSpec{Mode: PickAll}

func TestRolloutRestartsEveryPodInTurnOneDownAtATime(t *testing.T) {
	r := newRig(t)
	d := r.c.docker()
	var overlap []string
	d.kill = func(id, sig string) error {
		if down := r.down(); len(down) > 0 {
			overlap = append(overlap, strings.Join(down, ","))
		}
		return r.c.set(id, "kill", func(b *fakeBox) { b.exitBy(sig) })
	}
	r.use(d)
	rep, err := r.in.Run(context.Background(), Request{Kind: "rollout", Target: all, Spec: Spec{Hold: 10 * time.Millisecond}})
	must(t, err)
	want := []string{"kill mesh-1", "start mesh-1", "kill mesh-2", "start mesh-2", "kill mesh-3", "start mesh-3"}
	if got := r.c.callLog(); !slices.Equal(got, want) {
		t.Errorf("docker calls %v, want %v", got, want)
	}
	if len(overlap) > 0 {
		t.Errorf("a pod was stopped while %v were down", overlap)
	}
	for _, pod := range []string{"mesh-1", "mesh-2", "mesh-3"} {
		if !strings.Contains(rep.Effect.Evidence, pod+": exited within its 10s grace; state exited, exit code 143; started; ready after ") {
			t.Errorf("evidence lacks %s's restart: %s", pod, rep.Effect.Evidence)
		}
		if b := r.c.byService(pod); !slices.Equal(b.signals, []string{"SIGTERM"}) || b.state != "running" {
			t.Errorf("%s: signals %v, left %s", pod, b.signals, b.state)
		}
	}
	if got := r.ops(t, rep.Fault); !slices.Equal(got, []string{"inject", "confirmed", "heal:healed:chaosd"}) {
		t.Errorf("ledger %v", got)
	}
	if s := rep.Plan.Target.String(); s != "every pod (mesh-1, mesh-2, mesh-3)" || rep.Plan.Target.Pod != EveryPod {
		t.Errorf("target %q (pod %q)", s, rep.Plan.Target.Pod)
	}
	var u rolloutUndo
	must(t, json.Unmarshal(rep.Plan.Undo, &u))
	if len(u.Pods) != 3 || u.Pods[0].Pod != "mesh-1" || u.Pods[2].Pod != "mesh-3" {
		t.Errorf("undo %s: want every pod, infrastructure aside, by name", rep.Plan.Undo)
	}
	st, _ := r.in.Ledger.Read()
	if e := st.Get(rep.Fault); e.Inject.Deadline.Sub(e.Inject.At) < 3*(10*time.Second+DefaultReadyWithin) {
		t.Errorf("inject record's deadline %s after it: shorter than the rollout may take", e.Inject.Deadline.Sub(e.Inject.At))
	}
}

func TestRolloutBySIGKILL(t *testing.T) {
	r := newRig(t)
	rep, err := r.in.Run(context.Background(), Request{Kind: "rollout", Target: all, Spec: Spec{Signal: SignalKill}})
	must(t, err)
	for _, pod := range []string{"mesh-1", "mesh-2", "mesh-3"} {
		if b := r.c.byService(pod); !slices.Equal(b.signals, []string{"SIGKILL"}) || b.state != "running" {
			t.Errorf("%s: signals %v, left %s", pod, b.signals, b.state)
		}
	}
	if !strings.Contains(rep.Effect.Evidence, "mesh-2: SIGKILLed; state exited, exit code 137; started; ready after ") {
		t.Errorf("evidence %s", rep.Effect.Evidence)
	}
}

// A pod that does not come back ready stops the rollout there: the pods after it are
// left alone, and the fault is healed at once.
func TestRolloutStopsAtAPodNeverReadyAndHeals(t *testing.T) {
	r := newRig(t)
	d := r.c.docker()
	var mu sync.Mutex
	restarted := map[string]bool{}
	d.start = func(id string) error {
		mu.Lock()
		restarted[id] = true
		mu.Unlock()
		return r.c.set(id, "start", func(b *fakeBox) { b.state = "running" })
	}
	r.use(d)
	r.in.Readiness = readyFunc(func(m Member) (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		if m.Pod == "mesh-2" && restarted[m.ID] {
			return false, "503 booting"
		}
		return m.Running(), m.State
	})
	rep, err := r.in.Run(context.Background(), Request{Kind: "rollout", Target: all, Spec: Spec{ReadyWithin: 150 * time.Millisecond}})
	if err == nil || !strings.Contains(err.Error(), "rollout stopped at mesh-2 (1 of 3 pods restarted; the rest left alone): not ready within 150ms of its start (last reading: 503 booting)") {
		t.Fatalf("err %v", err)
	}
	if got, want := r.c.callLog(), []string{"kill mesh-1", "start mesh-1", "kill mesh-2", "start mesh-2"}; !slices.Equal(got, want) {
		t.Errorf("docker calls %v, want %v (mesh-3 left alone)", got, want)
	}
	if got := r.ops(t, rep.Fault); !slices.Equal(got, []string{"inject", "heal:healed:abort"}) {
		t.Errorf("ledger %v", got)
	}
	if !strings.Contains(rep.Effect.Evidence, "mesh-1: exited") || !strings.Contains(rep.Effect.Evidence, "mesh-2: exited within its 10s grace; state exited, exit code 143; started; not ready after ") {
		t.Errorf("evidence %s", rep.Effect.Evidence)
	}
	if down := r.down(); len(down) > 0 {
		t.Errorf("%v left down", down)
	}
}

// Each pod's turn keeps the blast radius: a pod is not stopped while too few others
// are ready, and nothing starts while another fault is open.
func TestRolloutKeepsTheBlastRadius(t *testing.T) {
	r := newRig(t)
	r.in.Blast.MinReady = 2
	var mu sync.Mutex
	sick := false
	d := r.c.docker()
	d.start = func(id string) error {
		mu.Lock()
		sick = true // once mesh-1 is back, mesh-3 stops being ready
		mu.Unlock()
		return r.c.set(id, "start", func(b *fakeBox) { b.state = "running" })
	}
	r.use(d)
	r.in.Readiness = readyFunc(func(m Member) (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		if m.Pod == "mesh-3" && sick {
			return false, "503"
		}
		return m.Running(), m.State
	})
	_, err := r.in.Run(context.Background(), Request{Kind: "rollout", Target: all, Spec: Spec{Hold: time.Millisecond}})
	if err == nil || !strings.Contains(err.Error(), "rollout stopped at mesh-2 (1 of 3 pods restarted; the rest left alone): not stopped: blast radius: hurting mesh-2 would leave 1 ready pod(s), want at least 2 (not ready: mesh-3: 503)") {
		t.Fatalf("err %v", err)
	}
	if got := r.c.callLog(); !slices.Equal(got, []string{"kill mesh-1", "start mesh-1"}) {
		t.Errorf("docker calls %v", got)
	}

	r = newRig(t)
	r.in.Blast.MinReady = 3
	if _, err := r.in.Run(context.Background(), Request{Kind: "rollout", Target: all, Spec: Spec{}}); err == nil ||
		!strings.Contains(err.Error(), "blast radius: a rollout takes each of the 3 ready pod(s) down in turn, leaving 2 ready, want at least 3") {
		t.Fatalf("min_ready 3 of 3 pods: err %v", err)
	}
	r = newRig(t)
	openFault(t, r.in.Ledger, r.in.Deps, r.c.byService("mesh-3"), "pause", Spec{Hold: time.Hour}, &Process{}, time.Now().Add(time.Hour))
	if _, err := r.in.Run(context.Background(), Request{Kind: "rollout", Target: all, Spec: Spec{}}); err == nil ||
		!strings.Contains(err.Error(), "every pod: target: mesh-3 already has an open fault") {
		t.Fatalf("with a fault open: err %v", err)
	}
	if calls := r.c.callLog(); len(calls) != 0 {
		t.Errorf("docker calls %v", calls)
	}
}

func TestRolloutIsForEveryPodOnly(t *testing.T) {
	r := newRig(t)
	if _, err := r.in.Run(context.Background(), Request{Kind: "rollout", Target: named("mesh-1")}); err == nil || !strings.Contains(err.Error(), "rollout hits every pod in turn: it takes no named target") {
		t.Errorf("rollout of one pod: err %v", err)
	}
	if _, err := r.in.Run(context.Background(), Request{Kind: "kill", Target: all}); err == nil || !strings.Contains(err.Error(), "kill hits one pod, not all") {
		t.Errorf("kill of every pod: err %v", err)
	}
}

// The heal works from the undo alone (recover, the watchdog): it starts the pods
// that do not run, and only those.
func TestRolloutHealFromTheUndoStartsOnlyTheStopped(t *testing.T) {
	c := newCluster("mesh-1", "mesh-2", "mesh-3", "nats")
	d := testDeps(c, newFakeNet(c))
	l := tempLedger(t)
	p, err := newFaults(d)["rollout"].Plan(context.Background(), Member{Target: everyPod([]string{"mesh-1", "mesh-2", "mesh-3"})}, Spec{})
	must(t, err)
	id := newFaultID(time.Now())
	must(t, l.Append(Record{Op: OpInject, Fault: id, Kind: "rollout", Target: &p.Target, Undo: p.Undo, Deadline: time.Now(), Owner: deadProcess()}))
	must(t, d.Docker.ContainerKill(context.Background(), c.byService("mesh-2").id, sigTerm))
	recs, err := Recover(context.Background(), NewHealer(l, d, time.Second), RecoverOptions{})
	must(t, err)
	h := recs[0].Report.Healing
	if recs[0].Err != nil || h.Outcome != Healed {
		t.Fatalf("recovery %+v, err %v", h, recs[0].Err)
	}
	if want := "mesh-1: already running (nothing to undo); mesh-2: state running; mesh-3: already running (nothing to undo)"; h.Evidence != want {
		t.Errorf("evidence %q, want %q", h.Evidence, want)
	}
	if got := c.callLog(); !slices.Equal(got, []string{"kill mesh-2", "start mesh-2"}) {
		t.Errorf("docker calls %v", got)
	}
	// A pod that vanished since is unknown, never healed.
	c.mu.Lock()
	delete(c.boxes, c.order[0])
	c.mu.Unlock()
	if h := newFaults(d)["rollout"].Heal(context.Background(), p.Undo); h.Outcome != Unknown || !strings.Contains(h.Evidence, "mesh-1: inspect") {
		t.Errorf("vanished pod: %+v", h)
	}
}

// The deaths of a rollout are chaosd's, pod by pod while each is stopped; another
// pod's death meanwhile is not.
func TestRolloutDeathsAreExpectedPodByPod(t *testing.T) {
	r := newRig(t)
	msgs := make(chan events.Message, 16)
	send := func(id, action string) {
		msgs <- events.Message{Action: events.Action(action), Actor: events.Actor{ID: id}, TimeNano: time.Now().UnixNano()}
	}
	d := r.c.docker()
	d.events = func(events.ListOptions) (<-chan events.Message, <-chan error) { return msgs, make(chan error) }
	other := r.c.byService("mesh-3").id
	d.kill = func(id, sig string) error {
		err := r.c.set(id, "kill", func(b *fakeBox) { b.exitBy(sig) })
		send(id, "die")
		if id == r.c.byService("mesh-1").id {
			send(other, "die") // mesh-3 dies on its own while mesh-1 is stopped
		}
		return err
	}
	r.use(d)
	r.in.Events = WatchEvents(context.Background(), d, r.in.Deps.Selector, zaptest.NewLogger(t))
	rep, err := r.in.Run(context.Background(), Request{Kind: "rollout", Target: all, Spec: Spec{Hold: 50 * time.Millisecond}})
	must(t, err)
	seen, err := r.in.Events.Stop(50 * time.Millisecond)
	must(t, err)
	var got []string
	for _, e := range seen {
		got = append(got, r.c.boxes[e.ID].service+" "+map[bool]string{true: "by " + e.Fault, false: "UNEXPECTED"}[e.Expected])
	}
	by := "by " + rep.Fault
	if want := []string{"mesh-1 " + by, "mesh-3 UNEXPECTED", "mesh-2 " + by, "mesh-3 " + by}; !slices.Equal(got, want) {
		t.Errorf("deaths %v, want %v", got, want)
	}
}
