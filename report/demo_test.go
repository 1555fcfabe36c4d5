package report

import (
	"os"
	"testing"
	"time"

	"github.com/chaosd/chaosd/invariants"
)

// TestDemoPage writes the report of the synthetic soak to $CHAOSD_REPORT_DEMO (a
// directory) for a person to look at; skipped without it.
func TestDemoPage(t *testing.T) {
	dir := os.Getenv("CHAOSD_REPORT_DEMO")
	if dir == "" {
		t.Skip("set CHAOSD_REPORT_DEMO to a directory to write the demo pages")
	}
	for name, defect := range map[string]bool{"clean": false, "defect": true} {
		d, err := FromFile(soakHistory(t, defect), invariants.Params{})
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(dir + "/" + name + ".html")
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteHTML(f, d); err != nil {
			t.Fatal(err)
		}
		f.Close()
		_ = invariants.WriteTable(os.Stdout, d.Verdicts)
	}
	f, err := os.Create(dir + "/soak-8h.html")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := WriteHTML(f, bigData(14_400, 8*time.Hour)); err != nil {
		t.Fatal(err)
	}
}
