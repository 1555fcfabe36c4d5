package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, IO{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	return code, out.String(), errb.String()
}

func TestHelpListsEveryCommand(t *testing.T) {
	code, out, _ := run(t, "--help")
	if code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	for _, c := range commands() {
		if !strings.Contains(out, c.name) {
			t.Errorf("help does not list %q:\n%s", c.name, out)
		}
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range commands() {
		code, _, errOut := run(t, c.name, "--help")
		if code != ExitOK || !strings.Contains(errOut, "Usage: chaosd "+c.name) {
			t.Errorf("%s --help: exit %d, output %q", c.name, code, errOut)
		}
	}
}

func TestUnknownCommandAndFlag(t *testing.T) {
	code, _, errOut := run(t, "frobnicate")
	if code != ExitError || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Fatalf("exit %d, %q", code, errOut)
	}
	code, _, errOut = run(t, "version", "--bogus")
	if code != ExitError || !strings.Contains(errOut, "bogus") {
		t.Fatalf("exit %d, %q", code, errOut)
	}
	code, _, errOut = run(t, "version", "extra")
	if code != ExitError || !strings.Contains(errOut, `unexpected argument "extra"`) {
		t.Fatalf("exit %d, %q", code, errOut)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := run(t, "version")
	if code != ExitOK || !strings.HasPrefix(out, "chaosd ") || !strings.Contains(out, "go1.") {
		t.Fatalf("exit %d, %q", code, out)
	}
}

func TestSmokeRejectsBadFlags(t *testing.T) {
	cases := map[string][]string{
		`"ftp://x" is not an http(s) base URL`: {"--pods", "ftp://x,http://y"},
		"workload.pods: need at least 2 pods":  {"--pods", "http://x"},
		// --fault's default hint, slow:20x250: 20 chunks
		"--late-after: 20 must be in [1, 20)":                                  {"--late-after", "20"},
		"--late-after: 3 must be in [1, 3)":                                    {"--hint", "slow:3x10", "--late-after", "3"},
		"workload.late_after: must be at least 1":                              {"--late-after", "0"},
		"target mesh-current finds its pods in Docker; smoke needs their URLs": {"--target", "mesh-current"},
		`hint "slow:200001x1"`:                                                 {"--hint", "slow:200001x1"},
		"provider faults (cut)":                                                {"--hint", "cut:3"},
		"--timeout: -1s must be positive":                                      {"--timeout", "-1s"},
	}
	for want, args := range cases {
		code, _, errOut := run(t, append([]string{"smoke"}, args...)...)
		if code != ExitError || !strings.Contains(errOut, want) {
			t.Errorf("smoke %v: exit %d, %q; want %q", args, code, errOut, want)
		}
	}
	// The environment --fault reads reaches smoke too.
	var out, errb bytes.Buffer
	env := map[string]string{"CHAOSD_HINT": "slow:5x10", "CHAOSD_LATE_AFTER": "5"}
	code := Main(context.Background(), []string{"smoke"}, IO{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }})
	if code != ExitError || !strings.Contains(errb.String(), "--late-after: 5 must be in [1, 5)") {
		t.Errorf("smoke with CHAOSD_HINT and CHAOSD_LATE_AFTER: exit %d, %q", code, errb.String())
	}
}

func TestSmokeUnreachablePodsIsExit2(t *testing.T) {
	code, _, errOut := run(t, "smoke", "--pods", "http://127.0.0.1:1,http://127.0.0.1:2", "--timeout", "5s", "--log-level", "error")
	if code != ExitError || !strings.Contains(errOut, "pods not ready: http://127.0.0.1:1") {
		t.Fatalf("exit %d, %q", code, errOut)
	}
}

func TestHelpFault(t *testing.T) {
	code, _, errOut := run(t, "help", "fault")
	if code != ExitOK || !strings.Contains(errOut, "Usage: chaosd --fault") {
		t.Fatalf("exit %d, %q", code, errOut)
	}
}

func TestCheckConfigNamesTheBadField(t *testing.T) {
	code, out, _ := run(t, "check-config")
	if code != ExitOK || !strings.Contains(out, "valid") || !strings.Contains(out, "workload:") {
		t.Fatalf("defaults: exit %d\n%s", code, out)
	}
	code, _, errOut := run(t, "check-config", "--config", "../config/testdata/invalid-owner-source.yml")
	if code != ExitError || !strings.Contains(errOut, `owner.source: want threads, dbos or query (got "mongo")`) {
		t.Fatalf("exit %d, %q", code, errOut)
	}
	code, _, errOut = run(t, "check-config", "--runs", "zero")
	if code != ExitError || !strings.Contains(errOut, "zero") {
		t.Fatalf("exit %d, %q", code, errOut)
	}
}

// check-config takes the one-shot's flags when given a fault, and checks the fault
// too: what chaosd --fault=KIND --check-config does.
func TestCheckConfigWithAFault(t *testing.T) {
	for _, args := range [][]string{
		{"check-config", "--fault=kill-owner", "--down-for=15s"},
		{"check-config", "-fault", "pause-owner", "--duration=5s"},
		{"--fault=kill-owner", "--check-config"},
	} {
		code, out, errOut := run(t, args...)
		if code != ExitOK || !strings.Contains(out, "workload:") {
			t.Errorf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
	}
	for args, want := range map[string]string{
		"check-config --fault=melt-owner":             "--fault: ",
		"check-config --fault=kill":                   "say which pod",
		"--fault=rollout-owner --check-config":        "restarts every pod in turn",
		"check-config --fault=kill-owner --runs=zero": "zero",
	} {
		code, _, errOut := run(t, strings.Fields(args)...)
		if code != ExitError || !strings.Contains(errOut, want) {
			t.Errorf("%s: exit %d, want %d and %q in: %s", args, code, ExitError, want, errOut)
		}
	}
	if hasFaultFlag([]string{"--", "--fault=kill-owner"}) || !hasFaultFlag([]string{"--config=x.yml", "--fault", "kill-owner"}) {
		t.Error("hasFaultFlag: a fault after -- is an argument; --fault KIND is a fault")
	}
}
