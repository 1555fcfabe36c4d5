package cli

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHealthcheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte("ok"))
		case "/slow":
			time.Sleep(300 * time.Millisecond)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"down"}`))
		}
	}))
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	cases := []struct {
		name    string
		args    []string
		code    int
		wantOut string
		wantErr string
	}{
		{"2xx", []string{srv.URL + "/ok"}, ExitOK, "200 OK", ""},
		{"flag after URL", []string{srv.URL + "/ok", "--timeout", "2s"}, ExitOK, "200 OK", ""},
		{"flag before URL", []string{"--timeout=2s", srv.URL + "/ok"}, ExitOK, "200 OK", ""},
		{"503 with body", []string{srv.URL + "/ready"}, ExitUnhealthy, "", `unhealthy: 503 Service Unavailable: "{\"status\":\"down\"}"`},
		{"timeout", []string{srv.URL + "/slow", "--timeout", "50ms"}, ExitUnhealthy, "", "no answer within 50ms"},
		{"refused", []string{closed.URL}, ExitUnhealthy, "", "connection refused"},
		{"no URL", nil, ExitError, "", "missing URL"},
		{"bad URL", []string{"localhost:3000"}, ExitError, "", `bad URL "localhost:3000"`},
		{"two URLs", []string{srv.URL, srv.URL}, ExitError, "", "unexpected argument"},
		{"bad timeout", []string{srv.URL, "--timeout", "0s"}, ExitError, "", "--timeout must be positive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := run(t, append([]string{"healthcheck"}, c.args...)...)
			if code != c.code || !strings.Contains(out, c.wantOut) || !strings.Contains(errOut, c.wantErr) {
				t.Fatalf("exit %d (want %d)\nstdout %q (want %q)\nstderr %q (want %q)", code, c.code, out, c.wantOut, errOut, c.wantErr)
			}
		})
	}
}
