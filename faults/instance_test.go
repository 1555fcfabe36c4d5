package faults

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// flock is per open file description: two LockInstance calls of one process conflict
// as two processes' do.
func TestInstanceLockRefusesASecondChaosdNamingTheFirst(t *testing.T) {
	path := InstanceLockPath(filepath.Join(t.TempDir(), "branch", "ledger.jsonl"), "branch")
	first, err := LockInstance(context.Background(), path, "branch", LockOptions{Args: []string{"chaosd", "soak", "--duration=8h"}})
	must(t, err)
	t0 := time.Now()
	_, err = LockInstance(context.Background(), path, "branch", LockOptions{Args: []string{"chaosd", "--fault=kill-owner"}})
	var held *HeldError
	if !errors.As(err, &held) {
		t.Fatalf("second lock: %v, want a HeldError", err)
	}
	if took := time.Since(t0); took > 2*time.Second {
		t.Errorf("refused after %s, want at once", took)
	}
	msg := err.Error()
	for _, want := range []string{fmt.Sprintf("pid %d", os.Getpid()), "chaosd soak --duration=8h", "target branch", path, "--wait-lock", "refused at once"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal %q does not say %q", msg, want)
		}
	}
	h, ok, err := LockHolder(path)
	must(t, err)
	if !ok || h.PID != os.Getpid() || h.Scope != "branch" {
		t.Errorf("LockHolder while held: %+v %v", h, ok)
	}
	must(t, first.Close())
	if _, ok, err := LockHolder(path); ok || err != nil {
		t.Errorf("LockHolder after release: held %v, %v", ok, err)
	}
	again, err := LockInstance(context.Background(), path, "branch", LockOptions{})
	must(t, err)
	must(t, again.Close())
}

func TestInstanceLockWaits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chaosd-x.lock")
	first, err := LockInstance(context.Background(), path, "x", LockOptions{})
	must(t, err)
	go func() { time.Sleep(300 * time.Millisecond); _ = first.Close() }()
	var told Holder
	second, err := LockInstance(context.Background(), path, "x", LockOptions{Wait: 10 * time.Second, OnWait: func(h Holder) { told = h }})
	if err != nil {
		t.Fatalf("waiting lock: %v", err)
	}
	must(t, second.Close())
	if told.PID != os.Getpid() {
		t.Errorf("OnWait told %+v, want the holder", told)
	}

	// A bounded wait ends with the refusal; waiting forever ends with ctx.
	third, err := LockInstance(context.Background(), path, "x", LockOptions{})
	must(t, err)
	defer third.Close()
	_, err = LockInstance(context.Background(), path, "x", LockOptions{Wait: 300 * time.Millisecond})
	var held *HeldError
	if !errors.As(err, &held) || held.Waited < 300*time.Millisecond || !strings.Contains(err.Error(), "waited") {
		t.Errorf("bounded wait: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := LockInstance(ctx, path, "x", LockOptions{Forever: true}); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "gave up waiting") {
		t.Errorf("wait until ctx ends: %v", err)
	}
}

// holdLockEnv makes the test binary a helper process that holds a lock until killed.
const holdLockEnv = "CHAOSD_TEST_HOLD_LOCK"

func TestHelperHoldLock(t *testing.T) {
	path := os.Getenv(holdLockEnv)
	if path == "" {
		t.Skip("a helper process of TestInstanceLockAcrossProcesses")
	}
	l, err := LockInstance(context.Background(), path, "branch", LockOptions{Args: []string{"chaosd", "soak", "--helper"}})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(3)
	}
	defer l.Close()
	fmt.Println("locked")
	time.Sleep(time.Minute)
}

// holdInChild starts a helper process holding the instance lock at path.
func holdInChild(t *testing.T, path string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldLock$")
	cmd.Env = append(os.Environ(), holdLockEnv+"="+path)
	out, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	buf := make([]byte, 64)
	n, _ := out.Read(buf)
	if !strings.Contains(string(buf[:n]), "locked") {
		t.Fatalf("helper: %q", buf[:n])
	}
	return cmd
}

func TestInstanceLockAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chaosd-branch.lock")
	child := holdInChild(t, path)
	_, err := LockInstance(context.Background(), path, "branch", LockOptions{})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("pid %d (chaosd soak --helper)", child.Process.Pid)) {
		t.Fatalf("refusal: %v, want the helper's pid %d and command", err, child.Process.Pid)
	}
	// The kernel drops the lock with the process, however it ends.
	must(t, child.Process.Kill())
	_ = child.Wait()
	l, err := LockInstance(context.Background(), path, "branch", LockOptions{Wait: 5 * time.Second})
	must(t, err)
	must(t, l.Close())
}

// Recovery heals only its own target's faults, never one whose target a live chaosd
// holds, and a fault of its own scope whose lock it holds itself.
func TestRecoverHealsOnlyItsOwnTargetAndNothingHeld(t *testing.T) {
	l := tempLedger(t)
	past := time.Now().Add(-time.Second)
	add := func(scope string) string {
		id := newFaultID(time.Now()) + scope
		must(t, l.Append(Record{Op: OpInject, Fault: id, Kind: "kill", Target: &Target{ID: "c-" + scope, Pod: "mesh-1"}, Deadline: past, Owner: deadProcess(), Scope: scope}))
		return id
	}
	mine, other, busy, legacy := add("branch"), add("main"), add("busy"), add("")
	holdInChild(t, InstanceLockPath(l.Path(), "busy"))
	own, err := LockInstance(context.Background(), InstanceLockPath(l.Path(), "branch"), "branch", LockOptions{})
	must(t, err)
	defer own.Close()

	st, err := l.Read()
	must(t, err)
	got := map[string]string{}
	for _, r := range RecoverState(context.Background(), st, nil, RecoverOptions{DryRun: true, Scope: "branch", Ledger: l.Path()}) {
		got[r.Entry.ID()] = r.Skipped
	}
	if got[mine] != "" || got[legacy] != "" {
		t.Errorf("own fault and a fault without a scope: skipped %q, %q; want healed", got[mine], got[legacy])
	}
	if !strings.Contains(got[other], "a fault of target main, not of this one (branch)") {
		t.Errorf("another target's fault: %q", got[other])
	}
	if !strings.Contains(got[busy], "a fault of target busy") {
		t.Errorf("another target's fault, its chaosd alive: %q", got[busy])
	}
	// chaosd recover of target busy, while its chaosd lives: left alone unless forced.
	for force, want := range map[bool]string{false: "held by a live chaosd of target busy: pid", true: ""} {
		for _, r := range RecoverState(context.Background(), st, nil, RecoverOptions{DryRun: true, Scope: "busy", Ledger: l.Path(), Force: force}) {
			if r.Entry.ID() == busy && (want == "" && r.Skipped != "" || want != "" && (!strings.Contains(r.Skipped, want) || !strings.Contains(r.Skipped, "chaosd soak --helper"))) {
				t.Errorf("force %v: %q", force, r.Skipped)
			}
		}
	}
}
