package history

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.uber.org/zap"
)

// rotator is a Writer's rotation state (Create only).
type rotator struct {
	path    string
	max     int64  // Options.MaxBytes; 0 never rotates
	size    int64  // bytes of the live file, written or buffered
	next    uint64 // N of the next segment
	retryAt int64  // after a failed rename: do not try again before this size
	maint   *maintainer
}

// due reports whether a line of n bytes (newline included) would take the live
// file past MaxBytes. An empty live file takes any line, however long.
func (r *rotator) due(n int64) bool {
	return r != nil && r.max > 0 && r.size > 0 && r.size+n > r.max && r.size >= r.retryAt
}

// rotateLocked ends the live file at a line boundary: it is fsynced, renamed to
// the next segment, the directory fsynced, and a fresh live file begins. A failed
// rename is logged and the live file kept (no data is at risk; rotation is tried
// again after another MaxBytes); a failure to create the fresh file is sticky.
func (w *Writer) rotateLocked() error {
	if err := w.syncLocked(); err != nil {
		return err
	}
	r := w.rot
	seg := segmentName(r.path, r.next)
	if _, err := os.Lstat(seg); !errors.Is(err, os.ErrNotExist) {
		err = fmt.Errorf("segment %s exists or cannot be checked: %v", seg, err)
		return w.rotateFailed(err)
	}
	if err := os.Rename(r.path, seg); err != nil {
		return w.rotateFailed(err)
	}
	r.next++
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		w.err = fmt.Errorf("history rotate: new live file: %w", err)
		return w.err
	}
	if err := w.f.Close(); err != nil {
		w.opts.Log.Warn("history rotate: close the full segment (it was fsynced)", zap.String("segment", seg), zap.Error(err))
	}
	w.f, r.size, r.retryAt = f, 0, 0
	if err := syncDir(r.path); err != nil {
		w.opts.Log.Warn("history rotate: fsync the directory", zap.Error(err))
	}
	w.opts.Log.Debug("history rotated", zap.String("segment", seg), zap.Uint64("lastSeq", w.seq-1))
	r.maint.kick()
	return nil
}

func (w *Writer) rotateFailed(err error) error {
	w.opts.Log.Warn("history rotate failed; the live file keeps growing", zap.String("path", w.rot.path), zap.Error(err))
	w.rot.retryAt = w.rot.size + w.rot.max
	return nil
}

// syncDir fsyncs the directory holding path, so that renames and creations in it
// survive a crash of the machine.
func syncDir(path string) error {
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// maintainer is the one goroutine that compresses and prunes rotated segments, so
// that Append never waits on gzip. A pass runs at Create (to finish what a crash
// left) and after each rotation.
type maintainer struct {
	path     string
	compress bool
	keep     int
	log      *zap.Logger
	kickc    chan struct{}
	stop     chan struct{}
	done     chan struct{}
}

func startMaintainer(path string, opts Options) *maintainer {
	m := &maintainer{path: path, compress: opts.Compress, keep: opts.Keep, log: opts.Log,
		kickc: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	m.kick()
	go m.run()
	return m
}

// kick asks for a pass without waiting.
func (m *maintainer) kick() {
	select {
	case m.kickc <- struct{}{}:
	default:
	}
}

func (m *maintainer) run() {
	defer close(m.done)
	for {
		select {
		case <-m.kickc:
			m.pass()
		case <-m.stop:
			select {
			case <-m.kickc:
				m.pass()
			default:
			}
			return
		}
	}
}

// close waits for the work asked for so far.
func (m *maintainer) close() {
	close(m.stop)
	<-m.done
}

func (m *maintainer) pass() {
	segs, err := scanSegments(m.path)
	if err != nil {
		m.log.Warn("history segments", zap.Error(err))
		return
	}
	for _, n := range sortedNums(segs) {
		if err := m.settle(segs[n]); err != nil {
			m.log.Warn("history segment left uncompressed (nothing is lost; tried again after the next rotation)", zap.Error(err))
		}
	}
	if err := m.prune(segs); err != nil {
		m.log.Warn("history prune", zap.Error(err))
	}
}

// settle brings one segment to its final form, whatever step a crash stopped at:
// a .gz.tmp is unfinished and goes; a .gz beside its plain file was renamed only
// once complete (checked again here) so the plain one goes; a plain one alone is
// compressed when Compress is on.
func (m *maintainer) settle(sf *segFiles) error {
	if sf.tmp != "" {
		if err := os.Remove(sf.tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		sf.tmp = ""
	}
	if sf.plain != "" && sf.gz != "" {
		if err := checkGzip(sf.gz); err != nil {
			m.log.Warn("history: compressed segment damaged; compressing its plain file again", zap.String("segment", sf.gz), zap.Error(err))
			if err := os.Remove(sf.gz); err != nil {
				return err
			}
			sf.gz = ""
		} else {
			if err := os.Remove(sf.plain); err != nil {
				return err
			}
			sf.plain = ""
			return nil
		}
	}
	if sf.plain == "" || !m.compress {
		return nil
	}
	gz, err := compressSegment(sf.plain)
	if err != nil {
		return err
	}
	sf.plain, sf.gz = "", gz
	return nil
}

// prune removes the oldest segments beyond Keep (0 keeps all).
func (m *maintainer) prune(segs map[uint64]*segFiles) error {
	if m.keep <= 0 {
		return nil
	}
	var nums []uint64
	for _, n := range sortedNums(segs) {
		if sf := segs[n]; sf.plain != "" || sf.gz != "" {
			nums = append(nums, n)
		}
	}
	var errs []error
	for _, n := range nums[:max(len(nums)-m.keep, 0)] {
		for _, p := range []string{segs[n].plain, segs[n].gz} {
			if p == "" {
				continue
			}
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
				continue
			}
			m.log.Info("history segment removed (Keep)", zap.String("segment", p))
		}
	}
	return errors.Join(errs...)
}

// compressSegment gzips plain into plain.gz by way of plain.gz.tmp (fsynced, then
// renamed, then the directory fsynced) and removes plain. It streams: a segment is
// never held in memory.
func compressSegment(plain string) (string, error) {
	tmp, gz := plain+tmpExt, plain+gzExt
	if err := gzipFile(plain, tmp); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("compress %s: %w", plain, err)
	}
	if err := os.Rename(tmp, gz); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("compress %s: %w", plain, err)
	}
	if err := syncDir(gz); err != nil {
		return "", fmt.Errorf("compress %s: %w", plain, err) // both stay; settled on the next pass
	}
	if err := os.Remove(plain); err != nil {
		return "", fmt.Errorf("compress %s: %w", plain, err)
	}
	return gz, nil
}

func gzipFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(out)
	zw.Name = filepath.Base(src)
	_, err = io.Copy(zw, in)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// checkGzip reads a gzip file to its end, which checks its length and CRC.
func checkGzip(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, zr)
	return err
}
