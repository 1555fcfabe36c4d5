package testbed

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// HeartbeatBucket is the KV bucket of pod heartbeats (its stream is KV_POD_HEARTBEATS).
const HeartbeatBucket = "POD_HEARTBEATS"

// heartbeatLayout is the value format: ISO-8601 with milliseconds, UTC, like JS's
// Date.toISOString.
const heartbeatLayout = "2006-01-02T15:04:05.000Z07:00"

// heartbeats owns this pod's key in the POD_HEARTBEATS bucket.
type heartbeats struct {
	js      jetstream.JetStream
	pod     string
	ttl     time.Duration
	timeout time.Duration
	broken  bool // BugNoHeartbeatBucket: the bucket is never created and nobody says so

	mu sync.Mutex
	kv jetstream.KeyValue
}

// bucket returns the bucket, creating it (memory storage, TTL) on first use. With
// BugNoHeartbeatBucket it returns nil and no error: the creation "failed" silently.
func (h *heartbeats) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	if h.broken {
		return nil, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.kv != nil {
		return h.kv, nil
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	kv, err := h.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: HeartbeatBucket, TTL: h.ttl,
		Storage: jetstream.MemoryStorage, History: 1})
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = h.js.KeyValue(ctx, HeartbeatBucket) // created by a pod with other timings: use it as it is
	}
	if err != nil {
		return nil, fmt.Errorf("heartbeat bucket: %w", err)
	}
	h.kv = kv
	return kv, nil
}

func (h *heartbeats) forget() {
	h.mu.Lock()
	h.kv = nil
	h.mu.Unlock()
}

// beat writes this pod's key: the current time.
func (h *heartbeats) beat(ctx context.Context) error {
	kv, err := h.bucket(ctx)
	if kv == nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	if _, err := kv.Put(ctx, h.pod, []byte(time.Now().UTC().Format(heartbeatLayout))); err != nil {
		h.forget() // the bucket may be gone with a NATS restart: re-create it next time
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// remove deletes this pod's key (graceful stop).
func (h *heartbeats) remove(ctx context.Context) error {
	kv, err := h.bucket(ctx)
	if kv == nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	if err := kv.Delete(ctx, h.pod); err != nil {
		return fmt.Errorf("delete heartbeat: %w", err)
	}
	return nil
}

// beats is one reading of the bucket.
type beats struct {
	last map[string]time.Time // pod -> time of its last heartbeat
	age  time.Duration        // how long the bucket has existed
}

// alive reports whether pod's heartbeat is fresher than ttl at now.
func (b beats) alive(pod string, ttl time.Duration, now time.Time) bool {
	t, ok := b.last[pod]
	return ok && now.Sub(t) <= ttl
}

// read lists every pod's last heartbeat.
func (h *heartbeats) read(ctx context.Context, kv jetstream.KeyValue) (beats, error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	b := beats{last: map[string]time.Time{}}
	st, err := kv.Status(ctx)
	if err != nil {
		h.forget()
		return b, fmt.Errorf("heartbeat bucket status: %w", err)
	}
	if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok {
		b.age = time.Since(bs.StreamInfo().Created)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return b, fmt.Errorf("list heartbeats: %w", err)
	}
	for key := range keys.Keys() {
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return b, fmt.Errorf("read heartbeat %s: %w", key, err)
		}
		b.last[key] = heartbeatTime(e)
	}
	return b, nil
}

func heartbeatTime(e jetstream.KeyValueEntry) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, string(e.Value())); err == nil {
		return t
	}
	return e.Created()
}

// heartbeatLoop refreshes this pod's key every interval (and keeps the stream buffer
// created, so that it exists from boot on).
func (p *Pod) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(p.cfg.HeartbeatInterval)
	defer t.Stop()
	failing := false
	for {
		if p.freeze.wait(ctx) != nil {
			return
		}
		err := errors.Join(p.buf.verify(ctx), p.hb.beat(ctx))
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			p.metrics.heartbeatErrors.Inc()
		}
		failing = p.logTransition(failing, err, "heartbeat failing", "heartbeat restored")
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// logTransition logs when a repeated operation starts or stops failing, not on every
// attempt.
func (p *Pod) logTransition(failing bool, err error, failMsg, okMsg string) bool {
	switch {
	case err != nil && !failing:
		p.log.Warn(failMsg, zap.Error(err))
	case err == nil && failing:
		p.log.Info(okMsg)
	}
	return err != nil
}
