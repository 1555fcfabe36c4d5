// Command chaosd-healthcheck is `chaosd healthcheck` as a binary of its own, for the
// HEALTHCHECK of chaosd's image: Docker execs it every interval in every container,
// and it starts in a fraction of chaosd's time (see package healthcheck).
//
//	chaosd-healthcheck [--timeout D] URL
//
// exits 0 when GET URL answers 2xx (or tcp://HOST:PORT accepts a connection), 1 when
// it does not, 2 on a usage error.
package main

import (
	"context"
	"os"

	"github.com/chaosd/chaosd/healthcheck"
)

func main() {
	os.Exit(healthcheck.Main(context.Background(), "chaosd-healthcheck", os.Args[1:], os.Stdout, os.Stderr))
}
