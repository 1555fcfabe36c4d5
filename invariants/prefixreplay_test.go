package invariants

import (
	"strings"
	"testing"
	"time"

	"github.com/chaosd/chaosd/history"
)

// A late attach that received no chunk at all before its stream ended, its own pod
// not faulted (the run over and purged before it opened, a rollout), is not a
// prefix-replay case: an empty prefix proves nothing, and it is said in a note, not
// counted as a pass (seen in a 10-minute soak with every kind: 9 such attaches had
// counted as passes under "not recorded by type (an older history)").
func TestPrefixReplayEmptyLateAttachIsNoCase(t *testing.T) {
	h := &hist{}
	h.at(0).begin()
	h.readyAll(1)
	h.at(2).start("r1", "mesh-1", 20, 5*time.Second)
	h.at(8).watch("r1", "w1", "mesh-1", false, 0, 2, "1-20", true, "")
	h.at(8).watch("r1", "w2", "mesh-2", true, 3, 3, "1-20", true, "")
	h.at(14).add(history.WatchEvent(history.Watch{Watcher: "w3", Run: "r1", Thread: "t-r1", Pod: "mesh-3", Late: true, K: 20,
		OpenedAt: sec(8.1), Err: "attach stream ended before the finish chunk"}))
	r := h.at(20).end().report(Params{})
	v := expect(t, r, NamePrefixReplay, Pass)
	if v.Checks != 1 {
		t.Errorf("%d cases, want the one late attach that received its prefix:\n%s", v.Checks, dump(v))
	}
	if notes := strings.Join(v.Notes, "\n"); !strings.Contains(notes, "1 late watcher received no chunk before their stream ended") || strings.Contains(notes, "1 not recorded by type") {
		t.Errorf("notes:\n%s", notes)
	}
}
