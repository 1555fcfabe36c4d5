package cli

import (
	"context"
	"errors"
)

func runFault(ctx context.Context, io IO, args []string) error {
	fs, _ := newFlagSet(io, "--fault=KIND", "[flags]", "Inject one fault, hold it, heal it.")
	fs.String("fault", "", "fault kind")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	return errors.New("--fault: not built yet")
}
