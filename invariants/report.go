package invariants

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// TableLegend explains the verdict table (WriteTable) once: its columns and its
// statuses. chaosd prints it in the --help of the commands that print the table
// (fault, analyze, soak); the README says the same.
const TableLegend = `Verdict table: one row per invariant. Each invariant judges cases, one unit each:
run-completes runs; prefix-replay late attaches (k >= 1); stream-integrity replies
and buffer comparisons; chunk-grammar watcher reports with chunks;
no-write-after-end decided runs read to the end of their settle window;
heartbeat-bucket heartbeat readings taken while a pod was
ready; owner-alive episodes of a run whose owner was down (or that had none) that
came due; restart-recovers and handover-completes runs whose owner died or was
stopped; reply-persisted completed runs' replies; pod-recovers heals (a rollout:
each pod it restarted); requests-answered start and attach answers; runs-flow
stretches between completed runs; no-unexpected-death Docker events; user:NAME
readings.
  CHECKED      cases judged, whatever the outcome; every other count is a part of it
  UNDER FAULT  of CHECKED, the cases a chaosd fault bore on (it hit the run's owner
               or the watcher's pod, or was in effect at the reading)
  VIOLATED     of CHECKED, the violations found (a streak of bad readings is one)
  UNKNOWN      of CHECKED, the cases that could not be decided: a window that
               mattered was not observed (a failed reading, a broken event stream, a
               dependency outage, a history that ended before a deadline)
Statuses: PASS every case checked held (CHECKED >= 1). FAIL a case was violated.
UNKNOWN a case could not be decided, none failed. NOT-EXERCISED no case was judged
(CHECKED 0). NOT-PROMISED a case is one the mesh does not promise, none failed.
Only PASS is a pass (exit 0); FAIL exits 1, the others 2. For NOT-EXERCISED and
UNKNOWN the last column says, in numbers, what was missing and the flag that gets
there; the diagnoses below the table give every finding and note.`

// TableHeader is the verdict table's header line, its columns separated by tabs.
const TableHeader = "INVARIANT\tSTATUS\tCHECKED\tUNDER FAULT\tVIOLATED\tUNKNOWN\tFIRST FINDING"

// WriteTable prints one line per verdict: name, status, cases checked, of them under
// fault, violations, unknown windows, and the first violation (or why it is unknown
// or not exercised); then the overall status. TableLegend explains the columns.
func WriteTable(w io.Writer, r Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, TableHeader)
	for _, v := range r.Verdicts {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", v.Name, strings.ToUpper(string(v.Status)), v.Checks, v.UnderFault, v.Violations, v.Unknowns, oneLine(v.Message(), 140))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	_, err := fmt.Fprintf(w, "%s: %d events, %s to %s (%s)%s\n", strings.ToUpper(string(r.Status)), r.Events,
		r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339), r.To.Sub(r.From).Round(time.Second), endNote(r))
	return err
}

func endNote(r Report) string {
	switch {
	case r.Torn:
		return ", torn last line"
	case !r.Ended:
		return ", no end line"
	}
	return ""
}

// WriteDiagnoses prints every verdict that is not a pass with all its findings and
// notes.
func WriteDiagnoses(w io.Writer, r Report) error {
	for _, v := range r.Verdicts {
		if v.Status == Pass && len(v.Notes) == 0 {
			continue
		}
		unpromised := ""
		if v.NotPromised > 0 {
			unpromised = fmt.Sprintf(", %d not promised", v.NotPromised)
		}
		fmt.Fprintf(w, "\n== %s: %s (%d violations, %d unobserved windows%s; of %s checked, %d under fault)\n",
			v.Name, v.Status, v.Violations, v.Unknowns, unpromised, plural(v.Checks, "case"), v.UnderFault)
		writeFindings(w, "violation", v.Evidence, v.Violations)
		writeFindings(w, "unobserved", v.Unobserved, v.Unknowns)
		for _, n := range v.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}

func writeFindings(w io.Writer, what string, fs []Finding, total int) {
	for i, f := range fs {
		fmt.Fprintf(w, "  %s %d: %s\n", what, i+1, strings.ReplaceAll(f.String(), "\n", "\n  "))
	}
	if total > len(fs) {
		fmt.Fprintf(w, "  … %d more %ss not kept (evidence is capped)\n", total-len(fs), what)
	}
}

func oneLine(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
