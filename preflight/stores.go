package preflight

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chaosd/chaosd/config"
	"github.com/chaosd/chaosd/probes"
)

// The Postgres tables and columns chaosd reads (mesh-contract.md, "Postgres state").
var (
	threadColumns = []string{"id", "organization_id", "status", "run_owner_pod", "run_config", "run_started_at", "updated_at"}
	dbosColumns   = []string{"workflow_uuid", "status", "name", "executor_id", "queue_name", "queue_partition_key", "created_at", "updated_at"}
)

func (c *checks) postgres(ctx context.Context) bool {
	dsn := c.cfg().Postgres.DSN
	shown := config.RedactDSN(dsn)
	ctx, cancel := context.WithTimeout(ctx, c.o.timeout())
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		c.r.mismatch("postgres", "Postgres answers at "+shown+" (postgres.dsn)", err.Error(),
			"point postgres.dsn (--database-url, CHAOSD_DATABASE_URL) at mesh's database; a compose service name is reached through the project's network")
		c.r.skip("postgres tables", "threads and dbos.workflow_status as mesh has them", "Postgres unreachable")
		return false
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	var version string
	_ = conn.QueryRow(ctx, "SHOW server_version").Scan(&version)
	c.r.ok("postgres", "Postgres answers at "+shown, "PostgreSQL "+version)
	ok := c.columns(ctx, conn, "public", "threads", threadColumns, true)
	needDBOS := c.cfg().Owner.Source == "dbos"
	return c.columns(ctx, conn, "dbos", "workflow_status", dbosColumns, needDBOS) && ok
}

// columns checks that schema.table has cols; required says whether their absence is
// a mismatch (else the check reports it and passes).
func (c *checks) columns(ctx context.Context, conn *pgx.Conn, schema, table string, cols []string, required bool) bool {
	name := schema + "." + table
	assumes := fmt.Sprintf("table %s with %s", name, strings.Join(cols, ", "))
	rows, err := conn.Query(ctx, `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2`, schema, table)
	if err != nil {
		c.r.mismatch("table "+name, assumes, err.Error(), "grant chaosd's user read access to information_schema")
		return false
	}
	have, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		c.r.mismatch("table "+name, assumes, err.Error(), "grant chaosd's user read access to information_schema")
		return false
	}
	var missing []string
	for _, col := range cols {
		if !slices.Contains(have, col) {
			missing = append(missing, col)
		}
	}
	switch {
	case len(have) == 0 && !required:
		c.r.ok("table "+name, assumes+" (not needed: owner.source is "+c.cfg().Owner.Source+")", "absent")
		return true
	case len(have) == 0:
		c.r.mismatch("table "+name, assumes, "no such table", "has mesh's migration run? (the migrate service); or the profile's owner.source does not fit this mesh")
		return false
	case len(missing) > 0 && required:
		c.r.mismatch("table "+name, assumes, "missing columns: "+strings.Join(missing, ", "), "this mesh's schema differs from the profile's: pick the profile that fits (chaosd doctor --suggest)")
		return false
	}
	c.r.ok("table "+name, assumes, fmt.Sprintf("%d columns, all there", len(have)))
	return true
}

// natsConn is the preflight's own connection: no reconnect loop, so that an
// unreachable server is an answer at once.
type natsConn struct {
	nc *nats.Conn
	js jetstream.JetStream
}

func (c *checks) nats(ctx context.Context) {
	w := c.cfg().Workload
	shown := config.RedactDSN(w.NATS)
	nc, err := nats.Connect(w.NATS, nats.Name("chaosd-preflight"), nats.Timeout(c.o.timeout()), nats.NoReconnect())
	if err != nil {
		c.r.mismatch("nats", "NATS with JetStream at "+shown+" (workload.nats)", err.Error(),
			"point workload.nats (--nats-url, CHAOSD_NATS_URL) at mesh's NATS; a compose service name is reached through the project's network")
		c.r.skip("buffer stream", probes.StreamBuffers+" on "+probes.SubjectPrefix+">", "NATS unreachable")
		c.r.skip("heartbeat bucket", probes.BucketHeartbeat, "NATS unreachable")
		return
	}
	js, err := jetstream.New(nc)
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, c.o.timeout())
		_, err = js.AccountInfo(ctx)
		cancel()
	}
	if err != nil {
		nc.Close()
		c.r.mismatch("nats", "NATS with JetStream at "+shown, "JetStream: "+err.Error(), "mesh needs JetStream: start nats-server with -js")
		return
	}
	c.nc = &natsConn{nc: nc, js: js}
	c.r.ok("nats", "NATS with JetStream at "+shown, "server "+nc.ConnectedServerVersion()+", JetStream on")
	c.bufferStream(ctx)
	c.bucket(ctx)
}

func (c *checks) bufferStream(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, c.o.timeout())
	defer cancel()
	want := probes.SubjectPrefix + ">"
	assumes := fmt.Sprintf("stream %s on %s", probes.StreamBuffers, want)
	s, err := c.nc.js.Stream(ctx, probes.StreamBuffers)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		c.r.mismatch("buffer stream", assumes, "no such stream; streams: "+c.streamNames(ctx), "the pods create it at start-up: is this mesh? (chaosd doctor --suggest)")
		return
	}
	if err != nil {
		c.r.mismatch("buffer stream", assumes, err.Error(), "check NATS")
		return
	}
	subj := s.CachedInfo().Config.Subjects
	if !slices.Contains(subj, want) {
		c.r.mismatch("buffer stream", assumes, fmt.Sprintf("subjects %v", subj), "this mesh buffers runs elsewhere: pick the profile that fits")
		return
	}
	c.r.ok("buffer stream", assumes, fmt.Sprintf("subjects %v, %s storage", subj, s.CachedInfo().Config.Storage))
}

func (c *checks) streamNames(ctx context.Context) string {
	var names []string
	l := c.nc.js.StreamNames(ctx)
	for n := range l.Name() {
		names = append(names, n)
	}
	if len(names) == 0 {
		return "none"
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// bucket checks the heartbeat bucket's presence and TTL against the profile, and
// starts watching its keys' refresh cadence.
func (c *checks) bucket(ctx context.Context) {
	w := c.cfg().Workload
	ctx, cancel := context.WithTimeout(ctx, c.o.timeout())
	defer cancel()
	kv, err := c.nc.js.KeyValue(ctx, probes.BucketHeartbeat)
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound) && !w.Heartbeats:
		c.r.ok("heartbeat bucket", "no "+probes.BucketHeartbeat+" (workload.heartbeats: false)", "absent")
		return
	case errors.Is(err, jetstream.ErrBucketNotFound):
		// Either this mesh has no bucket (today's: a profile mismatch) or it should and
		// its creation failed (mesh's defect 2, which heartbeat-bucket exists to judge):
		// the preflight cannot tell, so it warns and lets the invariant judge.
		c.r.warn("heartbeat bucket", probes.BucketHeartbeat+" exists (workload.heartbeats: true)", "absent",
			"POD_HEARTBEATS is absent: on a mesh that has no bucket (today's), pick its profile (--target=mesh-current); on one that should have it, this is mesh's defect 2 (its creation failed) and heartbeat-bucket will fail")
		return
	case err != nil:
		c.r.mismatch("heartbeat bucket", probes.BucketHeartbeat, err.Error(), "check NATS")
		return
	case !w.Heartbeats:
		c.r.mismatch("heartbeat bucket", "no "+probes.BucketHeartbeat+" (workload.heartbeats: false)", "present",
			"this mesh heartbeats: pick the profile that fits (chaosd doctor --suggest), or set workload.heartbeats: true")
		return
	}
	st, err := kv.Status(ctx)
	if err != nil {
		c.r.mismatch("heartbeat bucket", probes.BucketHeartbeat, err.Error(), "check NATS")
		return
	}
	assumes := fmt.Sprintf("%s exists, TTL %s (workload.heartbeat_ttl)", probes.BucketHeartbeat, w.HeartbeatTTL)
	if st.TTL() != w.HeartbeatTTL.Std() {
		c.r.mismatch("heartbeat bucket", assumes, "TTL "+st.TTL().String(),
			fmt.Sprintf("the graces derive from the TTL: --heartbeat-ttl=%s, or the profile that fits (chaosd doctor --suggest)", st.TTL()))
	} else {
		c.r.ok("heartbeat bucket", assumes, fmt.Sprintf("TTL %s, %d keys", st.TTL(), st.Values()))
	}
	if c.o.Cadence {
		c.cadence = make(chan Result, 1)
		go func() { c.cadence <- watchCadence(kv, w.HeartbeatInt.Std(), c.podNames()) }()
	}
}

func (c *checks) podNames() []string {
	var out []string
	for _, p := range c.cfg().Workload.Pods {
		out = append(out, p.Name)
	}
	return out
}

func (c *checks) finishCadence() {
	if c.cadence != nil {
		c.r.add(<-c.cadence)
	}
	if c.nc != nil {
		c.nc.nc.Close()
	}
}

// watchCadence watches every key's updates for up to 2.5 intervals (plus a second)
// and compares the gaps between a pod's writes with the profile's interval. The
// longest gap per pod is what counts (a pod also writes its key out of turn, e.g. on
// reconnecting): a pod slower than 1.5 intervals is a mismatch (its key ages past what
// the graces expect), and so is a cluster whose every pod refreshes faster than half
// an interval (the profile's interval, and the graces, are too long for it).
func watchCadence(kv jetstream.KeyValue, interval time.Duration, pods []string) Result {
	assumes := fmt.Sprintf("each pod refreshes its key every %s (workload.heartbeat_interval)", interval)
	res := Result{Check: "heartbeat cadence", Assumes: assumes}
	ctx, cancel := context.WithTimeout(context.Background(), interval*5/2+time.Second)
	defer cancel()
	wt, err := kv.WatchAll(ctx, jetstream.UpdatesOnly())
	if err != nil {
		res.Status, res.Observed, res.Fix = Mismatch, err.Error(), "check NATS"
		return res
	}
	defer func() { _ = wt.Stop() }()
	last := map[string]time.Time{}
	gaps := map[string]time.Duration{} // the longest gap per pod
	count := map[string]int{}          // gaps seen per pod
	// Enough seen: every pod has shown a gap of at least half an interval, or three
	// gaps all shorter (it is faster, conclusively).
	enough := func() bool {
		for _, p := range pods {
			if gaps[p] < interval/2 && count[p] < 3 {
				return false
			}
		}
		return true
	}
	for !enough() {
		select {
		case e := <-wt.Updates():
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			if t, ok := last[e.Key()]; ok {
				gaps[e.Key()] = max(gaps[e.Key()], e.Created().Sub(t))
				count[e.Key()]++
			}
			last[e.Key()] = e.Created()
		case <-ctx.Done():
			return cadenceResult(res, interval, pods, gaps, last)
		}
	}
	return cadenceResult(res, interval, pods, gaps, last)
}

func cadenceResult(res Result, interval time.Duration, pods []string, gaps map[string]time.Duration, seen map[string]time.Time) Result {
	var obs, off, silent []string
	fast, measured := 0, 0
	for _, p := range pods {
		g, ok := gaps[p]
		switch {
		case ok:
			measured++
			obs = append(obs, fmt.Sprintf("%s %s", p, g.Round(100*time.Millisecond)))
			if g > interval*3/2 {
				off = append(off, p)
			}
			if g < interval/2 {
				fast++
			}
		case !seen[p].IsZero():
			obs = append(obs, p+" once")
			off = append(off, p)
		default:
			silent = append(silent, p)
		}
	}
	if measured > 0 && fast == measured {
		off = append(off, "every pod faster")
	}
	res.Observed = strings.Join(obs, ", ")
	if len(silent) > 0 {
		res.Observed = strings.TrimPrefix(res.Observed+"; no write from "+strings.Join(silent, ", "), "; ")
	}
	switch {
	case len(off) > 0:
		res.Status = Mismatch
		res.Fix = "set --heartbeat-interval to the pods' refresh (the graces derive from it), or pick the profile that fits (chaosd doctor --suggest)"
	case len(silent) > 0:
		// Pods that write no key are not heartbeating: a mesh defect (its bucket or
		// its heartbeat loop broken), which heartbeat-bucket judges, or a mesh
		// without heartbeats, whose profile says so.
		res.Status = Warn
		res.Fix = fmt.Sprintf("no heartbeat from %s in %s: if this mesh has no heartbeats, pick its profile (--target=mesh-current); else its pods are not heartbeating and heartbeat-bucket will fail",
			strings.Join(silent, ", "), (interval*5/2 + time.Second).Round(time.Second))
	default:
		res.Status = OK
	}
	return res
}
