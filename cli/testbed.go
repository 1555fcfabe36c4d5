package cli

import (
	"context"
	"errors"
)

func runTestbed(ctx context.Context, io IO, args []string) error {
	fs, _ := newFlagSet(io, "testbed", "[flags]", "Run a testbed pod.")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	return errors.New("testbed: not built yet")
}
