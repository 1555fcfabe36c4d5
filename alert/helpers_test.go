package alert

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// request is one request a capture server received.
type request struct {
	Method, Path, ContentType string
	Body                      []byte
}

// capture is a real HTTP server on loopback that records every request and answers
// with status(n) for the n-th one (0-based; 200 if status is nil).
type capture struct {
	srv  *httptest.Server
	reqs chan request
	n    atomic.Int64
}

func newCapture(t *testing.T, status func(n int) int) *capture {
	t.Helper()
	c := &capture{reqs: make(chan request, 1000)}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		n := int(c.n.Add(1) - 1)
		c.reqs <- request{Method: r.Method, Path: r.URL.Path, ContentType: r.Header.Get("Content-Type"), Body: b}
		code := http.StatusOK
		if status != nil {
			code = status(n)
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// next waits for the next request.
func (c *capture) next(t *testing.T) request {
	t.Helper()
	select {
	case r := <-c.reqs:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no request reached the server within 5s")
		return request{}
	}
}

// nextJSON waits for the next request and decodes its body into v.
func (c *capture) nextJSON(t *testing.T, v any) request {
	t.Helper()
	r := c.next(t)
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, r.Body)
	}
	return r
}

// none asserts that no request arrives within d.
func (c *capture) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case r := <-c.reqs:
		t.Fatalf("unexpected request: %s", r.Body)
	case <-time.After(d):
	}
}

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 27, 5, 47, 3, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// funcSink is a hand-written fake Sink.
type funcSink struct {
	name string
	send func(ctx context.Context, alerts []Alert) error
}

func (f *funcSink) Name() string { return f.name }
func (f *funcSink) Send(ctx context.Context, alerts []Alert) error {
	return f.send(ctx, alerts)
}

// observed returns a logger whose entries the test can read.
func observed() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), logs
}

// newTest builds a Notifier that is closed when the test ends.
func newTest(t *testing.T, cfg Config, sinks ...Sink) *Notifier {
	t.Helper()
	log, _ := observed()
	return newTestLog(t, cfg, log, sinks...)
}

func newTestLog(t *testing.T, cfg Config, log *zap.Logger, sinks ...Sink) *Notifier {
	t.Helper()
	n := New(cfg, sinks, log)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Close(ctx)
	})
	return n
}

func mustSink(t *testing.T, ctor func(string, time.Duration) (Sink, error), url string, timeout time.Duration) Sink {
	t.Helper()
	s, err := ctor(url, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitStats polls n.Stats until ok or 5s pass.
func waitStats(t *testing.T, n *Notifier, ok func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := n.Stats()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats never reached the wanted state: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// violation is a typical finding.
func violation(cause string, at time.Time) Violation {
	return Violation{
		Invariant: "prefix-replay", Cause: cause,
		Summary: "run run-7: attach on mesh-2 started at chunk 4, expected 1",
		Details: []string{"attach mesh-2 opened 05:47:03.100 after 3 chunks confirmed", "first chunk seen: 4"},
		Run:     "run-7", Pods: []string{"mesh-1", "mesh-2"}, At: at,
	}
}
