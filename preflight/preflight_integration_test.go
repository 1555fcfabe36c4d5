//go:build integration

package preflight

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chaosd/chaosd/config"
	"github.com/chaosd/chaosd/faults"
	"github.com/chaosd/chaosd/internal/testcluster"
	"github.com/chaosd/chaosd/probes"
	"github.com/chaosd/chaosd/testbed"
)

// fitting is a profile that fits the in-process cluster: its addresses, its timings.
func fitting(t *testing.T, c *testcluster.Cluster) Target {
	t.Helper()
	cfg, err := config.ForTarget(config.TargetBundled)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Postgres.DSN, cfg.Workload.NATS, cfg.Workload.ProviderURL = c.DSN, c.NATSURL, c.Provider
	cfg.Workload.Pods = nil
	var ms []faults.Member
	for _, n := range c.Names() {
		cfg.Workload.Pods = append(cfg.Workload.Pods, config.PodURL{Name: n, URL: c.URL(n)})
		ms = append(ms, faults.Member{Target: faults.Target{Pod: n, Name: "chaosd_" + n + "_1", Service: n}, State: "running"})
	}
	cfg.Workload.HeartbeatTTL, cfg.Workload.HeartbeatInt = config.D(c.Base.HeartbeatTTL), config.D(c.Base.HeartbeatInterval)
	d, err := probes.NewDriver(probes.DriverConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return Target{Cfg: cfg, Members: ms, Reach: "in process", Driver: d}
}

var fullRun = Options{Run: true, Cadence: true, Hint: "slow:8x150", Timeout: 5 * time.Second}

func TestIntegrationPreflightFitsACorrectCluster(t *testing.T) {
	c := testcluster.Start(t, 3)
	rep := Run(context.Background(), fitting(t, c), fullRun)
	if !rep.OK() {
		t.Fatalf("a fitting profile failed:\n%s", table(t, rep))
	}
	for _, want := range []string{"containers", "pods", "health mesh-1", "postgres", "table public.threads", "nats", "buffer stream",
		"heartbeat bucket", "heartbeat cadence", "bootstrap", "run and attach", "owner source", "run buffer"} {
		if st := status(rep, want); st != OK {
			t.Errorf("%s: %s, want ok\n%s", want, st, table(t, rep))
		}
	}
	// A query of one's own (owner.source: query) is read as --fault=KIND-owner reads
	// it: (owner pod, run id), newest first, with no parameter.
	tg := fitting(t, c)
	tg.Cfg.Owner.Source, tg.Cfg.Owner.Query = "query", "SELECT run_owner_pod, id FROM threads WHERE status = 'in_progress' AND run_owner_pod IS NOT NULL"
	rep = Run(context.Background(), tg, Options{Run: true, Hint: "slow:8x150", Timeout: 5 * time.Second})
	if r := result(rep, "owner source"); r.Status != OK || !strings.Contains(r.Observed, "owns the run in progress") {
		t.Errorf("owner.source query: %+v\n%s", r, table(t, rep))
	}
}

func TestIntegrationPreflightNamesEachMismatch(t *testing.T) {
	c := testcluster.Start(t, 3, func(cfg *testbed.Config) { cfg.ExecutorID = "local" })
	tg := fitting(t, c)
	// The harness's timings, a heartbeat-less mesh's owner source, and a Postgres
	// that is not there: each a mismatch of its own, with its fix.
	tg.Cfg.Workload.HeartbeatTTL, tg.Cfg.Workload.HeartbeatInt = config.D(45*time.Second), config.D(10*time.Second)
	tg.Cfg.Owner.Source = "dbos"
	rep := Run(context.Background(), tg, Options{Run: true, Cadence: true, Hint: "slow:8x150", Timeout: 5 * time.Second})
	for check, want := range map[string]string{
		"heartbeat bucket":  "TTL 2s",
		"heartbeat cadence": "mesh-1 ",
		"owner source":      `owner "local", which is no pod`,
	} {
		r := result(rep, check)
		if r.Status != Mismatch || !strings.Contains(r.Observed, want) || r.Fix == "" {
			t.Errorf("%s: %s %q (fix %q), want a mismatch observing %q\n%s", check, r.Status, r.Observed, r.Fix, want, table(t, rep))
		}
	}
	if rep.OK() {
		t.Error("the report passed")
	}

	tg = fitting(t, c)
	tg.Cfg.Postgres.DSN = "postgres://postgres:postgres@127.0.0.1:1/postgres?sslmode=disable"
	tg.Cfg.Workload.Pods[2].URL = "http://127.0.0.1:1"
	rep = Run(context.Background(), tg, Options{Timeout: 2 * time.Second})
	if r := result(rep, "postgres"); r.Status != Mismatch || !strings.Contains(r.Fix, "postgres.dsn") {
		t.Errorf("postgres: %+v", r)
	}
	if r := result(rep, "health mesh-3"); r.Status != Mismatch {
		t.Errorf("health of a pod that is not there: %+v", r)
	}
	if st := status(rep, "postgres tables"); st != Skipped {
		t.Errorf("tables of an unreachable Postgres: %s, want skipped", st)
	}
}

func TestIntegrationPreflightHeartbeatBucketAsTheProfileSays(t *testing.T) {
	c := testcluster.Start(t, 3, func(cfg *testbed.Config) { cfg.Bugs = testbed.Bugs{testbed.BugNoHeartbeatBucket: true} })
	tg := fitting(t, c)
	rep := Run(context.Background(), tg, Options{Timeout: 5 * time.Second})
	if r := result(rep, "heartbeat bucket"); r.Status != Warn || !strings.Contains(r.Fix, "defect 2") {
		t.Errorf("bucket absent, profile says present: %+v, want a warning naming both readings\n%s", r, table(t, rep))
	}
	if !rep.OK() {
		t.Errorf("an absent bucket refused the run: heartbeat-bucket judges it\n%s", table(t, rep))
	}
	tg.Cfg.Workload.Heartbeats = false
	if r := result(Run(context.Background(), tg, Options{Timeout: 5 * time.Second}), "heartbeat bucket"); r.Status != OK {
		t.Errorf("bucket absent as the profile says: %+v", r)
	}
}

func result(rep Report, check string) Result {
	for _, r := range rep.Results {
		if r.Check == check {
			return r
		}
	}
	return Result{Check: check, Status: "absent"}
}

func status(rep Report, check string) Status { return result(rep, check).Status }

func table(t *testing.T, rep Report) string {
	var b strings.Builder
	_ = WriteTable(&b, rep)
	return b.String()
}
