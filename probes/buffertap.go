package probes

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The buffer tap is one ordered consumer over every run buffer's subject. It keeps,
// for each thread chaosd watches (Watch, before the thread's run starts), what the
// messages delivered so far hold, so that a reading of the buffer is one request
// (how many messages the subject holds now) instead of one per new message plus one
// that finds nothing: at 100 runs in flight sampled every 250 ms, that is 400
// requests a second instead of 2,000-3,000.
//
// The tap is a cache, never the truth. A reading compares it with the count the
// server gives for the subject: the same count is the tap's reading; a larger one
// (the tap is a moment behind, or missed messages) is completed with direct gets
// from the tap's last message on, like a cursor; a smaller one means messages were
// removed (a purge, an expiry) that the tap cannot see, and the thread's readings
// go back to direct gets for good. A tap that cannot start (no permission to create
// a consumer, no stream yet) leaves every reading to direct gets and is tried again
// later.
type bufferTap struct {
	mu      sync.Mutex
	cc      jetstream.ConsumeContext // nil until started
	threads map[string]*tapThread    // by subject
	failed  time.Time                // the last start that failed
	err     error                    // why it failed
	created time.Time                // the stream the consumer reads: a stream made anew has other sequences
}

// tapThread is what the tap delivered of one watched thread's subject.
type tapThread struct {
	read     Buffer
	diverged bool // messages were removed: the tap's count is no longer the subject's
}

// tapRetry is how long after a failed start the tap is tried again.
const tapRetry = 10 * time.Second

// Watch makes the buffer tap follow threadID's buffer, starting the tap if it does
// not run yet. Call it before anything can publish to the buffer (before the run
// starts): a thread whose messages predate Watch is read with direct gets. An error
// says the tap could not start; readings still work, with direct gets.
func (n *NATS) Watch(ctx context.Context, threadID string) error {
	t := &n.tap
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cc == nil {
		if !t.failed.IsZero() && time.Since(t.failed) < tapRetry {
			return t.err
		}
		if err := n.startTap(ctx); err != nil {
			t.failed, t.err = time.Now(), fmt.Errorf("buffer tap: %w", err)
			return t.err
		}
		t.failed, t.err = time.Time{}, nil
	}
	if t.threads == nil {
		t.threads = map[string]*tapThread{}
	}
	t.threads[SubjectPrefix+threadID] = &tapThread{}
	return nil
}

// Unwatch stops following threadID's buffer; its readings use direct gets again.
func (n *NATS) Unwatch(threadID string) {
	n.tap.mu.Lock()
	delete(n.tap.threads, SubjectPrefix+threadID)
	n.tap.mu.Unlock()
}

// startTap creates the ordered consumer from the message after the stream's last
// one, so that nothing published after Watch returns can be missed. t.mu is held.
func (n *NATS) startTap(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	s, err := n.bufferStream(ctx)
	if err != nil {
		return err
	}
	info, err := s.Info(ctx)
	if err != nil {
		n.forgetStream(s)
		return fmt.Errorf("buffer stream %s info: %w", n.stream, err)
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{SubjectPrefix + ">"},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    info.State.LastSeq + 1,
	})
	if err != nil {
		return fmt.Errorf("ordered consumer on %s: %w", n.stream, err)
	}
	cc, err := cons.Consume(n.tapped)
	if err != nil {
		return fmt.Errorf("consume %s: %w", n.stream, err)
	}
	n.tap.cc, n.tap.created = cc, info.Created
	return nil
}

// tapped adds one delivered message to its thread's reading, if the thread is watched.
func (n *NATS) tapped(m jetstream.Msg) {
	t := &n.tap
	t.mu.Lock()
	th := t.threads[m.Subject()]
	t.mu.Unlock()
	if th == nil {
		return // another run's buffer
	}
	meta, err := m.Metadata()
	if err != nil {
		return
	}
	k := kindOf(m.Data())
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.threads[m.Subject()] != th || meta.Sequence.Stream <= th.read.LastSeq {
		return // unwatched meanwhile, or delivered again after a consumer reset
	}
	th.read.count(meta.Sequence.Stream, meta.Timestamp, k)
}

// tapReading is the tap's reading of subject, if the tap follows it and its count
// can still be trusted.
func (n *NATS) tapReading(subject string) (Buffer, bool) {
	t := &n.tap
	t.mu.Lock()
	defer t.mu.Unlock()
	th := t.threads[subject]
	if th == nil || th.diverged || t.cc == nil {
		return Buffer{}, false
	}
	return th.read, true
}

// diverge stops trusting the tap's count of subject.
func (n *NATS) diverge(subject string) {
	n.tap.mu.Lock()
	if th := n.tap.threads[subject]; th != nil {
		th.diverged = true
	}
	n.tap.mu.Unlock()
}

// stopTap ends the tap's consumer.
func (n *NATS) stopTap() {
	n.tap.mu.Lock()
	if n.tap.cc != nil {
		n.tap.cc.Stop()
		n.tap.cc = nil
	}
	n.tap.mu.Unlock()
}

// readTapped reads subject's buffer from the tap's reading b and the subject's
// count now: one request when the tap is current. ok false: the tap cannot answer
// (messages were removed, or some predate it) and the caller reads with direct gets.
func (n *NATS) readTapped(ctx context.Context, s jetstream.Stream, subject string, b Buffer) (_ Buffer, ok bool, _ error) {
	held, err := n.held(ctx, s, subject)
	if err != nil {
		return Buffer{}, false, err
	}
	if _, ok := n.tapReading(subject); !ok {
		return Buffer{}, false, nil // the stream was made anew (checkStream)
	}
	switch {
	case held == b.Messages:
		return b, true, nil
	case held == 0: // purged (or not written yet): nothing to read
		n.diverge(subject)
		return Buffer{}, true, nil
	case held < b.Messages:
		n.diverge(subject) // removed: the tap cannot see removals
		return Buffer{}, false, nil
	}
	// The tap is behind: read the rest as a cursor would.
	if err := n.scan(ctx, s, subject, &b); err != nil {
		return Buffer{}, false, err
	}
	if b.Messages < held {
		n.diverge(subject) // messages the tap never delivered: it cannot be trusted
		return Buffer{}, false, nil
	}
	return b, true, nil
}

// held is how many messages the stream holds on subject.
func (n *NATS) held(ctx context.Context, s jetstream.Stream, subject string) (uint64, error) {
	n.requests.Add(1)
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		n.forgetStream(s)
		return 0, fmt.Errorf("buffer stream %s info: %w", n.stream, err)
	}
	n.checkStream(info.Created)
	return info.State.Subjects[subject], nil
}

// checkStream stops the tap when the stream it reads was deleted and made anew (a
// NATS restart with memory storage): the consumer would resume at the old stream's
// sequence, and the threads it followed hold the old stream's messages. Their
// readings go back to direct gets; threads watched later start the tap again.
func (n *NATS) checkStream(created time.Time) {
	t := &n.tap
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cc == nil || created.Equal(t.created) {
		return
	}
	t.cc.Stop()
	t.cc = nil
	for _, th := range t.threads {
		th.diverged = true
	}
}
