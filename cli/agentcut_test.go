package cli

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosd/chaosd/faults/netns"
)

// fakeNet is a pod's network namespace and the agent's own: a cut drops what it
// names for the pod, never for the agent.
type fakeNet struct {
	cut    map[netip.Addr]bool
	down   map[netip.AddrPort]bool // unreachable from everywhere
	leaky  bool                    // the table drops nothing
	hostNS bool                    // the pod shares the node's namespace
	cutErr error
	uncuts int
	kept   []netip.Addr
}

func (f *fakeNet) Probe(_ context.Context, pid int, ap netip.AddrPort, _ time.Duration) (netns.Reach, error) {
	if f.down[ap] || (pid != netns.Host && f.cut[ap.Addr()] && !f.leaky) {
		return netns.Reach{Detail: "no answer within 1s"}, nil
	}
	return netns.Reach{Reachable: true, Detail: "connected"}, nil
}
func (f *fakeNet) Lookup(context.Context, int, string, time.Duration) ([]netip.Addr, error) {
	return nil, nil
}
func (f *fakeNet) Cut(_ int, as []netip.Addr) error {
	if f.cutErr != nil {
		return f.cutErr
	}
	f.cut = map[netip.Addr]bool{}
	for _, a := range as {
		f.cut[a] = true
	}
	return nil
}
func (f *fakeNet) Uncut(int) error              { f.cut = nil; f.uncuts++; return nil }
func (f *fakeNet) Rules(int) (bool, int, error) { return f.cut != nil, 2 * len(f.cut), nil }
func (f *fakeNet) IsHost(int) (bool, error)     { return false, nil }
func (f *fakeNet) Drops(int) (map[string]uint64, error) {
	return map[string]uint64{"input 10.96.0.21": 4, "output 10.96.0.21": 7}, nil
}

func (f *fakeNet) agent() agentNet {
	return agentNet{Net: f, inode: func(pid int) (uint64, error) {
		if pid == 1 && !f.hostNS {
			return 1, nil
		}
		return 2, nil
	}, cutAll: func(_ int, keep []netip.Addr) error {
		if f.cutErr != nil {
			return f.cutErr
		}
		f.kept = keep
		f.cut = map[netip.Addr]bool{}
		for _, ap := range []string{"10.96.0.21", "10.96.0.20", "10.244.0.12"} {
			f.cut[netip.MustParseAddr(ap)] = true
		}
		return nil
	}, gateway: func(string, int) (netip.Addr, error) { return netip.MustParseAddr("10.244.0.1"), nil }}
}

// fakeProc is a /proc with one process of pod uid (cgroupfs's path) and one of
// another pod (systemd's).
func fakeProc(t *testing.T, uid string) string {
	t.Helper()
	proc := t.TempDir()
	for pid, cg := range map[string]string{
		"42": "4:memory:/kubepods/besteffort/pod" + uid + "/0123456789abcdef\n",
		"43": "0::/kubepods.slice/kubepods-pod1111_2222.slice/cri-containerd-feed.scope\n",
	} {
		if err := os.MkdirAll(filepath.Join(proc, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(proc, pid, "cgroup"), []byte(cg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return proc
}

var natsProbe = []netip.AddrPort{netip.MustParseAddrPort("10.96.0.21:4222")}
var natsAddrs = []netip.Addr{netip.MustParseAddr("10.96.0.21"), netip.MustParseAddr("10.244.0.50")}

// The agent cuts a pod off from its peers with the record first, confirms by probes
// from the pod (none reached) and from itself (all reached), and undoes it: on
// uncut, or by itself past the record's time.
func TestAgentCutUncutAndSweep(t *testing.T) {
	ctx := context.Background()
	uid := "5f1c0a9e-aaaa-bbbb-cccc-000000000001"
	proc, state := fakeProc(t, uid), t.TempDir()
	n := &fakeNet{}
	var out bytes.Buffer
	until := time.Now().Add(time.Minute)
	if err := agentCut(ctx, &out, n.agent(), proc, state, uid, cutSpec{Addrs: natsAddrs, Probes: natsProbe}, until); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), " CUT off from 10.96.0.21, 10.244.0.50 (4 rules, pid 42)") || !strings.Contains(out.String(), "from the agent: 10.96.0.21:4222 connected") {
		t.Errorf("cut said %q", out.String())
	}
	if _, err := os.Stat(cutPath(state, uid)); err != nil {
		t.Fatalf("no record of the cut: %v", err)
	}
	sweepCuts(ctx, &out, n.agent(), proc, state, time.Now())
	if n.cut == nil {
		t.Fatal("the sweep undid a cut before its time")
	}
	out.Reset()
	sweepCuts(ctx, &out, n.agent(), proc, state, until.Add(time.Second))
	if n.cut != nil || !strings.Contains(out.String(), " UNCUT (pid 42): the table had dropped 4 packets from the peers and 7 to them") {
		t.Fatalf("sweep past its time: cut %v, said %q", n.cut, out.String())
	}
	if _, err := os.Stat(cutPath(state, uid)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("record left after the uncut: %v", err)
	}
	// The pod gone from the node: nothing to uncut, the record dropped.
	if err := agentCut(ctx, &out, n.agent(), proc, state, uid, cutSpec{Addrs: natsAddrs, Probes: natsProbe}, until); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(proc, "42")); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := agentUncut(ctx, &out, n.agent(), proc, state, uid, nil); err != nil || !strings.Contains(out.String(), "its network namespace went with it") {
		t.Fatalf("uncut of a gone pod: %v %q", err, out.String())
	}
	var ec *ExitCodeError
	if err := agentCut(ctx, &out, n.agent(), proc, state, uid, cutSpec{Addrs: natsAddrs, Probes: natsProbe}, until); !errors.As(err, &ec) || ec.Code != ExitUnhealthy {
		t.Errorf("cut of a pod not on the node: %v", err)
	}
}

// A cut is confirmed or undone: a peer down before the cut (nothing could tell its
// effect), a table that drops nothing, a peer the agent cannot reach either, a pod
// on the node's network, a missing capability.
func TestAgentCutRefusesWhatItCannotConfirm(t *testing.T) {
	ctx := context.Background()
	uid := "5f1c0a9e-aaaa-bbbb-cccc-000000000002"
	until := time.Now().Add(time.Minute)
	for name, tc := range map[string]struct {
		n    *fakeNet
		want string
	}{
		"peer down":    {&fakeNet{down: map[netip.AddrPort]bool{natsProbe[0]: true}}, "already cannot reach 10.96.0.21:4222"},
		"leaky":        {&fakeNet{leaky: true}, "still reaches 10.96.0.21:4222"},
		"host network": {&fakeNet{hostNS: true}, "hostNetwork"},
		"no caps":      {&fakeNet{cutErr: errors.New("operation not permitted")}, "agent.network"},
	} {
		t.Run(name, func(t *testing.T) {
			proc, state := fakeProc(t, uid), t.TempDir()
			var out bytes.Buffer
			err := agentCut(ctx, &out, tc.n.agent(), proc, state, uid, cutSpec{Addrs: natsAddrs, Probes: natsProbe}, until)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if tc.n.cut != nil {
				t.Error("a cut that failed was left in place")
			}
			if _, err := os.Stat(cutPath(state, uid)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a record of a cut that failed was left: %v", err)
			}
		})
	}
}

func TestPodPIDsFindsCgroupfsAndSystemdPaths(t *testing.T) {
	proc := fakeProc(t, "abcd-ef01")
	if pids, err := podPIDs(proc, "abcd-ef01"); err != nil || len(pids) != 1 || pids[0] != 42 {
		t.Errorf("cgroupfs: %v %v", pids, err)
	}
	if pids, err := podPIDs(proc, "1111-2222"); err != nil || len(pids) != 1 || pids[0] != 43 {
		t.Errorf("systemd: %v %v", pids, err)
	}
}

// A cut from everything probes the peers that answered before (one at least), keeps
// the node (--keep and the pod's default gateway) and the loopback, and confirms
// that no probed peer answers after.
func TestAgentCutAll(t *testing.T) {
	ctx := context.Background()
	uid := "5f1c0a9e-aaaa-bbbb-cccc-000000000003"
	proc, state := fakeProc(t, uid), t.TempDir()
	dead := netip.MustParseAddrPort("10.96.0.30:80")
	n := &fakeNet{down: map[netip.AddrPort]bool{dead: true}}
	var out bytes.Buffer
	spec := cutSpec{All: true, Keep: []netip.Addr{netip.MustParseAddr("10.201.0.1")}, Probes: []netip.AddrPort{natsProbe[0], dead, netip.MustParseAddrPort("10.244.0.12:3000")}}
	if err := agentCut(ctx, &out, n.agent(), proc, state, uid, spec, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "CUT off from everything but the loopback and 10.201.0.1, 10.244.0.1") || strings.Contains(out.String(), "10.96.0.30") {
		t.Errorf("cut said %q", out.String())
	}
	if len(n.kept) != 2 {
		t.Errorf("kept %v: want the node and the gateway", n.kept)
	}
	out.Reset()
	if err := agentUncut(ctx, &out, n.agent(), proc, state, uid, nil); err != nil || !strings.Contains(out.String(), "reaches 2 probed peers again") {
		t.Fatalf("uncut: %v %q", err, out.String())
	}
	// Nothing answers before: nothing could tell the cut.
	n = &fakeNet{down: map[netip.AddrPort]bool{dead: true}}
	spec.Probes = []netip.AddrPort{dead}
	if err := agentCut(ctx, &out, n.agent(), proc, state, uid, spec, time.Now().Add(time.Minute)); err == nil || !strings.Contains(err.Error(), "reaches none of the probed peers") {
		t.Errorf("no peer answered: %v", err)
	}
}

func TestDefaultGatewayReadsTheRouteTable(t *testing.T) {
	proc := t.TempDir()
	dir := filepath.Join(proc, "7", "net")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	route := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"eth0\t0000F40A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" +
		"eth0\t00000000\t0100F40A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
	if err := os.WriteFile(filepath.Join(dir, "route"), []byte(route), 0o644); err != nil {
		t.Fatal(err)
	}
	if gw, err := defaultGateway(proc, 7); err != nil || gw.String() != "10.244.0.1" {
		t.Errorf("gateway %v %v", gw, err)
	}
}
