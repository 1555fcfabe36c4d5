package config

import (
	"strings"
	"testing"
	"time"
)

func TestSoakOverrides(t *testing.T) {
	c, err := resolve(t, map[string]string{"CHAOSD_SOAK_DURATION": "2h", "CHAOSD_ALERTMANAGER": "http://127.0.0.1:9093"},
		"--duration", "5m", "--warmup", "20s", "--cooldown", "60s", "--rate", "1.5", "--history-max", "64MiB",
		"--schedule", "kill=@every 2m; pause=*/2 * * * *", "--metrics-addr", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := c.Soak
	if s.Duration.Std() != 5*time.Minute || s.Warmup.Std() != 20*time.Second || s.Cooldown.Std() != time.Minute || s.Rate != 1.5 || s.HistoryMax != 64<<20 {
		t.Fatalf("soak %+v", s)
	}
	if len(s.Faults) != 2 || s.Faults[0].Kind != "kill" || s.Faults[0].Schedule != "@every 2m" || s.Faults[0].Jitter != 0 || s.Faults[0].Target != "owner" ||
		s.Faults[1].Schedule != "*/2 * * * *" || s.Faults[1].Target != "owner" {
		t.Fatalf("faults %+v", s.Faults)
	}
	if c.Alerts.Alertmanager != "http://127.0.0.1:9093" || c.Metrics.Addr != "127.0.0.1:0" {
		t.Fatalf("alerts %+v metrics %+v", c.Alerts, c.Metrics)
	}
}

func TestSoakBadOverridesNameTheFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--schedule", "kill"}, `--schedule: "kill": want KIND=SPEC[;KIND=SPEC], e.g. kill=@every 10m`},
		{[]string{"--history-max", "lots"}, `--history-max: "lots" is not a size (e.g. 256MiB, 1GiB, 0)`},
		{[]string{"--rate", "fast"}, `--rate: "fast" is not a number`},
		{[]string{"--schedule", "kill=@every 5x"}, `soak.faults[0].schedule: failed to parse duration @every 5x`},
		{[]string{"--schedule", "kill=@every 5m~soon"}, `--schedule: "kill=@every 5m~soon": jitter "soon" is not a duration`},
		{[]string{"--quiet", "0 2 * * *"}, `--quiet: "0 2 * * *": want 'SPEC for DURATION[;...]'`},
		{[]string{"--alert-labels", "team"}, `--alert-labels: "team": want key=value`},
	} {
		_, err := resolve(t, nil, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to contain %q", tc.args, err, tc.want)
		}
	}
}

func TestAlertURLsAreRedacted(t *testing.T) {
	c := Default()
	c.Alerts.Webhooks = []string{"https://hooks.example.com/T0/B0/SECRETTOKEN"}
	c.Alerts.Slack = "https://hooks.slack.com/services/T0/B0/SLACKSECRET"
	c.Alerts.Alertmanager = "http://user:AMSECRET@127.0.0.1:9093"
	b, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"SECRETTOKEN", "SLACKSECRET", "AMSECRET"} {
		if strings.Contains(string(b), secret) {
			t.Fatalf("%s printed:\n%s", secret, b)
		}
	}
	if !strings.Contains(string(b), "https://hooks.slack.com/<redacted>") {
		t.Fatalf("redacted slack URL missing:\n%s", b)
	}
	if c.Alerts.Webhooks[0] != "https://hooks.example.com/T0/B0/SECRETTOKEN" {
		t.Fatal("YAML changed the config it printed")
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"0": 0, "512": 512, "256MiB": 256 << 20, "1GiB": 1 << 30, "500MB": 500e6, "4 KiB": 4096} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", in, got, err, want)
		}
	}
	if s := ByteSize(256 << 20).String(); s != "256MiB" {
		t.Errorf("String %q", s)
	}
	if _, err := ParseByteSize("-1"); err == nil {
		t.Error("negative size accepted")
	}
}

func TestSoakOverridesJitterQuietAlerts(t *testing.T) {
	c, err := resolve(t, map[string]string{"CHAOSD_SOAK_QUIET": "0 2 * * * for 30m; 0 14 * * 1-5 for 1h"},
		"--schedule", "kill=@every 10m~1m;pause=@every 15m", "--compress=false", "--alert-renotify", "30m",
		"--alert-resolve-after", "5m", "--alert-labels", "cluster=staging,team=runs")
	if err != nil {
		t.Fatal(err)
	}
	if f := c.Soak.Faults; f[0].Jitter.Std() != time.Minute || f[1].Jitter != 0 {
		t.Errorf("jitter: %+v", f)
	}
	if q := c.Soak.Quiet; len(q) != 2 || q[0].Schedule != "0 2 * * *" || q[0].For.Std() != 30*time.Minute || q[1].Schedule != "0 14 * * 1-5" || q[1].For.Std() != time.Hour {
		t.Errorf("quiet: %+v", q)
	}
	if c.Soak.Compress || c.Alerts.Renotify.Std() != 30*time.Minute || c.Alerts.ResolveAfter.Std() != 5*time.Minute ||
		c.Alerts.Labels["cluster"] != "staging" || c.Alerts.Labels["team"] != "runs" {
		t.Errorf("soak %+v alerts %+v", c.Soak, c.Alerts)
	}
}

func TestBoolOverridesTakeNoValue(t *testing.T) {
	c, err := resolve(t, nil, "--pprof", "--compress=false", "--watchdog=false", "--progress", "off")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Metrics.Pprof || c.Soak.Compress || c.Watchdog.Enabled || c.Soak.Progress != "off" {
		t.Fatalf("pprof %v compress %v watchdog %v progress %q", c.Metrics.Pprof, c.Soak.Compress, c.Watchdog.Enabled, c.Soak.Progress)
	}
}
