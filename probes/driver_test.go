package probes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeMesh is a hand-written stand-in for one mesh pod: just enough of the contract
// to check what the driver sends.
type fakeMesh struct {
	t            *testing.T
	mu           sync.Mutex
	calls        []string
	signUpStatus int
	toolText     bool // answer tools in content[0].text instead of structuredContent
	runBody      map[string]any
	attach       func(w http.ResponseWriter, r *http.Request)
}

func (f *fakeMesh) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}

func (f *fakeMesh) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.record(r.Method + " " + r.URL.Path)
	if r.Header.Get("Origin") != "http://localhost:3000" {
		http.Error(w, `{"error":"bad origin"}`, http.StatusForbidden)
		return
	}
	authed := strings.Contains(r.Header.Get("Cookie"), "session=s1") || r.Header.Get("Authorization") == "Bearer key-1"
	switch {
	case r.URL.Path == "/api/auth/sign-up/email":
		if f.signUpStatus != 0 {
			w.WriteHeader(f.signUpStatus)
			fmt.Fprint(w, `{"error":"user exists"}`)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "s1"})
		http.SetCookie(w, &http.Cookie{Name: "other", Value: "o1", Path: "/"})
		fmt.Fprint(w, `{}`)
	case r.URL.Path == "/api/auth/sign-in/email":
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "s1"})
		fmt.Fprint(w, `{}`)
	case !authed:
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"Unauthorized"}`)
	case r.URL.Path == "/api/auth/organization/create":
		fmt.Fprint(w, `{"id":"org-1","slug":"acme"}`)
	case r.URL.Path == "/api/auth/organization/set-active", r.URL.Path == "/api/auth/get-session":
		fmt.Fprint(w, `{}`)
	case r.URL.Path == "/mcp/org-1_self":
		f.tool(w, r)
	case strings.HasPrefix(r.URL.Path, "/api/acme/decopilot/threads/") && strings.HasSuffix(r.URL.Path, "/messages"):
		_ = json.NewDecoder(r.Body).Decode(&f.runBody)
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{"taskId":"task-1"}`)
	case strings.HasPrefix(r.URL.Path, "/api/acme/decopilot/attach/") && f.attach != nil:
		f.attach(w, r)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":"Not found"}`)
	}
}

func (f *fakeMesh) tool(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Params struct {
			Name string `json:"name"`
		} `json:"params"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	results := map[string]string{
		"API_KEY_CREATE":                `{"key":"key-1"}`,
		"AI_PROVIDER_KEY_CREATE":        `{"id":"pk-1"}`,
		"ORGANIZATION_SETTINGS_UPDATE":  `{}`,
		"COLLECTION_VIRTUAL_MCP_CREATE": `{"item":{"id":"agent-1"}}`,
		"COLLECTION_THREADS_CREATE":     `{"item":{"id":"t"}}`,
	}
	res, ok := results[req.Params.Name]
	if !ok {
		fmt.Fprint(w, `{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no such tool"}}`)
		return
	}
	if f.toolText {
		b, _ := json.Marshal(res)
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":%s}]}}`, b)
		return
	}
	fmt.Fprintf(w, `{"jsonrpc":"2.0","id":1,"result":{"structuredContent":%s}}`, res)
}

func newFake(t *testing.T) (*fakeMesh, *httptest.Server, *Driver) {
	f := &fakeMesh{t: t}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	d, err := NewDriver(DriverConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return f, srv, d
}

func TestBootstrap(t *testing.T) {
	for _, textResults := range []bool{false, true} {
		f, srv, d := newFake(t)
		f.toolText = textResults
		ten, err := d.Bootstrap(context.Background(), srv.URL, BootstrapOptions{ProviderBaseURL: "http://mockai:9000/v1"})
		if err != nil {
			t.Fatalf("textResults=%v: %v", textResults, err)
		}
		want := Tenant{OrgID: "org-1", OrgSlug: "acme", APIKey: "key-1", ProviderKeyID: "pk-1", AgentID: "agent-1", Cookie: "session=s1; other=o1"}
		ten.Email = ""
		if *ten != want {
			t.Fatalf("tenant %+v, want %+v", *ten, want)
		}
		wantCalls := "POST /api/auth/sign-up/email,POST /api/auth/organization/create,POST /api/auth/organization/set-active," +
			"GET /api/auth/get-session,POST /mcp/org-1_self,POST /mcp/org-1_self,POST /mcp/org-1_self,POST /mcp/org-1_self"
		if got := strings.Join(f.calls, ","); got != wantCalls {
			t.Fatalf("calls:\n%s\nwant\n%s", got, wantCalls)
		}
	}
}

func TestBootstrapFallsBackToSignIn(t *testing.T) {
	f, srv, d := newFake(t)
	f.signUpStatus = http.StatusUnprocessableEntity
	if _, err := d.Bootstrap(context.Background(), srv.URL, BootstrapOptions{ProviderBaseURL: "http://x/v1"}); err != nil {
		t.Fatal(err)
	}
	if f.calls[1] != "POST /api/auth/sign-in/email" {
		t.Fatalf("calls: %q", f.calls)
	}
}

func TestStartRunAndErrors(t *testing.T) {
	f, srv, d := newFake(t)
	ten := &Tenant{OrgID: "org-1", OrgSlug: "acme", APIKey: "key-1", AgentID: "agent-1"}
	task, err := d.StartRun(context.Background(), srv.URL, ten, "thrd_x", "slow:3x10")
	if err != nil || task != "task-1" {
		t.Fatalf("task %q, err %v", task, err)
	}
	msgs := f.runBody["messages"].([]any)
	part := msgs[0].(map[string]any)["parts"].([]any)[0].(map[string]any)
	if part["text"] != "slow:3x10" || f.runBody["tier"] != "smart" || f.runBody["agent"].(map[string]any)["id"] != "agent-1" {
		t.Fatalf("run body %v", f.runBody)
	}
	bad := &Tenant{OrgID: "org-1", OrgSlug: "acme", APIKey: "wrong"}
	_, err = d.StartRun(context.Background(), srv.URL, bad, "thrd_x", "x")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized || apiErr.Message != "Unauthorized" {
		t.Fatalf("want 401 APIError with mesh's message, got %v", err)
	}
	if err := d.CallTool(context.Background(), srv.URL, ten, "NOPE", nil, nil); err == nil || !strings.Contains(err.Error(), "no such tool") {
		t.Fatalf("want JSON-RPC error, got %v", err)
	}
}

func TestNewDriverRejectsBadRoute(t *testing.T) {
	if _, err := NewDriver(DriverConfig{AttachRoute: "watch"}); err == nil || !strings.Contains(err.Error(), `"watch"`) {
		t.Fatalf("got %v", err)
	}
	d, _ := NewDriver(DriverConfig{AttachRoute: AttachRouteStream})
	if got := d.AttachURL("http://p", &Tenant{OrgSlug: "acme"}, "t1"); got != "http://p/api/acme/decopilot/threads/t1/stream" {
		t.Fatalf("got %q", got)
	}
}

func TestAttachCollect(t *testing.T) {
	f, srv, d := newFake(t)
	ten := &Tenant{OrgID: "org-1", OrgSlug: "acme", APIKey: "key-1"}
	f.attach = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		fmt.Fprint(w, ": keepalive\n\n")
		fl.Flush()
		for _, c := range []string{`{"type":"start"}`, `{"type":"text-start","id":"t"}`, `{"type":"text-delta","id":"t","delta":"chunk-1 "}`} {
			fmt.Fprintf(w, "data: %s\n\n", c)
			fl.Flush()
		}
		// split one event across two writes to exercise partial lines
		fmt.Fprint(w, "data: {\"type\":\"text-delta\",\"id\":\"t\",")
		fl.Flush()
		time.Sleep(10 * time.Millisecond)
		fmt.Fprint(w, "\"delta\":\"chunk-2 \"}\n\ndata: {\"type\":\"finish\"}\n\n")
		fl.Flush()
		<-r.Context().Done()
	}
	a, err := d.Attach(context.Background(), srv.URL, ten, "thrd_x")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	tally, err := a.Collect(nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := tally.Check(2); p != nil || a.Keepalives != 1 {
		t.Fatalf("problems %q, keepalives %d", p, a.Keepalives)
	}
}

func TestAttachPodDiesMidStream(t *testing.T) {
	f, srv, d := newFake(t)
	ten := &Tenant{OrgID: "org-1", OrgSlug: "acme", APIKey: "key-1"}
	f.attach = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {\"type\":\"text-delta\",\"delta\":\"chunk-1 \"}\n\ndata: {\"type\"")
		w.(http.Flusher).Flush()
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Close() // the pod dies: no clean end of the chunked body
	}
	a, err := d.Attach(context.Background(), srv.URL, ten, "thrd_x")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	tally, err := a.Collect(nil)
	if err == nil || errors.Is(err, ErrStreamEnded) {
		t.Fatalf("want a broken-stream error, got %v", err)
	}
	if tally.Counts[1] != 1 {
		t.Fatalf("evidence lost: %+v", tally)
	}
}

func TestAttachNotFound(t *testing.T) {
	_, srv, d := newFake(t)
	_, err := d.Attach(context.Background(), srv.URL, &Tenant{OrgSlug: "nope", APIKey: "key-1"}, "t")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Fatalf("got %v", err)
	}
}

func TestCookieHeader(t *testing.T) {
	h := http.Header{}
	h.Add("Set-Cookie", "a=1; Path=/; HttpOnly")
	h.Add("Set-Cookie", "b=2")
	if got := cookieHeader(h); got != "a=1; b=2" {
		t.Fatalf("got %q", got)
	}
}
