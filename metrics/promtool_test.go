package metrics

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// promtoolPath finds promtool: $CHAOSD_PROMTOOL, else bin/promtool at the repo root
// (scripts/deps/promtool.sh builds it there).
func promtoolPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHAOSD_PROMTOOL"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("CHAOSD_PROMTOOL=%s: %v", p, err)
		}
		return p
	}
	p, err := filepath.Abs(filepath.Join("..", "bin", "promtool"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("promtool not found at %s and CHAOSD_PROMTOOL is not set: run scripts/deps/promtool.sh "+
			"(builds bin/promtool from the Go module proxy) or point CHAOSD_PROMTOOL at a promtool", p)
	}
	return p
}

// TestPromtool checks the alert rules and the example Prometheus config with
// promtool, and runs the rules' unit tests (deploy/prometheus/chaosd-rules.test.yml).
func TestPromtool(t *testing.T) {
	promtool := promtoolPath(t)
	dir := filepath.Join("..", "deploy", "prometheus")
	for _, args := range [][]string{
		{"check", "rules", "chaosd-rules.yml"},
		{"test", "rules", "chaosd-rules.test.yml"},
		{"check", "config", "prometheus.yml"},
	} {
		cmd := exec.CommandContext(t.Context(), promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %v (in deploy/prometheus): %v\n%s", args, err, out)
		}
	}
}
