// Package testenv gives integration tests real dependencies: a fresh PostgreSQL
// database per test (on the server of CHAOSD_TEST_DATABASE_URL, which scripts/pg.sh
// starts) and an embedded NATS JetStream server.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DatabaseEnv names the variable that points the integration tests at a PostgreSQL
// server whose user may create databases.
const DatabaseEnv = "CHAOSD_TEST_DATABASE_URL"

// Database creates an empty database for the test and returns its URL; the database
// is dropped when the test ends. Without CHAOSD_TEST_DATABASE_URL the test fails: the
// integration tier never skips silently.
func Database(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(DatabaseEnv)
	if admin == "" {
		t.Fatalf("%s is not set: start a throwaway server with `export %s=$(scripts/pg.sh start)` or run scripts/test.sh integration", DatabaseEnv, DatabaseEnv)
	}
	name := "chaosd_test_" + randomHex(6)
	exec(t, admin, "CREATE DATABASE "+name)
	t.Cleanup(func() { exec(t, admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s: %v", DatabaseEnv, err)
	}
	u.Path = "/" + name
	return u.String()
}

func exec(t testing.TB, dsn, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to %s (%s): %v", DatabaseEnv, redact(dsn), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "an unparsable URL"
	}
	return u.Redacted()
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b)
}
