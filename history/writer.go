package history

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
)

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("history closed")

// Options tune a Writer.
type Options struct {
	// SyncEvery is the fsync cadence (default 1 s). Every event is written to the
	// file (the OS) as soon as it is appended, so a crash of chaosd loses nothing;
	// a crash of the machine loses at most this much.
	SyncEvery time.Duration
	// Buffered keeps events in memory between syncs instead of writing each one at
	// once: for bulk generation only (a crash loses up to SyncEvery of events).
	Buffered bool
	Log      *zap.Logger      // default: no logging
	Now      func() time.Time // default time.Now; stamps events without a time

	// MaxBytes rotates the history (Create only) at a line boundary when the next
	// line would take the live file past this size: the live file is fsynced and
	// renamed to the next segment, path.000001, path.000002, ... (the oldest has the
	// smallest number; see Segments), and a fresh live file begins. Sequence numbers
	// run on across segments. 0 never rotates.
	MaxBytes int64
	// Compress gzips rotated segments (path.N.gz) in one background goroutine, so
	// that Append never waits on it; Close waits for it.
	Compress bool
	// Keep is how many rotated segments to keep, removing the oldest beyond it. 0
	// (the default) keeps all: chaosd deletes no history unless told to.
	Keep int
}

func (o *Options) check() error {
	switch {
	case o.MaxBytes < 0:
		return fmt.Errorf("history: MaxBytes %d is negative", o.MaxBytes)
	case o.Keep < 0:
		return fmt.Errorf("history: Keep %d is negative", o.Keep)
	}
	return nil
}

// file is what a Writer needs of its destination.
type file interface {
	io.Writer
	Sync() error
	Close() error
}

// Writer appends events to a history. It is safe for concurrent use: each Append
// gets the next sequence number and is written as one whole line.
type Writer struct {
	mu      sync.Mutex
	f       file
	buf     bytes.Buffer // Buffered mode: lines not yet written
	seq     uint64
	dirty   bool  // written since the last fsync
	err     error // sticky: the first write or sync error
	done    chan struct{}
	wg      sync.WaitGroup
	opts    Options
	rot     *rotator // Create only: rotation and the segments' maintenance
	closing bool
}

// Create opens path for appending, creating it if needed. When the file already
// holds a history, numbering continues after its last event (or, when it is empty,
// after the last event of its newest rotated segment), and a torn last line (a
// crash mid-write) is cut off first so that it does not end up mid-file. What a
// crash left of a segment's compression is finished in the background.
func Create(path string, opts Options) (*Writer, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	segs, err := scanSegments(path)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	last, size, unterm, err := scanExisting(path)
	if err != nil {
		return nil, err
	}
	if last == 0 {
		if last, err = lastSegmentSeq(segs); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return nil, fmt.Errorf("history: cut torn line: %w", err)
	}
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("history: %w", err)
	}
	if unterm {
		if _, err := f.Write([]byte{'\n'}); err != nil {
			f.Close()
			return nil, fmt.Errorf("history: end last line: %w", err)
		}
		size++
	}
	next := uint64(1)
	if nums := sortedNums(segs); len(nums) > 0 {
		next = nums[len(nums)-1] + 1
	}
	opts.defaults()
	rot := &rotator{path: path, max: opts.MaxBytes, size: size, next: next, maint: startMaintainer(path, opts)}
	return newWriter(f, last, opts, rot), nil
}

// lastSegmentSeq is the last sequence number in the newest segment that holds an
// event.
func lastSegmentSeq(segs map[uint64]*segFiles) (uint64, error) {
	nums := sortedNums(segs)
	for i := len(nums) - 1; i >= 0; i-- {
		last, err := lastSeqOf(segs[nums[i]])
		if err != nil {
			return 0, fmt.Errorf("history: existing segment: %w", err)
		}
		if last > 0 {
			return last, nil
		}
	}
	return 0, nil
}

// scanExisting returns the last sequence number of an existing history, the size
// of its lines that decoded (a torn tail excluded), and whether the last of them
// lacks its newline. A missing file is empty.
func scanExisting(path string) (uint64, int64, bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("history: %w", err)
	}
	defer f.Close()
	r := NewReader(f)
	var last uint64
	for {
		e, err := r.Next()
		if err == io.EOF {
			return last, r.Offset(), r.Unterminated(), nil
		}
		if err != nil {
			return 0, 0, false, fmt.Errorf("history: existing %s: %w", path, err)
		}
		last = e.Seq
	}
}

// NewWriter writes to w, numbering from 1. w may implement Sync and Close.
// It does not rotate (MaxBytes, Compress and Keep need Create's path).
func NewWriter(w io.Writer, opts Options) *Writer { return newWriter(asFile(w), 0, opts, nil) }

func newWriter(f file, seq uint64, opts Options, rot *rotator) *Writer {
	opts.defaults()
	w := &Writer{f: f, seq: seq, opts: opts, rot: rot, done: make(chan struct{})}
	w.wg.Add(1)
	go w.syncLoop()
	return w
}

func (opts *Options) defaults() {
	if opts.SyncEvery <= 0 {
		opts.SyncEvery = time.Second
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
}

// Append stamps e (version, next sequence number, and the time when it has none),
// writes it as one line and returns it as written.
func (w *Writer) Append(e Event) (Event, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return e, w.err
	}
	e.V = SchemaVersion
	e.Seq = w.seq + 1
	if e.Time.IsZero() {
		e.Time = w.opts.Now()
	}
	if err := e.Validate(); err != nil {
		return e, fmt.Errorf("history append: %w", err)
	}
	line, err := Encode(&e)
	if err != nil {
		return e, err
	}
	w.seq++
	return e, w.writeLine(line)
}

func (w *Writer) writeLine(line []byte) error {
	n := int64(len(line) + 1)
	if w.rot.due(n) {
		if err := w.rotateLocked(); err != nil {
			return err
		}
	}
	if w.rot != nil {
		w.rot.size += n
	}
	w.buf.Write(line)
	w.buf.WriteByte('\n')
	w.dirty = true
	if w.opts.Buffered && w.buf.Len() < 1<<20 {
		return nil
	}
	return w.flushLocked()
}

func (w *Writer) flushLocked() error {
	if w.buf.Len() == 0 {
		return nil
	}
	_, err := w.f.Write(w.buf.Bytes())
	w.buf.Reset()
	if err != nil {
		w.err = fmt.Errorf("history write: %w", err)
	}
	return w.err
}

// Sync writes what is buffered and fsyncs.
func (w *Writer) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.syncLocked()
}

func (w *Writer) syncLocked() error {
	if w.err != nil {
		return w.err
	}
	if err := w.flushLocked(); err != nil {
		return err
	}
	if !w.dirty {
		return nil
	}
	if err := w.f.Sync(); err != nil {
		w.err = fmt.Errorf("history sync: %w", err)
		return w.err
	}
	w.dirty = false
	return nil
}

func (w *Writer) syncLoop() {
	defer w.wg.Done()
	t := time.NewTicker(w.opts.SyncEvery)
	defer t.Stop()
	for {
		select {
		case <-w.done:
			return
		case <-t.C:
			if err := w.Sync(); err != nil {
				w.opts.Log.Error("history sync failed", zap.Error(err))
				return
			}
		}
	}
}

// Close syncs and closes the file, and waits for the compression of rotated
// segments. Later Appends fail with ErrClosed.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		return nil
	}
	w.closing = true
	close(w.done)
	w.mu.Unlock()
	w.wg.Wait()
	w.mu.Lock()
	err := w.syncLocked()
	if cerr := w.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("history close: %w", cerr)
	}
	w.err = ErrClosed
	w.mu.Unlock()
	if w.rot != nil {
		w.rot.maint.close() // outside the lock: Seq need not wait for gzip
	}
	return err
}

// Seq is the sequence number of the last event appended.
func (w *Writer) Seq() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seq
}

// asFile adds no-op Sync and Close to writers that lack them.
func asFile(w io.Writer) file {
	if f, ok := w.(file); ok {
		return f
	}
	return nopFile{w}
}

type nopFile struct{ io.Writer }

func (f nopFile) Sync() error { return nil }
func (f nopFile) Close() error {
	if c, ok := f.Writer.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
