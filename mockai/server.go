package mockai

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Defaults of Options.
const (
	DefaultModel        = "mock-model"
	DefaultMaxBodyBytes = 1 << 20
	DefaultMaxStall     = 10 * time.Minute
)

// Log field keys.
const (
	logKeyRoute    = "route"
	logKeyStatus   = "status"
	logKeyOutcome  = "outcome"
	logKeyDuration = "duration"
)

// Routes, as they appear in the requests metric.
const (
	routeHealth = "/health"
	routeModels = "/v1/models"
	routeChat   = "/v1/chat/completions"
	routeOther  = "other"
)

// Options configures a Server. The zero value is the seed mock's setup (model
// mock-model) with the default bounds.
type Options struct {
	Model        string                // model id answered and listed; default "mock-model"
	Logger       *zap.Logger           // nil = zap.NewNop()
	Registerer   prometheus.Registerer // nil = metrics not registered (a private registry)
	MaxBodyBytes int64                 // request body cap (413 above it); default 1 MiB

	MaxChunks int           // bound of slow:N, many:N, cut:K, stall:K; default 100000
	MaxDelay  time.Duration // bound of slow:NxMS and stall:KxMS; default 10 minutes
	MaxStall  time.Duration // how long stall:K (without xMS) holds; default 10 minutes

	// DisableHijack serves every stream from its net/http handler goroutine (the
	// connection stays alive for the next request). By default a stream over HTTP/1.1
	// takes its connection over after the request is read: the stream then holds no
	// goroutine between chunks, only a timer and a small reader goroutine that notices a
	// client leaving, and the response ends with "Connection: close".
	DisableHijack bool
}

// Server is the mock LLM. It is an http.Handler for /health, /v1/models and
// /v1/chat/completions; everything else is 404.
//
// Streams that took their connection over outlive the http.Server (or
// httptest.Server) that accepted them: end them with Shutdown or Close.
type Server struct {
	log        *zap.Logger
	model      string
	modelJSON  []byte // the model id as a JSON string
	modelsBody []byte
	lim        Limits
	maxBody    int64
	maxStall   time.Duration
	hijack     bool
	m          *metrics

	open     atomic.Int64
	mu       sync.Mutex
	streams  map[*stream]struct{}
	draining bool
	drained  chan struct{} // closed once draining and no stream is open
	closing  chan struct{} // closed by Close: waits of non-streamed answers end
	closed   bool
}

// New builds a Server from opts.
func New(opts Options) *Server {
	if opts.Model == "" {
		opts.Model = DefaultModel
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxStall <= 0 {
		opts.MaxStall = DefaultMaxStall
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	s := &Server{
		log:       opts.Logger,
		model:     opts.Model,
		modelJSON: quote(opts.Model),
		lim:       Limits{MaxChunks: opts.MaxChunks, MaxDelay: opts.MaxDelay}.withDefaults(),
		maxBody:   opts.MaxBodyBytes,
		maxStall:  opts.MaxStall,
		hijack:    !opts.DisableHijack,
		m:         newMetrics(opts.Registerer),
		streams:   make(map[*stream]struct{}),
		closing:   make(chan struct{}),
	}
	s.modelsBody = fmt.Appendf(nil, `{"object":"list","data":[{"id":%s,"object":"model","created":0,"owned_by":"mock"}]}`, s.modelJSON)
	return s
}

// OpenStreams is the number of streams open now.
func (s *Server) OpenStreams() int { return int(s.open.Load()) }

// ServeHTTP serves the mock's routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case routeHealth:
		if s.allow(w, r, routeHealth, http.MethodGet, http.MethodHead) {
			s.reply(w, routeHealth, "text/plain; charset=utf-8", []byte("ok"))
		}
	case routeModels:
		if s.allow(w, r, routeModels, http.MethodGet, http.MethodHead) {
			s.reply(w, routeModels, "application/json", s.modelsBody)
		}
	case routeChat:
		if s.allow(w, r, routeChat, http.MethodPost) {
			s.chat(w, r)
		}
	default:
		s.fail(w, routeOther, &APIError{Status: http.StatusNotFound, Type: "invalid_request_error",
			Message: fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path)})
	}
}

// allow answers 405 with an Allow header unless r's method is one of methods.
func (s *Server) allow(w http.ResponseWriter, r *http.Request, route string, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	allow := methods[0]
	for _, m := range methods[1:] {
		allow += ", " + m
	}
	w.Header().Set("Allow", allow)
	s.fail(w, route, &APIError{Status: http.StatusMethodNotAllowed, Type: "invalid_request_error", Code: "method_not_allowed",
		Message: fmt.Sprintf("method %s is not allowed on %s (allowed: %s)", r.Method, route, allow)})
	return false
}

func (s *Server) reply(w http.ResponseWriter, route, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body) // a client gone is no error of ours
	s.m.request(route, http.StatusOK)
}

func (s *Server) fail(w http.ResponseWriter, route string, e *APIError) {
	body := e.Body()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
	s.m.request(route, e.Status)
	s.log.Debug("request refused", zap.String(logKeyRoute, route), zap.Int(logKeyStatus, e.Status), zap.String("message", e.Message))
}

// chat serves POST /v1/chat/completions.
func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, routeChat, asAPIError(err))
		return
	}
	req, err := DecodeRequest(body)
	if err != nil {
		s.fail(w, routeChat, asAPIError(err))
		return
	}
	plan, err := ParseHints(req.HintText, s.lim)
	if err != nil {
		s.fail(w, routeChat, badRequest("messages", "hint_out_of_bounds", "%v", err))
		return
	}
	if plan.Fault.Kind == FaultFail {
		s.fail(w, routeChat, faultError(plan.Fault.Status))
		return
	}
	if req.Stream {
		s.stream(w, r, req, plan)
		return
	}
	s.complete(w, r, req, plan)
}

func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	tooLarge := &APIError{Status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error", Code: "request_too_large",
		Message: fmt.Sprintf("request body is over the limit of %d bytes", s.maxBody)}
	if r.ContentLength > s.maxBody {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, tooLarge
	}
	if err != nil {
		return nil, badRequest("", "body_read_failed", "read request body: %v", err)
	}
	return body, nil
}

// complete serves a non-streamed chat.completion: it waits as long as the stream would
// take, then answers with all chunks joined. cut and stall faults end the connection
// without an answer.
func (s *Server) complete(w http.ResponseWriter, r *http.Request, req *Request, plan Plan) {
	if s.isDraining() {
		s.fail(w, routeChat, shuttingDown())
		return
	}
	start := time.Now()
	n := plan.Last()
	if !s.waitUntil(r.Context(), dueAt(start, n, plan.Delay)) {
		s.m.request(routeChat, 0)
		abortResponse(w) // the client left, or Close: no half answer
		return
	}
	switch plan.Fault.Kind {
	case FaultCut:
		s.m.request(routeChat, 0)
		abortResponse(w)
	case FaultStall:
		s.m.request(routeChat, 0)
		s.waitUntil(r.Context(), time.Now().Add(s.holdFor(plan.Fault)))
		abortResponse(w)
	default:
		body := completionBody(newID(), start, s.model, n, newUsage(req.PromptTokens, n))
		s.reply(w, routeChat, "application/json", body)
	}
}

// waitUntil waits until t, the request's end or the server's Close; it reports
// whether t was reached.
func (s *Server) waitUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return true
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
	case <-s.closing:
	}
	return false
}

func (s *Server) holdFor(f Fault) time.Duration {
	if f.Hold > 0 {
		return f.Hold
	}
	return s.maxStall
}

// abortResponse ends a response without finishing it: the client sees the connection
// close (HTTP/1) or the stream reset (HTTP/2).
func abortResponse(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close()
		return
	}
	// net/http's documented way to abort a response it cannot hand over.
	panic(http.ErrAbortHandler)
}

// register adds a stream unless the server is draining.
func (s *Server) register(st *stream) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false
	}
	s.streams[st] = struct{}{}
	s.open.Add(1)
	s.m.open.Inc()
	return true
}

func (s *Server) unregister(st *stream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.streams[st]; !ok {
		return
	}
	delete(s.streams, st)
	s.open.Add(-1)
	s.m.open.Dec()
	if s.draining && len(s.streams) == 0 && s.drained != nil {
		close(s.drained)
		s.drained = nil
	}
}

func (s *Server) isDraining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}

// Shutdown stops taking new chat completions (they get 503) and waits until every
// open stream has ended. When ctx ends first, it closes the streams still open (as
// Close does) and returns an error wrapping ctx.Err(). It does not stop a listener:
// the http.Server that serves s does that.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	var done <-chan struct{}
	if len(s.streams) > 0 {
		if s.drained == nil {
			s.drained = make(chan struct{})
		}
		done = s.drained
	}
	s.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		n := s.Close()
		return fmt.Errorf("shutdown: closed %d open streams: %w", n, ctx.Err())
	}
}

// Close ends every open stream at once (the client sees the connection close), ends
// the waits of non-streamed answers, refuses new chat completions, and returns how
// many streams it closed.
func (s *Server) Close() int {
	s.mu.Lock()
	s.draining = true
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
	open := make([]*stream, 0, len(s.streams))
	for st := range s.streams {
		open = append(open, st)
	}
	s.mu.Unlock()
	for _, st := range open {
		st.abort(outcomeShutdown)
	}
	return len(open)
}
