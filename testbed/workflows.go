package testbed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Today's mesh (TESTBED_MESH=current) keeps no owner in threads: a run is a thread-gate
// workflow, and each attempt at it a child workflow whose id carries the attempt's
// fence, threads.run_fence_token. These are the rows the testbed writes in the
// contract's mirror of dbos.workflow_status, and the persisted message parts.

// DBOS queues and workflow names of today's mesh (apps/api/src/dispatch-queue:
// queue-names.ts, thread-gate-workflow.ts, hosted-harness-workflow.ts).
const (
	GateQueue       = "thread-gate"              // THREAD_GATE_QUEUE: partition key = thread id, one run per thread
	HarnessQueue    = "decopilot-hosted-harness" // HOSTED_HARNESS_QUEUE: unpartitioned; the agent loop
	gateWorkflow    = "threadGateWorkflow"
	harnessWorkflow = "hostedHarnessWorkflow"
)

// DBOS workflow statuses the testbed writes.
const (
	WorkflowEnqueued  = "ENQUEUED"
	WorkflowPending   = "PENDING"
	WorkflowSuccess   = "SUCCESS"
	WorkflowError     = "ERROR"
	WorkflowCancelled = "CANCELLED"
)

// GateWorkflowID is the thread-gate workflow of the run started by messageID:
// thread-run:<thread>:<messageId> (routes.ts; the May pods write the same id).
func GateWorkflowID(thread, messageID string) string { return "thread-run:" + thread + ":" + messageID }

// HarnessWorkflowID is the child workflow of the attempt of fence:
// decopilot-hosted:<thread>:<fence>.
func HarnessWorkflowID(thread string, fence int64) string {
	return "decopilot-hosted:" + thread + ":" + strconv.FormatInt(fence, 10)
}

// harnessIDSQL is HarnessWorkflowID in SQL, of a thread id and a fence expression.
func harnessIDSQL(thread, fence string) string {
	return `'decopilot-hosted:' || ` + thread + ` || ':' || ` + fence
}

// insertWorkflow inserts one workflow row per row of the CTE from; the columns are
// workflow_uuid, status, name, executor_id, queue_name, queue_partition_key.
func insertWorkflow(from, id, status, name, executor, queue, partition string) string {
	return `INSERT INTO dbos.workflow_status (workflow_uuid, status, name, executor_id, queue_name, queue_partition_key, created_at, updated_at)
		SELECT ` + id + `, '` + status + `', '` + name + `', ` + executor + `, '` + queue + `', ` + partition + `, ` + epochMS + `, ` + epochMS + ` FROM ` + from
}

// resumption is a run this pod resumes: its thread, its config, the new attempt's
// fence.
type resumption struct {
	thread, org string
	cfg         runConfig
	fence       int64
}

// startGate starts a run on a thread that is not in progress: it mints the first
// attempt's fence (the thread's last + 1) and writes, in one statement, the thread's
// run state, the gate workflow and the child of the first attempt (both PENDING on
// this pod's executor id), and the parts of the user's message (written before the
// run is dispatched, as routes.ts does). ok is false when the thread is in progress.
func (s *store) startGate(ctx context.Context, orgID, id string, cfg runConfig, enqueue bool) (int64, bool, error) {
	status, executor := WorkflowPending, any(s.executor)
	if enqueue { // an API pod's start: the gate on the queue for a worker's poll, on no executor
		status, executor = WorkflowEnqueued, nil
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return 0, false, fmt.Errorf("encode run config: %w", err)
	}
	user := cfg.Messages[len(cfg.Messages)-1]
	parts, err := json.Marshal(user.Parts)
	if err != nil {
		return 0, false, fmt.Errorf("encode message parts: %w", err)
	}
	var fence int64
	err = s.queryRow(ctx, `WITH t AS (
			UPDATE threads SET status = 'in_progress', run_config = $3, run_started_at = now(), last_progress_at = now(),
				run_fence_token = run_fence_token + 1, failure_reason = NULL, failure_kind = NULL, updated_at = now()
			WHERE id = $1 AND organization_id = $2 AND status <> 'in_progress'
			RETURNING id, organization_id, run_fence_token),
		g AS (`+insertWorkflow("t", "$4", status, gateWorkflow, "$5::text", GateQueue, "id")+`
			ON CONFLICT (workflow_uuid) DO UPDATE SET status = EXCLUDED.status, executor_id = EXCLUDED.executor_id, updated_at = EXCLUDED.updated_at),
		c AS (`+insertWorkflow("t", harnessIDSQL("id", "run_fence_token"), status, harnessWorkflow, "$5::text", HarnessQueue, "NULL")+`),
		m AS (`+insertParts("t", "$6", "user", "$7")+`)
		SELECT run_fence_token FROM t`,
		[]any{id, orgID, raw, cfg.TaskID, executor, []string{user.ID}, string(parts)}, &fence)
	if errors.Is(err, errNotFound) {
		return 0, false, nil
	}
	return fence, err == nil, err
}

// insertParts inserts the parts of one message per row of the CTE from (columns id,
// organization_id) and per message id in the text[] ids: thread_message_parts rows
// "<run_id>:<message_id>:<seq>", seq from 0, the run id being the thread id
// (hosted-harness-workflow.ts: runId is the thread id), kind the part's type, payload
// the part (the JSON array payloads). Rows that exist are left as they are.
func insertParts(from, ids, role, payloads string) string {
	return `INSERT INTO thread_message_parts (id, seq, org_id, thread_id, run_id, message_id, role, kind, payload)
		SELECT f.id || ':' || mid || ':' || (e.ord - 1), e.ord - 1, f.organization_id, f.id, f.id, mid, '` + role + `', e.payload->>'type', e.payload
		FROM ` + from + ` f, unnest(` + ids + `::text[]) AS mid, jsonb_array_elements(` + payloads + `::jsonb) WITH ORDINALITY AS e(payload, ord)
		ON CONFLICT (id) DO NOTHING`
}

// resumeAttempt starts a new attempt at the in-progress run of gate on thread: it
// mints the next fence, cancels the previous attempt's child, puts the gate PENDING on
// executor and writes the new attempt's child, PENDING on executor. errNotFound: the
// run is no longer in progress.
func resumeAttempt(ctx context.Context, tx pgx.Tx, thread, gate, executor string) (resumption, error) {
	a := resumption{thread: thread}
	var raw []byte
	err := tx.QueryRow(ctx, `WITH t AS (
			UPDATE threads SET run_fence_token = run_fence_token + 1, last_progress_at = now(), updated_at = now()
			WHERE id = $1 AND status = 'in_progress' AND run_config->>'taskId' = $2
			RETURNING id, organization_id, run_config, run_fence_token),
		old AS (UPDATE dbos.workflow_status SET status = 'CANCELLED', updated_at = `+epochMS+`
			WHERE workflow_uuid = (SELECT `+harnessIDSQL("id", "(run_fence_token - 1)")+` FROM t) AND status IN ('PENDING', 'ENQUEUED')),
		g AS (UPDATE dbos.workflow_status SET status = 'PENDING', executor_id = $3, updated_at = `+epochMS+`
			WHERE workflow_uuid = $2 AND EXISTS (SELECT 1 FROM t)),
		c AS (`+insertWorkflow("t", harnessIDSQL("id", "run_fence_token"), WorkflowPending, harnessWorkflow, "$3", HarnessQueue, "NULL")+`)
		SELECT organization_id, run_config, run_fence_token FROM t`, thread, gate, executor).Scan(&a.org, &raw, &a.fence)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, errNotFound
	}
	if err != nil {
		return a, err
	}
	if err := json.Unmarshal(raw, &a.cfg); err != nil {
		return a, fmt.Errorf("decode run config: %w", err)
	}
	return a, nil
}

// tx runs fn in one transaction, bounded like a statement.
func (s *store) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return pgx.BeginFunc(ctx, s.db, fn)
}

// dequeueGate takes the oldest ENQUEUED thread-gate workflow with a compare-and-set
// (ENQUEUED -> PENDING, executor_id = executor) and returns it with its thread (the
// partition key). errNotFound: the queue is empty.
func dequeueGate(ctx context.Context, tx pgx.Tx, executor string) (gate, thread string, err error) {
	err = tx.QueryRow(ctx, `UPDATE dbos.workflow_status SET status = 'PENDING', executor_id = $1, updated_at = `+epochMS+`
		WHERE workflow_uuid = (SELECT workflow_uuid FROM dbos.workflow_status
				WHERE queue_name = '`+GateQueue+`' AND status = 'ENQUEUED' ORDER BY updated_at LIMIT 1 FOR UPDATE SKIP LOCKED)
			AND status = 'ENQUEUED'
		RETURNING workflow_uuid, queue_partition_key`, executor).Scan(&gate, &thread)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", errNotFound
	}
	return gate, thread, err
}

// endStaleGate ends a gate workflow whose run is no longer in progress (it ended or
// was reaped while the gate waited): there is nothing to resume.
func endStaleGate(ctx context.Context, tx pgx.Tx, gate string) error {
	_, err := tx.Exec(ctx, `UPDATE dbos.workflow_status SET status = 'ERROR', updated_at = `+epochMS+`
		WHERE workflow_uuid = $1 AND status IN ('PENDING', 'ENQUEUED')`, gate)
	return err
}

// gateRow is a thread-gate workflow and its thread.
type gateRow struct{ id, thread string }

// pendingGates lists the thread-gate workflows PENDING on executor: what DBOS recovers
// when the executor launches.
func (s *store) pendingGates(ctx context.Context, executor string) ([]gateRow, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.db.Query(ctx, `SELECT workflow_uuid, queue_partition_key FROM dbos.workflow_status
		WHERE queue_name = '`+GateQueue+`' AND status = 'PENDING' AND executor_id = $1 ORDER BY created_at`, executor)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []gateRow
	for rows.Next() {
		var g gateRow
		if err := rows.Scan(&g.id, &g.thread); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// holdsFence reports whether the attempt of fence is still the current attempt of the
// in-progress run of taskID on thread id.
func (s *store) holdsFence(ctx context.Context, id, taskID string, fence int64) (bool, error) {
	var ok bool
	err := s.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM threads WHERE id = $1 AND status = 'in_progress'
		AND run_fence_token = $3 AND run_config->>'taskId' = $2)`, []any{id, taskID, fence}, &ok)
	return ok, err
}

// bumpProgress moves the run's last_progress_at, the reaper's clock, while the
// attempt of fence holds it.
func (s *store) bumpProgress(ctx context.Context, id string, fence int64) error {
	_, err := s.exec(ctx, `UPDATE threads SET last_progress_at = now() WHERE id = $1 AND status = 'in_progress' AND run_fence_token = $2`, id, fence)
	return err
}

// finishAttempt ends the run as status, if r's attempt still holds the current fence,
// in one statement: the thread's status, the gate and the attempt's child SUCCESS
// (ERROR when the run failed), and the assistant's reply persisted once, under the
// run's message id (twice: again under an id minted for a resumed attempt, the
// persist-twice defect). ok is false when the fence is stale: nothing was written.
func (s *store) finishAttempt(ctx context.Context, r *run, status string, twice bool) (bool, error) {
	parts, err := json.Marshal(replyParts(r.reply, r.errText, status))
	if err != nil {
		return false, fmt.Errorf("encode reply parts: %w", err)
	}
	msg := messageIDFor(r.cfg.TaskID)
	ids := []string{msg}
	if twice && r.resume {
		ids = append(ids, fmt.Sprintf("%s_f%d", msg, r.fence))
	}
	var n int
	err = s.queryRow(ctx, `WITH t AS (
			UPDATE threads SET status = $4, run_config = NULL, run_started_at = NULL,
				failure_reason = CASE WHEN $4 = 'failed' THEN $8::text END,
				failure_kind = CASE WHEN $4 = 'failed' THEN 'harness' END, updated_at = now()
			WHERE id = $1 AND status = 'in_progress' AND run_fence_token = $2 AND run_config->>'taskId' = $3
			RETURNING id, organization_id),
		w AS (UPDATE dbos.workflow_status SET status = CASE WHEN $4 = 'completed' THEN 'SUCCESS' ELSE 'ERROR' END,
				updated_at = `+epochMS+`
			WHERE workflow_uuid IN ($3, $5) AND EXISTS (SELECT 1 FROM t)),
		m AS (`+insertParts("t", "$6", "assistant", "$7")+`)
		SELECT count(*) FROM t`,
		[]any{r.thread, r.fence, r.cfg.TaskID, status, HarnessWorkflowID(r.thread, r.fence), ids, string(parts), r.errText}, &n)
	return n == 1, err
}

// replyParts is the assistant message as the UI holds it: the reply's text in one
// text part, then a finish part, or an error part when the run failed.
func replyParts(reply, errText, status string) []map[string]string {
	var parts []map[string]string
	if reply != "" {
		parts = append(parts, map[string]string{"type": "text", "text": reply})
	}
	if status != StatusCompleted {
		if errText == "" {
			errText = "run failed"
		}
		return append(parts, map[string]string{"type": "error", "errorText": errText})
	}
	return append(parts, map[string]string{"type": "finish"})
}

// handOffGates is index.ts handOffInFlightThreadGates: every thread-gate workflow
// PENDING on executor goes back on the queue (ENQUEUED, executor NULL) for another
// pod's poll, and the child of its current attempt is CANCELLED. lose (the
// handover-loses-run defect) marks the gates CANCELLED instead. It returns how many
// gates it moved.
func (s *store) handOffGates(ctx context.Context, executor string, lose bool) (int64, error) {
	to := WorkflowEnqueued
	if lose {
		to = WorkflowCancelled
	}
	var n int64
	err := s.queryRow(ctx, `WITH g AS (
			UPDATE dbos.workflow_status SET status = $2::text,
				executor_id = CASE WHEN $2::text = 'ENQUEUED' THEN NULL ELSE executor_id END, updated_at = `+epochMS+`
			WHERE queue_name = '`+GateQueue+`' AND status = 'PENDING' AND executor_id = $1
			RETURNING queue_partition_key),
		c AS (UPDATE dbos.workflow_status w SET status = 'CANCELLED', updated_at = `+epochMS+`
			FROM threads th, g WHERE th.id = g.queue_partition_key
				AND w.workflow_uuid = `+harnessIDSQL("th.id", "th.run_fence_token")+` AND w.status = 'PENDING')
		SELECT count(*) FROM g`, []any{executor, to}, &n)
	return n, err
}

// stallReason is what the reaper writes in threads.failure_reason (run-reactor.ts).
const stallReason = "Run stalled — no progress within the idle timeout window"

// reapStale fails every in-progress run that made no progress for after (its
// last_progress_at, else its start): status failed, failure_kind stall; its gate
// workflow ERROR and its current child CANCELLED. The buffer is left as it is (the
// reactor does not purge on a force-fail). It returns the threads it failed.
func (s *store) reapStale(ctx context.Context, after time.Duration) ([]string, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.db.Query(ctx, `WITH s AS (
			SELECT id, run_config->>'taskId' AS task, run_fence_token AS fence FROM threads
			WHERE status = 'in_progress' AND COALESCE(last_progress_at, run_started_at, updated_at) < now() - make_interval(secs => $1)
			FOR UPDATE SKIP LOCKED),
		t AS (UPDATE threads th SET status = 'failed', run_config = NULL, run_started_at = NULL,
				failure_reason = $2, failure_kind = 'stall', updated_at = now()
			FROM s WHERE th.id = s.id AND th.status = 'in_progress'
			RETURNING s.id, s.task, s.fence),
		g AS (UPDATE dbos.workflow_status w SET status = 'ERROR', updated_at = `+epochMS+`
			FROM t WHERE w.workflow_uuid = t.task AND w.status IN ('PENDING', 'ENQUEUED')),
		c AS (UPDATE dbos.workflow_status w SET status = 'CANCELLED', updated_at = `+epochMS+`
			FROM t WHERE w.workflow_uuid = `+harnessIDSQL("t.id", "t.fence")+` AND w.status IN ('PENDING', 'ENQUEUED'))
		SELECT id FROM t`, after.Seconds(), stallReason)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
