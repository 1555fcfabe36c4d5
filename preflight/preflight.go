// Package preflight checks chaosd's assumptions about a target against the live
// cluster before anything is hurt (chaosd doctor, and the start of every --fault and
// soak). Each assumption of the target profile (config/targets/NAME.yaml) is one
// check: what chaosd assumes, what it observed, ok or a mismatch with its fix. A
// mismatch means chaosd's verdicts would be about a cluster that is not there (false
// alarms or blindness), so the caller refuses to inject anything.
//
// Checks that cannot run because an earlier one failed (no pods found, so no health
// to ask) are "skipped", never "ok": a preflight never passes on what it did not see.
package preflight

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Status is one check's outcome.
type Status string

// Statuses.
const (
	OK       Status = "ok"
	Mismatch Status = "MISMATCH"
	Skipped  Status = "skipped" // an earlier check failed, or the profile says it does not apply
	// Warn is a reading that is either a mismatch or one of mesh's known defects, which
	// the invariants exist to judge (a heartbeat bucket the profile promises, absent):
	// the run goes on, and the table says both readings.
	Warn Status = "warn"
)

// Result is one checked assumption.
type Result struct {
	Check    string `json:"check"`
	Assumes  string `json:"assumes"`
	Observed string `json:"observed"`
	Status   Status `json:"status"`
	Fix      string `json:"fix,omitempty"`
}

// Report is a preflight's results, in the order they were checked.
type Report struct {
	Target  string        `json:"target"`
	Results []Result      `json:"results"`
	Took    time.Duration `json:"took"`
}

// OK reports whether no check found a mismatch and at least one check passed.
func (r Report) OK() bool {
	passed := 0
	for _, res := range r.Results {
		switch res.Status {
		case Mismatch:
			return false
		case OK:
			passed++
		}
	}
	return passed > 0
}

// Mismatches are the failed checks.
func (r Report) Mismatches() []Result {
	var out []Result
	for _, res := range r.Results {
		if res.Status == Mismatch {
			out = append(out, res)
		}
	}
	return out
}

// Count returns how many checks ended with st.
func (r Report) Count(st Status) int {
	n := 0
	for _, res := range r.Results {
		if res.Status == st {
			n++
		}
	}
	return n
}

func (r *Report) add(res Result) Result {
	r.Results = append(r.Results, res)
	return res
}

func (r *Report) ok(check, assumes, observed string) Result {
	return r.add(Result{Check: check, Assumes: assumes, Observed: observed, Status: OK})
}

func (r *Report) mismatch(check, assumes, observed, fix string) Result {
	return r.add(Result{Check: check, Assumes: assumes, Observed: observed, Status: Mismatch, Fix: fix})
}

func (r *Report) warn(check, assumes, observed, fix string) Result {
	return r.add(Result{Check: check, Assumes: assumes, Observed: observed, Status: Warn, Fix: fix})
}

func (r *Report) skip(check, assumes, why string) Result {
	return r.add(Result{Check: check, Assumes: assumes, Observed: why, Status: Skipped})
}

// WriteTable prints the report as a table, one line per check, the fixes of the
// mismatches after it, and a summary line.
func WriteTable(w io.Writer, r Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tSTATUS\tASSUMES\tOBSERVED")
	for _, res := range r.Results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", res.Check, res.Status, OneLine(res.Assumes, 60), OneLine(res.Observed, 90))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if ms := r.Mismatches(); len(ms) > 0 {
		fmt.Fprintln(w, "\nfix:")
		for _, m := range ms {
			fmt.Fprintf(w, "  %s: %s\n", m.Check, m.Fix)
		}
	}
	writeWarnings(w, r)
	verdict := "target fits"
	if !r.OK() {
		verdict = "target does NOT fit"
	}
	_, err := fmt.Fprintf(w, "\npreflight (target %s): %s: %d ok, %d mismatch, %d warn, %d skipped (%s)\n", r.Target, verdict,
		r.Count(OK), r.Count(Mismatch), r.Count(Warn), r.Count(Skipped), r.Took.Round(100*time.Millisecond))
	return err
}

// writeWarnings prints each warning with what it may mean.
func writeWarnings(w io.Writer, r Report) {
	first := true
	for _, res := range r.Results {
		if res.Status != Warn {
			continue
		}
		if first {
			fmt.Fprintln(w, "\nwarnings (the run goes on):")
			first = false
		}
		fmt.Fprintf(w, "  %s: %s\n", res.Check, res.Fix)
	}
}

// OneLine folds s onto one line of at most n runes, ending in … when cut.
func OneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
