package preflight

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chaosd/chaosd/faults"
	"github.com/chaosd/chaosd/owners"
	"github.com/chaosd/chaosd/probes"
)

// run drives one short run: a throwaway tenant on the first ready pod, the run
// started there and attached to from another pod; while it is in progress its owner
// is read from the owner source and its buffer from NATS. It shows that the bootstrap,
// the run and attach routes, the owner source, the buffer and the mock LLM (as the
// pods reach it) all fit the profile.
func (c *checks) run(ctx context.Context, pgOK bool) {
	cfg := c.cfg()
	if len(c.ready) < 2 {
		for _, n := range []string{"bootstrap", "run and attach", "owner source", "run buffer"} {
			c.r.skip(n, "", fmt.Sprintf("needs 2 ready pods, %d answered ready", len(c.ready)))
		}
		return
	}
	home, other := c.ready[0], c.ready[1]
	ctx, cancel := context.WithTimeout(ctx, 3*c.o.timeout()+time.Minute)
	defer cancel()
	d := c.t.Driver
	assumes := fmt.Sprintf("sign-up, organization, API key, provider key at %s, tiers %s, agent (mesh's lib/setup.ts)", cfg.Workload.ProviderURL, strings.Join(cfg.Workload.Tiers, ","))
	ten, err := d.Bootstrap(ctx, home, probes.BootstrapOptions{ProviderBaseURL: cfg.Workload.ProviderURL, Tiers: cfg.Workload.Tiers, Name: "chaosd-preflight-" + shortID()})
	if err != nil {
		c.r.mismatch("bootstrap", assumes, err.Error(), "this mesh bootstraps a tenant otherwise: pick the profile that fits (chaosd doctor --suggest)")
		for _, n := range []string{"run and attach", "owner source", "run buffer"} {
			c.r.skip(n, "", "no tenant")
		}
		return
	}
	c.r.ok("bootstrap", assumes, "org "+ten.OrgSlug+" on "+home)
	thread := probes.NewThreadID("preflight")
	if err := d.CreateThread(ctx, home, ten, thread); err != nil {
		c.r.mismatch("run and attach", "COLLECTION_THREADS_CREATE", err.Error(), "pick the profile that fits")
		return
	}
	c.runAndWatch(ctx, ten, home, other, thread, pgOK)
}

func (c *checks) runAndWatch(ctx context.Context, ten *probes.Tenant, home, other, thread string, pgOK bool) {
	cfg := c.cfg()
	d := c.t.Driver
	hint := c.o.Hint
	if hint == "" {
		hint = "slow:10x250"
	}
	n := hintChunks(hint)
	assumes := fmt.Sprintf("POST threads/<id>/messages on one pod, GET the %s route on another: the mock LLM's %d chunks, then finish", cfg.Workload.AttachRoute, n)
	att, err := d.Attach(ctx, other, ten, thread)
	if err != nil {
		c.r.mismatch("run and attach", assumes, err.Error(), fmt.Sprintf("workload.attach_route is %s: this mesh may use the other form (attach or stream)", cfg.Workload.AttachRoute))
		c.r.skip("owner source", "", "no run")
		c.r.skip("run buffer", "", "no run")
		return
	}
	defer att.Close()
	tally := make(chan *probes.Tally, 1)
	go func() {
		t, _ := att.Collect(nil)
		tally <- t
	}()
	if _, err := d.StartRun(ctx, home, ten, thread, hint); err != nil {
		c.r.mismatch("run and attach", assumes, err.Error(), "this mesh starts runs otherwise: pick the profile that fits")
		return
	}
	owner, ownerErr := c.readOwner(ctx, thread, pgOK)
	buf, bufErr := c.readBuffer(ctx, thread)
	var t *probes.Tally
	select {
	case t = <-tally:
	case <-time.After(c.o.timeout() + time.Duration(n)*time.Second):
		_ = att.Close()
		t = <-tally
	}
	c.judgeRun(assumes, n, t)
	c.judgeOwner(owner, ownerErr)
	c.judgeBuffer(thread, buf, bufErr)
	if cfg.Postgres.ReplyQuery != "" {
		c.judgeReply(ctx, thread, n, t, pgOK)
	}
}

// judgeReply reads the finished run's persisted reply with postgres.reply_query, as
// reply-persisted-once will: one assistant reply, the mock LLM's whole text.
func (c *checks) judgeReply(ctx context.Context, thread string, n int, t *probes.Tally, pgOK bool) {
	cfg := c.cfg()
	assumes := fmt.Sprintf("postgres.reply_query reads the finished run's reply: one assistant message, chunk-1..chunk-%d", n)
	switch {
	case !pgOK:
		c.r.skip("persisted reply", assumes, errPostgresFirst.Error())
		return
	case t == nil || !t.Finished:
		c.r.skip("persisted reply", assumes, "the run did not finish")
		return
	}
	pg, err := probes.NewPostgres(ctx, probes.PostgresConfig{DSN: cfg.Postgres.DSN, ReplyQuery: cfg.Postgres.ReplyQuery, MaxConns: 1, Timeout: c.o.timeout()})
	if err != nil {
		c.r.mismatch("persisted reply", assumes, err.Error(), "fix Postgres first")
		return
	}
	defer pg.Close()
	want := probes.MockReply(n)
	var replies []string
	deadline := time.Now().Add(c.o.timeout())
	for {
		replies, err = pg.Replies(ctx, thread)
		if err != nil || len(replies) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	switch {
	case err != nil:
		c.r.mismatch("persisted reply", assumes, err.Error(),
			"this mesh persists replies elsewhere: postgres.reply_query must read (message id, text) rows for thread $1 (today's mesh: thread_message_parts), or pick the profile that fits")
	case len(replies) != 1 || strings.TrimSpace(replies[0]) != strings.TrimSpace(want):
		c.r.mismatch("persisted reply", assumes, fmt.Sprintf("%d replies, first %.80q", len(replies), first(replies)),
			"postgres.reply_query reads something other than the run's reply: fix the query, or pick the profile that fits")
	default:
		c.r.ok("persisted reply", assumes, fmt.Sprintf("one reply of %d chunks", n))
	}
}

func first(xs []string) string {
	if len(xs) == 0 {
		return ""
	}
	return xs[0]
}

func (c *checks) judgeRun(assumes string, n int, t *probes.Tally) {
	cfg := c.cfg()
	switch {
	case t == nil:
		c.r.mismatch("run and attach", assumes, "the attach ended with nothing", "check the pods' logs")
	case t.Error != "":
		c.r.mismatch("run and attach", assumes, "the run failed: "+t.Error,
			fmt.Sprintf("can the pods reach the mock LLM at %s? (workload.provider_url: the address as the pods see it)", cfg.Workload.ProviderURL))
	case !t.Finished:
		c.r.mismatch("run and attach", assumes, fmt.Sprintf("no finish chunk; %d of %d mock chunks", len(t.Counts), n),
			fmt.Sprintf("is the mock LLM at %s reachable from the pods? is this mesh's attach route %s?", cfg.Workload.ProviderURL, cfg.Workload.AttachRoute))
	case len(t.Counts) != n || len(t.Foreign) > 0:
		c.r.mismatch("run and attach", assumes, fmt.Sprintf("%d distinct mock chunks (want %d), %d foreign texts %.60q", len(t.Counts), n, len(t.Foreign), t.Foreign),
			"the pods do not stream from chaosd's mock LLM: point the provider (workload.provider_url) at it")
	default:
		c.r.ok("run and attach", assumes, fmt.Sprintf("%d chunks and finish, the mock LLM's text", n))
	}
}

// Readings that an earlier mismatch made impossible: skipped, not mismatches of
// their own.
var (
	errPostgresFirst = errors.New("Postgres unreachable, or its schema differs (see above)")
	errNATSFirst     = errors.New("NATS unreachable (see above)")
)

// ownerReading is what the owner source said about the run while it was in progress.
type ownerReading struct {
	owner string
	run   bool // the source named the run (else: the newest in-progress run's owner)
}

// readOwner polls the owner source, the very lookup --fault=KIND-owner uses
// (faults.PostgresOwners with owner.source's query, or owner.query), until it names
// an owner for the run, or the timeout passes.
func (c *checks) readOwner(ctx context.Context, thread string, pgOK bool) (ownerReading, error) {
	if !pgOK {
		return ownerReading{}, errPostgresFirst
	}
	cfg := c.cfg()
	q, ok := faults.OwnerSources[cfg.Owner.Source]
	if !ok {
		q = cfg.Owner.Query
	}
	src := faults.PostgresOwners{DSN: cfg.Postgres.DSN, Query: q, Timeout: c.o.timeout()}
	deadline := time.Now().Add(c.o.timeout())
	for time.Now().Before(deadline) {
		owners, err := src.Owners(ctx)
		if err != nil {
			return ownerReading{}, err
		}
		for _, o := range owners {
			if o.Run == thread {
				return ownerReading{owner: o.Pod, run: true}, nil
			}
		}
		if len(owners) > 0 && owners[0].Run == "" {
			return ownerReading{owner: owners[0].Pod}, nil
		}
		select {
		case <-ctx.Done():
			return ownerReading{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return ownerReading{}, nil
}

func (c *checks) judgeOwner(r ownerReading, err error) {
	cfg := c.cfg()
	pods := c.podNames()
	assumes := fmt.Sprintf("owner.source %s names the pod running the run: one of %s", cfg.Owner.Source, strings.Join(pods, ", "))
	switch {
	case errors.Is(err, errPostgresFirst):
		c.r.skip("owner source", assumes, err.Error())
	case err != nil:
		c.r.mismatch("owner source", assumes, err.Error(), "fix Postgres first")
	case r.owner == "":
		c.r.mismatch("owner source", assumes, "no owner named for the run while it streamed",
			"this mesh records owners elsewhere: owner.source threads (threads.run_owner_pod; today's mesh never writes it) or dbos (the executor of the run's DBOS workflows), or the profile that fits (--target=mesh-current)")
	case !slices.Contains(pods, r.owner):
		c.r.mismatch("owner source", assumes, fmt.Sprintf("owner %q, which is no pod", r.owner), owners.Unmappable(cfg.Owner.Source, r.owner, pods))
	default:
		obs := r.owner + " owns the run in progress"
		if !r.run {
			obs += " (the newest in progress: the query names no run)"
		}
		c.r.ok("owner source", assumes, obs)
	}
}

func (c *checks) readBuffer(ctx context.Context, thread string) (uint64, error) {
	if c.nc == nil {
		return 0, errNATSFirst
	}
	subject := probes.SubjectPrefix + thread
	deadline := time.Now().Add(c.o.timeout())
	for {
		s, err := c.nc.js.Stream(ctx, probes.StreamBuffers)
		if err != nil {
			return 0, err
		}
		info, err := s.Info(ctx, jetstreamSubjects(subject))
		if err != nil {
			return 0, err
		}
		if n := info.State.Subjects[subject]; n > 0 || time.Now().After(deadline) {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *checks) judgeBuffer(thread string, n uint64, err error) {
	assumes := fmt.Sprintf("the run's chunks are buffered on %s%s", probes.SubjectPrefix, "<thread>")
	switch {
	case errors.Is(err, errNATSFirst):
		c.r.skip("run buffer", assumes, err.Error())
	case err != nil:
		c.r.mismatch("run buffer", assumes, err.Error(), "fix NATS first")
	case n == 0:
		c.r.mismatch("run buffer", assumes, "nothing on "+probes.SubjectPrefix+thread+" while the run streamed", "this mesh buffers runs elsewhere: pick the profile that fits")
	default:
		c.r.ok("run buffer", assumes, fmt.Sprintf("%d messages on %s", n, probes.SubjectPrefix+thread))
	}
}

func hintChunks(hint string) int {
	var n, ms int
	if _, err := fmt.Sscanf(hint, "slow:%dx%d", &n, &ms); err == nil && n > 0 {
		return n
	}
	return 5
}

func shortID() string { return fmt.Sprintf("%x", time.Now().UnixNano()&0xffffff) }

func jetstreamSubjects(subject string) jetstream.StreamInfoOpt {
	return jetstream.WithSubjectFilter(subject)
}
