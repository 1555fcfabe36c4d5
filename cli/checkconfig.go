package cli

import (
	"context"

	"github.com/chaosd/chaosd/config"
)

const checkConfigHelp = `
Resolve chaosd's configuration (the target profile, --target or target: or
CHAOSD_TARGET, default bundled; then the --config file, or CHAOSD_CONFIG; then
CHAOSD_* variables; then flags), validate it, and print it. An unknown field, a malformed value or a bad setting is an error naming the field
and the value; secrets in DSNs are redacted.

Exit status: 0 valid, 2 not.`

func runCheckConfig(_ context.Context, io IO, args []string) error {
	fs, _ := newFlagSet(io, "check-config", "[--config FILE] [flags]", checkConfigHelp)
	cf := config.RegisterSoakFlags(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	cfg, path, err := cf.Resolve(io.Getenv)
	if err != nil {
		return err
	}
	return printConfig(io.Stdout, cfg, path)
}
