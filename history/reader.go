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

// Reader streams the events of a history in constant memory (one line at a time, or
// a few batches of lines with ReadAhead).
type Reader struct {
	lines   lineReader // owned by the read-ahead goroutine while ahead is set
	ahead   *readAhead // nil: Next reads and decodes on the caller's goroutine
	stopped bool       // read-ahead was stopped before the end
	at      position   // of the line last read by Next
	kept    int64      // bytes of a last line without its newline that was kept, in at.file
	buf     []byte
	lastSeq uint64
	torn    bool
	unterm  bool // the last event read had no newline
}

// position is where the line last read is, and how the file it is in is read.
type position struct {
	file     int    // the files opened so far: a new value is a new file
	name     string // the file being read, for errors; empty for NewReader
	multi    bool   // the history spans several files: LineErrors name them
	last     bool   // the file being read is the last one (torn tails allowed)
	line     int
	fileLine int
	offset   int64 // bytes of the complete lines read so far (in the current file)
	pending  int64 // bytes of a last line without its newline
}

func (p *position) lineErr(err error) *LineError {
	le := &LineError{Line: p.line, FileLine: p.fileLine, Err: err}
	if p.multi {
		le.File = p.name
	}
	return le
}

// lineReader splits the files of a history into lines.
type lineReader struct {
	br    *bufio.Reader
	files *fileSeq // Open: the files still to read; nil for NewReader
	position
}

// line is one line as Next judges it: decoded, or blank.
type line struct {
	complete bool // it ended with a newline
	blank    bool
	ev       Event
	err      error // from Decode
}

func newBufReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, 256<<10) }

// NewReader reads a history from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{lines: lineReader{br: newBufReader(r), position: position{last: true}}, at: position{last: true}}
}

// Next returns the next event, io.EOF at the end, or a *LineError for a malformed
// line (after which reading goes on with the next line). A last line without its
// newline that does not decode is a write torn by a crash: Next returns io.EOF and
// Torn reports it. Blank lines are skipped. Sequence numbers must increase, across
// the files of a rotated history too.
func (r *Reader) Next() (Event, error) {
	for {
		l, err := r.nextLine()
		if err != nil {
			return Event{}, err
		}
		if l.blank {
			if !l.complete && r.at.last {
				return Event{}, io.EOF
			}
			continue
		}
		e, err := l.ev, l.err
		switch {
		case err != nil && !l.complete && r.at.last:
			r.torn = true
			return Event{}, io.EOF
		case err != nil && !l.complete:
			return Event{}, r.at.lineErr(fmt.Errorf("%w: %w", errTornSegment, err))
		case err != nil:
			return Event{}, r.at.lineErr(err)
		case e.Seq <= r.lastSeq:
			return Event{}, r.at.lineErr(fmt.Errorf("seq %d after seq %d", e.Seq, r.lastSeq))
		}
		r.lastSeq = e.Seq
		r.unterm = !l.complete
		if !l.complete {
			r.kept += r.at.pending
			r.at.offset += r.at.pending
		}
		return e, nil
	}
}

// nextLine reads and decodes the next line, or takes it from the read-ahead.
func (r *Reader) nextLine() (line, error) {
	if r.ahead != nil {
		return r.aheadLine()
	}
	if r.stopped {
		return line{}, errStopped
	}
	data, complete, err := r.lines.readLine(r.buf[:0])
	r.buf = data
	r.moveTo(r.lines.position)
	if err != nil {
		return line{}, err
	}
	return decodeLine(data, complete), nil
}

// decodeLine decodes one line read.
func decodeLine(data []byte, complete bool) line {
	l := line{complete: complete}
	if len(bytes.TrimSpace(data)) == 0 {
		l.blank = true
		return l
	}
	l.ev, l.err = Decode(data)
	return l
}

// moveTo makes p the position of the line last read, keeping the bytes of a kept
// unterminated line in the offset of its file.
func (r *Reader) moveTo(p position) {
	if p.file != r.at.file {
		r.kept = 0
	}
	r.at = p
	r.at.offset += r.kept
}

// readLine appends the next line without its newline to dst and returns dst;
// complete is false for a last line that has none. At the end of a file that is not
// the last it goes on with the next file. On an error dst is returned as it came.
func (r *lineReader) readLine(dst []byte) ([]byte, bool, error) {
	start, n := len(dst), 0
	for {
		chunk, err := r.br.ReadSlice('\n')
		n += len(chunk)
		if len(dst)-start+len(chunk) <= MaxLine+1 {
			dst = append(dst, chunk...)
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && n == 0 && !r.last:
			if err := r.nextFile(); err != nil {
				return dst[:start], false, err
			}
			continue
		case err == io.EOF && n == 0:
			return dst[:start], false, io.EOF
		case err == io.EOF:
			r.line++
			r.fileLine++
			r.pending = int64(n)
			return dst, false, nil
		case err != nil && r.name != "":
			return dst[:start], false, fmt.Errorf("read history %s after line %d: %w", r.name, r.fileLine, err)
		case err != nil:
			return dst[:start], false, fmt.Errorf("read history: %w", err)
		}
		r.line++
		r.fileLine++
		r.offset += int64(n)
		if n > MaxLine+1 {
			return dst[:start], false, r.lineErr(fmt.Errorf("longer than %d bytes", MaxLine))
		}
		return dst[:len(dst)-1], true, nil
	}
}

// nextFile moves on to the next file of a rotated history.
func (r *lineReader) nextFile() error {
	name, in, last, err := r.files.next()
	if err != nil {
		r.last = true
		return err
	}
	r.br.Reset(in)
	r.multi = r.multi || r.name != "" || !last
	r.name, r.last = name, last
	r.file++
	r.fileLine, r.offset, r.pending = 0, 0, 0
	return nil
}

// Line is the number of the line last read; in a rotated history the lines are
// numbered on from file to file.
func (r *Reader) Line() int { return r.at.line }

// File is the file being read (empty for NewReader), and FileLine the number of
// the line last read in it.
func (r *Reader) File() string { return r.at.name }

// FileLine is the number of the line last read in File.
func (r *Reader) FileLine() int { return r.at.fileLine }

// Torn reports whether the history ended with a torn line (in its live file).
func (r *Reader) Torn() bool { return r.torn }

// Offset is the size of the complete lines read so far (of File, when the history
// spans several files).
func (r *Reader) Offset() int64 { return r.at.offset }

// Unterminated reports whether the last event read was a last line without its
// newline (it decoded, so it is kept).
func (r *Reader) Unterminated() bool { return r.unterm }
