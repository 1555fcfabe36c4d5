package testbed

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/chaosd/chaosd/logging"
)

// ErrKilled is what Run returns after Kill.
var ErrKilled = errors.New("testbed: pod killed")

// Pod is one testbed pod: mesh's run pipeline on mesh's contract.
type Pod struct {
	cfg          Config
	log          *zap.Logger
	ln           net.Listener
	srv          *http.Server
	db           *pgxpool.Pool
	st           *store
	nc           *nats.Conn
	buf          *buffer
	hb           *heartbeats // May only: today's mesh has no heartbeat bucket
	runs         *registry
	metrics      *metrics
	providerHTTP *http.Client
	freeze       gate                 // failpoint: tests freeze dispatch, heartbeats and scans (a paused process)
	bugs         atomic.Pointer[Bugs] // the defect set: cfg.Bugs, replaced at run time by POST /testbed/bugs

	ready       atomic.Bool // the schema is in place; routes serve
	natsDropped atomic.Bool // ready-but-failing: NATS disconnected once, the attach path is gone
	stopping    atomic.Bool

	life     context.Context // cancelled when the pod is gone (Kill, or the end of Run)
	kill     context.CancelFunc
	work     context.Context // cancelled when a stop begins: loops, dispatchers, SSE streams
	stopWork context.CancelFunc

	trackMu  sync.Mutex     // guards Add on the wait groups against a stop's Wait
	runWG    sync.WaitGroup // dispatchers
	bgWG     sync.WaitGroup // loops, purges
	killOnce sync.Once
	closed   chan struct{}
}

// New builds a pod: it validates cfg, binds the listen address and sets up the
// Postgres pool and the NATS connection, both of which connect (and reconnect) in the
// background. Run starts it.
func New(cfg Config, log *zap.Logger) (*Pod, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Bugs == nil {
		cfg.Bugs = Bugs{}
	}
	log = log.Named("testbed").With(zap.String(logging.KeyPod, cfg.PodName))
	p := &Pod{cfg: cfg, log: log, runs: newRegistry(), metrics: newMetrics(cfg.PodName),
		providerHTTP: newProviderHTTP(cfg.providerTransport), closed: make(chan struct{})}
	bugs := cfg.Bugs.clone()
	p.bugs.Store(&bugs)
	p.life, p.kill = context.WithCancel(context.Background())
	p.work, p.stopWork = context.WithCancel(p.life)
	if err := p.connect(); err != nil {
		p.kill()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		p.closeAll()
		return nil, fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	p.ln = ln
	p.srv = &http.Server{Handler: p.routes(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return p.work }}
	return p, nil
}

func (p *Pod) connect() error {
	pgcfg, err := pgxpool.ParseConfig(p.cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	pgcfg.ConnConfig.ConnectTimeout = p.cfg.DBTimeout
	pgcfg.MaxConns = 16
	if p.db, err = pgxpool.NewWithConfig(p.life, pgcfg); err != nil {
		return fmt.Errorf("postgres pool: %w", err)
	}
	p.st = &store{db: p.db, timeout: p.cfg.DBTimeout, executor: p.cfg.Executor()}
	p.nc, err = nats.Connect(p.cfg.NATSURL, nats.Name("testbed-"+p.cfg.PodName), nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond), nats.Timeout(p.cfg.DBTimeout),
		nats.PingInterval(5*time.Second), nats.MaxPingsOutstanding(2),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { p.noteDisconnect(err) }))
	if err != nil {
		p.db.Close()
		return fmt.Errorf("nats %s: %w", p.cfg.NATSURL, err)
	}
	js, err := jetstream.New(p.nc)
	if err != nil {
		p.nc.Close()
		p.db.Close()
		return fmt.Errorf("jetstream: %w", err)
	}
	p.buf = &buffer{js: js, timeout: p.cfg.DBTimeout}
	if !p.current() {
		p.hb = &heartbeats{js: js, pod: p.cfg.PodName, ttl: p.cfg.HeartbeatTTL, timeout: p.cfg.DBTimeout,
			broken: p.cfg.Bugs.Has(BugNoHeartbeatBucket)}
	}
	return nil
}

// Addr is the address the pod listens on.
func (p *Pod) Addr() net.Addr { return p.ln.Addr() }

// URL is the pod's base URL (http://host:port) on loopback.
func (p *Pod) URL() string {
	port := p.ln.Addr().(*net.TCPAddr).Port
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

// Name is the pod's name.
func (p *Pod) Name() string { return p.cfg.PodName }

// Ready reports whether the pod serves its routes (the schema is in place).
func (p *Pod) Ready() bool { return p.ready.Load() }

// Freeze stops the pod's dispatch (every publish), heartbeats and scans until Thaw,
// as a paused process would: a failpoint for in-process tests that stand in for
// docker pause. Unlike a real pause, its HTTP routes still answer.
func (p *Pod) Freeze() { p.freeze.freeze() }

// Thaw ends a Freeze: whatever waited goes on where it stopped.
func (p *Pod) Thaw() { p.freeze.thaw() }

// Run serves until ctx is cancelled, then stops gracefully: it stops its runs,
// releases them in Postgres (owner NULL) and deletes its heartbeat key, so that
// another pod takes them over at once; in today's mesh it drains and puts its
// thread-gate workflows back on the queue. Run returns ErrKilled after Kill.
func (p *Pod) Run(ctx context.Context) error {
	if p.current() {
		p.log.Info("pod starting as today's mesh", zap.String(logging.KeyAddr, p.ln.Addr().String()), zap.Stringer("bugs", p.cfg.Bugs),
			zap.Bool("runtime_switches", p.cfg.RuntimeSwitches), zap.String("executor_id", p.cfg.Executor()),
			zap.Duration("queue_poll", p.cfg.QueuePoll), zap.Duration("reaper_after", p.cfg.ReaperAfter), zap.Duration("drain_timeout", p.cfg.DrainTimeout))
	} else {
		p.log.Info("pod starting", zap.String(logging.KeyAddr, p.ln.Addr().String()), zap.Stringer("bugs", p.cfg.Bugs), zap.Bool("runtime_switches", p.cfg.RuntimeSwitches),
			zap.Duration("heartbeat_ttl", p.cfg.HeartbeatTTL), zap.Duration("heartbeat_interval", p.cfg.HeartbeatInterval))
	}
	served := make(chan error, 1)
	go func() { served <- p.srv.Serve(p.ln) }()
	if p.trackBackground() {
		go func() {
			defer p.bgWG.Done()
			p.boot(p.work)
		}()
	}
	select {
	case <-ctx.Done():
		p.shutdown()
		return nil
	case <-p.life.Done():
		<-p.closed
		return ErrKilled
	case err := <-served:
		p.Kill()
		return fmt.Errorf("serve: %w", err)
	}
}

// boot applies the schema (retrying until Postgres answers), then starts the
// heartbeat and watcher loops. Today's mesh instead takes back its last posted defect
// set (runtime switches), recovers its own pending workflows, and starts the queue
// poll and the reaper.
func (p *Pod) boot(ctx context.Context) {
	bo := newBackoff(200*time.Millisecond, 2*time.Second)
	for {
		mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := Migrate(mctx, p.db, p.cfg.Mesh)
		cancel()
		if err == nil {
			break
		}
		p.log.Warn("migration failed; retrying", zap.Error(err))
		if bo.wait(ctx) != nil {
			return
		}
	}
	loops := []func(context.Context){p.heartbeatLoop, p.watchLoop}
	if p.cfg.api() { // serves only: no key, no recovery, no queue, no reaper
		loops = nil
	} else if p.current() {
		if p.cfg.RuntimeSwitches {
			p.restoreSwitches(ctx)
		}
		p.recoverOwn(ctx)
		loops = []func(context.Context){p.queueLoop, p.reapLoop}
	}
	p.ready.Store(true)
	p.log.Info("pod ready")
	for _, loop := range loops {
		if p.trackBackground() {
			go func() {
				defer p.bgWG.Done()
				loop(ctx)
			}()
		}
	}
}

// track adds a dispatcher to runWG unless the pod is stopping.
func (p *Pod) track() bool {
	p.trackMu.Lock()
	defer p.trackMu.Unlock()
	if p.work.Err() != nil {
		return false
	}
	p.runWG.Add(1)
	return true
}

// trackBackground adds a background goroutine to bgWG unless the pod is stopping.
func (p *Pod) trackBackground() bool {
	p.trackMu.Lock()
	defer p.trackMu.Unlock()
	if p.work.Err() != nil {
		return false
	}
	p.bgWG.Add(1)
	return true
}

// stopAll cancels the work context under trackMu, so no goroutine is added after.
func (p *Pod) stopAll() {
	p.trackMu.Lock()
	p.stopWork()
	p.trackMu.Unlock()
}

// shutdown is the graceful stop.
func (p *Pod) shutdown() {
	if p.current() {
		p.drain()
		return
	}
	p.stopping.Store(true)
	p.log.Info("pod stopping: handing its runs over")
	p.stopAll()
	p.runWG.Wait() // no dispatcher publishes any more
	ctx, cancel := context.WithTimeout(p.life, 5*time.Second)
	defer cancel()
	if n, err := p.st.releaseAll(ctx, p.cfg.PodName); err != nil {
		p.log.Warn("could not release runs", zap.Error(err))
	} else if n > 0 {
		p.log.Info("released runs", zap.Int64("runs", n))
	}
	if p.cfg.api() {
		// no key to delete
	} else if p.nc.Status() != nats.CONNECTED {
		p.log.Warn("NATS unreachable: the heartbeat key stays until it expires")
	} else if err := p.hb.remove(ctx); err != nil {
		p.log.Warn("could not delete heartbeat key", zap.Error(err))
	}
	if err := p.srv.Shutdown(ctx); err != nil {
		p.log.Warn("http shutdown", zap.Error(err))
	}
	p.closeAll()
	p.log.Info("pod stopped")
}

// Kill stops the pod abruptly, as SIGKILL would: connections are cut, dispatch stops
// mid-run, the heartbeat key stays (until it expires) and the runs stay owned by this
// pod. It returns when every goroutine of the pod has ended. Safe to call repeatedly.
func (p *Pod) Kill() {
	p.stopping.Store(true)
	p.closeAll()
}

func (p *Pod) closeAll() {
	p.killOnce.Do(func() {
		p.trackMu.Lock()
		p.kill()
		p.trackMu.Unlock()
		p.nc.Close() // first: nothing reaches NATS from here on
		if p.srv != nil {
			_ = p.srv.Close()
		}
		p.runWG.Wait()
		p.bgWG.Wait()
		p.db.Close()
		close(p.closed)
	})
}
