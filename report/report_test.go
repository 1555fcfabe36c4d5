package report

import (
	"bytes"
	"encoding/xml"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaosd/chaosd/history/synth"
	"github.com/chaosd/chaosd/invariants"
)

func synthFile(t *testing.T, o synth.Options) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "h.jsonl")
	if _, err := synth.WriteFile(path, o); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReportOfACleanHistory(t *testing.T) {
	d, err := FromFile(synthFile(t, synth.Options{Runs: 700}), invariants.Params{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Verdicts.Status != invariants.Pass || len(d.Runs) != 700 || len(d.Faults) != 2 {
		t.Fatalf("status %s, %d runs, %d faults; want pass, 700, 2", d.Verdicts.Status, len(d.Runs), len(d.Faults))
	}
	for _, f := range d.Faults {
		if f.Outcome != "healed" || !f.Healed.After(f.Injected) {
			t.Fatalf("fault window %+v", f)
		}
	}
	var j bytes.Buffer
	if err := WriteJUnit(&j, d); err != nil {
		t.Fatal(err)
	}
	var suites junitSuites
	if err := xml.Unmarshal(j.Bytes(), &suites); err != nil {
		t.Fatalf("junit is not valid XML: %v\n%s", err, j.String())
	}
	s := suites.Suites[0]
	if s.Tests != len(d.Verdicts.Verdicts) || len(s.Cases) != s.Tests || s.Failures != 0 {
		t.Fatalf("junit: %d tests, %d cases, %d failures", s.Tests, len(s.Cases), s.Failures)
	}
	var h bytes.Buffer
	if err := WriteHTML(&h, d); err != nil {
		t.Fatal(err)
	}
	page := h.String()
	if n := strings.Count(page, `<rect class="fault"`); n != 2 {
		t.Fatalf("%d shaded fault windows, want 2", n)
	}
	if n := strings.Count(page, `<circle class="run"`); n != 700 {
		t.Fatalf("%d run dots, want 700", n)
	}
	if strings.Contains(page, `class="violation"`) || strings.Contains(page, "http://") && !strings.Contains(page, `xmlns="http://www.w3.org/2000/svg"`) {
		t.Fatal("clean page marks a violation or loads something from the network")
	}
}

func TestReportMarksViolations(t *testing.T) {
	d, err := FromFile(synthFile(t, synth.Options{Events: 5000, DeliverNew: true}), invariants.Params{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Verdicts.Status != invariants.Fail {
		t.Fatalf("status %s, want fail", d.Verdicts.Status)
	}
	var j, h, m bytes.Buffer
	if err := WriteJUnit(&j, d); err != nil {
		t.Fatal(err)
	}
	var suites junitSuites
	if err := xml.Unmarshal(j.Bytes(), &suites); err != nil {
		t.Fatal(err)
	}
	failed := map[string]bool{}
	for _, c := range suites.Suites[0].Cases {
		if c.Failure != nil {
			failed[c.Name] = true
		}
	}
	if !failed["prefix-replay"] {
		t.Fatalf("junit failures %v do not include prefix-replay", failed)
	}
	if err := WriteHTML(&h, d); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h.String(), `<line class="violation"`) {
		t.Fatal("the timeline marks no violation")
	}
	if err := WriteMarkdown(&m, d); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.String(), "# chaosd: FAIL") || !strings.Contains(m.String(), "| prefix-replay | fail |") {
		t.Fatalf("markdown:\n%s", m.String())
	}
}
