package faults

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// The ledger is an append-only file of JSON lines, one Record each, fsync'd after
// every append. A fault is written (with its exact undo) before it is injected and
// stays open until a heal record closes it, so a later process can always finish
// what an earlier one started. Appends are single writes on an O_APPEND descriptor;
// heals across processes are serialized by an flock on <path>.lock.

// LedgerVersion is the version of the record format.
const LedgerVersion = 1

// Record operations.
const (
	OpInject     = "inject"      // before injection: kind, target, undo, deadline, owner process
	OpConfirmed  = "confirmed"   // the effect was observed; the deadline counts from here
	OpHeal       = "heal"        // closes the fault, with its outcome
	OpHealFailed = "heal-failed" // a heal attempt failed; the fault stays open
)

// Record is one line of the ledger.
type Record struct {
	V         int             `json:"v"`
	Op        string          `json:"op"`
	Fault     string          `json:"fault"`
	At        time.Time       `json:"at"`
	Kind      string          `json:"kind,omitempty"`
	Target    *Target         `json:"target,omitempty"`
	Undo      json.RawMessage `json:"undo,omitempty"`
	Does      string          `json:"does,omitempty"`
	Undoes    string          `json:"undoes,omitempty"`
	Deadline  time.Time       `json:"deadline,omitzero"`
	Owner     *Process        `json:"owner,omitempty"`
	Scope     string          `json:"scope,omitempty"` // the target's key (compose project): whose fault it is
	Outcome   Outcome         `json:"outcome,omitempty"`
	By        string          `json:"by,omitempty"`
	Started   time.Time       `json:"started,omitzero"` // a heal began
	Applied   time.Time       `json:"applied,omitzero"`
	Confirmed time.Time       `json:"confirmed,omitzero"`
	Evidence  string          `json:"evidence,omitempty"`
	Error     string          `json:"error,omitempty"`
}

// Ledger appends records to the ledger file.
type Ledger struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// OpenLedger opens (creating) the ledger at path for appending.
func OpenLedger(path string) (*Ledger, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ledger: %w (set ledger.path or CHAOSD_LEDGER)", err)
	}
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w (set ledger.path or CHAOSD_LEDGER)", err)
	}
	if errors.Is(statErr, os.ErrNotExist) {
		syncDir(dir) // the new file's name is durable too
	}
	l := &Ledger{path: path, f: f}
	if err := l.endLine(); err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

// endLine terminates a line torn by a crash, so the next record starts on its own.
func (l *Ledger) endLine() error {
	r, err := os.Open(l.path)
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	defer r.Close()
	fi, err := r.Stat()
	if err != nil || fi.Size() == 0 {
		return err
	}
	last := make([]byte, 1)
	if _, err := r.ReadAt(last, fi.Size()-1); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	if last[0] == '\n' {
		return nil
	}
	_, err = l.f.Write([]byte("\n"))
	return err
}

// Path is the ledger file.
func (l *Ledger) Path() string { return l.path }

// Append writes r as one line and syncs it to disk.
func (l *Ledger) Append(r Record) error {
	r.V = LedgerVersion
	if r.At.IsZero() {
		r.At = time.Now()
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("ledger: encode: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("ledger: append: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("ledger: sync: %w", err)
	}
	return nil
}

// Close closes the ledger file.
func (l *Ledger) Close() error { return l.f.Close() }

// Read reads the whole ledger.
func (l *Ledger) Read() (*State, error) { return ReadLedger(l.path) }

// Lock takes the ledger's cross-process lock, waiting until ctx ends.
func (l *Ledger) Lock(ctx context.Context) (unlock func(), err error) {
	f, err := os.OpenFile(l.path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ledger: lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("ledger: lock: %w", err)
		}
		if err := sleep(ctx, 5*time.Millisecond); err != nil {
			f.Close()
			return nil, fmt.Errorf("ledger: lock: %w", err)
		}
	}
}

// Entry is one fault folded from its records.
type Entry struct {
	Inject    Record
	Confirmed *Record
	Heal      *Record  // the record that closed it; nil while open
	Failures  []Record // heal attempts that failed
	Deadline  time.Time
}

// ID is the fault's id.
func (e *Entry) ID() string { return e.Inject.Fault }

// Open reports whether the fault still waits for its heal.
func (e *Entry) Open() bool { return e.Heal == nil }

// Target is the fault's target.
func (e *Entry) Target() Target {
	if e.Inject.Target == nil {
		return Target{}
	}
	return *e.Inject.Target
}

// State is the whole ledger, folded.
type State struct {
	Entries map[string]*Entry
	Order   []string // fault ids in ledger order
	Bad     int      // lines that could not be parsed (a torn last line after a crash)
}

// ReadLedger reads the ledger at path; a missing file is an empty ledger.
func ReadLedger(path string) (*State, error) {
	s := &State{Entries: map[string]*Entry{}}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	defer f.Close()
	return s, s.read(f)
}

func (s *State) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(line, &rec); err != nil || rec.Fault == "" {
			s.Bad++
			continue
		}
		s.apply(rec)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("ledger: read: %w", err)
	}
	return nil
}

func (s *State) apply(r Record) {
	e := s.Entries[r.Fault]
	if r.Op == OpInject {
		if e == nil {
			s.Order = append(s.Order, r.Fault)
		}
		s.Entries[r.Fault] = &Entry{Inject: r, Deadline: r.Deadline}
		return
	}
	if e == nil {
		return // a heal of a fault whose inject line was lost: nothing to do
	}
	switch r.Op {
	case OpConfirmed:
		e.Confirmed = &r
		if !r.Deadline.IsZero() {
			e.Deadline = r.Deadline
		}
	case OpHeal:
		if e.Heal == nil {
			e.Heal = &r
		}
	case OpHealFailed:
		e.Failures = append(e.Failures, r)
	}
}

// Open returns the open faults in ledger order.
func (s *State) Open() []*Entry {
	var out []*Entry
	for _, id := range s.Order {
		if e := s.Entries[id]; e.Open() {
			out = append(out, e)
		}
	}
	return out
}

// Get returns the fault id, or nil.
func (s *State) Get(id string) *Entry { return s.Entries[id] }

// faulted returns the targets of the open faults.
func (s *State) faulted() []Target {
	var out []Target
	for _, e := range s.Open() {
		out = append(out, e.Target())
	}
	return out
}

// newFaultID makes a fault id that sorts by time: f-20060102T150405-<6 hex>.
func newFaultID(now time.Time) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return "f-" + now.UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b)
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
