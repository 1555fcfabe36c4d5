//go:build integration

package testbed

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"golang.org/x/crypto/bcrypt"

	"github.com/chaosd/chaosd/internal/testenv"
	"github.com/chaosd/chaosd/mockai"
)

const testOrigin = "http://localhost:3000"

// cluster is a set of in-process pods sharing one database, one NATS server and one
// mock LLM, like the bundled compose cluster.
type cluster struct {
	t        *testing.T
	dsn      string
	natsURL  string
	provider string // mock LLM base URL, .../v1
	base     Config
	mu       sync.Mutex
	pods     map[string]*podProc
	jsOnce   sync.Once
	jsc      jetstream.JetStream
	poolOnce sync.Once
	pool     *pgxpool.Pool
	logs     zapcore.Core // when set, every pod also logs here (tests that read the log)
}

type podProc struct {
	pod    *Pod
	cancel context.CancelFunc
	done   chan error
}

// newCluster starts n pods named pod-1..pod-n with short heartbeat timings; mutate
// adjusts the shared base config.
func newCluster(t *testing.T, n int, mutate ...func(*Config)) *cluster {
	t.Helper()
	mock := httptest.NewServer(mockai.New(mockai.Options{Logger: zap.NewNop()}))
	t.Cleanup(mock.Close)
	return newClusterWith(t, n, mock.URL+"/v1", mutate...)
}

func newClusterWith(t *testing.T, n int, provider string, mutate ...func(*Config)) *cluster {
	t.Helper()
	return newClusterOn(t, n, testenv.NATS(t), provider, mutate...)
}

// newClusterOn is newCluster on a given NATS server and provider.
func newClusterOn(t *testing.T, n int, natsURL, provider string, mutate ...func(*Config)) *cluster {
	t.Helper()
	c := &cluster{t: t, dsn: testenv.Database(t), natsURL: natsURL, provider: provider, pods: map[string]*podProc{}}
	c.base = DefaultConfig()
	c.base.DatabaseURL, c.base.NATSURL, c.base.Addr = c.dsn, c.natsURL, "127.0.0.1:0"
	c.base.HeartbeatTTL, c.base.HeartbeatInterval = 2*time.Second, 250*time.Millisecond
	c.base.KeepAlive, c.base.PurgeGrace, c.base.BcryptCost = time.Second, time.Minute, bcrypt.MinCost
	c.base.ProviderIdleTimeout = 5 * time.Second
	for _, m := range mutate {
		m(&c.base)
	}
	t.Cleanup(c.killAll)
	for i := 1; i <= n; i++ {
		c.start(fmt.Sprintf("pod-%d", i))
	}
	return c
}

func (c *cluster) start(name string, mutate ...func(*Config)) *Pod {
	c.t.Helper()
	cfg := c.base
	cfg.PodName = name
	for _, m := range mutate {
		m(&cfg)
	}
	log := zaptest.NewLogger(c.t, zaptest.Level(zap.InfoLevel))
	if c.logs != nil {
		log = log.WithOptions(zap.WrapCore(func(core zapcore.Core) zapcore.Core { return zapcore.NewTee(core, c.logs) }))
	}
	pod, err := New(cfg, log)
	if err != nil {
		c.t.Fatalf("start %s: %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pp := &podProc{pod: pod, cancel: cancel, done: make(chan error, 1)}
	go func() { pp.done <- pod.Run(ctx) }()
	c.mu.Lock()
	c.pods[name] = pp
	c.mu.Unlock()
	eventually(c.t, 20*time.Second, name+" ready", func() bool { return pod.Ready() && (cfg.Role == RoleAPI || c.heartbeatSeen(name)) })
	return pod
}

func (c *cluster) pod(name string) *Pod {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pods[name].pod
}

func (c *cluster) url(name string) string { return c.pod(name).URL() }

// kill stops a pod abruptly (SIGKILL).
func (c *cluster) kill(name string) {
	c.mu.Lock()
	pp := c.pods[name]
	delete(c.pods, name)
	c.mu.Unlock()
	pp.pod.Kill()
	<-pp.done
	pp.cancel()
}

// stop stops a pod gracefully (SIGTERM) and waits until it is gone.
func (c *cluster) stop(name string) {
	c.mu.Lock()
	pp := c.pods[name]
	delete(c.pods, name)
	c.mu.Unlock()
	pp.cancel()
	select {
	case err := <-pp.done:
		if err != nil {
			c.t.Errorf("graceful stop of %s: %v", name, err)
		}
	case <-time.After(15 * time.Second):
		c.t.Fatalf("graceful stop of %s did not finish", name)
	}
}

func (c *cluster) killAll() {
	c.mu.Lock()
	names := make([]string, 0, len(c.pods))
	for n := range c.pods {
		names = append(names, n)
	}
	c.mu.Unlock()
	for _, n := range names {
		c.kill(n)
	}
}

// js opens a JetStream client of the test's own on the cluster's NATS.
func (c *cluster) js() jetstream.JetStream {
	c.t.Helper()
	c.jsOnce.Do(func() {
		nc, err := nats.Connect(c.natsURL)
		if err != nil {
			c.t.Fatal(err)
		}
		c.t.Cleanup(nc.Close)
		if c.jsc, err = jetstream.New(nc); err != nil {
			c.t.Fatal(err)
		}
	})
	return c.jsc
}

func (c *cluster) heartbeatSeen(name string) bool {
	if c.base.Mesh == MeshCurrent {
		return true // today's mesh has no heartbeats
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	kv, err := c.js().KeyValue(ctx, HeartbeatBucket)
	if err != nil {
		return c.base.Bugs.Has(BugNoHeartbeatBucket)
	}
	_, err = kv.Get(ctx, name)
	return err == nil
}

// bufferChunks reads every chunk on a thread's subject straight from JetStream.
func (c *cluster) bufferChunks(threadID string) []Chunk {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.js().Stream(ctx, StreamName)
	if err != nil {
		c.t.Fatal(err)
	}
	var out []Chunk
	for seq := uint64(1); ; {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(StreamSubject(threadID)))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		if err != nil {
			c.t.Fatal(err)
		}
		var e envelope
		if json.Unmarshal(m.Data, &e) == nil && e.P != nil {
			out = append(out, *e.P)
		}
		seq = m.Sequence + 1
	}
}

// threadRow reads a thread's run state straight from Postgres.
type threadRow struct {
	Status    string
	Owner     *string
	HasConfig bool
}

func (c *cluster) thread(id string) threadRow {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.dsn)
	if err != nil {
		c.t.Fatal(err)
	}
	defer conn.Close(ctx)
	var r threadRow
	if err := conn.QueryRow(ctx, `SELECT status, run_owner_pod, run_config IS NOT NULL FROM threads WHERE id = $1`, id).
		Scan(&r.Status, &r.Owner, &r.HasConfig); err != nil {
		c.t.Fatalf("thread %s: %v", id, err)
	}
	return r
}

// workflow reads a run's dbos.workflow_status row: status and executor_id.
func (c *cluster) workflow(taskID string) (status, executor string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.dsn)
	if err != nil {
		c.t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, `SELECT status, executor_id FROM dbos.workflow_status WHERE workflow_uuid = $1`, taskID).
		Scan(&status, &executor); err != nil {
		c.t.Fatalf("workflow %s: %v", taskID, err)
	}
	return status, executor
}

func (c *cluster) owner(id string) string {
	if o := c.thread(id).Owner; o != nil {
		return *o
	}
	return ""
}

// waitCompleted waits until the thread's run ended as completed with its owner cleared.
func (c *cluster) waitCompleted(id string, within time.Duration) {
	c.t.Helper()
	eventually(c.t, within, "thread "+id+" completed", func() bool {
		r := c.thread(id)
		return r.Status == StatusCompleted && r.Owner == nil && !r.HasConfig
	})
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tenant is a bootstrapped organization, as the contract's setup.ts makes one.
type tenant struct {
	orgID, slug, cookie, key, agentID string
}

var tenantSeq struct {
	sync.Mutex
	n int
}

// bootstrap signs up, creates an org, sets it active, mints an API key, wires the
// mock provider into the smart tier and creates an agent, all through base, with the
// May body of ORGANIZATION_SETTINGS_UPDATE.
func bootstrap(t *testing.T, base, provider string) tenant {
	t.Helper()
	return bootstrapWith(t, base, provider, func(keyID string) map[string]any {
		return map[string]any{"fast": nil, "smart": map[string]string{"keyId": keyID, "modelId": "mock-model"}}
	})
}

// bootstrapWith is bootstrap with the simple_mode tiers that tiers builds from the
// provider key's id.
func bootstrapWith(t *testing.T, base, provider string, tiers func(keyID string) map[string]any) tenant {
	t.Helper()
	tenantSeq.Lock()
	tenantSeq.n++
	n := tenantSeq.n
	tenantSeq.Unlock()
	email := fmt.Sprintf("user-%d-%d@test.local", n, time.Now().UnixNano())
	creds := map[string]string{"email": email, "password": "multi-pod-password", "name": "Test"}
	resp, _ := call(t, "POST", base+"/api/auth/sign-up/email", creds, nil)
	tn := tenant{slug: fmt.Sprintf("org-%d-%d", n, time.Now().UnixNano()%1e9)}
	tn.cookie = sessionCookie(resp)
	if tn.cookie == "" {
		t.Fatalf("sign-up: no session cookie (status %d)", resp.StatusCode)
	}
	hdr := map[string]string{"Cookie": tn.cookie}
	_, org := call(t, "POST", base+"/api/auth/organization/create", map[string]string{"name": "Org", "slug": tn.slug}, hdr)
	tn.orgID, _ = org["id"].(string)
	call(t, "POST", base+"/api/auth/organization/set-active", map[string]string{"organizationId": tn.orgID}, hdr)
	tn.key = mcpCall(t, base, tn, "API_KEY_CREATE", map[string]any{"name": "k", "permissions": map[string]any{"*": []string{"*"}}})["key"].(string)
	cred, _ := json.Marshal(map[string]string{"baseUrl": provider, "apiKey": "test-key"})
	keyID := mcpCall(t, base, tn, "AI_PROVIDER_KEY_CREATE", map[string]any{"providerId": "openai-compatible", "label": "mock", "apiKey": string(cred)})["id"].(string)
	mcpCall(t, base, tn, "ORGANIZATION_SETTINGS_UPDATE", map[string]any{"organizationId": tn.orgID,
		"simple_mode": map[string]any{"tiers": tiers(keyID)}})
	item := mcpCall(t, base, tn, "COLLECTION_VIRTUAL_MCP_CREATE", map[string]any{"data": map[string]any{"title": "agent", "connections": []any{}}})
	tn.agentID = item["item"].(map[string]any)["id"].(string)
	return tn
}

// newThread creates a thread through MCP and returns its id.
func (tn tenant) newThread(t *testing.T, base string) string {
	t.Helper()
	id := fmt.Sprintf("thrd_test_%d", time.Now().UnixNano())
	mcpCall(t, base, tn, "COLLECTION_THREADS_CREATE", map[string]any{"data": map[string]any{"id": id, "virtual_mcp_id": tn.agentID}})
	return id
}

func sessionCookie(resp *http.Response) string {
	var parts []string
	for _, c := range resp.Cookies() {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}

// call sends a JSON request and decodes a JSON object answer; it fails the test on a
// non-2xx status.
func call(t *testing.T, method, url string, body any, hdr map[string]string) (*http.Response, map[string]any) {
	t.Helper()
	resp, out := send(t, method, url, body, hdr)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %v", method, url, resp.StatusCode, out)
	}
	return resp, out
}

// send is call without the status check.
func send(t *testing.T, method, url string, body any, hdr map[string]string) (*http.Response, map[string]any) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", testOrigin)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp, out
}

func mcpCall(t *testing.T, base string, tn tenant, name string, args map[string]any) map[string]any {
	t.Helper()
	body := map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": map[string]any{"name": name, "arguments": args}}
	_, out := call(t, "POST", base+"/mcp/"+tn.orgID+"_self", body, map[string]string{"Cookie": tn.cookie, "Accept": "application/json, text/event-stream"})
	if out["error"] != nil {
		t.Fatalf("%s: %v", name, out["error"])
	}
	res := out["result"].(map[string]any)
	if sc, ok := res["structuredContent"].(map[string]any); ok && len(sc) > 0 {
		return sc
	}
	var fromText map[string]any
	text := res["content"].([]any)[0].(map[string]any)["text"].(string)
	if err := json.Unmarshal([]byte(text), &fromText); err != nil {
		t.Fatalf("%s: content text %q: %v", name, text, err)
	}
	return fromText
}

func (tn tenant) bearer() map[string]string {
	return map[string]string{"Authorization": "Bearer " + tn.key}
}

// startRun posts a user message whose text carries the mock's hints.
func (tn tenant) startRun(t *testing.T, base, threadID, text string) string {
	t.Helper()
	resp, out := tn.postRun(t, base, threadID, text)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start run on %s: %d %v", base, resp.StatusCode, out)
	}
	return out["taskId"].(string)
}

func (tn tenant) postRun(t *testing.T, base, threadID, text string) (*http.Response, map[string]any) {
	t.Helper()
	body := map[string]any{"messages": []any{map[string]any{"id": fmt.Sprintf("m%d", time.Now().UnixNano()), "role": "user",
		"parts": []any{map[string]any{"type": "text", "text": text}}}}, "agent": map[string]string{"id": tn.agentID}, "tier": "smart"}
	return send(t, "POST", base+"/api/"+tn.slug+"/decopilot/threads/"+threadID+"/messages", body, tn.bearer())
}

// watcher is an attached SSE reader.
type watcher struct {
	mu         sync.Mutex
	chunks     []Chunk
	keepalives int
	err        error
	cancel     context.CancelFunc
}

// attach opens an attach stream (path: "attach" or "stream") and returns once the
// response headers are in, i.e. once the pod's consumer exists.
func (tn tenant) attach(t *testing.T, base, threadID string) *watcher {
	t.Helper()
	return tn.attachPath(t, base+"/api/"+tn.slug+"/decopilot/attach/"+threadID)
}

func (tn tenant) attachPath(t *testing.T, url string) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	for k, v := range tn.bearer() {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("attach %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		t.Fatalf("attach %s: %d %s", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	w := &watcher{cancel: cancel}
	t.Cleanup(cancel)
	go w.read(resp.Body)
	return w
}

func (w *watcher) read(body io.ReadCloser) {
	defer body.Close()
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		line := sc.Text()
		w.mu.Lock()
		switch {
		case strings.HasPrefix(line, "data: "):
			var c Chunk
			if err := json.Unmarshal([]byte(line[len("data: "):]), &c); err != nil {
				w.err = fmt.Errorf("bad chunk %q: %w", line, err)
			}
			w.chunks = append(w.chunks, c)
		case line == ": keepalive":
			w.keepalives++
		}
		w.mu.Unlock()
	}
}

func (w *watcher) keepalive() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.keepalives
}

func (w *watcher) snapshot() []Chunk {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Chunk(nil), w.chunks...)
}

func countType(cs []Chunk, typ string) int {
	n := 0
	for _, c := range cs {
		if c.Type == typ {
			n++
		}
	}
	return n
}

func deltas(cs []Chunk) []string {
	var out []string
	for _, c := range cs {
		if c.Type == ChunkTextDelta {
			out = append(out, c.Delta)
		}
	}
	return out
}

// waitDeltas waits until the watcher has seen n text-deltas.
func (w *watcher) waitDeltas(t *testing.T, n int, within time.Duration) {
	t.Helper()
	eventually(t, within, fmt.Sprintf("%d text-deltas", n), func() bool { return len(deltas(w.snapshot())) >= n })
}

// waitFinishes waits until the watcher has seen n finish chunks.
func (w *watcher) waitFinishes(t *testing.T, n int, within time.Duration) []Chunk {
	t.Helper()
	eventually(t, within, fmt.Sprintf("%d finish chunks", n), func() bool { return countType(w.snapshot(), ChunkFinish) >= n })
	w.mu.Lock()
	err := w.err
	w.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	return w.snapshot()
}

// wantRun checks one run's chunks: the frame, and chunk-1..chunk-n exactly once, in order.
func wantRun(t *testing.T, who string, cs []Chunk, n int) {
	t.Helper()
	var want []string
	for i := 1; i <= n; i++ {
		want = append(want, fmt.Sprintf("chunk-%d ", i))
	}
	got := deltas(cs)
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("%s: text-deltas\n got %q\nwant %q", who, got, want)
	}
	for _, typ := range []string{ChunkStart, ChunkStartStep, ChunkTextStart, ChunkTextEnd, ChunkFinishStep, ChunkFinish} {
		if k := countType(cs, typ); k != 1 {
			t.Errorf("%s: %d %s chunks, want 1", who, k, typ)
		}
	}
	if len(cs) > 0 && (cs[0].Type != ChunkStart || cs[len(cs)-1].Type != ChunkFinish) {
		t.Errorf("%s: run starts with %s and ends with %s", who, cs[0].Type, cs[len(cs)-1].Type)
	}
}
