package mockai

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestScheduleDoesNotDrift checks that content chunk i is due at start + i*delay,
// whenever the writes happen.
func TestScheduleDoesNotDrift(t *testing.T) {
	s := New(Options{})
	st := s.newStream(&Request{PromptTokens: 1}, Plan{Chunks: 5, Delay: 100 * time.Millisecond})
	t0 := st.start
	steps := []struct {
		at       time.Duration
		chunks   string // content chunks written at that moment
		want     phase
		wantNext int
	}{
		{0, "", phaseWaiting, 1},                         // the role frame only
		{99 * time.Millisecond, "", phaseWaiting, 1},     // chunk 1 not due yet
		{350 * time.Millisecond, "123", phaseWaiting, 4}, // a late step catches up, no drift
		{399 * time.Millisecond, "", phaseWaiting, 4},
		{400 * time.Millisecond, "4", phaseWaiting, 5},
		{time.Hour, "5", phaseDone, 6},
	}
	for _, step := range steps {
		b, ph := st.appendDue(nil, t0.Add(step.at))
		var got strings.Builder
		for i := 1; i <= 5; i++ {
			if strings.Contains(string(b), `"chunk-`+string(rune('0'+i))+` "`) {
				got.WriteByte(byte('0' + i))
			}
		}
		if got.String() != step.chunks || ph != step.want || st.next != step.wantNext {
			t.Errorf("at +%s: chunks %q phase %d next %d, want %q %d %d", step.at, got.String(), ph, st.next, step.chunks, step.want, step.wantNext)
		}
		if d := dueAt(t0, st.next, st.plan.Delay).Sub(t0); st.next <= 5 && d != time.Duration(st.next)*100*time.Millisecond {
			t.Errorf("chunk %d due at +%s", st.next, d)
		}
	}
}

func TestSlowTakesAtLeastNxMS(t *testing.T) {
	const n, delay = 4, 60 * time.Millisecond
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			_, ts, _ := newTestServer(t, Options{DisableHijack: m.disable})
			t0 := time.Now()
			resp := post(t, t.Context(), ts.URL, chatBody("slow:4x60", true))
			defer resp.Body.Close()
			fr := newFrameReader(resp.Body)
			content := 0
			for {
				f, err := fr.next()
				if err != nil {
					t.Fatalf("stream ended early: %v", err)
				}
				if f == "data: [DONE]" {
					break
				}
				if strings.Contains(f, `"content":"chunk-`) {
					content++
					// Chunk i is due at start + i*delay, and the server started after t0.
					if el := time.Since(t0); el < time.Duration(content)*delay {
						t.Errorf("chunk %d after %s, before %s", content, el, time.Duration(content)*delay)
					}
				}
			}
			if el := time.Since(t0); content != n || el < n*delay {
				t.Errorf("%d chunks in %s, want %d in at least %s", content, el, n, n*delay)
			}
		})
	}
}

func TestClientDisconnectFreesStream(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s, ts, reg := newTestServer(t, Options{DisableHijack: m.disable})
			base := runtime.NumGoroutine()
			ctx, cancel := context.WithCancel(t.Context())
			// A chunk a minute: only the watcher can notice the client leaving in time.
			resp := post(t, ctx, ts.URL, chatBody("slow:5x60000", true))
			if f, err := newFrameReader(resp.Body).next(); err != nil || !strings.Contains(f, `"role":"assistant"`) {
				t.Fatalf("first frame %q: %v", f, err)
			}
			if s.OpenStreams() != 1 {
				t.Fatalf("open streams %d, want 1", s.OpenStreams())
			}
			cancel()
			resp.Body.Close()
			eventually(t, 5*time.Second, "the stream is still open", func() bool { return s.OpenStreams() == 0 })
			goroutinesBackTo(t, base)
			if n := streamsEnded(t, reg, outcomeClientGone); n != 1 {
				t.Errorf("client_gone outcomes: %d", n)
			}
		})
	}
}

func TestCutFault(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s, ts, reg := newTestServer(t, Options{DisableHijack: m.disable})
			resp := post(t, t.Context(), ts.URL, chatBody("slow:5x1 cut:2", true))
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("read error %v, want unexpected EOF (the connection was cut)", err)
			}
			if got, want := normalize(t, string(b)), wantRole+wantContent(1)+wantContent(2); got != want {
				t.Errorf("got %q\nwant %q", got, want)
			}
			eventually(t, 5*time.Second, "the stream is still open", func() bool { return s.OpenStreams() == 0 })
			if n := streamsEnded(t, reg, outcomeCut); n != 1 {
				t.Errorf("cut outcomes: %d", n)
			}
		})
	}
}

func TestCutFaultNonStreamed(t *testing.T) {
	_, ts, reg := newTestServer(t, Options{})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, ts.URL+"/v1/chat/completions", strings.NewReader(chatBody("cut:1", false)))
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got a response (%d), want the connection closed", resp.StatusCode)
	}
	if got := metricValue(t, reg, "chaosd_mockai_requests_total", map[string]string{"route": routeChat, "code": "aborted"}); got != 1 {
		t.Errorf("aborted requests: %v", got)
	}
}

func TestStallFault(t *testing.T) {
	const hold = 300 * time.Millisecond
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s, ts, reg := newTestServer(t, Options{DisableHijack: m.disable})
			resp := post(t, t.Context(), ts.URL, chatBody("slow:5x1 stall:2x300", true))
			defer resp.Body.Close()
			fr := newFrameReader(resp.Body)
			var frames []string
			var lastAt time.Time
			for {
				f, err := fr.next()
				if err != nil {
					if !errors.Is(err, io.ErrUnexpectedEOF) {
						t.Errorf("end of stream: %v, want unexpected EOF", err)
					}
					break
				}
				frames, lastAt = append(frames, f), time.Now()
			}
			if held := time.Since(lastAt); held < hold-10*time.Millisecond {
				t.Errorf("held the connection %s after the last frame, want about %s", held, hold)
			}
			if got, want := normalize(t, strings.Join(frames, "\n\n")+"\n\n"), wantRole+wantContent(1)+wantContent(2); got != want {
				t.Errorf("got %q\nwant %q", got, want)
			}
			eventually(t, 5*time.Second, "the stream is still open", func() bool { return s.OpenStreams() == 0 })
			if n := streamsEnded(t, reg, outcomeStall); n != 1 {
				t.Errorf("stall outcomes: %d", n)
			}
		})
	}
}

// TestStallUntilClientLeaves checks that stall:K without a hold keeps the stream open
// until the client leaves, and that the server's MaxStall bounds it.
func TestStallUntilClientLeaves(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s, ts, _ := newTestServer(t, Options{DisableHijack: m.disable})
			ctx, cancel := context.WithCancel(t.Context())
			resp := post(t, ctx, ts.URL, chatBody("many:3 stall:1", true))
			fr := newFrameReader(resp.Body)
			for range 2 { // role, chunk-1
				if _, err := fr.next(); err != nil {
					t.Fatal(err)
				}
			}
			if s.OpenStreams() != 1 {
				t.Fatalf("open streams %d, want 1 while stalled", s.OpenStreams())
			}
			cancel()
			resp.Body.Close()
			eventually(t, 5*time.Second, "the stalled stream is still open", func() bool { return s.OpenStreams() == 0 })
		})
	}
	t.Run("max stall", func(t *testing.T) {
		s, ts, _ := newTestServer(t, Options{MaxStall: 50 * time.Millisecond})
		resp := post(t, t.Context(), ts.URL, chatBody("stall:0", true))
		defer resp.Body.Close()
		if _, err := io.ReadAll(resp.Body); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("read: %v, want unexpected EOF after MaxStall", err)
		}
		eventually(t, 5*time.Second, "the stream is still open", func() bool { return s.OpenStreams() == 0 })
	})
}

func TestShutdownLetsStreamsFinish(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s, ts, _ := newTestServer(t, Options{DisableHijack: m.disable})
			resp := post(t, t.Context(), ts.URL, chatBody("slow:4x50", true))
			defer resp.Body.Close()
			fr := newFrameReader(resp.Body)
			if _, err := fr.next(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				defer cancel()
				done <- s.Shutdown(ctx)
			}()
			eventually(t, 5*time.Second, "not draining", s.isDraining)
			// New chat completions are refused while draining.
			r2 := post(t, t.Context(), ts.URL, chatBody("many:1", true))
			if b := readAll(t, r2.Body); r2.StatusCode != http.StatusServiceUnavailable || !strings.Contains(b, `"code":"shutting_down"`) {
				t.Errorf("during shutdown: %d %s", r2.StatusCode, b)
			}
			r2.Body.Close()
			var last string
			for {
				f, err := fr.next()
				if err != nil {
					break
				}
				last = f
			}
			if last != "data: [DONE]" {
				t.Errorf("stream did not finish: last frame %q", last)
			}
			if err := <-done; err != nil {
				t.Errorf("shutdown: %v", err)
			}
		})
	}
}

func TestShutdownDeadlineClosesStreams(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s, ts, reg := newTestServer(t, Options{DisableHijack: m.disable})
			resp := post(t, t.Context(), ts.URL, chatBody("slow:100x1000", true))
			defer resp.Body.Close()
			fr := newFrameReader(resp.Body)
			if _, err := fr.next(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "closed 1 open streams") {
				t.Errorf("shutdown: %v", err)
			}
			if _, err := io.ReadAll(resp.Body); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("client read: %v, want unexpected EOF", err)
			}
			if s.OpenStreams() != 0 || streamsEnded(t, reg, outcomeShutdown) != 1 {
				t.Errorf("open %d, shutdown outcomes %d", s.OpenStreams(), streamsEnded(t, reg, outcomeShutdown))
			}
		})
	}
}

func TestShutdownWithoutStreams(t *testing.T) {
	s := New(Options{})
	if err := s.Shutdown(t.Context()); err != nil {
		t.Errorf("shutdown of an idle server: %v", err)
	}
	if n := s.Close(); n != 0 {
		t.Errorf("closed %d", n)
	}
}

// TestCloseAbortsNonStreamed checks that a non-streamed answer still waiting when the
// server closes gets no half answer (an empty 200): the connection is closed.
func TestCloseAbortsNonStreamed(t *testing.T) {
	s := New(Options{})
	var inFlight atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inFlight.Add(1)
		s.ServeHTTP(w, r)
	}))
	defer ts.Close()
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, ts.URL+"/v1/chat/completions", strings.NewReader(chatBody("slow:1x60000", false)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			errc <- nil
			return
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK { // a 503 is fine: Close came before the wait
			errc <- errors.New("got a 200 answer after Close")
			return
		}
		errc <- nil
	}()
	eventually(t, 5*time.Second, "the request is not in flight", func() bool { return inFlight.Load() == 1 })
	s.Close()
	if err := <-errc; err != nil {
		t.Error(err)
	}
}

// TestFinishedStreamLeavesNothing checks that a stream read to its end leaves no
// goroutine behind once the client has closed the connection.
func TestFinishedStreamLeavesNothing(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s, ts, _ := newTestServer(t, Options{DisableHijack: m.disable})
			base := runtime.NumGoroutine()
			for range 3 {
				resp := post(t, t.Context(), ts.URL, chatBody("slow:3x1", true))
				if b := readAll(t, resp.Body); !strings.HasSuffix(b, wantDone) {
					t.Fatalf("stream: %q", b)
				}
				resp.Body.Close()
			}
			if s.OpenStreams() != 0 {
				t.Errorf("open streams %d", s.OpenStreams())
			}
			goroutinesBackTo(t, base)
		})
	}
}
