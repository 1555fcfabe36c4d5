package netns

import (
	"net/netip"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// inNewNamespace starts a process in a network namespace of its own (root only) and
// returns its pid.
func inNewNamespace(t *testing.T) int {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: a network namespace of its own")
	}
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start a process in a new network namespace: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd.Process.Pid
}

// The tables chaosd writes, read back from the kernel: a cut from peers (a drop per
// peer and direction) and a cut from everything (loopback and the kept addresses
// accepted, the rest dropped and counted); an uncut leaves no table.
func TestCutsInARealNamespace(t *testing.T) {
	pid := inNewNamespace(t)
	peers := []netip.Addr{netip.MustParseAddr("10.96.0.21"), netip.MustParseAddr("fd00::5")}
	if err := Cut(pid, peers); err != nil {
		t.Fatal(err)
	}
	if present, rules, err := Rules(pid); err != nil || !present || rules != 4 {
		t.Fatalf("cut from 2 peers: present %v, %d rules, %v; want 4 rules", present, rules, err)
	}
	if d, err := Drops(pid); err != nil || len(d) != 4 {
		t.Errorf("drops %v %v: want a counter per peer and direction", d, err)
	}
	keep := []netip.Addr{netip.MustParseAddr("10.201.0.1"), netip.MustParseAddr("10.244.0.1")}
	if err := CutAllBut(pid, keep); err != nil {
		t.Fatal(err)
	}
	// Per chain: loopback, 2 kept addresses, the drop.
	if present, rules, err := Rules(pid); err != nil || !present || rules != 8 {
		t.Fatalf("cut from everything but 2: present %v, %d rules, %v; want 8", present, rules, err)
	}
	d, err := Drops(pid)
	if _, in := d["input all"]; err != nil || !in || len(d) != 2 {
		t.Errorf("drops %v %v: want input all and output all", d, err)
	}
	if err := Uncut(pid); err != nil {
		t.Fatal(err)
	}
	if present, _, err := Rules(pid); err != nil || present {
		t.Errorf("after uncut: present %v, %v", present, err)
	}
}

func TestCutRefusesTheHostNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if err := CutAllBut(os.Getpid(), nil); err != ErrHostNamespace {
		t.Errorf("cut of chaosd's own namespace: %v", err)
	}
}
