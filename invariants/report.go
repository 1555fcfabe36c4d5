package invariants

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints one line per verdict: name, status, checks, exercised, under
// fault, and the first violation (or why it is unknown or not exercised).
func WriteTable(w io.Writer, r Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INVARIANT\tSTATUS\tCHECKS\tEXERCISED\tUNDER FAULT\tFIRST FINDING")
	for _, v := range r.Verdicts {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\n", v.Name, strings.ToUpper(string(v.Status)), v.Checks, v.Exercised, v.UnderFault, oneLine(v.Message(), 140))
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
		fmt.Fprintf(w, "\n== %s: %s (%d violations, %d unobserved windows%s; checks %d, exercised %d, under fault %d)\n",
			v.Name, v.Status, v.Violations, v.Unknowns, unpromised, v.Checks, v.Exercised, v.UnderFault)
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
