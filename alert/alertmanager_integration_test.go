//go:build integration

package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// amNotification is the body of Alertmanager's webhook notification (version 4).
type amNotification struct {
	Version  string `json:"version"`
	Status   string `json:"status"`
	Receiver string `json:"receiver"`
	Alerts   []struct {
		Status       string            `json:"status"`
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		StartsAt     time.Time         `json:"startsAt"`
		EndsAt       time.Time         `json:"endsAt"`
		GeneratorURL string            `json:"generatorURL"`
	} `json:"alerts"`
	arrived time.Time
}

// gettableAlert is an element of GET /api/v2/alerts.
type gettableAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	EndsAt      time.Time         `json:"endsAt"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

// TestIntegrationAlertmanager sends chaosd's alert through a real Alertmanager and
// checks that Alertmanager stores it and notifies its own webhook receiver, firing
// and then resolved.
func TestIntegrationAlertmanager(t *testing.T) {
	bin := alertmanagerBin(t)
	notes := make(chan amNotification, 100)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n amNotification
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &n); err != nil {
			t.Errorf("receiver: bad body %v: %s", err, b)
		}
		n.arrived = time.Now()
		notes <- n
	}))
	defer recv.Close()
	base := startAlertmanager(t, bin, recv.URL+"/am-hook")

	soak := fmt.Sprintf("it-%d", os.Getpid())
	sink := mustSink(t, NewAlertmanager, base, 5*time.Second)
	n := New(Config{Renotify: time.Minute, Labels: map[string]string{"soak": soak}, GeneratorURL: "http://chaosd.test/report"},
		[]Sink{sink}, zaptest.NewLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.Run(ctx)

	v := violation("late attach missed the prefix", time.Time{})
	start := time.Now()
	n.Violation(v)

	// 1. Alertmanager holds it, with our labels.
	stored := waitStored(t, base, soak)
	wantLabels := map[string]string{
		"alertname": "ChaosdInvariantViolation", "invariant": "prefix-replay", "cause": CauseID(v.Cause),
		"severity": "critical", "source": "chaosd", "soak": soak,
	}
	for k, want := range wantLabels {
		if stored.Labels[k] != want {
			t.Fatalf("stored label %s=%q, want %q (labels %v)", k, stored.Labels[k], want, stored.Labels)
		}
	}
	if stored.Status.State != "active" || stored.Annotations["summary"] != v.Summary || stored.Annotations["count"] != "1" ||
		stored.EndsAt.Before(time.Now().Add(3*time.Minute)) {
		t.Fatalf("stored alert %+v", stored)
	}

	// 2. Alertmanager's own notification reaches the receiver, firing.
	fired := waitNotification(t, notes, "firing", soak)
	t.Logf("violation -> Alertmanager notification at the receiver: %v", fired.arrived.Sub(start).Round(time.Millisecond))
	a := fired.Alerts[0]
	if fired.Version != "4" || a.Labels["invariant"] != "prefix-replay" || a.Labels["cause"] != CauseID(v.Cause) ||
		a.Annotations["description"] != strings.Join(v.Details, "\n") || a.Annotations["run"] != "run-7" ||
		a.GeneratorURL != "http://chaosd.test/report" {
		t.Fatalf("firing notification %+v", fired)
	}

	// 3. After ResolveAll the receiver is told it resolved.
	resolveStart := time.Now()
	n.ResolveAll(time.Now())
	resolved := waitNotification(t, notes, "resolved", soak)
	t.Logf("ResolveAll -> resolved notification at the receiver: %v", resolved.arrived.Sub(resolveStart).Round(time.Millisecond))
	if r := resolved.Alerts[0]; r.Status != "resolved" || r.EndsAt.Before(r.StartsAt) || r.EndsAt.After(time.Now()) {
		t.Fatalf("resolved notification %+v", resolved)
	}

	closeCtx, closeCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer closeCancel()
	if err := n.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	if st := n.Stats(); st.Sent != 2 || st.Failed != 0 || st.Dropped != 0 || st.Fired != 1 || st.Resolved != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// alertmanagerBin finds the binary: $CHAOSD_ALERTMANAGER_BIN, bin/alertmanager at
// the repo root, or PATH. Its absence fails the test: the integration tier must not
// pass by skipping.
func alertmanagerBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHAOSD_ALERTMANAGER_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("CHAOSD_ALERTMANAGER_BIN=%s: %v (unset it and run scripts/deps/alertmanager.sh)", p, err)
		}
		return p
	}
	if root, err := repoRoot(); err == nil {
		p := filepath.Join(root, "bin", "alertmanager")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("alertmanager"); err == nil {
		return p
	}
	t.Fatal("no alertmanager binary (CHAOSD_ALERTMANAGER_BIN, bin/alertmanager, PATH): run scripts/deps/alertmanager.sh")
	return ""
}

// repoRoot is the nearest directory above the working directory holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}

// freePort asks the kernel for a free loopback port.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startAlertmanager runs Alertmanager on a free loopback port with clustering off,
// routing everything to hook at once, and returns its base URL once it is ready.
func startAlertmanager(t *testing.T, bin, hook string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`route:
  receiver: chaosd-test
  group_by: [alertname, invariant, cause]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: chaosd-test
    webhook_configs:
      - url: %q
        send_resolved: true
`, hook)
	cfgPath := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	var out bytes.Buffer
	cmd := exec.Command(bin,
		"--config.file="+cfgPath, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=info")
	cmd.Stdout, cmd.Stderr = &out, &out // one writer: exec serializes its writes
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", out.String())
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("alertmanager exited before it was ready: %v", err)
		default:
		}
		if resp, err := http.Get(base + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("alertmanager not ready within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitStored polls GET /api/v2/alerts until our alert (label soak) shows up.
func waitStored(t *testing.T, base, soak string) gettableAlert {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/api/v2/alerts")
		if err == nil {
			var alerts []gettableAlert
			err = json.NewDecoder(resp.Body).Decode(&alerts)
			resp.Body.Close()
			for _, a := range alerts {
				if err == nil && a.Labels["soak"] == soak {
					return a
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("GET /api/v2/alerts never showed chaosd's alert")
	return gettableAlert{}
}

// waitNotification waits for a notification with status whose alert carries soak.
func waitNotification(t *testing.T, notes chan amNotification, status, soak string) amNotification {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case n := <-notes:
			if n.Status == status && len(n.Alerts) == 1 && n.Alerts[0].Labels["soak"] == soak {
				return n
			}
			t.Logf("skipping notification %s with %d alerts", n.Status, len(n.Alerts))
		case <-timeout:
			t.Fatalf("no %s notification from alertmanager within 15s", status)
		}
	}
}
