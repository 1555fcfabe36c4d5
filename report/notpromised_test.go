package report

import (
	"bytes"
	"encoding/xml"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/invariants"
	"github.com/chaosd/chaosd/promise"
)

// neverBackFile writes a history of today's mesh: run r1's owner mesh-1 is killed at
// 4 s and never started again; the history ends at 300 s.
func neverBackFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "h.jsonl")
	w, err := history.Create(path, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	add := func(s float64, e history.Event) {
		t.Helper()
		e.Time = at(s)
		if _, err := w.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	add(0, history.MetaEvent(history.Meta{Phase: history.MetaBegin, Pods: []string{"mesh-1", "mesh-2"}, Promises: promise.Current,
		HeartbeatTTL: history.Duration(45 * time.Second), HeartbeatInterval: history.Duration(10 * time.Second), BootTime: history.Duration(30 * time.Second)}))
	add(1, history.OpEvent(history.Op{ID: 1, Name: history.OpStartRun, Phase: history.PhaseInvoke, Run: "r1", Thread: "t1", Pod: "mesh-1", Chunks: 20, Expect: history.Duration(10 * time.Second)}))
	add(1, history.OpEvent(history.Op{ID: 1, Name: history.OpStartRun, Phase: history.PhaseOK, Run: "r1", Thread: "t1", Pod: "mesh-1"}))
	for s := 2.0; s <= 300; s += 2 {
		if s == 4 {
			f := history.Fault{ID: "f1", Kind: history.KindKill, Pod: "mesh-1", Run: "r1", Target: "owner", At: at(4)}
			f.Phase = history.FaultIntent
			add(4, history.FaultEvent(f))
			f.Phase = history.FaultInjected
			add(4, history.FaultEvent(f))
			add(4, history.DockerEvent(history.Docker{Action: history.DockerDie, Pod: "mesh-1", ByChaosd: true, Fault: "f1", At: at(4)}))
		}
		add(s, history.ProbeEvent(history.Probe{Kind: history.ProbeThread, Run: "r1", Thread: "t1",
			ThreadState: &history.ThreadState{Status: history.StatusInProgress, Owner: "mesh-1"}}, at(s)))
	}
	add(300, history.MetaEvent(history.Meta{Phase: history.MetaEnd}))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestNotPromisedIsSkippedNeverPassedNorFailed(t *testing.T) {
	d, err := FromFile(neverBackFile(t), invariants.Params{})
	if err != nil {
		t.Fatal(err)
	}
	var rc invariants.Verdict
	for _, v := range d.Verdicts.Verdicts {
		if v.Name == invariants.NameRestartRecovers {
			rc = v
		}
	}
	if rc.Status != invariants.NotPromised {
		t.Fatalf("restart-recovers %s, want not-promised: %v", rc.Status, rc.Notes)
	}
	var j, h, m bytes.Buffer
	if err := WriteJUnit(&j, d); err != nil {
		t.Fatal(err)
	}
	var suites junitSuites
	if err := xml.Unmarshal(j.Bytes(), &suites); err != nil {
		t.Fatal(err)
	}
	s := suites.Suites[0]
	for _, c := range s.Cases {
		if c.Name == invariants.NameRestartRecovers && (c.Skipped == nil || c.Failure != nil || !strings.HasPrefix(c.Skipped.Message, "not-promised: not promised: run r1")) {
			t.Errorf("junit case %+v", c)
		}
	}
	if s.Skipped != 2 { // restart-recovers and run-completes
		t.Errorf("junit: %d skipped, want 2\n%s", s.Skipped, j.String())
	}
	if err := WriteHTML(&h, d); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h.String(), `<td class="not-promised">not-promised</td>`) || !strings.Contains(h.String(), ".not-promised{") {
		t.Error("the page does not render not-promised")
	}
	if err := WriteMarkdown(&m, d); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.String(), "| restart-recovers | not-promised |") || !strings.Contains(m.String(), "owner-alive: not promised by this mesh") {
		t.Errorf("markdown:\n%s", m.String())
	}
}
