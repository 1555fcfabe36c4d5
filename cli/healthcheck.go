package cli

import (
	"context"
	"errors"
)

func runHealthcheck(ctx context.Context, io IO, args []string) error {
	fs, _ := newFlagSet(io, "healthcheck", "[flags]", "Probe an HTTP URL.")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	return errors.New("healthcheck: not built yet")
}
