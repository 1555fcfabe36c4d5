//go:build integration

package testbed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
)

// Today's mesh (TESTBED_MESH=current): DBOS workflow owners, no heartbeat bucket,
// recovery by same-name restart and by the SIGTERM hand-over, a reaper for the rest,
// the kept log after a resume, and the reply persisted once.

// newCurrent starts n pods of today's mesh, polling the queue every 100 ms.
func newCurrent(t *testing.T, n int, mutate ...func(*Config)) *cluster {
	t.Helper()
	return newCluster(t, n, append([]func(*Config){func(cfg *Config) {
		cfg.Mesh, cfg.QueuePoll = MeshCurrent, 100*time.Millisecond
	}}, mutate...)...)
}

// todaysTiers is a simple_mode body today's schema accepts: every tier, smart set.
func todaysTiersBody(keyID string) map[string]any {
	return map[string]any{"fast": nil, "smart": map[string]string{"keyId": keyID, "modelId": "mock-model"}, "thinking": nil,
		"image": nil, "web_search": nil, "deep_research": nil}
}

// tenant bootstraps a tenant through pod with the body the cluster's mesh accepts.
func (c *cluster) tenant(pod string) tenant {
	c.t.Helper()
	if c.base.Mesh == MeshCurrent {
		return bootstrapWith(c.t, c.url(pod), c.provider, todaysTiersBody)
	}
	return bootstrap(c.t, c.url(pod), c.provider)
}

// streamWatch attaches through today's route, .../threads/<id>/stream.
func (tn tenant) streamWatch(t *testing.T, base, threadID string) *watcher {
	t.Helper()
	return tn.attachPath(t, base+"/api/"+tn.slug+"/decopilot/threads/"+threadID+"/stream")
}

// startToday starts a run and returns the gate workflow's id (the answer's taskId is
// the thread id in today's mesh).
func (tn tenant) startToday(t *testing.T, base, threadID, text string) string {
	t.Helper()
	msgID := fmt.Sprintf("m%d", time.Now().UnixNano())
	body := map[string]any{"messages": []any{map[string]any{"id": msgID, "role": "user",
		"parts": []any{map[string]any{"type": "text", "text": text}}}}, "agent": map[string]string{"id": tn.agentID}, "tier": "smart"}
	resp, out := send(t, "POST", base+"/api/"+tn.slug+"/decopilot/threads/"+threadID+"/messages", body, tn.bearer())
	if resp.StatusCode != http.StatusAccepted || out["taskId"] != threadID {
		t.Fatalf("start run on %s: %d %v, want 202 with taskId = the thread id", base, resp.StatusCode, out)
	}
	return GateWorkflowID(threadID, msgID)
}

// conn is the test's own pool on the cluster's database.
func (c *cluster) conn() *pgxpool.Pool {
	c.t.Helper()
	c.poolOnce.Do(func() {
		var err error
		if c.pool, err = pgxpool.New(context.Background(), c.dsn); err != nil {
			c.t.Fatal(err)
		}
		c.t.Cleanup(c.pool.Close)
	})
	return c.pool
}

// wfRow is a dbos.workflow_status row.
type wfRow struct {
	Status, Name, Queue string
	Executor, Partition *string
}

func (w wfRow) executor() string {
	if w.Executor == nil {
		return "NULL"
	}
	return *w.Executor
}

// wf reads a workflow row; ok is false when there is none.
func (c *cluster) wf(id string) (wfRow, bool) {
	c.t.Helper()
	var w wfRow
	err := c.conn().QueryRow(context.Background(), `SELECT status, name, queue_name, executor_id, queue_partition_key
		FROM dbos.workflow_status WHERE workflow_uuid = $1`, id).Scan(&w.Status, &w.Name, &w.Queue, &w.Executor, &w.Partition)
	if errors.Is(err, pgx.ErrNoRows) {
		return w, false
	}
	if err != nil {
		c.t.Fatalf("workflow %s: %v", id, err)
	}
	return w, true
}

// wantWF checks a workflow's status and executor.
func (c *cluster) wantWF(id, status, executor string) {
	c.t.Helper()
	w, ok := c.wf(id)
	if !ok || w.Status != status || w.executor() != executor {
		c.t.Fatalf("workflow %s: %+v (exists %v, executor %s), want %s on %s", id, w, ok, w.executor(), status, executor)
	}
}

func (c *cluster) fence(thread string) int64 {
	c.t.Helper()
	var f int64
	if err := c.conn().QueryRow(context.Background(), `SELECT run_fence_token FROM threads WHERE id = $1`, thread).Scan(&f); err != nil {
		c.t.Fatal(err)
	}
	return f
}

// firstFence is the fence of the first message on a thread's subject (0: none).
func (c *cluster) firstFence(thread string) int64 {
	c.t.Helper()
	s, err := c.js().Stream(context.Background(), StreamName)
	if err != nil {
		c.t.Fatal(err)
	}
	m, err := s.GetMsg(context.Background(), 1, jetstream.WithGetMsgSubject(StreamSubject(thread)))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0
	}
	if err != nil {
		c.t.Fatal(err)
	}
	var e envelope
	if err := json.Unmarshal(m.Data, &e); err != nil {
		c.t.Fatal(err)
	}
	return e.Fence
}

// partRow is a thread_message_parts row.
type partRow struct {
	ID, MessageID, Role, Kind, Text string
	Seq                             int
}

func (c *cluster) parts(thread string) []partRow {
	c.t.Helper()
	rows, err := c.conn().Query(context.Background(), `SELECT id, seq, message_id, role, kind, COALESCE(payload->>'text', payload->>'errorText', '')
		FROM thread_message_parts WHERE thread_id = $1 ORDER BY created_at, message_id, seq`, thread)
	if err != nil {
		c.t.Fatal(err)
	}
	defer rows.Close()
	var out []partRow
	for rows.Next() {
		var p partRow
		if err := rows.Scan(&p.ID, &p.Seq, &p.MessageID, &p.Role, &p.Kind, &p.Text); err != nil {
			c.t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// replies are the assistant text parts of a thread, by message id.
func (c *cluster) replies(thread string) map[string]string {
	out := map[string]string{}
	for _, p := range c.parts(thread) {
		if p.Role == "assistant" && p.Kind == "text" {
			out[p.MessageID] += p.Text
		}
	}
	return out
}

func reply(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "chunk-%d ", i)
	}
	return b.String()
}

// attemptsOf splits a watcher's chunks at each start chunk.
func attemptsOf(cs []Chunk) [][]Chunk {
	var out [][]Chunk
	for _, ch := range cs {
		if ch.Type == ChunkStart || len(out) == 0 {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], ch)
	}
	return out
}

// wantKeptLog checks the buffer rule after one resume of an n-chunk reply: the dead
// attempt's partial log (start, chunk-1..chunk-k, no finish), then the resumed
// attempt's whole reply, both under the run's message id.
func wantKeptLog(t *testing.T, who string, cs []Chunk, n int) {
	t.Helper()
	as := attemptsOf(cs)
	if len(as) != 2 {
		t.Fatalf("%s: %d attempts (start chunks), want 2: %q", who, len(as), deltas(cs))
	}
	first := deltas(as[0])
	if len(first) == 0 || len(first) >= n || countType(as[0], ChunkFinish) != 0 || reply(len(first)) != strings.Join(first, "") {
		t.Errorf("%s: the dead attempt's log %q, want chunk-1..chunk-k, k < %d, without a finish", who, first, n)
	}
	if as[0][0].MessageID == "" || as[0][0].MessageID != as[1][0].MessageID {
		t.Errorf("%s: message ids %q and %q, want the run's twice", who, as[0][0].MessageID, as[1][0].MessageID)
	}
	wantRun(t, who+", resumed attempt", as[1], n)
}

func readyStatus(t *testing.T, base string) int {
	t.Helper()
	resp, err := http.Get(base + "/health/ready")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// mcpError calls a tool and returns its JSON-RPC error.
func mcpError(t *testing.T, base string, tn tenant, name string, args map[string]any) map[string]any {
	t.Helper()
	body := map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": map[string]any{"name": name, "arguments": args}}
	_, out := call(t, "POST", base+"/mcp/"+tn.orgID+"_self", body, map[string]string{"Cookie": tn.cookie, "Accept": "application/json, text/event-stream"})
	e, _ := out["error"].(map[string]any)
	if e == nil {
		t.Fatalf("%s: no error in %v", name, out)
	}
	return e
}

// TestIntegrationMaySchemaHasNoTodaysTables: a May pod's schema is May's alone.
func TestIntegrationMaySchemaHasNoTodaysTables(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1)
	var parts, fence bool
	if err := c.conn().QueryRow(context.Background(), `SELECT to_regclass('public.thread_message_parts') IS NOT NULL,
		EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'threads' AND column_name = 'run_fence_token')`).Scan(&parts, &fence); err != nil {
		t.Fatal(err)
	}
	if parts || fence {
		t.Fatalf("May schema: thread_message_parts %v, run_fence_token %v; want neither", parts, fence)
	}
}

// TestIntegrationCurrentBootstrapAndRoutes: the May settings body is refused with a
// tool error naming the missing tiers, today's is accepted; the start answers the
// thread id and ignores the agent; a thread_id other than the route's is refused;
// /attach is gone.
func TestIntegrationCurrentBootstrapAndRoutes(t *testing.T) {
	t.Parallel()
	c := newCurrent(t, 1)
	base := c.url("pod-1")
	tn := c.tenant("pod-1")
	may := map[string]any{"organizationId": tn.orgID, "simple_mode": map[string]any{"tiers": map[string]any{
		"fast": nil, "smart": map[string]string{"keyId": "k", "modelId": "mock-model"}, "thinking": nil, "image": nil, "web_research": nil}}}
	e := mcpError(t, base, tn, "ORGANIZATION_SETTINGS_UPDATE", may)
	msg, _ := e["message"].(string)
	if e["code"] != float64(rpcInvalidParams) || !strings.Contains(msg, "simple_mode.tiers.web_search: required") ||
		!strings.Contains(msg, "simple_mode.tiers.deep_research: required") {
		t.Fatalf("May body: %v, want -32602 naming simple_mode.tiers.web_search and .deep_research", e)
	}
	bad := map[string]any{"simple_mode": map[string]any{"tiers": map[string]any{"web_search": nil, "deep_research": map[string]string{"keyId": "k"}}}}
	if e := mcpError(t, base, tn, "ORGANIZATION_SETTINGS_UPDATE", bad); !strings.Contains(e["message"].(string), "simple_mode.tiers.deep_research: want {keyId, modelId}") {
		t.Fatalf("a tier without modelId: %v", e)
	}

	id := tn.newThread(t, base)
	other := tn
	other.agentID = "vmcp_no_such_agent" // ignored
	task := other.startToday(t, base, id, "many:3")
	c.waitCompleted(id, 10*time.Second)
	c.wantWF(task, WorkflowSuccess, "pod-1")
	runBody := `{"messages":[{"id":"m2","role":"user","parts":[{"type":"text","text":"many:1"}]}],"thread_id":"thrd_other"}`
	wantError(t, "POST", base+"/api/"+tn.slug+"/decopilot/threads/"+id+"/messages", runBody, tn.bearer(), 400, `thread_id "thrd_other"`)
	wantError(t, "GET", base+"/api/"+tn.slug+"/decopilot/attach/"+id, "", tn.bearer(), 404, "Not Found")
}

// TestIntegrationCurrentWorkflowRows: a run is a thread-gate workflow and a child per
// attempt, PENDING on the pod's executor id while it runs and SUCCESS after; the
// fence grows per thread; run_owner_pod is never written; there is no heartbeat
// bucket; the user's message and the reply are persisted once.
func TestIntegrationCurrentWorkflowRows(t *testing.T) {
	t.Parallel()
	c := newCurrent(t, 2)
	tn := c.tenant("pod-2")
	id := tn.newThread(t, c.url("pod-2"))
	w := tn.streamWatch(t, c.url("pod-2"), id)
	gate := tn.startToday(t, c.url("pod-1"), id, "slow:10x60")
	child := HarnessWorkflowID(id, 1)
	if g, _ := c.wf(gate); g.Status != WorkflowPending || g.executor() != "pod-1" || g.Name != gateWorkflow || g.Queue != GateQueue ||
		g.Partition == nil || *g.Partition != id {
		t.Fatalf("gate %s: %+v, want PENDING on pod-1, thread-gate, partition %s", gate, g, id)
	}
	if ch, _ := c.wf(child); ch.Status != WorkflowPending || ch.executor() != "pod-1" || ch.Name != harnessWorkflow ||
		ch.Queue != HarnessQueue || ch.Partition != nil {
		t.Fatalf("child %s: %+v, want PENDING on pod-1, decopilot-hosted-harness, no partition", child, ch)
	}
	if r := c.thread(id); r.Status != StatusInProgress || r.Owner != nil {
		t.Fatalf("thread %+v: want in_progress, run_owner_pod NULL", r)
	}
	wantRun(t, "watcher", w.waitFinishes(t, 1, 10*time.Second), 10)
	c.waitCompleted(id, 5*time.Second)
	c.wantWF(gate, WorkflowSuccess, "pod-1")
	c.wantWF(child, WorkflowSuccess, "pod-1")
	if got := c.replies(id); len(got) != 1 || got[messageIDFor(gate)] != reply(10) {
		t.Fatalf("persisted replies %q, want one: %q", got, reply(10))
	}
	ps := c.parts(id)
	if len(ps) != 3 || ps[0].Role != "user" || ps[0].Text != "slow:10x60" || ps[0].ID != id+":"+strings.TrimPrefix(gate, "thread-run:"+id+":")+":0" ||
		ps[1].Kind != "text" || ps[2].Kind != "finish" || ps[2].Seq != 1 {
		t.Fatalf("parts %+v, want the user's text, then the reply's text and finish", ps)
	}

	gate2 := tn.startToday(t, c.url("pod-2"), id, "many:2")
	c.waitCompleted(id, 10*time.Second)
	if f := c.fence(id); f != 2 {
		t.Errorf("fence after two runs: %d, want 2", f)
	}
	c.wantWF(gate2, WorkflowSuccess, "pod-2")
	c.wantWF(HarnessWorkflowID(id, 2), WorkflowSuccess, "pod-2")
	if c.owner(id) != "" {
		t.Error("run_owner_pod was written")
	}
	if _, err := c.js().KeyValue(t.Context(), HeartbeatBucket); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Errorf("heartbeat bucket: %v, want none", err)
	}
}

// TestIntegrationCurrentRestartRecovers: the owner is killed and restarted under its
// name; it recovers its pending gate (fence 2, new child, the old one CANCELLED) and
// finishes the run. Watchers before and after the resume see the kept log; the reply
// is persisted once.
func TestIntegrationCurrentRestartRecovers(t *testing.T) {
	t.Parallel()
	c := newCurrent(t, 2)
	tn := c.tenant("pod-2")
	id := tn.newThread(t, c.url("pod-2"))
	w := tn.streamWatch(t, c.url("pod-2"), id)
	gate := tn.startToday(t, c.url("pod-1"), id, "slow:30x60")
	w.waitDeltas(t, 5, 10*time.Second)
	c.kill("pod-1")
	time.Sleep(300 * time.Millisecond)
	if n := counterValue(c.pod("pod-2").metrics.runsResumed.WithLabelValues(resumedHandover)); n != 0 {
		t.Fatalf("pod-2 took over a killed pod's run (%v): today's mesh has no such promise", n)
	}
	again := c.start("pod-1")
	if n := counterValue(again.metrics.runsResumed.WithLabelValues(resumedRestart)); n != 1 {
		t.Fatalf("restarted pod-1 recovered %v runs, want 1", n)
	}
	c.wantWF(HarnessWorkflowID(id, 1), WorkflowCancelled, "pod-1")
	if f := c.fence(id); f != 2 {
		t.Fatalf("fence %d after the resume, want 2", f)
	}
	late := tn.streamWatch(t, c.url("pod-2"), id)
	wantKeptLog(t, "watcher", w.waitFinishes(t, 1, 15*time.Second), 30)
	wantKeptLog(t, "late watcher", late.waitFinishes(t, 1, 5*time.Second), 30)
	c.waitCompleted(id, 5*time.Second)
	c.wantWF(gate, WorkflowSuccess, "pod-1")
	c.wantWF(HarnessWorkflowID(id, 2), WorkflowSuccess, "pod-1")
	if got := c.replies(id); len(got) != 1 || got[messageIDFor(gate)] != reply(30) {
		t.Fatalf("persisted replies %q, want one, whole", got)
	}
}

// TestIntegrationCurrentSigtermHandover: a graceful stop answers 503 on readiness and
// starts while it drains, puts its gate back on the queue (executor NULL, child
// CANCELLED), and another pod's poll resumes it to the end.
func TestIntegrationCurrentSigtermHandover(t *testing.T) {
	t.Parallel()
	c := newCurrent(t, 3)
	tn := c.tenant("pod-2")
	id, spare := tn.newThread(t, c.url("pod-2")), tn.newThread(t, c.url("pod-2"))
	w := tn.streamWatch(t, c.url("pod-2"), id)
	gate := tn.startToday(t, c.url("pod-1"), id, "slow:30x60")
	w.waitDeltas(t, 5, 10*time.Second)

	// Hold the hand-over on a lock of the gate's row, to look at the pod mid-drain.
	ctx := context.Background()
	tx, err := c.conn().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM dbos.workflow_status WHERE workflow_uuid = $1 FOR UPDATE`, gate); err != nil {
		t.Fatal(err)
	}
	base := c.url("pod-1")
	stopped := make(chan struct{})
	go func() { c.stop("pod-1"); close(stopped) }()
	eventually(t, 5*time.Second, "pod-1 unready", func() bool { return readyStatus(t, base) == http.StatusServiceUnavailable })
	if resp, out := tn.postRun(t, base, spare, "many:1"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("start while draining: %d %v, want 503", resp.StatusCode, out)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	<-stopped
	eventually(t, 5*time.Second, "a survivor resumed the run", func() bool {
		return counterValue(c.pod("pod-2").metrics.runsResumed.WithLabelValues(resumedHandover))+
			counterValue(c.pod("pod-3").metrics.runsResumed.WithLabelValues(resumedHandover)) == 1
	})
	g, _ := c.wf(gate)
	if g.Status != WorkflowPending || (g.executor() != "pod-2" && g.executor() != "pod-3") {
		t.Fatalf("gate after the hand-over: %+v on %s, want PENDING on a survivor", g, g.executor())
	}
	survivor := g.executor()
	c.wantWF(HarnessWorkflowID(id, 1), WorkflowCancelled, "pod-1")
	wantKeptLog(t, "watcher", w.waitFinishes(t, 1, 15*time.Second), 30)
	c.waitCompleted(id, 5*time.Second)
	c.wantWF(gate, WorkflowSuccess, survivor)
	c.wantWF(HarnessWorkflowID(id, 2), WorkflowSuccess, survivor)
	if got := c.replies(id); len(got) != 1 || got[messageIDFor(gate)] != reply(30) {
		t.Fatalf("persisted replies %q, want one, whole", got)
	}
}

// TestIntegrationCurrentKillWithoutRestartIsReaped: nobody takes over a killed pod's
// run; the reaper fails it once it made no progress for TESTBED_REAPER_AFTER.
func TestIntegrationCurrentKillWithoutRestartIsReaped(t *testing.T) {
	t.Parallel()
	c := newCurrent(t, 2, func(cfg *Config) { cfg.ReaperAfter = 3 * time.Second })
	tn := c.tenant("pod-2")
	id := tn.newThread(t, c.url("pod-2"))
	gate := tn.startToday(t, c.url("pod-1"), id, "slow:40x60")
	eventually(t, 5*time.Second, "a few chunks", func() bool { return len(deltas(c.bufferChunks(id))) >= 3 })
	c.kill("pod-1")
	killed := time.Now()
	time.Sleep(time.Second)
	if r := c.thread(id); r.Status != StatusInProgress {
		t.Fatalf("status %s a second after the kill, want in_progress (nobody recovers it)", r.Status)
	}
	c.wantWF(gate, WorkflowPending, "pod-1")
	eventually(t, 3*c.base.ReaperAfter, "the reaper failed the run", func() bool { return c.thread(id).Status == StatusFailed })
	if d := time.Since(killed); d < c.base.ReaperAfter-time.Second {
		t.Errorf("reaped %s after the kill, before the %s timeout", d, c.base.ReaperAfter)
	}
	var kind, reason string
	if err := c.conn().QueryRow(context.Background(), `SELECT failure_kind, failure_reason FROM threads WHERE id = $1`, id).Scan(&kind, &reason); err != nil || kind != "stall" {
		t.Errorf("failure %q %q %v, want kind stall", kind, reason, err)
	}
	c.wantWF(gate, WorkflowError, "pod-1")
	c.wantWF(HarnessWorkflowID(id, 1), WorkflowCancelled, "pod-1")
	if n := counterValue(c.pod("pod-2").metrics.runsReaped); n != 1 {
		t.Errorf("pod-2 reaped %v runs, want 1", n)
	}
	if len(c.replies(id)) != 0 {
		t.Errorf("a reaped run persisted a reply: %v", c.replies(id))
	}
}

// purge-on-resume in today's mesh: the restarted pod purges the subject before it
// resumes, so the buffer holds the resumed attempt alone: a late watcher misses the
// dead attempt's log.
func TestIntegrationCurrentDefectPurgeOnResume(t *testing.T) {
	t.Parallel()
	c := newCurrent(t, 2, func(cfg *Config) { cfg.Bugs = Bugs{BugPurgeOnResume: true} })
	tn := c.tenant("pod-2")
	id := tn.newThread(t, c.url("pod-2"))
	tn.startToday(t, c.url("pod-1"), id, "slow:30x60")
	eventually(t, 5*time.Second, "a few chunks", func() bool { return len(deltas(c.bufferChunks(id))) >= 5 })
	c.kill("pod-1")
	c.start("pod-1")
	eventually(t, 5*time.Second, "the resumer purged the subject", func() bool { return c.firstFence(id) == 2 })
	late := tn.streamWatch(t, c.url("pod-2"), id)
	cs := late.waitFinishes(t, 1, 15*time.Second)
	if as := attemptsOf(cs); len(as) != 1 {
		t.Fatalf("late watcher saw %d attempts, want the resumed one alone (the dead attempt's log purged)", len(as))
	}
	wantRun(t, "late watcher", cs, 30)
	c.waitCompleted(id, 5*time.Second)
}

// handover-loses-run: the drain cancels the gate instead of putting it back, so no
// pod resumes the run; it stays in progress until the reaper fails it.
func TestIntegrationCurrentDefectHandoverLosesRun(t *testing.T) {
	t.Parallel()
	c := newCurrent(t, 2, func(cfg *Config) { cfg.Bugs, cfg.ReaperAfter = Bugs{BugHandoverLosesRun: true}, 3*time.Second })
	tn := c.tenant("pod-2")
	id := tn.newThread(t, c.url("pod-2"))
	gate := tn.startToday(t, c.url("pod-1"), id, "slow:40x60")
	eventually(t, 5*time.Second, "a few chunks", func() bool { return len(deltas(c.bufferChunks(id))) >= 3 })
	c.stop("pod-1")
	c.wantWF(gate, WorkflowCancelled, "pod-1")
	time.Sleep(time.Second)
	if r := c.thread(id); r.Status != StatusInProgress {
		t.Fatalf("status %s after the stop, want in_progress", r.Status)
	}
	if n := counterValue(c.pod("pod-2").metrics.runsResumed.WithLabelValues(resumedHandover)); n != 0 {
		t.Fatalf("pod-2 resumed %v runs, want none", n)
	}
	eventually(t, 3*c.base.ReaperAfter, "the reaper failed the run", func() bool { return c.thread(id).Status == StatusFailed })
}

// persist-twice: a resumed run persists its reply under two message ids.
func TestIntegrationCurrentDefectPersistTwice(t *testing.T) {
	t.Parallel()
	c := newCurrent(t, 2, func(cfg *Config) { cfg.Bugs = Bugs{BugPersistTwice: true} })
	tn := c.tenant("pod-2")
	id := tn.newThread(t, c.url("pod-2"))
	tn.startToday(t, c.url("pod-1"), id, "slow:20x60")
	eventually(t, 5*time.Second, "a few chunks", func() bool { return len(deltas(c.bufferChunks(id))) >= 3 })
	c.kill("pod-1")
	c.start("pod-1")
	c.waitCompleted(id, 15*time.Second)
	got := c.replies(id)
	if len(got) != 2 {
		t.Fatalf("persisted replies %q, want the reply twice", got)
	}
	for mid, text := range got {
		if text != reply(20) {
			t.Errorf("reply %s: %q", mid, text)
		}
	}
}

// restart-no-recover, switched on at run time: the set posted before the kill is the
// restarted pod's, which leaves its pending gate alone; the reaper ends the run. The
// same pod refuses a May-only switch.
func TestIntegrationCurrentDefectRestartNoRecover(t *testing.T) {
	t.Parallel()
	c := newCurrent(t, 2, func(cfg *Config) { cfg.RuntimeSwitches, cfg.ReaperAfter = true, 3*time.Second })
	post := func(body string) (int, string) {
		resp, err := http.Post(c.url("pod-1")+"/testbed/bugs", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post(`{"bugs":["strict-claim"]}`); code != http.StatusBadRequest || !strings.Contains(body, "strict-claim applies to TESTBED_MESH=2026-05 only") {
		t.Fatalf("a May-only switch: %d %s, want 400 naming it", code, body)
	}
	if code, body := post(`{"bugs":["restart-no-recover"]}`); code != http.StatusOK {
		t.Fatalf("restart-no-recover: %d %s", code, body)
	}
	tn := c.tenant("pod-2")
	id := tn.newThread(t, c.url("pod-2"))
	gate := tn.startToday(t, c.url("pod-1"), id, "slow:40x60")
	eventually(t, 5*time.Second, "a few chunks", func() bool { return len(deltas(c.bufferChunks(id))) >= 3 })
	c.kill("pod-1")
	again := c.start("pod-1")
	if !again.bug(BugRestartNoRecover) {
		t.Fatalf("the restarted pod's set %v: want the posted restart-no-recover", *again.bugs.Load())
	}
	time.Sleep(time.Second)
	if n := counterValue(again.metrics.runsResumed.WithLabelValues(resumedRestart)); n != 0 {
		t.Fatalf("restarted pod-1 recovered %v runs", n)
	}
	c.wantWF(gate, WorkflowPending, "pod-1")
	eventually(t, 3*c.base.ReaperAfter, "the reaper failed the run", func() bool { return c.thread(id).Status == StatusFailed })
}
