package cli

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaosd/chaosd/history/synth"
)

// Every command accepts its flags after its arguments: `chaosd CMD ARG --help` stops at
// --help (exit 0, the usage text) instead of taking --help for a second argument.
func TestFlagsAfterArgumentsEveryCommand(t *testing.T) {
	for _, c := range commands() {
		code, _, errOut := run(t, c.name, "some-argument", "--help")
		if code != ExitOK || !strings.Contains(errOut, "Usage: chaosd "+c.name) {
			t.Errorf("%s ARG --help: exit %d, output %q", c.name, code, errOut)
		}
		code, _, errOut = run(t, c.name, "some-argument", "--no-such-flag")
		if code != ExitError || !strings.Contains(errOut, "no-such-flag") {
			t.Errorf("%s ARG --no-such-flag: exit %d, want the flag named, got %q", c.name, code, errOut)
		}
	}
	code, _, errOut := run(t, "--fault=kill-owner", "--help")
	if code != ExitOK || !strings.Contains(errOut, "Examples:") {
		t.Errorf("--fault --help: exit %d, %q", code, errOut)
	}
}

func TestFlagsAfterArgumentsTakeEffect(t *testing.T) {
	hist := synthFile(t, synth.Options{Runs: 400})

	out := filepath.Join(t.TempDir(), "report-out")
	if code, _, errOut := run(t, "report", hist, "--out", out); code != ExitOK {
		t.Fatalf("report FILE --out DIR: exit %d, %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(out, "report.html")); err != nil {
		t.Fatalf("report FILE --out DIR wrote no report.html into DIR: %v", err)
	}

	code, stdout, errOut := run(t, "analyze", hist, "--json", "--progress", "off", "--log-level", "debug")
	if code != ExitOK || !strings.HasPrefix(strings.TrimSpace(stdout), "{") {
		t.Fatalf("analyze FILE --json: exit %d, stdout %.200q, stderr %s", code, stdout, errOut)
	}
	// Flags on both sides of the argument.
	code, stdout, _ = run(t, "analyze", "--progress", "off", hist, "--json")
	if code != ExitOK || !strings.HasPrefix(strings.TrimSpace(stdout), "{") {
		t.Fatalf("analyze --progress off FILE --json: exit %d, %.200q", code, stdout)
	}

	// "--" ends the flags: what follows is an argument even when it starts with a dash.
	code, _, errOut = run(t, "analyze", "--progress", "off", "--", "--json")
	if code != ExitError || !strings.Contains(errOut, "--json") || strings.Contains(errOut, "flag provided") {
		t.Fatalf("analyze -- --json: want the file --json not found, got exit %d, %q", code, errOut)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	if code, _, errOut := run(t, "healthcheck", srv.URL, "--timeout", "2s"); code != ExitOK {
		t.Fatalf("healthcheck URL --timeout: exit %d, %s", code, errOut)
	}
	if code, _, errOut := run(t, "healthcheck", srv.URL, "--timeout", "-1s"); code != ExitError || !strings.Contains(errOut, "--timeout") {
		t.Fatalf("healthcheck URL --timeout -1s: exit %d, %s", code, errOut)
	}

	code, stdout, errOut = run(t, "targets", "mesh-current", "--log-level", "warn")
	if code != ExitOK || !strings.Contains(stdout, "mesh-current") {
		t.Fatalf("targets NAME --log-level: exit %d, %q %s", code, stdout, errOut)
	}

	code, _, errOut = run(t, "testbed", "--log-level", "warn", "nigrate")
	if code != ExitError || !strings.Contains(errOut, `"nigrate"`) {
		t.Fatalf("testbed nigrate: exit %d, %q", code, errOut)
	}
}

// Each example in a command's --help parses: its flags exist and its values are valid
// (`--help` appended stops the command before it runs).
func TestEveryExampleParses(t *testing.T) {
	checked := 0
	for name, lines := range examples {
		for _, line := range lines {
			words := shellWords(line)
			for len(words) > 0 && strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "-") {
				words = words[1:] // VAR=value prefixes
			}
			if len(words) == 0 || words[0] != "chaosd" {
				continue // e.g. a curl line
			}
			args := words[1:]
			for i, w := range args {
				if w == "#" || w == "&&" || w == ">" || w == "(started" {
					args = args[:i]
					break
				}
			}
			checked++
			code, _, errOut := run(t, append(args, "--help")...)
			if code != ExitOK || !strings.Contains(errOut, "Usage: chaosd") {
				t.Errorf("%s: example %q does not parse: exit %d, %s", name, line, code, firstLine(errOut))
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d examples checked", checked)
	}
}

// shellWords splits a command line on blanks, keeping single-quoted words whole.
func shellWords(s string) []string {
	var out []string
	var cur strings.Builder
	quoted, in := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			quoted, in = !quoted, true
		case r == ' ' && !quoted:
			if in {
				out, in = append(out, cur.String()), false
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }
