package mockai

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// throughputChunks is the zero-delay stream of the throughput benchmark: slow:200000x0.
const throughputChunks = 200000

// BenchmarkThroughput measures the frames per second one client pulls from a
// zero-delay stream (slow:200000x0), side by side with a bare net/http handler that
// writes the same pre-built frames and flushes once at the end: the limit for a
// zero-delay stream. It reports both rates and their ratio (goal: at least 0.8).
func BenchmarkThroughput(b *testing.B) {
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			mock := httptest.NewServer(New(Options{MaxChunks: throughputChunks, Logger: zap.NewNop(), DisableHijack: m.disable}))
			defer mock.Close()
			bare := httptest.NewServer(bareHandler(prebuiltFrames(throughputChunks)))
			defer bare.Close()
			body := chatBody("slow:200000x0", true)
			frames := throughputChunks + 3 // role, content, finish, [DONE]
			for _, url := range []string{mock.URL, bare.URL} {
				if got := pull(b, url, body, true); got != frames {
					b.Fatalf("%s: %d frames, want %d", url, got, frames)
				}
			}
			var tMock, tBare time.Duration
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				pull(b, mock.URL, body, false)
				t1 := time.Now()
				pull(b, bare.URL, body, false)
				tMock, tBare = tMock+t1.Sub(t0), tBare+time.Since(t1)
			}
			b.StopTimer()
			mockRate := float64(frames*b.N) / tMock.Seconds()
			bareRate := float64(frames*b.N) / tBare.Seconds()
			b.ReportMetric(mockRate, "mock-frames/s")
			b.ReportMetric(bareRate, "bare-frames/s")
			b.ReportMetric(mockRate/bareRate, "ratio")
		})
	}
}

// prebuiltFrames are the frames of a zero-delay stream of n chunks.
func prebuiltFrames(n int) [][]byte {
	prefix := framePrefix(newID(), time.Now(), quote(DefaultModel))
	frames := [][]byte{appendRole(nil, prefix)}
	for i := 1; i <= n; i++ {
		frames = append(frames, appendContent(nil, prefix, i))
	}
	return append(frames, appendFinish(nil, prefix), []byte(doneFrame))
}

// bareHandler writes frames one by one and flushes once at the end.
func bareHandler(frames [][]byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		for _, f := range frames {
			_, _ = w.Write(f)
		}
		_ = http.NewResponseController(w).Flush()
	})
}

// pull posts body and reads the whole stream; it counts the frames when count is set.
func pull(b *testing.B, url, body string, count bool) int {
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if !count {
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			b.Fatal(err)
		}
		return 0
	}
	all, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	return bytes.Count(all, []byte("\n\n"))
}
