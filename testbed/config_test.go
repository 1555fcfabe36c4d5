package testbed

import (
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigFromEnvDefaults(t *testing.T) {
	cfg, err := ConfigFromEnv(envOf(map[string]string{"POD_NAME": "mesh-1"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":3000" || cfg.HeartbeatTTL != 45*time.Second || cfg.HeartbeatInterval != 10*time.Second ||
		cfg.KeepAlive != 15*time.Second || len(cfg.Bugs) != 0 || cfg.PodName != "mesh-1" {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestConfigFromEnvValues(t *testing.T) {
	cfg, err := ConfigFromEnv(envOf(map[string]string{
		"POD_NAME": "mesh-2", "PORT": "13002", "DATABASE_URL": "postgres://u@db/x", "NATS_URL": "nats://n:4222",
		"TESTBED_BUGS": " deliver-new, strict-claim ,", "TESTBED_HEARTBEAT_TTL": "3s", "TESTBED_HEARTBEAT_INTERVAL": "1s",
		"TESTBED_AUTH_URL": "http://localhost:3000/", "TESTBED_PROVIDER_RETRIES": "2",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":13002" || !cfg.Bugs.Has(BugDeliverNew) || !cfg.Bugs.Has(BugStrictClaim) || len(cfg.Bugs) != 2 ||
		cfg.HeartbeatTTL != 3*time.Second || cfg.AuthURL != "http://localhost:3000" || cfg.ProviderRetries != 2 {
		t.Fatalf("parsed: %+v", cfg)
	}
	if cfg.Bugs.String() != "deliver-new,strict-claim" {
		t.Fatalf("bugs string %q", cfg.Bugs.String())
	}
}

func TestConfigExecutorID(t *testing.T) {
	cfg, err := ConfigFromEnv(envOf(map[string]string{"POD_NAME": "mesh-1"}))
	if err != nil || cfg.ExecutorID != "" || cfg.Executor() != "mesh-1" {
		t.Fatalf("default: %q %q %v, want the pod's name", cfg.ExecutorID, cfg.Executor(), err)
	}
	cfg, err = ConfigFromEnv(envOf(map[string]string{"POD_NAME": "mesh-2", "TESTBED_EXECUTOR_ID": "local"}))
	if err != nil || cfg.Executor() != "local" || cfg.PodName != "mesh-2" {
		t.Fatalf("TESTBED_EXECUTOR_ID=local: %q (pod %q) %v", cfg.Executor(), cfg.PodName, err)
	}
	if _, err := ConfigFromEnv(envOf(map[string]string{"POD_NAME": "p", "TESTBED_EXECUTOR_ID": "a b"})); err == nil ||
		!strings.Contains(err.Error(), `TESTBED_EXECUTOR_ID="a b"`) {
		t.Fatalf("bad executor id: %v", err)
	}
	var flag bool
	for _, v := range EnvVars {
		flag = flag || (v.Name == "TESTBED_EXECUTOR_ID" && v.Flag == "executor-id")
	}
	if !flag {
		t.Fatal("TESTBED_EXECUTOR_ID is not in EnvVars as --executor-id")
	}
}

func TestConfigAuthURLAlias(t *testing.T) {
	cfg, err := ConfigFromEnv(envOf(map[string]string{"POD_NAME": "p", "BETTER_AUTH_URL": "http://mesh:3000"}))
	if err != nil || cfg.AuthURL != "http://mesh:3000" {
		t.Fatalf("BETTER_AUTH_URL: %q %v", cfg.AuthURL, err)
	}
	cfg, err = ConfigFromEnv(envOf(map[string]string{"POD_NAME": "p", "BETTER_AUTH_URL": "http://mesh:3000", "TESTBED_AUTH_URL": "*"}))
	if err != nil || cfg.AuthURL != "*" {
		t.Fatalf("TESTBED_AUTH_URL wins: %q %v", cfg.AuthURL, err)
	}
}

func TestConfigErrorsNameTheVariableAndValue(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "POD_NAME is required"},
		{map[string]string{"POD_NAME": "a b"}, `POD_NAME="a b"`},
		{map[string]string{"POD_NAME": "p", "PORT": "http"}, `PORT="http": want a port number`},
		{map[string]string{"POD_NAME": "p", "TESTBED_HEARTBEAT_TTL": "soon"}, `TESTBED_HEARTBEAT_TTL="soon": want a duration`},
		{map[string]string{"POD_NAME": "p", "TESTBED_HEARTBEAT_TTL": "1s", "TESTBED_HEARTBEAT_INTERVAL": "2s"}, `TESTBED_HEARTBEAT_INTERVAL="2s": want less than TESTBED_HEARTBEAT_TTL="1s"`},
		{map[string]string{"POD_NAME": "p", "TESTBED_KEEPALIVE": "-1s"}, `TESTBED_KEEPALIVE="-1s": want a positive duration`},
		{map[string]string{"POD_NAME": "p", "DATABASE_URL": "mysql://x"}, `DATABASE_URL="mysql://x": want a postgres:// URL`},
		{map[string]string{"POD_NAME": "p", "NATS_URL": "localhost"}, `NATS_URL="localhost"`},
		{map[string]string{"POD_NAME": "p", "TESTBED_AUTH_URL": "nope"}, `TESTBED_AUTH_URL="nope"`},
		{map[string]string{"POD_NAME": "p", "TESTBED_PROVIDER_RETRIES": "x"}, `TESTBED_PROVIDER_RETRIES="x": want a whole number`},
		{map[string]string{"POD_NAME": "p", "TESTBED_HANDOVER_AFTER": "0"}, `TESTBED_HANDOVER_AFTER=0: want at least 1`},
		{map[string]string{"POD_NAME": "p", "TESTBED_BUGS": "deliver-new,frobnicate"}, `TESTBED_BUGS="deliver-new,frobnicate": unknown defect "frobnicate": want a comma-separated list of deliver-new, no-heartbeat-bucket, strict-claim, purge-on-resume, duplicate-on-resume`},
	}
	for _, tt := range tests {
		_, err := ConfigFromEnv(envOf(tt.env))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: got %v, want %q", tt.env, err, tt.want)
		}
	}
}

func TestParseBugs(t *testing.T) {
	b, err := ParseBugs("")
	if err != nil || len(b) != 0 {
		t.Fatalf("empty: %v %v", b, err)
	}
	all := make([]string, len(AllBugs))
	for i, bug := range AllBugs {
		all[i] = string(bug)
	}
	b, err = ParseBugs(strings.Join(all, ","))
	if err != nil || len(b) != len(AllBugs) {
		t.Fatalf("all: %v %v", b, err)
	}
	if _, err := ParseBugs("Deliver-New"); err == nil {
		t.Fatal("names are case-sensitive")
	}
}

func TestBackoffAndGate(t *testing.T) {
	b := newBackoff(10*time.Millisecond, 35*time.Millisecond)
	var got []time.Duration
	for range 4 {
		got = append(got, b.next())
	}
	if got[0] != 10*time.Millisecond || got[1] != 20*time.Millisecond || got[2] != 35*time.Millisecond || got[3] != 35*time.Millisecond {
		t.Fatalf("backoff %v", got)
	}
	var g gate
	if g.wait(t.Context()) != nil {
		t.Fatal("open gate blocked")
	}
	g.freeze()
	done := make(chan error, 1)
	go func() { done <- g.wait(t.Context()) }()
	select {
	case <-done:
		t.Fatal("frozen gate let through")
	case <-time.After(20 * time.Millisecond):
	}
	g.thaw()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
