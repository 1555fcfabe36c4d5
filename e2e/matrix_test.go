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
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/invariants"
)

// matrixCase is one row of the detection matrix: a testbed defect switched on, one
// owner fault, and the invariants that must fail (none: every one must pass).
type matrixCase struct {
	bugs   string
	fault  []string
	fail   []string
	anyOne bool // one of fail suffices (purge-on-resume shows either way)
}

// The bundled profile's rows: kill with the default hold (auto: past owner-alive's
// grace), pause and partition with the short holds the README's examples use. The defect rows run on the
// harness-shaped cluster (mesh_test.go, TARGET=mesh-2026-05) and, in process, in
// scenario/scenario_integration_test.go: this tier keeps one clean boot.
var matrix = []matrixCase{
	{"", []string{"--fault=kill-owner"}, nil, false},
	{"", []string{"--fault=pause-owner", "--duration=10s"}, nil, false},
	{"", []string{"--fault=partition-owner", "--duration=10s"}, nil, false},
}

// TestE2EDetectionMatrix boots the bundled cluster with each defect switch and runs
// chaosd --fault=...-owner against it: the clean testbed passes every invariant
// (each exercised), and each defect fails the invariant that exists for it. The
// matrix, with the time each first violation took to show, is written to
// $CHAOSD_MATRIX_OUT when set. The cluster is left clean (no defect) at the end.
func TestE2EDetectionMatrix(t *testing.T) {
	bin := chaosdBin(t)
	var rows []string
	// A fresh cluster for the tests after this one: a pod that was paused or cut off
	// may not heartbeat for a while after its heal (its NATS connection is only found
	// dead by its pings), and a survivor would then take over a run just started on it.
	t.Cleanup(func() { downCluster(t); bootCluster(t, "") })
	current := "-"
	for _, mc := range matrix {
		name := strings.TrimPrefix(mc.fault[0], "--fault=")
		if mc.bugs != "" {
			name = mc.bugs + "/" + name
		}
		t.Run(name, func(t *testing.T) {
			if mc.bugs != current {
				bootCluster(t, mc.bugs)
				current = mc.bugs
			}
			rows = append(rows, runMatrixCase(t, bin, mc))
		})
	}
	table := "| testbed defect | fault | exit | verdicts (fail in bold) | first violation after the fault | chaosd run |\n|---|---|---|---|---|---|\n" + strings.Join(rows, "\n") + "\n"
	t.Log("\n" + table)
	if out := os.Getenv("CHAOSD_MATRIX_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(table), 0o644); err != nil {
			t.Error(err)
		}
	}
}

func runMatrixCase(t *testing.T, bin string, mc matrixCase) string {
	dir := t.TempDir()
	hist := filepath.Join(dir, "history.jsonl")
	args := append(slices.Clone(mc.fault), "--history="+hist, "--ledger="+filepath.Join(dir, "ledger.jsonl"), "--log-level=warn")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("chaosd %v: %v", args, err)
	}
	rep, injected := analyzeHistory(t, hist)
	vs := map[string]invariants.Verdict{}
	for _, v := range rep.Verdicts {
		vs[v.Name] = v
	}
	judge(t, mc, code, vs, out.String())
	return matrixRow(mc, code, rep, injected, took)
}

func judge(t *testing.T, mc matrixCase, code int, vs map[string]invariants.Verdict, out string) {
	t.Helper()
	if len(mc.fail) == 0 {
		if code != 0 {
			t.Errorf("clean testbed: exit %d, want 0 (a false alarm or an unexercised invariant):\n%s", code, out)
		}
		for n, v := range vs {
			if v.Status != invariants.Pass || v.Exercised == 0 {
				t.Errorf("clean testbed: %s is %s (exercised %d)", n, v.Status, v.Exercised)
			}
		}
		return
	}
	if code != 1 {
		t.Errorf("%s: exit %d, want 1:\n%s", mc.bugs, code, out)
	}
	failed := 0
	for _, n := range mc.fail {
		if vs[n].Status == invariants.Fail {
			failed++
		} else if !mc.anyOne {
			t.Errorf("%s: %s is %s, want fail", mc.bugs, n, vs[n].Status)
		}
	}
	if failed == 0 {
		t.Errorf("%s: none of %v failed:\n%s", mc.bugs, mc.fail, out)
	}
}

// analyzeHistory re-checks the history offline and returns the report and the time
// the fault was confirmed in effect.
func analyzeHistory(t *testing.T, path string) (invariants.Report, time.Time) {
	t.Helper()
	hr, f, err := history.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var injected time.Time
	rep, err := invariants.AnalyzeEach(hr, invariants.Params{}, nil, func(e *history.Event) {
		if e.Type == history.TypeFault && e.Fault.Phase == history.FaultInjected && injected.IsZero() {
			injected = e.Fault.At
		}
	})
	if err != nil {
		t.Fatalf("analyze %s: %v", path, err)
	}
	return rep, injected
}

func matrixRow(mc matrixCase, code int, rep invariants.Report, injected time.Time, took time.Duration) string {
	var cells []string
	first := time.Time{}
	for _, v := range rep.Verdicts {
		if v.Status == invariants.Fail {
			cells = append(cells, "**"+v.Name+"**")
			if len(v.Evidence) > 0 && (first.IsZero() || v.Evidence[0].At.Before(first)) {
				first = v.Evidence[0].At
			}
		}
	}
	if len(cells) == 0 {
		cells = []string{fmt.Sprintf("all %d pass", len(rep.Verdicts))}
	}
	after := "-"
	if !first.IsZero() && !injected.IsZero() {
		after = fmt.Sprintf("%+.1fs", first.Sub(injected).Seconds())
	}
	bugs := mc.bugs
	if bugs == "" {
		bugs = "none"
	}
	return fmt.Sprintf("| %s | `%s` | %d | %s | %s | %.0fs |", bugs, strings.Join(mc.fault, " "), code, strings.Join(cells, ", "), after, took.Seconds())
}

// downCluster tears the bundled cluster down with its volumes.
func downCluster(t *testing.T) {
	t.Helper()
	cmd := exec.Command("deploy/cluster.sh", "down")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cluster.sh down: %v\n%s", err, out)
	}
}

// bootCluster (re)boots the bundled cluster with bugs switched on in every pod.
func bootCluster(t *testing.T, bugs string) {
	t.Helper()
	cmd := exec.Command("deploy/cluster.sh", "up")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "TESTBED_BUGS="+bugs, "CHAOSD_SKIP_BUILD=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cluster.sh up with TESTBED_BUGS=%q: %v\n%s", bugs, err, out)
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// chaosdBin is the chaosd binary under test: $CHAOSD_E2E_BIN or bin/chaosd.
func chaosdBin(t *testing.T) string {
	t.Helper()
	bin := getenv("CHAOSD_E2E_BIN", filepath.Join(repoRoot(t), "bin", "chaosd"))
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("chaosd binary %s: %v (make build, or set CHAOSD_E2E_BIN)", bin, err)
	}
	return bin
}
