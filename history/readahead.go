package history

import (
	"errors"
	"io"
	"sync"
)

// errStopped is what Next returns after read-ahead was stopped before the end.
var errStopped = errors.New("history: read-ahead stopped before the end")

// A batch holds up to batchLines lines (or about batchBytes of them) on their way
// from the goroutine that reads the history to the one that calls Next.
const (
	batchLines = 512
	batchBytes = 256 << 10
)

// readAhead reads the lines of a history on one goroutine, decodes them in batches
// on workers, and hands them to Next in file order. batchesPerWorker batches per
// worker, and two more, are in flight at most: the memory is bounded whatever the
// size of the history.
type readAhead struct {
	free  chan *batch   // batches to fill
	work  chan *batch   // filled, to decode
	order chan *batch   // filled, in file order, for Next
	done  chan struct{} // closed by stop
	wg    sync.WaitGroup
	once  sync.Once
	cur   *batch // the batch Next takes lines from
	i     int    // the next line of cur

	maxLines, maxBytes int // of a batch
}

const batchesPerWorker = 2

type batch struct {
	data  []byte
	lines []aheadLine
	ready chan struct{} // a worker decoded the batch
}

// aheadLine is one line as read (data[start:end] of its batch), with where it is
// and, once decoded, what it holds; err is the error of reading it (io.EOF: the end).
type aheadLine struct {
	pos        position
	start, end int
	err        error
	line
}

// ReadAhead makes Next read and decode lines ahead of the caller: one goroutine
// splits the history into batches of lines, workers goroutines (at least one)
// decode them, and Next hands the events over in file order, with the same line
// numbers, errors, torn-line rules and offsets as without read-ahead. A few batches
// per worker (some hundred KB each) are in flight at most.
//
// Reading ahead ends at the end of the history: Next then returns io.EOF and goes on
// as without read-ahead (lines appended since are read as they come). stop ends it
// sooner and waits for its goroutines; Next after a stop before the end returns an
// error. Call stop (it may be called more than once) before closing what the Reader
// reads.
func (r *Reader) ReadAhead(workers int) (stop func()) {
	return r.readAhead(workers, batchLines, batchBytes)
}

func (r *Reader) readAhead(workers, maxLines, maxBytes int) (stop func()) {
	if r.ahead != nil {
		return r.ahead.stop
	}
	if r.stopped {
		return func() {}
	}
	workers = max(workers, 1)
	n := batchesPerWorker*workers + 2
	a := &readAhead{
		free:  make(chan *batch, n),
		work:  make(chan *batch, n),
		order: make(chan *batch, n),
		done:  make(chan struct{}),

		maxLines: maxLines,
		maxBytes: maxBytes,
	}
	for range n {
		a.free <- &batch{ready: make(chan struct{}, 1)}
	}
	a.wg.Add(1 + workers)
	go a.read(&r.lines)
	for range workers {
		go a.decode()
	}
	r.ahead = a
	return func() {
		if r.ahead == a {
			r.ahead, r.stopped = nil, true
		}
		a.stop()
	}
}

// stop ends the goroutines and waits for them.
func (a *readAhead) stop() {
	a.once.Do(func() { close(a.done) })
	a.wg.Wait()
}

// read fills batches with lines until the end of the history.
func (a *readAhead) read(lr *lineReader) {
	defer a.wg.Done()
	defer close(a.work)
	for {
		var b *batch
		select {
		case b = <-a.free:
		case <-a.done:
			return
		}
		end := a.fill(b, lr)
		for _, ch := range []chan *batch{a.work, a.order} {
			select {
			case ch <- b:
			case <-a.done:
				return
			}
		}
		if end {
			return
		}
	}
}

// fill reads lines into b until it is full, an error (handed over at once), or the
// end; end reports the end.
func (a *readAhead) fill(b *batch, lr *lineReader) (end bool) {
	clear(b.lines)
	b.data, b.lines = b.data[:0], b.lines[:0]
	for len(b.lines) < a.maxLines && len(b.data) < a.maxBytes {
		start := len(b.data)
		data, complete, err := lr.readLine(b.data)
		b.data = data
		b.lines = append(b.lines, aheadLine{pos: lr.position, start: start, end: len(data), err: err, line: line{complete: complete}})
		if err != nil {
			return err == io.EOF
		}
	}
	return false
}

// decode decodes the lines of the batches it is given.
func (a *readAhead) decode() {
	defer a.wg.Done()
	for {
		select {
		case b, ok := <-a.work:
			if !ok {
				return
			}
			for i := range b.lines {
				if l := &b.lines[i]; l.err == nil {
					l.line = decodeLine(b.data[l.start:l.end], l.complete)
				}
			}
			b.ready <- struct{}{}
		case <-a.done:
			return
		}
	}
}

// next returns the next line in file order, waiting for its batch to be decoded.
func (a *readAhead) next() *aheadLine {
	for a.cur == nil || a.i == len(a.cur.lines) {
		if a.cur != nil {
			a.free <- a.cur // never blocks: free holds every batch
		}
		a.cur, a.i = <-a.order, 0 // the reader ends with the end's line: order is never empty then
		<-a.cur.ready
	}
	a.i++
	return &a.cur.lines[a.i-1]
}

// aheadLine takes the next line from the read-ahead. At the end of the history the
// read-ahead ends and the Reader goes on by itself.
func (r *Reader) aheadLine() (line, error) {
	l := r.ahead.next()
	r.moveTo(l.pos)
	if l.err == io.EOF {
		r.ahead.stop()
		r.ahead = nil
	}
	if l.err != nil {
		return line{}, l.err
	}
	return l.line, nil
}
