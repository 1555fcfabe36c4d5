package faults

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/errdefs"
)

func TestStopSIGTERMsWaitsAndStartsItAgain(t *testing.T) {
	r := newRig(t)
	rep, err := r.in.Run(context.Background(), Request{Kind: "stop", Target: named("mesh-2"), Spec: Spec{Hold: 20 * time.Millisecond}})
	must(t, err)
	b := r.c.byService("mesh-2")
	if got := r.c.callLog(); !slices.Equal(got, []string{"kill mesh-2", "start mesh-2"}) || !slices.Equal(b.signals, []string{"SIGTERM"}) {
		t.Errorf("docker calls %v, signals %v; want one SIGTERM, then the start", got, b.signals)
	}
	if want := "exited within its 10s grace; state exited, exit code 143"; rep.Effect.Evidence != want {
		t.Errorf("evidence %q, want %q", rep.Effect.Evidence, want)
	}
	if got := r.ops(t, rep.Fault); !slices.Equal(got, []string{"inject", "confirmed", "heal:healed:chaosd"}) {
		t.Errorf("ledger %v", got)
	}
	if b.state != "running" || rep.Heal.Healing.Evidence != "state running" {
		t.Errorf("left %s; heal %+v", b.state, rep.Heal.Healing)
	}
	// The watchdog's deadline leaves the pod its grace to exit.
	st, _ := r.in.Ledger.Read()
	if e := st.Get(rep.Fault); e.Inject.Deadline.Sub(e.Inject.At) < 10*time.Second {
		t.Errorf("inject record's deadline %s after it: shorter than the grace", e.Inject.Deadline.Sub(e.Inject.At))
	}
}

func TestStopSIGKILLsAPodPastItsGrace(t *testing.T) {
	r := newRig(t)
	d := r.c.docker()
	d.kill = func(id, sig string) error {
		return r.c.set(id, "kill", func(b *fakeBox) {
			if sig == sigTerm { // ignored: the pod does not exit
				b.signals = append(b.signals, sig)
				return
			}
			b.exitBy(sig)
		})
	}
	r.in.Deps.Docker, r.in.Healer = d, NewHealer(r.in.Ledger, withDocker(r.in.Deps, d), time.Second)
	start := time.Now()
	rep, err := r.in.Run(context.Background(), Request{Kind: "stop", Target: named("mesh-1"), Spec: Spec{Hold: time.Millisecond, Grace: 50 * time.Millisecond}})
	must(t, err) // a SIGKILL past the grace is evidence, not an error
	if want := "did not exit within its 50ms grace: SIGKILLed; state exited, exit code 137"; rep.Effect.Evidence != want {
		t.Errorf("evidence %q, want %q", rep.Effect.Evidence, want)
	}
	if b := r.c.byService("mesh-1"); !slices.Equal(b.signals, []string{"SIGTERM", "SIGKILL"}) || b.state != "running" {
		t.Errorf("signals %v, left %s", b.signals, b.state)
	}
	if took := rep.Effect.Confirmed.Sub(start); took < 50*time.Millisecond {
		t.Errorf("SIGKILLed %s after the start: before its grace ran out", took)
	}
}

// A pod that exits by itself just as its grace runs out is not SIGKILLed, whether the
// SIGKILL still finds it running or not.
func TestStopPodExitingAsItsGraceRunsOut(t *testing.T) {
	for name, refuse := range map[string]bool{"SIGKILL lands": false, "SIGKILL refused": true} {
		r := newRig(t)
		d := r.c.docker()
		d.kill = func(id, sig string) error {
			var err error
			set := r.c.set(id, "kill", func(b *fakeBox) {
				b.signals = append(b.signals, sig)
				if sig == sigKill {
					b.state, b.exit = "exited", 0
					if refuse {
						err = errdefs.Conflict(errors.New("container is not running"))
					}
				}
			})
			return errors.Join(set, err)
		}
		r.use(d)
		rep, err := r.in.Run(context.Background(), Request{Kind: "stop", Target: named("mesh-1"), Spec: Spec{Hold: time.Millisecond, Grace: 30 * time.Millisecond}})
		must(t, err)
		if want := "exited as its 30ms grace ran out (before the SIGKILL took); state exited, exit code 0"; rep.Effect.Evidence != want {
			t.Errorf("%s: evidence %q, want %q", name, rep.Effect.Evidence, want)
		}
	}
}

func TestStopGraceIsTheContainersOwn(t *testing.T) {
	r := newRig(t)
	three := 3
	r.c.byService("mesh-3").stopTimeout = &three
	rep, err := r.in.Run(context.Background(), Request{Kind: "stop", Target: named("mesh-3"), Spec: Spec{Hold: time.Minute}, DryRun: true})
	must(t, err)
	if want := "SIGTERM proj_mesh-3_1 (SIGKILL past its 3s grace), keep it down for 1m0s"; rep.Plan.Does != want {
		t.Errorf("plan %q, want %q", rep.Plan.Does, want)
	}
	rep, err = r.in.Run(context.Background(), Request{Kind: "stop", Target: named("mesh-3"), Spec: Spec{Hold: time.Minute, Grace: time.Second}, DryRun: true})
	must(t, err)
	if !strings.Contains(rep.Plan.Does, "its 1s grace") {
		t.Errorf("asked for 1s: plan %q", rep.Plan.Does)
	}
}

func TestStopNeverLeavesThePodDown(t *testing.T) {
	r := newRig(t)
	rep, err := r.in.Run(context.Background(), Request{Kind: "stop", Target: named("mesh-2"), Spec: Spec{Never: true}})
	must(t, err)
	if got := r.c.callLog(); !slices.Equal(got, []string{"kill mesh-2"}) || r.c.byService("mesh-2").state != "exited" {
		t.Errorf("docker calls %v, mesh-2 %s; want it stopped and left", got, r.c.byService("mesh-2").state)
	}
	if got := r.ops(t, rep.Fault); !slices.Equal(got, []string{"inject", "confirmed", "heal:left:chaosd"}) {
		t.Errorf("ledger %v", got)
	}
}

// A chaosd that died just after its SIGTERM: the pod is still on its way out when
// recover looks. Recover must let it exit, then start it, not take it for healed.
func TestRecoverLetsAStoppedPodExitFirst(t *testing.T) {
	c := newCluster("mesh-1", "mesh-2")
	d := testDeps(c, newFakeNet(c))
	l := tempLedger(t)
	m := c.byService("mesh-1")
	id := openFault(t, l, d, m, "stop", Spec{Hold: time.Second, Grace: 300 * time.Millisecond}, deadProcess(), time.Now().Add(time.Minute))
	time.AfterFunc(100*time.Millisecond, func() { _ = c.set(m.id, "exit", func(b *fakeBox) { b.exitBy(sigTerm) }) })
	recs, err := Recover(context.Background(), NewHealer(l, d, time.Second), RecoverOptions{})
	must(t, err)
	if recs[0].Err != nil || recs[0].Report.Healing.Outcome != Healed || recs[0].Report.Healing.Evidence != "state running" {
		t.Fatalf("recovery %+v", recs[0])
	}
	if m.state != "running" || !slices.Contains(c.callLog(), "start mesh-1") {
		t.Fatalf("left %s (calls %v): the heal came before the exit", m.state, c.callLog())
	}
	st, _ := l.Read()
	if st.Get(id).Open() {
		t.Fatal("still open")
	}
}
