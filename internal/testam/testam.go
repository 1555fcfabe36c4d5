// Package testam runs a real Alertmanager for the tests (the alert package's
// integration test and the soak's end-to-end test): the binary that
// scripts/deps/alertmanager.sh builds, on a free loopback port, clustering off,
// routing every alert at once to one webhook receiver.
package testam

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Bin finds the binary: $CHAOSD_ALERTMANAGER_BIN, bin/alertmanager at
// the repo root, or PATH. Its absence fails the test: the integration tier must not
// pass by skipping.
func Bin(t testing.TB) string {
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
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start runs Alertmanager on a free loopback port with clustering off,
// routing everything to hook at once, and returns its base URL once it is ready.
func Start(t testing.TB, bin, hook string) string {
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
