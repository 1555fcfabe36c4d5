package promise

import (
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	got, err := Parse([]string{RestartRecovery, RunCompletes, RestartRecovery})
	if err != nil || !slices.Equal(got, []string{RestartRecovery, RunCompletes}) {
		t.Fatalf("Parse: %v, %v", got, err)
	}
	_, err = Parse([]string{RunCompletes, "survivor-takeovr"})
	if err == nil || !strings.Contains(err.Error(), `unknown promise "survivor-takeovr"`) || !strings.Contains(err.Error(), strings.Join(Names(), ", ")) {
		t.Fatalf("unknown name: %v", err)
	}
	if err := Validate([]string{StreamExactlyOnce, StreamKeptLog}); err == nil || !strings.Contains(err.Error(), "contradict") {
		t.Fatalf("contradiction: %v", err)
	}
	if got, err := Parse(nil); err != nil || len(got) != 0 {
		t.Fatalf("no promises: %v, %v", got, err)
	}
}

func TestSets(t *testing.T) {
	for name, set := range map[string][]string{"May2026": May2026, "Current": Current, "Default": Default} {
		if err := Validate(set); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if !slices.Equal(Default, May2026) {
		t.Errorf("Default %v, want May2026", Default)
	}
	for _, p := range All {
		if p.Statement == "" || Statement(p.Name) != p.Statement {
			t.Errorf("%s: statement %q", p.Name, p.Statement)
		}
	}
	if _, ok := Lookup("nope"); ok || Statement("nope") != "" {
		t.Error("an unknown name was found")
	}
}
