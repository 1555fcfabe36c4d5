package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/chaosd/chaosd/faults"
)

// printReport prints what --fault did, step by step, with the confirmed times.
func printReport(w io.Writer, r *faults.Report, ledger string, evs []faults.Event, evErr, runErr error) {
	if r == nil {
		return
	}
	if r.DryRun {
		printDryRun(w, r, runErr)
		return
	}
	if r.Plan.Target.ID == "" {
		return // nothing was chosen: the error says why
	}
	fmt.Fprintf(w, "%s %s: %s\n", r.Kind, r.Plan.Target, r.Plan.Does)
	fmt.Fprintf(w, "  target    %s\n", r.Picked)
	if r.Fault != "" {
		fmt.Fprintf(w, "  fault     %s (ledger %s; watchdog %s)\n", r.Fault, ledger, orDash(r.Watchdog))
	}
	step(w, "decided", r.Decided, r.Decided, "")
	step(w, "injected", r.Effect.Applied, r.Decided, "")
	step(w, "confirmed", r.Effect.Confirmed, r.Decided, r.Effect.Evidence)
	if r.Interrupted {
		fmt.Fprintln(w, "  held      interrupted by a signal: healing early")
	}
	h := r.Heal
	if h.Entry == nil && h.Healing.Outcome == "" {
		return
	}
	step(w, "heal", h.Started, h.Started, alreadyNote(h))
	step(w, "healed", h.Healing.Applied, h.Started, "")
	step(w, "confirmed", h.Healing.Confirmed, h.Started, h.Healing.Evidence)
	fmt.Fprintf(w, "  outcome   %s (by %s)\n", orDash(string(h.Healing.Outcome)), orDash(h.By))
	printEvents(w, evs, evErr)
}

func alreadyNote(h faults.HealReport) string {
	if h.Already {
		return "already closed by the " + h.By
	}
	return ""
}

func printDryRun(w io.Writer, r *faults.Report, err error) {
	if err != nil || r.Plan.Target.ID == "" {
		return
	}
	fmt.Fprintf(w, "dry run: would %s\n", r.Plan.Does)
	fmt.Fprintf(w, "  target    %s, %s\n", r.Plan.Target, r.Picked)
	fmt.Fprintf(w, "  blast     %d of at most %d pod(s) faulted; other ready pods: %s\n", len(r.Admission.Faulted), r.Admission.MaxFaulted, orDash(strings.Join(r.Admission.ReadyPods, ", ")))
	fmt.Fprintf(w, "  then      %s\n", r.Plan.Undoes)
	fmt.Fprintf(w, "  undo      %s (would be written to the ledger first)\n", r.Plan.Undo)
	fmt.Fprintln(w, "  nothing was touched")
}

// step prints one timed step: its clock time and its offset from base.
func step(w io.Writer, name string, at, base time.Time, note string) {
	if at.IsZero() {
		if note != "" {
			fmt.Fprintf(w, "  %-9s %s\n", name, note)
		}
		return
	}
	line := fmt.Sprintf("  %-9s %s (+%s)", name, at.Format("15:04:05.000"), at.Sub(base).Round(100*time.Microsecond))
	if note != "" {
		line += "  " + note
	}
	fmt.Fprintln(w, line)
}

func printEvents(w io.Writer, evs []faults.Event, err error) {
	unexpected := faults.Unexpected(evs)
	switch {
	case err != nil:
		fmt.Fprintf(w, "  events    unknown: %v\n", err)
	case len(unexpected) == 0:
		fmt.Fprintf(w, "  events    %d caused by chaosd, none unexpected\n", len(evs))
	}
	for _, e := range unexpected {
		fmt.Fprintf(w, "  UNEXPECTED %s %s at %s%s\n", e.Name, e.Action, e.At.Format("15:04:05.000"), exitNote(e.ExitCode))
	}
}

func exitNote(code string) string {
	if code == "" {
		return ""
	}
	return " (exit code " + code + ")"
}

// printRecovery prints what recovery did (or would do) with one open fault.
func printRecovery(w io.Writer, r faults.Recovery, dryRun bool) {
	e := r.Entry
	head := fmt.Sprintf("recover %s: %s %s, opened %s", e.ID(), e.Inject.Kind, e.Target(), e.Inject.At.Format(time.RFC3339))
	switch {
	case r.Skipped != "":
		fmt.Fprintf(w, "%s: skipped, %s\n", head, r.Skipped)
	case dryRun:
		fmt.Fprintf(w, "%s: would %s (undo %s)\n", head, e.Inject.Undoes, e.Inject.Undo)
	case r.Err != nil:
		fmt.Fprintf(w, "%s: FAILED: %v (still open)\n", head, r.Err)
	default:
		h := r.Report
		fmt.Fprintf(w, "%s: %s by %s: %s\n", head, h.Healing.Outcome, h.By, h.Healing.Evidence)
	}
}
