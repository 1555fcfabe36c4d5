package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/chaosd/chaosd/testbed"
)

const testbedDescription = `
Run a testbed pod: a stand-in for one mesh pod that serves mesh's run pipeline on
mesh's contract (auth, MCP tools, start run, attach, health, metrics), streams runs
from an OpenAI-compatible provider into the NATS JetStream buffer, heartbeats in the
POD_HEARTBEATS bucket and takes over the runs of dead pods. SIGTERM stops it
gracefully: it releases its runs and deletes its heartbeat key.

"chaosd testbed migrate" applies the Postgres schema and exits (DATABASE_URL, and
TESTBED_MESH: today's mesh adds its tables).

Every flag has an environment variable of the same meaning (shown in brackets); a
flag given on the command line wins.`

func runTestbed(ctx context.Context, io IO, args []string) error {
	fs, lf := newFlagSet(io, "testbed", "[migrate] [flags]", testbedDescription)
	values := map[string]*string{}
	defaults := testbed.DefaultConfig()
	for _, v := range testbed.EnvVars {
		def := v.From(io.Getenv)
		if def == "" {
			def = v.Default(defaults)
		}
		values[v.Name] = fs.String(v.Flag, def, fmt.Sprintf("%s [%s]", v.Usage, v.Name))
	}
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	migrate := fs.Arg(0) == "migrate"
	if fs.NArg() > 0 && !migrate {
		return fmt.Errorf("unexpected argument %q: the one subcommand is migrate (see --help)", fs.Arg(0))
	}
	log, err := lf.logger(io)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	lookup := func(name string) string { return *values[name] }
	if migrate {
		return migrateTestbed(ctx, log, lookup("DATABASE_URL"), lookup("TESTBED_MESH"))
	}
	return serveTestbed(ctx, log, lookup)
}

func serveTestbed(ctx context.Context, log *zap.Logger, lookup func(string) string) error {
	cfg, err := testbed.ConfigFromEnv(lookup)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	pod, err := testbed.New(cfg, log)
	if err != nil {
		return err
	}
	if err := pod.Run(ctx); err != nil && !errors.Is(err, testbed.ErrKilled) {
		return err
	}
	return nil
}

// migrateTestbed applies mesh's schema, waiting up to a minute for Postgres to answer.
func migrateTestbed(ctx context.Context, log *zap.Logger, dsn, mesh string) error {
	if mesh != testbed.MeshMay && mesh != testbed.MeshCurrent {
		return fmt.Errorf("TESTBED_MESH=%q: want %q or %q", mesh, testbed.MeshMay, testbed.MeshCurrent)
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	defer pool.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		err := testbed.Migrate(ctx, pool, mesh)
		if err == nil {
			log.Info("testbed schema applied", zap.String("mesh", mesh))
			return nil
		}
		log.Warn("migration failed; retrying", zap.Error(err))
		select {
		case <-ctx.Done():
			return fmt.Errorf("migrate: gave up after a minute: %w", err)
		case <-time.After(time.Second):
		}
	}
}
