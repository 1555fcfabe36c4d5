package probes

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// MaxEventBytes bounds one server-sent event, so a misbehaving pod cannot make the
// reader buffer without limit.
const MaxEventBytes = 1 << 20

// ErrEventTooLarge is returned when one event exceeds MaxEventBytes.
var ErrEventTooLarge = errors.New("sse: event larger than 1 MiB")

// Event is one server-sent event: its data lines joined with "\n". Comments
// (keepalives) are reported separately so that callers can count them.
type Event struct {
	Data    []byte
	Comment bool // a ":" line on its own, e.g. mesh's ": keepalive"
}

// SSEReader parses a text/event-stream body incrementally. It tolerates partial lines
// (a line split across reads), CRLF line ends, and a body that ends mid-event (the
// partial event is dropped and io.ErrUnexpectedEOF returned, so a pod dying mid-stream
// is told apart from a clean end).
type SSEReader struct {
	r    *bufio.Reader
	data bytes.Buffer
	has  bool // at least one data line seen in the current event
}

// NewSSEReader reads events from r.
func NewSSEReader(r io.Reader) *SSEReader {
	return &SSEReader{r: bufio.NewReaderSize(r, 16<<10)}
}

// Next returns the next event or comment. At a clean end of stream it returns io.EOF.
func (s *SSEReader) Next() (Event, error) {
	for {
		line, err := s.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) && (s.has || len(line) > 0) {
				return Event{}, io.ErrUnexpectedEOF
			}
			return Event{}, err
		}
		switch {
		case len(line) == 0: // blank line: dispatch
			if !s.has {
				continue
			}
			ev := Event{Data: bytes.Clone(s.data.Bytes())}
			s.data.Reset()
			s.has = false
			return ev, nil
		case line[0] == ':':
			return Event{Data: bytes.Clone(bytes.TrimSpace(line[1:])), Comment: true}, nil
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		if string(field) != "data" {
			continue // event:, id:, retry: carry nothing mesh uses
		}
		if s.has {
			s.data.WriteByte('\n')
		}
		if s.data.Len()+len(value) > MaxEventBytes {
			return Event{}, ErrEventTooLarge
		}
		s.data.Write(value)
		s.has = true
	}
}

// readLine returns one line without its line end. A final line without a line end
// is returned together with io.EOF. The line is valid until the next read: a line
// that fits the read buffer (every chunk line of mesh's) is not copied.
func (s *SSEReader) readLine() ([]byte, error) {
	var line []byte
	for {
		frag, err := s.r.ReadSlice('\n')
		if err == nil && line == nil {
			line = frag // the whole line in the buffer: no copy
			break
		}
		line = append(line, frag...)
		if len(line) > MaxEventBytes {
			return nil, ErrEventTooLarge
		}
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			return line, io.EOF
		}
		return nil, fmt.Errorf("sse: read: %w", err)
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r")), nil
}
