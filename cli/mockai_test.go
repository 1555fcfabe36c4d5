package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// mockaiLogBuffer is a bytes.Buffer safe for the server's and the test's goroutines.
type mockaiLogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *mockaiLogBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *mockaiLogBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startMockai runs `chaosd mockai` in-process on a free loopback port and returns
// its address, its log, a cancel func standing in for SIGTERM, and its exit code.
func startMockai(t *testing.T, env map[string]string, args ...string) (string, *mockaiLogBuffer, context.CancelFunc, <-chan int) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	logs := &mockaiLogBuffer{}
	code := make(chan int, 1)
	cio := IO{Stdout: io.Discard, Stderr: logs, Getenv: func(k string) string { return env[k] }}
	args = append([]string{"mockai", "--listen", "127.0.0.1:0", "--log-format", "json"}, args...)
	go func() { code <- Main(ctx, args, cio) }()
	var addr string
	deadline := time.Now().Add(10 * time.Second)
	for addr == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no listening line in the log:\n%s", logs)
		}
		for _, line := range strings.Split(logs.String(), "\n") {
			var l struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "listening" {
				addr = l.Addr
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return "http://" + addr, logs, cancel, code
}

func TestMockaiServesAndShutsDownGracefully(t *testing.T) {
	url, logs, stop, code := startMockai(t, map[string]string{"CHAOSD_MOCKAI_MODEL": "env-model"}, "--shutdown-timeout", "10s")
	resp, err := http.Get(url + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `{"object":"list","data":[{"id":"env-model","object":"model","created":0,"owned_by":"mock"}]}`; string(b) != want {
		t.Errorf("models: %s", b)
	}

	// A stream in flight when the signal comes is let finish.
	resp, err = http.Post(url+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"stream":true,"messages":[{"role":"user","content":"slow:5x60"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 16)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	stop()
	rest, err := io.ReadAll(resp.Body)
	if err != nil || !strings.HasSuffix(string(rest), "data: [DONE]\n\n") || strings.Count(string(rest), "chunk-") != 5 {
		t.Errorf("stream across shutdown: %v\n%s", err, rest)
	}
	select {
	case c := <-code:
		if c != ExitOK {
			t.Errorf("exit %d\n%s", c, logs)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("mockai did not exit after shutdown")
	}
	if !strings.Contains(logs.String(), `"msg":"shut down"`) {
		t.Errorf("log:\n%s", logs)
	}
}

func TestMockaiMetrics(t *testing.T) {
	url, _, _, _ := startMockai(t, nil)
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(`{"stream":true,"messages":[{"role":"user","content":"slow:2x0"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	resp, err = http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`chaosd_mockai_requests_total{code="200",route="/v1/chat/completions"} 1`,
		"chaosd_mockai_chunks_sent_total 2",
		"chaosd_mockai_open_streams 0",
		`chaosd_mockai_stream_duration_seconds_count{outcome="complete"} 1`,
		"go_goroutines ",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestMockaiShutdownTimeoutClosesStreams(t *testing.T) {
	url, logs, stop, code := startMockai(t, map[string]string{"CHAOSD_MOCKAI_SHUTDOWN_TIMEOUT": "50ms"})
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(`{"stream":true,"messages":[{"role":"user","content":"slow:5x60000"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 16)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	stop()
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Error("the stream ended cleanly; want it cut at the shutdown timeout")
	}
	if c := <-code; c != ExitOK {
		t.Errorf("exit %d", c)
	}
	if !strings.Contains(logs.String(), "shutdown timeout passed") {
		t.Errorf("log:\n%s", logs)
	}
}

func TestMockaiBadConfig(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"CHAOSD_MOCKAI_MAX_CHUNKS": "lots"}, nil, `environment CHAOSD_MOCKAI_MAX_CHUNKS="lots"`},
		{map[string]string{"CHAOSD_MOCKAI_HIJACK": "maybe"}, nil, `environment CHAOSD_MOCKAI_HIJACK="maybe"`},
		{nil, []string{"--max-chunks", "0"}, "--max-chunks 0: want at least 1"},
		{nil, []string{"--max-delay", "0s"}, "--max-delay 0s: want at least 1ms"},
		{nil, []string{"--listen", "256.0.0.1:1"}, "listen: "},
	} {
		var errb bytes.Buffer
		cio := IO{Stdout: io.Discard, Stderr: &errb, Getenv: func(k string) string { return tt.env[k] }}
		c := Main(t.Context(), append([]string{"mockai", "--log-format", "json"}, tt.args...), cio)
		if c != ExitError || !strings.Contains(errb.String(), tt.want) {
			t.Errorf("%v %v: exit %d, stderr %q; want %q", tt.env, tt.args, c, errb.String(), tt.want)
		}
	}
}
