package testbed

import (
	"strings"
	"testing"
)

func TestStartDropper(t *testing.T) {
	run := []Chunk{{Type: ChunkStart, MessageID: "msg_1"}, {Type: ChunkStartStep}, {Type: ChunkTextStart, ID: "txt-0"},
		{Type: ChunkTextDelta, ID: "txt-0", Delta: "chunk-1 "}, {Type: ChunkTextEnd, ID: "txt-0"}, {Type: ChunkFinishStep},
		{Type: ChunkFinish}, {Type: ChunkStart, MessageID: "msg_2"}}
	var msgs [][]byte
	for _, c := range run {
		msgs = append(msgs, encodeChunk(c, 0))
	}
	msgs = append(msgs, encodeDone(0))
	kept := func(d *startDropper) []string {
		var out []string
		for _, m := range msgs {
			if d.keep(m) {
				if c, ok := chunkOf(m); ok {
					out = append(out, string(c))
				} else {
					out = append(out, "done")
				}
			}
		}
		return out
	}
	if got := kept(nil); len(got) != len(msgs) {
		t.Fatalf("no dropper kept %d of %d", len(got), len(msgs))
	}
	got := kept(&startDropper{})
	if len(got) != len(msgs)-1 || strings.Contains(got[0], "msg_1") || !strings.Contains(got[0], ChunkStartStep) ||
		!strings.Contains(strings.Join(got, " "), "msg_2") {
		t.Fatalf("dropper kept %q: want all but the first start", got)
	}
}

func TestIssue15SwitchesMesh(t *testing.T) {
	for _, tt := range []struct {
		bug     Bug
		may, cu bool
	}{{BugZombieOwner, true, false}, {BugReplayLosesStart, true, true}, {BugReadyButFailing, true, true}} {
		b, err := ParseBugs(string(tt.bug))
		if err != nil {
			t.Fatal(err)
		}
		if ok := b.forMesh(MeshMay) == nil; ok != tt.may {
			t.Errorf("%s in 2026-05: allowed %v, want %v", tt.bug, ok, tt.may)
		}
		if ok := b.forMesh(MeshCurrent) == nil; ok != tt.cu {
			t.Errorf("%s in current: allowed %v, want %v", tt.bug, ok, tt.cu)
		}
	}
}
