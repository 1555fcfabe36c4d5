package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	gojson "github.com/goccy/go-json"
)

// step is what one call of Next returned and where the Reader was after it.
type step struct {
	Event        Event
	Err          string
	Line         int
	File         string
	FileLine     int
	Offset       int64
	Torn, Unterm bool
}

// trace calls Next until the end (and once more after it, which reads on as a
// Reader does without read-ahead), or a read error that is not a LineError, or
// max steps, and records every answer.
func trace(r *Reader, max int) []step {
	var out []step
	ends := 0
	for range max {
		e, err := r.Next()
		s := step{Event: e, Line: r.Line(), File: r.File(), FileLine: r.FileLine(), Offset: r.Offset(), Torn: r.Torn(), Unterm: r.Unterminated()}
		if err != nil {
			s.Err = err.Error()
		}
		out = append(out, s)
		var le *LineError
		switch {
		case errors.Is(err, io.EOF):
			if ends++; ends == 2 {
				return out
			}
		case err != nil && !errors.As(err, &le):
			return out
		}
	}
	return out
}

// sameTrace fails unless the two traces are equal, naming the first difference.
func sameTrace(t *testing.T, name string, got, want []step) {
	t.Helper()
	for i := range min(len(got), len(want)) {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("%s: step %d:\n read ahead %+v\n   one by one %+v", name, i, got[i], want[i])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d steps read ahead, %d one by one", name, len(got), len(want))
	}
}

// aheadConfigs are the worker counts and batch sizes every comparison runs with:
// batches of one line, of a few, and the default.
var aheadConfigs = []struct{ workers, lines, bytes int }{
	{1, 1, batchBytes}, {2, 3, batchBytes}, {3, batchLines, 64}, {2, batchLines, batchBytes},
}

// checkReadAhead compares reading with read-ahead against reading one by one, for
// Readers of the same history made by open.
func checkReadAhead(t *testing.T, name string, open func() (*Reader, func())) {
	t.Helper()
	r, done := open()
	want := trace(r, 1<<20)
	done()
	for _, c := range aheadConfigs {
		r, done := open()
		stop := r.readAhead(c.workers, c.lines, c.bytes)
		got := trace(r, 1<<20)
		stop()
		done()
		sameTrace(t, fmt.Sprintf("%s (workers %d, batch %d lines, %d bytes)", name, c.workers, c.lines, c.bytes), got, want)
	}
}

func readerOf(s string) func() (*Reader, func()) {
	return func() (*Reader, func()) { return NewReader(strings.NewReader(s)), func() {} }
}

func TestReadAheadReadsAsNext(t *testing.T) {
	good := string(encodeAll(t, sample()))
	lines := strings.Split(strings.TrimSpace(good), "\n")
	var b strings.Builder
	for i := range 2000 {
		e := opEvent(i + 1)
		e.V, e.Seq, e.Time = SchemaVersion, uint64(i+1), t0
		line, err := Encode(&e)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
		if i%333 == 0 {
			b.WriteString("\n  \n")
		}
	}
	many := b.String()
	cases := map[string]string{
		"good":                good,
		"empty":               "",
		"blank":               "\n \n\t\n",
		"blank unterminated":  good + "  ",
		"unterminated":        strings.TrimSuffix(good, "\n"),
		"torn":                good + `{"v":1,"seq":99,"time":"2026-`,
		"malformed":           strings.Join([]string{lines[0], `{"v":1,"seq":2,`, lines[2], "not json", lines[4], `{"v":1,"seq":6,"time":"2026-05-01T12:00:00Z","type":"op"}`, lines[6]}, "\n") + "\n",
		"seq goes back":       strings.Join([]string{lines[0], lines[2], lines[1], lines[3]}, "\n") + "\n",
		"crlf":                strings.ReplaceAll(good, "\n", "\r\n"),
		"many":                many,
		"many torn":           many + many[:100],
		"line of half a MiB":  lines[0] + "\n" + strings.Replace(lines[1], `"hint":"`, `"hint":"`+strings.Repeat("x", 512<<10), 1) + "\n" + lines[2] + "\n",
		"longer than MaxLine": lines[0] + "\n" + strings.Repeat("x", MaxLine+10) + "\n" + lines[1] + "\n",
	}
	for name, s := range cases {
		checkReadAhead(t, name, readerOf(s))
	}
}

// failingReader returns its bytes and then err.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func TestReadAheadReadErrors(t *testing.T) {
	good := string(encodeAll(t, sample()))
	checkReadAhead(t, "read error", func() (*Reader, func()) {
		return NewReader(&failingReader{strings.NewReader(good[:len(good)/2]), errors.New("disk on fire")}), func() {}
	})
}

func TestReadAheadRotatedHistory(t *testing.T) {
	l := lineLen(t)
	for _, compress := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "h.jsonl")
		w := create(t, path, Options{MaxBytes: 3 * l, Compress: compress})
		appendN(t, w, 1, 40)
		closeW(t, w)
		open := func() (*Reader, func()) {
			r, c, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			return r, func() { c.Close() }
		}
		checkReadAhead(t, fmt.Sprint("rotated, compress=", compress), open)
		// A torn live file, then a torn segment (which is an error naming it).
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(`{"v":1,"seq":41,"time":"2026-`)
		f.Close()
		checkReadAhead(t, fmt.Sprint("torn live file, compress=", compress), open)
		if !compress {
			seg := segmentName(path, 2)
			data, _ := os.ReadFile(seg)
			if err := os.WriteFile(seg, data[:len(data)-10], 0o644); err != nil {
				t.Fatal(err)
			}
			checkReadAhead(t, "torn segment", open)
		}
	}
}

func TestReadAheadGoesOnAfterTheEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.jsonl")
	w := create(t, path, Options{})
	appendN(t, w, 1, 700)
	closeW(t, w)
	r, c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stop := r.ReadAhead(2)
	defer stop()
	n := 0
	for ; ; n++ {
		if _, err := r.Next(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	w = create(t, path, Options{})
	appendN(t, w, 701, 3)
	closeW(t, w)
	for i := range 3 {
		e, err := r.Next()
		if err != nil || e.Seq != uint64(701+i) {
			t.Fatalf("after the end: seq %d, %v; want %d", e.Seq, err, 701+i)
		}
	}
	if n != 700 || r.Line() != 703 {
		t.Fatalf("read %d events to the end, at line %d; want 700 and line 703", n, r.Line())
	}
}

func TestReadAheadStop(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b, Options{Buffered: true, Now: fixedNow})
	appendN(t, w, 1, 5000)
	closeW(t, w)
	r := NewReader(&b)
	stop := r.ReadAhead(2)
	for i := range 10 {
		if e, err := r.Next(); err != nil || e.Seq != uint64(i+1) {
			t.Fatalf("event %d: seq %d, %v", i+1, e.Seq, err)
		}
	}
	stop()
	stop()
	if _, err := r.Next(); !errors.Is(err, errStopped) {
		t.Fatalf("Next after stop: %v, want %v", err, errStopped)
	}
}

// FuzzReadAhead: whatever the bytes, reading ahead gives what reading one by one
// gives.
func FuzzReadAhead(f *testing.F) {
	f.Add(encodeAll(f, sample()))
	f.Add([]byte("{\"v\":1,\"seq\":1,\n\n{}\r\n  "))
	f.Fuzz(func(t *testing.T, data []byte) {
		want := trace(NewReader(bytes.NewReader(data)), 1000)
		r := NewReader(bytes.NewReader(data))
		stop := r.readAhead(2, 2, 16)
		got := trace(r, 1000)
		stop()
		sameTrace(t, "fuzz", got, want)
	})
}

// FuzzDecodersAgree: every line that go-json decodes, encoding/json decodes to the
// same Event (Decode takes go-json's and leaves what it rejects to encoding/json).
func FuzzDecodersAgree(f *testing.F) {
	for _, e := range sample() {
		e.V, e.Seq, e.Time = SchemaVersion, 1, t0
		line, err := Encode(&e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(line)
	}
	for _, s := range []string{
		`{"v":1,"seq":1,"time":"2026-05-01T12:00:00Z","type":"watch","watch":{"order":"1-5,1-20,7","prefixAt":"2026-05-01T12:00:01Z"}}`,
		`{"V":1,"SEQ":2,"Time":"2026-05-01T12:00:00+02:00","type":"op","op":{"id":1,"expect":10000000000,"status":null}}`,
		`{"v":1,"seq":3,"time":"2026-05-01T12:00:00Z","type":"op","op":{"id":1,"run":"a"},"op":{"pod":"b"},"meta":null}`,
		`{"v":1.0,"seq":1e3,"time":"2026-05-01T12:00:00Z","type":"probe","probe":{"kind":"user","user":{"check":"\u00e9\ud83d\ude00","ok":true}}}`,
		`{"v":1,"seq":4,"time":"2026-05-01T12:00:00Z","type":"docker","docker":{"action":"die","exitCode":-1,"byChaosd":"yes"}}`,
		"{\"v\":1,\"seq\":5,\"time\":\"2026-05-01T12:00:00Z\",\"type\":\"meta\",\"meta\":{\"phase\":\"b\xffg\",\"pods\":[\"a\",null]}}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var fast, std Event
		if err := gojson.Unmarshal(line, &fast); err != nil {
			return
		}
		if err := json.Unmarshal(line, &std); err != nil {
			t.Fatalf("go-json decodes what encoding/json rejects (%v): %s", err, line)
		}
		if !reflect.DeepEqual(fast, std) {
			t.Fatalf("decoded differently: %s\n go-json       %+v\n encoding/json %+v", line, fast, std)
		}
	})
}
