//go:build integration

package probes

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chaosd/chaosd/internal/testenv"
)

// Concurrent Thread readings are coalesced into batches, and every caller gets its
// own thread's answer: a status and owner, ErrNoThread for a thread that is not
// there, the query's error when the query fails.
func TestIntegrationThreadReadingsBatched(t *testing.T) {
	dsn := testenv.Database(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	const threads = 300
	if _, err := conn.Exec(ctx, `CREATE TABLE t (id text PRIMARY KEY, status text, owner text);
		INSERT INTO t SELECT 'th-' || i, CASE WHEN i % 3 = 0 THEN 'completed' ELSE 'in_progress' END, 'mesh-' || (i % 7)
		FROM generate_series(0, 299) AS i`); err != nil {
		t.Fatal(err)
	}
	p, err := NewPostgres(ctx, PostgresConfig{DSN: dsn, OwnerQuery: `SELECT status, owner FROM t WHERE id = $1`})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	const calls = 2 * threads // every thread, and as many that do not exist
	type answer struct {
		st  ThreadState
		err error
	}
	answers := make([]answer, calls)
	var start, wg sync.WaitGroup
	start.Add(1)
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start.Wait()
			st, err := p.Thread(ctx, fmt.Sprintf("th-%d", i))
			answers[i] = answer{st, err}
		}()
	}
	start.Done()
	wg.Wait()
	for i, a := range answers {
		if i >= threads {
			if !errors.Is(a.err, ErrNoThread) {
				t.Errorf("th-%d (not there): %+v, %v; want ErrNoThread", i, a.st, a.err)
			}
			continue
		}
		want := ThreadState{Status: "in_progress", Owner: fmt.Sprintf("mesh-%d", i%7)}
		if i%3 == 0 {
			want.Status = "completed"
		}
		if a.err != nil || a.st.Status != want.Status || a.st.Owner != want.Owner || a.st.At.IsZero() {
			t.Errorf("th-%d: %+v, %v; want %s owned by %s", i, a.st, a.err, want.Status, want.Owner)
		}
	}
	trips := p.trips.Load()
	if trips >= calls {
		t.Errorf("%d readings took %d round trips: none was batched", calls, trips)
	}
	t.Logf("%d concurrent readings in %d round trips", calls, trips)

	// A query that fails fails every reading of its batch, and none hangs.
	bad, err := NewPostgres(ctx, PostgresConfig{DSN: dsn, OwnerQuery: `SELECT status, nosuchcolumn FROM t WHERE id = $1`})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = bad.Thread(ctx, fmt.Sprintf("th-%d", i))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err == nil || errors.Is(err, ErrNoThread) {
			t.Errorf("reading %d through a failing query: %v, want the query's error", i, err)
		}
	}

	// A caller's context bounds its wait.
	gone, cancelGone := context.WithCancel(ctx)
	cancelGone()
	if _, err := p.Thread(gone, "th-1"); !errors.Is(err, context.Canceled) {
		t.Errorf("reading with a cancelled context: %v, want context.Canceled", err)
	}
}
