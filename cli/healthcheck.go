package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/chaosd/chaosd/healthcheck"
)

// ExitUnhealthy is healthcheck's exit code for an answer that is not 2xx or no answer
// at all. Docker reads 1 as "unhealthy" and reserves 2, so usage errors alone exit 2.
const ExitUnhealthy = healthcheck.ExitUnhealthy

func runHealthcheck(ctx context.Context, io IO, args []string) error {
	fs, _ := newFlagSet(io, "healthcheck", "URL [--timeout D]", healthcheck.Description)
	timeout := fs.Duration("timeout", healthcheck.DefaultTimeout, "give up after this long (connect, answer and body)")
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("missing URL (see --help)")
	}
	if *timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, got %s", *timeout)
	}
	u, err := healthcheck.ParseURL(fs.Arg(0))
	if err != nil {
		return err
	}
	status, err := healthcheck.Probe(ctx, u, *timeout)
	if err != nil {
		return &ExitCodeError{Code: ExitUnhealthy, Err: err}
	}
	_, err = fmt.Fprintf(io.Stdout, "%s: %s\n", u, status)
	return err
}
