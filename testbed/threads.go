package testbed

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Thread statuses (mesh's).
const (
	StatusInProgress     = "in_progress"
	StatusRequiresAction = "requires_action"
	StatusFailed         = "failed"
	StatusCompleted      = "completed"
)

// runConfig is stored in threads.run_config while a run is in progress: everything a
// pod needs to resume the run after its owner died.
type runConfig struct {
	TaskID    string      `json:"taskId"`
	MessageID string      `json:"messageId"`
	Messages  []uiMessage `json:"messages"`
	AgentID   string      `json:"agentId,omitempty"`
	Tier      string      `json:"tier"`
	KeyID     string      `json:"keyId"`
	ModelID   string      `json:"modelId"`
}

type uiMessage struct {
	ID    string   `json:"id"`
	Role  string   `json:"role"`
	Parts []uiPart `json:"parts"`
}

type uiPart struct {
	Type string `json:"type"`
	Text string `json:"text,omitempty"`
}

// thread is a thread row as the run pipeline sees it.
type thread struct {
	ID, OrgID, Status string
	Owner             *string
}

func (s *store) createThread(ctx context.Context, orgID, id, agentID string) (time.Time, error) {
	var created time.Time
	err := s.queryRow(ctx, `INSERT INTO threads (id, organization_id, virtual_mcp_id) VALUES ($1, $2, NULLIF($3, '')) RETURNING created_at`,
		[]any{id, orgID, agentID}, &created)
	if isUniqueViolation(err) {
		return created, errExists
	}
	return created, err
}

// ensureThread creates the thread if it is new; a thread of another organization is
// errNotFound.
func (s *store) ensureThread(ctx context.Context, orgID, id, agentID string) error {
	if _, err := s.exec(ctx, `INSERT INTO threads (id, organization_id, virtual_mcp_id) VALUES ($1, $2, NULLIF($3, '')) ON CONFLICT (id) DO NOTHING`,
		id, orgID, agentID); err != nil {
		return err
	}
	_, err := s.threadInOrg(ctx, orgID, id)
	return err
}

func (s *store) threadInOrg(ctx context.Context, orgID, id string) (thread, error) {
	t := thread{ID: id, OrgID: orgID}
	err := s.queryRow(ctx, `SELECT status, run_owner_pod FROM threads WHERE id = $1 AND organization_id = $2`,
		[]any{id, orgID}, &t.Status, &t.Owner)
	return t, err
}

// claimRunStart is mesh's claimRunStart compare-and-set: it takes the thread unless it
// is in progress on another live owner.
func (s *store) claimRunStart(ctx context.Context, orgID, id, me string, cfg runConfig) (bool, error) {
	executor := s.executor
	if me == "" { // an API pod's start: released, on no executor
		executor = ""
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return false, fmt.Errorf("encode run config: %w", err)
	}
	n, err := s.exec(ctx, `WITH t AS (
			UPDATE threads SET status = 'in_progress', run_owner_pod = NULLIF($3, ''), run_config = $4,
				run_started_at = now(), run_handovers = 0, updated_at = now()
			WHERE id = $1 AND organization_id = $2
				AND (status <> 'in_progress' OR run_owner_pod IS NULL OR run_owner_pod = $3)
			RETURNING id)
		INSERT INTO dbos.workflow_status (workflow_uuid, status, name, executor_id, queue_name, queue_partition_key, created_at, updated_at)
		SELECT $5, 'PENDING', 'thread-run', NULLIF($6, ''), 'thread-gate', id, `+epochMS+`, `+epochMS+` FROM t
		ON CONFLICT (workflow_uuid) DO UPDATE SET status = 'PENDING', executor_id = EXCLUDED.executor_id, updated_at = EXCLUDED.updated_at`,
		id, orgID, me, raw, cfg.TaskID, executor)
	return n == 1, err
}

// claimOrphanedRun is mesh's claimOrphanedRun compare-and-set, tightened so that it
// only takes the run from the owner that the caller judged dead (owner nil: a released
// run): two survivors that both saw the owner die cannot steal it from each other.
// It returns the run's config.
func (s *store) claimOrphanedRun(ctx context.Context, orgID, id, me string, dead *string) (runConfig, bool, error) {
	return s.claimReturning(ctx, `UPDATE threads SET run_owner_pod = $3, updated_at = now()
		WHERE id = $1 AND organization_id = $2 AND status = 'in_progress' AND run_config IS NOT NULL
			AND (run_owner_pod IS NULL OR run_owner_pod <> $3) AND run_owner_pod IS NOT DISTINCT FROM $4
		RETURNING run_config`, id, orgID, me, dead)
}

// claimStrict is the claim that BugStrictClaim uses for recovery: claimRunStart's
// condition, which fails while the dead pod still owns the row.
func (s *store) claimStrict(ctx context.Context, orgID, id, me string) (runConfig, bool, error) {
	return s.claimReturning(ctx, `UPDATE threads SET run_owner_pod = $3, updated_at = now()
		WHERE id = $1 AND organization_id = $2 AND run_config IS NOT NULL
			AND (status <> 'in_progress' OR run_owner_pod IS NULL OR run_owner_pod = $3)
		RETURNING run_config`, id, orgID, me)
}

// adoptRun takes back a run that the database says this pod owns but that no
// dispatcher of this process runs: left by an earlier process with the same name.
func (s *store) adoptRun(ctx context.Context, orgID, id, me string) (runConfig, bool, error) {
	return s.claimReturning(ctx, `UPDATE threads SET updated_at = now()
		WHERE id = $1 AND organization_id = $2 AND status = 'in_progress' AND run_config IS NOT NULL AND run_owner_pod = $3
		RETURNING run_config`, id, orgID, me)
}

// claimReturning runs a claim (an UPDATE of threads RETURNING run_config whose $3 is
// this pod) and moves the run's workflow row to this pod's executor id in the same
// statement.
func (s *store) claimReturning(ctx context.Context, claim string, args ...any) (runConfig, bool, error) {
	var raw []byte
	var cfg runConfig
	args = append(args, s.executor)
	sql := `WITH t AS (` + claim + `),
		w AS (UPDATE dbos.workflow_status SET executor_id = $` + strconv.Itoa(len(args)) + `, status = 'PENDING', updated_at = ` + epochMS + `
			WHERE workflow_uuid = (SELECT run_config->>'taskId' FROM t))
		SELECT run_config FROM t`
	err := s.queryRow(ctx, sql, args, &raw)
	if err == errNotFound {
		return cfg, false, nil
	}
	if err != nil {
		return cfg, false, err
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return cfg, false, fmt.Errorf("decode run config: %w", err)
	}
	return cfg, true, nil
}

// owns reports whether this pod still owns the run of taskID on thread id.
func (s *store) owns(ctx context.Context, id, me, taskID string) (bool, error) {
	var ok bool
	err := s.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM threads WHERE id = $1 AND status = 'in_progress'
		AND run_owner_pod = $2 AND run_config->>'taskId' = $3)`, []any{id, me, taskID}, &ok)
	return ok, err
}

// finishRun ends a run with a terminal status, if this pod still owns it; its
// workflow row ends as SUCCESS or ERROR.
func (s *store) finishRun(ctx context.Context, id, me, taskID, status string) (bool, error) {
	var n int
	err := s.queryRow(ctx, `WITH t AS (
			UPDATE threads SET status = $4, run_owner_pod = NULL, run_config = NULL, run_started_at = NULL, updated_at = now()
			WHERE id = $1 AND status = 'in_progress' AND run_owner_pod = $2 AND run_config->>'taskId' = $3
			RETURNING id),
		w AS (UPDATE dbos.workflow_status SET status = CASE WHEN $4 = 'completed' THEN 'SUCCESS' ELSE 'ERROR' END,
				updated_at = `+epochMS+`
			WHERE workflow_uuid = $3 AND EXISTS (SELECT 1 FROM t))
		SELECT count(*) FROM t`, []any{id, me, taskID, status}, &n)
	return n == 1, err
}

// epochMS is now in epoch milliseconds, DBOS's timestamp unit.
const epochMS = `(extract(epoch from clock_timestamp()) * 1000)::bigint`

// handOverRun gives up one run (owner NULL) so that another pod's watcher takes it,
// unless the run was handed over maxHandovers times already.
func (s *store) handOverRun(ctx context.Context, id, me, taskID string) (bool, error) {
	n, err := s.exec(ctx, `UPDATE threads SET run_owner_pod = NULL, run_handovers = run_handovers + 1, updated_at = now()
		WHERE id = $1 AND status = 'in_progress' AND run_owner_pod = $2 AND run_config->>'taskId' = $3
			AND run_handovers < $4`, id, me, taskID, maxHandovers)
	return n == 1, err
}

// maxHandovers bounds how often a run moves between pods because the provider is
// unreachable: a provider that is down for everyone (or a mock cut:K fault, which
// hits every attempt) fails the run instead of passing it around forever.
const maxHandovers = 3

// releaseAll gives up every run this pod owns (graceful stop).
func (s *store) releaseAll(ctx context.Context, me string) (int64, error) {
	return s.exec(ctx, `UPDATE threads SET run_owner_pod = NULL, updated_at = now()
		WHERE status = 'in_progress' AND run_owner_pod = $1`, me)
}

// inProgressRuns lists the runs a watcher considers: every in-progress run with a
// config, whoever owns it.
func (s *store) inProgressRuns(ctx context.Context) ([]thread, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.db.Query(ctx, `SELECT id, organization_id, status, run_owner_pod FROM threads
		WHERE status = 'in_progress' AND run_config IS NOT NULL ORDER BY run_started_at`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []thread
	for rows.Next() {
		var t thread
		if err := rows.Scan(&t.ID, &t.OrgID, &t.Status, &t.Owner); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
