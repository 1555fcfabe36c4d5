package probes

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Owner queries: where a run's owner pod is recorded. mesh at #3392 keeps it in
// threads.run_owner_pod; later mesh only has DBOS's executor_id.
const (
	OwnerQueryThreads = `SELECT status, COALESCE(run_owner_pod, '') FROM threads WHERE id = $1`
	OwnerQueryDBOS    = `SELECT COALESCE((SELECT status FROM threads WHERE id = $1), ''),
       COALESCE((SELECT executor_id FROM dbos.workflow_status
                 WHERE queue_partition_key = $1 AND status IN ('ENQUEUED', 'PENDING')
                 ORDER BY created_at DESC LIMIT 1), '')`
)

// ThreadState is what Postgres says about a thread.
type ThreadState struct {
	Status string // in_progress, requires_action, failed, completed
	Owner  string // empty when no pod owns the run
	At     time.Time
}

// Postgres observes run state in mesh's database through a bounded pool.
type Postgres struct {
	pool       *pgxpool.Pool
	ownerQuery string
	timeout    time.Duration
}

// PostgresConfig configures the observer.
type PostgresConfig struct {
	DSN        string
	OwnerQuery string        // default OwnerQueryThreads; takes the thread id as $1, returns (status, owner)
	MaxConns   int32         // default 4
	Timeout    time.Duration // per query, default 5 s
}

// ErrNoThread is returned when Postgres has no such thread.
var ErrNoThread = errors.New("no such thread")

// NewPostgres connects lazily: an unreachable database is reported by the first query.
func NewPostgres(ctx context.Context, cfg PostgresConfig) (*Postgres, error) {
	pc, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("postgres dsn: %w", err) // pgx's message does not echo the password
	}
	pc.MaxConns = cfg.MaxConns
	if pc.MaxConns <= 0 {
		pc.MaxConns = 4
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres pool: %w", err)
	}
	p := &Postgres{pool: pool, ownerQuery: cfg.OwnerQuery, timeout: cfg.Timeout}
	if p.ownerQuery == "" {
		p.ownerQuery = OwnerQueryThreads
	}
	if p.timeout <= 0 {
		p.timeout = 5 * time.Second
	}
	return p, nil
}

// Thread reads a thread's status and owner.
func (p *Postgres) Thread(ctx context.Context, id string) (ThreadState, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	var st ThreadState
	err := p.pool.QueryRow(ctx, p.ownerQuery, id).Scan(&st.Status, &st.Owner)
	st.At = time.Now()
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && st.Status == "") {
		return st, fmt.Errorf("thread %s: %w", id, ErrNoThread)
	}
	if err != nil {
		return st, fmt.Errorf("thread %s: %w", id, err)
	}
	return st, nil
}

// Close releases the pool.
func (p *Postgres) Close() { p.pool.Close() }

// Rows runs a user's query and returns how many rows it gave (reading at most 100)
// and the first row, formatted.
func (p *Postgres) Rows(ctx context.Context, sql string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	rows, err := p.pool.Query(ctx, sql)
	if err != nil {
		return 0, "", fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	n, first := 0, ""
	for rows.Next() && n < 100 {
		if n == 0 {
			vals, err := rows.Values()
			if err != nil {
				return 0, "", fmt.Errorf("query row: %w", err)
			}
			first = fmt.Sprintf("%v", vals)
		}
		n++
	}
	return n, first, rows.Err()
}

// Ping checks that the database answers (a dependency reading of the soak).
func (p *Postgres) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if err := p.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}
