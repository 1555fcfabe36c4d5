//go:build e2e && scale

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

	"github.com/chaosd/chaosd/invariants"
)

// The scale tier: the bundled cluster at mesh's production scale, 30 pods
// (TARGET=bundled-30 deploy/cluster.sh up: deploy/docker-compose.yml with its profile
// scale, project chaosd-30, host ports 100 above the bundled ones, so that it boots
// beside a bundled cluster), and chaosd pointed at it with --target=bundled-30 and
// nothing else. scripts/e2e.sh runs it in the phase scale (CHAOSD_E2E_PHASES=scale),
// with the build tags e2e,scale.

const (
	scaleTarget = "bundled-30"
	scalePods   = 30
)

// TestE2EScale boots the 30-pod cluster, checks that chaosd doctor finds the 30 pods
// (each ready, each refreshing its heartbeat) and runs one kill-owner one-shot
// against it: every invariant passes, each exercised. The cluster is torn down at
// the end unless CHAOSD_E2E_KEEP=1.
func TestE2EScale(t *testing.T) {
	start := time.Now()
	scaleCluster(t, 6*time.Minute, "up")
	t.Logf("TARGET=%s deploy/cluster.sh up: %d pods ready in %.0fs", scaleTarget, scalePods, time.Since(start).Seconds())
	if os.Getenv("CHAOSD_E2E_KEEP") != "1" {
		t.Cleanup(func() { scaleCluster(t, 2*time.Minute, "down") })
	}
	dir := t.TempDir()
	code, out, _ := runScaleChaosd(t, 3*time.Minute, dir, "doctor", "--target="+scaleTarget)
	if want := fmt.Sprintf("%d pods: mesh-1,", scalePods); code != 0 || !strings.Contains(out, want) || !strings.Contains(out, fmt.Sprintf("%d keys", scalePods)) {
		t.Fatalf("doctor --target=%s: exit %d, want 0 with %q and a heartbeat key per pod:\n%s", scaleTarget, code, want, out)
	}
	mc := matrixCase{"", []string{"--fault=kill-owner"}, nil, false}
	hist := filepath.Join(dir, "history.jsonl")
	code, out, took := runScaleChaosd(t, 6*time.Minute, dir, append([]string{"--target=" + scaleTarget}, mc.fault...)...)
	rep, injected := analyzeHistory(t, hist)
	vs := map[string]invariants.Verdict{}
	for _, v := range rep.Verdicts {
		vs[v.Name] = v
	}
	judge(t, mc, code, vs, out)
	if !strings.Contains(out, "preflight (target "+scaleTarget+"): fits:") {
		t.Errorf("no passing preflight in the output:\n%s", out)
	}
	t.Log("\n| testbed defect | fault | exit | verdicts (fail in bold) | first violation after the fault | chaosd run |\n|---|---|---|---|---|---|\n" +
		matrixRow(mc, code, rep, injected, took))
}

// scaleCluster runs TARGET=bundled-30 deploy/cluster.sh cmd with the images as they
// are, in an environment without this shell's CHAOSD_* and TESTBED_* settings (they
// may name another cluster), CHAOSD_COMPOSE excepted.
func scaleCluster(t *testing.T, within time.Duration, cmd string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	c := exec.CommandContext(ctx, "deploy/cluster.sh", cmd)
	c.Dir = repoRoot(t)
	c.Env = append(scaleEnv(), "TARGET="+scaleTarget, "CHAOSD_SKIP_BUILD=1")
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("TARGET=%s deploy/cluster.sh %s: %v\n%s", scaleTarget, cmd, err, out)
	}
}

// runScaleChaosd runs chaosd args in dir with its history (history.jsonl) and ledger
// there, and returns its exit code, its output and how long it took.
func runScaleChaosd(t *testing.T, within time.Duration, dir string, args ...string) (int, string, time.Duration) {
	t.Helper()
	args = append(args, "--history="+filepath.Join(dir, "history.jsonl"), "--ledger="+filepath.Join(dir, "ledger.jsonl"), "--log-level=warn")
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	cmd := exec.CommandContext(ctx, chaosdBin(t), args...)
	cmd.Dir = dir
	cmd.Env = scaleEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), took
	case err != nil:
		t.Fatalf("chaosd %v: %v\n%s", args, err, out.String())
	}
	return 0, out.String(), took
}

func scaleEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "CHAOSD_COMPOSE=") || !strings.HasPrefix(kv, "CHAOSD_") && !strings.HasPrefix(kv, "TESTBED_") {
			out = append(out, kv)
		}
	}
	return out
}
