package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/chaosd/chaosd/invariants"
	"github.com/chaosd/chaosd/report"
)

const reportHelp = `
Write the report of a stored history: report.html (one self-contained page, no
network: a timeline with one lane per pod, each run a bar from its start to its
decision on its owner's lane, owner changes and takeovers as arrows, fault windows on
the pod they hit, dependency outages hatched, each violation marked at its time and
linked to its evidence; latency and throughput over time; the verdict table and the
diagnoses; the faults, owner changes and outages; printable, and aggregated past
2,000 runs), junit.xml (one test case per invariant; a
verdict other than pass is a failure) and summary.md, into --out (default: beside
FILE, in <FILE without .jsonl>-report/). The verdicts are those of chaosd analyze.

Exit status: 0 the files were written (whatever the verdicts say), 2 they could not be.`

func runReport(_ context.Context, io IO, args []string) error {
	fs, _ := newFlagSet(io, "report", "FILE [flags]", reportHelp)
	out := fs.String("out", "", "directory for the report files")
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("want one history FILE (see --help)")
	}
	path := fs.Arg(0)
	dir := *out
	if dir == "" {
		dir = strings.TrimSuffix(path, filepath.Ext(path)) + "-report"
	}
	d, err := report.FromFile(path, invariants.Params{})
	if err != nil {
		return err
	}
	if err := writeReports(dir, d); err != nil {
		return err
	}
	fmt.Fprintf(io.Stdout, "%s: %s; report.html, junit.xml, summary.md in %s\n", path, d.Verdicts.Status, dir)
	return nil
}

// writeReports writes report.html, junit.xml and summary.md into dir.
func writeReports(dir string, d *report.Data) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	for name, write := range map[string]func(*os.File) error{
		"report.html": func(f *os.File) error { return report.WriteHTML(f, d) },
		"junit.xml":   func(f *os.File) error { return report.WriteJUnit(f, d) },
		"summary.md":  func(f *os.File) error { return report.WriteMarkdown(f, d) },
	} {
		if err := writeFile(filepath.Join(dir, name), write); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, write func(*os.File) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("report %s: %w", path, err)
	}
	return f.Close()
}
