package cli

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/chaosd/chaosd/faults"
	"github.com/chaosd/chaosd/metrics"
)

// A second chaosd against the same target is refused at once, before it contacts
// Docker, naming the one that holds the target; another target is not held by it.
func TestSecondChaosdOnATargetIsRefused(t *testing.T) {
	dir := t.TempDir()
	ledger := filepath.Join(dir, "ledger.jsonl")
	holder, err := faults.LockInstance(context.Background(), faults.InstanceLockPath(ledger, "branch"), "branch",
		faults.LockOptions{Args: []string{"chaosd", "soak", "--duration=8h"}})
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	env := map[string]string{"CHAOSD_LEDGER": ledger, "CHAOSD_COMPOSE_PROJECT": "branch", "CHAOSD_DOCKER_HOST": "tcp://127.0.0.1:1"}
	runEnv := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := Main(context.Background(), args, IO{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }})
		return code, out.String() + errb.String()
	}
	for _, args := range [][]string{
		{"--fault=kill-owner"},
		{"soak", "--duration=10m", "--metrics-addr="},
	} {
		t0 := time.Now()
		code, out := runEnv(args...)
		if code != ExitError {
			t.Fatalf("%v: exit %d, want %d: %s", args, code, ExitError, out)
		}
		for _, want := range []string{fmt.Sprintf("pid %d (chaosd soak --duration=8h)", os.Getpid()), "target branch", "--wait-lock", "nothing was injected"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: no %q in %s", args, want, out)
			}
		}
		if strings.Contains(out, "docker") || time.Since(t0) > 5*time.Second {
			t.Errorf("%v: refused after %s, having tried Docker? %s", args, time.Since(t0), out)
		}
	}
	// Told to wait a little, it waits, then says so.
	env["CHAOSD_WAIT_LOCK"] = "300ms"
	if code, out := runEnv("--fault=kill-owner"); code != ExitError || !strings.Contains(out, "waited") || !strings.Contains(out, "is held by pid") {
		t.Errorf("--wait-lock 300ms: exit %d: %s", code, out)
	}
	// Another project's chaosd is not held: it gets past the lock (to Docker, absent here).
	delete(env, "CHAOSD_WAIT_LOCK")
	env["CHAOSD_COMPOSE_PROJECT"] = "main"
	if code, out := runEnv("--fault=kill-owner"); code != ExitError || strings.Contains(out, "another chaosd") || !strings.Contains(strings.ToLower(out), "docker") {
		t.Errorf("another target: exit %d: %s", code, out)
	}
}

// A taken metrics address is refused naming the address and what to set.
func TestMetricsAddressTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	_, err = metrics.Serve(t.Context(), addr, metrics.New(metrics.Options{}), zap.NewNop())
	if err == nil {
		t.Fatal("bound a taken address")
	}
	msg := metricsAddrError(addr, err).Error()
	for _, want := range []string{"metrics.addr " + addr + " is already in use", "--metrics-addr", "CHAOSD_METRICS_ADDR", "127.0.0.1:0", "nothing was injected"} {
		if !strings.Contains(msg, want) {
			t.Errorf("no %q in %q", want, msg)
		}
	}
}
