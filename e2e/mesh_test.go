//go:build e2e && mesh

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/chaosd/chaosd/config"
	"github.com/chaosd/chaosd/invariants"
)

// The mesh-2026-05 tier: the bundled stand-in booted in the shape of mesh's own
// harness (TARGET=mesh-2026-05 deploy/cluster.sh up: project multi-pod, mock-ai,
// Postgres and NATS not published, 45 s / 10 s heartbeats, executor id local), and
// chaosd pointed at it with --target=mesh-2026-05 and nothing else. scripts/e2e.sh
// runs it after the bundled tier, with the build tags e2e,mesh.

const meshTarget = "mesh-2026-05"

// meshRun is one chaosd invocation against the harness-shaped cluster.
type meshRun struct {
	code   int
	out    string
	hist   string
	ledger string
	took   time.Duration
}

// runChaosd runs chaosd with args and nothing else: no config file, the default
// history under a fresh working directory, a ledger of its own (CHAOSD_LEDGER) so that
// "nothing was injected" can be read off it.
func runChaosd(t *testing.T, within time.Duration, args ...string) meshRun {
	t.Helper()
	dir := t.TempDir()
	r := meshRun{ledger: filepath.Join(dir, "ledger.jsonl")}
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	cmd := exec.CommandContext(ctx, chaosdBin(t), args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), "CHAOSD_LEDGER="+r.ledger, "CHAOSD_LOG_LEVEL=warn")
	cmd.Env = append(cmd.Env, meshProjectEnv()...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	r.took, r.out = time.Since(start), out.String()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("chaosd %v: %v\n%s", args, err, r.out)
	}
	// The default history: chaosd-history/<target key>/ under the working directory.
	if hs, _ := filepath.Glob(filepath.Join(dir, config.DefaultHistoryDir, "*", "chaosd-*.jsonl")); len(hs) == 1 {
		r.hist = hs[0]
	}
	return r
}

// cleanEnv is the environment without the bundled cluster's CHAOSD_* settings (the
// tier's variables point at the bundled cluster): the profile alone must do.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CHAOSD_") && !strings.HasPrefix(kv, "TESTBED_") {
			out = append(out, kv)
		}
	}
	return out
}

func TestE2EMeshHarness(t *testing.T) {
	bootMesh(t, "")
	// doctor --suggest and the wrong profile look at every compose project on the
	// host: they run in TestE2EMeshAlone, with no other cluster up.
	t.Run("postgres-not-there", testMeshNoPostgres)
	t.Run("one-pod-down", testMeshPodDown)
	var rows []string
	for _, mc := range meshMatrix {
		name := strings.TrimPrefix(mc.fault[0], "--fault=")
		if mc.bugs != "" {
			name = mc.bugs + "/" + name
		}
		t.Run("matrix/"+name, func(t *testing.T) {
			switch mc.bugs {
			case "no-heartbeat-bucket":
				// Whether the bucket exists is decided at boot, and a NATS that outlived
				// the last boot would still hold it: a fresh cluster for this row.
				meshDown(t)
				bootMesh(t, mc.bugs)
			default:
				// Every other defect is switched at run time on the one boot (POST
				// /testbed/bugs on every pod), as in TestE2EMeshCurrent; each chaosd run
				// ends with every pod ready again.
				setBugs(t, mc.bugs)
				if mc.bugs != "" {
					t.Cleanup(func() { setBugs(t, "") })
				}
			}
			rows = append(rows, runMeshCase(t, mc))
		})
	}
	table := "| testbed defect | fault | exit | verdicts (fail in bold) | first violation after the fault | chaosd run |\n|---|---|---|---|---|---|\n" + strings.Join(rows, "\n") + "\n"
	t.Log("\n" + table)
	if out := os.Getenv("CHAOSD_MESH_MATRIX_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(table), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// meshMatrix: every fault with the default hold (auto: past owner-alive's grace for
// the 45 s TTL), and each defect switch with the default kill.
var meshMatrix = []matrixCase{
	{"", []string{"--fault=kill-owner"}, nil, false},
	{"", []string{"--fault=pause-owner"}, nil, false},
	{"", []string{"--fault=partition-owner"}, nil, false},
	{"deliver-new", []string{"--fault=kill-owner"}, []string{"prefix-replay"}, false},
	{"duplicate-on-resume", []string{"--fault=kill-owner"}, []string{"stream-integrity"}, false},
	{"purge-on-resume", []string{"--fault=kill-owner"}, []string{"prefix-replay", "stream-integrity"}, true},
	{"strict-claim", []string{"--fault=kill-owner"}, []string{"owner-alive"}, false},
	{"zombie-owner", []string{"--fault=pause-owner"}, []string{"no-write-after-end"}, false},
	{"no-heartbeat-bucket", []string{"--fault=kill-owner"}, []string{"heartbeat-bucket", "owner-alive"}, false},
}

func runMeshCase(t *testing.T, mc matrixCase) string {
	args := append([]string{"--target=" + meshTarget}, mc.fault...)
	r := runChaosd(t, 6*time.Minute, args...)
	if r.hist == "" {
		t.Fatalf("chaosd %v wrote no history (exit %d):\n%s", args, r.code, r.out)
	}
	rep, injected := analyzeHistory(t, r.hist)
	vs := map[string]invariants.Verdict{}
	for _, v := range rep.Verdicts {
		vs[v.Name] = v
	}
	judge(t, mc, r.code, vs, r.out)
	if !strings.Contains(r.out, "preflight (target "+meshTarget+"): fits:") {
		t.Errorf("no passing preflight in the output:\n%s", r.out)
	}
	return matrixRow(mc, r.code, rep, injected, r.took)
}

// testMeshWrongProfile: the bundled profile against the harness exits 2 from the
// preflight, names every mismatch with its fix, and touches nothing.
func testMeshWrongProfile(t *testing.T) {
	before := containerStarts(t)
	r := runChaosd(t, 3*time.Minute, "--target=bundled", "--fault=kill-owner")
	if r.code != 2 || !strings.Contains(r.out, "nothing was injected") {
		t.Fatalf("wrong profile: exit %d, want 2 from the preflight:\n%s", r.code, r.out)
	}
	for _, want := range []string{"containers", "MISMATCH", "compose project chaosd", "running compose projects: multi-pod", "postgres", "nats", "fix:"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("the preflight's table lacks %q:\n%s", want, r.out)
		}
	}
	assertNothingInjected(t, r, before)
	t.Log("\n" + r.out)
}

func testMeshNoPostgres(t *testing.T) {
	before := containerStarts(t)
	r := runChaosd(t, 3*time.Minute, "--target="+meshTarget, "--fault=kill-owner", "--database-url=postgres://postgres:postgres@127.0.0.1:1/postgres?sslmode=disable")
	if r.code != 2 || !strings.Contains(r.out, "postgres") || !strings.Contains(r.out, "point postgres.dsn") {
		t.Fatalf("no Postgres: exit %d, want 2 naming postgres.dsn:\n%s", r.code, r.out)
	}
	assertNothingInjected(t, r, before)
}

func testMeshPodDown(t *testing.T) {
	dc := docker(t)
	ctx := context.Background()
	id := meshContainer(t, "mesh-3")
	if err := dc.ContainerStop(ctx, id, container.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bootMesh(t, "") }) // starts mesh-3 again and waits for every pod
	before := containerStarts(t)
	r := runChaosd(t, 3*time.Minute, "--target="+meshTarget, "--fault=kill-owner")
	if r.code != 2 || !strings.Contains(r.out, "mesh-3 is exited") {
		t.Fatalf("a pod down: exit %d, want 2 naming mesh-3:\n%s", r.code, r.out)
	}
	assertNothingInjected(t, r, before)
}

// containerStarts maps each container of the harness to its start time and state.
func containerStarts(t *testing.T) map[string]string {
	t.Helper()
	dc := docker(t)
	cs, err := dc.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "com.docker.compose.project="+meshProject()))})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range cs {
		ci, err := dc.ContainerInspect(context.Background(), c.ID)
		if err != nil {
			t.Fatal(err)
		}
		out[ci.Name] = fmt.Sprintf("%s %s paused=%v", ci.State.Status, ci.State.StartedAt, ci.State.Paused)
	}
	return out
}

// assertNothingInjected: the ledger is empty, every container is as it was, and no
// forwarder is left behind.
func assertNothingInjected(t *testing.T, r meshRun, before map[string]string) {
	t.Helper()
	if data, err := os.ReadFile(r.ledger); err == nil && len(bytes.TrimSpace(data)) > 0 {
		t.Errorf("the ledger is not empty:\n%s", data)
	}
	after := containerStarts(t)
	for name, was := range before {
		if after[name] != was {
			t.Errorf("container %s was touched: %s, now %s", name, was, after[name])
		}
	}
	// The harness's forwarders only: another cluster's chaosd may run beside this one.
	fw, err := docker(t).ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "chaosd.forwarder="+meshProject()))})
	if err != nil || len(fw) > 0 {
		t.Errorf("forwarders left behind: %d (%v)", len(fw), err)
	}
}

func meshContainer(t *testing.T, service string) string {
	t.Helper()
	cs, err := docker(t).ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", "com.docker.compose.project="+meshProject()), filters.Arg("label", "com.docker.compose.service="+service))})
	if err != nil || len(cs) != 1 {
		t.Fatalf("container of %s: %d found (%v)", service, len(cs), err)
	}
	return cs[0].ID
}

func meshDown(t *testing.T) {
	t.Helper()
	meshDownTarget(t, meshTarget)
}

// bootMesh (re)boots the harness-shaped cluster with bugs switched on in every pod and
// the runtime switches served, and waits until every pod is ready.
func bootMesh(t *testing.T, bugs string) {
	t.Helper()
	bootTarget(t, meshTarget, bugs)
}

// meshProject is the compose project the mesh targets are booted under:
// CHAOSD_E2E_MESH_PROJECT, default multi-pod (the harness's own: its directory's
// name). scripts/e2e.sh boots mesh-current under another project so that it runs
// beside mesh-2026-05; chaosd is then told the project (CHAOSD_COMPOSE_PROJECT), as a
// user whose checkout of the harness lies in another directory would.
func meshProject() string {
	if p := os.Getenv("CHAOSD_E2E_MESH_PROJECT"); p != "" {
		return p
	}
	return defaultMeshProject
}

const defaultMeshProject = "multi-pod"

// meshProjectEnv is the environment that points cluster.sh (CHAOSD_PROJECT) and
// chaosd (CHAOSD_COMPOSE_PROJECT) at meshProject: none for the default.
func meshProjectEnv() []string {
	if p := meshProject(); p != defaultMeshProject {
		return []string{"CHAOSD_PROJECT=" + p, "CHAOSD_COMPOSE_PROJECT=" + p}
	}
	return nil
}

// meshPodPorts are the host ports the mesh targets' pods are published on:
// CHAOSD_E2E_MESH_POD_PORT and the two after it (default 13001..13003, the
// harness's own). scripts/e2e.sh moves them when the mesh phases run beside the
// bundled cluster, which holds 13001..13003.
func meshPodPorts(t *testing.T) []int {
	t.Helper()
	first := 13001
	if v := os.Getenv("CHAOSD_E2E_MESH_POD_PORT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1024 || n > 65533 {
			t.Fatalf("CHAOSD_E2E_MESH_POD_PORT=%q: want a port number from 1024 to 65533 (the first of three)", v)
		}
		first = n
	}
	return []int{first, first + 1, first + 2}
}

// meshPortEnv is what deploy/cluster.sh reads to publish the pods on meshPodPorts.
func meshPortEnv(t *testing.T) []string {
	var env []string
	for i, p := range meshPodPorts(t) {
		env = append(env, fmt.Sprintf("CHAOSD_POD%d_PORT=%d", i+1, p))
	}
	return env
}
