//go:build e2e

package e2e

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/chaosd/chaosd/invariants"
	"github.com/chaosd/chaosd/report"
	"github.com/chaosd/chaosd/report/browsercheck"
)

// checkReportInBrowser renders the soak's report.html (in dir) in headless
// Chromium, as subtest "browser": no console error nor request off the page, one
// timeline lane per pod of the report, every injected fault window on the timeline,
// and at least minViolations violation markers (none at all when minViolations is
// 0, a clean soak), each linked to its evidence. The full-page screenshot is kept
// in $CHAOSD_ARTIFACTS (default bin/artifacts) as <test>_browser.png. The subtest
// skips without a chromium binary (CI installs Debian's chromium).
func checkReportInBrowser(t *testing.T, dir string, minViolations int) {
	t.Helper()
	t.Run("browser", func(t *testing.T) {
		d, err := report.FromFile(filepath.Join(dir, "history.jsonl"), invariants.Params{})
		if err != nil {
			t.Fatal(err)
		}
		injected := 0
		for _, f := range d.Faults {
			if !f.Injected.IsZero() {
				injected++
			}
		}
		if injected == 0 {
			t.Fatal("the soak injected no fault: nothing to see on the timeline")
		}
		res := browsercheck.Verify(t, filepath.Join(dir, "report.html"), browsercheck.Want{
			Pods: d.Pods, MinFaults: min(injected, 1500), MinViolations: minViolations, NoViolations: minViolations == 0})
		for _, p := range d.Pods {
			if !slices.Contains(res.Lanes, p) {
				t.Errorf("no lane for pod %s", p)
			}
		}
		if len(d.Runs) > 0 && res.Bars == 0 && res.Density == 0 {
			t.Errorf("%d runs, none on the timeline", len(d.Runs))
		}
	})
}
