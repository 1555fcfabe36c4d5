// Command faults-bench times chaosd's faults side by side with the docker CLI doing the
// same, on a real container of the bundled cluster: from the decision to the confirmed
// fault, and from the start of the heal to the confirmed heal.
//
//	go run ./bench/faults [-rounds 10] [-target mesh-2] [-chaosd bin/chaosd]
//
// chaosd's figures are the whole of its path: the ledger write (fsync), the watchdog
// process started, the Engine API call, and the confirmation (container state; for a
// partition, TCP probes from inside the namespaces, which wait out their timeout on a
// dropped packet). The CLI's figures are its command alone (docker kill / start,
// pause / unpause, network disconnect / connect; for a filter partition, docker inspect
// then nsenter nft), which confirm nothing. Rounds alternate chaosd and the CLI.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/chaosd/chaosd/faults"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults-bench:", err)
		os.Exit(1)
	}
}

type options struct {
	rounds  int
	target  string
	project string
	chaosd  string
	hold    time.Duration
}

func run(ctx context.Context) error {
	o := options{}
	flag.IntVar(&o.rounds, "rounds", 10, "rounds per kind, for chaosd and for the CLI each")
	flag.StringVar(&o.target, "target", "mesh-2", "the pod hurt")
	flag.StringVar(&o.project, "project", envOr("CHAOSD_COMPOSE_PROJECT", "chaosd"), "compose project (env CHAOSD_COMPOSE_PROJECT)")
	flag.StringVar(&o.chaosd, "chaosd", "bin/chaosd", "chaosd binary, run as the watchdog (make build)")
	flag.DurationVar(&o.hold, "hold", 300*time.Millisecond, "how long each fault is held")
	flag.Parse()
	if _, err := os.Stat(o.chaosd); err != nil {
		return fmt.Errorf("%w (build it: make build, or pass -chaosd)", err)
	}
	b, err := newBench(ctx, o)
	if err != nil {
		return err
	}
	defer b.close()
	fmt.Printf("faults-bench: %d rounds per kind on %s (project %s), hold %s, %d CPUs, load average %s\n", o.rounds, o.target, o.project, o.hold, nproc(), loadavg())
	var rows []row
	for _, k := range benchKinds() {
		r, err := b.kind(ctx, k)
		if err != nil {
			return fmt.Errorf("%s: %w", k.name, err)
		}
		rows = append(rows, r)
	}
	printRows(os.Stdout, rows)
	return nil
}

// bench holds chaosd's injector on a scratch ledger.
type bench struct {
	o      options
	in     *faults.Injector
	ledger *faults.Ledger
	dir    string
	cli    *dockerCLI
}

func newBench(ctx context.Context, o options) (*bench, error) {
	dc, err := faults.NewDocker(ctx, "", 10*time.Second)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "faults-bench-")
	if err != nil {
		return nil, err
	}
	l, err := faults.OpenLedger(filepath.Join(dir, "ledger.jsonl"))
	if err != nil {
		return nil, err
	}
	exe, err := filepath.Abs(o.chaosd)
	if err != nil {
		return nil, err
	}
	d := faults.Deps{
		Docker: dc, Net: faults.NetNS{}, Log: zap.NewNop(),
		Selector:   faults.Selector{Project: o.project, Infra: []string{"postgres", "nats", "mockai", "mock-ai", "migrate"}, PodName: faults.DefaultPodNameRule},
		PeerGroups: map[string][]string{"nats": {"nats"}, "postgres": {"postgres"}},
	}
	in := &faults.Injector{
		Deps: d, Ledger: l, Path: l.Path(), Healer: faults.NewHealer(l, d, time.Minute),
		Watchdog:  faults.ProcessWatchdog{Exe: exe, Ledger: l.Path(), Args: []string{"--log-level=warn"}, LogPath: l.Path() + ".watchdog.log"},
		Readiness: faults.RunningReadiness{}, Blast: faults.BlastRadius{MaxFaulted: 1, MinReady: 1},
	}
	cli, err := newDockerCLI(ctx, dc, o)
	if err != nil {
		return nil, err
	}
	return &bench{o: o, in: in, ledger: l, dir: dir, cli: cli}, nil
}

func (b *bench) close() {
	_ = b.ledger.Close()
	_ = os.RemoveAll(b.dir)
}

// benchKind is one kind as chaosd does it and as the CLI does it.
type benchKind struct {
	name  string
	kind  string
	peers []string
	cli   func(c *dockerCLI, ctx context.Context) (inject, heal time.Duration, err error)
}

func benchKinds() []benchKind {
	return []benchKind{
		{name: "kill", kind: "kill", cli: (*dockerCLI).kill},
		{name: "pause", kind: "pause", cli: (*dockerCLI).pause},
		{name: "partition (all)", kind: "partition", cli: (*dockerCLI).disconnect},
		{name: "partition (nats)", kind: "partition", peers: []string{"nats"}, cli: (*dockerCLI).filter},
	}
}

// row is one kind's timings.
type row struct {
	name                                 string
	chaosdIn, chaosdHeal, cliIn, cliHeal []time.Duration
	ledger                               []time.Duration // of chaosdIn: arming the watchdog, writing the ledger
	cliNote                              string
}

func (b *bench) kind(ctx context.Context, k benchKind) (row, error) {
	r := row{name: k.name, cliNote: b.cli.note(k.name)}
	for range b.o.rounds {
		in, heal, ledger, err := b.chaosd(ctx, k)
		if err != nil {
			return r, err
		}
		r.chaosdIn, r.chaosdHeal, r.ledger = append(r.chaosdIn, in), append(r.chaosdHeal, heal), append(r.ledger, ledger)
		if err := b.cli.settle(ctx); err != nil {
			return r, err
		}
		if in, heal, err = k.cli(b.cli, ctx); err != nil {
			return r, err
		}
		r.cliIn, r.cliHeal = append(r.cliIn, in), append(r.cliHeal, heal)
		if err := b.cli.settle(ctx); err != nil {
			return r, err
		}
	}
	return r, nil
}

// chaosd runs one fault through the injector: decision to confirmed, heal to confirmed,
// and the part of the first spent on the watchdog and the ledger.
func (b *bench) chaosd(ctx context.Context, k benchKind) (in, heal, ledger time.Duration, err error) {
	rep, err := b.in.Run(ctx, faults.Request{Kind: k.kind, Target: faults.TargetSpec{Mode: faults.PickNamed, Name: b.o.target},
		Spec: faults.Spec{Hold: b.o.hold, Peers: k.peers}})
	if err != nil {
		return 0, 0, 0, err
	}
	h := rep.Heal
	if h.Healing.Outcome != faults.Healed {
		return 0, 0, 0, errors.New("heal not confirmed: " + h.Healing.Evidence)
	}
	return rep.Effect.Confirmed.Sub(rep.Decided), h.Healing.Confirmed.Sub(h.Started), rep.Recorded.Sub(rep.Decided), nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
