package probes

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestMockChunkIndex(t *testing.T) {
	cases := map[string]int{"chunk-1 ": 1, "chunk-20 ": 20, "chunk-0 ": 0, "chunk-1": 0, "chunk-01 ": 0, "chunk-x ": 0, "hello": 0, "chunk--1 ": 0}
	for in, want := range cases {
		got, ok := MockChunkIndex(in)
		if ok != (want > 0) || got != want {
			t.Errorf("MockChunkIndex(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
}

func tallyOf(deltas []string, finish bool) *Tally {
	t := NewTally()
	t.Add(Chunk{Type: ChunkStart})
	for _, d := range deltas {
		t.Add(Chunk{Type: ChunkTextDelta, Delta: d})
	}
	if finish {
		t.Add(Chunk{Type: ChunkFinish})
	}
	return t
}

func TestTallyCheck(t *testing.T) {
	seq := func(idx ...int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, "chunk-"+strconv.Itoa(i)+" ")
		}
		return out
	}
	cases := []struct {
		name   string
		deltas []string
		finish bool
		want   []string
	}{
		{"exact", seq(1, 2, 3), true, nil},
		{"missing prefix", seq(3), true, []string{"missing chunks 1-2"}},
		{"duplicate", seq(1, 2, 1, 2, 3), true, []string{"duplicated chunks 1-2", "out of order: chunk-1 after chunk-2"}},
		{"beyond", seq(1, 2, 3, 4), true, []string{"1 chunks beyond chunk-3"}},
		{"no finish", seq(1, 2, 3), false, []string{"no finish chunk"}},
		{"foreign", append(seq(1, 2, 3), "hi"), true, []string{`1 foreign text deltas, first "hi"`}},
	}
	failed := tallyOf(seq(1), false)
	failed.Add(Chunk{Type: ChunkError, ErrorText: "provider said 429"})
	if got := failed.Check(1); !reflect.DeepEqual(got, []string{"the run failed: provider said 429", "no finish chunk"}) {
		t.Errorf("failed run: got %q", got)
	}
	for _, c := range cases {
		got := tallyOf(c.deltas, c.finish).Check(3)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

func TestRanges(t *testing.T) {
	if got := Ranges([]int{1, 2, 3, 7, 9, 10}); got != "1-3,7,9-10" {
		t.Fatalf("got %q", got)
	}
	if got := Ranges(nil); got != "" {
		t.Fatalf("got %q", got)
	}
}

func TestParseChunk(t *testing.T) {
	c, err := ParseChunk([]byte(`{"type":"text-delta","id":"t1","delta":"chunk-1 "}`))
	if err != nil || c.Type != ChunkTextDelta || c.Delta != "chunk-1 " || c.ID != "t1" {
		t.Fatalf("got %+v, %v", c, err)
	}
	if _, err := ParseChunk([]byte(`{"delta":"x"}`)); err == nil || !strings.Contains(err.Error(), "no type") {
		t.Fatalf("want no-type error, got %v", err)
	}
	if _, err := ParseChunk([]byte(`{`)); err == nil {
		t.Fatal("want JSON error")
	}
}

func TestMockReply(t *testing.T) {
	if got := MockReply(3); got != "chunk-1 chunk-2 chunk-3 " {
		t.Fatalf("MockReply(3) = %q", got)
	}
	if got := MockReply(0); got != "" {
		t.Fatalf("MockReply(0) = %q", got)
	}
}

// A start chunk after text marks where the reply began again (today's mesh keeps a
// dead attempt's log, then the new attempt from its own start); the first start and
// repeated starts at one place mark nothing.
func TestTallyRestarts(t *testing.T) {
	tl := NewTally()
	add := func(typ, delta string) { tl.Add(Chunk{Type: typ, Delta: delta}) }
	add(ChunkStart, "")
	add(ChunkTextDelta, "chunk-1 ")
	add(ChunkTextDelta, "chunk-2 ")
	add(ChunkStart, "")
	add(ChunkStart, "")
	add(ChunkTextDelta, "chunk-1 ")
	if len(tl.Restarts) != 1 || tl.Restarts[0] != 2 {
		t.Fatalf("Restarts = %v, want [2]", tl.Restarts)
	}
}
