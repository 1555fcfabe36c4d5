package report

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaosd/chaosd/history/synth"
	"github.com/chaosd/chaosd/invariants"
	"github.com/chaosd/chaosd/report/browsercheck"
)

// writePage writes the report page of the history at path into a temporary
// directory and returns the page's path and its data.
func writePage(t *testing.T, path string) (string, *Data) {
	t.Helper()
	d, err := FromFile(path, invariants.Params{})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "report.html")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(f, d); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return out, d
}

// The report of a soak with a defect, in headless Chromium: no console error, one
// lane per pod, the faults on their lanes, the violations marked and linked to
// their evidence; its screenshot is kept in the artifact directory.
func TestBrowserReportOfADefectSoak(t *testing.T) {
	if browsercheck.ExecPath() == "" {
		browsercheck.SkipWithoutChromium(t)
	}
	page, d := writePage(t, soakHistory(t, true))
	if d.Verdicts.Status != invariants.Fail {
		t.Fatalf("status %s, want fail", d.Verdicts.Status)
	}
	res := browsercheck.Verify(t, page, browsercheck.Want{Pods: []string{"mesh-1", "mesh-2", "mesh-3"}, MinFaults: 4, MinViolations: 1})
	kept := 0
	for _, v := range d.Verdicts.Verdicts {
		kept += len(v.Evidence)
	}
	if res.Violations != kept {
		t.Errorf("%d violation markers, the verdicts keep %d findings", res.Violations, kept)
	}
	if res.Takeovers == 0 {
		t.Error("no owner change marked, the kill of mesh-1 handed its runs over")
	}
	if res.Bars < len(d.Runs) {
		t.Errorf("%d bars for %d runs", res.Bars, len(d.Runs))
	}
}

// The report of a clean soak: lanes and faults, no violation marker.
func TestBrowserReportOfACleanSoak(t *testing.T) {
	if browsercheck.ExecPath() == "" {
		browsercheck.SkipWithoutChromium(t)
	}
	page, d := writePage(t, soakHistory(t, false))
	for _, v := range d.Verdicts.Verdicts {
		if v.Status == invariants.Fail {
			t.Fatalf("%s fails on the clean synthetic soak: %s", v.Name, v.Message())
		}
	}
	browsercheck.Verify(t, page, browsercheck.Want{Pods: []string{"mesh-1", "mesh-2", "mesh-3"}, MinFaults: 4, NoViolations: true})
}

// The report of a long synthetic history (aggregated timeline) in the browser.
func TestBrowserReportOfALongHistory(t *testing.T) {
	if browsercheck.ExecPath() == "" {
		browsercheck.SkipWithoutChromium(t)
	}
	page, d := writePage(t, synthFile(t, synth.Options{Runs: 6000, DeliverNew: true}))
	res := browsercheck.Verify(t, page, browsercheck.Want{Pods: synth.Pods, MinFaults: 10, MinViolations: 1})
	if res.Density == 0 || res.Bars > 2*maxRunMarks {
		t.Errorf("%d runs: %d heat cells, %d bars; want an aggregated timeline", len(d.Runs), res.Density, res.Bars)
	}
}

// A page whose history is full of markup shows it as text: no script runs, no
// request leaves the page.
func TestBrowserReportOfHostileText(t *testing.T) {
	if browsercheck.ExecPath() == "" {
		browsercheck.SkipWithoutChromium(t)
	}
	page := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(page, []byte(render(t, hostileData())), 0o644); err != nil {
		t.Fatal(err)
	}
	res := browsercheck.Verify(t, page, browsercheck.Want{Pods: []string{"mesh-1", evil}, MinFaults: 1, MinViolations: 1})
	if !strings.Contains(res.TipText, evil) {
		t.Errorf("the violation's hover text %q does not show the message as text", res.TipText)
	}
}

// The check itself sees a page's errors and its requests off the page.
func TestBrowserCheckSeesErrors(t *testing.T) {
	bin := browsercheck.ExecPath()
	if bin == "" {
		browsercheck.SkipWithoutChromium(t)
	}
	page := filepath.Join(t.TempDir(), "bad.html")
	bad := `<!doctype html><html><head><title>bad</title><link rel="icon" href="data:,"></head><body>
<img src="http://example.invalid/x.png"><script>console.error("boom"); undefinedFunction();</script></body></html>`
	if err := os.WriteFile(page, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := browsercheck.Check(context.Background(), page, browsercheck.Options{ExecPath: bin})
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(res.Console, "\n")
	if !strings.Contains(joined, "boom") || !strings.Contains(joined, "undefinedFunction") {
		t.Errorf("console seen: %q", res.Console)
	}
	if len(res.Requests) == 0 {
		t.Error("the request off the page was not seen")
	}
}
