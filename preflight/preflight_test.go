package preflight

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestReportNeverPassesOnNothing(t *testing.T) {
	var r Report
	if r.OK() {
		t.Error("an empty report passed")
	}
	r.skip("health", "", "no pod")
	if r.OK() {
		t.Error("a report of skipped checks passed")
	}
	r.ok("containers", "x", "y")
	if !r.OK() {
		t.Error("one ok, nothing else: want a pass")
	}
	r.mismatch("postgres", "answers", "refused", "fix it")
	if r.OK() || len(r.Mismatches()) != 1 {
		t.Errorf("a mismatch passed: %+v", r)
	}
}

func TestWriteTableNamesEachMismatchWithItsFix(t *testing.T) {
	r := Report{Target: "bundled", Took: 1200 * time.Millisecond}
	r.ok("containers", "compose project chaosd", "postgres(running)")
	r.mismatch("heartbeat bucket", "POD_HEARTBEATS exists, TTL 6s", "TTL 45s", "--heartbeat-ttl=45s")
	r.skip("owner source", "", "no run")
	var b bytes.Buffer
	if err := WriteTable(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"CHECK", "heartbeat bucket  MISMATCH", "fix:\n  heartbeat bucket: --heartbeat-ttl=45s",
		"preflight (target bundled): target does NOT fit: 1 ok, 1 mismatch, 0 warn, 1 skipped (1.2s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}

func TestCadenceJudgesTheGapsAgainstTheInterval(t *testing.T) {
	pods := []string{"mesh-1", "mesh-2", "mesh-3"}
	at := time.Unix(1000, 0)
	for _, tc := range []struct {
		name string
		gaps map[string]time.Duration
		seen map[string]time.Time
		want Status
		obs  string
	}{
		{"every pod on time", map[string]time.Duration{"mesh-1": 10 * time.Second, "mesh-2": 9 * time.Second, "mesh-3": 11 * time.Second}, map[string]time.Time{"mesh-1": at, "mesh-2": at, "mesh-3": at}, OK, "mesh-1 10s, mesh-2 9s, mesh-3 11s"},
		{"a profile 5x too slow", map[string]time.Duration{"mesh-1": 2 * time.Second, "mesh-2": 2 * time.Second, "mesh-3": 2 * time.Second}, map[string]time.Time{"mesh-1": at, "mesh-2": at, "mesh-3": at}, Mismatch, "mesh-1 2s"},
		{"one pod silent", map[string]time.Duration{"mesh-1": 10 * time.Second, "mesh-2": 10 * time.Second}, map[string]time.Time{"mesh-1": at, "mesh-2": at}, Warn, "no write from mesh-3"},
		{"one pod's extra write", map[string]time.Duration{"mesh-1": 3 * time.Second, "mesh-2": 10 * time.Second, "mesh-3": 10 * time.Second}, map[string]time.Time{"mesh-1": at, "mesh-2": at, "mesh-3": at}, OK, "mesh-1 3s"},
		{"a profile 2x too fast", map[string]time.Duration{"mesh-1": 20 * time.Second, "mesh-2": 20 * time.Second, "mesh-3": 20 * time.Second}, map[string]time.Time{"mesh-1": at, "mesh-2": at, "mesh-3": at}, Mismatch, "mesh-1 20s"},
		{"one write only", map[string]time.Duration{"mesh-1": 10 * time.Second, "mesh-2": 10 * time.Second}, map[string]time.Time{"mesh-1": at, "mesh-2": at, "mesh-3": at}, Mismatch, "mesh-3 once"},
	} {
		res := cadenceResult(Result{Check: "heartbeat cadence"}, 10*time.Second, pods, tc.gaps, tc.seen)
		if res.Status != tc.want || !strings.Contains(res.Observed, tc.obs) {
			t.Errorf("%s: %s %q, want %s with %q", tc.name, res.Status, res.Observed, tc.want, tc.obs)
		}
		if res.Status != OK && res.Fix == "" {
			t.Errorf("%s: a mismatch without a fix", tc.name)
		}
	}
}
