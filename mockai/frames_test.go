package mockai

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const head = `data: {"id":"chatcmpl-ID","object":"chat.completion.chunk","created":0,"model":"mock-model","choices":[`

// The exact bytes of every frame type, as the seed mock sends them (plus the usage
// frame OpenAI sends for stream_options.include_usage).
var (
	wantRole    = head + `{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}` + "\n\n"
	wantContent = func(i int) string {
		return head + `{"index":0,"delta":{"content":"chunk-` + strconv.Itoa(i) + ` "},"finish_reason":null}]}` + "\n\n"
	}
	wantFinish = head + `{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n"
	wantUsage  = func(prompt, completion int) string {
		return head + fmt.Sprintf(`],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`, prompt, completion, prompt+completion) + "\n\n"
	}
	wantDone = "data: [DONE]\n\n"
)

func TestStreamBytes(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			_, ts, _ := newTestServer(t, Options{DisableHijack: m.disable})
			before := time.Now().Unix()
			resp := post(t, t.Context(), ts.URL, chatBody("slow:3x1", true))
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("Cache-Control") != "no-cache" {
				t.Fatalf("status %d, headers %v", resp.StatusCode, resp.Header)
			}
			raw := readAll(t, resp.Body)
			after := time.Now().Unix()
			for _, c := range createdRE.FindAllString(raw, -1) {
				n, _ := strconv.ParseInt(strings.TrimPrefix(c, `"created":`), 10, 64)
				if n < before || n > after {
					t.Errorf("created %d not within [%d, %d]", n, before, after)
				}
			}
			want := wantRole + wantContent(1) + wantContent(2) + wantContent(3) + wantFinish + wantDone
			if got := normalize(t, raw); got != want {
				t.Errorf("stream bytes:\n got %q\nwant %q", got, want)
			}
		})
	}
}

func TestStreamBytesWithUsage(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			_, ts, _ := newTestServer(t, Options{DisableHijack: m.disable, Model: "other-model"})
			body := `{"model":"x","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"many:2"}]}`
			resp := post(t, t.Context(), ts.URL, body)
			defer resp.Body.Close()
			got := normalize(t, readAll(t, resp.Body))
			want := wantRole + wantContent(1) + wantContent(2) + wantFinish + wantUsage(len(body)/4, 2) + wantDone
			want = strings.ReplaceAll(want, `"model":"mock-model"`, `"model":"other-model"`)
			if got != want {
				t.Errorf("stream bytes:\n got %q\nwant %q", got, want)
			}
		})
	}
}

// TestHijackedWire reads a hijacked stream's raw bytes: a valid HTTP/1.1 chunked
// response that ends with the last chunk.
func TestHijackedWire(t *testing.T) {
	_, ts, _ := newTestServer(t, Options{})
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := chatBody("slow:2x1", true)
	fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var raw []byte
	buf := make([]byte, 4096)
	for !strings.HasSuffix(string(raw), "\r\n0\r\n\r\n") {
		n, err := conn.Read(buf)
		raw = append(raw, buf[:n]...)
		if err != nil {
			t.Fatalf("read after %q: %v", raw, err)
		}
	}
	s := string(raw)
	head, rest, ok := strings.Cut(s, "\r\n\r\n")
	if !ok || !strings.HasPrefix(head, "HTTP/1.1 200 OK\r\n") {
		t.Fatalf("response head %q", head)
	}
	for _, h := range []string{"Content-Type: text/event-stream", "Cache-Control: no-cache", "Connection: close", "Transfer-Encoding: chunked"} {
		if !strings.Contains(head, "\r\n"+h+"\r\n") && !strings.HasSuffix(head, "\r\n"+h) {
			t.Errorf("header %q missing in %q", h, head)
		}
	}
	if !regexp.MustCompile(`\r\nDate: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT`).MatchString(head) {
		t.Errorf("no Date header in %q", head)
	}
	// Decode the chunks by hand.
	var payload strings.Builder
	br := bufio.NewReader(strings.NewReader(rest))
	for {
		line, err := br.ReadString('\n')
		if err != nil || !strings.HasSuffix(line, "\r\n") {
			t.Fatalf("chunk size line %q: %v", line, err)
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(line, "\r\n"), 16, 64)
		if err != nil {
			t.Fatalf("chunk size %q: %v", line, err)
		}
		if n == 0 {
			if tail, _ := io.ReadAll(br); string(tail) != "\r\n" {
				t.Fatalf("after the last chunk: %q", tail)
			}
			break
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(br, buf); err != nil || string(buf[n:]) != "\r\n" {
			t.Fatalf("chunk of %d: %q %v", n, buf, err)
		}
		payload.Write(buf[:n])
	}
	want := wantRole + wantContent(1) + wantContent(2) + wantFinish + wantDone
	if got := normalize(t, payload.String()); got != want {
		t.Errorf("payload:\n got %q\nwant %q", got, want)
	}
}

func TestNonStreamed(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			_, ts, _ := newTestServer(t, Options{DisableHijack: m.disable})
			body := chatBody("slow:3x1", false)
			resp := post(t, t.Context(), ts.URL, body)
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d, headers %v", resp.StatusCode, resp.Header)
			}
			p := len(body) / 4
			want := `{"id":"chatcmpl-ID","object":"chat.completion","created":0,"model":"mock-model","choices":[{"index":0,"message":{"role":"assistant","content":"chunk-1 chunk-2 chunk-3 "},"logprobs":null,"finish_reason":"stop"}],` +
				fmt.Sprintf(`"usage":{"prompt_tokens":%d,"completion_tokens":3,"total_tokens":%d}}`, p, p+3)
			if got := normalize(t, readAll(t, resp.Body)); got != want {
				t.Errorf("body:\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestHealthAndModels(t *testing.T) {
	_, ts, _ := newTestServer(t, Options{})
	for path, want := range map[string]string{
		"/health":    "ok",
		"/v1/models": `{"object":"list","data":[{"id":"mock-model","object":"model","created":0,"owned_by":"mock"}]}`,
	} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		got := readAll(t, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || got != want {
			t.Errorf("GET %s: %d %q, want 200 %q", path, resp.StatusCode, got, want)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodHead, ts.URL+"/health", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD /health: %v %v", resp, err)
	}
	resp.Body.Close()
}
