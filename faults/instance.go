package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The instance lock says which chaosd acts on a target: one at a time. It is an flock
// on a file beside the ledger, named after the target's key (the compose project),
// taken for the whole run of --fault or soak and released when the process ends,
// however it ends (the kernel drops an flock with its last descriptor). The holder
// writes its pid, process start and command line into the file, so that a chaosd
// refused, and recovery deciding whether a fault is still held, can say by whom. It
// is not the ledger's own <path>.lock, which serializes heals across processes (a
// holder's watchdog must be able to heal while the holder runs).

// InstanceLockPath is the instance lock of the target scope, beside the ledger.
func InstanceLockPath(ledgerPath, scope string) string {
	return filepath.Join(filepath.Dir(ledgerPath), "chaosd-"+scope+".lock")
}

// Holder is the chaosd that took an instance lock, as it wrote itself into the file.
type Holder struct {
	PID   int       `json:"pid"`
	Start uint64    `json:"start"` // the process's start time (Process.Start)
	Args  []string  `json:"args"`  // its command line
	Scope string    `json:"scope"`
	Since time.Time `json:"since"`
}

func (h Holder) String() string {
	if h.PID == 0 {
		return "a chaosd that has not yet written its pid"
	}
	return fmt.Sprintf("pid %d (%s), since %s", h.PID, strings.Join(h.Args, " "), h.Since.Local().Format(time.DateTime))
}

// HeldError is the refusal of an instance lock that another chaosd holds.
type HeldError struct {
	Path   string
	Scope  string
	Holder Holder
	Waited time.Duration // how long chaosd waited for it (0: refused at once)
}

func (e *HeldError) Error() string {
	waited := "refused at once"
	if e.Waited > 0 {
		waited = "waited " + e.Waited.Round(time.Millisecond).String()
	}
	return fmt.Sprintf("another chaosd acts on target %s: %s holds %s (%s); stop it, or wait for it with --wait-lock (CHAOSD_WAIT_LOCK=true, or a duration such as 10m)",
		e.Scope, e.Holder, e.Path, waited)
}

// LockOptions tune LockInstance.
type LockOptions struct {
	Wait    time.Duration // wait at most this long for the holder to end (0: refuse at once)
	Forever bool          // wait until the holder ends or ctx does
	Args    []string      // the command line written for others (default os.Args)
	OnWait  func(Holder)  // told once when chaosd starts waiting
}

// InstanceLock is a held instance lock.
type InstanceLock struct {
	f    *os.File
	path string
}

// lockRetry is how long a refusal waits anyway: a reader of the lock (LockHolder)
// holds it shared for an instant.
const lockRetry = 200 * time.Millisecond

// LockInstance takes the instance lock of scope at path, writing this process into
// it. When another chaosd holds it: a *HeldError naming that one at once, or after
// o.Wait; with o.Forever it waits until the holder ends or ctx does.
func LockInstance(ctx context.Context, path, scope string, o LockOptions) (*InstanceLock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("instance lock: %w (set ledger.path or CHAOSD_LEDGER)", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("instance lock: %w (set ledger.path or CHAOSD_LEDGER)", err)
	}
	start := time.Now()
	wait := max(o.Wait, lockRetry)
	told := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("instance lock %s: %w", path, err)
		}
		h, _ := readHolder(f)
		if !o.Forever && time.Since(start) >= wait {
			f.Close()
			held := &HeldError{Path: path, Scope: scope, Holder: h}
			if o.Wait > 0 || o.Forever {
				held.Waited = time.Since(start)
			}
			return nil, held
		}
		if !told && (o.Wait > 0 || o.Forever) && o.OnWait != nil && time.Since(start) >= lockRetry {
			o.OnWait(h)
			told = true
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			f.Close()
			return nil, fmt.Errorf("instance lock %s: gave up waiting for %s: %w", path, h, err)
		}
	}
	args := o.Args
	if args == nil {
		args = os.Args
	}
	self := Self()
	b, err := json.Marshal(Holder{PID: self.PID, Start: self.Start, Args: args, Scope: scope, Since: time.Now()})
	if err == nil {
		if err = f.Truncate(0); err == nil {
			if _, err = f.WriteAt(append(b, '\n'), 0); err == nil {
				err = f.Sync()
			}
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("instance lock %s: write the holder: %w", path, err)
	}
	return &InstanceLock{f: f, path: path}, nil
}

// Path is the lock file.
func (l *InstanceLock) Path() string { return l.path }

// Close releases the lock. The file keeps the last holder's lines; only the flock
// says whether anyone holds it.
func (l *InstanceLock) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	err := l.f.Close()
	l.f = nil
	return err
}

// LockHolder reports whether a live process holds the instance lock at path, and who
// (as written into the file). A missing file is not held.
func LockHolder(path string) (Holder, bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return Holder{}, false, nil
	}
	if err != nil {
		return Holder{}, false, fmt.Errorf("instance lock: %w", err)
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	switch {
	case err == nil:
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return Holder{}, false, nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		h, _ := readHolder(f)
		return h, true, nil
	}
	return Holder{}, false, fmt.Errorf("instance lock %s: %w", path, err)
}

func readHolder(f *os.File) (Holder, error) {
	var h Holder
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<16))
	if err != nil {
		return h, err
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return h, errors.New("empty")
	}
	return h, json.Unmarshal(b, &h)
}
