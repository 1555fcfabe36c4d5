//go:build e2e && mesh

package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chaosd/chaosd/invariants"
)

// The mesh-current tier: the stand-in booted as today's mesh (TARGET=mesh-current
// deploy/cluster.sh up: DBOS workflow owners, no heartbeat bucket, SIGTERM hand-over,
// minio), and chaosd pointed at it with --target=mesh-current and nothing else. One
// boot serves every row: the defect rows switch the defect on at run time
// (TESTBED_RUNTIME_SWITCHES, POST /testbed/bugs on every pod) and off again.

const currentTarget = "mesh-current"

// currentMatrix: every fault kind with its default hold, clean; then each defect of
// today's mesh with the fault that exposes it.
var currentMatrix = []matrixCase{
	{"", []string{"--fault=kill-owner"}, nil, false},
	{"", []string{"--fault=stop-owner"}, nil, false},
	{"", []string{"--fault=pause-owner"}, nil, false},
	{"", []string{"--fault=partition-owner"}, nil, false},
	{"", []string{"--fault=rollout"}, nil, false},
	{"purge-on-resume", []string{"--fault=kill-owner"}, []string{"stream-integrity", "prefix-replay", "run-completes", "reply-persisted"}, true},
	{"handover-loses-run", []string{"--fault=stop-owner"}, []string{"handover-completes"}, false},
	{"persist-twice", []string{"--fault=kill-owner"}, []string{"reply-persisted"}, false},
	{"restart-no-recover", []string{"--fault=kill-owner"}, []string{"restart-recovers"}, false},
}

func TestE2EMeshCurrent(t *testing.T) {
	if meshProject() == defaultMeshProject {
		meshDownTarget(t, meshTarget) // the two harness shapes share project multi-pod
	}
	bootTarget(t, currentTarget, "")
	t.Cleanup(func() { meshDownTarget(t, currentTarget) })
	// doctor --suggest runs in TestE2EMeshAlone (it sees every compose project).
	t.Run("may-profile-injects-nothing", func(t *testing.T) {
		before := containerStarts(t)
		r := runChaosd(t, 3*time.Minute, "--target="+meshTarget, "--fault=kill-owner")
		if r.code != 2 || !strings.Contains(r.out, "nothing was injected") {
			t.Fatalf("the May profile on today's mesh: exit %d, want 2 from the preflight:\n%s", r.code, r.out)
		}
		assertNothingInjected(t, r, before)
		t.Log("\n" + r.out)
	})
	var rows []string
	for _, mc := range currentMatrix {
		name := strings.TrimPrefix(mc.fault[0], "--fault=")
		if mc.bugs != "" {
			name = mc.bugs + "/" + name
		}
		t.Run("matrix/"+name, func(t *testing.T) {
			setBugs(t, mc.bugs)
			if mc.bugs != "" {
				t.Cleanup(func() { setBugs(t, "") })
			}
			rows = append(rows, runTargetCase(t, currentTarget, mc))
		})
	}
	t.Run("kill-never-is-not-promised", func(t *testing.T) {
		t.Cleanup(func() { bootTarget(t, currentTarget, "") }) // starts the pod left down
		r := runChaosd(t, 6*time.Minute, "--target="+currentTarget, "--fault=kill-owner", "--down-for=never")
		rep, _ := analyzeHistory(t, r.hist)
		vs := verdicts(rep)
		if r.code != 2 || vs["run-completes"].Status != invariants.NotPromised {
			t.Fatalf("kill without restart on today's mesh: exit %d, run-completes %s; want 2 and not-promised:\n%s", r.code, vs["run-completes"].Status, r.out)
		}
		for n, v := range vs {
			if v.Status == invariants.Fail {
				t.Errorf("%s failed: a kill with no restart breaks no promise of today's mesh", n)
			}
		}
	})
	table := "| testbed defect | fault | exit | verdicts (fail in bold) | first violation after the fault | chaosd run |\n|---|---|---|---|---|---|\n" + strings.Join(rows, "\n") + "\n"
	t.Log("\n" + table)
	if out := os.Getenv("CHAOSD_CURRENT_MATRIX_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(table), 0o644); err != nil {
			t.Error(err)
		}
	}
	t.Run("soak-all-five-kinds", func(t *testing.T) {
		d := durationEnv(t, "CHAOSD_CURRENT_SOAK", 4*time.Minute)
		out := t.TempDir()
		// Staggered 24 s apart in a two-minute cycle (cron with seconds), so that each
		// kind gets its turn rather than finding another fault in effect.
		r := runChaosd(t, d+6*time.Minute, "soak", "--target="+currentTarget, "--duration="+d.String(), "--warmup=20s", "--cooldown=60s",
			"--out="+out, "--progress=log", "--metrics-addr=127.0.0.1:0", "--schedule=kill=0 0-59/2 * * * *;stop=24 0-59/2 * * * *;pause=48 0-59/2 * * * *;partition=12 1-59/2 * * * *;rollout=36 1-59/2 * * * *")
		if r.code != 0 {
			t.Fatalf("a %s soak of today's mesh with all five kinds: exit %d, want 0 (no false alarm, every promise exercised):\n%s", d, r.code, r.out)
		}
		t.Log("\n" + lastLines(r.out, 40))
	})
}

// checkSuggests: chaosd doctor --suggest, with no setting of its own, names target
// and lists each of others as not fitting.
func checkSuggests(t *testing.T, target string, others ...string) {
	t.Helper()
	r := runChaosd(t, 4*time.Minute, "doctor", "--suggest")
	if r.code != 0 || !strings.Contains(r.out, "suggested: --target="+target) {
		t.Fatalf("doctor --suggest: exit %d, want 0 naming %s:\n%s", r.code, target, r.out)
	}
	for _, other := range others {
		// doctor pads the name ("%-14s %s"): match the line, not the bare words.
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(strings.TrimSpace(other)) + ` +does not fit`).MatchString(r.out) {
			t.Errorf("%s: want it listed as not fitting:\n%s", other, r.out)
		}
	}
	t.Log("\n" + r.out)
}

func verdicts(rep invariants.Report) map[string]invariants.Verdict {
	vs := map[string]invariants.Verdict{}
	for _, v := range rep.Verdicts {
		vs[v.Name] = v
	}
	return vs
}

func runTargetCase(t *testing.T, target string, mc matrixCase) string {
	args := append([]string{"--target=" + target}, mc.fault...)
	r := runChaosd(t, 6*time.Minute, args...)
	if r.hist == "" {
		t.Fatalf("chaosd %v wrote no history (exit %d):\n%s", args, r.code, r.out)
	}
	rep, injected := analyzeHistory(t, r.hist)
	judge(t, mc, r.code, verdicts(rep), r.out)
	if !strings.Contains(r.out, "preflight (target "+target+"): fits:") {
		t.Errorf("no passing preflight in the output:\n%s", r.out)
	}
	return matrixRow(mc, r.code, rep, injected, r.took)
}

// setBugs replaces the defect set of every pod at run time (POST /testbed/bugs).
func setBugs(t *testing.T, bugs string) {
	t.Helper()
	for _, port := range meshPodPorts(t) {
		url := fmt.Sprintf("http://127.0.0.1:%d/testbed/bugs", port)
		resp, err := http.Post(url, "application/json", bytes.NewBufferString(fmt.Sprintf(`{"bugs":%q}`, bugs)))
		if err != nil {
			t.Fatalf("POST %s: %v", url, err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("POST %s {bugs: %q}: %s", url, bugs, resp.Status)
		}
	}
}

func meshDownTarget(t *testing.T, target string) {
	t.Helper()
	cmd := exec.Command("deploy/cluster.sh", "down")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(append(cleanEnv(), "TARGET="+target), meshProjectEnv()...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("TARGET=%s cluster.sh down: %v\n%s", target, err, out)
	}
}

// bootTarget (re)boots a target's cluster with bugs switched on and the runtime
// switches served, and waits until every pod is ready.
func bootTarget(t *testing.T, target, bugs string) {
	t.Helper()
	cmd := exec.Command("deploy/cluster.sh", "up")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(cleanEnv(), "TARGET="+target, "TESTBED_BUGS="+bugs, "TESTBED_RUNTIME_SWITCHES=true", "CHAOSD_SKIP_BUILD=1")
	cmd.Env = append(append(cmd.Env, meshPortEnv(t)...), meshProjectEnv()...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("TARGET=%s cluster.sh up with TESTBED_BUGS=%q: %v\n%s", target, bugs, err, out)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
