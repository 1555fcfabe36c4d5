package testbed

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrateLockKey is the pg advisory lock that serializes migrations across pods that
// boot together (mesh's harness staggers its pods for the same reason).
const migrateLockKey = 0x7e57bed

// schema is idempotent: every pod applies it at boot, and `chaosd testbed migrate`
// applies it once. The threads columns are mesh's (the contract's "Postgres state");
// the tenant tables are the testbed's own stand-ins for Better Auth and mesh's storage.
// Today's mesh adds currentSchema.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS users (
		id text PRIMARY KEY,
		email text NOT NULL UNIQUE,
		name text NOT NULL,
		password_hash text NOT NULL,
		created_at timestamptz NOT NULL DEFAULT now())`,
	`CREATE TABLE IF NOT EXISTS organizations (
		id text PRIMARY KEY,
		name text NOT NULL,
		slug text NOT NULL UNIQUE,
		settings jsonb NOT NULL DEFAULT '{}',
		created_at timestamptz NOT NULL DEFAULT now())`,
	`CREATE TABLE IF NOT EXISTS sessions (
		token text PRIMARY KEY,
		user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
		active_organization_id text REFERENCES organizations(id) ON DELETE SET NULL,
		expires_at timestamptz NOT NULL,
		created_at timestamptz NOT NULL DEFAULT now())`,
	`CREATE TABLE IF NOT EXISTS members (
		organization_id text NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
		user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
		role text NOT NULL,
		PRIMARY KEY (organization_id, user_id))`,
	`CREATE TABLE IF NOT EXISTS api_keys (
		id text PRIMARY KEY,
		organization_id text NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
		user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
		name text NOT NULL,
		key_hash text NOT NULL UNIQUE,
		permissions jsonb NOT NULL DEFAULT '{}',
		created_at timestamptz NOT NULL DEFAULT now())`,
	`CREATE TABLE IF NOT EXISTS ai_provider_keys (
		id text PRIMARY KEY,
		organization_id text NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
		provider_id text NOT NULL,
		label text NOT NULL,
		api_key text NOT NULL,
		created_at timestamptz NOT NULL DEFAULT now())`,
	`CREATE TABLE IF NOT EXISTS virtual_mcps (
		id text PRIMARY KEY,
		organization_id text NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
		title text NOT NULL,
		connections jsonb NOT NULL DEFAULT '[]',
		created_at timestamptz NOT NULL DEFAULT now())`,
	`CREATE TABLE IF NOT EXISTS threads (
		id text PRIMARY KEY,
		organization_id text NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
		virtual_mcp_id text REFERENCES virtual_mcps(id) ON DELETE SET NULL,
		status text NOT NULL DEFAULT 'completed'
			CHECK (status IN ('in_progress', 'requires_action', 'failed', 'completed')),
		run_owner_pod text,
		run_config jsonb,
		run_started_at timestamptz,
		created_at timestamptz NOT NULL DEFAULT now(),
		updated_at timestamptz NOT NULL DEFAULT now())`,
	`ALTER TABLE threads ADD COLUMN IF NOT EXISTS run_handovers integer NOT NULL DEFAULT 0`,
	`CREATE INDEX IF NOT EXISTS threads_in_progress_owner ON threads (run_owner_pod) WHERE status = 'in_progress'`,
	// A mirror of the columns of DBOS's workflow table that chaosd can read owners
	// from (later mesh): one workflow per run, thread-run:<threadId>:<messageId> on queue
	// thread-gate, executor_id = the owning pod's executor id (its name, or
	// TESTBED_EXECUTOR_ID: "local" on every pod, as at mesh's #3392).
	`CREATE SCHEMA IF NOT EXISTS dbos`,
	`CREATE TABLE IF NOT EXISTS dbos.workflow_status (
		workflow_uuid text PRIMARY KEY,
		status text NOT NULL,
		name text NOT NULL,
		executor_id text,
		queue_name text,
		queue_partition_key text,
		created_at bigint NOT NULL,
		updated_at bigint NOT NULL)`,
}

// currentSchema is what today's mesh adds (TESTBED_MESH=current;
// apps/api/src/storage/types.ts): the run fence (migration 099-run-fence), the
// reaper's clock, why a run failed, and the persisted message parts, id
// "<run_id>:<message_id>:<seq>".
var currentSchema = []string{
	`ALTER TABLE threads ADD COLUMN IF NOT EXISTS run_fence_token bigint NOT NULL DEFAULT 0`,
	`ALTER TABLE threads ADD COLUMN IF NOT EXISTS last_progress_at timestamptz`,
	`ALTER TABLE threads ADD COLUMN IF NOT EXISTS failure_reason text`,
	`ALTER TABLE threads ADD COLUMN IF NOT EXISTS failure_kind text`,
	`CREATE TABLE IF NOT EXISTS thread_message_parts (
		id text PRIMARY KEY,
		seq integer NOT NULL,
		org_id text NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
		thread_id text NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
		run_id text NOT NULL,
		message_id text NOT NULL,
		role text NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
		kind text NOT NULL,
		payload jsonb NOT NULL,
		payload_ref text,
		metadata jsonb NOT NULL DEFAULT '{}',
		created_at timestamptz NOT NULL DEFAULT now())`,
	`CREATE INDEX IF NOT EXISTS thread_message_parts_thread ON thread_message_parts (thread_id, created_at, seq)`,
	`CREATE INDEX IF NOT EXISTS workflow_status_queue ON dbos.workflow_status (queue_name, status)`,
	// The testbed's own: the defect set last posted to each pod (today's mesh, runtime
	// switches), which it boots with.
	`CREATE TABLE IF NOT EXISTS testbed_switches (
		pod text PRIMARY KEY,
		bugs text NOT NULL,
		updated_at timestamptz NOT NULL DEFAULT now())`,
}

// Migrate applies the schema of mesh (MeshMay or MeshCurrent) under a pg advisory
// lock; it is safe to run from several pods at once and any number of times.
func Migrate(ctx context.Context, pool *pgxpool.Pool, mesh string) error {
	stmts := schema
	switch mesh {
	case MeshMay:
	case MeshCurrent:
		stmts = append(slices.Clip(schema), currentSchema...)
	default:
		return fmt.Errorf("migrate: TESTBED_MESH=%q: want %q or %q", mesh, MeshMay, MeshCurrent)
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLockKey); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		for _, stmt := range stmts {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
