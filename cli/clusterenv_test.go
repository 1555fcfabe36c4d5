package cli

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/chaosd/chaosd/config"
)

// clusterEnvBranch is what `deploy/cluster.sh env` prints for a second bundled cluster
// beside the default one: project branch, every host port 10000 above the default
// (TestClusterEnvScriptPrintsIt runs the script and compares).
const clusterEnvBranch = `CHAOSD_TARGET=bundled
CHAOSD_PODS=http://127.0.0.1:23001,http://127.0.0.1:23002,http://127.0.0.1:23003
CHAOSD_DATABASE_URL='postgres://postgres:postgres@127.0.0.1:25432/postgres?sslmode=disable'
CHAOSD_NATS_URL=nats://127.0.0.1:24222
CHAOSD_PROVIDER_URL=http://mockai:9000/v1
CHAOSD_COMPOSE_PROJECT=branch
unset CHAOSD_NATS_MONITOR_URL CHAOSD_MOCKAI_URL
export CHAOSD_TARGET CHAOSD_PODS CHAOSD_DATABASE_URL CHAOSD_NATS_URL CHAOSD_PROVIDER_URL CHAOSD_COMPOSE_PROJECT
`

// branchSettings are the deploy/cluster.sh settings that boot that cluster.
var branchSettings = []string{"CHAOSD_PROJECT=branch", "CHAOSD_POD1_PORT=23001", "CHAOSD_POD2_PORT=23002", "CHAOSD_POD3_PORT=23003",
	"CHAOSD_PG_PORT=25432", "CHAOSD_NATS_PORT=24222", "CHAOSD_NATS_MONITOR_PORT=28222", "CHAOSD_MOCKAI_PORT=29000"}

// shellEnv reads the assignments of a sourced env script: NAME=VALUE lines, single
// quotes removed; comments, export and unset lines carry no value.
func shellEnv(t *testing.T, text string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "export ") || strings.HasPrefix(line, "unset ") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("env script: %q is no assignment", line)
		}
		out[k] = strings.Trim(v, "'")
	}
	return out
}

// Every variable deploy/cluster.sh env prints is a setting chaosd reads, and sourced
// alone it points --fault, soak and check-config at that cluster: its pods, Postgres,
// NATS, project, and the state paths of its own target.
func TestClusterEnvIsAllChaosdNeeds(t *testing.T) {
	env := shellEnv(t, clusterEnvBranch)
	read := map[string]bool{config.EnvTarget: true, config.EnvConfig: true}
	for _, o := range config.Overrides() {
		read[o.Env] = true
	}
	for k := range env {
		if !read[k] {
			t.Errorf("deploy/cluster.sh env prints %s, which chaosd does not read", k)
		}
	}
	getenv := func(k string) string { return env[k] }

	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	cf := config.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := cf.Resolve(getenv)
	if err != nil {
		t.Fatal(err)
	}
	wantPods := []config.PodURL{{URL: "http://127.0.0.1:23001"}, {URL: "http://127.0.0.1:23002"}, {URL: "http://127.0.0.1:23003"}}
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"pods", cfg.Workload.Pods, wantPods},
		{"dsn", cfg.Postgres.DSN, "postgres://postgres:postgres@127.0.0.1:25432/postgres?sslmode=disable"},
		{"nats", cfg.Workload.NATS, "nats://127.0.0.1:24222"},
		{"project", cfg.Selector.Project, "branch"},
		{"provider", cfg.Workload.ProviderURL, "http://mockai:9000/v1"},
		{"ledger", cfg.Ledger.Path, "/var/lib/chaosd/branch/ledger.jsonl"},
		{"history dir", cfg.Workload.HistoryDir, "chaosd-history/branch"},
		{"soak out", cfg.Soak.Out, "chaosd-soak/branch"},
		{"state key", cfg.StateKey(), "branch"},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: resolved %v, want %v", c.what, c.got, c.want)
		}
	}

	// The commands print what they would use, with nothing but the environment.
	for _, args := range [][]string{
		{"check-config"},
		{"check-config", "--fault=kill-owner"},
		{"--fault=pause-owner", "--check-config"},
		{"soak", "--check-config"},
		{"check-config", "--preflight=false"}, // what soak takes, check-config takes
	} {
		var out, errb bytes.Buffer
		code := Main(context.Background(), args, IO{Stdout: &out, Stderr: &errb, Getenv: getenv})
		if code != ExitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errb.String())
		}
		for _, want := range []string{"project: branch", "url: http://127.0.0.1:23001", "url: http://127.0.0.1:23003", "127.0.0.1:25432/postgres",
			"nats: nats://127.0.0.1:24222", "path: /var/lib/chaosd/branch/ledger.jsonl", "history_dir: chaosd-history/branch", "out: chaosd-soak/branch"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%v: no %q in\n%s", args, want, out.String())
			}
		}
	}
}

// The literal above is what the script prints; for a mesh target, every variable it
// prints is read too.
func TestClusterEnvScriptPrintsIt(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash:", err)
	}
	clean := func(extra ...string) []string {
		var out []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "CHAOSD_") && !strings.HasPrefix(kv, "TESTBED_") && !strings.HasPrefix(kv, "TARGET=") {
				out = append(out, kv)
			}
		}
		return append(out, extra...)
	}
	printEnv := func(env []string) string {
		cmd := exec.Command(bash, "../deploy/cluster.sh", "env")
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("deploy/cluster.sh env: %v: %s", err, stderr.String())
		}
		return string(out)
	}
	if got, want := shellEnv(t, printEnv(clean(branchSettings...))), shellEnv(t, clusterEnvBranch); !reflect.DeepEqual(got, want) {
		t.Fatalf("deploy/cluster.sh env printed\n%v\nwant (the test's literal)\n%v", got, want)
	}
	mesh := shellEnv(t, printEnv(clean("TARGET=mesh-current", "CHAOSD_PROJECT=branch")))
	read := map[string]bool{config.EnvTarget: true}
	for _, o := range config.Overrides() {
		read[o.Env] = true
	}
	for k := range mesh {
		if !read[k] {
			t.Errorf("deploy/cluster.sh env (mesh-current) prints %s, which chaosd does not read", k)
		}
	}
	if mesh["CHAOSD_COMPOSE_PROJECT"] != "branch" || mesh["CHAOSD_TARGET"] != "mesh-current" || mesh["CHAOSD_PODS"] == "" {
		t.Errorf("mesh-current env: %v", mesh)
	}
}
