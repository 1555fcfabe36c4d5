package alert

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"
)

// sender owns one sink: its queue, its goroutine, its counters.
type sender struct {
	sink Sink
	name string
	q    chan Alert
	cfg  *Config
	log  *zap.Logger

	mu       sync.Mutex
	st       SinkStats
	inflight int
}

// enqueue never blocks: a full queue drops a, counted and logged.
func (s *sender) enqueue(a Alert) {
	select {
	case s.q <- a:
	default:
		s.count(func(st *SinkStats) { st.Dropped++ })
		s.log.Error("alert dropped: sink queue full",
			zap.String(LogKeyAlert, a.Key), zap.String(LogKeyStatus, a.Status), zap.Int("queue", cap(s.q)))
	}
}

func (s *sender) count(f func(*SinkStats)) {
	s.mu.Lock()
	f(&s.st)
	s.mu.Unlock()
}

func (s *sender) stats() SinkStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.Name = s.name
	st.Pending = len(s.q) + s.inflight
	return st
}

// run delivers queued alerts, a batch of what is waiting at a time, until the queue
// is closed and empty.
func (s *sender) run(ctx context.Context) {
	for a := range s.q {
		batch := []Alert{a}
	more:
		for len(batch) < maxBatch {
			select {
			case b, ok := <-s.q:
				if !ok {
					break more
				}
				batch = append(batch, b)
			default:
				break more
			}
		}
		s.count(func(*SinkStats) { s.inflight = len(batch) })
		s.deliver(ctx, batch)
		s.count(func(*SinkStats) { s.inflight = 0 })
	}
}

// deliver sends batch with retries; every outcome is counted, every failure logged.
func (s *sender) deliver(ctx context.Context, batch []Alert) {
	for attempt := 0; ; attempt++ {
		if ctx.Err() != nil {
			s.giveUp(batch, nil, attempt, true)
			return
		}
		sctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		err := s.sink.Send(sctx, batch)
		cancel()
		if err == nil {
			s.count(func(st *SinkStats) { st.Sent += len(batch) })
			if attempt > 0 {
				s.log.Info("alert delivered after retries", zap.Int("attempts", attempt+1), zap.Int(LogKeyCount, len(batch)))
			}
			return
		}
		if ctx.Err() != nil {
			s.giveUp(batch, err, attempt+1, true)
			return
		}
		if errors.Is(err, ErrPermanent) || attempt >= s.cfg.Retries {
			s.giveUp(batch, err, attempt+1, false)
			return
		}
		wait := s.backoff(attempt, err)
		s.count(func(st *SinkStats) { st.Retried++ })
		s.log.Warn("alert send failed, will retry", zap.Error(err), zap.Int("attempt", attempt+1),
			zap.Duration("backoff", wait), zap.Int(LogKeyCount, len(batch)))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
}

// backoff is RetryBackoff doubled per attempt, at least what the server asked for,
// at most maxBackoff.
func (s *sender) backoff(attempt int, err error) time.Duration {
	d := s.cfg.RetryBackoff << min(attempt, 20)
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		d = max(d, ra.RetryAfter())
	}
	return min(d, maxBackoff)
}

// giveUp counts and logs a batch that will not be delivered: Dropped when the
// notifier was closed under it, Failed when the sink kept failing.
func (s *sender) giveUp(batch []Alert, err error, attempts int, closed bool) {
	keys := make([]string, len(batch))
	for i, a := range batch {
		keys[i] = a.Key + " " + a.Status
	}
	fields := []zap.Field{zap.Strings(LogKeyAlert, keys), zap.Int("attempts", attempts)}
	if err != nil {
		fields = append(fields, zap.Error(err))
	}
	if closed {
		s.count(func(st *SinkStats) { st.Dropped += len(batch) })
		s.log.Error("alert not delivered: notifier closed before the send finished", fields...)
		return
	}
	s.count(func(st *SinkStats) { st.Failed += len(batch) })
	s.log.Error("alert send failed, giving up", fields...)
}
