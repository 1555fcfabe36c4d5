package history

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// MaxLine bounds one line; longer lines are malformed.
const MaxLine = 16 << 20

// LineError is a malformed line: its 1-based number and what is wrong with it.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// Reader streams the events of a history in constant memory (one line at a time).
type Reader struct {
	br      *bufio.Reader
	line    int
	buf     []byte
	lastSeq uint64
	offset  int64 // bytes of the complete lines read so far
	pending int64 // bytes of a last line without its newline
	torn    bool
	unterm  bool // the last event read had no newline
}

// NewReader reads a history from r.
func NewReader(r io.Reader) *Reader { return &Reader{br: bufio.NewReaderSize(r, 256<<10)} }

// Next returns the next event, io.EOF at the end, or a *LineError for a malformed
// line (after which reading goes on with the next line). A last line without its
// newline that does not decode is a write torn by a crash: Next returns io.EOF and
// Torn reports it. Blank lines are skipped. Sequence numbers must increase.
func (r *Reader) Next() (Event, error) {
	for {
		data, complete, err := r.readLine()
		if err != nil {
			return Event{}, err
		}
		if len(bytes.TrimSpace(data)) == 0 {
			if !complete {
				return Event{}, io.EOF
			}
			continue
		}
		e, err := Decode(data)
		switch {
		case err != nil && !complete:
			r.torn = true
			return Event{}, io.EOF
		case err != nil:
			return Event{}, &LineError{Line: r.line, Err: err}
		case e.Seq <= r.lastSeq:
			return Event{}, &LineError{Line: r.line, Err: fmt.Errorf("seq %d after seq %d", e.Seq, r.lastSeq)}
		}
		r.lastSeq = e.Seq
		if !complete {
			r.unterm = true
			r.offset += r.pending
		}
		return e, nil
	}
}

// readLine returns the next line without its newline; complete is false for a last
// line that has none.
func (r *Reader) readLine() ([]byte, bool, error) {
	r.buf = r.buf[:0]
	n := 0
	for {
		chunk, err := r.br.ReadSlice('\n')
		n += len(chunk)
		if len(r.buf)+len(chunk) <= MaxLine+1 {
			r.buf = append(r.buf, chunk...)
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(r.buf) == 0:
			return nil, false, io.EOF
		case err == io.EOF:
			r.line++
			r.pending = int64(n)
			return r.buf, false, nil
		case err != nil:
			return nil, false, fmt.Errorf("read history: %w", err)
		}
		r.line++
		r.offset += int64(n)
		if n > MaxLine+1 {
			return nil, false, &LineError{Line: r.line, Err: fmt.Errorf("longer than %d bytes", MaxLine)}
		}
		return r.buf[:len(r.buf)-1], true, nil
	}
}

// Line is the number of the line last read.
func (r *Reader) Line() int { return r.line }

// Torn reports whether the history ended with a torn line.
func (r *Reader) Torn() bool { return r.torn }

// Offset is the size of the complete lines read so far.
func (r *Reader) Offset() int64 { return r.offset }

// Unterminated reports whether the last event read was a last line without its
// newline (it decoded, so it is kept).
func (r *Reader) Unterminated() bool { return r.unterm }
