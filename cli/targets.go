package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/chaosd/chaosd/config"
	"github.com/chaosd/chaosd/invariants"
	"github.com/chaosd/chaosd/promise"
)

const targetsHelp = `
List the target profiles, or print one. A profile is a named set of defaults for one
kind of cluster (topology, routes, owner source, timings), in chaosd.yaml's own
schema; --target=NAME (or target: in the config file, or CHAOSD_TARGET) selects it,
and the file, CHAOSD_* variables and flags override it field by field.
chaosd check-config --target=NAME prints the resolved result; chaosd doctor checks a
profile against a live cluster, and chaosd doctor --suggest names the one that fits.

  chaosd targets
  chaosd targets mesh-2026-05`

func runTargets(_ context.Context, io IO, args []string) error {
	fs, _ := newFlagSet(io, "targets", "[NAME]", targetsHelp)
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	if name := fs.Arg(0); name != "" {
		p, err := config.LookupProfile(name)
		if err != nil {
			return err
		}
		if _, err = io.Stdout.Write(p.Data); err != nil {
			return err
		}
		return writeJudged(io.Stdout, p.Name)
	}
	tw := tabwriter.NewWriter(io.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tFILE\tWHAT")
	for _, p := range config.Profiles() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, p.File, p.About)
	}
	return tw.Flush()
}

// writeJudged lists, as YAML comments after the profile, what chaosd judges on the
// target: each promise of its mesh and the invariant that checks it, then what is
// not judged because the mesh does not promise it.
func writeJudged(w io.Writer, target string) error {
	cfg, err := config.ForTarget(target)
	if err != nil {
		return err
	}
	made := cfg.Promises
	if len(made) == 0 {
		made = promise.Default
	}
	checkers := map[string][]string{}
	for _, inv := range invariants.Names() {
		for _, pr := range invariants.PromisesOf(inv) {
			checkers[pr] = append(checkers[pr], inv)
		}
	}
	fmt.Fprintf(w, "\n# What chaosd judges on %s (its mesh's promises; chaosd's own pod-recovers and\n# no-unexpected-death always):\n", target)
	for _, pr := range made {
		fmt.Fprintf(w, "#   %-22s %s  [%s]\n", pr, promise.Statement(pr), strings.Join(checkers[pr], ", "))
	}
	var not []string
	for _, pr := range promise.Names() {
		if !slices.Contains(made, pr) {
			not = append(not, pr)
		}
	}
	if len(not) > 0 {
		fmt.Fprintf(w, "# Not promised, so not judged: %s\n", strings.Join(not, ", "))
	}
	return nil
}
