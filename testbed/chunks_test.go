package testbed

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"unicode/utf8"
)

func types(cs []Chunk) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Type
		if c.Type == ChunkTextDelta {
			out[i] += ":" + c.Delta
		}
	}
	return out
}

func scriptOf(deltas []string, ended bool) *script {
	s := newScript("thread-run:t:m")
	s.begun, s.deltas, s.ended = true, deltas, ended
	return s
}

func TestPendingFreshRun(t *testing.T) {
	got := types(scriptOf([]string{"chunk-1 ", "chunk-2 "}, true).pending(progress{}))
	want := []string{"start", "start-step", "text-start", "text-delta:chunk-1 ", "text-delta:chunk-2 ", "text-end", "finish-step", "finish"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

func TestPendingSkipsWhatTheBufferHolds(t *testing.T) {
	s := scriptOf([]string{"chunk-1 ", "chunk-2 ", "chunk-3 "}, false)
	held := progress{Started: true, StepStarted: true, TextStarted: true, Text: len("chunk-1 chunk-2 ")}
	if got, want := types(s.pending(held)), []string{"text-delta:chunk-3 "}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// The re-streamed reply has not reached the buffer's end yet: nothing to publish.
	if got := s.pending(progress{Started: true, StepStarted: true, TextStarted: true, Text: 100}); len(got) != 0 {
		t.Fatalf("got %v, want nothing", types(got))
	}
	// A delta that straddles the buffer's end is cut where the buffer ends.
	if got, want := types(s.pending(progress{Started: true, StepStarted: true, TextStarted: true, Text: 4})), []string{"text-delta:k-1 ", "text-delta:chunk-2 ", "text-delta:chunk-3 "}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestPendingEndAndError(t *testing.T) {
	s := scriptOf(nil, true)
	if got, want := types(s.pending(progress{})), []string{"start", "start-step", "finish-step", "finish"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("empty reply: got %v, want %v", got, want)
	}
	if got := s.pending(progress{Finished: true}); len(got) != 0 {
		t.Fatalf("finished run: got %v", types(got))
	}
	s = scriptOf([]string{"a"}, false)
	s.errText = "provider error: 429"
	if got, want := types(s.pending(progress{Started: true, StepStarted: true})), []string{"text-start", "text-delta:a", "error"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("error: got %v, want %v", got, want)
	}
	if got := (&script{}).pending(progress{}); got != nil {
		t.Fatalf("script not begun: got %v", types(got))
	}
}

func TestProgressReaderFollowsItsOwnRun(t *testing.T) {
	mine, other := messageIDFor("thread-run:t:1"), messageIDFor("thread-run:t:0")
	var msgs [][]byte
	add := func(c Chunk) { msgs = append(msgs, encodeChunk(c, 0)) }
	add(Chunk{Type: ChunkStart, MessageID: other})
	add(Chunk{Type: ChunkTextDelta, Delta: "old "})
	msgs = append(msgs, encodeDone(0))
	add(Chunk{Type: ChunkStart, MessageID: mine})
	add(Chunk{Type: ChunkStartStep})
	add(Chunk{Type: ChunkTextStart, ID: "txt-0"})
	add(Chunk{Type: ChunkTextDelta, ID: "txt-0", Delta: "chunk-1 "})
	msgs = append(msgs, []byte("not json"))
	r := progressReader{messageID: mine}
	for _, m := range msgs {
		r.add(m)
	}
	want := progress{Started: true, StepStarted: true, TextStarted: true, Text: len("chunk-1 ")}
	if r.prog != want {
		t.Fatalf("got %+v, want %+v", r.prog, want)
	}
	r.add(encodeChunk(Chunk{Type: ChunkFinish}, 0))
	r.add(encodeDone(0))
	r.add(encodeChunk(Chunk{Type: ChunkStart, MessageID: other}, 0)) // a later run does not reset ours
	if !r.prog.Finished || !r.prog.Done {
		t.Fatalf("got %+v, want finished and done", r.prog)
	}
	empty := progressReader{messageID: messageIDFor("thread-run:t:2")}
	for _, m := range msgs {
		empty.add(m)
	}
	if empty.prog != (progress{}) {
		t.Fatalf("a run absent from the buffer: got %+v", empty.prog)
	}
}

func TestEncodeChunkAndChunkOf(t *testing.T) {
	b := encodeChunk(Chunk{Type: ChunkTextDelta, ID: "txt-0", Delta: "chunk-1 "}, 0)
	if string(b) != `{"p":{"type":"text-delta","id":"txt-0","delta":"chunk-1 "}}` {
		t.Fatalf("encoded %s", b)
	}
	c, ok := chunkOf(b)
	if !ok || string(c) != `{"type":"text-delta","id":"txt-0","delta":"chunk-1 "}` {
		t.Fatalf("chunkOf: %s %v", c, ok)
	}
	for _, in := range []string{`{"done":true}`, `nope`, `{"p":null}`, `{}`} {
		if _, ok := chunkOf([]byte(in)); ok {
			t.Errorf("chunkOf(%s) forwarded", in)
		}
	}
	if !isDoneMessage(encodeDone(0)) || isDoneMessage(b) || isDoneMessage(nil) {
		t.Fatal("isDoneMessage")
	}
}

func TestMessageIDIsStable(t *testing.T) {
	a, b := messageIDFor("thread-run:x:1"), messageIDFor("thread-run:x:1")
	if a != b || a == messageIDFor("thread-run:x:2") || len(a) != len("msg_")+24 {
		t.Fatalf("%s %s", a, b)
	}
}

func TestValidThreadID(t *testing.T) {
	for _, ok := range []string{"thrd_test_1715000000000_abcdef12", "a", "x-y_z:1"} {
		if !validThreadID(ok) {
			t.Errorf("%q rejected", ok)
		}
	}
	for _, bad := range []string{"", "a.b", "a*", "a>", "a b", "a\tb", string(make([]byte, 129)), "ü"} {
		if validThreadID(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzChunkRoundTrip(f *testing.F) {
	f.Add("chunk-1 ", 3)
	f.Fuzz(func(t *testing.T, delta string, held int) {
		s := scriptOf(nil, true)
		s.add(delta)
		s.add(delta)
		if delta = s.deltas[0]; delta == "" {
			return
		}
		held = max(0, min(held, 2*len(delta)))
		for !utf8.RuneStart((delta + delta + " ")[held]) { // the buffer ends between runes
			held--
		}
		p := progress{Started: true, StepStarted: true, TextStarted: true, Text: held}
		var text string
		for _, c := range s.pending(p) {
			var back envelope
			if err := json.Unmarshal(encodeChunk(c, 0), &back); err != nil || back.P == nil {
				t.Fatalf("round trip %v: %v", c, err)
			}
			text += back.P.Delta
		}
		if want := (delta + delta)[held:]; text != want {
			t.Fatal(fmt.Sprintf("resumed text %q, want %q", text, want))
		}
	})
}
