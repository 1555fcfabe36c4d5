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
// Reading a history of several files (Open, after a rotation), Line runs on across
// the files and File and FileLine name the file and the line in it.
type LineError struct {
	Line     int
	File     string // empty when the history is one file or stream
	FileLine int
	Err      error
}

func (e *LineError) Error() string {
	if e.File != "" {
		return fmt.Sprintf("%s, line %d: %v", e.File, e.FileLine, e.Err)
	}
	return fmt.Sprintf("line %d: %v", e.Line, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// errTornSegment is a rotated segment that ends in the middle of a line: unlike the
// live file's tail, no crash explains it (segments are rotated at line boundaries).
var errTornSegment = errors.New("segment ends with a partial line")

// Reader streams the events of a history in constant memory (one line at a time).
type Reader struct {
	br       *bufio.Reader
	files    *fileSeq // Open: the files still to read; nil for NewReader
	name     string   // the file being read, for errors; empty for NewReader
	multi    bool     // the history spans several files: LineErrors name them
	last     bool     // the file being read is the last one (torn tails allowed)
	line     int
	fileLine int
	buf      []byte
	lastSeq  uint64
	offset   int64 // bytes of the complete lines read so far (in the current file)
	pending  int64 // bytes of a last line without its newline
	torn     bool
	unterm   bool // the last event read had no newline
}

func newBufReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, 256<<10) }

// NewReader reads a history from r.
func NewReader(r io.Reader) *Reader { return &Reader{br: newBufReader(r), last: true} }

// Next returns the next event, io.EOF at the end, or a *LineError for a malformed
// line (after which reading goes on with the next line). A last line without its
// newline that does not decode is a write torn by a crash: Next returns io.EOF and
// Torn reports it. Blank lines are skipped. Sequence numbers must increase, across
// the files of a rotated history too.
func (r *Reader) Next() (Event, error) {
	for {
		data, complete, err := r.readLine()
		if err != nil {
			return Event{}, err
		}
		if len(bytes.TrimSpace(data)) == 0 {
			if !complete && r.last {
				return Event{}, io.EOF
			}
			continue
		}
		e, err := Decode(data)
		switch {
		case err != nil && !complete && r.last:
			r.torn = true
			return Event{}, io.EOF
		case err != nil && !complete:
			return Event{}, r.lineErr(fmt.Errorf("%w: %w", errTornSegment, err))
		case err != nil:
			return Event{}, r.lineErr(err)
		case e.Seq <= r.lastSeq:
			return Event{}, r.lineErr(fmt.Errorf("seq %d after seq %d", e.Seq, r.lastSeq))
		}
		r.lastSeq = e.Seq
		r.unterm = !complete
		if !complete {
			r.offset += r.pending
		}
		return e, nil
	}
}

func (r *Reader) lineErr(err error) *LineError {
	le := &LineError{Line: r.line, FileLine: r.fileLine, Err: err}
	if r.multi {
		le.File = r.name
	}
	return le
}

// readLine returns the next line without its newline; complete is false for a last
// line that has none. At the end of a file that is not the last it goes on with the
// next file.
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
		case err == io.EOF && n == 0 && !r.last:
			if err := r.nextFile(); err != nil {
				return nil, false, err
			}
			continue
		case err == io.EOF && n == 0:
			return nil, false, io.EOF
		case err == io.EOF:
			r.line++
			r.fileLine++
			r.pending = int64(n)
			return r.buf, false, nil
		case err != nil && r.name != "":
			return nil, false, fmt.Errorf("read history %s after line %d: %w", r.name, r.fileLine, err)
		case err != nil:
			return nil, false, fmt.Errorf("read history: %w", err)
		}
		r.line++
		r.fileLine++
		r.offset += int64(n)
		if n > MaxLine+1 {
			return nil, false, r.lineErr(fmt.Errorf("longer than %d bytes", MaxLine))
		}
		return r.buf[:len(r.buf)-1], true, nil
	}
}

// nextFile moves on to the next file of a rotated history.
func (r *Reader) nextFile() error {
	name, in, last, err := r.files.next()
	if err != nil {
		r.last = true
		return err
	}
	r.br.Reset(in)
	r.multi = r.multi || r.name != "" || !last
	r.name, r.last = name, last
	r.fileLine, r.offset, r.pending = 0, 0, 0
	return nil
}

// Line is the number of the line last read; in a rotated history the lines are
// numbered on from file to file.
func (r *Reader) Line() int { return r.line }

// File is the file being read (empty for NewReader), and FileLine the number of
// the line last read in it.
func (r *Reader) File() string { return r.name }

// FileLine is the number of the line last read in File.
func (r *Reader) FileLine() int { return r.fileLine }

// Torn reports whether the history ended with a torn line (in its live file).
func (r *Reader) Torn() bool { return r.torn }

// Offset is the size of the complete lines read so far (of File, when the history
// spans several files).
func (r *Reader) Offset() int64 { return r.offset }

// Unterminated reports whether the last event read was a last line without its
// newline (it decoded, so it is kept).
func (r *Reader) Unterminated() bool { return r.unterm }
