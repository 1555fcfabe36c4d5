package faults

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chaosd/chaosd/owners"
)

// OwnerSources maps each built-in owner source to its query of every owner, (owner
// pod, run id) newest first: package owners' lookup, the one the probes read too.
var OwnerSources = map[string]string{
	owners.SourceThreads: owners.Lookup{Source: owners.SourceThreads}.AllSQL(),
	owners.SourceDBOS:    owners.Lookup{Source: owners.SourceDBOS}.AllSQL(),
}

// ErrNoOwner means no in-progress run has an owner.
var ErrNoOwner = errors.New("no owner found: no in-progress run has an owner pod")

// Owner is a pod that owns an in-progress run.
type Owner struct {
	Pod string
	Run string // the run (thread) it owns, when the query says
}

// OwnerSource lists the owners of in-progress runs, newest first.
type OwnerSource interface {
	Owners(ctx context.Context) ([]Owner, error)
}

// PostgresOwners asks mesh's Postgres with a query returning (owner) or (owner, run).
type PostgresOwners struct {
	DSN     string
	Query   string
	Timeout time.Duration
}

var _ OwnerSource = PostgresOwners{}

// Owners runs the owner query on a short-lived connection.
func (p PostgresOwners) Owners(ctx context.Context) ([]Owner, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout())
	defer cancel()
	conn, err := pgx.Connect(ctx, p.DSN)
	if err != nil {
		return nil, fmt.Errorf("owner: postgres unreachable (postgres.dsn, CHAOSD_DATABASE_URL): %w", err) // pgx's message names host and user, never the password
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	rows, err := conn.Query(ctx, p.Query)
	if err != nil {
		return nil, fmt.Errorf("owner: query: %w", err)
	}
	defer rows.Close()
	var out []Owner
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, fmt.Errorf("owner: read row: %w", err)
		}
		if o, ok := ownerOf(vals); ok {
			out = append(out, o)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("owner: query: %w", err)
	}
	return out, nil
}

func (p PostgresOwners) timeout() time.Duration {
	if p.Timeout <= 0 {
		return 5 * time.Second
	}
	return p.Timeout
}

func ownerOf(vals []any) (Owner, bool) {
	str := func(i int) string {
		if i < len(vals) && vals[i] != nil {
			return fmt.Sprint(vals[i])
		}
		return ""
	}
	o := Owner{Pod: str(0), Run: str(1)}
	return o, o.Pod != ""
}

// WaitOwners polls src until it names at least one owner or wait passes (0: ask once).
func WaitOwners(ctx context.Context, src OwnerSource, wait, every time.Duration) ([]Owner, error) {
	deadline := time.Now().Add(wait)
	for {
		os, err := src.Owners(ctx)
		if err != nil || len(os) > 0 {
			return os, err
		}
		if !time.Now().Before(deadline) {
			if wait > 0 {
				return nil, fmt.Errorf("%w (waited %s)", ErrNoOwner, wait)
			}
			return nil, ErrNoOwner
		}
		if err := sleep(ctx, every); err != nil {
			return nil, err
		}
	}
}
