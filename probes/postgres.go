package probes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
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

	// Thread readings waiting for the next batch (group commit): runs sampled on one
	// clock ask at the same instant and are answered by one round trip.
	mu       sync.Mutex
	pending  []*threadRead
	flushing bool
	trips    atomic.Uint64   // round trips of Thread readings, for the tests
	base     context.Context // cancelled by Close: a batch in flight is cut short
	cancel   context.CancelFunc
}

// threadRead is one Thread call waiting for its batch.
type threadRead struct {
	id   string
	st   ThreadState
	err  error
	done chan struct{}
}

// maxBatch bounds the readings of one round trip.
const maxBatch = 256

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
	p.base, p.cancel = context.WithCancel(context.Background())
	if p.ownerQuery == "" {
		p.ownerQuery = OwnerQueryThreads
	}
	if p.timeout <= 0 {
		p.timeout = 5 * time.Second
	}
	return p, nil
}

// Thread reads a thread's status and owner. Concurrent readings are coalesced:
// those asked while a round trip is in flight go together in the next one, as one
// pgx batch (pipelined, one network write and one read for all of them), so that N
// runs sampled at the same instant cost one round trip, not N. A lone reading goes
// at once. ctx bounds the wait; the round trip itself is bounded by the timeout.
func (p *Postgres) Thread(ctx context.Context, id string) (ThreadState, error) {
	if err := ctx.Err(); err != nil {
		return ThreadState{At: time.Now()}, fmt.Errorf("thread %s: %w", id, err)
	}
	r := &threadRead{id: id, done: make(chan struct{})}
	p.mu.Lock()
	p.pending = append(p.pending, r)
	if !p.flushing {
		p.flushing = true
		go p.flush()
	}
	p.mu.Unlock()
	select {
	case <-r.done:
		return r.st, r.err
	case <-ctx.Done():
		return ThreadState{At: time.Now()}, fmt.Errorf("thread %s: %w", id, ctx.Err())
	}
}

// flush answers the pending readings, a batch at a time, until none is left.
func (p *Postgres) flush() {
	for {
		p.mu.Lock()
		n := min(len(p.pending), maxBatch)
		if n == 0 {
			p.flushing = false
			p.mu.Unlock()
			return
		}
		batch := p.pending[:n:n]
		p.pending = p.pending[n:]
		if len(p.pending) == 0 {
			p.pending = nil
		}
		p.mu.Unlock()
		p.readBatch(batch)
		for _, r := range batch {
			close(r.done)
		}
	}
}

// readBatch reads every thread of batch in one round trip (one alone: a plain query).
func (p *Postgres) readBatch(batch []*threadRead) {
	ctx, cancel := context.WithTimeout(p.base, p.timeout)
	defer cancel()
	p.trips.Add(1)
	if len(batch) == 1 {
		r := batch[0]
		r.st, r.err = p.scanThread(r.id, p.pool.QueryRow(ctx, p.ownerQuery, r.id))
		return
	}
	b := &pgx.Batch{}
	for _, r := range batch {
		b.Queue(p.ownerQuery, r.id)
	}
	br := p.pool.SendBatch(ctx, b)
	for _, r := range batch {
		r.st, r.err = p.scanThread(r.id, br.QueryRow())
	}
	_ = br.Close() // its error is the first reading's that failed, reported there
}

func (p *Postgres) scanThread(id string, row pgx.Row) (ThreadState, error) {
	var st ThreadState
	err := row.Scan(&st.Status, &st.Owner)
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

// Close releases the pool; a batch of readings in flight ends with an error.
func (p *Postgres) Close() {
	p.cancel()
	p.pool.Close()
}

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
