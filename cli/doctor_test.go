package cli

import (
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"

	"github.com/chaosd/chaosd/config"
	"github.com/chaosd/chaosd/faults"
)

func TestTargetsListsAndPrintsTheProfiles(t *testing.T) {
	code, out, errOut := run(t, "targets")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"bundled", "mesh-2026-05", "mesh-current", "config/targets/mesh-2026-05.yaml", "Postgres and NATS not published"} {
		if !strings.Contains(out, want) {
			t.Errorf("chaosd targets lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = run(t, "targets", "mesh-2026-05")
	if code != ExitOK || !strings.Contains(out, "heartbeat_ttl: 45s") || !strings.Contains(out, "project: multi-pod") {
		t.Errorf("chaosd targets mesh-2026-05: exit %d\n%s", code, out)
	}
	code, _, errOut = run(t, "targets", "mesh-2025")
	if code != ExitError || !strings.Contains(errOut, `unknown target "mesh-2025"`) {
		t.Errorf("an unknown target: exit %d, %s", code, errOut)
	}
}

func TestDoctorWithADeadDockerDaemonSaysSo(t *testing.T) {
	for _, args := range [][]string{{"doctor"}, {"doctor", "--suggest"}} {
		code, _, errOut := run(t, append(args, "--docker-host=unix:///nonexistent/docker.sock", "--log-level=error")...)
		if code != ExitError || !strings.Contains(errOut, "docker: cannot reach the daemon at unix:///nonexistent/docker.sock") {
			t.Errorf("%v: exit %d, %q", args, code, errOut)
		}
	}
	code, _, errOut := run(t, "doctor", "--target=nope")
	if code != ExitError || !strings.Contains(errOut, `unknown target "nope"`) {
		t.Errorf("doctor --target=nope: exit %d, %q", code, errOut)
	}
}

func TestPodURLsFromDocker(t *testing.T) {
	cfg, err := config.ForTarget(config.TargetMesh202605)
	if err != nil {
		t.Fatal(err)
	}
	ms := []faults.Member{
		{Target: faults.Target{Pod: "mesh-1", Service: "mesh-1"}, Ports: []container.Port{{PrivatePort: 3000, PublicPort: 13001, IP: "127.0.0.1"}}},
		{Target: faults.Target{Pod: "mesh-2", Service: "mesh-2"}},
		{Target: faults.Target{Pod: "postgres", Service: "postgres", Infra: true}},
		{Target: faults.Target{Pod: "chaosd", Service: "chaosd"}, Skipped: true},
	}
	got := podURLs(cfg, ms)
	want := []config.PodURL{{Name: "mesh-1", URL: "http://mesh-1:3000"}, {Name: "mesh-2", URL: "http://mesh-2:3000"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("pods from Docker: %v, want %v (the resolver then routes each: published port, else the forwarder)", got, want)
	}
	cfg.Workload.Pods = []config.PodURL{{Name: "a", URL: "http://127.0.0.1:1"}, {Name: "b", URL: "http://127.0.0.1:2"}}
	if got := podURLs(cfg, ms); len(got) != 2 || got[0].Name != "a" {
		t.Errorf("configured pods are kept: %v", got)
	}
}
