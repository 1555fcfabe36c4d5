package mockai

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// Both ways a stream can be served.
var modes = []struct {
	name    string
	disable bool
}{{"hijack", false}, {"handler", true}}

// newTestServer starts s on a loopback httptest server.
func newTestServer(t *testing.T, opts Options) (*Server, *httptest.Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	if opts.Logger == nil {
		// Info: streams may end (and log at debug) after the test has returned.
		opts.Logger = zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
	}
	opts.Registerer = reg
	s := New(opts)
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Close()
		ts.Close()
	})
	return s, ts, reg
}

// chatBody is a request body with one user message.
func chatBody(text string, stream bool) string {
	b := `{"model":"mock-model","messages":[{"role":"user","content":` + string(quote(text)) + `}]`
	if stream {
		b += `,"stream":true`
	}
	return b + "}"
}

func post(t *testing.T, ctx context.Context, url, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

var (
	idRE      = regexp.MustCompile(`"id":"chatcmpl-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"`)
	createdRE = regexp.MustCompile(`"created":[0-9]+`)
)

// normalize replaces a stream's id and created time with fixed values, after checking
// their shape.
func normalize(t *testing.T, s string) string {
	t.Helper()
	ids := idRE.FindAllString(s, -1)
	for _, id := range ids {
		if id != ids[0] {
			t.Errorf("frames of one stream carry different ids: %s, %s", ids[0], id)
		}
	}
	s = idRE.ReplaceAllString(s, `"id":"chatcmpl-ID"`)
	return createdRE.ReplaceAllString(s, `"created":0`)
}

// frameReader reads SSE data lines one by one.
type frameReader struct{ sc *bufio.Scanner }

func newFrameReader(r io.Reader) *frameReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	return &frameReader{sc}
}

// next returns the next data line, or "" and the error at the end.
func (f *frameReader) next() (string, error) {
	for f.sc.Scan() {
		if line := f.sc.Text(); strings.HasPrefix(line, "data: ") {
			return line, nil
		}
	}
	if err := f.sc.Err(); err != nil {
		return "", err
	}
	return "", io.EOF
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// goroutinesBackTo waits until the goroutine count is back to base.
func goroutinesBackTo(t *testing.T, base int) {
	t.Helper()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	eventually(t, 5*time.Second, "goroutines did not return to the baseline", func() bool {
		return runtime.NumGoroutine() <= base
	})
}
