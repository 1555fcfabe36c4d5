//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestE2EBenchRamp runs chaosd bench against the bundled cluster at two low rates:
// every step holds (the clean cluster keeps up with 0.5 and 1 runs/s, far below the
// ceilings measured on this machine), each row says what it measured, and the
// ceiling is named.
func TestE2EBenchRamp(t *testing.T) {
	newCluster(t) // waits for the cluster
	bin := chaosdBin(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "bench", "--rates", "0.5,1", "--step", "10s", "--warmup", "3s",
		"--out", dir, "--history", filepath.Join(dir, "h.jsonl"), "--log-level", "warn")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("chaosd bench: %v\n%s", err, out.String())
	}
	text := out.String()
	t.Log("\n" + text)
	row := regexp.MustCompile(`(?m)^(0\.5|1)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+\S+\s+\S+\s+\S+\s+(\d+)%\s+(\d+) MiB\s+\S+\s+held$`)
	rows := row.FindAllStringSubmatch(text, -1)
	if len(rows) != 2 {
		t.Fatalf("want two held steps (0.5 and 1 runs/s) in the table, got %d", len(rows))
	}
	for _, r := range rows {
		started, _ := strconv.Atoi(r[2])
		completed, _ := strconv.Atoi(r[3])
		rss, _ := strconv.Atoi(r[6])
		if started < 4 || completed != started || rss == 0 {
			t.Errorf("step %s runs/s: %d started, %d completed, RSS %d MiB: want every run started completed", r[1], started, completed, rss)
		}
	}
	if !regexp.MustCompile(`(?m)^ceiling: 1 runs/s held .*every step held`).MatchString(text) {
		t.Errorf("the ceiling line is missing or wrong")
	}
	if !regexp.MustCompile(`(?m)^run-completes\s+PASS`).MatchString(text) {
		t.Errorf("run-completes did not pass over the ramp")
	}
}
