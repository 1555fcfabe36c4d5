//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosd/chaosd/faults"
)

// chaosd smoke --kill-owner (make demo's first step) kills the run's owner through
// the fault path of --fault, configured by the phase's `deploy/cluster.sh env` alone:
// the kill is in the ledger, of the cluster's target, confirmed, and healed (the pod
// started again) before smoke exits 0 with every check passed.
func TestE2ESmokeKillOwner(t *testing.T) {
	bin := chaosdBin(t)
	dir := t.TempDir()
	ledger := filepath.Join(dir, "ledger.jsonl")
	code, out := runIn(t, bin, dir, os.Environ(), 4*time.Minute, "smoke", "--kill-owner", "--ledger="+ledger, "--log-level=warn")
	if code != 0 || !strings.Contains(out, "killed mesh-") {
		t.Fatalf("chaosd smoke --kill-owner: exit %d, want 0 with the owner killed:\n%s", code, out)
	}
	st, err := faults.ReadLedger(ledger)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Order) != 1 {
		t.Fatalf("ledger %s holds %d faults, want the one kill:\n%s", ledger, len(st.Order), out)
	}
	e := st.Get(st.Order[0])
	project := getenv("CHAOSD_COMPOSE_PROJECT", "chaosd")
	switch {
	case e.Inject.Kind != "kill" || !strings.Contains(out, "killed "+e.Target().Pod+" "):
		t.Errorf("ledger: a %s of %s, want the kill of the pod smoke reports killed:\n%s", e.Inject.Kind, e.Target().Pod, out)
	case e.Inject.Scope != project:
		t.Errorf("ledger: the kill is of target %q, want %q", e.Inject.Scope, project)
	case e.Confirmed == nil || e.Open():
		t.Errorf("ledger: the kill confirmed %v, healed %v; want both", e.Confirmed != nil, !e.Open())
	case e.Heal.Outcome != faults.Healed:
		t.Errorf("ledger: the kill's heal %s (%s), want healed", e.Heal.Outcome, e.Heal.Evidence)
	}
}
