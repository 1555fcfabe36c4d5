//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosd/chaosd/faults"
)

// Issue 16: two clusters, two chaosd, one host. The bundled phase's cluster (project
// chaosd, booted by scripts/e2e.sh) gets a soak while a second bundled cluster,
// booted here as project chaosd-twin on ports 200 above the bundled ones, gets
// --fault one-shots at the same time; each chaosd is configured by nothing but what
// `deploy/cluster.sh env` prints for its cluster, so each uses its target's own
// ledger (/var/lib/chaosd/<project>/ledger.jsonl). Then: each ledger holds only its
// own faults, every fault was healed by the chaosd that held it at its deadline (none
// early), both verdicts pass, and a second chaosd on the soak's cluster is refused at
// once, naming the soak.
//
//	CHAOSD_E2E_RUN='^TestE2ETwoClusters$' scripts/e2e.sh   (with CHAOSD_E2E_PHASES=bundled)
const (
	twinProject = "chaosd-twin"
	twinOffset  = 200
)

func TestE2ETwoClusters(t *testing.T) {
	root := repoRoot(t)
	bin := chaosdBin(t)
	twin := []string{"CHAOSD_PROJECT=" + twinProject, "CHAOSD_SKIP_BUILD=1",
		fmt.Sprintf("CHAOSD_PG_PORT=%d", 15432+twinOffset), fmt.Sprintf("CHAOSD_NATS_PORT=%d", 14222+twinOffset),
		fmt.Sprintf("CHAOSD_NATS_MONITOR_PORT=%d", 18222+twinOffset), fmt.Sprintf("CHAOSD_MOCKAI_PORT=%d", 19000+twinOffset)}
	for i := 1; i <= 3; i++ {
		twin = append(twin, fmt.Sprintf("CHAOSD_POD%d_PORT=%d", i, 13000+twinOffset+i))
	}
	cluster := func(within time.Duration, env []string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), within)
		defer cancel()
		c := exec.CommandContext(ctx, "deploy/cluster.sh", args...)
		c.Dir = root
		c.Env = append(twinEnv(), env...)
		var stderr bytes.Buffer
		c.Stderr = &stderr
		out, err := c.Output()
		if err != nil {
			t.Fatalf("deploy/cluster.sh %v (%v): %v\n%s%s", args, env, err, out, stderr.String())
		}
		return string(out)
	}
	cluster(6*time.Minute, twin, "up")
	if os.Getenv("CHAOSD_E2E_KEEP") != "1" {
		t.Cleanup(func() { cluster(2*time.Minute, twin, "down") })
	}
	// What `eval "$(deploy/cluster.sh env)"` would export, and nothing else of chaosd's.
	envOf := func(script string) []string {
		env := twinEnv()
		for _, line := range strings.Split(script, "\n") {
			line = strings.TrimSpace(line)
			if k, v, ok := strings.Cut(line, "="); ok && strings.HasPrefix(k, "CHAOSD_") {
				env = append(env, k+"="+strings.Trim(v, "'"))
			}
		}
		return append(env, "CHAOSD_LOG_LEVEL=warn")
	}
	envA := envOf(cluster(30*time.Second, nil, "env"))
	envB := envOf(cluster(30*time.Second, twin, "env"))
	ledgerA := "/var/lib/chaosd/chaosd/ledger.jsonl"
	ledgerB := "/var/lib/chaosd/" + twinProject + "/ledger.jsonl"
	beforeA, beforeB := faultIDs(t, ledgerA), faultIDs(t, ledgerB)

	// The soak on A, in the background.
	dirA := t.TempDir()
	soakCtx, cancelSoak := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancelSoak()
	soak := exec.CommandContext(soakCtx, bin, "soak", "--duration=150s", "--warmup=15s", "--cooldown=45s",
		"--schedule=kill=@every 30s", "--metrics-addr=127.0.0.1:0", "--progress=log")
	soak.Dir, soak.Env = dirA, envA
	var soakOut bytes.Buffer
	soak.Stdout, soak.Stderr = &soakOut, &soakOut
	if err := soak.Start(); err != nil {
		t.Fatal(err)
	}
	soakDone := make(chan error, 1)
	go func() { soakDone <- soak.Wait() }()

	// Once the soak holds A, a second chaosd on A is refused at once, naming it.
	lockA := faults.InstanceLockPath(ledgerA, "chaosd")
	deadline := time.Now().Add(time.Minute)
	for {
		if h, held, _ := faults.LockHolder(lockA); held && h.PID == soak.Process.Pid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the soak (pid %d) did not take %s within a minute:\n%s", soak.Process.Pid, lockA, soakOut.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	t0 := time.Now()
	code, out := runIn(t, bin, t.TempDir(), envA, 2*time.Minute, "--fault=kill-owner")
	if code != 2 || time.Since(t0) > 10*time.Second || !strings.Contains(out, fmt.Sprintf("pid %d (", soak.Process.Pid)) ||
		!strings.Contains(out, "soak") || !strings.Contains(out, "another chaosd acts on target chaosd") {
		t.Errorf("a second chaosd on the soak's cluster: exit %d after %s, want 2 at once naming pid %d and its command:\n%s",
			code, time.Since(t0).Round(time.Millisecond), soak.Process.Pid, out)
	}

	// The one-shots on B, while the soak runs on A.
	dirB := t.TempDir()
	for _, args := range [][]string{
		{"--fault=kill-owner", "--down-for=20s"},
		{"--fault=pause-owner", "--duration=15s"},
	} {
		code, out := runIn(t, bin, dirB, envB, 5*time.Minute, args...)
		if code != 0 {
			t.Errorf("chaosd %v on %s beside the soak: exit %d, want 0 (every invariant passed):\n%s", args, twinProject, code, out)
		}
	}

	select {
	case err := <-soakDone:
		var ee *exec.ExitError
		if errors.As(err, &ee) || err != nil {
			t.Errorf("the soak on chaosd beside the one-shots: %v, want exit 0:\n%s", err, soakOut.String())
		}
	case <-soakCtx.Done():
		t.Fatalf("the soak did not end:\n%s", soakOut.String())
	}

	// Each ledger holds its own target's faults only, each healed by its chaosd at its
	// deadline: none early, none left to recovery or a watchdog.
	checkLedger(t, ledgerA, "chaosd", beforeA, 1)
	checkLedger(t, ledgerB, twinProject, beforeB, 2)
}

// runIn runs chaosd in dir with env and returns its exit code and output.
func runIn(t *testing.T, bin, dir string, env []string, within time.Duration, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	case err != nil:
		t.Fatalf("chaosd %v: %v\n%s", args, err, out)
	}
	return 0, string(out)
}

// faultIDs are the faults a ledger holds now (the default ledgers outlive a test run).
func faultIDs(t *testing.T, path string) map[string]bool {
	t.Helper()
	st, err := faults.ReadLedger(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for id := range st.Entries {
		out[id] = true
	}
	return out
}

// checkLedger checks the faults added to the ledger at path since before: at least
// min, each of scope, healed by the chaosd that injected it no earlier than its
// confirmed deadline (a 1 s margin), none open.
func checkLedger(t *testing.T, path, scope string, before map[string]bool, least int) {
	t.Helper()
	st, err := faults.ReadLedger(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, id := range st.Order {
		if before[id] {
			continue
		}
		n++
		e := st.Get(id)
		switch {
		case e.Inject.Scope != scope:
			t.Errorf("%s: fault %s of target %q, want only %q's", path, id, e.Inject.Scope, scope)
		case e.Open():
			t.Errorf("%s: fault %s still open", path, id)
		case e.Confirmed == nil:
			t.Errorf("%s: fault %s never confirmed", path, id)
		case e.Heal.By != faults.ByChaosd:
			t.Errorf("%s: fault %s healed by %s, want by the chaosd that held it, at its deadline", path, id, e.Heal.By)
		case e.Heal.Started.Before(e.Deadline.Add(-time.Second)):
			t.Errorf("%s: fault %s healed %s early (heal began %s, deadline %s)", path, id, e.Deadline.Sub(e.Heal.Started).Round(time.Millisecond),
				e.Heal.Started.Format(time.TimeOnly), e.Deadline.Format(time.TimeOnly))
		}
	}
	if n < least {
		t.Errorf("%s: %d new fault(s), want at least %d", path, n, least)
	}
	t.Logf("%s: %d new fault(s), all of target %s, each held to its deadline", filepath.Base(filepath.Dir(path)), n, scope)
}

// twinEnv is this process's environment without its CHAOSD_* and TESTBED_* settings
// (they name the phase's cluster), CHAOSD_COMPOSE excepted.
func twinEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "CHAOSD_COMPOSE=") || !strings.HasPrefix(kv, "CHAOSD_") && !strings.HasPrefix(kv, "TESTBED_") {
			out = append(out, kv)
		}
	}
	return out
}
