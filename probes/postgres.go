package probes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chaosd/chaosd/owners"
)

// Owner queries: (status, owner pod) of thread $1, by owner source (package owners,
// the lookup the faults read too).
var (
	OwnerQueryThreads = owners.Lookup{Source: owners.SourceThreads}.ThreadSQL()
	OwnerQueryDBOS    = owners.Lookup{Source: owners.SourceDBOS}.ThreadSQL()
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
	replyQuery string
	timeout    time.Duration
}

// PostgresConfig configures the observer.
type PostgresConfig struct {
	DSN        string
	OwnerQuery string        // default OwnerQueryThreads; takes the thread id as $1, returns (status, owner)
	ReplyQuery string        // Replies' SQL: (message id, text) rows of thread $1's persisted assistant text, in order
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
	p := &Postgres{pool: pool, ownerQuery: cfg.OwnerQuery, replyQuery: cfg.ReplyQuery, timeout: cfg.Timeout}
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

// ErrNoReplyQuery: Replies was called without a ReplyQuery.
var ErrNoReplyQuery = errors.New("no reply query configured (postgres.reply_query)")

// Replies reads the thread's persisted assistant reply through ReplyQuery: the text
// of each assistant message, in the order the query gives them (its text parts
// joined per message id).
func (p *Postgres) Replies(ctx context.Context, thread string) ([]string, error) {
	if p.replyQuery == "" {
		return nil, ErrNoReplyQuery
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	rows, err := p.pool.Query(ctx, p.replyQuery, thread)
	if err != nil {
		return nil, fmt.Errorf("replies of %s: %w", thread, err)
	}
	defer rows.Close()
	var ids []string
	texts := map[string]*strings.Builder{}
	for rows.Next() {
		var id, text *string
		if err := rows.Scan(&id, &text); err != nil {
			return nil, fmt.Errorf("replies of %s: want (message id, text) rows: %w", thread, err)
		}
		key := deref(id)
		b, ok := texts[key]
		if !ok {
			b = &strings.Builder{}
			texts[key] = b
			ids = append(ids, key)
		}
		b.WriteString(deref(text))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("replies of %s: %w", thread, err)
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = texts[id].String()
	}
	return out, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
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
