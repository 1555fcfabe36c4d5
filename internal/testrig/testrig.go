// Package testrig is what the in-process integration tests of the scenario and the
// soak share: a testbed cluster (internal/testcluster) with defect switches, chaosd's
// observers on it, a history file, the cluster's short heartbeat timings as invariant
// params, a workload configuration for it, and faulters that kill, pause or cut off
// pods in-process.
package testrig

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/internal/testcluster"
	"github.com/chaosd/chaosd/invariants"
	"github.com/chaosd/chaosd/probes"
	"github.com/chaosd/chaosd/testbed"
	"github.com/chaosd/chaosd/workload"
)

// Rig is a 3-pod in-process cluster and what chaosd observes it through.
type Rig struct {
	Cluster  *testcluster.Cluster
	Driver   *probes.Driver
	Postgres *probes.Postgres
	NATS     *probes.NATS
	History  *history.Writer
	HPath    string // the history file
	Params   invariants.Params
	Log      *zap.Logger
}

// Start boots the cluster with bugs (testbed.ParseBugs) switched on in every pod.
// Everything is closed when the test ends.
func Start(t *testing.T, bugs string) *Rig {
	t.Helper()
	c := testcluster.Start(t, 3, func(cfg *testbed.Config) {
		b, err := testbed.ParseBugs(bugs)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Bugs = b
	})
	r := &Rig{Cluster: c, Log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), HPath: filepath.Join(t.TempDir(), "history.jsonl"),
		// The cluster's timings (testcluster: TTL 2 s, refresh 250 ms), with room for a
		// loaded CI machine.
		Params: invariants.Params{HeartbeatTTL: 2 * time.Second, HeartbeatInterval: 250 * time.Millisecond,
			DetectInterval: 250 * time.Millisecond, Slack: 3 * time.Second}}
	var err error
	if r.Driver, err = probes.NewDriver(probes.DriverConfig{}); err != nil {
		t.Fatal(err)
	}
	if r.Postgres, err = probes.NewPostgres(context.Background(), probes.PostgresConfig{DSN: c.DSN}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Postgres.Close)
	if r.NATS, err = probes.NewNATS(probes.NATSConfig{URL: c.NATSURL}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.NATS.Close)
	if r.History, err = history.Create(r.HPath, history.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.History.Close() })
	return r
}

// Meta is the history's begin line for the cluster, with the user checks named.
func (r *Rig) Meta(userChecks ...string) history.Meta {
	return history.Meta{Pods: r.Cluster.Names(), UserChecks: userChecks, HeartbeatTTL: history.Duration(r.Params.HeartbeatTTL),
		HeartbeatInterval: history.Duration(r.Params.HeartbeatInterval), DetectInterval: history.Duration(r.Params.DetectInterval)}
}

// WorkloadConfig is a workload of short runs (16 chunks, 150 ms apart) on every pod,
// late attaches at k=3, sampled every 100 ms.
func (r *Rig) WorkloadConfig() workload.Config {
	c := workload.DefaultConfig()
	for _, n := range r.Cluster.Names() {
		c.Pods = append(c.Pods, workload.Pod{Name: n, URL: r.Cluster.URL(n)})
	}
	c.ProviderURL, c.Hint, c.LateAfter = r.Cluster.Provider, "slow:16x150", 3
	c.ProbeEvery, c.Grace = 100*time.Millisecond, 40*time.Second
	return c
}

// Workload is a workload with cfg on the rig's observers, recording to rec.
func (r *Rig) Workload(t *testing.T, cfg workload.Config, rec workload.Recorder, checks ...probes.UserCheck) *workload.Workload {
	t.Helper()
	wl, err := workload.New(cfg, workload.Deps{Driver: r.Driver, Postgres: r.Postgres, NATS: r.NATS, Recorder: rec, Log: r.Log, UserChecks: checks})
	if err != nil {
		t.Fatal(err)
	}
	return wl
}

// KillFaulter kills a pod in-process (as SIGKILL would) and starts it again after
// DownFor, recording each step as the ledger does, with a fresh id per fault (f1,
// f2, ...). It implements scenario.Faulter.
type KillFaulter struct {
	Cluster *testcluster.Cluster
	DownFor time.Duration
	n       atomic.Int64
}

// Fault kills the owner pod.
func (k *KillFaulter) Fault(ctx context.Context, pod, run string, rec workload.Recorder, onInjected func(string)) error {
	f := history.Fault{ID: fmt.Sprintf("f%d", k.n.Add(1)), Kind: history.KindKill, Pod: pod, Run: run, DownFor: history.Duration(k.DownFor)}
	return playOwnerFault(ctx, rec, f, k.DownFor, func() { k.Cluster.Kill(pod) }, func() { k.Cluster.Restart(pod) }, onInjected)
}

// playOwnerFault plays f on the owner of its run (f.Pod; these faulters take no random
// or named target): it records f's intent, injects, records the injection, calls
// onInjected, holds for hold (or until ctx ends), heals and records the heal, as the
// ledger does.
func playOwnerFault(ctx context.Context, rec workload.Recorder, f history.Fault, hold time.Duration, inject, heal func(), onInjected func(string)) error {
	if f.Pod == "" {
		return fmt.Errorf("in-process %s faulter: owner faults only", f.Kind)
	}
	f.Target = "owner"
	f.Phase, f.At = history.FaultIntent, time.Now()
	_, _ = rec.Append(history.FaultEvent(f))
	inject()
	f.Phase, f.At = history.FaultInjected, time.Now()
	_, _ = rec.Append(history.FaultEvent(f))
	onInjected(f.Pod)
	select {
	case <-ctx.Done():
	case <-time.After(hold):
	}
	heal()
	f.Phase, f.At = history.FaultHealed, time.Now()
	_, _ = rec.Append(history.FaultEvent(f))
	return nil
}

// PauseFaulter pauses a pod in-process (testcluster.Cluster.Pause: its publishes,
// heartbeats and scans freeze, its HTTP routes still answer) and unpauses it after
// Hold, recording each step as the ledger does, with a fresh id per fault (p1, p2,
// ...). It implements scenario.Faulter.
type PauseFaulter struct {
	Cluster *testcluster.Cluster
	Hold    time.Duration
	n       atomic.Int64
}

// Fault pauses the owner pod.
func (p *PauseFaulter) Fault(ctx context.Context, pod, run string, rec workload.Recorder, onInjected func(string)) error {
	f := history.Fault{ID: fmt.Sprintf("p%d", p.n.Add(1)), Kind: history.KindPause, Pod: pod, Run: run}
	return playOwnerFault(ctx, rec, f, p.Hold, func() { p.Cluster.Pause(pod) }, func() { p.Cluster.Unpause(pod) }, onInjected)
}

// PartitionFaulter cuts a pod off from NATS in-process (testcluster.Cluster.Partition:
// its link to NATS is cut, it stays up and ready) and heals it after Hold, recording
// each step as the ledger does, with a fresh id per fault (n1, n2, ...). It
// implements scenario.Faulter.
type PartitionFaulter struct {
	Cluster *testcluster.Cluster
	Hold    time.Duration
	n       atomic.Int64
}

// Fault partitions the owner pod from NATS.
func (p *PartitionFaulter) Fault(ctx context.Context, pod, run string, rec workload.Recorder, onInjected func(string)) error {
	f := history.Fault{ID: fmt.Sprintf("n%d", p.n.Add(1)), Kind: history.KindPartition, Pod: pod, Run: run, Peers: []string{"nats"}}
	return playOwnerFault(ctx, rec, f, p.Hold, func() { p.Cluster.Partition(pod) }, func() { p.Cluster.Heal(pod) }, onInjected)
}

// Verdicts indexes a report's verdicts by invariant.
func Verdicts(r invariants.Report) map[string]invariants.Verdict {
	out := map[string]invariants.Verdict{}
	for _, v := range r.Verdicts {
		out[v.Name] = v
	}
	return out
}
