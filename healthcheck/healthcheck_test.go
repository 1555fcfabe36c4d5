package healthcheck

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestMainExitCodes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte("ok"))
		case "/slow":
			time.Sleep(300 * time.Millisecond)
		case "/long":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write(bytes.Repeat([]byte("x"), 1000))
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"down"}`))
		}
	}))
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tcp := "tcp://" + ln.Addr().String()

	cases := []struct {
		name    string
		args    []string
		code    int
		wantOut string
		wantErr string
	}{
		{"2xx", []string{srv.URL + "/ok"}, ExitHealthy, "200 OK", ""},
		{"flag after URL", []string{srv.URL + "/ok", "--timeout", "2s"}, ExitHealthy, "200 OK", ""},
		{"flag before URL", []string{"--timeout=2s", srv.URL + "/ok"}, ExitHealthy, "200 OK", ""},
		{"tcp accepted", []string{tcp}, ExitHealthy, "connected", ""},
		{"503 with body", []string{srv.URL + "/ready"}, ExitUnhealthy, "", `unhealthy: 503 Service Unavailable: "{\"status\":\"down\"}"`},
		{"long body cut", []string{srv.URL + "/long"}, ExitUnhealthy, "", `500 Internal Server Error: "` + strings.Repeat("x", bodyLimit) + `"…`},
		{"timeout", []string{srv.URL + "/slow", "--timeout", "50ms"}, ExitUnhealthy, "", "no answer within 50ms"},
		{"refused", []string{closed.URL}, ExitUnhealthy, "", "connection refused"},
		{"tcp refused", []string{"tcp://" + strings.TrimPrefix(closed.URL, "http://")}, ExitUnhealthy, "", "connection refused"},
		{"no URL", nil, ExitUsage, "", "missing URL"},
		{"bad URL", []string{"localhost:3000"}, ExitUsage, "", `bad URL "localhost:3000"`},
		{"tcp with a path", []string{tcp + "/x"}, ExitUsage, "", "want tcp://host:port"},
		{"two URLs", []string{srv.URL, srv.URL}, ExitUsage, "", "unexpected argument"},
		{"bad timeout", []string{srv.URL, "--timeout", "0s"}, ExitUsage, "", "--timeout must be positive"},
		{"unknown flag", []string{"--tmeout", "1s", srv.URL}, ExitUsage, "", "flag provided but not defined: -tmeout"},
		{"help", []string{"--help"}, ExitHealthy, "", "Usage: chaosd-healthcheck URL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(context.Background(), "chaosd-healthcheck", c.args, &out, &errOut)
			if code != c.code || !strings.Contains(out.String(), c.wantOut) || !strings.Contains(errOut.String(), c.wantErr) {
				t.Fatalf("exit %d (want %d)\nstdout %q (want %q)\nstderr %q (want %q)", code, c.code, out.String(), c.wantOut, errOut.String(), c.wantErr)
			}
			if c.code == ExitUsage && !strings.HasPrefix(errOut.String(), "chaosd-healthcheck: ") && !strings.Contains(errOut.String(), "flag provided") {
				t.Errorf("a usage error should name the command: %q", errOut.String())
			}
		})
	}
}

// The small binary exists to start fast: it must not link chaosd's heavy clients.
func TestSmallBinaryLinksNoHeavyPackage(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH to list the binary's packages")
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/chaosd/chaosd/cmd/chaosd-healthcheck").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 || !strings.Contains(string(out), "net/http\n") {
		t.Fatalf("go list gave no plausible package list: %q", out)
	}
	for _, p := range deps {
		for _, heavy := range []string{"k8s.io/", "github.com/docker/", "github.com/chaosd/chaosd/cli", "go.uber.org/zap", "github.com/openai/", "github.com/nats-io/", "github.com/jackc/"} {
			if strings.HasPrefix(p, heavy) {
				t.Errorf("cmd/chaosd-healthcheck links %s", p)
			}
		}
	}
}
