package testbed

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The stream buffer, as in the contract's "NATS" section.
const (
	StreamName          = "DECOPILOT_STREAMS"
	StreamSubjectPrefix = "decopilot.stream."
	streamMaxAge        = 5 * time.Minute
	streamMaxBytes      = 500 << 20
	streamMaxPerSubject = 20000
)

// errConflict is a publish refused by the optimistic concurrency check: someone else
// published on the subject since this pod last looked.
var errConflict = errors.New("buffer changed under us")

var threadIDRE = regexp.MustCompile(`^[A-Za-z0-9_\-:=+@~]{1,128}$`)

// validThreadID reports whether id is safe as one NATS subject token (mesh rejects
// '.', '*', '>' and whitespace; the testbed also keeps ids short and printable).
func validThreadID(id string) bool { return threadIDRE.MatchString(id) }

// StreamSubject is the buffer subject of a thread.
func StreamSubject(threadID string) string { return StreamSubjectPrefix + threadID }

// buffer wraps the DECOPILOT_STREAMS stream.
type buffer struct {
	js      jetstream.JetStream
	timeout time.Duration // bound on each NATS request

	mu     sync.Mutex
	stream jetstream.Stream // nil until ensured
}

func streamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              StreamName,
		Subjects:          []string{StreamSubjectPrefix + ">"},
		Storage:           jetstream.MemoryStorage,
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		MaxAge:            streamMaxAge,
		MaxBytes:          streamMaxBytes,
		MaxMsgsPerSubject: streamMaxPerSubject,
		Replicas:          1,
	}
}

// ensure creates or updates the stream (idempotent) and caches its handle.
func (b *buffer) ensure(ctx context.Context) (jetstream.Stream, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stream != nil {
		return b.stream, nil
	}
	s, err := b.js.CreateOrUpdateStream(ctx, streamConfig())
	if err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", StreamName, err)
	}
	b.stream = s
	return s, nil
}

// verify makes sure the stream still exists (a NATS restart loses memory streams)
// and re-creates it if not. The heartbeat loop calls it every interval.
func (b *buffer) verify(ctx context.Context) error {
	b.mu.Lock()
	s := b.stream
	b.mu.Unlock()
	if s != nil {
		ictx, cancel := context.WithTimeout(ctx, b.timeout)
		_, err := s.Info(ictx)
		cancel()
		if err == nil {
			return nil
		}
		b.check(err)
	}
	_, err := b.ensure(ctx)
	return err
}

// forget drops the cached handle, so the next call re-creates the stream (after a
// NATS restart lost the memory stream).
func (b *buffer) forget() {
	b.mu.Lock()
	b.stream = nil
	b.mu.Unlock()
}

func (b *buffer) check(err error) error {
	if errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrNoStreamResponse) {
		b.forget()
	}
	return err
}

// bufferState is what a reader found on a thread's subject.
type bufferState struct {
	prog    progress // of the run whose start carries the message id asked for
	reply   string   // that run's text so far
	lastSeq uint64   // the subject's last sequence (0: empty)
	count   int      // messages on the subject
	lastWas []byte   // the last message
}

// read walks the thread's subject from its first message and folds it into the
// progress of the run with messageID, as published by the attempt of fence (0: May).
func (b *buffer) read(ctx context.Context, threadID, messageID string, fence int64) (bufferState, error) {
	s, err := b.ensure(ctx)
	if err != nil {
		return bufferState{}, err
	}
	subj := StreamSubject(threadID)
	st := bufferState{}
	r := progressReader{messageID: messageID, fence: fence}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	for seq := uint64(1); ; {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			st.prog, st.reply = r.prog, string(r.reply)
			return st, nil
		}
		if err != nil {
			return st, fmt.Errorf("read buffer: %w", b.check(err))
		}
		r.add(m.Data)
		st.lastSeq, st.lastWas = m.Sequence, m.Data
		st.count++
		seq = m.Sequence + 1
	}
}

// publish appends data to the thread's subject if the subject's last sequence is
// still expect (0: empty), and returns the new sequence. A mismatch is errConflict.
func (b *buffer) publish(ctx context.Context, threadID string, data []byte, expect uint64) (uint64, error) {
	if _, err := b.ensure(ctx); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	ack, err := b.js.Publish(ctx, StreamSubject(threadID), data, jetstream.WithExpectLastSequencePerSubject(expect))
	if isWrongLastSeq(err) {
		return 0, errConflict
	}
	if err != nil {
		return 0, fmt.Errorf("publish: %w", b.check(err))
	}
	return ack.Sequence, nil
}

// lastSeq is the sequence of the thread's last message (0: none). Only zombie-owner
// uses it, to take another writer's sequence as its own.
func (b *buffer) lastSeq(ctx context.Context, threadID string) (uint64, error) {
	s, err := b.ensure(ctx)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	m, err := s.GetLastMsgForSubject(ctx, StreamSubject(threadID))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("last message: %w", b.check(err))
	}
	return m.Sequence, nil
}

func isWrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// purge removes the thread's messages with a sequence below before (0: all of them).
func (b *buffer) purge(ctx context.Context, threadID string, before uint64) error {
	s, err := b.ensure(ctx)
	if err != nil {
		return err
	}
	opts := []jetstream.StreamPurgeOpt{jetstream.WithPurgeSubject(StreamSubject(threadID))}
	if before > 0 {
		opts = append(opts, jetstream.WithPurgeSequence(before))
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	if err := s.Purge(ctx, opts...); err != nil {
		return fmt.Errorf("purge: %w", b.check(err))
	}
	return nil
}
