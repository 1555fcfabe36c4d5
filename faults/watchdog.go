package faults

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// The watchdog. Every fault chaosd injects gets one: a detached chaosd process
// (`chaosd --watch-fault=<fault> --ledger=<path> ...`) in a session of its own, so that
// neither a SIGKILL of chaosd nor a signal to chaosd's process group or terminal
// reaches it. It reads the fault's deadline from the ledger and, if the fault is still
// open then, heals it through the same ledger and lock as everyone else; it exits as
// soon as the fault is closed. While the chaosd that injected the fault is alive it
// waits a grace period past the deadline, to let that chaosd heal it itself.
//
// A process rather than a helper container: it starts in milliseconds, needs no image
// (the binary that runs is enough, and no registry exists here), and sees exactly what
// chaosd sees: the Docker socket and the containers' network namespaces. What it does
// not survive: a reboot (which clears pauses and nftables rules anyway, while
// `chaosd recover` at the next start reconnects networks and starts containers), or
// chaosd itself running in a container that is killed (then run recover).

// Watchdog arms a watchdog for a fault just written to the ledger.
type Watchdog interface {
	Arm(ctx context.Context, fault string) (string, error)
}

// NoWatchdog arms nothing (dry runs and unit tests).
type NoWatchdog struct{}

// Arm implements Watchdog.
func (NoWatchdog) Arm(context.Context, string) (string, error) { return "none", nil }

// ProcessWatchdog starts Exe with --watch-fault=<fault> --ledger=<Ledger> and Args, in a
// new session, its output appended to LogPath.
type ProcessWatchdog struct {
	Exe     string
	Ledger  string
	Args    []string
	LogPath string
}

var (
	_ Watchdog = ProcessWatchdog{}
	_ Watchdog = NoWatchdog{}
)

// Arm implements Watchdog: the watchdog is running when Arm returns.
func (w ProcessWatchdog) Arm(_ context.Context, fault string) (string, error) {
	logf, err := os.OpenFile(w.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("watchdog: log: %w", err)
	}
	defer logf.Close()
	args := append([]string{"--watch-fault=" + fault, "--ledger=" + w.Ledger}, w.Args...)
	cmd := exec.Command(w.Exe, args...) // not CommandContext: it must outlive chaosd
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("watchdog: start %s: %w", w.Exe, err)
	}
	go func() { _ = cmd.Wait() }() // reap it if it ends before chaosd does
	return fmt.Sprintf("pid %d", cmd.Process.Pid), nil
}

// WatchOptions tune Watch.
type WatchOptions struct {
	Grace  time.Duration // extra wait past the deadline while the injecting chaosd lives
	Poll   time.Duration // how often the ledger is read
	GiveUp time.Duration // stop retrying a failing heal this long after the deadline
	Appear time.Duration // how long to wait for the fault's record (armed just before it)
}

// ErrNeverRecorded means the watchdog's fault never reached the ledger: the chaosd that
// armed it stopped before injecting anything.
var ErrNeverRecorded = errors.New("the fault was never recorded: nothing was injected")

// Watch is the watchdog's loop: heal fault id at its deadline unless it is closed
// first. When ctx ends (the watchdog was signalled) it heals at once.
func Watch(ctx context.Context, h *Healer, id string, o WatchOptions) error {
	log := h.log.Named("watchdog").With(zap.String(LogKeyFault, id))
	log.Info("watching")
	if err := h.awaitRecord(ctx, id, o); err != nil {
		return err
	}
	for {
		e, err := h.entry(id)
		if err != nil {
			return err
		}
		if !e.Open() {
			log.Info("closed", zap.String("by", e.Heal.By), zap.String("outcome", string(e.Heal.Outcome)))
			return nil
		}
		due := e.Deadline
		if e.Inject.Owner != nil && e.Inject.Owner.Alive() {
			due = due.Add(o.Grace)
		}
		if ctx.Err() != nil || !time.Now().Before(due) {
			log.Info("deadline reached: healing", zap.Time("deadline", e.Deadline), zap.Duration("late", time.Since(e.Deadline)), zap.Bool("signalled", ctx.Err() != nil))
			if done, err := h.watchHeal(ctx, e, o, log); done {
				return err
			}
		}
		wait := min(o.Poll, time.Until(due))
		if err := sleep(ctx, max(wait, time.Millisecond)); err != nil && ctx.Err() == nil {
			return err
		}
	}
}

// watchHeal heals e; done when it is closed, or when retrying is given up.
func (h *Healer) watchHeal(ctx context.Context, e *Entry, o WatchOptions, log *zap.Logger) (bool, error) {
	_, err := h.Heal(ctx, e.ID(), ByWatchdog)
	if err == nil {
		return true, nil
	}
	if time.Since(e.Deadline) > o.GiveUp {
		return true, fmt.Errorf("watchdog: giving up on %s after %s: %w (run chaosd recover)", e.ID(), o.GiveUp, err)
	}
	log.Warn("heal failed; retrying", zap.Error(err))
	return false, sleep(context.WithoutCancel(ctx), o.Poll)
}

// awaitRecord waits for the fault's inject record, armed just before it was written.
func (h *Healer) awaitRecord(ctx context.Context, id string, o WatchOptions) error {
	deadline := time.Now().Add(o.Appear)
	for {
		st, err := h.ledger.Read()
		if err != nil {
			return err
		}
		if st.Get(id) != nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("watchdog: %s: %w", id, ErrNeverRecorded)
		}
		if err := sleep(ctx, min(o.Poll, 50*time.Millisecond)); err != nil && ctx.Err() == nil {
			return err
		}
	}
}

func (h *Healer) entry(id string) (*Entry, error) {
	st, err := h.ledger.Read()
	if err != nil {
		return nil, err
	}
	e := st.Get(id)
	if e == nil {
		return nil, fmt.Errorf("watchdog: no fault %s in %s", id, h.ledger.Path())
	}
	return e, nil
}
