package faults

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
	"go.uber.org/zap/zaptest"

	"github.com/chaosd/chaosd/faults/netns"
)

type readyFunc func(m Member) (bool, string)

func (f readyFunc) Ready(_ context.Context, m Member) (bool, string) { return f(m) }

type ownersFunc func() ([]Owner, error)

func (f ownersFunc) Owners(context.Context) ([]Owner, error) { return f() }

// rig is an Injector on a fake cluster of three pods and two infra services.
type rig struct {
	c   *cluster
	net *fakeNet
	in  *Injector
}

func newRig(t *testing.T) *rig {
	t.Helper()
	c := newCluster("mesh-1", "mesh-2", "mesh-3", "nats", "postgres")
	n := newFakeNet(c)
	d := testDeps(c, n)
	d.Log = zaptest.NewLogger(t)
	l := tempLedger(t)
	return &rig{c: c, net: n, in: &Injector{
		Deps: d, Ledger: l, Path: l.Path(), Healer: NewHealer(l, d, time.Second), Watchdog: NoWatchdog{},
		Readiness: RunningReadiness{}, Blast: BlastRadius{MaxFaulted: 1, MinReady: 1}, Log: d.Log,
		Rand: func(int) int { return 0 },
	}}
}

func (r *rig) ops(t *testing.T, fault string) []string {
	t.Helper()
	st, err := r.in.Ledger.Read()
	must(t, err)
	e := st.Get(fault)
	if e == nil {
		t.Fatalf("fault %s not in the ledger", fault)
	}
	ops := []string{OpInject}
	if e.Confirmed != nil {
		ops = append(ops, OpConfirmed)
	}
	for range e.Failures {
		ops = append(ops, OpHealFailed)
	}
	if e.Heal != nil {
		ops = append(ops, OpHeal+":"+string(e.Heal.Outcome)+":"+e.Heal.By)
	}
	return ops
}

func withDocker(d Deps, docker Docker) Deps {
	d.Docker = docker
	return d
}

func named(n string) TargetSpec { return TargetSpec{Mode: PickNamed, Name: n} }

func TestPauseIsInjectedConfirmedHealedAndLedgered(t *testing.T) {
	r := newRig(t)
	rep, err := r.in.Run(context.Background(), Request{Kind: "pause", Target: named("mesh-2"), Spec: Spec{Hold: 20 * time.Millisecond}})
	must(t, err)
	if got, want := r.c.callLog(), []string{"pause mesh-2", "unpause mesh-2"}; !slices.Equal(got, want) {
		t.Errorf("docker calls %v, want %v", got, want)
	}
	if got, want := r.ops(t, rep.Fault), []string{"inject", "confirmed", "heal:healed:chaosd"}; !slices.Equal(got, want) {
		t.Errorf("ledger %v, want %v", got, want)
	}
	if rep.Effect.Confirmed.Before(rep.Decided) || rep.Heal.Healing.Confirmed.Before(rep.Effect.Confirmed.Add(20*time.Millisecond)) {
		t.Errorf("times out of order: decided %v, confirmed %v, healed %v", rep.Decided, rep.Effect.Confirmed, rep.Heal.Healing.Confirmed)
	}
	if rep.Effect.Evidence != "state paused" || rep.Heal.Healing.Evidence != "state running" {
		t.Errorf("evidence %q / %q", rep.Effect.Evidence, rep.Heal.Healing.Evidence)
	}
}

func TestKillNeverLeavesThePodDown(t *testing.T) {
	r := newRig(t)
	rep, err := r.in.Run(context.Background(), Request{Kind: "kill", Target: TargetSpec{Mode: PickRandom}, Spec: Spec{Never: true}})
	must(t, err)
	if got := r.c.callLog(); !slices.Equal(got, []string{"kill mesh-1"}) {
		t.Errorf("docker calls %v, want only the kill", got)
	}
	if got := r.ops(t, rep.Fault); !slices.Equal(got, []string{"inject", "confirmed", "heal:left:chaosd"}) {
		t.Errorf("ledger %v", got)
	}
}

func TestSignalDuringHoldHealsAtOnce(t *testing.T) {
	r := newRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel)
	start := time.Now()
	rep, err := r.in.Run(ctx, Request{Kind: "kill", Target: named("mesh-3"), Spec: Spec{Hold: time.Hour}})
	must(t, err)
	if !rep.Interrupted || time.Since(start) > 5*time.Second {
		t.Fatalf("interrupted %v after %s", rep.Interrupted, time.Since(start))
	}
	if got := r.c.callLog(); !slices.Equal(got, []string{"kill mesh-3", "start mesh-3"}) {
		t.Errorf("docker calls %v", got)
	}
	if got := r.ops(t, rep.Fault); !slices.Equal(got, []string{"inject", "confirmed", "heal:healed:signal"}) {
		t.Errorf("ledger %v", got)
	}
}

func TestPartitionFromEverythingRestoresEndpointAndTraffic(t *testing.T) {
	r := newRig(t)
	var connected []string
	d := r.c.docker()
	d.connect = func(netID, id string, cfg *network.EndpointSettings) error {
		connected = append(connected, netID+" "+strings.Join(cfg.Aliases, ","))
		return r.c.docker().NetworkConnect(context.Background(), netID, id, cfg)
	}
	r.in.Deps.Docker, r.in.Healer = d, NewHealer(r.in.Ledger, withDocker(r.in.Deps, d), time.Second)
	rep, err := r.in.Run(context.Background(), Request{Kind: "partition", Target: named("mesh-2"), Spec: Spec{Hold: 10 * time.Millisecond}})
	must(t, err)
	id := r.c.byService("mesh-2").id
	if want := []string{"net-proj_default mesh-2," + id[:12]}; !slices.Equal(connected, want) {
		t.Errorf("reconnected %v, want %v", connected, want)
	}
	for _, want := range []string{"mesh-1", "nats", "postgres", "unreachable (no route)", "host -> mesh-1"} {
		if !strings.Contains(rep.Effect.Evidence, want) {
			t.Errorf("inject evidence lacks %q: %s", want, rep.Effect.Evidence)
		}
	}
	if !strings.Contains(rep.Heal.Healing.Evidence, "resolves mesh-2 to 172.20.0.3") {
		t.Errorf("heal evidence lacks the DNS check: %s", rep.Heal.Healing.Evidence)
	}
}

func TestPartitionFromPeersCutsBothWaysAndHeals(t *testing.T) {
	r := newRig(t)
	rep, err := r.in.Run(context.Background(), Request{Kind: "partition", Target: named("mesh-1"), Spec: Spec{Hold: 10 * time.Millisecond, Peers: []string{"nats"}}})
	must(t, err)
	ev := rep.Effect.Evidence
	for _, want := range []string{"proj_mesh-1_1 -> nats (172.20.0.5:3000): unreachable (dropped by chaosd's output rule)",
		"proj_nats_1 -> proj_mesh-1_1 (172.20.0.2:3000): unreachable (dropped by chaosd's input rule)", "proj_mesh-2_1 -> nats (172.20.0.5:3000): reachable"} {
		if !strings.Contains(ev, want) {
			t.Errorf("inject evidence lacks %q:\n%s", want, ev)
		}
	}
	if present, _, _ := r.net.Rules(r.c.byService("mesh-1").pid); present {
		t.Error("the table is still there after the heal")
	}
	if rep.Heal.Healing.Outcome != Healed || !strings.Contains(rep.Heal.Healing.Evidence, "table chaosd present: false") && !strings.Contains(rep.Heal.Healing.Evidence, "reachable") {
		t.Errorf("heal %+v", rep.Heal.Healing)
	}
}

func TestFailedInjectionIsUndoneAtOnce(t *testing.T) {
	r := newRig(t)
	d := r.c.docker()
	d.pause = func(string) error { return errors.New("daemon hiccup") }
	r.in.Deps.Docker, r.in.Healer = d, NewHealer(r.in.Ledger, withDocker(r.in.Deps, d), time.Second)
	rep, err := r.in.Run(context.Background(), Request{Kind: "pause", Target: named("mesh-2"), Spec: Spec{Hold: time.Hour}})
	if err == nil || !strings.Contains(err.Error(), "daemon hiccup") {
		t.Fatalf("err %v", err)
	}
	if got := r.ops(t, rep.Fault); !slices.Equal(got, []string{"inject", "heal:healed:abort"}) {
		t.Errorf("ledger %v", got)
	}
}

func TestUnconfirmedInjectionIsUndoneAndReported(t *testing.T) {
	r := newRig(t)
	d := r.c.docker()
	d.pause = func(string) error { return nil } // says yes, does nothing
	r.in.Deps.Docker, r.in.Healer = d, NewHealer(r.in.Ledger, withDocker(r.in.Deps, d), time.Second)
	_, err := r.in.Run(context.Background(), Request{Kind: "pause", Target: named("mesh-2"), Spec: Spec{Hold: time.Hour}})
	if err == nil || !strings.Contains(err.Error(), "not confirmed within") {
		t.Fatalf("err %v", err)
	}
}

// The watchdog heals a fault whose injection is still under way (its deadline came
// first: seen on 30 pods whose pause waited out a health probe), finding nothing to
// undo; the pause then lands. The injector sees the entry closed and undoes it again
// through a new ledger entry: nothing is left paused.
func TestInjectionLandingAfterTheWatchdogsHealIsUndoneAgain(t *testing.T) {
	r := newRig(t)
	d := r.c.docker()
	d.pause = func(id string) error {
		st, err := r.in.Ledger.Read()
		must(t, err)
		open := st.Open()
		if len(open) != 1 {
			t.Fatalf("open faults %d, want 1", len(open))
		}
		rep, err := r.in.Healer.Heal(context.Background(), open[0].ID(), ByWatchdog)
		if err != nil || rep.Healing.Evidence != "not paused (nothing to undo)" {
			t.Fatalf("watchdog heal: %v, %+v", err, rep.Healing)
		}
		return r.c.set(id, "pause", func(b *fakeBox) { b.state = "paused" })
	}
	r.in.Deps.Docker, r.in.Healer = d, NewHealer(r.in.Ledger, withDocker(r.in.Deps, d), time.Second)
	rep, err := r.in.Run(context.Background(), Request{Kind: "pause", Target: named("mesh-2"), Spec: Spec{Hold: 50 * time.Millisecond}})
	if err == nil || !strings.Contains(err.Error(), "healed by watchdog before its injection ended") {
		t.Fatalf("err %v", err)
	}
	if got, want := r.c.callLog(), []string{"pause mesh-2", "unpause mesh-2"}; !slices.Equal(got, want) {
		t.Errorf("docker calls %v, want %v", got, want)
	}
	if st := r.c.byService("mesh-2").state; st != "running" {
		t.Errorf("mesh-2 is %s, want running", st)
	}
	if got := r.ops(t, rep.Fault); !slices.Equal(got, []string{"inject", "heal:healed:watchdog"}) {
		t.Errorf("ledger %v", got)
	}
	if got := r.ops(t, rep.Fault+"-again"); !slices.Equal(got, []string{"inject", "heal:healed:abort"}) {
		t.Errorf("ledger of the undo %v", got)
	}
	st, err := r.in.Ledger.Read()
	must(t, err)
	if open := st.Open(); len(open) != 0 {
		t.Errorf("%d faults left open", len(open))
	}
}

// A pause's plan counts the wait for a health probe to end (up to two intervals and a
// second) and its confirmation in Takes, so that the inject record's deadline, when
// the watchdog heals, does not come while the pause is still to be sent.
func TestPausePlanCountsTheHealthProbeWait(t *testing.T) {
	for _, tc := range []struct {
		healthcheck bool
		want        time.Duration
	}{{true, 2*30*time.Second + time.Second + DefaultTiming.Confirm}, {false, 0}} {
		d := &probingDocker{start: time.Now(), interval: 30 * time.Second, took: time.Second, healthcheck: tc.healthcheck}
		pl, err := (&Pause{c: d, t: DefaultTiming}).Plan(context.Background(), Member{Target: Target{ID: "c1", Pod: "mesh-1"}}, Spec{Hold: 10 * time.Second})
		must(t, err)
		if pl.Takes != tc.want {
			t.Errorf("health check %v: Takes %s, want %s", tc.healthcheck, pl.Takes, tc.want)
		}
	}
}

func TestVanishedTargetIsUnknownNeverHealed(t *testing.T) {
	r := newRig(t)
	id := r.c.byService("mesh-2").id
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The container vanishes once the pause is confirmed (not after a fixed time,
	// which a loaded machine can outrun before the injection), then chaosd is told
	// to stop.
	r.in.OnStep = func(step string, _ *Report) {
		if step != StepInjected {
			return
		}
		r.c.mu.Lock()
		delete(r.c.boxes, id)
		r.c.mu.Unlock()
		cancel()
	}
	rep, err := r.in.Run(ctx, Request{Kind: "pause", Target: named("mesh-2"), Spec: Spec{Hold: time.Hour}})
	if !errors.Is(err, ErrNotHealed) || rep.Heal.Healing.Outcome != Unknown || !strings.Contains(rep.Heal.Healing.Evidence, "vanished") {
		t.Fatalf("err %v, heal %+v", err, rep.Heal.Healing)
	}
	if got := r.ops(t, rep.Fault); !slices.Equal(got, []string{"inject", "confirmed", "heal:unknown:signal"}) {
		t.Errorf("ledger %v", got)
	}
}

func TestDryRunTouchesNothing(t *testing.T) {
	r := newRig(t)
	path := filepath.Join(t.TempDir(), "never-created.jsonl")
	r.in.Ledger, r.in.Path = nil, path
	rep, err := r.in.Run(context.Background(), Request{Kind: "partition", Target: named("mesh-3"), Spec: Spec{Hold: time.Minute}, DryRun: true})
	must(t, err)
	if calls := r.c.callLog(); len(calls) != 0 {
		t.Errorf("a dry run called %v", calls)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a dry run created the ledger: %v", err)
	}
	if !strings.Contains(rep.Plan.Does, "disconnect proj_mesh-3_1 from proj_default") || len(rep.Plan.Undo) == 0 {
		t.Errorf("plan %+v", rep.Plan)
	}
}

type watchdogFunc func(fault string) (string, error)

func (f watchdogFunc) Arm(_ context.Context, fault string) (string, error) { return f(fault) }

func TestNoWatchdogNoFault(t *testing.T) {
	r := newRig(t)
	r.in.Watchdog = watchdogFunc(func(string) (string, error) { return "", errors.New("fork: resource temporarily unavailable") })
	_, err := r.in.Run(context.Background(), Request{Kind: "pause", Target: named("mesh-2"), Spec: Spec{Hold: time.Hour}})
	if err == nil || !strings.Contains(err.Error(), "not injected: fork") {
		t.Fatalf("err %v", err)
	}
	st, _ := r.in.Ledger.Read()
	if len(st.Order) != 0 || len(r.c.callLog()) != 0 {
		t.Fatalf("recorded %d faults, docker calls %v", len(st.Order), r.c.callLog())
	}
}

func TestWatchdogIsArmedBeforeTheRecord(t *testing.T) {
	r := newRig(t)
	var seen int
	r.in.Watchdog = watchdogFunc(func(fault string) (string, error) {
		st, _ := r.in.Ledger.Read()
		seen = len(st.Order)
		return "pid 1", nil
	})
	rep, err := r.in.Run(context.Background(), Request{Kind: "pause", Target: named("mesh-2"), Spec: Spec{Hold: time.Millisecond}})
	must(t, err)
	if seen != 0 || rep.Watchdog != "pid 1" {
		t.Fatalf("the ledger held %d faults when the watchdog was armed; report %q", seen, rep.Watchdog)
	}
}

func TestSkipLabelledContainersAreNotEvenProbed(t *testing.T) {
	r := newRig(t)
	skip := r.c.byService("mesh-3")
	skip.labels[LabelSkip] = "true"
	probed := map[string]bool{}
	var mu sync.Mutex
	r.net.probe = func(pid int, addr netip.AddrPort) netns.Reach {
		mu.Lock()
		probed[addr.Addr().String()] = true
		mu.Unlock()
		return r.net.reach(pid, addr.Addr())
	}
	for _, peers := range [][]string{nil, {PeersPods}} {
		rep, err := r.in.Run(context.Background(), Request{Kind: "partition", Target: named("mesh-1"), Spec: Spec{Hold: time.Millisecond, Peers: peers}})
		must(t, err)
		if strings.Contains(rep.Plan.Does, "mesh-3") || probed[skip.ip.String()] {
			t.Errorf("peers %v: plan %q, probed the skip-labelled mesh-3: %v", peers, rep.Plan.Does, probed[skip.ip.String()])
		}
	}
}

// After a heal, every probe answers only every other time, each at its own turn, so
// that no attempt sees every peer at once (a loaded machine with many peers). The
// heal is confirmed all the same, each peer having answered once since it began; and
// a peer that never answers leaves it unconfirmed, named.
func TestPartitionHealConfirmedByEachPeerOnce(t *testing.T) {
	for _, peers := range [][]string{nil, {PeersPods}} { // from all (disconnect), from the pods (filter)
		for _, deaf := range []bool{false, true} {
			r := newRig(t)
			var healing atomic.Bool
			r.in.OnStep = func(step string, _ *Report) {
				if step == StepInjected {
					healing.Store(true)
				}
			}
			var mu sync.Mutex
			calls := map[string]int{}
			mute := r.c.byService("mesh-2").ip
			r.net.probe = func(pid int, addr netip.AddrPort) netns.Reach {
				reach := r.net.reach(pid, addr.Addr())
				if !healing.Load() || !reach.Reachable {
					return reach
				}
				if deaf && addr.Addr() == mute {
					return netns.Reach{Detail: "no answer (deaf)"}
				}
				key := fmt.Sprint(pid, addr)
				mu.Lock()
				calls[key]++
				n := calls[key] + pid + int(addr.Addr().As4()[3])
				mu.Unlock()
				if n%2 == 0 {
					return netns.Reach{Detail: "no answer (flaky)"}
				}
				return reach
			}
			rep, err := r.in.Run(context.Background(), Request{Kind: "partition", Target: named("mesh-1"), Spec: Spec{Hold: time.Millisecond, Peers: peers}})
			h := rep.Heal.Healing
			if !deaf {
				if err != nil || h.Outcome != Healed || h.Confirmed.IsZero() {
					t.Errorf("peers %v, flaky probes: err %v, heal %s confirmed %v: %s", peers, err, h.Outcome, h.Confirmed, h.Evidence)
				}
				continue
			}
			if err == nil || h.Outcome == Healed || !strings.Contains(h.Evidence, "no answer (deaf)") {
				t.Errorf("peers %v, mesh-2 never answers: err %v, heal %s: %s", peers, err, h.Outcome, h.Evidence)
			}
		}
	}
}
