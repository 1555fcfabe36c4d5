package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/chaosd/chaosd/config"
	"github.com/chaosd/chaosd/faults"
)

func TestFaultRejectsBadFlags(t *testing.T) {
	cases := map[string][]string{
		"--fault: required, e.g. --fault=kill-owner":                                                              {"--dry-run"},
		`--fault: unknown fault kind "freeze" (known: kill, stop, pause`:                                          {"--fault=freeze-owner"},
		"--fault=pause: say which pod: --fault=pause-owner":                                                       {"--fault=pause"},
		"--pod: cannot be combined with --fault=kill-random":                                                      {"--fault=kill-random", "--pod=mesh-1"},
		"--duration: kill does not take it (use --down-for)":                                                      {"--fault=kill-owner", "--duration=5s"},
		"--down-for: pause does not take it (use --duration)":                                                     {"--fault=pause-owner", "--down-for=5s"},
		"--duration: pause cannot be held forever":                                                                {"--fault=pause-owner", "--duration=never"},
		`--duration: "soon" is not a duration`:                                                                    {"--fault=pause-owner", "--duration=soon"},
		"--duration: -1s must be positive":                                                                        {"--fault=partition-owner", "--duration=-1s"},
		"--peers: pause takes no peers":                                                                           {"--fault=pause-owner", "--peers=nats"},
		`--peers: unknown peer group "redis" (known: mockai, nats, pods`:                                          {"--fault=partition-random", "--peers=nats,redis"},
		"config: blast_radius.max_faulted: must be at least 1 (got 0)":                                            {"--fault=kill-owner", "--max-faulted=0"},
		"--fault: delete: the docker runtime does not offer it (it offers kill, stop, pause, partition, rollout)": {"--fault=delete-owner"},
	}
	for want, args := range cases {
		code, _, errOut := run(t, args...)
		if code != ExitError || !strings.Contains(errOut, want) {
			t.Errorf("%v: exit %d, %q; want %q", args, code, errOut, want)
		}
	}
}

func TestFaultHelpListsTheKinds(t *testing.T) {
	code, _, errOut := run(t, "help", "fault")
	if code != ExitOK || !strings.Contains(errOut, "KIND is one of: kill, stop, pause, partition, rollout on Docker; kill, stop, pause, partition, rollout, delete on Kubernetes") || !strings.Contains(errOut, "-down-for") || !strings.Contains(errOut, "-database-url") {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
}

func TestFaultCheckConfigPrintsTheResolvedConfig(t *testing.T) {
	code, out, errOut := run(t, "--fault=kill-owner", "--check-config", "--compose-project=other", "--config=../config/testdata/chaosd.yml")
	if code != ExitOK || !strings.Contains(out, "project: other") || !strings.Contains(out, "postgres:xxxxx@") || !strings.Contains(out, "file ../config/testdata/chaosd.yml") ||
		!strings.Contains(out, "target bundled (config/targets/bundled.yaml") {
		t.Fatalf("exit %d, %s\n%s", code, out, errOut)
	}
}

func TestFaultWithADeadDockerDaemonSaysSo(t *testing.T) {
	code, _, errOut := run(t, "--fault=pause", "--pod=mesh-1", "--docker-host=unix:///nonexistent/docker.sock",
		"--ledger="+filepath.Join(t.TempDir(), "l.jsonl"), "--log-level=error")
	if code != ExitError || !strings.Contains(errOut, "docker: cannot reach the daemon at unix:///nonexistent/docker.sock (is dockerd running?") {
		t.Fatalf("exit %d, %q", code, errOut)
	}
}

func TestRecoverDryRunSaysWhatItWouldHeal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.jsonl")
	l, err := faults.OpenLedger(path)
	if err != nil {
		t.Fatal(err)
	}
	err = l.Append(faults.Record{Op: faults.OpInject, Fault: "f-1", Kind: "pause", Target: &faults.Target{ID: "abc", Name: "proj_mesh-2_1", Pod: "mesh-2"},
		Undo: []byte(`{"container":"abc"}`), Undoes: "unpause it", Deadline: time.Now(), Owner: &faults.Process{PID: 1 << 30}})
	if err != nil {
		t.Fatal(err)
	}
	_ = l.Close()
	before, _ := os.ReadFile(path)
	code, out, errOut := run(t, "recover", "--dry-run", "--ledger="+path)
	if code != ExitOK || !strings.Contains(out, "recover f-1: pause mesh-2") || !strings.Contains(out, `would unpause it (undo {"container":"abc"})`) || !strings.Contains(out, "1 open fault(s)") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("a dry run changed the ledger")
	}
	code, out, _ = run(t, "recover", "--dry-run", "--ledger="+filepath.Join(t.TempDir(), "none.jsonl"))
	if code != ExitOK || !strings.Contains(out, "0 open fault(s)") {
		t.Fatalf("empty ledger: exit %d, %s", code, out)
	}
}

func TestWatchdogNeedsAFault(t *testing.T) {
	code, _, errOut := run(t, "--watch-fault=", "--ledger=/tmp/x.jsonl")
	if code != ExitError || !strings.Contains(errOut, "--watch-fault: name the fault") {
		t.Fatalf("exit %d, %q", code, errOut)
	}
}

func TestSecondSignalExitsAtOnce(t *testing.T) {
	exited := make(chan int, 1)
	exitNow = func(code int) { exited <- code }
	defer func() { exitNow = os.Exit }()
	stop := onSecondSignal(context.Background(), IO{Stderr: &strings.Builder{}}, zap.NewNop())
	defer stop()
	_ = syscall.Kill(os.Getpid(), syscall.SIGINT)
	select {
	case <-exited:
		t.Fatal("exited on the first signal")
	case <-time.After(100 * time.Millisecond):
	}
	_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case code := <-exited:
		if code != 130 {
			t.Fatalf("exit code %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a second signal did not exit")
	}
}

func TestFaultTargetProfileSetsTheTimings(t *testing.T) {
	code, out, errOut := run(t, "--fault=kill-owner", "--check-config", "--target=mesh-2026-05")
	if code != ExitOK || !strings.Contains(out, "target mesh-2026-05") || !strings.Contains(out, "project: multi-pod") ||
		!strings.Contains(out, "heartbeat_ttl: 45s") || !strings.Contains(out, "down_for: auto") {
		t.Fatalf("exit %d, %s\n%s", code, out, errOut)
	}
	code, _, errOut = run(t, "--fault=kill-owner", "--target=mesh-2025")
	if code != ExitError || !strings.Contains(errOut, `unknown target "mesh-2025" (known: bundled, `) || !strings.Contains(errOut, `mesh-2026-05, mesh-current`) {
		t.Fatalf("unknown target: exit %d, %s", code, errOut)
	}
}

func TestAutoHoldIsPastTheOwnerGrace(t *testing.T) {
	for _, tc := range []struct {
		target string
		want   time.Duration
	}{{"bundled", 28 * time.Second}, {"mesh-2026-05", 75 * time.Second}} {
		cfg, err := config.ForTarget(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		grace := paramsOf(cfg).Resolve(nil).OwnerGrace
		if got := autoHold(cfg); got != tc.want || got <= grace {
			t.Errorf("%s: auto hold %s, want %s (past the owner grace %s)", tc.target, got, tc.want, grace)
		}
		ff := &faultFlags{fault: "kill-owner"}
		req, err := ff.request(cfg)
		if err != nil || req.Spec.Hold != tc.want || req.Spec.Never {
			t.Errorf("%s: --fault=kill-owner holds %s (%v), want auto = %s", tc.target, req.Spec.Hold, err, tc.want)
		}
		ff = &faultFlags{fault: "kill-owner", downFor: "12s"}
		if req, err := ff.request(cfg); err != nil || req.Spec.Hold != 12*time.Second {
			t.Errorf("%s: --down-for=12s holds %s (%v)", tc.target, req.Spec.Hold, err)
		}
	}
}
