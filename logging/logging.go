// Package logging builds chaosd's zap loggers: human-readable on a terminal, JSON
// otherwise, at the level the user asked for.
package logging

import (
	"fmt"
	"io"
	"os"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"
)

// Formats accepted by Options.Format.
const (
	FormatAuto    = "auto"
	FormatConsole = "console"
	FormatJSON    = "json"
)

// Field keys shared across packages, so that log lines can be searched by them.
const (
	KeyComponent = "component"
	KeyPod       = "pod"
	KeyThread    = "thread"
	KeyFault     = "fault"
	KeyAddr      = "addr"
)

// Options selects the level, the encoding and the destination of a logger.
type Options struct {
	Level  string    // debug, info, warn, error; empty means info
	Format string    // auto (console on a terminal, JSON otherwise), console, json
	Out    io.Writer // nil means os.Stderr
}

// ParseLevel turns a level name into a zap level, naming the bad value on error.
func ParseLevel(s string) (zapcore.Level, error) {
	if s == "" {
		return zapcore.InfoLevel, nil
	}
	var l zapcore.Level
	if err := l.UnmarshalText([]byte(strings.ToLower(s))); err != nil {
		return 0, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// New builds a logger from opts.
func New(opts Options) (*zap.Logger, error) {
	level, err := ParseLevel(opts.Level)
	if err != nil {
		return nil, err
	}
	out := opts.Out
	if out == nil {
		out = os.Stderr
	}
	format := opts.Format
	if format == "" || format == FormatAuto {
		format = FormatJSON
		if isTerminal(out) {
			format = FormatConsole
		}
	}
	var enc zapcore.Encoder
	switch format {
	case FormatConsole:
		cfg := zap.NewDevelopmentEncoderConfig()
		cfg.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
		if isTerminal(out) {
			cfg.EncodeLevel = zapcore.CapitalColorLevelEncoder
		}
		enc = zapcore.NewConsoleEncoder(cfg)
	case FormatJSON:
		cfg := zap.NewProductionEncoderConfig()
		cfg.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewJSONEncoder(cfg)
	default:
		return nil, fmt.Errorf("log format %q: want auto, console or json", opts.Format)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(out)), level)
	return zap.New(core, zap.ErrorOutput(zapcore.Lock(zapcore.AddSync(out)))), nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
