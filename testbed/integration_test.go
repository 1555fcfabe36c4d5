//go:build integration

package testbed

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestIntegrationCrossPodAttach is the contract's happy path: the run starts on pod-1,
// an early watcher on pod-2 and a late one on pod-3 (attached after k chunks are in
// the buffer) both see chunk-1..N exactly once; the thread ends completed with its
// owner cleared. The streams stay open for a second run.
func TestIntegrationCrossPodAttach(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	tn := bootstrap(t, c.url("pod-1"), c.provider)
	id := tn.newThread(t, c.url("pod-1"))
	early := tn.attach(t, c.url("pod-2"), id)
	tn.startRun(t, c.url("pod-1"), id, "slow:20x40")
	if o := c.owner(id); o != "pod-1" {
		t.Fatalf("owner %q, want pod-1", o)
	}
	early.waitDeltas(t, 5, 10*time.Second)
	late := tn.attachPath(t, c.url("pod-3")+"/api/"+tn.slug+"/decopilot/threads/"+id+"/stream")
	wantRun(t, "early watcher", early.waitFinishes(t, 1, 15*time.Second), 20)
	wantRun(t, "late watcher", late.waitFinishes(t, 1, 15*time.Second), 20)
	c.waitCompleted(id, 5*time.Second)

	tn.startRun(t, c.url("pod-2"), id, "many:3")
	for name, w := range map[string]*watcher{"early": early, "late": late} {
		cs := w.waitFinishes(t, 2, 10*time.Second)
		second := cs[len(cs)-countSince(cs):]
		wantRun(t, name+" watcher, second run", second, 3)
	}
	c.waitCompleted(id, 5*time.Second)
}

// countSince counts the chunks of the last run in cs (from its last start).
func countSince(cs []Chunk) int {
	for i := len(cs) - 1; i >= 0; i-- {
		if cs[i].Type == ChunkStart {
			return len(cs) - i
		}
	}
	return len(cs)
}

// TestIntegrationOwnerKilled kills the owner mid-stream: a survivor takes the run
// over within TTL + slack, and every watcher on a survivor sees each chunk exactly
// once; an attach after the takeover replays the whole prefix.
func TestIntegrationOwnerKilled(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	tn := bootstrap(t, c.url("pod-2"), c.provider)
	id := tn.newThread(t, c.url("pod-2"))
	w2, w3 := tn.attach(t, c.url("pod-2"), id), tn.attach(t, c.url("pod-3"), id)
	tn.startRun(t, c.url("pod-1"), id, "slow:30x60")
	w2.waitDeltas(t, 6, 10*time.Second)
	killed := time.Now()
	c.kill("pod-1")
	eventually(t, c.base.HeartbeatTTL+3*time.Second, "a survivor owns the run", func() bool {
		o := c.owner(id)
		return o == "pod-2" || o == "pod-3"
	})
	t.Logf("taken over %s after the kill (TTL %s)", time.Since(killed).Round(time.Millisecond), c.base.HeartbeatTTL)
	late := tn.attach(t, c.url("pod-2"), id)
	for name, w := range map[string]*watcher{"pod-2": w2, "pod-3": w3, "late pod-2": late} {
		wantRun(t, name, w.waitFinishes(t, 1, 15*time.Second), 30)
	}
	c.waitCompleted(id, 5*time.Second)
	if w2.keepalive() == 0 {
		t.Errorf("no keepalive comment in %s with a keepalive every %s", time.Since(killed), c.base.KeepAlive)
	}
}

// TestIntegrationPausedOwnerFenced freezes the owner (dispatch and heartbeats, like
// SIGSTOP), lets a survivor take over, then thaws it: its next publish is refused by
// the optimistic concurrency check, it finds it lost the run and stops, and nothing is
// duplicated.
func TestIntegrationPausedOwnerFenced(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	tn := bootstrap(t, c.url("pod-2"), c.provider)
	id := tn.newThread(t, c.url("pod-2"))
	w := tn.attach(t, c.url("pod-3"), id)
	tn.startRun(t, c.url("pod-1"), id, "slow:30x60")
	w.waitDeltas(t, 5, 10*time.Second)
	old := c.pod("pod-1")
	old.freeze.freeze()
	eventually(t, c.base.HeartbeatTTL+3*time.Second, "a survivor owns the run", func() bool {
		o := c.owner(id)
		return o == "pod-2" || o == "pod-3"
	})
	w.waitDeltas(t, 12, 10*time.Second) // the survivor is publishing
	old.freeze.thaw()
	eventually(t, 5*time.Second, "the old owner fenced", func() bool { return counterValue(old.metrics.fenced) == 1 })
	wantRun(t, "watcher", w.waitFinishes(t, 1, 15*time.Second), 30)
	c.waitCompleted(id, 5*time.Second)
	wantRun(t, "buffer", c.bufferChunks(id), 30)
	if n := counterValue(old.metrics.conflicts); n < 1 {
		t.Errorf("old owner saw %v publish conflicts, want at least 1", n)
	}
}

// TestIntegrationGracefulStopHandsOver stops the owner gracefully with a long TTL: it
// releases the run and deletes its key, and a survivor takes over well under the TTL.
func TestIntegrationGracefulStopHandsOver(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3, func(cfg *Config) { cfg.HeartbeatTTL, cfg.HeartbeatInterval = 30*time.Second, time.Second })
	tn := bootstrap(t, c.url("pod-2"), c.provider)
	id := tn.newThread(t, c.url("pod-2"))
	w := tn.attach(t, c.url("pod-2"), id)
	tn.startRun(t, c.url("pod-1"), id, "slow:25x60")
	w.waitDeltas(t, 5, 10*time.Second)
	stopped := time.Now()
	c.stop("pod-1")
	eventually(t, 5*time.Second, "a survivor owns the run", func() bool {
		o := c.owner(id)
		return o == "pod-2" || o == "pod-3"
	})
	t.Logf("handed over %s after the stop began (TTL %s)", time.Since(stopped).Round(time.Millisecond), c.base.HeartbeatTTL)
	wantRun(t, "watcher", w.waitFinishes(t, 1, 10*time.Second), 25)
	c.waitCompleted(id, 5*time.Second)
	if kv, err := c.js().KeyValue(t.Context(), HeartbeatBucket); err != nil {
		t.Fatal(err)
	} else if _, err := kv.Get(t.Context(), "pod-1"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("pod-1's heartbeat key after a graceful stop: %v, want deleted", err)
	}
}

// TestIntegrationProviderBreaksMidStream cuts the provider's first stream after three
// chunks: the owner retries and resumes, skipping what the buffer holds.
func TestIntegrationProviderBreaksMidStream(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	tn := bootstrap(t, c.url("pod-1"), c.provider)
	id := tn.newThread(t, c.url("pod-1"))
	w := tn.attach(t, c.url("pod-2"), id)
	// The mock's cut:K breaks every attempt; a front that cuts only the first one
	// shows the resume.
	flaky := flakyFront(t, c.provider, 3)
	rewireProvider(t, c.url("pod-1"), tn, flaky)
	tn.startRun(t, c.url("pod-1"), id, "many:8")
	wantRun(t, "watcher", w.waitFinishes(t, 1, 15*time.Second), 8)
	c.waitCompleted(id, 5*time.Second)
	if n := counterValue(c.pod("pod-1").metrics.providerErrors.WithLabelValues("transport")); n != 1 {
		t.Errorf("transport errors %v, want 1", n)
	}
}

// TestIntegrationProviderErrorFailsRun: a provider that answers 429 on every attempt
// fails the run after the retries: an error chunk, the done sentinel, status failed.
func TestIntegrationProviderErrorFailsRun(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1, func(cfg *Config) { cfg.ProviderRetries = 2 })
	tn := bootstrap(t, c.url("pod-1"), c.provider)
	id := tn.newThread(t, c.url("pod-1"))
	w := tn.attach(t, c.url("pod-1"), id)
	tn.startRun(t, c.url("pod-1"), id, "fail:429")
	eventually(t, 10*time.Second, "thread failed", func() bool { return c.thread(id).Status == StatusFailed })
	eventually(t, 5*time.Second, "error chunk", func() bool { return countType(w.snapshot(), ChunkError) == 1 })
	cs := w.snapshot()
	if cs[len(cs)-1].Type != ChunkError || !strings.Contains(cs[len(cs)-1].ErrorText, "429") {
		t.Errorf("last chunk %+v, want an error naming 429", cs[len(cs)-1])
	}
	if r := c.thread(id); r.Owner != nil || r.HasConfig {
		t.Errorf("failed thread keeps owner %v / config %v", r.Owner, r.HasConfig)
	}
}

// TestIntegrationHealthAndMetrics checks the health routes and /metrics.
func TestIntegrationHealthAndMetrics(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1)
	base := c.url("pod-1")
	if _, out := call(t, "GET", base+"/health/live", nil, nil); out["status"] != "ok" {
		t.Errorf("live: %v", out)
	}
	_, out := call(t, "GET", base+"/health/ready", nil, nil)
	svc, _ := out["services"].(map[string]any)
	if out["status"] != "ok" || svc["postgres"].(map[string]any)["status"] != "up" || svc["nats"].(map[string]any)["status"] != "up" {
		t.Errorf("ready: %v", out)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("metrics: %v %v", resp, err)
	}
	resp.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := c.js().Stream(ctx, StreamName)
	if err != nil {
		t.Fatalf("stream %s: %v", StreamName, err)
	}
	cfg := info.CachedInfo().Config
	if cfg.Storage != jetstream.MemoryStorage || cfg.MaxAge != 5*time.Minute || cfg.MaxMsgsPerSubject != 20000 ||
		cfg.Discard != jetstream.DiscardOld || cfg.Subjects[0] != "decopilot.stream.>" {
		t.Errorf("stream config %+v", cfg)
	}
	kv, err := c.js().KeyValue(ctx, HeartbeatBucket)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := kv.Status(ctx)
	if st.TTL() != c.base.HeartbeatTTL || st.BackingStore() != "JetStream" {
		t.Errorf("bucket TTL %s", st.TTL())
	}
}

// flakyFront proxies the mock LLM and breaks its first stream after k content frames.
func flakyFront(t *testing.T, upstream string, k int) string {
	t.Helper()
	var calls atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := calls.Add(1) == 1
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, upstream+strings.TrimPrefix(r.URL.Path, "/v1"), r.Body)
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		sc, content := bufio.NewScanner(resp.Body), 0
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, `"content":"chunk-`) {
				if content++; first && content > k {
					panic(http.ErrAbortHandler) // the connection breaks mid-stream
				}
			}
			_, _ = w.Write([]byte(line + "\n"))
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(front.Close)
	return front.URL + "/v1"
}

// rewireProvider points the tenant's smart tier at another provider URL.
func rewireProvider(t *testing.T, base string, tn tenant, provider string) {
	t.Helper()
	cred, _ := json.Marshal(map[string]string{"baseUrl": provider, "apiKey": "test-key"})
	keyID := mcpCall(t, base, tn, "AI_PROVIDER_KEY_CREATE", map[string]any{"providerId": "openai-compatible", "label": "flaky", "apiKey": string(cred)})["id"].(string)
	mcpCall(t, base, tn, "ORGANIZATION_SETTINGS_UPDATE", map[string]any{"organizationId": tn.orgID,
		"simple_mode": map[string]any{"tiers": map[string]any{"smart": map[string]string{"keyId": keyID, "modelId": "mock-model"}}}})
}

// counterValue reads a counter's current value.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// TestIntegrationOwnerRestartsAndAdopts kills the owner and starts it again under
// the same name before its key expires (compose restarting the container): the new
// process adopts the run it owns by name, and it completes exactly once.
func TestIntegrationOwnerRestartsAndAdopts(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	tn := bootstrap(t, c.url("pod-2"), c.provider)
	id := tn.newThread(t, c.url("pod-2"))
	w := tn.attach(t, c.url("pod-2"), id)
	tn.startRun(t, c.url("pod-1"), id, "slow:20x60")
	w.waitDeltas(t, 5, 10*time.Second)
	c.kill("pod-1")
	again := c.start("pod-1")
	wantRun(t, "watcher", w.waitFinishes(t, 1, 15*time.Second), 20)
	c.waitCompleted(id, 5*time.Second)
	if n := counterValue(again.metrics.runsResumed.WithLabelValues(foundAdopted)); n != 1 {
		t.Errorf("restarted pod-1 adopted %v runs, want 1", n)
	}
}

// TestIntegrationWorkflowRows: each run has a dbos.workflow_status row whose
// executor_id follows the owner, ending SUCCESS.
func TestIntegrationWorkflowRows(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	tn := bootstrap(t, c.url("pod-2"), c.provider)
	id := tn.newThread(t, c.url("pod-2"))
	task := tn.startRun(t, c.url("pod-1"), id, "slow:20x50")
	if st, ex := c.workflow(task); st != "PENDING" || ex != "pod-1" {
		t.Fatalf("workflow %s: %s on %s, want PENDING on pod-1", task, st, ex)
	}
	eventually(t, 5*time.Second, "a few chunks", func() bool { return len(deltas(c.bufferChunks(id))) >= 3 })
	c.kill("pod-1")
	eventually(t, c.base.HeartbeatTTL+3*time.Second, "executor_id moves to pod-2", func() bool {
		_, ex := c.workflow(task)
		return ex == "pod-2"
	})
	c.waitCompleted(id, 10*time.Second)
	if st, _ := c.workflow(task); st != "SUCCESS" {
		t.Fatalf("workflow %s ended %s, want SUCCESS", task, st)
	}
}

// TestIntegrationSharedExecutorID: with TESTBED_EXECUTOR_ID=local on every pod (mesh at
// #3392), a run's workflow row says "local" when it starts and still after another pod
// took it over, while threads.run_owner_pod names the pods.
func TestIntegrationSharedExecutorID(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, func(cfg *Config) { cfg.ExecutorID = "local" })
	tn := bootstrap(t, c.url("pod-2"), c.provider)
	id := tn.newThread(t, c.url("pod-2"))
	task := tn.startRun(t, c.url("pod-1"), id, "slow:20x50")
	if st, ex := c.workflow(task); st != "PENDING" || ex != "local" {
		t.Fatalf("workflow %s: %s on %s, want PENDING on local", task, st, ex)
	}
	if o := c.owner(id); o != "pod-1" {
		t.Fatalf("owner %q, want pod-1", o)
	}
	eventually(t, 5*time.Second, "a few chunks", func() bool { return len(deltas(c.bufferChunks(id))) >= 3 })
	c.kill("pod-1")
	eventually(t, c.base.HeartbeatTTL+3*time.Second, "pod-2 owns the run", func() bool { return c.owner(id) == "pod-2" })
	if _, ex := c.workflow(task); ex != "local" {
		t.Errorf("executor_id after the takeover: %q, want local", ex)
	}
	c.waitCompleted(id, 10*time.Second)
	if st, ex := c.workflow(task); st != "SUCCESS" || ex != "local" {
		t.Fatalf("workflow %s ended %s on %s, want SUCCESS on local", task, st, ex)
	}
}

// TestIntegrationGracefulStopReleasesRun: a graceful stop with no survivor leaves the
// run in progress with no owner (mesh's stopAll -> orphanRunsByPod: run_owner_pod NULL),
// its config kept; the next pod to boot takes it over as released and finishes it.
func TestIntegrationGracefulStopReleasesRun(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1, func(cfg *Config) { cfg.ExecutorID = "local" })
	tn := bootstrap(t, c.url("pod-1"), c.provider)
	id := tn.newThread(t, c.url("pod-1"))
	task := tn.startRun(t, c.url("pod-1"), id, "slow:20x50")
	eventually(t, 5*time.Second, "a few chunks", func() bool { return len(deltas(c.bufferChunks(id))) >= 3 })
	c.stop("pod-1")
	if r := c.thread(id); r.Status != StatusInProgress || r.Owner != nil || !r.HasConfig {
		t.Fatalf("after a graceful stop: status %s, owner %v, config %v; want in_progress, NULL, kept", r.Status, r.Owner, r.HasConfig)
	}
	if st, ex := c.workflow(task); st != "PENDING" || ex != "local" {
		t.Errorf("workflow after the stop: %s on %s, want PENDING on local", st, ex)
	}
	c.start("pod-2")
	c.waitCompleted(id, 15*time.Second)
	if n := counterValue(c.pod("pod-2").metrics.runsResumed.WithLabelValues(foundReleased)); n != 1 {
		t.Errorf("pod-2 took over %v released runs, want 1", n)
	}
	wantRun(t, "buffer", c.bufferChunks(id), 20)
}

// TestIntegrationProviderCutEveryTimeFails: the mock's cut:K breaks every attempt on
// every pod, so the run moves between pods a bounded number of times, then fails.
func TestIntegrationProviderCutEveryTimeFails(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, func(cfg *Config) { cfg.HandoverAfter = 1 })
	tn := bootstrap(t, c.url("pod-1"), c.provider)
	id := tn.newThread(t, c.url("pod-1"))
	w := tn.attach(t, c.url("pod-2"), id)
	tn.startRun(t, c.url("pod-1"), id, "many:6 cut:2")
	eventually(t, 20*time.Second, "thread failed", func() bool { return c.thread(id).Status == StatusFailed })
	eventually(t, 5*time.Second, "error chunk", func() bool { return countType(w.snapshot(), ChunkError) == 1 })
	if got := deltas(w.snapshot()); len(got) != 2 || got[0] != "chunk-1 " || got[1] != "chunk-2 " {
		t.Errorf("deltas %q, want chunk-1 and chunk-2 once", got)
	}
	handovers := counterValue(c.pod("pod-1").metrics.runsHandedOver) + counterValue(c.pod("pod-2").metrics.runsHandedOver)
	if handovers != maxHandovers {
		t.Errorf("%v handovers, want %d", handovers, maxHandovers)
	}
}

// TestIntegrationAttachSurvivesConsumerReset deletes an attach's buffer consumer on
// the server mid-run. The ordered consumer starts again after the last message it
// delivered, so the watcher still sees every chunk once, in order, and the pod logs
// the consumer's error: the evidence that an attach was reset (after a pause, say,
// when a purge in the meantime can have taken messages it had not delivered yet).
func TestIntegrationAttachSurvivesConsumerReset(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 0)
	core, logs := observer.New(zap.WarnLevel)
	c.logs = core
	c.start("pod-1")
	tn := bootstrap(t, c.url("pod-1"), c.provider)
	id := tn.newThread(t, c.url("pod-1"))
	w := tn.attach(t, c.url("pod-1"), id)
	tn.startRun(t, c.url("pod-1"), id, "slow:20x100")
	w.waitDeltas(t, 5, 10*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := c.js().Stream(ctx, StreamName)
	if err != nil {
		t.Fatal(err)
	}
	subject := StreamSubject(id)
	lister := s.ListConsumers(ctx)
	deleted := 0
	for info := range lister.Info() {
		if info.Config.FilterSubject == subject || slices.Contains(info.Config.FilterSubjects, subject) {
			if err := s.DeleteConsumer(ctx, info.Name); err != nil {
				t.Fatalf("delete consumer %s: %v", info.Name, err)
			}
			deleted++
		}
	}
	if err := lister.Err(); err != nil {
		t.Fatal(err)
	}
	if deleted != 1 {
		t.Fatalf("%d consumers on %s, want the attach's one", deleted, subject)
	}

	wantRun(t, "watcher across the reset", w.waitFinishes(t, 1, 20*time.Second), 20)
	eventually(t, 5*time.Second, "the consumer error in the pod's log", func() bool {
		return logs.FilterMessage("attach: buffer consumer error").FilterField(zap.String("thread", id)).Len() > 0
	})
}

// An attach's consumer lives while the attach waits, even through a gap between
// chunks longer than the server's inactivity threshold, and is gone soon after the
// client leaves: idle consumers pile up on the buffer stream otherwise (nats.go's
// ordered consumers ask the server to keep them 5 minutes).
func TestIntegrationAttachConsumerLivesThenGoes(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 0)
	gap := attachConsumerInactive + 2*time.Second
	c.base.ProviderIdleTimeout = 3 * gap // the provider's silence between chunks is expected
	c.start("pod-1")
	tn := bootstrap(t, c.url("pod-1"), c.provider)
	id := tn.newThread(t, c.url("pod-1"))
	w := tn.attach(t, c.url("pod-1"), id)
	tn.startRun(t, c.url("pod-1"), id, fmt.Sprintf("slow:3x%d", gap.Milliseconds()))

	consumers := func() int {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := c.js().Stream(ctx, StreamName)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		lister := s.ListConsumers(ctx)
		for info := range lister.Info() {
			if info.Config.FilterSubject == StreamSubject(id) || slices.Contains(info.Config.FilterSubjects, StreamSubject(id)) {
				n++
			}
		}
		if err := lister.Err(); err != nil {
			t.Fatal(err)
		}
		return n
	}
	w.waitDeltas(t, 1, 2*gap)
	if n := consumers(); n != 1 {
		t.Fatalf("%d consumers on the thread's subject while the attach runs, want 1", n)
	}
	wantRun(t, "watcher across gaps longer than the inactivity threshold", w.waitFinishes(t, 1, 4*gap), 3)
	w.cancel() // the client leaves at the finish, as chaosd's watchers do
	eventually(t, attachConsumerInactive+10*time.Second, "the attach's consumer removed by the server", func() bool {
		return consumers() == 0
	})
}
