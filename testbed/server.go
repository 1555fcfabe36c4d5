package testbed

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"
)

// routes builds the pod's HTTP handler. Paths are mesh's.
func (p *Pod) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(path string, byMethod map[string]http.HandlerFunc) { mux.Handle(path, methods(byMethod)) }
	handle("/health/live", map[string]http.HandlerFunc{"GET": p.handleLive})
	handle("/health/ready", map[string]http.HandlerFunc{"GET": p.handleReady})
	handle("/metrics", map[string]http.HandlerFunc{"GET": p.handleMetrics})

	handle("/api/auth/sign-up/email", map[string]http.HandlerFunc{"POST": p.booted(p.handleSignUp)})
	handle("/api/auth/sign-in/email", map[string]http.HandlerFunc{"POST": p.booted(p.handleSignIn)})
	handle("/api/auth/organization/create", map[string]http.HandlerFunc{"POST": p.booted(p.handleOrgCreate)})
	handle("/api/auth/organization/set-active", map[string]http.HandlerFunc{"POST": p.booted(p.handleOrgSetActive)})
	handle("/api/auth/get-session", map[string]http.HandlerFunc{"GET": p.booted(p.handleGetSession)})
	handle("/mcp/{target}", map[string]http.HandlerFunc{"POST": p.booted(p.handleMCP)})

	handle("/api/{slug}/decopilot/threads/{id}/messages", map[string]http.HandlerFunc{"POST": p.booted(p.handleStartRun)})
	if !p.current() { // today's mesh serves the watch as .../threads/<id>/stream only
		handle("/api/{slug}/decopilot/attach/{id}", map[string]http.HandlerFunc{"GET": p.booted(p.handleAttach)})
	}
	handle("/api/{slug}/decopilot/threads/{id}/stream", map[string]http.HandlerFunc{"GET": p.booted(p.handleAttach)})
	if p.cfg.RuntimeSwitches {
		handle("/testbed/bugs", map[string]http.HandlerFunc{"GET": p.handleGetBugs, "POST": p.handleSetBugs})
	}

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { writeError(w, http.StatusNotFound, "Not Found") })
	return p.recoverer(mux)
}

// methods dispatches on the request method and answers others with a JSON 405.
func methods(byMethod map[string]http.HandlerFunc) http.Handler {
	allowed := make([]string, 0, len(byMethod))
	for m := range byMethod {
		allowed = append(allowed, m)
	}
	sort.Strings(allowed)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, ok := byMethod[r.Method]; ok {
			h(w, r)
			return
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeError(w, http.StatusMethodNotAllowed, "Method Not Allowed")
	})
}

// booted refuses requests with 503 until the schema is in place.
func (p *Pod) booted(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !p.ready.Load() {
			writeError(w, http.StatusServiceUnavailable, "pod is starting")
			return
		}
		h(w, r)
	}
}

// recoverer turns a handler panic into a 500 instead of a dropped connection.
func (p *Pod) recoverer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				p.log.Error("handler panic", zap.String("path", r.URL.Path), zap.Any("panic", v), zap.Stack("stack"))
				writeError(w, http.StatusInternalServerError, "internal error")
			}
		}()
		h.ServeHTTP(w, r)
	})
}

// writeJSON writes v as the JSON body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes mesh's error shape, {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// httpError is an error with the status to answer it with.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) error {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

// fail answers err: an httpError with its status, anything else (a store failure)
// with 500 and a log line.
func (p *Pod) fail(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	if errors.As(err, &he) {
		writeError(w, he.status, he.msg)
		return
	}
	p.log.Error("request failed", zap.String("path", r.URL.Path), zap.Error(err))
	writeError(w, http.StatusInternalServerError, "internal error")
}

// decodeBody reads a JSON body of at most MaxBodyBytes into v.
func (p *Pod) decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, p.cfg.MaxBodyBytes)
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return errorf(http.StatusRequestEntityTooLarge, "request body too large (limit %d bytes)", p.cfg.MaxBodyBytes)
		case errors.Is(err, io.EOF):
			return errorf(http.StatusBadRequest, "request body is empty: want JSON")
		default:
			return errorf(http.StatusBadRequest, "invalid JSON body: %v", err)
		}
	}
	return nil
}

// sessionTTL is how long a sign-in lasts (Better Auth's default: 7 days).
const sessionTTL = 7 * 24 * time.Hour
