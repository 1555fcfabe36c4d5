package synth_test

import (
	"bytes"
	"testing"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/history/synth"
	"github.com/chaosd/chaosd/invariants"
)

func analyze(t *testing.T, o synth.Options) (invariants.Report, int) {
	t.Helper()
	var buf bytes.Buffer
	w := history.NewWriter(&buf, history.Options{Buffered: true})
	n, err := synth.Generate(w, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := invariants.Analyze(history.NewReader(&buf), invariants.Params{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Events != n {
		t.Fatalf("analyzed %d events, generated %d", rep.Events, n)
	}
	return rep, n
}

func TestCleanSynthPassesEveryInvariant(t *testing.T) {
	rep, _ := analyze(t, synth.Options{Runs: 700}) // 140 s: two pause faults
	for _, v := range rep.Verdicts {
		if v.Status != invariants.Pass {
			t.Errorf("%s %s exercised %d: %s %v", v.Name, v.Status, v.Exercised, v.Message(), v.Notes)
		}
		if v.UnderFault == 0 {
			t.Errorf("%s was never exercised under fault", v.Name)
		}
	}
	if rep.Status != invariants.Pass || !rep.Ended {
		t.Fatalf("overall %s ended %v", rep.Status, rep.Ended)
	}
}

func TestSynthEventsBudgetAndDefect(t *testing.T) {
	rep, n := analyze(t, synth.Options{Events: 5000, DeliverNew: true})
	if n < 5000 || n > 6000 {
		t.Fatalf("%d events for a budget of 5000", n)
	}
	for _, v := range rep.Verdicts {
		if v.Name == invariants.NamePrefixReplay && (v.Status != invariants.Fail || v.Violations != v.Exercised) {
			t.Fatalf("deliver-new: prefix-replay %s, %d violations of %d exercised", v.Status, v.Violations, v.Exercised)
		}
	}
}
