package config

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// resolve runs the command line's path: --config and flags, then Resolve.
func resolve(t *testing.T, env map[string]string, args ...string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	f := RegisterSoakFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	c, _, err := f.Resolve(func(k string) string { return env[k] })
	return c, err
}

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
}

// The documented example holds every field at its default.
func TestExampleFileIsTheDefault(t *testing.T) {
	c, err := resolve(t, nil, "--config", "testdata/chaosd.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.ApplyStateDefaults() // resolving fills the target's own state paths
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("testdata/chaosd.yml decodes to\n%+v\nwant Default()\n%+v", c, want)
	}
}

// Each testdata/invalid-*.yml states its exact error in "# error:" lines.
func TestInvalidConfigs(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid-*.yml")
	if len(files) < 20 {
		t.Fatalf("only %d invalid configs", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, line := range strings.Split(string(data), "\n") {
				if msg, ok := strings.CutPrefix(line, "# error: "); ok {
					want = append(want, msg)
				}
			}
			_, err = resolve(t, nil, "--config", f)
			if err == nil {
				t.Fatalf("accepted; want %q", want)
			}
			if got := err.Error(); got != strings.Join(want, "\n") {
				t.Fatalf("error\n  %q\nwant\n  %q", got, strings.Join(want, "\n"))
			}
		})
	}
}

func TestEnvOverridesFileAndFlagsOverrideEnv(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yml")
	if err := os.WriteFile(file, []byte("ledger: {path: /from/file}\nselector: {project: file}\nblast_radius: {max_faulted: 3}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{EnvConfig: file, "CHAOSD_LEDGER": "/from/env", "CHAOSD_COMPOSE_PROJECT": "env", "CHAOSD_SELECT_LABELS": "team=chaos,tier=pod"}
	c, err := resolve(t, env, "--compose-project", "flag", "--owner-wait", "5s", "--watchdog=false")
	if err != nil {
		t.Fatal(err)
	}
	if c.Ledger.Path != "/from/env" || c.Selector.Project != "flag" || c.BlastRadius.MaxFaulted != 3 ||
		c.Owner.Wait.String() != "5s" || c.Watchdog.Enabled || c.Selector.Labels["tier"] != "pod" {
		t.Fatalf("resolved %+v", c)
	}
}

func TestBadOverridesNameTheirSource(t *testing.T) {
	if _, err := resolve(t, map[string]string{"CHAOSD_MAX_FAULTED": "many"}); err == nil || err.Error() != `env CHAOSD_MAX_FAULTED: "many" is not a whole number` {
		t.Errorf("env: %v", err)
	}
	if _, err := resolve(t, nil, "--owner-wait", "never"); err == nil || err.Error() != `--owner-wait: "never" is not a duration (e.g. 30s, 2m)` {
		t.Errorf("flag: %v", err)
	}
	if _, err := resolve(t, nil, "--config", "testdata/none.yml"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := resolve(t, nil, "--max-faulted", "0"); err == nil || err.Error() != "config: blast_radius.max_faulted: must be at least 1 (got 0)" {
		t.Errorf("flag value checked: %v", err)
	}
}

func TestHoldDefaultsPerKind(t *testing.T) {
	c, err := Parse([]byte("faults: {kinds: {kill: {down_for: never}, pause: {duration: 5s}}}"))
	if err != nil {
		t.Fatal(err)
	}
	if h := c.Hold("kill"); !h.Never {
		t.Errorf("kill: %v", h)
	}
	if h := c.Hold("pause"); h.D.String() != "5s" {
		t.Errorf("pause: %v", h)
	}
	// The map entry for partition was not given: the built-in default stands.
	if h := c.Hold("partition"); !h.Auto {
		t.Errorf("partition: %v", h)
	}
}

func TestYAMLMasksThePassword(t *testing.T) {
	b, err := Default().YAML()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "postgres:postgres@") || !strings.Contains(string(b), "postgres:xxxxx@") {
		t.Fatalf("%s", b)
	}
	back, err := Parse(b)
	if err != nil || back.Faults.Kinds["kill"].DownFor.String() != "auto" {
		t.Fatalf("round trip: %v, %+v", err, back.Faults.Kinds)
	}
}

func TestEveryOverrideHasAFlagAnEnvAndAField(t *testing.T) {
	seen := map[string]bool{}
	for _, o := range Overrides() {
		if o.Flag == "" || !strings.HasPrefix(o.Env, "CHAOSD_") || o.Field == "" || seen[o.Flag] || seen[o.Env] {
			t.Errorf("override %+v", o)
		}
		seen[o.Flag], seen[o.Env] = true, true
	}
}
