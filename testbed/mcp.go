package testbed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"go.uber.org/zap"
)

// JSON-RPC error codes.
const (
	rpcParseError     = -32700
	rpcInvalidRequest = -32600
	rpcMethodNotFound = -32601
	rpcInvalidParams  = -32602
	rpcInternalError  = -32603
)

type rpcRequest struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

// toolCall is the context a tool runs in: the organization of the /mcp/<orgId>_self
// route and who calls.
type toolCall struct {
	org org
	who principal
}

type tool struct {
	description string
	run         func(p *Pod, ctx context.Context, tc toolCall, args json.RawMessage) (any, error)
}

// tools is the one list of the built-in MCP tools the testbed serves.
var tools = map[string]tool{
	"API_KEY_CREATE":                {"Create an API key for the organization.", (*Pod).toolAPIKeyCreate},
	"AI_PROVIDER_KEY_CREATE":        {"Store an AI provider credential.", (*Pod).toolProviderKeyCreate},
	"ORGANIZATION_SETTINGS_UPDATE":  {"Update the organization's settings (simple_mode tiers).", (*Pod).toolSettingsUpdate},
	"COLLECTION_VIRTUAL_MCP_CREATE": {"Create a virtual MCP (agent).", (*Pod).toolAgentCreate},
	"COLLECTION_THREADS_CREATE":     {"Create a thread.", (*Pod).toolThreadCreate},
}

// handleMCP serves mesh's built-in MCP namespace: POST /mcp/<orgId>_self, JSON-RPC
// 2.0 with tools/call answered as JSON (the streamable HTTP transport's JSON mode).
func (p *Pod) handleMCP(w http.ResponseWriter, r *http.Request) {
	tc, err := p.mcpTarget(r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	var req rpcRequest
	if err := p.decodeBody(w, r, &req); err != nil {
		var he *httpError
		if !errors.As(err, &he) {
			p.fail(w, r, err)
			return
		}
		writeJSON(w, he.status, rpcResponse{JSONRPC: "2.0", ID: json.RawMessage("null"), Error: &rpcError{rpcParseError, he.msg}})
		return
	}
	if len(req.ID) == 0 {
		w.WriteHeader(http.StatusAccepted) // a notification: no answer
		return
	}
	writeJSON(w, http.StatusOK, p.rpc(r.Context(), tc, req))
}

func (p *Pod) mcpTarget(r *http.Request) (toolCall, error) {
	orgID, ok := strings.CutSuffix(r.PathValue("target"), "_self")
	if !ok || orgID == "" {
		return toolCall{}, errorf(http.StatusNotFound, "unknown MCP server %q: want <orgId>_self", r.PathValue("target"))
	}
	who, err := p.authenticate(r)
	if err != nil {
		return toolCall{}, err
	}
	o, err := p.st.orgByID(r.Context(), orgID)
	if errors.Is(err, errNotFound) {
		return toolCall{}, errorf(http.StatusNotFound, "organization %q not found", orgID)
	}
	if err != nil {
		return toolCall{}, err
	}
	return toolCall{org: o, who: who}, p.checkOrg(r.Context(), who, o)
}

func (p *Pod) rpc(ctx context.Context, tc toolCall, req rpcRequest) rpcResponse {
	res := rpcResponse{JSONRPC: "2.0", ID: req.ID}
	var err error
	switch {
	case req.JSONRPC != "2.0":
		err = &rpcError{rpcInvalidRequest, `want "jsonrpc": "2.0"`}
	case req.Method == "initialize":
		res.Result = map[string]any{"protocolVersion": "2025-06-18", "capabilities": map[string]any{"tools": map[string]any{}},
			"serverInfo": map[string]any{"name": "testbed", "version": "1"}}
	case req.Method == "ping":
		res.Result = map[string]any{}
	case req.Method == "tools/list":
		res.Result = toolList()
	case req.Method == "tools/call":
		res.Result, err = p.callTool(ctx, tc, req.Params)
	default:
		err = &rpcError{rpcMethodNotFound, "method not found: " + req.Method}
	}
	if err != nil {
		res.Result, res.Error = nil, p.rpcErr(err)
	}
	return res
}

func (e *rpcError) Error() string { return e.Message }

func (p *Pod) rpcErr(err error) *rpcError {
	var re *rpcError
	var he *httpError
	switch {
	case errors.As(err, &re):
		return re
	case errors.As(err, &he):
		return &rpcError{rpcInvalidParams, he.msg}
	default:
		p.log.Error("mcp tool failed", zap.Error(err))
		return &rpcError{rpcInternalError, "internal error"}
	}
}

func toolList() map[string]any {
	list := make([]map[string]any, 0, len(tools))
	for name, t := range tools {
		list = append(list, map[string]any{"name": name, "description": t.description,
			"inputSchema": map[string]any{"type": "object"}})
	}
	return map[string]any{"tools": list}
}

func (p *Pod) callTool(ctx context.Context, tc toolCall, params json.RawMessage) (any, error) {
	var call struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	}
	if err := json.Unmarshal(params, &call); err != nil {
		return nil, &rpcError{rpcInvalidParams, "invalid params: " + err.Error()}
	}
	t, ok := tools[call.Name]
	if !ok {
		return nil, &rpcError{rpcInvalidParams, "unknown tool: " + call.Name}
	}
	if len(call.Arguments) == 0 {
		call.Arguments = json.RawMessage("{}")
	}
	out, err := t.run(p, ctx, tc, call.Arguments)
	if err != nil {
		return nil, err
	}
	text, _ := json.Marshal(out)
	return map[string]any{
		"content":           []map[string]any{{"type": "text", "text": string(text)}},
		"structuredContent": out,
	}, nil
}

// args decodes a tool's arguments into v.
func args(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, "invalid arguments: %v", err)
	}
	return nil
}

func (p *Pod) toolAPIKeyCreate(ctx context.Context, tc toolCall, raw json.RawMessage) (any, error) {
	var a struct {
		Name        string          `json:"name"`
		Permissions json.RawMessage `json:"permissions"`
	}
	if err := args(raw, &a); err != nil {
		return nil, err
	}
	if len(a.Permissions) == 0 || string(a.Permissions) == "null" {
		a.Permissions = json.RawMessage(`{}`)
	}
	key := newSecret("mesh_")
	id, err := p.st.createAPIKey(ctx, tc.org.ID, tc.who.userID, a.Name, hashKey(key), a.Permissions)
	if err != nil {
		return nil, err
	}
	return map[string]any{"id": id, "name": a.Name, "key": key, "permissions": a.Permissions}, nil
}

// providerCredential is the apiKey of an openai-compatible provider: a JSON string.
type providerCredential struct {
	BaseURL string `json:"baseUrl"`
	APIKey  string `json:"apiKey"`
}

func parseCredential(s string) (providerCredential, error) {
	var c providerCredential
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return c, errorf(http.StatusBadRequest, "apiKey: want a JSON string of {baseUrl, apiKey}: %v", err)
	}
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, errorf(http.StatusBadRequest, "apiKey.baseUrl %q: want an http(s) URL", c.BaseURL)
	}
	return c, nil
}

func (p *Pod) toolProviderKeyCreate(ctx context.Context, tc toolCall, raw json.RawMessage) (any, error) {
	var a struct {
		ProviderID string `json:"providerId"`
		Label      string `json:"label"`
		APIKey     string `json:"apiKey"`
	}
	if err := args(raw, &a); err != nil {
		return nil, err
	}
	if a.ProviderID != "openai-compatible" {
		return nil, errorf(http.StatusBadRequest, "providerId %q: the testbed supports openai-compatible", a.ProviderID)
	}
	if _, err := parseCredential(a.APIKey); err != nil {
		return nil, err
	}
	id, err := p.st.createProviderKey(ctx, tc.org.ID, a.ProviderID, a.Label, a.APIKey)
	if err != nil {
		return nil, err
	}
	return map[string]any{"id": id, "providerId": a.ProviderID, "label": a.Label}, nil
}

func (p *Pod) toolSettingsUpdate(ctx context.Context, tc toolCall, raw json.RawMessage) (any, error) {
	var a struct {
		OrganizationID string          `json:"organizationId"`
		SimpleMode     json.RawMessage `json:"simple_mode"`
	}
	if err := args(raw, &a); err != nil {
		return nil, err
	}
	if a.OrganizationID != "" && a.OrganizationID != tc.org.ID {
		return nil, errorf(http.StatusBadRequest, "organizationId %q: this endpoint serves %q", a.OrganizationID, tc.org.ID)
	}
	var sm simpleMode
	if err := json.Unmarshal(a.SimpleMode, &sm); err != nil || len(a.SimpleMode) == 0 {
		return nil, errorf(http.StatusBadRequest, "simple_mode: want {tiers:{smart:{keyId, modelId}, ...}}")
	}
	if p.current() {
		if err := checkTiersToday(a.SimpleMode); err != nil {
			return nil, err
		}
	}
	if err := p.st.setSimpleMode(ctx, tc.org.ID, a.SimpleMode); err != nil {
		return nil, err
	}
	return map[string]any{"organizationId": tc.org.ID, "simple_mode": a.SimpleMode}, nil
}

// todaysTiers are the simple_mode tiers of today's mesh (routes.ts tryResolveTier
// resolves smart, image, web_search and deep_research; the harness's body has fast,
// smart, thinking, image and, in May, web_research). requiredTiers are those its
// schema requires, by the contract's reading (the zod schema itself, SimpleModeTier
// in @decocms/shared, was not read): the May body, with web_research and without
// these, fails validation.
var (
	todaysTiers   = []string{"fast", "smart", "thinking", "image", "web_search", "deep_research"}
	requiredTiers = []string{"web_search", "deep_research"}
)

// checkTiersToday validates simple_mode.tiers as today's mesh does: each required tier
// is present, and every tier of todaysTiers that is given is null or {keyId, modelId}
// with both non-empty. Other keys are ignored (zod drops unknown keys). The error is
// the tool's invalid-params error and names every field at fault.
func checkTiersToday(raw json.RawMessage) error {
	var sm struct {
		Tiers map[string]json.RawMessage `json:"tiers"`
	}
	if err := json.Unmarshal(raw, &sm); err != nil || sm.Tiers == nil {
		return toolArgsError("simple_mode.tiers: required, an object of tiers")
	}
	var faults []string
	for _, name := range todaysTiers {
		v, ok := sm.Tiers[name]
		if !ok {
			if slices.Contains(requiredTiers, name) {
				faults = append(faults, "simple_mode.tiers."+name+": required ({keyId, modelId} or null)")
			}
			continue
		}
		var t struct {
			KeyID   *string `json:"keyId"`
			ModelID *string `json:"modelId"`
		}
		if string(v) == "null" {
			continue
		}
		if json.Unmarshal(v, &t) != nil || t.KeyID == nil || *t.KeyID == "" || t.ModelID == nil || *t.ModelID == "" {
			faults = append(faults, "simple_mode.tiers."+name+": want {keyId, modelId} (non-empty strings) or null")
		}
	}
	if len(faults) > 0 {
		return toolArgsError(strings.Join(faults, "; "))
	}
	return nil
}

// toolArgsError is the JSON-RPC error the MCP SDK answers when a tool's arguments fail
// its input schema.
func toolArgsError(detail string) error {
	return &rpcError{rpcInvalidParams, "Invalid arguments for tool ORGANIZATION_SETTINGS_UPDATE: " + detail}
}

// simpleMode is the org setting that picks a provider key and model per tier.
type simpleMode struct {
	Tiers map[string]*struct {
		KeyID   string `json:"keyId"`
		ModelID string `json:"modelId"`
	} `json:"tiers"`
}

func (p *Pod) toolAgentCreate(ctx context.Context, tc toolCall, raw json.RawMessage) (any, error) {
	var a struct {
		Data struct {
			Title       string          `json:"title"`
			Connections json.RawMessage `json:"connections"`
		} `json:"data"`
	}
	if err := args(raw, &a); err != nil {
		return nil, err
	}
	if len(a.Data.Connections) == 0 || string(a.Data.Connections) == "null" {
		a.Data.Connections = json.RawMessage(`[]`)
	}
	id, err := p.st.createAgent(ctx, tc.org.ID, a.Data.Title, a.Data.Connections)
	if err != nil {
		return nil, err
	}
	return map[string]any{"item": map[string]any{"id": id, "title": a.Data.Title, "connections": a.Data.Connections,
		"organization_id": tc.org.ID}}, nil
}

func (p *Pod) toolThreadCreate(ctx context.Context, tc toolCall, raw json.RawMessage) (any, error) {
	var a struct {
		Data struct {
			ID           string `json:"id"`
			VirtualMCPID string `json:"virtual_mcp_id"`
		} `json:"data"`
	}
	if err := args(raw, &a); err != nil {
		return nil, err
	}
	if a.Data.ID == "" {
		a.Data.ID = newID("thrd")
	}
	if !validThreadID(a.Data.ID) {
		return nil, errorf(http.StatusBadRequest, "thread id %q: want 1-128 characters without '.', '*', '>' or spaces", a.Data.ID)
	}
	ok, err := p.st.agentExists(ctx, tc.org.ID, a.Data.VirtualMCPID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errorf(http.StatusBadRequest, "virtual_mcp_id %q: no such agent in this organization", a.Data.VirtualMCPID)
	}
	created, err := p.st.createThread(ctx, tc.org.ID, a.Data.ID, a.Data.VirtualMCPID)
	if errors.Is(err, errExists) {
		return nil, errorf(http.StatusConflict, "thread %q already exists", a.Data.ID)
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"item": map[string]any{"id": a.Data.ID, "virtual_mcp_id": a.Data.VirtualMCPID,
		"organization_id": tc.org.ID, "status": StatusCompleted, "created_at": created}}, nil
}
