package report

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/history/synth"
	"github.com/chaosd/chaosd/invariants"
)

// FromFile given the live path of a rotated, gzipped history sees all of it.
func TestReportOfARotatedHistory(t *testing.T) {
	o := synth.Options{Runs: 700}
	path := filepath.Join(t.TempDir(), "h.jsonl")
	if _, err := synth.WriteRotated(path, o, 64<<10); err != nil {
		t.Fatal(err)
	}
	if segs, err := history.Segments(path); err != nil || len(segs) < 5 {
		t.Fatalf("%d segments, %v", len(segs), err)
	}
	rotated, err := FromFile(path, invariants.Params{})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := FromFile(synthFile(t, o), invariants.Params{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rotated.Runs) != 700 || !reflect.DeepEqual(rotated, plain) {
		t.Fatalf("rotated history reads differently: %d runs, %d faults, from %s to %s; plain %d runs, %d faults, from %s to %s",
			len(rotated.Runs), len(rotated.Faults), rotated.From, rotated.To, len(plain.Runs), len(plain.Faults), plain.From, plain.To)
	}
}

// FromFileWith builds the same timeline as FromFile from a rotated history and keeps
// the verdicts it is given (a live checker's), without checking the history again.
func TestReportWithGivenVerdicts(t *testing.T) {
	o := synth.Options{Runs: 300, DeliverNew: true}
	path := filepath.Join(t.TempDir(), "h.jsonl")
	if _, err := synth.WriteRotated(path, o, 64<<10); err != nil {
		t.Fatal(err)
	}
	checked, err := FromFile(path, invariants.Params{})
	if err != nil {
		t.Fatal(err)
	}
	if checked.Verdicts.Status != invariants.Fail {
		t.Fatalf("the deliver-new history checks %s, want FAIL (the test needs verdicts that differ)", checked.Verdicts.Status)
	}
	given := invariants.Report{Status: invariants.Pass, Events: 42}
	d, err := FromFileWith(path, given)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d.Verdicts, given) {
		t.Fatalf("verdicts %+v, want the given %+v", d.Verdicts, given)
	}
	d.Verdicts = checked.Verdicts
	if !reflect.DeepEqual(d, checked) {
		t.Fatalf("timeline differs from FromFile's: %d runs, %d faults; FromFile %d runs, %d faults", len(d.Runs), len(d.Faults), len(checked.Runs), len(checked.Faults))
	}
}
