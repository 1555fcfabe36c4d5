package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/chaosd/chaosd/logging"
	"github.com/chaosd/chaosd/mockai"
)

const mockaiDescription = `
Serve the OpenAI-compatible streaming mock LLM: a drop-in for the Bun mock of mesh's
multi-pod harness (base URL http://<host>:9000/v1, model mock-model).

Routes: GET /health ("ok"), GET /v1/models, POST /v1/chat/completions, GET /metrics
(Prometheus). A chat completion streams SSE frames when "stream" is true (role frame,
"chunk-1 " … "chunk-N ", finish frame, a usage frame with
stream_options.include_usage, then [DONE]); otherwise it answers one chat.completion.

Hints, read from the last user message (the first match of each kind counts):
  slow:NxMS    N content chunks, MS ms apart (checked first; N at least 1)
  many:N       N content chunks, 50 ms apart (many:0 gives 1)
  (default)    5 content chunks, 50 ms apart
  fail:CODE    answer HTTP CODE (400-599) with an OpenAI error body
  cut:K        close the connection after content chunk K (no finish frame, no [DONE])
  stall:K      send nothing after content chunk K; hold the connection until the
               client leaves or --max-stall passes, then close it
  stall:KxMS   the same, holding MS ms
Only one fault applies: fail over cut over stall. A value over --max-chunks or
--max-delay is answered 400, naming the bound.

On SIGINT or SIGTERM it stops accepting connections, lets open streams finish for up
to --shutdown-timeout, then closes the rest.`

// mockaiConfig is the command's configuration: flags over environment over defaults.
type mockaiConfig struct {
	listen          string
	model           string
	maxBody         int64
	maxChunks       int
	maxDelay        time.Duration
	maxStall        time.Duration
	shutdownTimeout time.Duration
	hijack          bool
}

func defaultMockaiConfig(io IO) (mockaiConfig, error) {
	c := mockaiConfig{
		listen:          envOr(io, "CHAOSD_MOCKAI_LISTEN", ":9000"),
		model:           envOr(io, "CHAOSD_MOCKAI_MODEL", mockai.DefaultModel),
		maxBody:         mockai.DefaultMaxBodyBytes,
		maxChunks:       mockai.DefaultMaxChunks,
		maxDelay:        mockai.DefaultMaxDelay,
		maxStall:        mockai.DefaultMaxStall,
		shutdownTimeout: 10 * time.Second,
		hijack:          true,
	}
	var errs []error
	envParse(io, "CHAOSD_MOCKAI_MAX_BODY", &errs, func(s string) (err error) { c.maxBody, err = strconv.ParseInt(s, 10, 64); return })
	envParse(io, "CHAOSD_MOCKAI_MAX_CHUNKS", &errs, func(s string) (err error) { c.maxChunks, err = strconv.Atoi(s); return })
	envParse(io, "CHAOSD_MOCKAI_MAX_DELAY", &errs, func(s string) (err error) { c.maxDelay, err = time.ParseDuration(s); return })
	envParse(io, "CHAOSD_MOCKAI_MAX_STALL", &errs, func(s string) (err error) { c.maxStall, err = time.ParseDuration(s); return })
	envParse(io, "CHAOSD_MOCKAI_SHUTDOWN_TIMEOUT", &errs, func(s string) (err error) { c.shutdownTimeout, err = time.ParseDuration(s); return })
	envParse(io, "CHAOSD_MOCKAI_HIJACK", &errs, func(s string) (err error) { c.hijack, err = strconv.ParseBool(s); return })
	return c, errors.Join(errs...)
}

// envParse applies parse to the environment variable key when it is set, and records
// an error naming the variable when it does not parse.
func envParse(io IO, key string, errs *[]error, parse func(string) error) {
	if v := io.Getenv(key); v != "" {
		if err := parse(v); err != nil {
			*errs = append(*errs, fmt.Errorf("environment %s=%q: %w", key, v, err))
		}
	}
}

func (c mockaiConfig) validate() error {
	var errs []error
	if c.maxBody < 1 {
		errs = append(errs, fmt.Errorf("--max-body %d: want at least 1", c.maxBody))
	}
	if c.maxChunks < 1 {
		errs = append(errs, fmt.Errorf("--max-chunks %d: want at least 1", c.maxChunks))
	}
	if c.maxDelay < time.Millisecond {
		errs = append(errs, fmt.Errorf("--max-delay %s: want at least 1ms", c.maxDelay))
	}
	if c.maxStall <= 0 {
		errs = append(errs, fmt.Errorf("--max-stall %s: want more than 0", c.maxStall))
	}
	if c.shutdownTimeout < 0 {
		errs = append(errs, fmt.Errorf("--shutdown-timeout %s: want 0 or more", c.shutdownTimeout))
	}
	return errors.Join(errs...)
}

func runMockai(ctx context.Context, io IO, args []string) error {
	c, err := defaultMockaiConfig(io)
	if err != nil {
		return err
	}
	fs, lf := newFlagSet(io, "mockai", "[flags]", mockaiDescription)
	fs.StringVar(&c.listen, "listen", c.listen, "address to listen on (env CHAOSD_MOCKAI_LISTEN)")
	fs.StringVar(&c.model, "model", c.model, "model id listed and answered (env CHAOSD_MOCKAI_MODEL)")
	fs.Int64Var(&c.maxBody, "max-body", c.maxBody, "largest request body in bytes; larger ones get 413 (env CHAOSD_MOCKAI_MAX_BODY)")
	fs.IntVar(&c.maxChunks, "max-chunks", c.maxChunks, "bound of the chunk counts in hints (slow:N, many:N, cut:K, stall:K); over it is a 400 (env CHAOSD_MOCKAI_MAX_CHUNKS)")
	fs.DurationVar(&c.maxDelay, "max-delay", c.maxDelay, "bound of the delays in hints (slow:NxMS, stall:KxMS); over it is a 400 (env CHAOSD_MOCKAI_MAX_DELAY)")
	fs.DurationVar(&c.maxStall, "max-stall", c.maxStall, "how long stall:K holds a connection before closing it (env CHAOSD_MOCKAI_MAX_STALL)")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", c.shutdownTimeout, "on SIGINT/SIGTERM, how long open streams may finish before they are closed (env CHAOSD_MOCKAI_SHUTDOWN_TIMEOUT)")
	fs.BoolVar(&c.hijack, "hijack", c.hijack, "take HTTP/1.1 stream connections over after the request (no goroutine per stream between chunks, Connection: close); false streams from net/http handlers, keeping connections alive (env CHAOSD_MOCKAI_HIJACK)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	log, err := lf.logger(io)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	return serveMockai(ctx, log.Named("mockai"), c)
}

// serveMockai serves until ctx ends, then shuts down gracefully.
func serveMockai(ctx context.Context, log *zap.Logger, c mockaiConfig) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv := mockai.New(mockai.Options{
		Model: c.model, Logger: log, Registerer: reg, MaxBodyBytes: c.maxBody,
		MaxChunks: c.maxChunks, MaxDelay: c.maxDelay, MaxStall: c.maxStall, DisableHijack: !c.hijack,
	})
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/metrics" {
				metrics.ServeHTTP(w, r)
				return
			}
			srv.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          zap.NewStdLog(log.WithOptions(zap.IncreaseLevel(zap.WarnLevel))),
	}
	ln, err := mockai.Listen(c.listen, 0, log)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("listening", zap.String(logging.KeyAddr, ln.Addr().String()), zap.String("model", c.model))
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", zap.Int("open_streams", srv.OpenStreams()), zap.Duration("timeout", c.shutdownTimeout))
	return shutdownMockai(ctx, log, hs, srv, c.shutdownTimeout)
}

// shutdownMockai stops accepting connections and lets the open streams and answers
// finish, both within timeout; what is left then is closed.
func shutdownMockai(ctx context.Context, log *zap.Logger, hs *http.Server, srv *mockai.Server, timeout time.Duration) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	var wg sync.WaitGroup
	var httpErr, streamErr error
	wg.Go(func() { httpErr = hs.Shutdown(sctx) })
	wg.Go(func() { streamErr = srv.Shutdown(sctx) })
	wg.Wait()
	if httpErr != nil || streamErr != nil {
		_ = hs.Close()
		log.Warn("shutdown timeout passed: closed what was still open", zap.NamedError("http", httpErr), zap.NamedError("streams", streamErr))
		return nil
	}
	log.Info("shut down")
	return nil
}
