package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.uber.org/zap"

	"github.com/chaosd/chaosd/config"
	"github.com/chaosd/chaosd/preflight"
)

const doctorHelp = `
Check chaosd's assumptions about the target against the live cluster, before
anything is hurt: the target profile's containers and networks, each pod's health
and readiness routes, how Postgres, NATS and the pods are reached from here (a
forwarder container in the project's network when they are not published), the
Postgres tables and columns chaosd reads, the buffer stream and its subjects, the
heartbeat bucket present or absent as the profile says (and its TTL), the observed
refresh cadence of the heartbeat keys, and one short run: the bootstrap of a
throwaway tenant, the run and attach routes, the owner source naming a real pod for
the run in progress, the run's buffer, and the mock LLM as the pods reach it.

It prints a table: what chaosd assumes, what it observed, ok or MISMATCH with the
fix. The same checks run at the start of every --fault with its workload and every
soak (--preflight=false skips them); a mismatch there exits 2 with nothing injected.

  chaosd doctor                          # the bundled cluster
  chaosd doctor --target=mesh-2026-05    # mesh's own harness (tests/multi-pod)
  chaosd doctor --suggest                # which profile fits the cluster(s) running here?

Exit status: 0 the target fits (with --suggest: a profile fits); 2 a mismatch, or
chaosd could not run.`

func runDoctor(ctx context.Context, io IO, args []string) error {
	fs, lf := newFlagSet(io, "doctor", "[--target NAME] [--suggest] [flags]", doctorHelp)
	suggest := fs.Bool("suggest", false, "check every profile and name the one that fits")
	noRun := fs.Bool("no-run", false, "read only: skip the short run (bootstrap, routes, owner, buffer, mock LLM) and the cadence watch")
	asJSON := fs.Bool("json", false, "print the report(s) as JSON")
	cf := config.RegisterFlags(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	log, err := lf.logger(io)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	opts := preflight.Options{Run: !*noRun, Cadence: !*noRun}
	if *suggest {
		return doctorSuggest(ctx, io, cf, log, opts, *asJSON)
	}
	cfg, path, err := cf.Resolve(io.Getenv)
	if err != nil {
		return err
	}
	rep, err := doctorOne(ctx, cfg, path, log, opts)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(io.Stdout, rep)
	}
	_ = preflight.WriteTable(io.Stdout, rep)
	if !rep.OK() {
		return &ExitCodeError{Code: ExitError, Err: fmt.Errorf("target %s does not fit: %s", rep.Target, mismatchNames(rep))}
	}
	return nil
}

// doctorOne runs the preflight of one resolved configuration.
func doctorOne(ctx context.Context, cfg config.Config, path string, log *zap.Logger, opts preflight.Options) (preflight.Report, error) {
	env, err := openFaultEnv(ctx, cfg, path, log, true, false)
	if err != nil {
		return preflight.Report{}, err
	}
	defer env.close()
	v, rep, err := runPreflight(ctx, env, opts)
	if err != nil {
		return rep, err
	}
	v.close()
	return rep, nil
}

// doctorSuggest checks each profile, the user's file, variables and flags applied
// over it, and names those that fit.
func doctorSuggest(ctx context.Context, io IO, cf *config.Flags, log *zap.Logger, opts preflight.Options, asJSON bool) error {
	var reps []preflight.Report
	var fits []string
	for _, p := range config.Profiles() {
		cfg, path, err := cf.ResolveAs(io.Getenv, p.Name)
		if err != nil {
			return err
		}
		if cfg.RuntimeName() != config.RuntimeDocker {
			if !asJSON {
				fmt.Fprintf(io.Stdout, "%-14s not checked: runtime %s (--suggest looks for Docker clusters; chaosd doctor --target=NAME checks a Kubernetes one)\n", p.Name, cfg.RuntimeName())
			}
			continue
		}
		// Every profile gets every check, so that each line says why it does not
		// fit; one whose project is not there takes the run's timeout (about 20 s).
		rep, err := doctorOne(ctx, cfg, path, log, opts)
		if err != nil {
			return err
		}
		reps = append(reps, rep)
		if rep.OK() {
			fits = append(fits, p.Name)
		}
		if !asJSON {
			fmt.Fprintf(io.Stdout, "%-14s %s\n", p.Name, suggestLine(rep))
		}
	}
	if asJSON {
		if err := writeJSON(io.Stdout, reps); err != nil {
			return err
		}
	}
	switch len(fits) {
	case 0:
		if !asJSON {
			fmt.Fprintln(io.Stdout, "\nno profile fits: chaosd doctor --target=NAME shows each mismatch with its fix")
		}
		return &ExitCodeError{Code: ExitError, Err: errors.New("no target profile fits the cluster")}
	default:
		if !asJSON {
			fmt.Fprintf(io.Stdout, "\nsuggested: --target=%s\n", fits[0])
		}
	}
	return nil
}

func suggestLine(rep preflight.Report) string {
	if rep.OK() {
		return fmt.Sprintf("fits (%d checks ok)", rep.Count(preflight.OK))
	}
	ms := rep.Mismatches()
	first := ms[0]
	return fmt.Sprintf("does not fit: %d mismatch(es), first %s: %s", len(ms), first.Check, preflight.OneLine(first.Observed, 100))
}

func mismatchNames(rep preflight.Report) string {
	var names []string
	for _, m := range rep.Mismatches() {
		names = append(names, m.Check)
	}
	return strings.Join(names, ", ")
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// preflightGate views the target and, unless skipped, checks it; a mismatch is exit
// 2 with the table printed and nothing injected. The view's configuration (the
// addresses as reached from here) is what the rest of the command uses.
func preflightGate(ctx context.Context, io IO, env *faultEnv, check bool, opts preflight.Options) (*targetView, error) {
	if !check {
		v := viewTarget(ctx, env)
		if v.reachErr != nil {
			v.close()
			return nil, &ExitCodeError{Code: ExitError, Err: fmt.Errorf("reach the cluster: %w", v.reachErr)}
		}
		fmt.Fprintf(io.Stdout, "preflight skipped (--preflight=false): chaosd's verdicts assume target %s fits this cluster unchecked\n", env.cfg.Target)
		return v, nil
	}
	v, rep, err := runPreflight(ctx, env, opts)
	if err != nil {
		return nil, err
	}
	if !rep.OK() {
		v.close()
		_ = preflight.WriteTable(io.Stdout, rep)
		return nil, &ExitCodeError{Code: ExitError, Err: fmt.Errorf("preflight: target %s does not fit this cluster (%s); nothing was injected", rep.Target, mismatchNames(rep))}
	}
	fmt.Fprintf(io.Stdout, "preflight (target %s): fits: %d checks ok, %d warnings, %d skipped (%s); chaosd doctor shows them\n",
		rep.Target, rep.Count(preflight.OK), rep.Count(preflight.Warn), rep.Count(preflight.Skipped), rep.Took.Round(1e8))
	for _, r := range rep.Results {
		if r.Status == preflight.Warn {
			fmt.Fprintf(io.Stdout, "  warning: %s: %s\n", r.Check, r.Fix)
		}
	}
	return v, nil
}
