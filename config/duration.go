package config

import (
	"fmt"
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

// Hold is how long a fault is held: a duration, or "never" (never healed).
type Hold struct {
	D     time.Duration
	Never bool
}

// ParseHold parses a duration or "never".
func ParseHold(s string) (Hold, error) {
	if s == "never" {
		return Hold{Never: true}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return Hold{}, fmt.Errorf("%q is not a duration (e.g. 30s, 2m) or never", s)
	}
	return Hold{D: d}, nil
}

func (h Hold) String() string {
	if h.Never {
		return "never"
	}
	return h.D.String()
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (h *Hold) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseHold(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		return fmt.Errorf("line %d: %q is not a duration (e.g. 30s, 2m) or never", n.Line, n.Value)
	}
	*h = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (h Hold) MarshalYAML() (any, error) { return h.String(), nil }
