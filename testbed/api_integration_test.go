//go:build integration

package testbed

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestIntegrationAuthAndOrgChecks: run routes need the API key or the session
// cookie, and only reach the caller's own organization.
func TestIntegrationAuthAndOrgChecks(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1)
	base := c.url("pod-1")
	a, b := bootstrap(t, base, c.provider), bootstrap(t, base, c.provider)
	id := a.newThread(t, base)
	runBody := `{"messages":[{"id":"m1","role":"user","parts":[{"type":"text","text":"many:1"}]}],"tier":"smart"}`
	runURL := func(slug, thread string) string {
		return base + "/api/" + slug + "/decopilot/threads/" + thread + "/messages"
	}
	attachURL := func(slug, thread string) string { return base + "/api/" + slug + "/decopilot/attach/" + thread }
	tests := []struct {
		name, method, url, body string
		hdr                     map[string]string
		status                  int
		want                    string
	}{
		{"run without credentials", "POST", runURL(a.slug, id), runBody, nil, 401, "Unauthorized"},
		{"attach without credentials", "GET", attachURL(a.slug, id), "", nil, 401, "Unauthorized"},
		{"bad api key", "POST", runURL(a.slug, id), runBody, map[string]string{"Authorization": "Bearer nope"}, 401, "invalid API key"},
		{"not a bearer", "POST", runURL(a.slug, id), runBody, map[string]string{"Authorization": "Basic eDp5"}, 401, "Bearer"},
		{"stale cookie", "GET", attachURL(a.slug, id), "", map[string]string{"Cookie": SessionCookie + "=gone"}, 401, "session"},
		{"other org's key", "POST", runURL(a.slug, id), runBody, b.bearer(), 403, "does not belong"},
		{"other org's key, attach", "GET", attachURL(a.slug, id), "", b.bearer(), 403, "does not belong"},
		{"other org's user", "GET", attachURL(a.slug, id), "", map[string]string{"Cookie": b.cookie}, 403, "not a member"},
		{"unknown org", "POST", runURL("no-such-org", id), runBody, a.bearer(), 404, "not found"},
		{"other org's thread", "GET", attachURL(b.slug, id), "", b.bearer(), 404, "not found"},
		{"other org's thread, run", "POST", runURL(b.slug, id), runBody, b.bearer(), 404, "not found"},
		{"mcp without credentials", "POST", base + "/mcp/" + a.orgID + "_self", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, nil, 401, "Unauthorized"},
		{"mcp of another org", "POST", base + "/mcp/" + a.orgID + "_self", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, map[string]string{"Cookie": b.cookie}, 403, "not a member"},
		{"mcp bad target", "POST", base + "/mcp/" + a.orgID, `{}`, map[string]string{"Cookie": a.cookie}, 404, "_self"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantError(t, tt.method, tt.url, tt.body, tt.hdr, tt.status, tt.want) })
	}
	// The session cookie works where the key does.
	resp, out := send(t, "POST", runURL(a.slug, id), runBody, map[string]string{"Cookie": a.cookie})
	if resp.StatusCode != http.StatusAccepted || out["taskId"] == nil {
		t.Fatalf("run with the session cookie: %d %v", resp.StatusCode, out)
	}
	c.waitCompleted(id, 10*time.Second)
}

// TestIntegrationBadInput: malformed requests get mesh-style {"error"} bodies with the
// right status, and a second start while running is mesh's RunClaimError.
func TestIntegrationBadInput(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, func(cfg *Config) { cfg.MaxBodyBytes = 4096 })
	base := c.url("pod-1")
	tn := bootstrap(t, base, c.provider)
	id := tn.newThread(t, base)
	runURL := base + "/api/" + tn.slug + "/decopilot/threads/" + id + "/messages"
	key := tn.bearer()
	msg := func(role, text string) string {
		return `{"messages":[{"id":"m1","role":"` + role + `","parts":[{"type":"text","text":"` + text + `"}]}]}`
	}
	tests := []struct {
		name, method, url, body string
		hdr                     map[string]string
		status                  int
		want                    string
	}{
		{"not json", "POST", runURL, "{nope", key, 400, "invalid JSON"},
		{"empty body", "POST", runURL, "", key, 400, "empty"},
		{"wrong types", "POST", runURL, `{"messages":5}`, key, 400, "invalid JSON"},
		{"no messages", "POST", runURL, `{"messages":[]}`, key, 400, "at least one message"},
		{"bad role", "POST", runURL, msg("robot", "hi"), key, 400, "role"},
		{"last not user", "POST", runURL, msg("assistant", "hi"), key, 400, "last message"},
		{"bad message id", "POST", runURL, `{"messages":[{"id":"a.b","role":"user","parts":[]}]}`, key, 400, "messages[0].id"},
		{"unknown tier", "POST", runURL, `{"messages":[{"id":"m","role":"user","parts":[]}],"tier":"thinking"}`, key, 400, "tier"},
		{"unknown agent", "POST", runURL, `{"messages":[{"id":"m","role":"user","parts":[]}],"agent":{"id":"x"}}`, key, 400, "agent"},
		{"too large", "POST", runURL, msg("user", strings.Repeat("x", 5000)), key, 413, "too large"},
		{"bad thread id", "POST", base + "/api/" + tn.slug + "/decopilot/threads/a.b/messages", msg("user", "hi"), key, 400, "thread id"},
		{"bad thread id, attach", "GET", base + "/api/" + tn.slug + "/decopilot/attach/a*b", "", key, 400, "thread id"},
		{"unknown thread, attach", "GET", base + "/api/" + tn.slug + "/decopilot/attach/nope", "", key, 404, "not found"},
		{"unknown route", "GET", base + "/api/nope", "", nil, 404, "Not Found"},
		{"wrong method", "GET", runURL, "", key, 405, "Method Not Allowed"},
		{"sign-up bad email", "POST", base + "/api/auth/sign-up/email", `{"email":"x","password":"password1","name":"n"}`, nil, 400, "invalid email"},
		{"sign-up short password", "POST", base + "/api/auth/sign-up/email", `{"email":"a@b.c","password":"x","name":"n"}`, nil, 400, "password"},
		{"sign-in wrong password", "POST", base + "/api/auth/sign-in/email", `{"email":"a@b.c","password":"password1"}`, nil, 401, "Invalid email or password"},
		{"bad origin", "POST", base + "/api/auth/sign-in/email", `{}`, map[string]string{"Origin": "http://evil.example"}, 403, "Invalid origin"},
		{"org create without session", "POST", base + "/api/auth/organization/create", `{"name":"x","slug":"x"}`, nil, 401, "Unauthorized"},
		{"org create bad slug", "POST", base + "/api/auth/organization/create", `{"name":"x","slug":"Bad Slug"}`, map[string]string{"Cookie": tn.cookie}, 400, "slug"},
		{"org create taken slug", "POST", base + "/api/auth/organization/create", `{"name":"x","slug":"` + tn.slug + `"}`, map[string]string{"Cookie": tn.cookie}, 400, "already exists"},
		{"set-active foreign org", "POST", base + "/api/auth/organization/set-active", `{"organizationId":"org_nope"}`, map[string]string{"Cookie": tn.cookie}, 404, "not found"},
		{"mcp parse error", "POST", base + "/mcp/" + tn.orgID + "_self", `{`, map[string]string{"Cookie": tn.cookie}, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantError(t, tt.method, tt.url, tt.body, tt.hdr, tt.status, tt.want) })
	}

	// MCP errors are JSON-RPC errors.
	for tool, args := range map[string]string{
		"NO_SUCH_TOOL":              `{}`,
		"AI_PROVIDER_KEY_CREATE":    `{"providerId":"openai-compatible","apiKey":"not json"}`,
		"COLLECTION_THREADS_CREATE": `{"data":{"id":"x y","virtual_mcp_id":"` + tn.agentID + `"}}`,
	} {
		body := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"` + tool + `","arguments":` + args + `}}`
		_, out := send(t, "POST", base+"/mcp/"+tn.orgID+"_self", body, map[string]string{"Cookie": tn.cookie})
		if e, _ := out["error"].(map[string]any); e == nil || e["message"] == "" || out["id"] != float64(7) {
			t.Errorf("%s: %v, want a JSON-RPC error", tool, out)
		}
	}

	// A second start while the run is in progress elsewhere is RunClaimError.
	tn.startRun(t, base, id, "slow:10x50")
	for _, pod := range []string{"pod-2", "pod-1"} {
		resp, out := tn.postRun(t, c.url(pod), id, "many:1")
		if resp.StatusCode != http.StatusConflict || out["error"] != "already running on another pod" {
			t.Errorf("second start on %s: %d %v", pod, resp.StatusCode, out)
		}
	}
	c.waitCompleted(id, 10*time.Second)
}

func wantError(t *testing.T, method, url, body string, hdr map[string]string, status int, want string) {
	t.Helper()
	var b any
	if body != "" {
		b = body
	}
	resp, out := send(t, method, url, b, hdr)
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status %d %v, want %d", method, url, resp.StatusCode, out, status)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	msg, _ := out["error"].(string)
	if rpc, ok := out["error"].(map[string]any); ok {
		msg, _ = rpc["message"].(string)
	}
	if msg == "" || !strings.Contains(msg, want) {
		t.Fatalf("%s %s: body %v, want an error containing %q", method, url, out, want)
	}
}
