package alert

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Defaults of Config.
const (
	DefaultRenotify     = time.Hour
	DefaultResolveAfter = 10 * time.Minute
	DefaultRetries      = 3
	DefaultQueueSize    = 1024
	DefaultRetryBackoff = time.Second
	// maxBackoff caps the delay between two attempts, Retry-After included.
	maxBackoff = time.Minute
	// maxBatch bounds how many queued alerts one Send carries.
	maxBatch = 64
	// closeGrace is how long Close waits for senders after its context ended and
	// their sends were cancelled, in case a sink ignores its context.
	closeGrace = 2 * time.Second
)

// Log field keys.
const (
	LogKeySink   = "sink"
	LogKeyAlert  = "alert"
	LogKeyStatus = "status"
	LogKeyCount  = "alerts"
)

// Config tunes a Notifier. Zero values mean the defaults.
type Config struct {
	Renotify     time.Duration // re-send a still-firing alert this often (default 1h)
	ResolveAfter time.Duration // a key with no new violation for this long is resolved (default 10m)
	Timeout      time.Duration // per send attempt (default 10s)
	Retries      int           // extra attempts per send, with exponential backoff (default 3; negative: none)
	QueueSize    int           // pending alerts per sink (default 1024); overflow is counted and logged, never blocks
	Labels       map[string]string
	GeneratorURL string
	RetryBackoff time.Duration    // delay before the first retry, doubled for each next one (default 1s)
	Now          func() time.Time // clock (default time.Now)
}

func (c Config) withDefaults() Config {
	if c.Renotify <= 0 {
		c.Renotify = DefaultRenotify
	}
	if c.ResolveAfter <= 0 {
		c.ResolveAfter = DefaultResolveAfter
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	switch {
	case c.Retries == 0:
		c.Retries = DefaultRetries
	case c.Retries < 0:
		c.Retries = 0
	}
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = DefaultRetryBackoff
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Labels = maps.Clone(c.Labels) // shared read-only by every Alert from here on
	return c
}

// tick is how often Run looks for alerts to re-send or resolve: a tenth of the
// shorter interval, between 10ms and 1s.
func (c Config) tick() time.Duration {
	return min(max(min(c.Renotify, c.ResolveAfter)/10, 10*time.Millisecond), time.Second)
}

// Stats counts what a Notifier did. Fired, Renotified and Resolved count alerts (one
// per alert, whatever the number of sinks); Sent, Failed and Dropped count alerts per
// sink and are summed over the sinks at the top level.
type Stats struct {
	Fired      int // new firing alerts
	Renotified int // re-sends of still-firing alerts
	Resolved   int // resolved alerts (ResolveAfter or ResolveAll)
	Open       int // alerts firing now
	Sent       int // delivered (2xx)
	Failed     int // given up on after Retries, or on a permanent error
	Dropped    int // queue full, Violation after Close, or not delivered when Close's context ended
	Sinks      []SinkStats
}

// SinkStats counts one sink's deliveries, in alerts.
type SinkStats struct {
	Name    string
	Sent    int
	Failed  int
	Dropped int
	Retried int // extra attempts (sends, not alerts)
	Pending int // queued or being sent
}

// Notifier deduplicates violations into alerts and delivers them to its sinks. Its
// methods are safe for concurrent use.
type Notifier struct {
	cfg     Config
	log     *zap.Logger
	senders []*sender
	wg      sync.WaitGroup
	abort   context.CancelFunc // cancels in-flight sends when Close runs out of time

	mu         sync.Mutex
	open       map[string]*entry
	closed     bool
	fired      int
	renotified int
	resolved   int
}

// entry is the state of one firing key.
type entry struct {
	alert  Alert
	seenAt time.Time // clock time of the latest violation (ResolveAfter counts from it)
	sentAt time.Time // clock time of the latest send (Renotify counts from it)
}

// renotifyAware is an optional ability of a Sink: it is told Config.Renotify (the
// Alertmanager sink derives its alerts' expiry from it).
type renotifyAware interface{ setRenotify(time.Duration) }

// New returns a Notifier delivering to sinks. It starts one sender goroutine per sink
// at once, so alerts go out even before Run; Close stops them. log may be nil.
func New(cfg Config, sinks []Sink, log *zap.Logger) *Notifier {
	if log == nil {
		log = zap.NewNop()
	}
	cfg = cfg.withDefaults()
	// The senders' lifetime is the Notifier's, from New to Close, not any caller's.
	ctx, abort := context.WithCancel(context.Background())
	n := &Notifier{cfg: cfg, log: log.Named("alert"), abort: abort, open: map[string]*entry{}}
	for _, s := range sinks {
		if r, ok := s.(renotifyAware); ok {
			r.setRenotify(cfg.Renotify)
		}
		sd := &sender{sink: s, name: s.Name(), q: make(chan Alert, cfg.QueueSize), cfg: &n.cfg}
		sd.log = n.log.With(zap.String(LogKeySink, sd.name))
		n.senders = append(n.senders, sd)
		n.wg.Go(func() { sd.run(ctx) })
	}
	return n
}

func (n *Notifier) now() time.Time { return n.cfg.Now() }

// Violation records v without blocking: a new key fires an alert now; a known key
// only counts (Count, LastAt, latest Summary/Details/Run/Pods) until Renotify.
func (n *Notifier) Violation(v Violation) {
	now := n.now()
	at := v.At
	if at.IsZero() {
		at = now
	}
	key := KeyOf(v.Invariant, v.Cause)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		n.log.Warn("violation after close not alerted", zap.String(LogKeyAlert, key))
		n.dropAll(1)
		return
	}
	if e, ok := n.open[key]; ok {
		e.seenAt = now
		e.alert.Count++
		if !at.Before(e.alert.LastAt) {
			e.alert.LastAt = at
			e.alert.Summary, e.alert.Details = v.Summary, slices.Clone(v.Details)
			e.alert.Run, e.alert.Pods = v.Run, slices.Clone(v.Pods)
		}
		return
	}
	a := Alert{
		Key: key, Status: StatusFiring, Invariant: v.Invariant, Cause: v.Cause,
		Summary: v.Summary, Details: slices.Clone(v.Details), Run: v.Run, Pods: slices.Clone(v.Pods),
		StartsAt: at, LastAt: at, Count: 1, Labels: n.cfg.Labels, GeneratorURL: n.cfg.GeneratorURL,
	}
	n.open[key] = &entry{alert: a, seenAt: now, sentAt: now}
	n.fired++
	n.log.Info("alert firing", zap.String(LogKeyAlert, key), zap.String("summary", v.Summary))
	n.enqueue(a)
}

// Run re-sends still-firing alerts every Renotify and resolves keys quiet for
// ResolveAfter, until ctx ends. Sending does not depend on Run.
func (n *Notifier) Run(ctx context.Context) {
	t := time.NewTicker(n.cfg.tick())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.check(n.now())
		}
	}
}

// check does one round of Run's work at clock time now.
func (n *Notifier) check(now time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	for _, key := range slices.Sorted(maps.Keys(n.open)) {
		e := n.open[key]
		switch {
		case now.Sub(e.seenAt) >= n.cfg.ResolveAfter:
			n.resolveLocked(key, now)
		case now.Sub(e.sentAt) >= n.cfg.Renotify:
			e.sentAt = now
			n.renotified++
			n.log.Info("alert still firing", zap.String(LogKeyAlert, key), zap.Int("count", e.alert.Count))
			n.enqueue(e.alert)
		}
	}
}

// ResolveAll resolves every firing alert as of at (the clock's now if zero).
func (n *Notifier) ResolveAll(at time.Time) {
	if at.IsZero() {
		at = n.now()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		if len(n.open) > 0 {
			n.log.Warn("resolve after close not sent", zap.Int(LogKeyCount, len(n.open)))
			n.dropAll(len(n.open))
		}
		return
	}
	for _, key := range slices.Sorted(maps.Keys(n.open)) {
		n.resolveLocked(key, at)
	}
}

// resolveLocked sends key's alert as resolved at at and forgets the key.
func (n *Notifier) resolveLocked(key string, at time.Time) {
	a := n.open[key].alert
	delete(n.open, key)
	a.Status = StatusResolved
	a.EndsAt = at
	if a.EndsAt.Before(a.LastAt) { // Alertmanager rejects an end before the start
		a.EndsAt = a.LastAt
	}
	n.resolved++
	n.log.Info("alert resolved", zap.String(LogKeyAlert, key), zap.Int("count", a.Count))
	n.enqueue(a)
}

// enqueue hands a copy of a to every sender; the caller holds n.mu.
func (n *Notifier) enqueue(a Alert) {
	for _, s := range n.senders {
		s.enqueue(a.clone())
	}
}

// dropAll counts k alerts as dropped on every sink; the caller holds n.mu.
func (n *Notifier) dropAll(k int) {
	for _, s := range n.senders {
		s.count(func(st *SinkStats) { st.Dropped += k })
	}
}

// Close stops accepting alerts and waits until every queued alert is delivered or
// given up on, or ctx ends: then in-flight sends are cancelled and what is left is
// counted as Dropped and logged. It does not resolve open alerts; call ResolveAll
// first for that. Close after Close returns nil.
func (n *Notifier) Close(ctx context.Context) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	for _, s := range n.senders {
		close(s.q)
	}
	n.mu.Unlock()

	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
		n.abort()
		return nil
	case <-ctx.Done():
	}
	pending := 0
	for _, s := range n.senders {
		pending += s.stats().Pending
	}
	n.abort()
	t := time.NewTimer(closeGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		n.log.Error("alert senders did not stop after close; a sink ignores its context")
	}
	return fmt.Errorf("alert: close: %d alerts not delivered: %w", pending, ctx.Err())
}

// Stats returns the counters so far.
func (n *Notifier) Stats() Stats {
	n.mu.Lock()
	st := Stats{Fired: n.fired, Renotified: n.renotified, Resolved: n.resolved, Open: len(n.open)}
	n.mu.Unlock()
	for _, s := range n.senders {
		ss := s.stats()
		st.Sinks = append(st.Sinks, ss)
		st.Sent += ss.Sent
		st.Failed += ss.Failed
		st.Dropped += ss.Dropped
	}
	return st
}
