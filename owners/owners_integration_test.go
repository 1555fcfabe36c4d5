//go:build integration

package owners

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chaosd/chaosd/internal/testenv"
)

const schema = `
CREATE TABLE threads (id text PRIMARY KEY, status text NOT NULL, run_owner_pod text,
  run_started_at timestamptz, updated_at timestamptz NOT NULL DEFAULT now());
CREATE SCHEMA dbos;
CREATE TABLE dbos.workflow_status (workflow_uuid text PRIMARY KEY, status text, name text,
  executor_id text, queue_name text, queue_partition_key text,
  created_at bigint NOT NULL, updated_at bigint);`

// Today's mesh: the owner is the child loop's executor, else the gate's; a gate back
// on its queue (ENQUEUED) has none; finished workflows and run_owner_pod are ignored.
func TestDBOSOwnersAgainstPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testenv.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, schema); err != nil {
		t.Fatal(err)
	}
	exec := func(sql string) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`INSERT INTO threads (id, status, run_owner_pod, updated_at) VALUES
	  ('thrd_a', 'in_progress', 'stale-pod', now() - interval '3 s'),
	  ('thrd_b', 'in_progress', NULL, now() - interval '2 s'),
	  ('thrd_c', 'in_progress', NULL, now() - interval '1 s'),
	  ('thrd_d', 'completed', NULL, now())`)
	exec(`INSERT INTO dbos.workflow_status VALUES
	  ('thread-run:thrd_a:m1', 'PENDING', 'threadGateWorkflow', 'mesh-1', 'thread-gate', 'thrd_a', 1, 1),
	  ('decopilot-hosted:thrd_a:1', 'CANCELLED', 'hostedHarnessWorkflow', 'mesh-1', 'decopilot-hosted-harness', NULL, 2, 2),
	  ('decopilot-hosted:thrd_a:2', 'PENDING', 'hostedHarnessWorkflow', 'mesh-3', 'decopilot-hosted-harness', NULL, 3, 3),
	  ('thread-run:thrd_b:m2', 'PENDING', 'threadGateWorkflow', 'mesh-2', 'thread-gate', 'thrd_b', 4, 4),
	  ('decopilot-hosted:thrd_bb:1', 'PENDING', 'hostedHarnessWorkflow', 'mesh-1', 'decopilot-hosted-harness', NULL, 5, 5),
	  ('thread-run:thrd_c:m3', 'ENQUEUED', 'threadGateWorkflow', NULL, 'thread-gate', 'thrd_c', 6, 6),
	  ('thread-run:thrd_d:m4', 'SUCCESS', 'threadGateWorkflow', 'mesh-1', 'thread-gate', 'thrd_d', 7, 7)`)

	l := Lookup{Source: SourceDBOS}
	rows, err := conn.Query(ctx, l.AllSQL())
	if err != nil {
		t.Fatal(err)
	}
	var got [][2]string
	for rows.Next() {
		var o, r string
		if err := rows.Scan(&o, &r); err != nil {
			t.Fatal(err)
		}
		got = append(got, [2]string{o, r})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"mesh-2", "thrd_b"}, {"mesh-3", "thrd_a"}} // newest first; thrd_c is handed over; thrd_bb is another thread
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("AllSQL rows = %v, want %v", got, want)
	}

	for thread, want := range map[string][2]string{
		"thrd_a": {"in_progress", "mesh-3"},
		"thrd_b": {"in_progress", "mesh-2"},
		"thrd_c": {"in_progress", ""},
		"thrd_d": {"completed", ""},
	} {
		var st, owner string
		if err := conn.QueryRow(ctx, l.ThreadSQL(), thread).Scan(&st, &owner); err != nil {
			t.Fatalf("%s: %v", thread, err)
		}
		if [2]string{st, owner} != want {
			t.Errorf("ThreadSQL(%s) = (%s, %q), want %v", thread, st, owner, want)
		}
	}

	// The threads source still reads run_owner_pod; a query source reads what its SQL says, per run.
	var st, owner string
	if err := conn.QueryRow(ctx, Lookup{Source: SourceThreads}.ThreadSQL(), "thrd_a").Scan(&st, &owner); err != nil || owner != "stale-pod" {
		t.Fatalf("threads ThreadSQL = %q, %v", owner, err)
	}
	q := Lookup{Source: SourceQuery, Query: `SELECT executor_id, queue_partition_key FROM dbos.workflow_status WHERE queue_name = 'thread-gate' AND status = 'PENDING'`}
	if err := conn.QueryRow(ctx, q.ThreadSQL(), "thrd_b").Scan(&st, &owner); err != nil || owner != "mesh-2" {
		t.Fatalf("query ThreadSQL = %q, %v", owner, err)
	}
}
