package cli

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/history/synth"
	"github.com/chaosd/chaosd/invariants"
)

// rotatedSynthFile writes a synthetic history rotated every 64 KiB with its
// segments gzipped, and returns its live path and the number of segments.
func rotatedSynthFile(t *testing.T, o synth.Options) (string, int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "history.jsonl")
	if _, err := synth.WriteRotated(path, o, 64<<10); err != nil {
		t.Fatal(err)
	}
	segs, err := history.Segments(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, len(segs)
}

func TestAnalyzeReadsARotatedHistoryWhole(t *testing.T) {
	o := synth.Options{Runs: 400}
	rotated, n := rotatedSynthFile(t, o)
	if n < 5 {
		t.Fatalf("only %d segments", n)
	}
	reports := map[string]invariants.Report{}
	for name, path := range map[string]string{"plain": synthFile(t, o), "rotated": rotated} {
		code, out, errOut := run(t, "analyze", "--json", "--progress", "off", path)
		if code != ExitOK {
			t.Fatalf("%s: exit %d\n%s", name, code, errOut)
		}
		var rep invariants.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		reports[name] = rep
	}
	if !reflect.DeepEqual(reports["plain"], reports["rotated"]) {
		t.Fatalf("the rotated history reads differently:\nplain   %+v\nrotated %+v", reports["plain"], reports["rotated"])
	}
}

func TestAnalyzeProgressOfARotatedHistory(t *testing.T) {
	path, _ := rotatedSynthFile(t, synth.Options{Events: 140_000})
	code, _, errOut := run(t, "analyze", "--progress", "on", path)
	if code != ExitOK || !strings.Contains(errOut, "analyze: 131072 events (") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, pct := range strings.Split(errOut, "(")[1:] {
		var p int
		if _, err := fmt.Sscanf(pct, "%d%%", &p); err != nil || p < 1 || p > 100 {
			t.Fatalf("progress %q out of range in %q", pct, errOut)
		}
	}
}
