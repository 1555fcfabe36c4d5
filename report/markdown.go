package report

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteMarkdown writes a short summary: the overall status, the invariant table, the
// faults, and the runs' latencies.
func WriteMarkdown(w io.Writer, d *Data) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# chaosd: %s\n\n", strings.ToUpper(string(d.Verdicts.Status)))
	fmt.Fprintf(&b, "%s to %s (%s), %d events, %d runs, %d faults.\n\n", d.From.UTC().Format(time.RFC3339), d.To.UTC().Format(time.RFC3339),
		d.To.Sub(d.From).Round(time.Second), d.Verdicts.Events, len(d.Runs), len(d.Faults))
	b.WriteString("| invariant | status | checked | under fault | violated | unknown | first finding |\n|---|---|---|---|---|---|---|\n")
	for _, v := range d.Verdicts.Verdicts {
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %s |\n", v.Name, v.Status, v.Checks, v.UnderFault, v.Violations, v.Unknowns, mdCell(v.Message()))
	}
	if len(d.Faults) > 0 {
		b.WriteString("\n| fault | kind | pod | injected | healed | outcome |\n|---|---|---|---|---|---|\n")
		for _, f := range d.Faults {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", f.ID, f.Kind, f.Pod, clock(f.Injected), clock(f.Healed), f.Outcome)
		}
	}
	lat := latencies(d.Runs)
	if len(lat) > 0 {
		fmt.Fprintf(&b, "\nRun latency (start to a watcher's finish): median %s, max %s over %d finished runs; %d runs never seen finishing.\n",
			lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond), len(lat), len(d.Runs)-len(lat))
	}
	for _, n := range d.Verdicts.Notes {
		fmt.Fprintf(&b, "\nNote: %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdCell(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ") }

func clock(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("15:04:05.000")
}
