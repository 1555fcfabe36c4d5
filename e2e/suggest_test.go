//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestE2ESuggestBundled: on the bundled cluster, chaosd doctor --suggest with no
// setting of its own (no CHAOSD_* variable, no config file) names the bundled profile
// and lists both mesh profiles as not fitting. The mesh phases check the same on the
// mesh-2026-05 and mesh-current clusters, so each profile is told apart on its own
// cluster.
func TestE2ESuggestBundled(t *testing.T) {
	newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chaosdBin(t), "doctor", "--suggest", "--log-level=warn")
	cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CHAOSD_") && !strings.HasPrefix(kv, "TESTBED_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "suggested: --target=bundled") {
		t.Fatalf("doctor --suggest on the bundled cluster: %v, want exit 0 naming bundled:\n%s", err, out)
	}
	for _, other := range []string{"mesh-2026-05 ", "mesh-current "} {
		if !strings.Contains(string(out), other+"  does not fit") && !strings.Contains(string(out), other+" does not fit") {
			t.Errorf("%s: want it listed as not fitting:\n%s", strings.TrimSpace(other), out)
		}
	}
	t.Log("\n" + string(out))
}
