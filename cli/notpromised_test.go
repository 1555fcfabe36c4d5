package cli

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/invariants"
	"github.com/chaosd/chaosd/promise"
)

// TestAnalyzeNotPromised: on today's mesh (restart-recovery promised, survivor
// takeover not), a run whose owner was killed and never came back is not promised to
// complete: not-promised, exit 2, never a pass nor a fail.
func TestAnalyzeNotPromised(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.jsonl")
	w, err := history.Create(path, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	add := func(s int, e history.Event) {
		t.Helper()
		e.Time = t0.Add(time.Duration(s) * time.Second)
		if _, err := w.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	add(0, history.MetaEvent(history.Meta{Phase: history.MetaBegin, Pods: []string{"mesh-1", "mesh-2"}, Promises: promise.Current}))
	add(1, history.OpEvent(history.Op{ID: 1, Name: history.OpStartRun, Phase: history.PhaseInvoke, Run: "r1", Thread: "t1", Pod: "mesh-1", Chunks: 20, Expect: history.Duration(10 * time.Second)}))
	for s := 2; s <= 300; s += 2 {
		if s == 4 {
			add(4, history.FaultEvent(history.Fault{ID: "f1", Phase: history.FaultInjected, Kind: history.KindKill, Pod: "mesh-1", Run: "r1", At: t0.Add(4 * time.Second)}))
		}
		add(s, history.ProbeEvent(history.Probe{Kind: history.ProbeThread, Run: "r1", Thread: "t1",
			ThreadState: &history.ThreadState{Status: history.StatusInProgress, Owner: "mesh-1"}}, t0.Add(time.Duration(s)*time.Second)))
	}
	add(300, history.MetaEvent(history.Meta{Phase: history.MetaEnd}))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "analyze", "--progress", "off", path)
	if code != ExitError {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, ExitError, out, errOut)
	}
	for _, line := range strings.Split(out, "\n") {
		if (strings.HasPrefix(line, "restart-recovers ") || strings.HasPrefix(line, "run-completes ")) && !strings.Contains(line, " NOT-PROMISED ") {
			t.Errorf("not NOT-PROMISED: %s", line)
		}
	}
	for _, want := range []string{"not promised: run r1: its owner mesh-1 went down",
		"note: owner-alive: not promised by this mesh (survivor-takeover: a survivor takes over a dead owner's run)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "not promised") {
		t.Errorf("stderr %q", errOut)
	}
}

func TestVerdictExitNotPromised(t *testing.T) {
	var ec *ExitCodeError
	if err := verdictExit(invariants.NotPromised); !errors.As(err, &ec) || ec.Code != ExitError {
		t.Fatalf("not-promised: %v, want exit %d", err, ExitError)
	}
}
