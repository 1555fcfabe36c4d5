package cli

import (
	"context"
	"strings"

	"github.com/chaosd/chaosd/config"
)

const checkConfigHelp = `
Resolve chaosd's configuration (the target profile, --target or target: or
CHAOSD_TARGET, default bundled; then the --config file, or CHAOSD_CONFIG; then
CHAOSD_* variables; then flags), validate it, and print it. An unknown field, a malformed value or a bad setting is an error naming the field
and the value; secrets in DSNs are redacted.

With --fault=KIND, it checks what chaosd --fault=KIND would run, with the one-shot's
flags (the same as chaosd --fault=KIND --check-config): the fault, its pick and hold
are validated too, and nothing is touched.

Exit status: 0 valid, 2 not.`

func runCheckConfig(ctx context.Context, io IO, args []string) error {
	if hasFaultFlag(args) {
		return runFault(ctx, io, append(append([]string{}, args...), "--check-config"))
	}
	fs, _ := newFlagSet(io, "check-config", "[--config FILE] [flags]", checkConfigHelp)
	cf := config.RegisterSoakFlags(fs)
	// The soak's and the one-shot's own switches are taken too, so that any of their
	// command lines checks as it is; nothing runs, so they change nothing here.
	fs.Bool("preflight", true, "accepted as chaosd soak and --fault take it; nothing is checked against the cluster here")
	fs.Bool("check-config", true, "accepted as chaosd soak takes it (check-config only prints)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	cfg, path, err := cf.Resolve(io.Getenv)
	if err != nil {
		return err
	}
	return printConfig(io.Stdout, cfg, path)
}

// hasFaultFlag reports whether args name a fault (--fault=KIND, -fault KIND, ...)
// before a "--" that ends the flags.
func hasFaultFlag(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && name == "fault" {
			return true
		}
	}
	return false
}
