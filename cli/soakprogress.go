package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/term"

	"github.com/chaosd/chaosd/config"
	"github.com/chaosd/chaosd/soak"
)

// soakProgress shows a soak's progress: one live line on a terminal (stderr),
// rewritten every second, or a log line a minute otherwise.
type soakProgress struct {
	mu      sync.Mutex
	w       io.Writer
	line    bool
	log     *zap.Logger
	every   time.Duration
	last    time.Time
	printed bool
}

func newProgress(io IO, mode string, log *zap.Logger) *soakProgress {
	p := &soakProgress{w: io.Stderr, log: log.Named("progress"), every: time.Minute}
	switch mode {
	case config.ProgressLine:
		p.line = true
	case config.ProgressAuto:
		f, ok := io.Stderr.(*os.File)
		p.line = ok && term.IsTerminal(int(f.Fd()))
	case config.ProgressOff:
		p.every = 0
	}
	return p
}

// progressLine is the one-line summary: phase, elapsed of total, runs, faults,
// violations and unknowns, the fault in effect and a dependency away.
func progressLine(s soak.Progress) string {
	line := fmt.Sprintf("%-8s %s/%s  runs %d ok %d not %d in flight  faults %d (healed %d, failed %d)  violations %d  unknown %d",
		s.Phase, fmtDur(s.Elapsed), fmtDur(s.Total), s.Runs.Completed, s.Runs.Failed, s.InFlight,
		s.Faults.Fired, s.Faults.Healed, s.Faults.Failed, s.Violations, s.Unknowns)
	if s.Active != "" {
		line += "  [" + s.Active + "]"
	}
	if s.Outage != "" {
		line += "  DEPENDENCY AWAY: " + s.Outage
	}
	return line
}

func fmtDur(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	return fmt.Sprintf("%d:%02d:%02d", h, m, s)
}

func (p *soakProgress) update(s soak.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.every == 0:
	case p.line:
		fmt.Fprintf(p.w, "\r\033[K%s", progressLine(s))
		p.printed = true
	case time.Since(p.last) >= p.every || s.Phase == soak.PhaseDone:
		p.last = time.Now()
		p.log.Info(progressLine(s))
	}
}

// done ends the live line.
func (p *soakProgress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.line && p.printed {
		fmt.Fprintln(p.w)
	}
}
