//go:build e2e

package faults_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/chaosd/chaosd/faults"
	"github.com/chaosd/chaosd/faults/netns"
)

// Crash safety: chaosd is SIGKILLed at a random moment of a fault, CHAOSD_E2E_CRASHES
// times (default 20) per kind and per way of healing: by `chaosd recover` right after,
// or by nothing but the watchdog, which must heal by the deadline. Every crash must
// leave nothing behind. The figures are logged (go test -v) per kind.
func TestE2ECrashLoop(t *testing.T) {
	n := 20
	if v, err := strconv.Atoi(os.Getenv("CHAOSD_E2E_CRASHES")); err == nil && v > 0 {
		n = v
	}
	const hold = 1500 * time.Millisecond
	kinds := []struct {
		name string
		args func(i int) []string
	}{
		{"kill", func(int) []string { return []string{"--fault=kill", "--down-for=" + hold.String()} }},
		{"pause", func(int) []string { return []string{"--fault=pause", "--duration=" + hold.String()} }},
		{"partition", func(i int) []string { // alternately from everything and from peers
			if i%2 == 0 {
				return []string{"--fault=partition", "--duration=" + hold.String()}
			}
			return []string{"--fault=partition", "--peers=nats,postgres", "--duration=" + hold.String()}
		}},
	}
	var summary []string
	for _, k := range kinds {
		for _, mode := range []string{"recover", "watchdog"} {
			t.Run(k.name+"/"+mode, func(t *testing.T) {
				tl := crashLoop(t, n, hold, k.args, mode)
				line := fmt.Sprintf("%-9s by %-8s %d/%d crashes healed (%s)%s", k.name, mode, tl.healed, tl.crashes, tl.phases(), tl.lateness())
				summary = append(summary, line)
				t.Log(line)
				if tl.healed != tl.crashes {
					t.Errorf("%d of %d crashes left something behind", tl.crashes-tl.healed, tl.crashes)
				}
			})
		}
	}
	t.Logf("crash loop, %d crashes per kind and way:\n  %s", n, strings.Join(summary, "\n  "))
}

type tally struct {
	crashes, healed, finished int
	phase                     map[string]int
	late                      []time.Duration // watchdog heal start minus deadline
	took                      []time.Duration // watchdog heal, start to confirmed
}

func (tl *tally) phases() string {
	var ps []string
	for p, c := range tl.phase {
		ps = append(ps, fmt.Sprintf("%s %d", p, c))
	}
	sort.Strings(ps)
	return strings.Join(ps, ", ")
}

func (tl *tally) lateness() string {
	if len(tl.late) == 0 {
		return ""
	}
	return fmt.Sprintf("; watchdog began healing %s after the deadline (for a crash mid-injection: after the settle), confirmed %s later (median/max)", medMax(tl.late), medMax(tl.took))
}

func medMax(ds []time.Duration) string {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return fmt.Sprintf("%s/%s", ds[len(ds)/2].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
}

func crashLoop(t *testing.T, n int, hold time.Duration, args func(int) []string, mode string) *tally {
	tl := &tally{phase: map[string]int{}}
	for i := 0; tl.crashes < n; i++ {
		ledger := ledgerPath(t)
		p := start(t, ledger, append(args(i), "--pod="+victim)...)
		time.Sleep(crashMoment(i, hold))
		if p.exited() {
			tl.finished++ // done before the kill: not a crash
			assertClean(t, victim, ledger)
			continue
		}
		_ = p.cmd.Process.Kill()
		p.wait(t, 10*time.Second)
		tl.crashes++
		phase := phaseOf(ledger)
		tl.phase[phase]++
		problems := heal(t, ledger, mode, tl)
		if len(problems) == 0 {
			tl.healed++
		} else {
			t.Errorf("crash %d (%s, %s): left behind: %s", tl.crashes, strings.Join(args(i), " "), phase, strings.Join(problems, "; "))
			restore(t, ledger, victim) // so that the next rounds start clean
		}
		waitReady(t, victim, 30*time.Second)
	}
	return tl
}

// crashMoment is when to SIGKILL chaosd: every other time within its first 200 ms (start-up,
// recording, injection), else anywhere up to just past the hold.
func crashMoment(i int, hold time.Duration) time.Duration {
	if i%2 == 1 {
		return time.Duration(rand.Int64N(int64(200 * time.Millisecond)))
	}
	return time.Duration(rand.Int64N(int64(hold + 200*time.Millisecond)))
}

// phaseOf says where the crash landed, from the ledger it left.
func phaseOf(ledger string) string {
	st, err := faults.ReadLedger(ledger)
	if err != nil || len(st.Order) == 0 {
		return "before recording"
	}
	e := st.Get(st.Order[0])
	switch {
	case !e.Open():
		return "after the heal"
	case e.Confirmed == nil:
		return "injecting"
	}
	return "holding"
}

// settle is faults.settle of the default configuration.
const settle = 3 * time.Second

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// heal lets recover or the watchdog heal, and returns what is left behind.
func heal(t *testing.T, ledger, mode string, tl *tally) []string {
	t.Helper()
	if mode == "recover" {
		r := run(t, ledger, "recover")
		if r.code != 0 {
			return []string{"recover: " + r.String()}
		}
		return clean(t, victim, ledger)
	}
	st, _ := faults.ReadLedger(ledger)
	if len(st.Order) == 0 {
		return clean(t, victim, ledger) // nothing was recorded, so nothing was injected
	}
	e := st.Get(st.Order[0])
	if e.Open() {
		st = waitLedger(t, ledger, time.Until(e.Deadline)+10*time.Second, func(s *faults.State) bool { return !s.Get(e.ID()).Open() })
		e = st.Get(e.ID())
		if e.Heal.By != faults.ByWatchdog {
			return []string{"closed by " + e.Heal.By + ", not the watchdog"}
		}
		due := e.Deadline
		if e.Confirmed == nil { // crashed mid-injection: healed once a call in flight has landed
			due = later(due, e.Inject.At.Add(settle))
		}
		late, took := e.Heal.Started.Sub(due), e.Heal.At.Sub(e.Heal.Started)
		tl.late, tl.took = append(tl.late, late), append(tl.took, took)
		if late > time.Second || late < 0 {
			return []string{fmt.Sprintf("the watchdog began healing %s after the deadline", late)}
		}
	}
	return clean(t, victim, ledger)
}

// restore puts name back by hand after a failed round: recover --force, then whatever
// is still wrong (paused, stopped, off its network, filtered).
func restore(t *testing.T, ledger, name string) {
	t.Helper()
	run(t, ledger, "recover", "--force")
	ctx := context.Background()
	id := suite.base[name].id
	ci := inspect(t, name)
	if ci.State.Paused {
		_ = suite.dc.ContainerUnpause(ctx, id)
	}
	if !ci.State.Running {
		_ = suite.dc.ContainerStart(ctx, id, container.StartOptions{})
	}
	for n, aliases := range suite.base[name].aliases {
		if inspect(t, name).NetworkSettings.Networks[n] == nil {
			_ = suite.dc.NetworkConnect(ctx, n, id, &network.EndpointSettings{Aliases: aliases})
		}
	}
	if pid := inspect(t, name).State.Pid; pid > 0 {
		_ = netns.Uncut(pid)
	}
}
