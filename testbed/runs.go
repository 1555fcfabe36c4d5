package testbed

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/chaosd/chaosd/logging"
)

// ErrRunClaim is mesh's RunClaimError: the thread's run is in progress on another
// pod. The testbed answers it with 409.
var ErrRunClaim = errors.New("already running on another pod")

type startRequest struct {
	Messages []uiMessage `json:"messages"`
	Agent    *struct {
		ID string `json:"id"`
	} `json:"agent"`
	Tier     string `json:"tier"`
	ThreadID string `json:"thread_id"` // today's mesh: optional, and then the route's thread
}

func (s startRequest) validate() error {
	if len(s.Messages) == 0 {
		return errorf(http.StatusBadRequest, "messages: want at least one message")
	}
	for i, m := range s.Messages {
		if m.ID == "" || !validThreadID(m.ID) {
			return errorf(http.StatusBadRequest, "messages[%d].id %q: want a non-empty id without '.', '*', '>' or spaces", i, m.ID)
		}
		switch m.Role {
		case "user", "assistant", "system":
		default:
			return errorf(http.StatusBadRequest, "messages[%d].role %q: want user, assistant or system", i, m.Role)
		}
	}
	if s.Messages[len(s.Messages)-1].Role != "user" {
		return errorf(http.StatusBadRequest, "messages: the last message must be the user's")
	}
	return nil
}

// handleStartRun is POST /api/<slug>/decopilot/threads/<id>/messages: claim the
// thread (claimRunStart; today's mesh: its gate workflow), answer 202 {taskId}, and
// dispatch the run in the background. The task id is the run's workflow id; today's
// routes.ts answers the thread id.
func (p *Pod) handleStartRun(w http.ResponseWriter, r *http.Request) {
	if p.current() && p.stopping.Load() { // draining: its requests' contexts are cancelled already
		writeError(w, http.StatusServiceUnavailable, "pod is stopping")
		return
	}
	o, threadID, err := p.runRoute(r)
	var req startRequest
	if err == nil {
		err = p.decodeBody(w, r, &req)
	}
	if err == nil {
		err = req.validate()
	}
	if err == nil && p.current() && req.ThreadID != "" && req.ThreadID != threadID {
		err = errorf(http.StatusBadRequest, "thread_id %q: want the route's thread %q", req.ThreadID, threadID)
	}
	var cfg runConfig
	if err == nil {
		cfg, err = p.planRun(r.Context(), o, threadID, req)
	}
	if err == nil {
		err = p.startRun(r.Context(), o, threadID, cfg)
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	taskID := cfg.TaskID
	if p.current() {
		taskID = threadID
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"taskId": taskID})
}

// runRoute authenticates a /api/<slug>/decopilot/.../<id> request and resolves its
// organization and thread id.
func (p *Pod) runRoute(r *http.Request) (org, string, error) {
	who, err := p.authenticate(r)
	if err != nil {
		return org{}, "", err
	}
	o, err := p.orgForSlug(r.Context(), who, r.PathValue("slug"))
	if err != nil {
		return o, "", err
	}
	id := r.PathValue("id")
	if !validThreadID(id) {
		return o, "", errorf(http.StatusBadRequest, "thread id %q: want 1-128 characters without '.', '*', '>' or spaces", id)
	}
	return o, id, nil
}

// planRun resolves the tier's provider key and model and builds the run config.
// Today's mesh ignores the body's agent: the thread's runs.
func (p *Pod) planRun(ctx context.Context, o org, threadID string, req startRequest) (runConfig, error) {
	tier := req.Tier
	if tier == "" {
		tier = "smart"
	}
	raw, err := p.st.simpleMode(ctx, o.ID)
	if err != nil {
		return runConfig{}, err
	}
	var sm simpleMode
	_ = json.Unmarshal(raw, &sm)
	t := sm.Tiers[tier]
	if t == nil || t.KeyID == "" || t.ModelID == "" {
		return runConfig{}, errorf(http.StatusBadRequest, "tier %q has no model configured (ORGANIZATION_SETTINGS_UPDATE simple_mode.tiers.%s)", tier, tier)
	}
	last := req.Messages[len(req.Messages)-1]
	cfg := runConfig{TaskID: GateWorkflowID(threadID, last.ID), MessageID: last.ID, Messages: req.Messages,
		Tier: tier, KeyID: t.KeyID, ModelID: t.ModelID}
	if req.Agent != nil && req.Agent.ID != "" && !p.current() {
		ok, err := p.st.agentExists(ctx, o.ID, req.Agent.ID)
		if err != nil {
			return cfg, err
		}
		if !ok {
			return cfg, errorf(http.StatusBadRequest, "agent %q: no such agent in this organization", req.Agent.ID)
		}
		cfg.AgentID = req.Agent.ID
	}
	return cfg, nil
}

// startRun claims the thread for this pod and launches its dispatcher; an API pod
// (RoleAPI) starts the run for no one: released, or its gate enqueued. In today's
// mesh the claim is the start of the run's gate workflow and first attempt (fence)
// on this pod's executor id, with the user's message persisted; threads.run_owner_pod
// stays NULL.
func (p *Pod) startRun(ctx context.Context, o org, threadID string, cfg runConfig) error {
	if p.stopping.Load() {
		return errorf(http.StatusServiceUnavailable, "pod is stopping")
	}
	if err := p.st.ensureThread(ctx, o.ID, threadID, cfg.AgentID); err != nil {
		if errors.Is(err, errNotFound) {
			return errorf(http.StatusNotFound, "thread %q not found", threadID)
		}
		return err
	}
	if !p.runs.reserve(threadID) {
		return errorf(http.StatusConflict, "%s", ErrRunClaim)
	}
	var fence int64
	var ok bool
	var err error
	api := p.cfg.api() // runs nothing: the run is left to the workers
	switch {
	case p.current():
		fence, ok, err = p.st.startGate(ctx, o.ID, threadID, cfg, api)
	case api:
		ok, err = p.st.claimRunStart(ctx, o.ID, threadID, "", cfg)
	default:
		ok, err = p.st.claimRunStart(ctx, o.ID, threadID, p.cfg.PodName, cfg)
	}
	if err != nil || !ok || api {
		p.runs.release(threadID)
		if err == nil && !ok {
			err = errorf(http.StatusConflict, "%s", ErrRunClaim)
		}
		if err == nil {
			p.metrics.runsStarted.Inc()
			p.log.Info("run left to the workers", zap.String("thread", threadID))
		}
		return err
	}
	p.metrics.runsStarted.Inc()
	p.dispatch(&run{thread: threadID, org: o.ID, cfg: cfg, fence: fence})
	return nil
}

// runLogger is the logger of one run.
func (p *Pod) runLogger(r *run) *zap.Logger {
	log := p.log.With(zap.String(logging.KeyThread, r.thread), zap.String("task", r.cfg.TaskID),
		zap.Bool("resume", r.resume))
	if r.fence > 0 {
		log = log.With(zap.Int64("fence", r.fence))
	}
	return log
}

// userText is the text of a UI message's text parts, joined with spaces.
func userText(m uiMessage) string {
	var parts []string
	for _, part := range m.Parts {
		if part.Type == "text" {
			parts = append(parts, part.Text)
		}
	}
	return strings.Join(parts, " ")
}
