package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

func nproc() int { return runtime.NumCPU() }

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func p90(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)*9)/10-boolInt(len(s)%10 == 0)]
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/1e6) }

func ratio(a, b time.Duration) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", float64(a)/float64(b))
}

// printRows prints medians and p90s in ms, and chaosd/CLI ratios of the medians (below
// 1: chaosd is faster; the goal is no slower than the CLI).
func printRows(w io.Writer, rows []row) {
	fmt.Fprintf(w, "\n%-17s | %-41s | %-33s |\n", "ms: median/p90", "fault: decision -> confirmed", "heal: start -> confirmed")
	fmt.Fprintf(w, "%-17s | %13s %13s %6s %6s | %13s %13s %5s | %s\n", "kind", "chaosd", "CLI", "ratio", "ledger", "chaosd", "CLI", "ratio", "the CLI doing the same")
	for _, r := range rows {
		fmt.Fprintf(w, "%-17s | %13s %13s %6s %6s | %13s %13s %5s | %s\n", r.name,
			mp(r.chaosdIn), mp(r.cliIn), ratio(median(r.chaosdIn), median(r.cliIn)), ms(median(r.ledger)),
			mp(r.chaosdHeal), mp(r.cliHeal), ratio(median(r.chaosdHeal), median(r.cliHeal)), r.cliNote)
	}
	fmt.Fprintln(w, "ledger: of chaosd's fault time, the median spent arming the watchdog and writing the ledger (fsync)")
}

func mp(ds []time.Duration) string { return ms(median(ds)) + "/" + ms(p90(ds)) }
