package cli

import (
	"context"
	"errors"
)

func runSmoke(ctx context.Context, io IO, args []string) error {
	fs, _ := newFlagSet(io, "smoke", "[flags]", "Drive one run through the cluster.")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	return errors.New("smoke: not built yet")
}
