package cli

import (
	"context"
	"errors"
)

func runMockai(ctx context.Context, io IO, args []string) error {
	fs, _ := newFlagSet(io, "mockai", "[flags]", "Serve the OpenAI-compatible streaming mock LLM.")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	return errors.New("mockai: not built yet")
}
