package history

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// opEvent is an event whose line has the same length for seq 1..9.
func opEvent(id int) Event {
	return OpEvent(Op{ID: uint64(id), Name: OpAttach, Phase: PhaseInvoke, Run: "r1"})
}

func fixedNow() time.Time { return t0 }

func appendN(t testing.TB, w *Writer, from, n int) {
	t.Helper()
	for i := range n {
		if _, err := w.Append(opEvent(from + i)); err != nil {
			t.Fatal(err)
		}
	}
}

func create(t testing.TB, path string, opts Options) *Writer {
	t.Helper()
	opts.Now = fixedNow
	w, err := Create(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func closeW(t testing.TB, w *Writer) {
	t.Helper()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// lineLen is the length of opEvent's line, newline included, for a one-digit seq.
func lineLen(t *testing.T) int64 {
	e := opEvent(1)
	e.V, e.Seq, e.Time = SchemaVersion, 1, t0
	line, err := Encode(&e)
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(line) + 1)
}

// seqsIn returns the sequence numbers in one file (plain or .gz).
func seqsIn(t *testing.T, path string) []uint64 {
	t.Helper()
	r, c, err := OpenWith(path, nil)
	if !strings.HasSuffix(path, gzExt) {
		f, ferr := os.Open(path)
		if ferr != nil {
			t.Fatal(ferr)
		}
		r, c, err = NewReader(f), f, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var seqs []uint64
	for {
		e, err := r.Next()
		if err == io.EOF {
			return seqs
		}
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, e.Seq)
	}
}

// readHistory reads the whole rotated history at path and returns its events.
func readHistory(t *testing.T, path string) ([]Event, *Reader) {
	t.Helper()
	r, c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var evs []Event
	for {
		e, err := r.Next()
		if err == io.EOF {
			return evs, r
		}
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
}

// wantSeqs fails unless evs are exactly seq 1..n in order.
func wantSeqs(t *testing.T, evs []Event, from, n int) {
	t.Helper()
	if len(evs) != n {
		t.Fatalf("read %d events, want %d", len(evs), n)
	}
	for i, e := range evs {
		if e.Seq != uint64(from+i) || e.Op.ID != uint64(from+i) {
			t.Fatalf("event %d: seq %d op %d, want %d", i, e.Seq, e.Op.ID, from+i)
		}
	}
}

func seqRange(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func TestRotateAtLineBoundary(t *testing.T) {
	l := lineLen(t)
	for _, tc := range []struct {
		name string
		max  int64
		segs [][]uint64 // the seqs of each segment, then of the live file
	}{
		{"exact fit", 3 * l, [][]uint64{{1, 2, 3}, {4, 5, 6}, {7, 8, 9}}},
		{"one byte short", 3*l - 1, [][]uint64{{1, 2}, {3, 4}, {5, 6}, {7, 8}, {9}}},
		{"smaller than a line", l - 1, [][]uint64{{1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "h.jsonl")
			w := create(t, path, Options{MaxBytes: tc.max})
			appendN(t, w, 1, 9)
			closeW(t, w)
			segs, err := Segments(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(segs) != len(tc.segs)-1 {
				t.Fatalf("%d segments, want %d: %+v", len(segs), len(tc.segs)-1, segs)
			}
			for i, s := range segs {
				if want := segmentName(path, uint64(i+1)); s.N != uint64(i+1) || s.Path != want || s.Compressed {
					t.Fatalf("segment %d: %+v, want %s", i, s, want)
				}
				if s.Size > max(tc.max, l) || s.Size != int64(len(tc.segs[i]))*l {
					t.Fatalf("segment %d: %d bytes (max %d, line %d)", i, s.Size, tc.max, l)
				}
				if got := seqsIn(t, s.Path); !slices.Equal(got, tc.segs[i]) {
					t.Fatalf("segment %d holds %v, want %v", i, got, tc.segs[i])
				}
			}
			if got, want := seqsIn(t, path), tc.segs[len(tc.segs)-1]; !slices.Equal(got, want) {
				t.Fatalf("live file holds %v, want %v", got, want)
			}
			evs, _ := readHistory(t, path)
			wantSeqs(t, evs, 1, 9)
		})
	}
}

func TestSegmentNamesSortAsNumbers(t *testing.T) {
	if got := segmentName("h.jsonl", 7); got != "h.jsonl.000007" {
		t.Fatalf("%s", got)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "h.jsonl")
	for _, name := range []string{"h.jsonl.000002", "h.jsonl.10.gz", "h.jsonl.000001.gz", "h.jsonl.9", "h.jsonl.x", "h.jsonl.0", "h.jsonl.3.gz.tmp", "h.jsonlx.4", "h.jsonl.000002.gz"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	segs, err := Segments(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range segs {
		got = append(got, fmt.Sprintf("%d:%s", s.N, filepath.Base(s.Path)))
	}
	want := []string{"1:h.jsonl.000001.gz", "2:h.jsonl.000002", "9:h.jsonl.9", "10:h.jsonl.10.gz"}
	if !slices.Equal(got, want) {
		t.Fatalf("segments %v, want %v", got, want)
	}
}

func TestSeqContinuesAcrossSegmentsAndReopen(t *testing.T) {
	l := lineLen(t)
	path := filepath.Join(t.TempDir(), "h.jsonl")
	w := create(t, path, Options{MaxBytes: 2 * l})
	appendN(t, w, 1, 5) // segments {1,2} {3,4}, live {5}
	closeW(t, w)
	w = create(t, path, Options{MaxBytes: 2 * l})
	appendN(t, w, 6, 3) // live {5,6} -> segment 3, {7,8} live
	closeW(t, w)
	segs, _ := Segments(path)
	if len(segs) != 3 || !slices.Equal(seqsIn(t, segs[2].Path), []uint64{5, 6}) {
		t.Fatalf("segments %+v", segs)
	}
	evs, _ := readHistory(t, path)
	wantSeqs(t, evs, 1, 8)
}

// After a rotation the live file may be empty or, after a crash between the rename
// and the creation of the fresh file, missing; the newest segment may be gzipped.
func TestReopenAfterRotationContinuesFromNewestSegment(t *testing.T) {
	l := lineLen(t)
	for _, tc := range []struct {
		name     string
		live     func(path string) error
		compress bool
	}{
		{"empty live file", func(p string) error { return os.WriteFile(p, nil, 0o644) }, false},
		{"missing live file", func(string) error { return nil }, false},
		{"empty live file, gzipped segment", func(p string) error { return os.WriteFile(p, nil, 0o644) }, true},
		{"missing live file, gzipped segment", func(string) error { return nil }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "h.jsonl")
			w := create(t, path, Options{MaxBytes: 3 * l})
			appendN(t, w, 1, 5) // segment {1,2,3}, live {4,5}
			closeW(t, w)
			// What a rotation does: the live file becomes segment 2.
			if err := os.Rename(path, segmentName(path, 2)); err != nil {
				t.Fatal(err)
			}
			if tc.compress {
				if _, err := compressSegment(segmentName(path, 2)); err != nil {
					t.Fatal(err)
				}
			}
			if err := tc.live(path); err != nil {
				t.Fatal(err)
			}
			evs, _ := readHistory(t, path)
			wantSeqs(t, evs, 1, 5)
			w = create(t, path, Options{MaxBytes: 3 * l})
			if w.Seq() != 5 {
				t.Fatalf("reopened at seq %d, want 5", w.Seq())
			}
			appendN(t, w, 6, 4) // live {6,7,8} -> segment 3, live {9}
			closeW(t, w)
			evs, _ = readHistory(t, path)
			wantSeqs(t, evs, 1, 9)
			if segs, _ := Segments(path); len(segs) != 3 || segs[2].N != 3 {
				t.Fatalf("segments %+v", segs)
			}
		})
	}
}

func TestReadRotatedCompressedHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.jsonl")
	w := create(t, path, Options{MaxBytes: 4 << 10, Compress: true})
	const n = 3000
	for i := 1; i <= n; i++ {
		e := OpEvent(Op{ID: uint64(i), Name: OpStartRun, Phase: PhaseInvoke, Run: fmt.Sprintf("r%d", i), Hint: strings.Repeat("h", i%97)})
		if _, err := w.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	closeW(t, w) // waits for the compression
	segs, err := Segments(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) < 20 {
		t.Fatalf("only %d segments", len(segs))
	}
	for _, s := range segs {
		if !s.Compressed || !strings.HasSuffix(s.Path, ".gz") {
			t.Fatalf("segment not compressed after Close: %+v", s)
		}
	}
	assertNoLeftovers(t, path)
	evs, r := readHistory(t, path)
	wantSeqs(t, evs, 1, n)
	if r.Line() != n || r.Torn() {
		t.Fatalf("line %d torn %v, want line %d", r.Line(), r.Torn(), n)
	}
	// Progress: the bytes read as stored add up to Size.
	size, err := Size(path)
	if err != nil {
		t.Fatal(err)
	}
	var read int64
	r, c, err := OpenWith(path, func(in io.Reader) io.Reader { return countReader{in, &read} })
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for {
		if _, err := r.Next(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if read != size {
		t.Fatalf("read %d bytes as stored, Size %d", read, size)
	}
}

type countReader struct {
	r io.Reader
	n *int64
}

func (c countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	return n, err
}

func assertNoLeftovers(t *testing.T, path string) {
	t.Helper()
	segs, err := scanSegments(path)
	if err != nil {
		t.Fatal(err)
	}
	for n, sf := range segs {
		if sf.tmp != "" || (sf.plain != "" && sf.gz != "") {
			t.Fatalf("segment %d left: %+v", n, *sf)
		}
	}
}

// gzipKeep writes plain.gz and leaves plain: a crash after the rename.
func gzipKeep(t *testing.T, plain string) {
	t.Helper()
	if err := gzipFile(plain, plain+gzExt); err != nil {
		t.Fatal(err)
	}
}

func TestCrashLeftoversAreRecovered(t *testing.T) {
	l := lineLen(t)
	path := filepath.Join(t.TempDir(), "h.jsonl")
	max := 2*l + 4 // two lines per segment, for seq and op id 1..99
	w := create(t, path, Options{MaxBytes: max})
	appendN(t, w, 1, 9) // segments 1..4 of two events each, live {9}
	closeW(t, w)
	seg := func(n uint64) string { return segmentName(path, n) }
	// 1: a compression cut short (.gz.tmp half written) beside its plain file.
	if err := os.WriteFile(seg(1)+tmpExt, []byte{0x1f, 0x8b, 8}, 0o644); err != nil {
		t.Fatal(err)
	}
	// 2: compressed and renamed, the plain file not yet removed.
	gzipKeep(t, seg(2))
	// 3: not compressed yet.
	// 4: compressed, its plain file removed, and a stale .gz.tmp.
	if _, err := compressSegment(seg(4)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(seg(4)+tmpExt, []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Read as is: each segment once, no .tmp read.
	evs, _ := readHistory(t, path)
	wantSeqs(t, evs, 1, 9)

	w = create(t, path, Options{MaxBytes: max, Compress: true})
	if w.Seq() != 9 {
		t.Fatalf("reopened at seq %d", w.Seq())
	}
	appendN(t, w, 10, 3) // live {9,10} -> segment 5, live {11,12}
	closeW(t, w)
	assertNoLeftovers(t, path)
	segs, _ := Segments(path)
	if len(segs) != 5 {
		t.Fatalf("segments %+v", segs)
	}
	for i, s := range segs {
		if !s.Compressed {
			t.Fatalf("segment %+v not compressed", s)
		}
		if got, want := seqsIn(t, s.Path), seqRange(uint64(2*i+1), uint64(2*i+2)); !slices.Equal(got, want) {
			t.Fatalf("segment %d holds %v, want %v", s.N, got, want)
		}
	}
	evs, _ = readHistory(t, path)
	wantSeqs(t, evs, 1, 12)
}

func TestDamagedGzipBesideItsPlainFileIsRedone(t *testing.T) {
	l := lineLen(t)
	path := filepath.Join(t.TempDir(), "h.jsonl")
	w := create(t, path, Options{MaxBytes: 2 * l})
	appendN(t, w, 1, 3)
	closeW(t, w)
	seg := segmentName(path, 1)
	gzipKeep(t, seg)
	data, _ := os.ReadFile(seg + gzExt)
	if err := os.WriteFile(seg+gzExt, data[:len(data)-6], 0o644); err != nil { // CRC cut off
		t.Fatal(err)
	}
	w = create(t, path, Options{Compress: true})
	closeW(t, w)
	assertNoLeftovers(t, path)
	if got := seqsIn(t, seg+gzExt); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("segment holds %v", got)
	}
}

func TestTornLiveFileOfARotatedHistory(t *testing.T) {
	l := lineLen(t)
	path := filepath.Join(t.TempDir(), "h.jsonl")
	w := create(t, path, Options{MaxBytes: 2 * l, Compress: true})
	appendN(t, w, 1, 5) // segments {1,2} {3,4}, live {5}
	closeW(t, w)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"v":1,"seq":6,"time":"2026-`)
	f.Close()
	evs, r := readHistory(t, path)
	wantSeqs(t, evs, 1, 5)
	if !r.Torn() || r.Line() != 6 {
		t.Fatalf("torn %v at line %d, want torn at 6", r.Torn(), r.Line())
	}
	w = create(t, path, Options{MaxBytes: 2 * l, Compress: true})
	appendN(t, w, 6, 1)
	closeW(t, w)
	evs, r = readHistory(t, path)
	wantSeqs(t, evs, 1, 6)
	if r.Torn() {
		t.Fatal("still torn after reopening")
	}
}

func TestBadLineInASegmentNamesIt(t *testing.T) {
	l := lineLen(t)
	path := filepath.Join(t.TempDir(), "h.jsonl")
	w := create(t, path, Options{MaxBytes: 2 * l})
	appendN(t, w, 1, 5)
	closeW(t, w)
	seg := segmentName(path, 2)
	data, _ := os.ReadFile(seg)
	if err := os.WriteFile(seg, data[:len(data)-10], 0o644); err != nil { // torn: no crash explains it
		t.Fatal(err)
	}
	r, c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got []uint64
	var les []*LineError
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		var le *LineError
		if errors.As(err, &le) {
			les = append(les, le)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Seq)
	}
	if !slices.Equal(got, []uint64{1, 2, 3, 5}) || len(les) != 1 {
		t.Fatalf("read %v, errors %v", got, les)
	}
	le := les[0]
	want := seg + ", line 2: segment ends with a partial line"
	if le.Line != 4 || le.File != seg || le.FileLine != 2 || !strings.HasPrefix(le.Error(), want) {
		t.Fatalf("error %q (line %d, file line %d), want %q...", le, le.Line, le.FileLine, want)
	}
}

func TestKeepPrunesOldestSegments(t *testing.T) {
	l := lineLen(t)
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprint("compress=", compress), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "h.jsonl")
			w := create(t, path, Options{MaxBytes: 2 * l, Keep: 2, Compress: compress})
			appendN(t, w, 1, 9) // segments 1..4, live {9}
			closeW(t, w)
			segs, _ := Segments(path)
			if len(segs) != 2 || segs[0].N != 3 || segs[1].N != 4 {
				t.Fatalf("segments %+v, want 3 and 4", segs)
			}
			evs, _ := readHistory(t, path)
			wantSeqs(t, evs, 5, 5)
		})
	}
}

func TestReaderCatchesUpWithRotationsWhileReading(t *testing.T) {
	l := lineLen(t)
	path := filepath.Join(t.TempDir(), "h.jsonl")
	w := create(t, path, Options{MaxBytes: 2 * l, Compress: true})
	defer w.Close()
	appendN(t, w, 1, 3) // segment {1,2}, live {3}
	r, c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if e, err := r.Next(); err != nil || e.Seq != 1 {
		t.Fatalf("first: %v %v", e.Seq, err)
	}
	appendN(t, w, 4, 4) // segments {3,4} {5,6}, live {7}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	want := uint64(2)
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.Seq != want {
			t.Fatalf("seq %d, want %d", e.Seq, want)
		}
		want++
	}
	if want != 8 {
		t.Fatalf("read up to seq %d, want 7", want-1)
	}
}

func TestOpenOneGzipFile(t *testing.T) {
	data := encodeAll(t, sample())
	path := filepath.Join(t.TempDir(), "h.jsonl.gz")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	zw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	evs, _ := readHistory(t, path)
	if len(evs) != len(sample()) {
		t.Fatalf("read %d events", len(evs))
	}
}

func TestOpenMissingHistory(t *testing.T) {
	_, _, err := Open(filepath.Join(t.TempDir(), "nope.jsonl"))
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "open history: ") {
		t.Fatalf("got %v", err)
	}
}

func TestCreateRejectsNegativeOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.jsonl")
	for _, o := range []Options{{MaxBytes: -1}, {Keep: -1}} {
		if _, err := Create(path, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// BenchmarkAppendRotating compares appending to one file with appending to a
// history that rotates every 1 MiB, plain and gzipped (in the background).
func BenchmarkAppendRotating(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"plain", Options{}},
		{"rotate-1MiB", Options{MaxBytes: 1 << 20}},
		{"rotate-1MiB-gzip", Options{MaxBytes: 1 << 20, Compress: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "h.jsonl")
			w := create(b, path, bc.opts)
			e := OpEvent(Op{ID: 1, Name: OpStartRun, Phase: PhaseInvoke, Run: "r-0123456789", Thread: "t-0123456789", Pod: "mesh-1", Hint: "slow:20x500"})
			b.ResetTimer()
			for b.Loop() {
				if _, err := w.Append(e); err != nil {
					b.Fatal(err)
				}
			}
			closeW(b, w)
			size, err := Size(path)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(size)/float64(b.N), "stored-B/op")
		})
	}
}
