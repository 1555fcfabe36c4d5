// Package probes drives and observes the system under test: the mesh driver
// (bootstrap a tenant, start runs, attach over SSE) and, in later files, observers of
// Postgres, NATS, HTTP health and Docker. It follows ../shared/mesh-contract.md.
package probes

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Attach route forms: mesh renamed the attach route; configuration chooses.
const (
	AttachRouteAttach = "attach" // GET /api/<slug>/decopilot/attach/<threadId>
	AttachRouteStream = "stream" // GET /api/<slug>/decopilot/threads/<threadId>/stream
)

// DriverConfig configures the mesh driver.
type DriverConfig struct {
	// Origin is sent on every request, as mesh's harness does (BETTER_AUTH_URL).
	Origin string
	// AttachRoute is AttachRouteAttach (default) or AttachRouteStream.
	AttachRoute string
	// RequestTimeout bounds every non-streaming request (default 15 s).
	RequestTimeout time.Duration
	// HTTPClient is used for every request; nil means a client with no overall
	// timeout (attaches are long-lived), relying on contexts and RequestTimeout.
	HTTPClient *http.Client
}

// DefaultDriverConfig matches mesh's multi-pod harness.
func DefaultDriverConfig() DriverConfig {
	return DriverConfig{Origin: "http://localhost:3000", AttachRoute: AttachRouteAttach, RequestTimeout: 15 * time.Second}
}

// Driver talks to mesh pods over HTTP as a user would.
type Driver struct {
	cfg  DriverConfig
	http *http.Client
}

// NewDriver validates cfg and returns a driver.
func NewDriver(cfg DriverConfig) (*Driver, error) {
	def := DefaultDriverConfig()
	if cfg.Origin == "" {
		cfg.Origin = def.Origin
	}
	if cfg.AttachRoute == "" {
		cfg.AttachRoute = def.AttachRoute
	}
	if cfg.AttachRoute != AttachRouteAttach && cfg.AttachRoute != AttachRouteStream {
		return nil, fmt.Errorf("attach route %q: want %q or %q", cfg.AttachRoute, AttachRouteAttach, AttachRouteStream)
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = def.RequestTimeout
	}
	hc := cfg.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		tr.ResponseHeaderTimeout = cfg.RequestTimeout
		hc = &http.Client{Transport: tr}
	}
	return &Driver{cfg: cfg, http: hc}, nil
}

// Tenant is what bootstrapping leaves behind: the credentials and ids that runs need.
type Tenant struct {
	Email         string `json:"email"`
	Cookie        string `json:"-"`
	OrgID         string `json:"orgId"`
	OrgSlug       string `json:"orgSlug"`
	APIKey        string `json:"-"`
	ProviderKeyID string `json:"providerKeyId"`
	AgentID       string `json:"agentId"`
}

// BootstrapOptions says how to configure the tenant's LLM provider.
type BootstrapOptions struct {
	// ProviderBaseURL is the OpenAI-compatible base URL as the pods see it,
	// e.g. http://mockai:9000/v1 in the bundled cluster.
	ProviderBaseURL string
	// Model is the smart tier's model id (default mock-model).
	Model string
	// Name seeds the user, org and agent names (default chaosd-<random>).
	Name string
	// Tiers are the keys of simple_mode.tiers: smart gets the model, the others
	// null (default TiersMay2026).
	Tiers []string
}

// Tier key sets of ORGANIZATION_SETTINGS_UPDATE's simple_mode.tiers: mesh's harness
// at May 2026 (tests/multi-pod/lib/setup.ts), and today's schema, whose routes
// resolve web_search and deep_research (apps/api decopilot routes.ts).
var (
	TiersMay2026 = []string{"fast", "smart", "thinking", "image", "web_research"}
	TiersCurrent = []string{"fast", "smart", "thinking", "image", "web_search", "deep_research"}
)

// APIError is a non-2xx answer from a pod, with mesh's {error} message when present.
type APIError struct {
	Method, URL string
	Status      int
	Message     string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.Status, e.Message)
}

// Bootstrap creates a user, an organization, an API key, a provider key pointed at
// opts.ProviderBaseURL, the smart tier and an agent, through pod (a base URL such as
// http://127.0.0.1:13001), exactly as mesh's harness does.
func (d *Driver) Bootstrap(ctx context.Context, pod string, opts BootstrapOptions) (*Tenant, error) {
	if opts.ProviderBaseURL == "" {
		return nil, errors.New("bootstrap: no provider base URL")
	}
	if opts.Model == "" {
		opts.Model = "mock-model"
	}
	if opts.Name == "" {
		opts.Name = "chaosd-" + randomHex(4)
	}
	t := &Tenant{Email: opts.Name + "@chaosd.test"}
	if err := d.signUp(ctx, pod, t, opts.Name); err != nil {
		return nil, err
	}
	if err := d.createOrg(ctx, pod, t, opts.Name); err != nil {
		return nil, err
	}
	if err := d.setupTools(ctx, pod, t, opts); err != nil {
		return nil, err
	}
	return t, nil
}

func (d *Driver) signUp(ctx context.Context, pod string, t *Tenant, name string) error {
	body := map[string]string{"email": t.Email, "password": "chaosd-" + name + "-pw", "name": name}
	resp, err := d.do(ctx, http.MethodPost, pod+"/api/auth/sign-up/email", nil, body, nil)
	if err != nil {
		var apiErr *APIError
		if !errors.As(err, &apiErr) {
			return fmt.Errorf("sign up: %w", err)
		}
		if resp, err = d.do(ctx, http.MethodPost, pod+"/api/auth/sign-in/email", nil, body, nil); err != nil {
			return fmt.Errorf("sign in after failed sign-up: %w", err)
		}
	}
	t.Cookie = cookieHeader(resp.Header)
	if t.Cookie == "" {
		return errors.New("sign up: no session cookie in the answer")
	}
	return nil
}

func (d *Driver) createOrg(ctx context.Context, pod string, t *Tenant, name string) error {
	var org struct {
		ID   string `json:"id"`
		Slug string `json:"slug"`
	}
	if _, err := d.do(ctx, http.MethodPost, pod+"/api/auth/organization/create", t, map[string]string{"name": name, "slug": name}, &org); err != nil {
		return fmt.Errorf("create organization: %w", err)
	}
	if org.ID == "" {
		return errors.New("create organization: no id in the answer")
	}
	t.OrgID, t.OrgSlug = org.ID, org.Slug
	if t.OrgSlug == "" {
		t.OrgSlug = name
	}
	if _, err := d.do(ctx, http.MethodPost, pod+"/api/auth/organization/set-active", t, map[string]string{"organizationId": org.ID}, nil); err != nil {
		return fmt.Errorf("set active organization: %w", err)
	}
	resp, err := d.do(ctx, http.MethodGet, pod+"/api/auth/get-session", t, nil, nil)
	if err != nil {
		return fmt.Errorf("get session: %w", err)
	}
	if c := cookieHeader(resp.Header); c != "" {
		t.Cookie = c // the cookie may rotate
	}
	return nil
}

func (d *Driver) setupTools(ctx context.Context, pod string, t *Tenant, opts BootstrapOptions) error {
	var key struct {
		Key string `json:"key"`
	}
	if err := d.CallTool(ctx, pod, t, "API_KEY_CREATE", map[string]any{"name": "chaosd", "permissions": map[string][]string{"*": {"*"}}}, &key); err != nil {
		return err
	}
	if key.Key == "" {
		return errors.New("API_KEY_CREATE: no key in the result")
	}
	t.APIKey = key.Key
	providerKey, _ := json.Marshal(map[string]string{"baseUrl": opts.ProviderBaseURL, "apiKey": "chaosd"})
	var pk struct {
		ID string `json:"id"`
	}
	if err := d.CallTool(ctx, pod, t, "AI_PROVIDER_KEY_CREATE", map[string]any{"providerId": "openai-compatible", "label": "chaosd mock", "apiKey": string(providerKey)}, &pk); err != nil {
		return err
	}
	if pk.ID == "" {
		return errors.New("AI_PROVIDER_KEY_CREATE: no id in the result")
	}
	t.ProviderKeyID = pk.ID
	names := opts.Tiers
	if len(names) == 0 {
		names = TiersMay2026
	}
	tiers := make(map[string]any, len(names))
	for _, n := range names {
		tiers[n] = nil
	}
	tiers["smart"] = map[string]string{"keyId": pk.ID, "modelId": opts.Model}
	if err := d.CallTool(ctx, pod, t, "ORGANIZATION_SETTINGS_UPDATE", map[string]any{"organizationId": t.OrgID, "simple_mode": map[string]any{"tiers": tiers}}, nil); err != nil {
		return err
	}
	var agent struct {
		ID   string `json:"id"`
		Item struct {
			ID string `json:"id"`
		} `json:"item"`
	}
	if err := d.CallTool(ctx, pod, t, "COLLECTION_VIRTUAL_MCP_CREATE", map[string]any{"data": map[string]any{"title": "chaosd agent", "connections": []any{}}}, &agent); err != nil {
		return err
	}
	t.AgentID = agent.Item.ID
	if t.AgentID == "" {
		t.AgentID = agent.ID
	}
	if t.AgentID == "" {
		return errors.New("COLLECTION_VIRTUAL_MCP_CREATE: no agent id in the result")
	}
	return nil
}

// NewThreadID returns a thread id that is safe as a NATS subject token, shaped like
// the harness's (thrd_<tag>_<unix ms>_<8 hex>).
func NewThreadID(tag string) string {
	return fmt.Sprintf("thrd_%s_%d_%s", tag, time.Now().UnixMilli(), randomHex(4))
}

// CreateThread creates thread id up front, so that an attach does not 404 before the
// run creates it.
func (d *Driver) CreateThread(ctx context.Context, pod string, t *Tenant, id string) error {
	return d.CallTool(ctx, pod, t, "COLLECTION_THREADS_CREATE", map[string]any{"data": map[string]string{"id": id, "virtual_mcp_id": t.AgentID}}, nil)
}

// StartRun posts a user message whose text is hint (e.g. "slow:20x250") and returns
// mesh's task id.
func (d *Driver) StartRun(ctx context.Context, pod string, t *Tenant, threadID, hint string) (string, error) {
	body := map[string]any{
		"messages": []any{map[string]any{"id": newUUID(), "role": "user", "parts": []any{map[string]string{"type": "text", "text": hint}}}},
		"agent":    map[string]string{"id": t.AgentID},
		"tier":     "smart",
	}
	var out struct {
		TaskID string `json:"taskId"`
	}
	if _, err := d.do(ctx, http.MethodPost, d.runURL(pod, t, "threads/"+threadID+"/messages"), t, body, &out); err != nil {
		return "", fmt.Errorf("start run on %s: %w", threadID, err)
	}
	return out.TaskID, nil
}

// CallTool calls an MCP tool on the org's self server and decodes its result
// (structuredContent, else content[0].text as JSON) into out when out is not nil.
func (d *Driver) CallTool(ctx context.Context, pod string, t *Tenant, name string, args any, out any) error {
	req := map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": map[string]any{"name": name, "arguments": args}}
	var rpc struct {
		Result *struct {
			StructuredContent json.RawMessage `json:"structuredContent"`
			Content           []struct {
				Text string `json:"text"`
			} `json:"content"`
			IsError bool `json:"isError"`
		} `json:"result"`
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if _, err := d.do(ctx, http.MethodPost, pod+"/mcp/"+t.OrgID+"_self", t, req, &rpc); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if rpc.Error != nil {
		return fmt.Errorf("%s: JSON-RPC error %d: %s", name, rpc.Error.Code, rpc.Error.Message)
	}
	if rpc.Result == nil {
		return fmt.Errorf("%s: no result", name)
	}
	raw := rpc.Result.StructuredContent
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" || string(bytes.TrimSpace(raw)) == "{}" {
		if len(rpc.Result.Content) > 0 {
			raw = json.RawMessage(rpc.Result.Content[0].Text)
		}
	}
	if rpc.Result.IsError {
		return fmt.Errorf("%s: tool error: %.200s", name, raw)
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s: decode result %.200q: %w", name, raw, err)
	}
	return nil
}

func (d *Driver) runURL(pod string, t *Tenant, rest string) string {
	return pod + "/api/" + t.OrgSlug + "/decopilot/" + rest
}

// AttachURL is the attach route for threadID on pod, in the configured form.
func (d *Driver) AttachURL(pod string, t *Tenant, threadID string) string {
	if d.cfg.AttachRoute == AttachRouteStream {
		return d.runURL(pod, t, "threads/"+threadID+"/stream")
	}
	return d.runURL(pod, t, "attach/"+threadID)
}

// do sends one JSON request with the tenant's credentials and decodes a 2xx JSON
// answer into out. Non-2xx answers become *APIError with mesh's {error} message.
func (d *Driver) do(ctx context.Context, method, url string, t *Tenant, body, out any) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.RequestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	d.decorate(req, t)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := d.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return resp, fmt.Errorf("%s %s: read answer: %w", method, url, err)
	}
	if resp.StatusCode/100 != 2 {
		return resp, &APIError{Method: method, URL: url, Status: resp.StatusCode, Message: errorMessage(data)}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp, fmt.Errorf("%s %s: decode answer %.200q: %w", method, url, data, err)
		}
	}
	return resp, nil
}

func (d *Driver) decorate(req *http.Request, t *Tenant) {
	req.Header.Set("Origin", d.cfg.Origin)
	if t == nil {
		return
	}
	if t.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+t.APIKey)
	}
	if t.Cookie != "" {
		req.Header.Set("Cookie", t.Cookie)
	}
}

func errorMessage(body []byte) string {
	var e struct {
		Error any `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != nil {
		if s, ok := e.Error.(string); ok {
			return s
		}
		b, _ := json.Marshal(e.Error)
		return string(b)
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// cookieHeader joins the name=value parts of every Set-Cookie header with "; ", as
// mesh's harness does.
func cookieHeader(h http.Header) string {
	var parts []string
	for _, c := range h.Values("Set-Cookie") {
		nv, _, _ := strings.Cut(c, ";")
		if nv = strings.TrimSpace(nv); nv != "" {
			parts = append(parts, nv)
		}
	}
	return strings.Join(parts, "; ")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
