package metrics

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/chaosd/chaosd/history"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

func TestServeScrapesOverHTTP(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	m := New(Options{Version: "test", Invariants: func() []InvariantCount {
		return []InvariantCount{{Name: "run-completes", Checks: 4, Exercised: 4, Violations: 1}}
	}})
	e := fault("f1", history.KindKill, history.FaultInjected, t0)
	m.Observe(&e)
	m.RunDecided("completed", 9*time.Second)

	addr, err := Serve(ctx, "127.0.0.1:0", m, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
		t.Fatalf("bound address %q, want 127.0.0.1 and a real port", addr)
	}
	code, body := get(t, "http://"+addr+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	for _, line := range []string{
		`chaosd_faults_total{kind="kill",outcome="injected"} 1`,
		`chaosd_faults_active{kind="kill"} 1`,
		`chaosd_runs_total{outcome="completed"} 1`,
		`chaosd_run_duration_seconds_count{outcome="completed"} 1`,
		`chaosd_invariant_violations_total{invariant="run-completes"} 1`,
		`chaosd_build_info{goversion="`,
		"go_goroutines ",
		"go_gc_heap_live_bytes ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(body, line) {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	if code, body := get(t, "http://"+addr+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q, want 200 \"ok\\n\"", code, body)
	}
	if code, _ := get(t, "http://"+addr+"/nope"); code != http.StatusNotFound {
		t.Errorf("/nope: %d, want 404", code)
	}
	if code, _ := get(t, "http://"+addr+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/ without EnablePprof: %d, want 404", code)
	}

	cancel() // the server shuts down with its context
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still listening 5s after the context ended")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServeListenErrorNamesTheAddress(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, addr := range []string{taken.Addr().String(), "127.0.0.1:99999", "no-colon"} {
		_, err := Serve(t.Context(), addr, New(Options{}), nil)
		if err == nil {
			t.Errorf("Serve(%q): no error", addr)
			continue
		}
		if !strings.HasPrefix(err.Error(), "metrics: listen on "+addr+": ") {
			t.Errorf("Serve(%q): error %q does not start with %q", addr, err, "metrics: listen on "+addr+": ")
		}
	}
}

func TestServePprofWhenEnabled(t *testing.T) {
	m := New(Options{})
	m.EnablePprof()
	addr, err := Serve(t.Context(), "127.0.0.1:0", m, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, "http://"+addr+"/debug/pprof/heap?debug=1"); code != http.StatusOK || !strings.Contains(body, "heap profile") {
		t.Fatalf("/debug/pprof/heap: %d %.200q", code, body)
	}
}
