package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestEveryProfileParsesAndValidates(t *testing.T) {
	for _, p := range Profiles() {
		c, err := ForTarget(p.Name)
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s (%s) does not validate: %v", p.Name, p.File, err)
		}
		if c.Target != p.Name || p.About == "" || strings.HasPrefix(p.About, "#") {
			t.Errorf("%s: target %q, about %q", p.Name, c.Target, p.About)
		}
	}
}

// The bundled profile states the bundled cluster's facts: they must be Default()'s.
func TestBundledProfileIsTheDefault(t *testing.T) {
	c, err := ForTarget(TargetBundled)
	if err != nil {
		t.Fatal(err)
	}
	if d := Default(); !reflect.DeepEqual(c, d) {
		t.Errorf("bundled profile\n%+v\nDefault()\n%+v", c, d)
	}
}

// bundled-30 is the bundled cluster with more pods as another compose project: the
// bundled profile but for the project, and for addresses that name the project's
// services (reached at whatever ports they publish) and pods found in Docker.
func TestBundled30ProfileIsTheBundledOneElsewhere(t *testing.T) {
	c, err := ForTarget(TargetBundled30)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Target = TargetBundled30
	want.Selector.Project = "chaosd-30"
	want.Postgres.DSN = "postgres://postgres:postgres@postgres:5432/postgres?sslmode=disable"
	want.Workload.NATS = "nats://nats:4222"
	want.Workload.Pods = []PodURL{}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("bundled-30 profile\n%+v\nwant the bundled profile with its project and addresses\n%+v", c, want)
	}
}

func TestProfilesSortByName(t *testing.T) {
	if got := ProfileNames(); !slices.IsSorted(got) || !slices.Contains(got, TargetBundled30) {
		t.Errorf("profiles %v: want sorted by name, with %s", got, TargetBundled30)
	}
}

func TestMeshHarnessProfile(t *testing.T) {
	c, err := ForTarget(TargetMesh202605)
	if err != nil {
		t.Fatal(err)
	}
	w := c.Workload
	switch {
	case c.Selector.Project != "multi-pod", !strings.Contains(c.Postgres.DSN, "@postgres:5432/"), w.NATS != "nats://nats:4222",
		w.ProviderURL != "http://mock-ai:9000/v1", len(w.Pods) != 0, w.HeartbeatTTL.Std() != 45*time.Second,
		w.HeartbeatInt.Std() != 10*time.Second, c.Pods.BootTime.Std() != 30*time.Second, c.Pods.NameFrom != "env:POD_NAME":
		t.Errorf("mesh-2026-05: %+v", c)
	}
	if got := c.Faults.Peers["mockai"]; !reflect.DeepEqual(got, []string{"mock-ai"}) {
		t.Errorf("mockai peers %v", got)
	}
	if got := c.Faults.Peers["nats"]; !reflect.DeepEqual(got, []string{"nats"}) {
		t.Errorf("the profile's map keeps the defaults' other keys: nats peers %v", got)
	}
}

// The user's file overrides the profile field by field; its target: picks the profile.
func TestFileOverridesTheProfileFieldByField(t *testing.T) {
	c, err := Parse([]byte("target: mesh-2026-05\nworkload: {heartbeat_ttl: 30s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Target != TargetMesh202605 || c.Workload.HeartbeatTTL.Std() != 30*time.Second || c.Workload.HeartbeatInt.Std() != 10*time.Second ||
		c.Selector.Project != "multi-pod" {
		t.Errorf("%+v", c)
	}
}

func TestTargetFromFlagEnvAndFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yml")
	if err := os.WriteFile(file, []byte("target: mesh-2026-05\npods: {boot_time: 40s}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	resolve := func(env map[string]string, args ...string) (Config, error) {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		f := RegisterFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		c, _, err := f.Resolve(func(k string) string { return env[k] })
		return c, err
	}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		target  string
		project string
		boot    time.Duration
	}{
		{"nothing", nil, nil, TargetBundled, "chaosd", 5 * time.Second},
		{"flag", nil, []string{"--target=mesh-2026-05"}, TargetMesh202605, "multi-pod", 30 * time.Second},
		{"env", map[string]string{EnvTarget: "mesh-2026-05"}, nil, TargetMesh202605, "multi-pod", 30 * time.Second},
		{"file", nil, []string{"--config=" + file}, TargetMesh202605, "multi-pod", 40 * time.Second},
		{"flag over file", nil, []string{"--config=" + file, "--target=bundled"}, TargetBundled, "chaosd", 40 * time.Second},
		{"flag over env and profile", map[string]string{EnvTarget: "bundled"}, []string{"--target=mesh-2026-05", "--compose-project=mine"}, TargetMesh202605, "mine", 30 * time.Second},
	} {
		c, err := resolve(tc.env, tc.args...)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if c.Target != tc.target || c.Selector.Project != tc.project || c.Pods.BootTime.Std() != tc.boot {
			t.Errorf("%s: target %s project %s boot %s, want %s %s %s", tc.name, c.Target, c.Selector.Project, c.Pods.BootTime, tc.target, tc.project, tc.boot)
		}
	}
	if _, err := resolve(nil, "--target=mesh-2025"); err == nil || !strings.Contains(err.Error(), `--target: unknown target "mesh-2025" (known: bundled, bundled-30, k8s-testbed, mesh-2026-05, mesh-current`) {
		t.Errorf("unknown target: %v", err)
	}
}
