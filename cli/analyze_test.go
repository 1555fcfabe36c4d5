package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosd/chaosd/history/synth"
	"github.com/chaosd/chaosd/invariants"
)

func synthFile(t *testing.T, o synth.Options) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "history.jsonl")
	if _, err := synth.WriteFile(path, o); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAnalyzePassesACleanHistory(t *testing.T) {
	code, out, errOut := run(t, "analyze", "--progress", "off", synthFile(t, synth.Options{Runs: 400}))
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, name := range []string{"run-completes", "prefix-replay", "stream-integrity", "heartbeat-bucket", "owner-alive", "pod-recovers", "no-unexpected-death"} {
		if !strings.Contains(out, name+" ") {
			t.Errorf("table lacks %s:\n%s", name, out)
		}
	}
	if !strings.Contains(out, "PASS: ") || strings.Contains(out, "FAIL") {
		t.Fatalf("want an overall PASS:\n%s", out)
	}
}

func TestAnalyzeFailsWithDiagnosis(t *testing.T) {
	code, out, _ := run(t, "analyze", synthFile(t, synth.Options{Runs: 20, DeliverNew: true}))
	if code != ExitViolated {
		t.Fatalf("exit %d, want %d\n%s", code, ExitViolated, out)
	}
	for _, want := range []string{"prefix-replay", "FAIL", "missed chunk-1..6 of the 6 chunks buffered before it opened", "== prefix-replay: fail (40 violations"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestAnalyzeJSON(t *testing.T) {
	code, out, _ := run(t, "analyze", "--json", "--owner-grace", "2m", synthFile(t, synth.Options{Runs: 20, FaultEvery: -1}))
	var rep invariants.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// No fault: owner-alive and pod-recovers are not exercised, which is not a pass.
	if code != ExitError || rep.Status != invariants.Unknown || rep.Params.OwnerGrace != 2*time.Minute {
		t.Fatalf("exit %d, status %s, owner grace %s", code, rep.Status, rep.Params.OwnerGrace)
	}
	for _, v := range rep.Verdicts {
		if v.Name == invariants.NameOwnerAlive && v.Status != invariants.NotExercised {
			t.Fatalf("owner-alive %s", v.Status)
		}
	}
}

func TestAnalyzeMalformedLine(t *testing.T) {
	path := synthFile(t, synth.Options{Runs: 2})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	lines[2] = "{not json\n"
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run(t, "analyze", path)
	if code != ExitError || !strings.Contains(errOut, "history: line 3: decode:") {
		t.Fatalf("exit %d, %q", code, errOut)
	}
}

func TestAnalyzeRejects(t *testing.T) {
	cases := map[string][]string{
		"want one history FILE":       {"analyze"},
		"open history":                {"analyze", filepath.Join(t.TempDir(), "nope.jsonl")},
		`--heartbeat-check: "maybe"`:  {"analyze", "--heartbeat-check", "maybe", "x"},
		"owner-grace -1s is negative": {"analyze", "--owner-grace", "-1s", "x"},
	}
	for want, args := range cases {
		code, _, errOut := run(t, args...)
		if code != ExitError || !strings.Contains(errOut, want) {
			t.Errorf("%v: exit %d, %q; want %q", args, code, errOut, want)
		}
	}
}

func TestAnalyzeProgressOnStderr(t *testing.T) {
	path := synthFile(t, synth.Options{Events: 70_000})
	code, _, errOut := run(t, "analyze", "--progress", "on", path)
	if code != ExitOK || !strings.Contains(errOut, "analyze: 65536 events (") || !strings.Contains(errOut, "events/s") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = run(t, "analyze", path) // auto: stderr is not a terminal here
	if code != ExitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}
