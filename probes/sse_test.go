package probes

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func readAll(t *testing.T, r io.Reader) ([]Event, error) {
	t.Helper()
	s := NewSSEReader(r)
	var evs []Event
	for {
		ev, err := s.Next()
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func TestSSEReader(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    []string // "data" or "#comment"
		wantErr error
	}{
		{"two events", "data: {\"a\":1}\n\ndata: {\"b\":2}\n\n", []string{`{"a":1}`, `{"b":2}`}, io.EOF},
		{"keepalive comment", ": keepalive\n\ndata: x\n\n", []string{"#keepalive", "x"}, io.EOF},
		{"crlf", "data: x\r\n\r\n", []string{"x"}, io.EOF},
		{"multi-line data", "data: a\ndata: b\n\n", []string{"a\nb"}, io.EOF},
		{"no space after colon", "data:x\n\n", []string{"x"}, io.EOF},
		{"other fields ignored", "event: message\nid: 7\nretry: 10\ndata: x\n\n", []string{"x"}, io.EOF},
		{"blank lines between", "\n\n\ndata: x\n\n\n", []string{"x"}, io.EOF},
		{"cut mid-event", "data: x\n\ndata: {\"partial", []string{"x"}, io.ErrUnexpectedEOF},
		{"cut after data line", "data: x\n", nil, io.ErrUnexpectedEOF},
		{"empty", "", nil, io.EOF},
	}
	for _, c := range cases {
		for _, oneByte := range []bool{false, true} {
			var r io.Reader = strings.NewReader(c.in)
			if oneByte {
				r = iotest.OneByteReader(r) // every line arrives in pieces
			}
			evs, err := readAll(t, r)
			if !errors.Is(err, c.wantErr) {
				t.Errorf("%s (oneByte=%v): err %v, want %v", c.name, oneByte, err, c.wantErr)
			}
			var got []string
			for _, e := range evs {
				if e.Comment {
					got = append(got, "#"+string(e.Data))
				} else {
					got = append(got, string(e.Data))
				}
			}
			if strings.Join(got, "|") != strings.Join(c.want, "|") {
				t.Errorf("%s (oneByte=%v): got %q, want %q", c.name, oneByte, got, c.want)
			}
		}
	}
}

func TestSSEReaderBoundsEventSize(t *testing.T) {
	big := "data: " + strings.Repeat("x", MaxEventBytes+10) + "\n\n"
	_, err := readAll(t, strings.NewReader(big))
	if !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("err %v, want ErrEventTooLarge", err)
	}
}

func FuzzSSEReader(f *testing.F) {
	for _, s := range []string{"data: x\n\n", ": keepalive\n\n", "data: a\r\ndata: b\r\n\r\n", "data: {\"type\":\"finish\"}\n\ndata: {", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s := NewSSEReader(strings.NewReader(in))
		total := 0
		for i := 0; ; i++ {
			ev, err := s.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrEventTooLarge) {
					t.Fatalf("unexpected error type: %v", err)
				}
				return
			}
			total += len(ev.Data)
			if total > len(in) || i > len(in) {
				t.Fatalf("reader produced more than it read: %d bytes, %d events from %d input bytes", total, i, len(in))
			}
		}
	})
}
