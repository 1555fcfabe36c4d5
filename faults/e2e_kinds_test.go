//go:build e2e

package faults_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	"github.com/chaosd/chaosd/faults"
	"github.com/chaosd/chaosd/probes"
)

const victim = "mesh-2"

// Each kind against a real pod: applied and confirmed (checked here too, independently),
// held, healed and confirmed, nothing left behind.
func TestE2EKinds(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		during func(t *testing.T)
	}{
		{"kill", []string{"--fault=kill", "--down-for=2s"}, func(t *testing.T) {
			if ci := inspect(t, victim); ci.State.Running || ci.State.ExitCode != 137 {
				t.Errorf("running %v, exit code %d; want killed (137)", ci.State.Running, ci.State.ExitCode)
			}
		}},
		{"stop", []string{"--fault=stop", "--down-for=2s"}, func(t *testing.T) {
			if ci := inspect(t, victim); ci.State.Running || ci.State.ExitCode == 137 {
				t.Errorf("running %v, exit code %d; want stopped by its SIGTERM, not SIGKILLed", ci.State.Running, ci.State.ExitCode)
			}
		}},
		{"stop-past-grace", []string{"--fault=stop", "--down-for=2s", "--grace=1ms"}, func(t *testing.T) {
			if ci := inspect(t, victim); ci.State.Running {
				t.Error("still running")
			}
		}},
		{"pause", []string{"--fault=pause", "--duration=2s"}, func(t *testing.T) {
			if ci := inspect(t, victim); !ci.State.Paused {
				t.Error("not paused")
			}
			if ready(t, victim) {
				t.Error("a paused pod answered /health/ready")
			}
		}},
		{"partition-all", []string{"--fault=partition", "--duration=2s"}, func(t *testing.T) {
			if n := len(inspect(t, victim).NetworkSettings.Networks); n != 0 {
				t.Errorf("still on %d networks", n)
			}
			expectReach(t, victim, "postgres", false)
			expectReach(t, victim, "mesh-1", false)
			expectReach(t, "mesh-1", "postgres", true)
		}},
		{"partition-nats", []string{"--fault=partition", "--peers=nats", "--duration=2s"}, cutFrom("nats", "postgres")},
		{"partition-postgres", []string{"--fault=partition", "--peers=postgres", "--duration=2s"}, cutFrom("postgres", "nats")},
		{"partition-mockai", []string{"--fault=partition", "--peers=mockai", "--duration=2s"}, cutFrom("mockai", "postgres")},
		{"partition-pods", []string{"--fault=partition", "--peers=pods", "--duration=2s"}, func(t *testing.T) {
			cutFrom("mesh-1", "postgres")(t)
			expectReach(t, victim, "mesh-3", false)
			expectReach(t, "mesh-3", victim, false)
			expectReach(t, "mesh-1", "mesh-3", true)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ledger := ledgerPath(t)
			p := start(t, ledger, append(c.args, "--pod="+victim)...)
			waitLedger(t, ledger, 15*time.Second, confirmed)
			c.during(t)
			p.wait(t, time.Minute)
			if p.code != 0 || !strings.Contains(p.out.String(), "outcome   healed (by chaosd)") {
				t.Fatalf("chaosd %s", p)
			}
			for _, want := range []string{"injected", "confirmed", "healed", "none unexpected", evidence[c.name]} {
				if !strings.Contains(p.out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, p.out.String())
				}
			}
			assertClean(t, victim, ledger)
			waitReady(t, victim, 30*time.Second)
			t.Logf("chaosd said:\n%s", p.out.String())
		})
	}
}

// evidence is what chaosd must say of a kind's effect, beyond the steps.
var evidence = map[string]string{
	"kill":            "state exited, exit code 137",
	"stop":            "exited within its 10s grace; state exited, exit code ",
	"stop-past-grace": "1ms grace", // SIGKILLed, or (rarely) exited just as it ran out
}

var pods = []string{"mesh-1", "mesh-2", "mesh-3"}

// A rollout restarts every pod in turn, by name, one down at a time, each ready again
// before the next one goes; the skip-labelled decoy and the infrastructure are left
// alone (TestMain checks the decoys).
func TestE2EKindsRollout(t *testing.T) {
	before := map[string]string{}
	for _, pod := range pods {
		before[pod] = inspect(t, pod).State.StartedAt
	}
	lifecycle := watchPods(t)
	ledger := ledgerPath(t)
	p := run(t, ledger, "--fault=rollout", "--duration=1s")
	seen := lifecycle()
	out := p.out.String()
	if p.code != 0 || !strings.Contains(out, "rollout every pod (mesh-1, mesh-2, mesh-3): restart mesh-1, mesh-2, mesh-3 in turn") ||
		!strings.Contains(out, "outcome   healed (by chaosd)") || !strings.Contains(out, "none unexpected") {
		t.Fatalf("chaosd %s", p)
	}
	var want []string
	for _, pod := range pods {
		want = append(want, pod+" die", pod+" start")
		if !strings.Contains(out, pod+": exited within its 10s grace; state exited, exit code ") || !strings.Contains(out, pod+": already running (nothing to undo)") {
			t.Errorf("output lacks %s's restart, or its heal:\n%s", pod, out)
		}
		if inspect(t, pod).State.StartedAt == before[pod] {
			t.Errorf("%s was not restarted", pod)
		}
		assertClean(t, pod, ledger)
		waitReady(t, pod, 30*time.Second)
	}
	if !slices.Equal(seen, want) {
		t.Errorf("pods died and started %v, want %v: one down at a time, by name", seen, want)
	}
	t.Logf("chaosd said:\n%s", out)
}

// A signal during a rollout stops it there and heals at once: every pod runs again.
func TestE2EKindsRolloutSignal(t *testing.T) {
	lifecycle := watchPods(t)
	ledger := ledgerPath(t)
	p := start(t, ledger, "--fault=rollout", "--duration=30s")
	deadline := time.Now().Add(time.Minute)
	for !slices.Contains(lifecycle(), "mesh-1 start") {
		if time.Now().After(deadline) || p.exited() {
			t.Fatalf("mesh-1 was not restarted: chaosd %s", p)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitReady(t, "mesh-1", 30*time.Second)
	time.Sleep(time.Second)                  // chaosd sees it ready too
	_ = p.cmd.Process.Signal(syscall.SIGINT) // during the pause after mesh-1
	p.wait(t, time.Minute)
	if p.code != 2 || !strings.Contains(p.out.String(), "outcome   healed (by abort)") || !strings.Contains(p.err.String(), "rollout stopped before mesh-2") {
		t.Fatalf("chaosd %s", p)
	}
	for _, pod := range pods {
		assertClean(t, pod, ledger)
	}
	if seen := lifecycle(); slices.Contains(seen, "mesh-2 die") {
		t.Errorf("mesh-2 was stopped after the signal: %v", seen)
	}
}

// watchPods records the die and start events of the pods, in order, as "mesh-1 die";
// the returned function gives those seen so far.
func watchPods(t *testing.T) func() []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	names := map[string]string{}
	for _, pod := range pods {
		names[suite.base[pod].id] = pod
	}
	f := filters.NewArgs(filters.Arg("type", "container"), filters.Arg("event", "die"), filters.Arg("event", "start"),
		filters.Arg("label", faults.LabelProject+"="+suite.project))
	msgs, errs := suite.dc.Events(ctx, events.ListOptions{Filters: f})
	var mu sync.Mutex
	var seen []string
	go func() {
		for {
			select {
			case m := <-msgs:
				if pod, ok := names[m.Actor.ID]; ok {
					mu.Lock()
					seen = append(seen, pod+" "+string(m.Action))
					mu.Unlock()
				}
			case <-errs:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	time.Sleep(100 * time.Millisecond) // the subscription is live
	return func() []string {
		time.Sleep(200 * time.Millisecond) // events on their way
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}

// cutFrom checks a filter partition from peer: gone both ways, other remains, and a
// witness still reaches peer.
func cutFrom(peer, other string) func(t *testing.T) {
	return func(t *testing.T) {
		expectReach(t, victim, peer, false)
		expectReach(t, peer, victim, false)
		expectReach(t, victim, other, true)
		expectReach(t, "mesh-3", peer, true)
	}
}

func expectReach(t *testing.T, from, to string, want bool) {
	t.Helper()
	if got := reach(t, from, addr(t, to)); got != want {
		t.Errorf("%s -> %s reachable %v, want %v", from, to, got, want)
	}
}

// A first SIGINT heals at once; a second one exits at once, leaving the fault open in
// the ledger for chaosd recover.
func TestE2ESignals(t *testing.T) {
	t.Run("first heals", func(t *testing.T) {
		ledger := ledgerPath(t)
		p := start(t, ledger, "--fault=pause", "--pod="+victim, "--duration=1m")
		waitLedger(t, ledger, 15*time.Second, confirmed)
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		p.wait(t, 10*time.Second)
		if p.code != 2 || !strings.Contains(p.out.String(), "outcome   healed (by signal)") {
			t.Fatalf("chaosd %s", p)
		}
		assertClean(t, victim, ledger)
	})
	t.Run("second exits", func(t *testing.T) {
		ledger := ledgerPath(t)
		// A kill: its heal (starting the container) takes long enough for the second
		// signal to land while it runs. Two signals sent at once would merge into one.
		p := start(t, ledger, "--fault=kill", "--pod="+victim, "--down-for=1m")
		waitLedger(t, ledger, 15*time.Second, confirmed)
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		time.Sleep(20 * time.Millisecond)
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		p.wait(t, 10*time.Second)
		st, _ := faults.ReadLedger(ledger)
		if p.code != 130 || len(st.Open()) != 1 || !strings.Contains(p.err.String(), "second signal: exiting now") {
			t.Fatalf("want exit 130 with the fault left open; got %d open, chaosd %s", len(st.Open()), p)
		}
		r := run(t, ledger, "recover")
		if r.code != 0 || !strings.Contains(r.out.String(), "healed by recover") {
			t.Fatalf("recover %s", r)
		}
		assertClean(t, victim, ledger)
		waitReady(t, victim, 30*time.Second)
	})
}

// The never-touch rules: a decoy outside the selector cannot be named, a skip-labelled
// one is refused by name and never picked at random, and the blast radius holds across
// chaosd processes sharing a ledger.
func TestE2ERefusals(t *testing.T) {
	ledger := ledgerPath(t)
	for target, want := range map[string]string{
		"chaosd-ft-decoy":      `no container named "chaosd-ft-decoy" in the selector`,
		"chaosd-ft-decoy-skip": "refusing decoy-skip: it is labelled chaosd.skip=true",
	} {
		p := run(t, ledger, "--fault=kill", "--pod="+target, "--down-for=1s")
		if p.code != 2 || !strings.Contains(p.err.String(), want) {
			t.Errorf("--target=%s: %s", target, p)
		}
	}
	for range 5 {
		p := run(t, ledger, "--fault=pause-random", "--dry-run")
		if p.code != 0 || strings.Contains(p.out.String(), "decoy") || !strings.Contains(p.out.String(), "nothing was touched") {
			t.Errorf("random dry run: %s", p)
		}
	}
	holder := start(t, ledger, "--fault=pause", "--pod=mesh-1", "--duration=1m")
	waitLedger(t, ledger, 15*time.Second, confirmed)
	// A second chaosd on the same target is refused at once by the target's instance
	// lock, naming the one that holds it, before it could count the blast radius.
	second := run(t, ledger, "--fault=pause", "--pod=mesh-3", "--duration=1s")
	_ = holder.cmd.Process.Signal(syscall.SIGTERM)
	holder.wait(t, 10*time.Second)
	if want := fmt.Sprintf("another chaosd acts on target %s: pid %d (", suite.project, holder.cmd.Process.Pid); second.code != 2 ||
		!strings.Contains(second.err.String(), want) || !strings.Contains(second.err.String(), "nothing was injected") {
		t.Errorf("second chaosd on the target: want exit 2 and %q: %s", want, second)
	}
	assertClean(t, "mesh-1", ledger)
	assertClean(t, "mesh-3", ledger)
}

// A dry run touches nothing: no container changes, no ledger file.
func TestE2EDryRun(t *testing.T) {
	ledger := ledgerPath(t)
	before := inspect(t, victim)
	p := run(t, ledger, "--fault=partition", "--pod="+victim, "--dry-run")
	if p.code != 0 || !strings.Contains(p.out.String(), "dry run: would disconnect") || !strings.Contains(p.out.String(), "nothing was touched") {
		t.Fatalf("chaosd %s", p)
	}
	if _, err := os.Stat(ledger); !os.IsNotExist(err) {
		t.Errorf("the dry run created the ledger (%v)", err)
	}
	after := inspect(t, victim)
	if after.State.StartedAt != before.State.StartedAt || len(after.NetworkSettings.Networks) != len(before.NetworkSettings.Networks) {
		t.Error("the dry run changed the target")
	}
}

// A pause chaosd did not cause, during a fault, is reported as unexpected.
func TestE2EUnexpectedEvents(t *testing.T) {
	ledger := ledgerPath(t)
	p := start(t, ledger, "--fault=partition", "--peers=nats", "--pod="+victim, "--duration=3s")
	waitLedger(t, ledger, 15*time.Second, confirmed)
	other := suite.base["mesh-3"].id
	ctx := context.Background()
	if err := suite.dc.ContainerPause(ctx, other); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if err := suite.dc.ContainerUnpause(ctx, other); err != nil {
		t.Fatal(err)
	}
	p.wait(t, time.Minute)
	if p.code != 0 || !strings.Contains(p.out.String(), "UNEXPECTED "+suite.base["mesh-3"].name+" pause") {
		t.Fatalf("chaosd %s", p)
	}
	assertClean(t, victim, ledger)
}

// Owner targeting hurts the pod Postgres names as the owner of the newest in-progress
// run: runs are started on mesh-3, then on mesh-2 (while the first still runs), so the
// owner is neither the first pod nor a constant.
func TestE2EOwnerTargeting(t *testing.T) {
	for _, pod := range []string{"mesh-3", "mesh-2"} {
		t.Run("run on "+pod, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			pg := startRun(ctx, t, pod)
			owner := pg.ownerAt(ctx, t, time.Now())
			ledger := ledgerPath(t)
			p := run(t, ledger, "--fault=pause-owner", "--duration=1s", "--owner-wait=20s")
			if p.code != 0 {
				t.Fatalf("chaosd %s", p)
			}
			st, _ := faults.ReadLedger(ledger)
			if len(st.Order) != 1 {
				t.Fatalf("%d faults in the ledger", len(st.Order))
			}
			e := st.Get(st.Order[0])
			if after := pg.ownerAt(ctx, t, time.Now()); after != owner {
				t.Fatalf("the owner changed during the test (%s, then %s)", owner, after)
			}
			if e.Target().Pod != owner || !strings.Contains(p.out.String(), "owner of run "+pg.thread+" per Postgres") {
				t.Fatalf("paused %s, Postgres named %s as the owner of %s\n%s", e.Target().Pod, owner, pg.thread, p)
			}
			t.Logf("run started on %s; Postgres named %s the owner of %s; chaosd paused %s", pod, owner, pg.thread, e.Target().Pod)
			assertClean(t, owner, ledger)
		})
	}
}

// ownerRun is one slow run and its owners as Postgres recorded them.
type ownerRun struct {
	thread string
	seen   []ownerSeen
}

type ownerSeen struct {
	at    time.Time
	owner string
}

// startRun starts a slow run on pod and waits until Postgres names its owner.
func startRun(ctx context.Context, t *testing.T, name string) *ownerRun {
	t.Helper()
	pod := podURL(t, name)
	ten, err := suite.drv.Bootstrap(ctx, pod, probesBootstrap())
	if err != nil {
		t.Fatalf("bootstrap a tenant: %v (is this the bundled cluster with the testbed?)", err)
	}
	r := &ownerRun{thread: newThreadID()}
	if err := suite.drv.CreateThread(ctx, pod, ten, r.thread); err != nil {
		t.Fatal(err)
	}
	if _, err := suite.drv.StartRun(ctx, pod, ten, r.thread, "slow:60x100"); err != nil {
		t.Fatal(err)
	}
	r.ownerAt(ctx, t, time.Now())
	return r
}

// ownerAt reads the run's owner from Postgres now (at is for the message).
func (r *ownerRun) ownerAt(ctx context.Context, t *testing.T, at time.Time) string {
	t.Helper()
	pg := postgres(ctx, t)
	defer pg.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := pg.Thread(ctx, r.thread)
		if err == nil && st.Owner != "" {
			r.seen = append(r.seen, ownerSeen{at: st.At, owner: st.Owner})
			return st.Owner
		}
		if time.Now().After(deadline) {
			t.Fatalf("Postgres names no owner for %s (around %s): %+v, %v", r.thread, at.Format(time.TimeOnly), st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func probesBootstrap() probes.BootstrapOptions {
	return probes.BootstrapOptions{ProviderBaseURL: env("CHAOSD_PROVIDER_URL", "http://mockai:9000/v1"), Name: fmt.Sprintf("faults-e2e-%d", time.Now().UnixMilli()%1e8)}
}

func newThreadID() string { return probes.NewThreadID("faults") }

func postgres(ctx context.Context, t *testing.T) *probes.Postgres {
	t.Helper()
	pg, err := probes.NewPostgres(ctx, probes.PostgresConfig{DSN: env("CHAOSD_DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:15432/postgres?sslmode=disable")})
	if err != nil {
		t.Fatal(err)
	}
	return pg
}
