package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The agent finds a container's processes by the last element of their cgroup path,
// cgroupfs's .../pod<uid>/<id> and systemd's cri-containerd-<id>.scope alike, and no
// other container's.
func TestContainerPIDs(t *testing.T) {
	proc := t.TempDir()
	id := "3f2a9c0d1e4b5a6978877665544332211"
	for pid, cg := range map[string]string{
		"10":  "12:memory:/kubepods/besteffort/pod1234/" + id + "\n11:cpu:/kubepods/besteffort/pod1234/" + id + "\n",
		"11":  "0::/kubepods.slice/kubepods-pod1234.slice/cri-containerd-" + id + ".scope\n",
		"12":  "12:memory:/kubepods/besteffort/pod1234/ffff" + id[4:] + "\n",
		"13":  "12:memory:/docker/" + id + "x\n",
		"abc": "12:memory:/kubepods/besteffort/pod1234/" + id + "\n",
	} {
		if err := os.MkdirAll(filepath.Join(proc, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(proc, pid, "cgroup"), []byte(cg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pids, err := containerPIDs(proc, id)
	if err != nil || !reflect.DeepEqual(pids, []int{10, 11}) {
		t.Errorf("pids %v (%v), want [10 11]", pids, err)
	}
}

// The agent freezes a container's cgroup (v1's freezer hierarchy) with the record
// written first, thaws it on request, and thaws by itself what is past its time:
// what chaosd paused is thawed even when chaosd and its watchdog are gone.
func TestAgentFreezeThawAndSweep(t *testing.T) {
	proc, root, state := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "state")
	id := "3f2a9c0d1e4b5a6978877665544332211"
	cg := "/kubepods/besteffort/pod1234/" + id
	if err := os.MkdirAll(filepath.Join(proc, "10"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proc, "10", "cgroup"), []byte("12:memory:"+cg+"\n6:freezer:"+cg+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "freezer", cg)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	stateOf := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "freezer.state"))
		return string(b)
	}
	var out strings.Builder
	until := time.Now().Add(time.Hour)
	if err := agentFreeze(&out, proc, root, state, id, until); err != nil || stateOf() != "FROZEN" || !strings.Contains(out.String(), "FROZEN") {
		t.Fatalf("freeze: %v, state %q, said %q", err, stateOf(), out.String())
	}
	if _, err := os.Stat(recordPath(state, id)); err != nil {
		t.Fatalf("no record of the freeze: %v", err)
	}
	sweepFreezes(&out, proc, root, state, time.Now())
	if stateOf() != "FROZEN" {
		t.Fatal("the sweep thawed a freeze before its time")
	}
	sweepFreezes(&out, proc, root, state, until.Add(time.Second))
	if stateOf() != "THAWED" {
		t.Fatalf("the sweep past its time left %q", stateOf())
	}
	if _, err := os.Stat(recordPath(state, id)); !os.IsNotExist(err) {
		t.Fatalf("the record outlived the thaw: %v", err)
	}
	// A thaw on request, with no record left (thawed already, or lost): the cgroup as
	// found now.
	if err := agentFreeze(&out, proc, root, state, id, until); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(recordPath(state, id))
	if err := agentThaw(&out, proc, root, state, id); err != nil || stateOf() != "THAWED" {
		t.Fatalf("thaw: %v, state %q", err, stateOf())
	}
	if err := agentFreeze(&out, proc, root, state, "ffff0d1e4b5a6978877665544332211", until); err == nil {
		t.Fatal("freezing a container with no process here must fail")
	}
}
