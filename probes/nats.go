package probes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
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
	mu      sync.Mutex
	streamH jetstream.Stream // the buffers' stream, once looked up
	nc      *nats.Conn
	js      jetstream.JetStream
	timeout time.Duration
	bucket  string
	stream  string

	tap      bufferTap     // the run buffers' messages as they are published (buffertap.go)
	requests atomic.Uint64 // buffer requests (stream infos and direct gets), for the tests
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

// Close stops the buffer tap and closes the connection.
func (n *NATS) Close() {
	n.stopTap()
	n.nc.Close()
}

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

	// What was written after the end (issue 15: a zombie owner appends after the
	// run's end sentinel). Every reading path counts them alike (Buffer.count).

	Sentinels int `json:"sentinels,omitempty"` // end sentinels among the messages
	// AfterDone is how many messages come after the first end sentinel, by sequence
	// (a second sentinel is one of them).
	AfterDone int `json:"afterDone,omitempty"`
	// FirstAfterDone is JetStream's timestamp (the server's, UTC) of the first of
	// them; zero when there is none.
	FirstAfterDone time.Time `json:"firstAfterDone,omitzero"`
	Finishes       int       `json:"finishes,omitempty"` // finish chunks among the messages
}

// Buffer reads the buffer of threadID: its message count, first and last sequence,
// and (by reading every message) how many text deltas and whether the end sentinel
// are there. An empty buffer is a zero Buffer, not an error.
func (n *NATS) Buffer(ctx context.Context, threadID string) (Buffer, error) {
	return n.readBuffer(ctx, threadID, nil, false)
}

// BufferCursor remembers what earlier readings of one thread's buffer read, so that
// the next reading fetches only the messages published since: a run sampled every
// 250 ms then costs one request per reading plus one per new message, instead of
// one per message in the buffer at every reading. The zero value is ready to use; it
// is not safe for concurrent use.
type BufferCursor struct {
	read  Buffer // what the messages read so far hold
	valid bool
}

// ReadBuffer is Buffer with a cursor (nil: read every message). With a cursor it
// walks only the messages after the last one read before, then asks how many the
// subject holds: fewer than were read means messages were removed meanwhile (a
// purge, an expiry), and the reading starts over from the first message, so that a
// reading never counts a message that is gone.
//
// A thread the buffer tap follows (Watch) is read from the tap instead, with one
// request when the tap is current; the cursor takes over where the tap cannot
// answer (buffertap.go).
func (n *NATS) ReadBuffer(ctx context.Context, threadID string, c *BufferCursor) (Buffer, error) {
	return n.readBuffer(ctx, threadID, c, true)
}

func (n *NATS) readBuffer(ctx context.Context, threadID string, c *BufferCursor, tapped bool) (Buffer, error) {
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	subject := SubjectPrefix + threadID
	s, err := n.bufferStream(ctx)
	if err != nil {
		return Buffer{}, err
	}
	if b, ok := n.tapReading(subject); ok && tapped {
		b, ok, err := n.readTapped(ctx, s, subject, b)
		if err != nil || ok {
			return b, err
		}
	}
	if c == nil {
		c = &BufferCursor{}
	}
	for try := 0; ; try++ {
		b := c.read
		if !c.valid {
			b = Buffer{}
		}
		if err := n.scan(ctx, s, subject, &b); err != nil {
			c.valid = false
			return Buffer{}, err
		}
		held, err := n.held(ctx, s, subject)
		if err != nil {
			c.valid = false
			return Buffer{}, err
		}
		if held < b.Messages && c.valid && try == 0 {
			c.valid = false // removed since the last reading: read again from the start
			continue
		}
		c.read, c.valid = b, held > 0
		if held == 0 {
			c.read = Buffer{}
			return Buffer{}, nil
		}
		b.Messages = held
		return b, nil
	}
}

// bufferStream is the buffers' stream handle, looked up once and kept.
func (n *NATS) bufferStream(ctx context.Context) (jetstream.Stream, error) {
	n.mu.Lock()
	s := n.streamH
	n.mu.Unlock()
	if s != nil {
		return s, nil
	}
	s, err := n.js.Stream(ctx, n.stream)
	if err != nil {
		return nil, fmt.Errorf("buffer stream %s: %w", n.stream, err)
	}
	n.mu.Lock()
	n.streamH = s
	n.mu.Unlock()
	return s, nil
}

// forgetStream drops a handle that failed, so that the next reading looks it up
// again (the stream may have been deleted and created anew).
func (n *NATS) forgetStream(s jetstream.Stream) {
	n.mu.Lock()
	if n.streamH == s {
		n.streamH = nil
	}
	n.mu.Unlock()
}

// scan walks the subject's messages with direct gets, from the one after b.LastSeq
// (from the first when b is zero) to the last, adding what they hold to b. b.Messages
// counts the messages read.
func (n *NATS) scan(ctx context.Context, s jetstream.Stream, subject string, b *Buffer) error {
	for seq := b.LastSeq + 1; ; {
		n.requests.Add(1)
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			n.forgetStream(s)
			return fmt.Errorf("buffer message from seq %d: %w", seq, err)
		}
		b.count(m.Sequence, m.Time, kindOf(m.Data))
		seq = m.Sequence + 1
	}
}

// msgKind is what one buffer message is, as a reading counts it.
type msgKind struct {
	done   bool // the end sentinel
	delta  bool // one of mockai's text chunks
	finish bool // a finish chunk
}

// kindOf decodes one buffer message; a message that does not decode is counted as a
// message and nothing else.
func kindOf(data []byte) msgKind {
	var msg struct {
		P    *Chunk `json:"p"`
		Done bool   `json:"done"`
	}
	if json.Unmarshal(data, &msg) != nil {
		return msgKind{}
	}
	k := msgKind{done: msg.Done}
	if msg.P != nil {
		switch msg.P.Type {
		case ChunkTextDelta:
			_, k.delta = MockChunkIndex(msg.P.Delta)
		case ChunkFinish:
			k.finish = true
		}
	}
	return k
}

// count adds the message of sequence seq, stored by JetStream at at, to the reading.
// The messages of a subject are counted in sequence order, so a message counted
// once a sentinel was counted comes after the first sentinel. Every reading path
// (the cursor's scan, the buffer tap) counts through here.
func (b *Buffer) count(seq uint64, at time.Time, k msgKind) {
	if b.FirstSeq == 0 {
		b.FirstSeq = seq
	}
	b.LastSeq = seq
	b.Messages++
	if b.Sentinels > 0 {
		if b.AfterDone == 0 {
			b.FirstAfterDone = at.UTC()
		}
		b.AfterDone++
	}
	if k.done {
		b.Done = true
		b.Sentinels++
	}
	if k.delta {
		b.TextDeltas++
	}
	if k.finish {
		b.Finishes++
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
