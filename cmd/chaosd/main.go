// Command chaosd soak-tests a multi-pod LLM run service ("mesh"): it drives runs,
// injects faults on the pods that own them, and checks invariants. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/chaosd/chaosd/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Stdio())
	stop()
	os.Exit(code)
}
