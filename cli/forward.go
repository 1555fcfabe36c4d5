package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/chaosd/chaosd/topology"
)

const forwardDescription = `
Relay TCP connections: each LISTEN=TARGET mapping listens on LISTEN (host:port) and
connects every client to TARGET (host:port, resolved on each connection), copying bytes
both ways and passing half-closes on, until SIGTERM or SIGINT.

This is what chaosd's forwarder container runs: to reach a compose project whose
Postgres and NATS are not published on the host, chaosd starts a container on the
project's network running
  chaosd forward 0.0.0.0:10001=postgres:5432 0.0.0.0:10002=nats:4222
with each port published on 127.0.0.1 (see the topology package). It logs to stderr,
and logs "` + topology.ReadyMessage + `" once every port is bound.`

func runForward(ctx context.Context, io IO, args []string) error {
	fs, lf := newFlagSet(io, "forward", "LISTEN=TARGET... [flags]", forwardDescription)
	dialTimeout := fs.Duration("dial-timeout", topology.DefaultDialTimeout, "give up connecting to a target after this long")
	if err := parse(fs, args, len(args)); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("missing LISTEN=TARGET mapping, e.g. 0.0.0.0:10001=postgres:5432 (see --help)")
	}
	if *dialTimeout <= 0 {
		return fmt.Errorf("--dial-timeout must be positive, got %s", *dialTimeout)
	}
	ms := make([]topology.Mapping, fs.NArg())
	for i, a := range fs.Args() {
		m, err := topology.ParseMapping(a)
		if err != nil {
			return err
		}
		ms[i] = m
	}
	log, err := lf.logger(io)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	p, err := topology.Listen(ms)
	if err != nil {
		return err
	}
	return p.Serve(ctx, log.Named("forward"), *dialTimeout)
}
