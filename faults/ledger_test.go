package faults

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func tempLedger(t *testing.T) *Ledger {
	t.Helper()
	l, err := OpenLedger(filepath.Join(t.TempDir(), "state", "ledger.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func TestLedgerFoldsRecordsIntoFaults(t *testing.T) {
	l := tempLedger(t)
	dl := time.Now().Add(time.Minute).Round(0)
	later := dl.Add(time.Second)
	must(t, l.Append(Record{Op: OpInject, Fault: "a", Kind: "pause", Target: &Target{ID: "x", Pod: "mesh-1"}, Undo: []byte(`{"container":"x"}`), Deadline: dl}))
	must(t, l.Append(Record{Op: OpInject, Fault: "b", Kind: "kill", Target: &Target{ID: "y", Pod: "mesh-2"}, Deadline: dl}))
	must(t, l.Append(Record{Op: OpConfirmed, Fault: "a", Deadline: later}))
	must(t, l.Append(Record{Op: OpHealFailed, Fault: "b", Error: "docker down"}))
	must(t, l.Append(Record{Op: OpHeal, Fault: "b", Outcome: Healed, By: ByRecover}))
	must(t, l.Append(Record{Op: OpHeal, Fault: "zzz", Outcome: Healed})) // its inject line is lost: ignored

	st, err := l.Read()
	must(t, err)
	if got := len(st.Order); got != 2 {
		t.Fatalf("faults: %d, want 2", got)
	}
	a, b := st.Get("a"), st.Get("b")
	if !a.Open() || !a.Deadline.Equal(later) || a.Confirmed == nil || string(a.Inject.Undo) != `{"container":"x"}` {
		t.Errorf("a: open %v, deadline %v (want the confirmed one %v), undo %s", a.Open(), a.Deadline, later, a.Inject.Undo)
	}
	if b.Open() || b.Heal.By != ByRecover || len(b.Failures) != 1 {
		t.Errorf("b: open %v, heal %+v, failures %d", b.Open(), b.Heal, len(b.Failures))
	}
	if open := st.Open(); len(open) != 1 || open[0].ID() != "a" {
		t.Errorf("open faults: %v", open)
	}
}

func TestLedgerSurvivesATornLastLine(t *testing.T) {
	l := tempLedger(t)
	must(t, l.Append(Record{Op: OpInject, Fault: "a", Kind: "pause", Target: &Target{ID: "x"}}))
	must(t, l.Close())
	// A crash in the middle of a write leaves half a line without its newline.
	f, err := os.OpenFile(l.Path(), os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	_, _ = f.WriteString(`{"v":1,"op":"heal","fault":"a","outc`)
	must(t, f.Close())

	l2, err := OpenLedger(l.Path())
	must(t, err)
	defer l2.Close()
	must(t, l2.Append(Record{Op: OpInject, Fault: "b", Kind: "kill", Target: &Target{ID: "y"}}))
	st, err := l2.Read()
	must(t, err)
	if st.Bad != 1 || len(st.Open()) != 2 {
		t.Fatalf("bad lines %d (want 1), open %d (want 2: the torn heal does not count)", st.Bad, len(st.Open()))
	}
	data, _ := os.ReadFile(l.Path())
	if lines := strings.Count(string(data), "\n"); lines != 3 {
		t.Errorf("%d lines, want 3 (the torn one terminated, then b):\n%s", lines, data)
	}
}

func TestLedgerMissingFileIsEmpty(t *testing.T) {
	st, err := ReadLedger(filepath.Join(t.TempDir(), "none.jsonl"))
	if err != nil || len(st.Open()) != 0 {
		t.Fatalf("state %+v, err %v", st, err)
	}
}

func TestLedgerLockExcludes(t *testing.T) {
	l := tempLedger(t)
	unlock, err := l.Lock(context.Background())
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := l.Lock(ctx); err == nil {
		t.Fatal("a second lock was granted while the first is held")
	}
	unlock()
	unlock2, err := l.Lock(context.Background())
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()
}

func TestFaultIDsSortByTime(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	a, b := newFaultID(t0), newFaultID(t0.Add(time.Second))
	if !strings.HasPrefix(a, "f-20260501T120000-") || a >= b {
		t.Fatalf("ids %q, %q", a, b)
	}
}

func TestProcessAliveness(t *testing.T) {
	if !Self().Alive() {
		t.Fatal("this process is not alive")
	}
	gone := Self()
	gone.Start++ // same pid, other start time: a reused pid
	if gone.Alive() {
		t.Fatal("a reused pid counts as alive")
	}
	if (Process{PID: 1 << 30}).Alive() {
		t.Fatal("a missing pid counts as alive")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
