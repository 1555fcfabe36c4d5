package cli

import (
	"context"
	"errors"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/chaosd/chaosd/config"
	"github.com/chaosd/chaosd/faults"
)

const watchdogHelp = `
Hidden: the detached watchdog chaosd starts for each fault it injects. It heals the
fault at its deadline (plus a grace while the injecting chaosd still lives) unless the
ledger says it is closed first, and exits once it is. SIGINT/SIGTERM make it heal at
once. Its log is appended to <ledger>.watchdog.log.`

// runWatchdog is reached as chaosd --watch-fault=FAULT (cli.Main routes flags-first
// command lines to runFault, which hands this one over): hidden from the command list.
func runWatchdog(ctx context.Context, io IO, args []string) error {
	fs, lf := newFlagSet(io, "--watch-fault=FAULT", "[flags]", watchdogHelp)
	id := fs.String("watch-fault", "", "the fault to watch")
	cf := config.RegisterFlags(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *id == "" {
		return errors.New("--watch-fault: name the fault")
	}
	cfg, path, err := cf.Resolve(io.Getenv)
	if err != nil {
		return err
	}
	log, err := lf.logger(io)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	signal.Ignore(syscall.SIGHUP)
	env, err := openFaultEnv(ctx, cfg, path, log, false, true) // lazy: a dead daemon is retried, not fatal
	if err != nil {
		return err
	}
	defer env.close()
	warmUp(ctx, env, log)
	err = faults.Watch(ctx, env.healer, *id, faults.WatchOptions{
		Grace: cfg.Watchdog.Grace.Std(), Poll: 250 * time.Millisecond, GiveUp: cfg.Watchdog.GiveUp.Std(), Appear: 30 * time.Second,
	})
	if errors.Is(err, faults.ErrNeverRecorded) {
		log.Info("nothing to watch", zap.Error(err))
		return nil
	}
	if err != nil {
		log.Error("watchdog", zap.Error(err))
	}
	return err
}

// warmUp contacts the daemon once (negotiating the API version), so that the heal at
// the deadline does not pay for it; a daemon that does not answer yet is not fatal.
func warmUp(ctx context.Context, env *faultEnv, log *zap.Logger) {
	if env.docker == nil { // Kubernetes: openFaultEnv reached the API server already
		return
	}
	ctx, cancel := context.WithTimeout(ctx, env.cfg.Docker.Timeout.Std())
	defer cancel()
	if _, err := env.docker.Ping(ctx); err != nil {
		log.Warn("docker does not answer yet; the heal will retry", zap.Error(err))
	}
}
