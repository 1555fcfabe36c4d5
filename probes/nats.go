package probes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// mesh's NATS names (mesh-contract.md, "NATS").
const (
	StreamBuffers   = "DECOPILOT_STREAMS"
	SubjectPrefix   = "decopilot.stream."
	BucketHeartbeat = "POD_HEARTBEATS"
)

// NATS observes mesh's JetStream state: the heartbeat bucket and the run buffers.
type NATS struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	timeout time.Duration
	bucket  string
	stream  string
}

// NATSConfig configures the observer.
type NATSConfig struct {
	URL     string
	Timeout time.Duration // per request, default 5 s
	Bucket  string        // default POD_HEARTBEATS
	Stream  string        // default DECOPILOT_STREAMS
}

// NewNATS connects to NATS. It keeps reconnecting in the background when the server
// goes away, so a NATS outage shows up as failed readings, not a dead observer.
func NewNATS(cfg NATSConfig) (*NATS, error) {
	nc, err := nats.Connect(cfg.URL, nats.Name("chaosd"), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true), nats.ReconnectWait(250*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("nats connect %s: %w", cfg.URL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	n := &NATS{nc: nc, js: js, timeout: cfg.Timeout, bucket: cfg.Bucket, stream: cfg.Stream}
	if n.timeout <= 0 {
		n.timeout = 5 * time.Second
	}
	if n.bucket == "" {
		n.bucket = BucketHeartbeat
	}
	if n.stream == "" {
		n.stream = StreamBuffers
	}
	return n, nil
}

// Close closes the connection.
func (n *NATS) Close() { n.nc.Close() }

// ErrNoBucket means the heartbeat bucket does not exist in JetStream.
var ErrNoBucket = errors.New("heartbeat bucket missing")

// Heartbeat is one pod's key in the heartbeat bucket.
type Heartbeat struct {
	Pod   string        `json:"pod"`
	Value string        `json:"value"` // the ISO-8601 time the pod wrote
	Age   time.Duration `json:"age"`   // since the server stored it
}

// Heartbeats lists the heartbeat bucket's keys with their ages. A missing bucket is
// ErrNoBucket; an unreachable server is another error (the reading is unknown).
//
// Listing a bucket that keeps one revision per key races with the pods' refreshes: a
// key rewritten while the listing's consumer starts is neither among the values it
// finds (the old revision is gone) nor before its end marker (the new one comes
// after), so it looks missing. Each of pods (the pods expected to have a key) that
// the listing did not name is therefore read once more, directly.
func (n *NATS) Heartbeats(ctx context.Context, pods ...string) ([]Heartbeat, error) {
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	kv, err := n.js.KeyValue(ctx, n.bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("%s: %w", n.bucket, ErrNoBucket)
	}
	if err != nil {
		return nil, fmt.Errorf("heartbeat bucket %s: %w", n.bucket, err)
	}
	keys, err := kv.Keys(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, fmt.Errorf("heartbeat keys: %w", err)
	}
	for _, p := range pods {
		if !slices.Contains(keys, p) {
			keys = append(keys, p)
		}
	}
	out := make([]Heartbeat, 0, len(keys))
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // expired between listing and reading, or an expected pod has none
		}
		if err != nil {
			return nil, fmt.Errorf("heartbeat key %s: %w", k, err)
		}
		out = append(out, Heartbeat{Pod: k, Value: string(e.Value()), Age: time.Since(e.Created())})
	}
	return out, nil
}

// Buffer is what JetStream holds of one run's stream buffer.
type Buffer struct {
	Messages   uint64 `json:"messages"`
	FirstSeq   uint64 `json:"firstSeq"`
	LastSeq    uint64 `json:"lastSeq"`
	TextDeltas int    `json:"textDeltas"` // mockai chunks among the messages
	Done       bool   `json:"done"`       // the {"done":true} sentinel is there
}

// Buffer reads the buffer of threadID: its message count, first and last sequence,
// and (by reading every message) how many text deltas and whether the end sentinel
// are there. An empty buffer is a zero Buffer, not an error.
func (n *NATS) Buffer(ctx context.Context, threadID string) (Buffer, error) {
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	subject := SubjectPrefix + threadID
	s, err := n.js.Stream(ctx, n.stream)
	if err != nil {
		return Buffer{}, fmt.Errorf("buffer stream %s: %w", n.stream, err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		return Buffer{}, fmt.Errorf("buffer stream %s info: %w", n.stream, err)
	}
	var b Buffer
	b.Messages = info.State.Subjects[subject]
	if b.Messages == 0 {
		return b, nil
	}
	return b, n.scan(ctx, s, subject, &b)
}

// scan walks the subject's messages with direct gets, from the first to the last.
func (n *NATS) scan(ctx context.Context, s jetstream.Stream, subject string, b *Buffer) error {
	last, err := s.GetLastMsgForSubject(ctx, subject)
	if err != nil {
		return fmt.Errorf("buffer last message: %w", err)
	}
	b.LastSeq = last.Sequence
	for seq := uint64(1); seq <= b.LastSeq; {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return fmt.Errorf("buffer message from seq %d: %w", seq, err)
		}
		if b.FirstSeq == 0 {
			b.FirstSeq = m.Sequence
		}
		countMessage(m.Data, b)
		seq = m.Sequence + 1
	}
	return nil
}

func countMessage(data []byte, b *Buffer) {
	var msg struct {
		P    *Chunk `json:"p"`
		Done bool   `json:"done"`
	}
	if json.Unmarshal(data, &msg) != nil {
		return
	}
	if msg.Done {
		b.Done = true
	}
	if msg.P != nil && msg.P.Type == ChunkTextDelta {
		if _, ok := MockChunkIndex(msg.P.Delta); ok {
			b.TextDeltas++
		}
	}
}

// Ping checks that NATS and its JetStream answer (a dependency reading of the soak).
func (n *NATS) Ping(ctx context.Context) error {
	if !n.nc.IsConnected() {
		return fmt.Errorf("nats: not connected (%s)", n.nc.Status())
	}
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	if _, err := n.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	return nil
}
