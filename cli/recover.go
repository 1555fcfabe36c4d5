package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/chaosd/chaosd/config"
	"github.com/chaosd/chaosd/faults"
	"github.com/chaosd/chaosd/topology"
)

const recoverHelp = `
Heal every fault that the ledger says is still open: what a crashed or killed chaosd
left behind on this target (the compose project: faults another target's chaosd
recorded in a shared ledger are left to it). A fault still held by a live chaosd (its
instance lock is held, or it lives and the deadline has not passed) is left to it
(--force heals it too). Each heal is confirmed (container state; traffic for a
partition) and written to the ledger; a fault whose heal fails stays open.

chaosd --fault=... does the same at start-up. recover also removes the forwarder
containers (chaosd.forwarder=<project>) a killed chaosd left running, and the
forwarder images of other chaosd builds that no container uses.

Exit status: 0 nothing was open, or everything open was healed; 2 a heal failed or
could not be confirmed.`

func runRecover(ctx context.Context, io IO, args []string) error {
	fs, lf := newFlagSet(io, "recover", "[flags]", recoverHelp)
	dry := fs.Bool("dry-run", false, "say what would be healed; touch nothing")
	force := fs.Bool("force", false, "heal also the faults a live chaosd holds before their deadline")
	cf := config.RegisterFlags(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	cfg, path, err := cf.Resolve(io.Getenv)
	if err != nil {
		return err
	}
	if *dry {
		return recoverDryRun(ctx, io, cfg)
	}
	log, err := lf.logger(io)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	env, err := openFaultEnv(ctx, cfg, path, log, false, false)
	if err != nil {
		return err
	}
	defer env.close()
	recs, err := faults.Recover(ctx, env.healer, faults.RecoverOptions{Force: *force, Scope: cfg.StateKey()})
	if err != nil {
		return err
	}
	if env.kube != nil { // Kubernetes: no forwarders, no images; what expired goes
		if gone, err := env.kube.Sweep(ctx, time.Now()); err != nil {
			fmt.Fprintf(io.Stderr, "chaosd recover: expired objects: %v\n", err)
		} else if len(gone) > 0 {
			fmt.Fprintf(io.Stdout, "removed what an earlier chaosd left past its expiry: %s\n", strings.Join(gone, ", "))
		}
		return reportRecoveries(io, recs, cfg.Ledger.Path)
	}
	// A chaosd that died before removing its forwarder left it running (harmless:
	// it publishes on 127.0.0.1 only); recover removes it.
	if gone, err := topology.RemoveForwarders(ctx, env.docker, cfg.Selector.Project); err != nil {
		fmt.Fprintf(io.Stderr, "chaosd recover: forwarders: %v\n", err)
	} else if len(gone) > 0 {
		fmt.Fprintf(io.Stdout, "removed forwarder(s) left by an earlier chaosd: %s\n", strings.Join(gone, ", "))
	}
	// Each chaosd build makes its own forwarder image: recover removes the unused ones
	// of other builds.
	if gone, err := topology.PruneImages(ctx, env.docker, cfg.Watchdog.Binary); err != nil {
		fmt.Fprintf(io.Stderr, "chaosd recover: forwarder images: %v\n", err)
	} else if len(gone) > 0 {
		fmt.Fprintf(io.Stdout, "removed forwarder image(s) of other chaosd builds: %s\n", strings.Join(gone, ", "))
	}
	return reportRecoveries(io, recs, cfg.Ledger.Path)
}

func recoverDryRun(ctx context.Context, io IO, cfg config.Config) error {
	st, err := faults.ReadLedger(cfg.Ledger.Path)
	if err != nil {
		return err
	}
	recs := faults.RecoverState(ctx, st, nil, faults.RecoverOptions{DryRun: true, Scope: cfg.StateKey(), Ledger: cfg.Ledger.Path})
	for _, r := range recs {
		printRecovery(io.Stdout, r, true)
	}
	fmt.Fprintf(io.Stdout, "dry run: %d open fault(s) in %s; nothing was touched\n", len(recs), cfg.Ledger.Path)
	return nil
}

func reportRecoveries(io IO, recs []faults.Recovery, ledger string) error {
	var errs []error
	for _, r := range recs {
		printRecovery(io.Stdout, r, false)
		switch {
		case r.Err != nil:
			errs = append(errs, r.Err)
		case r.Skipped == "" && r.Report.Healing.Outcome == faults.Unknown:
			errs = append(errs, fmt.Errorf("%s: heal not confirmed: %s", r.Entry.ID(), r.Report.Healing.Evidence))
		}
	}
	if len(recs) == 0 {
		fmt.Fprintf(io.Stdout, "nothing to recover: no open fault in %s\n", ledger)
	}
	if err := errors.Join(errs...); err != nil {
		return &ExitCodeError{Code: ExitError, Err: err}
	}
	return nil
}
