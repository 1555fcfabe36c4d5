package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written as "30s", "2m", "1h30m" in YAML.
type Duration time.Duration

// D makes a Duration.
func D(d time.Duration) Duration { return Duration(d) }

// Std is the time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		return fmt.Errorf("line %d: %q is not a duration (e.g. 30s, 2m)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// Hold is how long a fault is held: a duration, "never" (never healed), or "auto":
// long enough to expose a takeover that never happens, past owner-alive's grace for
// the target's timings (see AutoHold).
type Hold struct {
	D     time.Duration
	Never bool
	Auto  bool
}

// HoldAuto is the Hold that AutoHold resolves from the target's timings.
var HoldAuto = Hold{Auto: true}

// ParseHold parses a duration, "never" or "auto".
func ParseHold(s string) (Hold, error) {
	switch s {
	case "never":
		return Hold{Never: true}, nil
	case "auto":
		return HoldAuto, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return Hold{}, fmt.Errorf("%q is not a duration (e.g. 30s, 2m), auto or never", s)
	}
	return Hold{D: d}, nil
}

func (h Hold) String() string {
	switch {
	case h.Never:
		return "never"
	case h.Auto:
		return "auto"
	}
	return h.D.String()
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (h *Hold) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseHold(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		return fmt.Errorf("line %d: %q is not a duration (e.g. 30s, 2m), auto or never", n.Line, n.Value)
	}
	*h = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (h Hold) MarshalYAML() (any, error) { return h.String(), nil }

// ByteSize is a size in bytes, written 256MiB, 1GiB, 500MB or a plain number.
type ByteSize int64

var byteUnits = []struct {
	suffix string
	n      int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}

// ParseByteSize reads a size such as 256MiB.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.n
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 256MiB, 1GiB, 0)", s)
	}
	return ByteSize(n * mult), nil
}

func (b ByteSize) String() string {
	for i := 2; i >= 0; i-- {
		if n := byteUnits[i].n; b != 0 && int64(b)%n == 0 {
			return fmt.Sprintf("%d%s", int64(b)/n, byteUnits[i].suffix)
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// UnmarshalYAML reads a size.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

// MarshalYAML writes the size with its unit.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }
