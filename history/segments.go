package history

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// A rotated history on disk, for a live file at path:
//
//	path.000001[.gz]  the oldest segment
//	path.000002[.gz]
//	...
//	path              the live file, appended to
//
// N is a decimal counter, zero-padded to six digits (wider past 999999), that only
// grows: the oldest segment has the smallest N, and sorting by N (as numbers; for
// fewer than a million segments also as strings) gives the order of the events.
// A segment is plain JSONL or, with Options.Compress, gzipped JSONL (.gz). While it
// is compressed, path.N.gz.tmp exists; it is complete only once renamed to
// path.N.gz, so a reader takes path.N when both exist and never reads a .tmp.
const (
	segDigits = 6
	gzExt     = ".gz"
	tmpExt    = ".gz.tmp"
)

// Segment is one rotated file of a history.
type Segment struct {
	N          uint64
	Path       string // the file to read: the plain one when both exist
	Compressed bool   // Path is gzipped
	Size       int64  // bytes on disk
}

// segmentName is the plain file of segment n of the history at path.
func segmentName(path string, n uint64) string {
	return fmt.Sprintf("%s.%0*d", path, segDigits, n)
}

// segFiles is what exists on disk of one segment.
type segFiles struct {
	plain, gz, tmp string // paths; empty when absent
}

// scanSegments lists the files of the rotated segments of the history at path by
// N. A missing directory has none.
func scanSegments(path string) (map[uint64]*segFiles, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("list segments: %w", err)
	}
	segs := map[uint64]*segFiles{}
	for _, de := range entries {
		rest, ok := strings.CutPrefix(de.Name(), base+".")
		if !ok || de.IsDir() {
			continue
		}
		num, kind := rest, ""
		for _, ext := range []string{tmpExt, gzExt} {
			if s, ok := strings.CutSuffix(rest, ext); ok {
				num, kind = s, ext
				break
			}
		}
		n, ok := parseSegNum(num)
		if !ok {
			continue
		}
		sf := segs[n]
		if sf == nil {
			sf = &segFiles{}
			segs[n] = sf
		}
		full := filepath.Join(dir, de.Name())
		switch kind {
		case "":
			sf.plain = full
		case gzExt:
			sf.gz = full
		case tmpExt:
			sf.tmp = full
		}
	}
	return segs, nil
}

// parseSegNum accepts the digits of a segment number (padded or not), at least 1.
func parseSegNum(s string) (uint64, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil && n > 0
}

// sortedNums returns the segment numbers in order, oldest first.
func sortedNums(segs map[uint64]*segFiles) []uint64 {
	nums := make([]uint64, 0, len(segs))
	for n := range segs {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	return nums
}

// Segments lists the rotated segments of the history whose live file is path,
// oldest first, leaving out compressions in progress (.gz.tmp). The live file is
// not among them.
func Segments(path string) ([]Segment, error) {
	segs, err := scanSegments(path)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	var out []Segment
	for _, n := range sortedNums(segs) {
		sf := segs[n]
		s := Segment{N: n, Path: sf.plain}
		if s.Path == "" {
			s.Path, s.Compressed = sf.gz, true
		}
		if s.Path == "" {
			continue // only a .gz.tmp: its plain file is gone, nothing to read
		}
		st, err := os.Stat(s.Path)
		if err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		s.Size = st.Size()
		out = append(out, s)
	}
	return out, nil
}

// Size is the bytes on disk of the history at path: its rotated segments and its
// live file (compressed segments count as stored, not as read).
func Size(path string) (int64, error) {
	segs, err := Segments(path)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, s := range segs {
		n += s.Size
	}
	st, err := os.Stat(path)
	switch {
	case err == nil:
		n += st.Size()
	case !errors.Is(err, os.ErrNotExist) || len(segs) == 0:
		return 0, fmt.Errorf("history: %w", err)
	}
	return n, nil
}

// Open reads the history whose live file is path as one stream: its rotated
// segments oldest first (plain or gzipped), then the live file, with line numbers
// that run on from file to file. A torn last line is tolerated only in the live
// file; in a segment it is a *LineError naming the segment. A path ending in .gz is
// read as one gzipped file. Close the Closer when done.
func Open(path string) (*Reader, io.Closer, error) { return OpenWith(path, nil) }

// OpenWith is Open that passes the bytes of each file, as stored, through wrap (when
// not nil): to count them for a progress report against Size, or to stop reading.
func OpenWith(path string, wrap func(io.Reader) io.Reader) (*Reader, io.Closer, error) {
	fs := &fileSeq{path: path, wrap: wrap}
	if strings.HasSuffix(path, gzExt) {
		fs.live = true // one file, no segments
		fs.queue = []Segment{{Path: path, Compressed: true}}
	} else {
		segs, err := Segments(path)
		if err != nil {
			return nil, nil, err
		}
		fs.queue = segs
	}
	r := &Reader{lines: lineReader{br: newBufReader(nil), files: fs}}
	if err := r.lines.nextFile(); err != nil {
		return nil, nil, err
	}
	r.moveTo(r.lines.position)
	return r, fs, nil
}

// fileSeq opens the files of a history one after the other, holding one open.
type fileSeq struct {
	path  string
	wrap  func(io.Reader) io.Reader
	queue []Segment // segments still to read
	lastN uint64    // the last segment opened
	live  bool      // the live file is queued or open: no more files after it
	cur   io.Closer
}

// next closes the current file and opens the next one. last reports that it is
// the live file; io.EOF means there is none.
func (fs *fileSeq) next() (name string, r io.Reader, last bool, err error) {
	if err := fs.Close(); err != nil {
		return "", nil, false, err
	}
	if len(fs.queue) == 0 {
		if fs.live {
			return "", nil, false, io.EOF
		}
		if err := fs.catchUp(); err != nil {
			return "", nil, false, err
		}
	}
	if len(fs.queue) > 0 {
		s := fs.queue[0]
		fs.queue = fs.queue[1:]
		fs.lastN = max(fs.lastN, s.N)
		r, err := fs.openSegment(s)
		return s.Path, r, fs.live && len(fs.queue) == 0, err
	}
	fs.live = true
	f, err := os.Open(fs.path)
	if errors.Is(err, os.ErrNotExist) && fs.lastN > 0 {
		// Rotated, and the fresh live file not yet created: it is empty.
		return fs.path, strings.NewReader(""), true, nil
	}
	if err != nil {
		return "", nil, false, fmt.Errorf("open history: %w", err)
	}
	fs.cur = f
	return fs.path, fs.wrapped(f), true, nil
}

// catchUp queues the segments rotated since the history was opened (a writer is
// still appending), so that none is skipped on the way to the live file.
func (fs *fileSeq) catchUp() error {
	segs, err := Segments(fs.path)
	if err != nil {
		return err
	}
	for _, s := range segs {
		if s.N > fs.lastN {
			fs.queue = append(fs.queue, s)
		}
	}
	return nil
}

// openSegment opens s; a plain segment that was compressed meanwhile is read from
// its .gz.
func (fs *fileSeq) openSegment(s Segment) (io.Reader, error) {
	f, err := os.Open(s.Path)
	if errors.Is(err, os.ErrNotExist) && !s.Compressed {
		s.Path, s.Compressed = s.Path+gzExt, true
		f, err = os.Open(s.Path)
	}
	if err != nil {
		return nil, fmt.Errorf("open history segment: %w", err)
	}
	fs.cur = f
	r := fs.wrapped(f)
	if !s.Compressed {
		return r, nil
	}
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("open history segment %s: %w", s.Path, err)
	}
	return zr, nil
}

func (fs *fileSeq) wrapped(r io.Reader) io.Reader {
	if fs.wrap == nil {
		return r
	}
	return fs.wrap(r)
}

// Close closes the file being read.
func (fs *fileSeq) Close() error {
	if fs.cur == nil {
		return nil
	}
	err := fs.cur.Close()
	fs.cur = nil
	return err
}

// lastSeqOf returns the sequence number of the last event in the segment files sf
// (the plain one when present, else the .gz); 0 when they hold none.
func lastSeqOf(sf *segFiles) (uint64, error) {
	path, gz := sf.plain, false
	if path == "" {
		path, gz = sf.gz, true
	}
	if path == "" {
		return 0, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var in io.Reader = f
	if gz {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		in = zr
	}
	r := NewReader(in)
	r.lines.name = path
	var last uint64
	for {
		e, err := r.Next()
		var le *LineError
		switch {
		case err == io.EOF:
			return last, nil
		case errors.As(err, &le):
			continue // a bad line mid-segment says nothing about the last seq
		case err != nil:
			return 0, err
		}
		last = e.Seq
	}
}
