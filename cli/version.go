package cli

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X github.com/chaosd/chaosd/cli.version=v1.2.3".
var version = ""

// Version returns chaosd's version: the link-time value, else the module version or
// VCS revision recorded by the Go toolchain, else "dev".
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return v
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return "dev"
}

func runVersion(_ context.Context, io IO, args []string) error {
	fs, _ := newFlagSet(io, "version", "", "Print chaosd's version, the Go version it was built with, and the platform.")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	_, err := fmt.Fprintf(io.Stdout, "chaosd %s (%s, %s/%s)\n", Version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}
