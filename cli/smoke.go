package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"

	"github.com/chaosd/chaosd/config"
	"github.com/chaosd/chaosd/faults"
	"github.com/chaosd/chaosd/mockai"
	"github.com/chaosd/chaosd/owners"
	"github.com/chaosd/chaosd/probes"
)

type smokeOpts struct {
	pods        []string
	providerURL string
	hint        string
	chunks      int
	lateAfter   int
	dsn         string
	natsURL     string
	ownerQuery  string
	attachRoute string
	killOwner   bool
	timeout     time.Duration
}

const smokeHelp = `
Drive one run through the cluster and watch it from every pod: bootstrap a tenant,
attach to the thread on the second pod, start the run on the first pod, open late
attaches on the other pods once --late-after chunks are confirmed in the run's
JetStream buffer (so that the late watchers must replay a prefix), and check that
every watcher sees chunk-1..chunk-N exactly once, in order, and the finish chunk,
and that Postgres ends with the thread completed and no owner.

With --kill-owner, the run's owner (read from Postgres) is SIGKILLed after the late
attaches open; a survivor must finish the run. The kill takes chaosd --fault's path:
the target's instance lock, recovery of what a crashed chaosd left, the write-ahead
ledger and the watchdog (ledger.path, --ledger), so the killed container is started
again at the end, by chaosd recover, or by the watchdog at the fault's deadline
(--timeout from the kill) should smoke die.

Settings come from the same place as chaosd --fault's (--target, --config,
CHAOSD_* variables, then flags; the same names and defaults): the pods' URLs
(--pods, CHAOSD_PODS: the first receives the run), Postgres, NATS, the provider URL,
the hint (workload.hint), the late attaches' k (--late-after, workload.late_after),
the attach route, the owner source and the compose project. smoke needs the pods'
URLs: a target that finds its pods in Docker takes them from --pods, or from
eval "$(deploy/cluster.sh env)".

Exit status: 0 all checks passed, 1 a check failed, 2 could not run.`

func runSmoke(ctx context.Context, io IO, args []string) error {
	fs, lf := newFlagSet(io, "smoke", "[flags]", smokeHelp)
	cf := config.RegisterFlags(fs)
	o := &smokeOpts{}
	fs.BoolVar(&o.killOwner, "kill-owner", false, "SIGKILL the run's owner container mid-run through the fault path (needs Docker; ledger and watchdog as --fault), start it again at the end")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "give up after this long")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	cfg, _, err := cf.Resolve(io.Getenv)
	if err != nil {
		return err
	}
	if err := o.finish(cfg); err != nil {
		return err
	}
	log, err := lf.logger(io)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	sm := newSmoke(o, log)
	if o.killOwner {
		// The kill goes through the fault path of chaosd --fault: the target's instance
		// lock, recovery of what a crashed chaosd left, the ledger and the watchdog, so
		// that the pod is started again even if smoke dies mid-run.
		lock, err := lockInstance(ctx, io, cfg)
		if err != nil {
			return err
		}
		defer lock.Close()
		env, err := openFaultEnv(ctx, cfg, "", log, false, false)
		if err != nil {
			return err
		}
		defer env.close()
		if err := env.dockerOnly("chaosd smoke --kill-owner"); err != nil {
			return err
		}
		if err := startupRecovery(ctx, io, env, false); err != nil {
			return err
		}
		if sm.injector, err = env.injector(nil, false); err != nil {
			return err
		}
	}
	res, err := sm.run(ctx)
	if res != nil {
		res.print(io.Stdout)
	}
	if err != nil {
		return err
	}
	if !res.ok() {
		return &ExitCodeError{Code: ExitViolated, Err: errors.New("smoke: checks failed (see above)")}
	}
	return nil
}

// finish takes smoke's settings from the resolved configuration, the one --fault
// reads, and checks what only smoke asks of them.
func (o *smokeOpts) finish(cfg config.Config) error {
	w := cfg.Workload
	for _, p := range w.Pods {
		o.pods = append(o.pods, p.URL)
	}
	o.providerURL, o.hint, o.lateAfter, o.natsURL, o.attachRoute = w.ProviderURL, w.Hint, w.LateAfter, w.NATS, w.AttachRoute
	o.dsn = cfg.Postgres.DSN
	o.ownerQuery = owners.Lookup{Source: cfg.Owner.Source, Query: cfg.Owner.Query}.ThreadSQL()
	plan, err := mockai.ParseHints(o.hint, mockai.Limits{})
	if err != nil {
		return fmt.Errorf("--hint: %w", err)
	}
	if plan.Fault.Kind != mockai.FaultNone {
		return fmt.Errorf("--hint %q: provider faults (%s) make the run fail by design; smoke wants a run that completes", o.hint, plan.Fault.Kind)
	}
	o.chunks = plan.Chunks
	switch {
	case len(o.pods) == 0:
		return fmt.Errorf("--pods: target %s finds its pods in Docker; smoke needs their URLs: --pods or CHAOSD_PODS (eval \"$(deploy/cluster.sh env)\")", cfg.Target)
	case o.lateAfter >= o.chunks:
		return fmt.Errorf("--late-after: %d must be in [1, %d), the chunks the hint asks for", o.lateAfter, o.chunks)
	case o.timeout <= 0:
		return fmt.Errorf("--timeout: %s must be positive", o.timeout)
	}
	return nil
}

type smoke struct {
	o   *smokeOpts
	log *zap.Logger
	// injector kills the owner (--kill-owner) through the fault path; heal ends the
	// kill's hold and waits for the pod to be started again.
	injector *faults.Injector
	heal     func() error
}

func newSmoke(o *smokeOpts, log *zap.Logger) *smoke { return &smoke{o: o, log: log.Named("smoke")} }

// watcher is one attach and what it saw.
type watcher struct {
	pod      string
	late     bool
	tally    *probes.Tally
	err      error
	problems []string // set by checkFinal
	done     chan struct{}
}

type smokeResult struct {
	thread       string
	watchers     []*watcher
	owner        string
	bufferAtLate probes.Buffer
	killed       string // the killed pod's name (the owner Postgres named)
	killedURL    string // the same pod as a URL of --pods: the one that stopped answering
	killedAt     time.Time
	finishedAt   time.Time
	final        probes.ThreadState
	finalErr     error
	problems     []string
}

func (s *smoke) run(ctx context.Context) (*smokeResult, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.timeout)
	defer cancel()
	d, err := probes.NewDriver(probes.DriverConfig{AttachRoute: s.o.attachRoute})
	if err != nil {
		return nil, err
	}
	pg, err := probes.NewPostgres(ctx, probes.PostgresConfig{DSN: s.o.dsn, OwnerQuery: s.o.ownerQuery})
	if err != nil {
		return nil, err
	}
	defer pg.Close()
	nc, err := probes.NewNATS(probes.NATSConfig{URL: s.o.natsURL})
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	if err := s.checkReady(ctx, d); err != nil {
		return nil, err
	}
	res := &smokeResult{}
	return res, s.drive(ctx, d, &smokeObservers{pg: pg, nats: nc}, res)
}

type smokeObservers struct {
	pg   *probes.Postgres
	nats *probes.NATS
}

func (s *smoke) checkReady(ctx context.Context, d *probes.Driver) error {
	var bad []string
	for _, p := range s.o.pods {
		if r := d.Ready(ctx, p); !r.Ready {
			bad = append(bad, fmt.Sprintf("%s (%s%s)", p, r.Status, r.Err))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("pods not ready: %s", strings.Join(bad, ", "))
	}
	return nil
}

func (s *smoke) drive(ctx context.Context, d *probes.Driver, obs *smokeObservers, res *smokeResult) error {
	first := s.o.pods[0]
	tenant, err := d.Bootstrap(ctx, first, probes.BootstrapOptions{ProviderBaseURL: s.o.providerURL})
	if err != nil {
		return fmt.Errorf("bootstrap tenant on %s: %w", first, err)
	}
	res.thread = probes.NewThreadID("smoke")
	if err := d.CreateThread(ctx, first, tenant, res.thread); err != nil {
		return err
	}
	s.log.Info("tenant ready", zap.String("org", tenant.OrgSlug), zap.String("thread", res.thread))
	early, err := s.attach(ctx, d, tenant, res, s.o.pods[1], false)
	if err != nil {
		return err
	}
	if _, err := d.StartRun(ctx, first, tenant, res.thread, s.o.hint); err != nil {
		return err
	}
	s.log.Info("run started", zap.String("pod", first), zap.String("hint", s.o.hint))
	buf, err := waitBuffered(ctx, obs.nats, early, res.thread, s.o.lateAfter)
	if err != nil {
		return fmt.Errorf("waiting for %d chunks in the buffer: %w", s.o.lateAfter, err)
	}
	res.bufferAtLate = buf
	for _, p := range append([]string{first}, s.o.pods[2:]...) {
		if _, err := s.attach(ctx, d, tenant, res, p, true); err != nil {
			return err
		}
	}
	if st, err := obs.pg.Thread(ctx, res.thread); err == nil {
		res.owner = st.Owner
	} else {
		res.problems = append(res.problems, "owner lookup: "+err.Error())
	}
	if s.o.killOwner {
		if err := s.kill(ctx, res); err != nil {
			return err
		}
		defer s.restart(context.WithoutCancel(ctx), d, res)
		res.killedURL = s.silentPod(ctx, d)
	}
	s.await(ctx, res)
	s.checkFinal(ctx, obs.pg, res)
	return nil
}

func (s *smoke) attach(ctx context.Context, d *probes.Driver, t *probes.Tenant, res *smokeResult, pod string, late bool) (*watcher, error) {
	a, err := d.Attach(ctx, pod, t, res.thread)
	if err != nil {
		return nil, err
	}
	w := &watcher{pod: pod, late: late, done: make(chan struct{})}
	res.watchers = append(res.watchers, w)
	go func() {
		defer close(w.done)
		defer a.Close()
		w.tally, w.err = a.Collect(nil)
	}()
	return w, nil
}

// waitBuffered polls the run's buffer until it holds n text deltas. The early
// watcher ending first means the run ended or its pod failed: no point waiting.
func waitBuffered(ctx context.Context, nc *probes.NATS, early *watcher, thread string, n int) (probes.Buffer, error) {
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		b, err := nc.Buffer(ctx, thread)
		if err == nil && b.TextDeltas >= n {
			return b, nil
		}
		select {
		case <-ctx.Done():
			return b, fmt.Errorf("%w (last reading: %d deltas, err %v)", ctx.Err(), b.TextDeltas, err)
		case <-early.done:
			return b, fmt.Errorf("the early watcher ended first: %v", early.err)
		case <-tick.C:
		}
	}
}

func (s *smoke) await(ctx context.Context, res *smokeResult) {
	for _, w := range res.watchers {
		select {
		case <-w.done:
		case <-ctx.Done():
			<-w.done // the attach's context is ctx: it ends too
		}
	}
	res.finishedAt = time.Now()
}

func (s *smoke) checkFinal(ctx context.Context, pg *probes.Postgres, res *smokeResult) {
	// Postgres is written after the finish chunk: give it a moment.
	deadline := time.Now().Add(10 * time.Second)
	for {
		res.final, res.finalErr = pg.Thread(ctx, res.thread)
		if (res.finalErr == nil && res.final.Status == "completed" && res.final.Owner == "") || time.Now().After(deadline) || sleepCtx(ctx, 100*time.Millisecond) != nil {
			break
		}
	}
	switch {
	case res.finalErr != nil:
		res.problems = append(res.problems, "final thread state unknown: "+res.finalErr.Error())
	case res.final.Status != "completed":
		res.problems = append(res.problems, fmt.Sprintf("thread ended %q, want completed", res.final.Status))
	case res.final.Owner != "":
		res.problems = append(res.problems, fmt.Sprintf("thread still owned by %q after completion", res.final.Owner))
	}
	for _, w := range res.watchers {
		if w.pod == res.killedURL && res.killedURL != "" {
			continue // cut off by our own kill: expected
		}
		if w.err != nil {
			w.problems = append(w.problems, w.err.Error())
		}
		w.problems = append(w.problems, w.tally.Check(s.o.chunks)...)
		for _, p := range w.problems {
			res.problems = append(res.problems, fmt.Sprintf("watcher on %s: %s", w.pod, p))
		}
	}
}

func (r *smokeResult) ok() bool { return len(r.problems) == 0 }

func (r *smokeResult) print(out io.Writer) {
	fmt.Fprintf(out, "thread %s, owner %s; late attaches opened with %d chunks in the buffer (seq %d-%d)\n",
		r.thread, orDash(r.owner), r.bufferAtLate.TextDeltas, r.bufferAtLate.FirstSeq, r.bufferAtLate.LastSeq)
	if r.killed != "" {
		fmt.Fprintf(out, "killed %s at %s; watchers done %.1fs later\n", r.killed, r.killedAt.Format(time.TimeOnly), r.finishedAt.Sub(r.killedAt).Seconds())
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WATCHER\tATTACH\tCHUNKS\tFINISH\tRESULT")
	for _, w := range r.watchers {
		when := "early"
		if w.late {
			when = "late"
		}
		result := "ok"
		switch {
		case w.pod == r.killedURL && r.killedURL != "":
			result = "cut off by the kill (expected)"
		case len(w.problems) > 0:
			result = strings.Join(w.problems, "; ")
		}
		n, fin := 0, false
		if w.tally != nil {
			n, fin = len(w.tally.Order), w.tally.Finished
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%v\t%s\n", w.pod, when, n, fin, result)
	}
	_ = tw.Flush()
	fmt.Fprintf(out, "final: status %s, owner %s\n", orDash(r.final.Status), orDash(r.final.Owner))
	if r.ok() {
		fmt.Fprintln(out, "PASS")
		return
	}
	for _, p := range r.problems {
		fmt.Fprintln(out, "  - "+p)
	}
	fmt.Fprintln(out, "FAIL")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// kill SIGKILLs the owner's container, found by its compose service name.
func (s *smoke) kill(ctx context.Context, res *smokeResult) error {
	if res.owner == "" {
		return errors.New("--kill-owner: Postgres names no owner for the run")
	}
	if s.injector == nil {
		return errors.New("--kill-owner: no fault injector")
	}
	// The kill is held until smoke has its verdict (at most --timeout; the ledger's
	// deadline, which the watchdog keeps, says the same), then healed.
	hold, cancel := context.WithCancel(context.WithoutCancel(ctx))
	injected := make(chan struct{})
	s.injector.OnStep = func(step string, r *faults.Report) {
		if step == faults.StepInjected {
			close(injected)
		}
	}
	type outcome struct {
		rep *faults.Report
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		rep, err := s.injector.Run(hold, faults.Request{Kind: "kill",
			Target: faults.TargetSpec{Mode: faults.PickNamed, Name: res.owner}, Spec: faults.Spec{Hold: s.o.timeout}})
		done <- outcome{rep, err}
	}()
	select {
	case <-injected:
	case o := <-done:
		cancel()
		if o.err == nil {
			o.err = errors.New("the fault ended before it was confirmed")
		}
		return fmt.Errorf("kill %s: %w", res.owner, o.err)
	}
	res.killed, res.killedAt = res.owner, time.Now()
	s.log.Info("owner killed", zap.String("pod", res.owner))
	s.heal = sync.OnceValue(func() error {
		cancel()
		return (<-done).err
	})
	return nil
}

// silentPod finds which of --pods stopped answering after the kill: pods are named
// in Postgres but addressed by URL, and mesh does not say its name over HTTP.
func (s *smoke) silentPod(ctx context.Context, d *probes.Driver) string {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var silent []string
		for _, p := range s.o.pods {
			if r := d.Ready(ctx, p); r.Err != "" {
				silent = append(silent, p)
			}
		}
		if len(silent) == 1 {
			return silent[0]
		}
		if sleepCtx(ctx, 100*time.Millisecond) != nil {
			break
		}
	}
	s.log.Warn("could not tell which pod URL was killed; its watcher's error will count")
	return ""
}

// restart heals the kill (the fault path starts the container again and confirms
// it) and waits until every pod is ready.
func (s *smoke) restart(ctx context.Context, d *probes.Driver, res *smokeResult) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := s.heal(); err != nil {
		s.log.Error("could not start the killed pod again (chaosd recover heals it; so does the watchdog at the fault's deadline)",
			zap.String("pod", res.killed), zap.Error(err))
		res.problems = append(res.problems, fmt.Sprintf("heal of the kill of %s: %v", res.killed, err))
		return
	}
	if _, err := d.WaitReady(ctx, s.o.pods, 250*time.Millisecond); err != nil {
		s.log.Warn("pods not all ready after restart", zap.Error(err))
		return
	}
	s.log.Info("killed pod is back", zap.String("pod", res.killed))
}

// sleepCtx sleeps for d or until ctx ends, whichever is first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
