package cli

import (
	"context"
	"errors"
)

func runRecover(ctx context.Context, io IO, args []string) error {
	fs, _ := newFlagSet(io, "recover", "[flags]", "Heal every fault that the ledger says is still open.")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	return errors.New("recover: not built yet")
}
