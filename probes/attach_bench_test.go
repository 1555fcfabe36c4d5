package probes

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// meshStream is an attach body as mesh writes it: the UI-message chunks of one reply
// of n text deltas (mockai's "chunk-<i> "), with a keepalive comment every 10.
func meshStream(n int) []byte {
	var b bytes.Buffer
	frame := func(s string) { fmt.Fprintf(&b, "data: %s\n\n", s) }
	frame(`{"type":"start","messageId":"msg-0123456789abcdef"}`)
	frame(`{"type":"start-step"}`)
	frame(`{"type":"text-start","id":"txt-0"}`)
	for i := 1; i <= n; i++ {
		frame(fmt.Sprintf(`{"type":"text-delta","id":"txt-0","delta":"chunk-%d "}`, i))
		if i%10 == 0 {
			b.WriteString(": keepalive\n\n")
		}
	}
	frame(`{"type":"text-end","id":"txt-0"}`)
	frame(`{"type":"finish-step"}`)
	frame(`{"type":"finish"}`)
	return b.Bytes()
}

// BenchmarkWatchChunk is a watcher's per-chunk path, network aside: SSE framing,
// chunk decoding, the tally and the workload's prefix callback. It reports the time
// and allocations per chunk (the goal for all of observation, sampling
// included, is 50 µs of CPU per chunk per watcher).
func BenchmarkWatchChunk(b *testing.B) {
	const n = 200
	body := meshStream(n)
	chunks := n + 6
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r := bytes.NewReader(body)
		a := &Attachment{body: io.NopCloser(r), sse: NewSSEReader(r), cancel: func() {}}
		seen := 0
		t, err := a.Collect(func(c Chunk) {
			if c.Type == ChunkTextDelta {
				if _, ok := MockChunkIndex(c.Delta); ok {
					seen++
				}
			}
		})
		if err != nil || !t.Finished || seen != n {
			b.Fatalf("collect: %v, finished %v, %d mock chunks, want %d", err, t.Finished, seen, n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*chunks), "ns/chunk")
}
