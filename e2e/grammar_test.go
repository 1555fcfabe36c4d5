//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosd/chaosd/invariants"
)

// TestE2EReplayLosesStart (issue 15, the chunk grammar): with the testbed's
// replay-loses-start switch on (an attach that replays the buffer drops the start
// chunk), chaosd --fault=kill-owner fails chunk-grammar and prefix-replay, naming a
// late watcher, its pod and the missing start chunk; with the switch off the same
// one-shot passes both. chaosd analyze gives the stored history the live verdict.
// The cluster serves runtime switches (POST /testbed/bugs on every pod; switchable
// boots it so once) and is left with every switch off.
func TestE2EReplayLosesStart(t *testing.T) {
	bin := chaosdBin(t)
	switchable(t)
	t.Cleanup(func() { postBugs(t, "") })

	postBugs(t, "replay-loses-start")
	code, out, hist := grammarOneShot(t, bin)
	rep, _ := analyzeHistory(t, hist)
	vs := map[string]invariants.Verdict{}
	for _, v := range rep.Verdicts {
		vs[v.Name] = v
	}
	if code != 1 || vs[invariants.NameChunkGrammar].Status != invariants.Fail || vs[invariants.NamePrefixReplay].Status != invariants.Fail {
		t.Fatalf("replay-loses-start: exit %d, chunk-grammar %s, prefix-replay %s; want exit 1 and both failed:\n%s",
			code, vs[invariants.NameChunkGrammar].Status, vs[invariants.NamePrefixReplay].Status, out)
	}
	g := vs[invariants.NameChunkGrammar].Evidence[0]
	if !strings.Contains(g.Message, "watcher run-") || !strings.Contains(g.Message, "the start chunk (with the message id) is missing") || len(g.Pods) == 0 ||
		!strings.Contains(g.Message, " on "+g.Pods[0]+" (late") {
		t.Errorf("chunk-grammar's finding does not name the watcher, its pod and the missing start: %s", g.Message)
	}
	if p := vs[invariants.NamePrefixReplay].Evidence[0].Message; !strings.Contains(p, "its replay is missing the `start`") {
		t.Errorf("prefix-replay's finding does not name the missing start: %s", p)
	}
	sameVerdictOffline(t, bin, hist, code, out)
	t.Logf("replay-loses-start, kill-owner: exit %d\n%s\n%s\n%s", code, verdictLines(out), g.Message, vs[invariants.NamePrefixReplay].Evidence[0].Message)

	postBugs(t, "")
	code, out, hist = grammarOneShot(t, bin)
	rep, _ = analyzeHistory(t, hist)
	for _, v := range rep.Verdicts {
		if (v.Name == invariants.NameChunkGrammar || v.Name == invariants.NamePrefixReplay) && (v.Status != invariants.Pass || v.Exercised == 0) {
			t.Errorf("clean testbed: %s is %s (exercised %d)", v.Name, v.Status, v.Exercised)
		}
	}
	if code != 0 {
		t.Errorf("clean testbed: exit %d, want 0:\n%s", code, out)
	}
	sameVerdictOffline(t, bin, hist, code, out)
	t.Logf("clean, kill-owner: exit %d\n%s", code, verdictLines(out))
}

// switchable makes sure the bundled cluster serves runtime switches: when its pods
// refuse POST /testbed/bugs, it is booted again with them (bootSwitchable). The
// cluster stays so: later tests boot it as they need (bootCluster).
func switchable(t *testing.T) {
	t.Helper()
	for _, pod := range bundledPods() {
		resp, err := http.Post(strings.TrimRight(pod, "/")+"/testbed/bugs", "application/json", bytes.NewBufferString(`{"bugs":""}`))
		if err != nil || resp.StatusCode/100 != 2 {
			if err == nil {
				resp.Body.Close()
			}
			bootSwitchable(t)
			return
		}
		resp.Body.Close()
	}
}

// bootSwitchable (re)boots the bundled cluster with no defect and the runtime switches
// served (TESTBED_RUNTIME_SWITCHES=true).
func bootSwitchable(t *testing.T) {
	t.Helper()
	cmd := exec.Command("deploy/cluster.sh", "up")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "TESTBED_BUGS=", "TESTBED_RUNTIME_SWITCHES=true", "CHAOSD_SKIP_BUILD=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cluster.sh up with TESTBED_RUNTIME_SWITCHES=true: %v\n%s", err, out)
	}
}

// bundledPods are the bundled pods' URLs (CHAOSD_PODS, else the default ports).
func bundledPods() []string {
	return strings.Split(getenv("CHAOSD_PODS", "http://127.0.0.1:13001,http://127.0.0.1:13002,http://127.0.0.1:13003"), ",")
}

// postBugs replaces the defect set of every bundled pod (POST /testbed/bugs).
func postBugs(t *testing.T, bugs string) {
	t.Helper()
	for _, pod := range bundledPods() {
		url := strings.TrimRight(pod, "/") + "/testbed/bugs"
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

// grammarOneShot runs chaosd --fault=kill-owner and returns its exit code, output and
// history.
func grammarOneShot(t *testing.T, bin string) (int, string, string) {
	t.Helper()
	return oneShot(t, bin, "kill-owner")
}

// oneShot runs chaosd --fault=KIND with its default hold, its history and ledger in a
// temporary directory, and returns its exit code, output and history path.
func oneShot(t *testing.T, bin, kind string) (int, string, string) {
	t.Helper()
	dir := t.TempDir()
	hist := filepath.Join(dir, "history.jsonl")
	args := []string{"--fault=" + kind, "--history=" + hist, "--ledger=" + filepath.Join(dir, "ledger.jsonl"), "--log-level=warn"}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("chaosd %v: %v\n%s", args, err, out.String())
	}
	return code, out.String(), hist
}

// sameVerdictOffline runs chaosd analyze on the history: the same exit code and the
// same verdict lines as the one-shot printed live.
func sameVerdictOffline(t *testing.T, bin, hist string, live int, liveOut string) {
	t.Helper()
	cmd := exec.Command(bin, "analyze", hist)
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("chaosd analyze %s: %v\n%s", hist, err, out)
	}
	if code != live {
		t.Errorf("chaosd analyze %s: exit %d, the one-shot's %d:\n%s", hist, code, live, out)
	}
	for _, name := range []string{invariants.NameChunkGrammar, invariants.NamePrefixReplay} {
		if a, b := verdictLine(liveOut, name), verdictLine(string(out), name); a == "" || a != b {
			t.Errorf("%s: live %q, analyze %q", name, a, b)
		}
	}
}

// verdictLine is the verdict table's row of invariant name up to its first finding:
// name, status and counts.
func verdictLine(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) >= 6 && f[0] == name {
			return strings.Join(f[:6], " ")
		}
	}
	return ""
}

// verdictLines are the verdict table's rows of chunk-grammar and prefix-replay.
func verdictLines(out string) string {
	return verdictLine(out, invariants.NameChunkGrammar) + "\n" + verdictLine(out, invariants.NamePrefixReplay)
}
