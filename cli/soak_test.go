package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/chaosd/chaosd/config"
	"github.com/chaosd/chaosd/faults"
	"github.com/chaosd/chaosd/soak"
	"github.com/chaosd/chaosd/workload"
)

func TestSoakRejectsBadSettings(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"soak", "--duration", "soon"}, `--duration: "soon" is not a duration`},
		{[]string{"soak", "--duration", "2m"}, "soak.cooldown: warmup (1m0s) plus cooldown must be shorter than the duration (2m0s)"},
		{[]string{"soak", "--schedule", "kill=61 * * * *"}, `soak.faults[0].schedule: end of range (61) above maximum (59): 61 (got "61 * * * *")`},
		{[]string{"soak", "--schedule", "reboot=@every 1m"}, `soak.faults[0].kind: want one of kill, stop, pause, partition, rollout, delete (got "reboot")`},
		{[]string{"soak", "--alertmanager", "am.local:9093"}, "alerts.alertmanager: want Alertmanager's base URL"},
		{[]string{"soak", "--metrics-addr", "9464"}, "metrics.addr: want host:port"},
		{[]string{"soak", "extra"}, `unexpected argument "extra"`},
	} {
		// A case that slipped through would soak whatever cluster is up: point it at
		// no Docker at all, so that it ends at once.
		var out, errb bytes.Buffer
		code := Main(context.Background(), tc.args, IO{Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
			return map[string]string{"CHAOSD_DOCKER_HOST": "unix:///nonexistent/docker.sock"}[k]
		}})
		if errOut := errb.String(); code != ExitError || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestSoakSecretsNeverPrinted(t *testing.T) {
	code, out, errOut := run(t, "soak", "--check-config", "--alert-webhook", "https://hooks.example.com/T1/SECRET1",
		"--alert-slack", "https://hooks.slack.com/services/T2/SECRET2", "--alertmanager", "http://u:SECRET3@127.0.0.1:9093")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, s := range []string{"SECRET1", "SECRET2", "SECRET3"} {
		if strings.Contains(out+errOut, s) {
			t.Errorf("%s printed:\n%s", s, out)
		}
	}
	if !strings.Contains(out, "https://hooks.example.com/<redacted>") {
		t.Errorf("the webhook is not shown redacted:\n%s", out)
	}
}

func TestSoakDockerUnreachableIsExit2(t *testing.T) {
	var out, errb bytes.Buffer
	env := map[string]string{"CHAOSD_DOCKER_HOST": "unix:///nonexistent/docker.sock", "CHAOSD_LEDGER": t.TempDir() + "/ledger.jsonl",
		"CHAOSD_SOAK_OUT": t.TempDir(), "CHAOSD_METRICS_ADDR": ""}
	code := Main(context.Background(), []string{"soak", "--log-level", "error"}, IO{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }})
	if code != ExitError || !strings.Contains(errb.String(), "nonexistent/docker.sock") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}

func TestSoakFaultersTargets(t *testing.T) {
	cfg := config.Default()
	cfg.Soak.Faults = []config.SoakFault{{Kind: "kill", Schedule: "@every 1m", Target: "owner"},
		{Kind: "pause", Schedule: "@every 1m", Target: "random"}, {Kind: "partition", Schedule: "@every 1m", Target: "mesh-2"}}
	fs, err := soakFaulters(cfg, &faults.Injector{}, false)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]faults.TargetSpec{"kill": {Mode: faults.PickOwner}, "pause": {Mode: faults.PickRandom}, "partition": {Mode: faults.PickNamed, Name: "mesh-2"}}
	for kind, ts := range want {
		df := fs[kind].(*dockerFaulter)
		if df.req.Target.Mode != ts.Mode || df.req.Target.Name != ts.Name || df.req.Kind != kind {
			t.Errorf("%s: request %+v, want target %+v", kind, df.req, ts)
		}
	}
	if h := fs["pause"].(*dockerFaulter).req.Spec.Hold; h != 28*time.Second {
		t.Errorf("pause hold %s, want auto: 28s on the bundled timings (owner grace 18s + slack 10s)", h)
	}
	never := config.Hold{Never: true}
	k := cfg.Faults.Kinds["kill"]
	k.DownFor = &never
	cfg.Faults.Kinds["kill"] = k
	if _, err := soakFaulters(cfg, &faults.Injector{}, false); err == nil || !strings.Contains(err.Error(), "a soak must heal every fault") {
		t.Errorf("kill held forever: %v", err)
	}
}

func TestProgressLine(t *testing.T) {
	p := soak.Progress{Phase: soak.PhaseFaulting, Elapsed: 3723 * time.Second, Total: 8 * time.Hour,
		Runs: workload.Stats{Completed: 812, Failed: 3}, InFlight: 4, Faults: soak.FaultStats{Fired: 31, Healed: 30, Failed: 1},
		Violations: 2, Unknowns: 5, Active: "pause mesh-2", Outage: "nats has been unreachable since 01:02:03 (down)"}
	got := progressLine(p)
	for _, want := range []string{"faulting", "1:02:03/8:00:00", "runs 812 ok 3 not 4 in flight", "faults 31 (healed 30, failed 1)",
		"violations 2", "unknown 5", "[pause mesh-2]", "DEPENDENCY AWAY: nats"} {
		if !strings.Contains(got, want) {
			t.Errorf("progress line %q lacks %q", got, want)
		}
	}
	var b bytes.Buffer
	pr := &soakProgress{w: &b, line: true, log: zap.NewNop(), every: time.Minute}
	pr.update(p)
	pr.update(p)
	pr.done()
	if n := strings.Count(b.String(), "\r\033[K"); n != 2 || !strings.HasSuffix(b.String(), "\n") {
		t.Errorf("terminal line: %q", b.String())
	}
}

func TestSoakDirKeepsEverySoak(t *testing.T) {
	out := t.TempDir()
	t0 := time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)
	a, err := soakDir(out, t0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := soakDir(out, t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if a == b || !strings.HasSuffix(a, "20261127T200000Z") || !strings.HasSuffix(b, "20261128T200000Z") {
		t.Fatalf("dirs %s and %s", a, b)
	}
	if l, err := os.Readlink(filepath.Join(out, "latest")); err != nil || l != "20261128T200000Z" {
		t.Fatalf("latest -> %q (%v), want the newest soak", l, err)
	}
	if _, err := soakDir(filepath.Join(out, "latest", "x\x00"), t0); err == nil {
		t.Fatal("a bad directory was accepted")
	}
}
