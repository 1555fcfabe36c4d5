package faults

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// openFault writes an inject record the way a chaosd that then crashed would have.
func openFault(t *testing.T, l *Ledger, d Deps, m *fakeBox, kind string, s Spec, owner *Process, deadline time.Time) string {
	t.Helper()
	ms, err := d.Selector.List(context.Background(), d.Docker)
	must(t, err)
	var target Member
	for _, x := range ms {
		if x.ID == m.id {
			target = x
		}
	}
	p, err := newFaults(d)[kind].Plan(context.Background(), target, s)
	must(t, err)
	id := newFaultID(time.Now())
	must(t, l.Append(Record{Op: OpInject, Fault: id, Kind: kind, Target: &p.Target, Undo: p.Undo, Deadline: deadline, Owner: owner}))
	return id
}

func deadProcess() *Process { return &Process{PID: 1 << 30, Start: 1} }

func TestRecoverReplaysEveryOpenFault(t *testing.T) {
	c := newCluster("mesh-1", "mesh-2", "mesh-3", "nats", "postgres")
	n := newFakeNet(c)
	d := testDeps(c, n)
	d.Log = zaptest.NewLogger(t)
	l := tempLedger(t)
	past := time.Now().Add(-time.Second)
	// What a SIGKILLed chaosd left: a paused pod, a killed pod, a disconnected pod, a
	// filtered pod, and a fault recorded but never injected.
	m1, m2, m3 := c.byService("mesh-1"), c.byService("mesh-2"), c.byService("mesh-3")
	ids := []string{
		openFault(t, l, d, m1, "pause", Spec{Hold: time.Second}, deadProcess(), past),
		openFault(t, l, d, m2, "kill", Spec{Hold: time.Second}, deadProcess(), past),
		openFault(t, l, d, m3, "partition", Spec{Hold: time.Second}, deadProcess(), past),
	}
	must(t, n.Cut(m1.pid, []netip.Addr{c.byService("nats").ip}))
	ids = append(ids, openFault(t, l, d, m1, "partition", Spec{Hold: time.Second, Peers: []string{"nats"}}, deadProcess(), past))
	untouched := openFault(t, l, d, c.byService("nats"), "pause", Spec{Hold: time.Second}, deadProcess(), past)
	must(t, d.Docker.ContainerPause(context.Background(), m1.id))
	must(t, d.Docker.ContainerKill(context.Background(), m2.id, "SIGKILL"))
	must(t, d.Docker.NetworkDisconnect(context.Background(), "net-proj_default", m3.id, false))

	recs, err := Recover(context.Background(), NewHealer(l, d, time.Second), RecoverOptions{})
	must(t, err)
	if len(recs) != 5 {
		t.Fatalf("%d recoveries, want 5", len(recs))
	}
	for _, r := range recs {
		if r.Err != nil || r.Skipped != "" || r.Report.Healing.Outcome != Healed {
			t.Errorf("%s %s: %+v, err %v", r.Entry.Inject.Kind, r.Entry.Target().Pod, r.Report.Healing, r.Err)
		}
	}
	for _, b := range []*fakeBox{m1, m2, m3} {
		if b.state != "running" || len(b.nets) != 1 {
			t.Errorf("%s left %s with %d networks", b.service, b.state, len(b.nets))
		}
	}
	if present, _, _ := n.Rules(m1.pid); present {
		t.Error("the nftables table is left behind")
	}
	st, _ := l.Read()
	if open := st.Open(); len(open) != 0 {
		t.Errorf("%d faults still open", len(open))
	}
	for _, id := range append(ids, untouched) {
		if e := st.Get(id); e.Heal.By != ByRecover {
			t.Errorf("%s healed by %q", id, e.Heal.By)
		}
	}
	if st.Get(untouched).Heal.Evidence != "not paused (nothing to undo)" {
		t.Errorf("never-injected fault: %q", st.Get(untouched).Heal.Evidence)
	}
}

func TestRecoverLeavesLiveChaosdFaultsUnlessForced(t *testing.T) {
	c := newCluster("mesh-1", "mesh-2")
	d := testDeps(c, newFakeNet(c))
	l := tempLedger(t)
	parent := Process{PID: os.Getppid()}
	parent.Start, _ = startTime(parent.PID)
	id := openFault(t, l, d, c.byService("mesh-1"), "pause", Spec{Hold: time.Hour}, &parent, time.Now().Add(time.Hour))
	h := NewHealer(l, d, time.Second)
	recs, err := Recover(context.Background(), h, RecoverOptions{})
	must(t, err)
	if len(recs) != 1 || !strings.Contains(recs[0].Skipped, "held by a live chaosd") {
		t.Fatalf("recoveries %+v", recs)
	}
	recs, err = Recover(context.Background(), h, RecoverOptions{Force: true})
	must(t, err)
	if recs[0].Skipped != "" || recs[0].Report.Healing.Outcome != Healed {
		t.Fatalf("forced: %+v", recs[0])
	}
	st, _ := l.Read()
	if st.Get(id).Open() {
		t.Error("still open after a forced recover")
	}
}

func TestFailedHealStaysOpenAndIsRetried(t *testing.T) {
	c := newCluster("mesh-1", "mesh-2")
	d := testDeps(c, newFakeNet(c))
	l := tempLedger(t)
	id := openFault(t, l, d, c.byService("mesh-1"), "pause", Spec{Hold: time.Second}, deadProcess(), time.Now())
	must(t, d.Docker.ContainerPause(context.Background(), c.byService("mesh-1").id))
	broken := c.docker()
	broken.unpause = func(string) error { return errors.New("connection refused") }
	recs, err := Recover(context.Background(), NewHealer(l, withDocker(d, broken), time.Second), RecoverOptions{})
	must(t, err)
	if recs[0].Err == nil || !strings.Contains(recs[0].Err.Error(), "connection refused") {
		t.Fatalf("recovery %+v", recs[0])
	}
	st, _ := l.Read()
	if e := st.Get(id); !e.Open() || len(e.Failures) != 1 {
		t.Fatalf("open %v, failures %d", e.Open(), len(e.Failures))
	}
	recs, err = Recover(context.Background(), NewHealer(l, d, time.Second), RecoverOptions{})
	must(t, err)
	if recs[0].Err != nil || recs[0].Report.Healing.Outcome != Healed || c.byService("mesh-1").state != "running" {
		t.Fatalf("retry: %+v", recs[0])
	}
}

func TestDryRunRecoveryTouchesNothing(t *testing.T) {
	c := newCluster("mesh-1", "mesh-2")
	d := testDeps(c, newFakeNet(c))
	l := tempLedger(t)
	openFault(t, l, d, c.byService("mesh-1"), "kill", Spec{Hold: time.Second}, deadProcess(), time.Now())
	st, _ := l.Read()
	recs := RecoverState(context.Background(), st, nil, RecoverOptions{DryRun: true})
	if len(recs) != 1 || recs[0].Skipped != "" || recs[0].Report.Entry != nil || len(c.callLog()) != 0 {
		t.Fatalf("recoveries %+v, calls %v", recs, c.callLog())
	}
}

func TestWatchdogHealsAtTheDeadline(t *testing.T) {
	c := newCluster("mesh-1", "mesh-2")
	d := testDeps(c, newFakeNet(c))
	d.Log = zaptest.NewLogger(t)
	l := tempLedger(t)
	deadline := time.Now().Add(80 * time.Millisecond)
	id := openFault(t, l, d, c.byService("mesh-1"), "pause", Spec{Hold: time.Second}, deadProcess(), deadline)
	must(t, d.Docker.ContainerPause(context.Background(), c.byService("mesh-1").id))
	err := Watch(context.Background(), NewHealer(l, d, time.Second), id, WatchOptions{Grace: time.Hour, Poll: 10 * time.Millisecond, GiveUp: time.Minute, Appear: time.Second})
	must(t, err)
	st, _ := l.Read()
	e := st.Get(id)
	if e.Open() || e.Heal.By != ByWatchdog || e.Heal.At.Before(deadline) || e.Heal.At.After(deadline.Add(time.Second)) {
		t.Fatalf("heal %+v, deadline %v", e.Heal, deadline)
	}
}

func TestWatchdogLeavesWhenChaosdHealedFirst(t *testing.T) {
	c := newCluster("mesh-1", "mesh-2")
	d := testDeps(c, newFakeNet(c))
	l := tempLedger(t)
	self := Self()
	id := openFault(t, l, d, c.byService("mesh-1"), "pause", Spec{Hold: time.Second}, &self, time.Now().Add(50*time.Millisecond))
	time.AfterFunc(20*time.Millisecond, func() { _, _ = NewHealer(l, d, time.Second).Heal(context.Background(), id, ByChaosd) })
	start := time.Now()
	must(t, Watch(context.Background(), NewHealer(l, d, time.Second), id, WatchOptions{Grace: time.Hour, Poll: 5 * time.Millisecond, GiveUp: time.Minute, Appear: time.Second}))
	st, _ := l.Read()
	if by := st.Get(id).Heal.By; by != ByChaosd || time.Since(start) > time.Second {
		t.Fatalf("healed by %q after %s", by, time.Since(start))
	}
}

func TestSignalledWatchdogHealsAtOnce(t *testing.T) {
	c := newCluster("mesh-1", "mesh-2")
	d := testDeps(c, newFakeNet(c))
	l := tempLedger(t)
	id := openFault(t, l, d, c.byService("mesh-1"), "kill", Spec{Hold: time.Hour}, deadProcess(), time.Now().Add(time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	must(t, Watch(ctx, NewHealer(l, d, time.Second), id, WatchOptions{Grace: time.Hour, Poll: 5 * time.Millisecond, GiveUp: time.Minute, Appear: time.Second}))
	st, _ := l.Read()
	if e := st.Get(id); e.Open() || e.Heal.By != ByWatchdog {
		t.Fatalf("heal %+v", e.Heal)
	}
}

func TestWatchdogWithoutARecordHasNothingToDo(t *testing.T) {
	c := newCluster("mesh-1")
	d := testDeps(c, newFakeNet(c))
	err := Watch(context.Background(), NewHealer(tempLedger(t), d, time.Second), "f-never", WatchOptions{Poll: 5 * time.Millisecond, Appear: 30 * time.Millisecond})
	if !errors.Is(err, ErrNeverRecorded) || len(c.callLog()) != 0 {
		t.Fatalf("err %v, calls %v", err, c.callLog())
	}
}

// A chaosd SIGKILLed while its pause request is on its way: dockerd still carries the
// pause out, after recover looked. Recover must let it land, then heal.
func TestRecoverWaitsForAnInjectionInFlight(t *testing.T) {
	c := newCluster("mesh-1", "mesh-2")
	d := testDeps(c, newFakeNet(c))
	d.Timing.Settle = time.Second // the pause below lands inside it even on a loaded machine
	l := tempLedger(t)
	m := c.byService("mesh-1")
	id := openFault(t, l, d, m, "pause", Spec{Hold: time.Second}, deadProcess(), time.Now())
	time.AfterFunc(60*time.Millisecond, func() { _ = d.Docker.ContainerPause(context.Background(), m.id) })
	start := time.Now()
	recs, err := Recover(context.Background(), NewHealer(l, d, time.Second), RecoverOptions{})
	must(t, err)
	if recs[0].Err != nil || recs[0].Report.Healing.Outcome != Healed || recs[0].Report.Healing.Evidence != "state running" {
		t.Fatalf("recovery %+v", recs[0])
	}
	if m.state != "running" || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("left %s after %s: the late pause undid the heal", m.state, time.Since(start))
	}
	st, _ := l.Read()
	if st.Get(id).Open() {
		t.Fatal("still open")
	}
}
