// Command chaosd soak-tests a multi-pod LLM run service ("mesh"): it drives runs,
// injects faults on the pods that own them, and checks invariants. See README.md.
//
// CHAOSD_CPUPROFILE=FILE writes a CPU profile of the whole command to FILE (for
// measuring chaosd itself, e.g. bench/observe -profile; `go tool pprof` reads it).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/chaosd/chaosd/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfile := cpuProfile(os.Getenv("CHAOSD_CPUPROFILE"))
	code := cli.Main(ctx, os.Args[1:], cli.Stdio())
	stopProfile()
	stop()
	os.Exit(code)
}

// cpuProfile starts a CPU profile into path ("" : none) and returns what ends it. A
// profile that cannot be written is said on stderr; the command runs regardless.
func cpuProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "chaosd: CHAOSD_CPUPROFILE=%s: %v (no profile written)\n", path, err)
		if f != nil {
			f.Close()
		}
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "chaosd: CHAOSD_CPUPROFILE=%s: %v\n", path, err)
		}
	}
}
