package mockai

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestErrors(t *testing.T) {
	_, ts, _ := newTestServer(t, Options{MaxBodyBytes: 512})
	big := chatBody(strings.Repeat("x", 600), true)
	tests := []struct {
		name, method, path, body string
		chunked                  bool // send the body without a Content-Length
		status                   int
		allow                    string
		want                     string
	}{
		{"unknown path", "GET", "/v1/completions", "", false, 404, "",
			`{"error":{"message":"Invalid URL (GET /v1/completions)","type":"invalid_request_error","param":null,"code":null}}`},
		{"root", "GET", "/", "", false, 404, "",
			`{"error":{"message":"Invalid URL (GET /)","type":"invalid_request_error","param":null,"code":null}}`},
		{"GET chat", "GET", "/v1/chat/completions", "", false, 405, "POST",
			`{"error":{"message":"method GET is not allowed on /v1/chat/completions (allowed: POST)","type":"invalid_request_error","param":null,"code":"method_not_allowed"}}`},
		{"POST models", "POST", "/v1/models", "{}", false, 405, "GET, HEAD",
			`{"error":{"message":"method POST is not allowed on /v1/models (allowed: GET, HEAD)","type":"invalid_request_error","param":null,"code":"method_not_allowed"}}`},
		{"DELETE health", "DELETE", "/health", "", false, 405, "GET, HEAD",
			`{"error":{"message":"method DELETE is not allowed on /health (allowed: GET, HEAD)","type":"invalid_request_error","param":null,"code":"method_not_allowed"}}`},
		{"malformed JSON", "POST", "/v1/chat/completions", `{"messages":`, false, 400, "",
			`{"error":{"message":"malformed JSON in the request body: unexpected end of JSON input","type":"invalid_request_error","param":null,"code":"invalid_json"}}`},
		{"no messages", "POST", "/v1/chat/completions", `{"model":"mock-model","stream":true}`, false, 400, "",
			`{"error":{"message":"messages: want a non-empty array of messages","type":"invalid_request_error","param":"messages","code":"missing_messages"}}`},
		{"chunks over the bound", "POST", "/v1/chat/completions", chatBody("slow:100001x1", true), false, 400, "",
			`{"error":{"message":"hint \"slow:100001x1\": chunk count 100001 is out of bounds (at most 100000)","type":"invalid_request_error","param":"messages","code":"hint_out_of_bounds"}}`},
		{"delay over the bound", "POST", "/v1/chat/completions", chatBody("slow:1x600001", false), false, 400, "",
			`{"error":{"message":"hint \"slow:1x600001\": delay in ms 600001 is out of bounds (at most 600000 ms (10m0s))","type":"invalid_request_error","param":"messages","code":"hint_out_of_bounds"}}`},
		{"body over the cap", "POST", "/v1/chat/completions", big, false, 413, "",
			`{"error":{"message":"request body is over the limit of 512 bytes","type":"invalid_request_error","param":null,"code":"request_too_large"}}`},
		{"chunked body over the cap", "POST", "/v1/chat/completions", big, true, 413, "",
			`{"error":{"message":"request body is over the limit of 512 bytes","type":"invalid_request_error","param":null,"code":"request_too_large"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
				if tt.chunked {
					body = io.MultiReader(body) // hides the length: sent chunked
				}
			}
			req, err := http.NewRequestWithContext(t.Context(), tt.method, ts.URL+tt.path, body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got := readAll(t, resp.Body)
			if resp.StatusCode != tt.status || got != tt.want {
				t.Errorf("got %d %s\nwant %d %s", resp.StatusCode, got, tt.status, tt.want)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if a := resp.Header.Get("Allow"); a != tt.allow {
				t.Errorf("Allow %q, want %q", a, tt.allow)
			}
		})
	}
}

func TestFailHint(t *testing.T) {
	_, ts, _ := newTestServer(t, Options{})
	tests := []struct {
		status        int
		typ, code     string
		stream, parts bool
	}{
		{429, "rate_limit_error", `"rate_limit_exceeded"`, true, false},
		{500, "server_error", "null", false, false},
		{503, "server_error", "null", true, true},
		{401, "authentication_error", `"invalid_api_key"`, false, false},
		{400, "invalid_request_error", "null", true, false},
	}
	for _, tt := range tests {
		body := chatBody(fmt.Sprintf("fail:%d", tt.status), tt.stream)
		if tt.parts {
			body = fmt.Sprintf(`{"stream":true,"messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"text","text":"fail:%d"}]}]}`, tt.status)
		}
		resp := post(t, t.Context(), ts.URL, body)
		got := readAll(t, resp.Body)
		resp.Body.Close()
		want := fmt.Sprintf(`{"error":{"message":"mock provider fault: fail:%d","type":"%s","param":null,"code":%s}}`, tt.status, tt.typ, tt.code)
		if resp.StatusCode != tt.status || got != want {
			t.Errorf("fail:%d: got %d %s\nwant %s", tt.status, resp.StatusCode, got, want)
		}
	}
}

func TestMetrics(t *testing.T) {
	_, ts, reg := newTestServer(t, Options{})
	for _, body := range []string{chatBody("slow:3x0", true), chatBody("many:0", false), chatBody("fail:429", true)} {
		resp := post(t, t.Context(), ts.URL, body)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	resp, err := http.Get(ts.URL + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"chaosd_mockai_requests_total", map[string]string{"route": "/v1/chat/completions", "code": "200"}, 2},
		{"chaosd_mockai_requests_total", map[string]string{"route": "/v1/chat/completions", "code": "429"}, 1},
		{"chaosd_mockai_requests_total", map[string]string{"route": "other", "code": "404"}, 1},
		{"chaosd_mockai_chunks_sent_total", nil, 3},
		{"chaosd_mockai_open_streams", nil, 0},
	} {
		if got := metricValue(t, reg, tt.name, tt.labels); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	if n := streamsEnded(t, reg, outcomeComplete); n != 1 {
		t.Errorf("streams ended complete: %d, want 1", n)
	}
}

// metricValue is the value of the counter or gauge name with exactly labels; -1
// when there is none.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue metrics
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

// streamsEnded is the count of the stream duration histogram for outcome.
func streamsEnded(t *testing.T, reg *prometheus.Registry, outcome string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "chaosd_mockai_stream_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == outcome {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

func TestTwoServersShareARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := New(Options{Registerer: reg})
	b := New(Options{Registerer: reg})
	if a.m.chunks != b.m.chunks {
		t.Error("the second server did not reuse the registered collectors")
	}
}
