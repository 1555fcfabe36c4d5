package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/chaosd/chaosd/config"
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
		_, err = io.Stdout.Write(p.Data)
		return err
	}
	tw := tabwriter.NewWriter(io.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tFILE\tWHAT")
	for _, p := range config.Profiles() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, p.File, p.About)
	}
	return tw.Flush()
}
