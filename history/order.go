package history

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxOrderLen bounds the chunks one Order may describe, so that a decoded line can
// never ask a checker to walk billions of chunks.
const MaxOrderLen = 1 << 20

// Span is a run of consecutive chunk indexes From..To (From <= To) that arrived in
// that order.
type Span struct{ From, To int }

// Order is the arrival order of mockai chunk indexes on one watcher, kept as spans
// of consecutive indexes: 1,2,...,7,1,2,...,20 is "1-7,1-20". It marshals as that
// string; the empty order is "".
type Order []Span

// Add appends chunk index i (i >= 1).
func (o *Order) Add(i int) {
	if n := len(*o); n > 0 && (*o)[n-1].To+1 == i {
		(*o)[n-1].To = i
		return
	}
	*o = append(*o, Span{i, i})
}

// Len is the number of chunks in the order, duplicates included.
func (o Order) Len() int {
	n := 0
	for _, s := range o {
		n += s.To - s.From + 1
	}
	return n
}

// Max is the highest index in the order, 0 when empty.
func (o Order) Max() int {
	m := 0
	for _, s := range o {
		m = max(m, s.To)
	}
	return m
}

// String formats the order as "1-7,1-20".
func (o Order) String() string {
	var b strings.Builder
	for i, s := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(s.From))
		if s.To != s.From {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(s.To))
		}
	}
	return b.String()
}

// ParseOrder parses the String form.
func ParseOrder(s string) (Order, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	o := make(Order, 0, len(parts))
	total := 0
	for _, p := range parts {
		sp, err := parseSpan(p)
		if err != nil {
			return nil, fmt.Errorf("order %.40q: %w", s, err)
		}
		if total += sp.To - sp.From + 1; total > MaxOrderLen {
			return nil, fmt.Errorf("order: more than %d chunks", MaxOrderLen)
		}
		o = append(o, sp)
	}
	return o, nil
}

func parseSpan(p string) (Span, error) {
	a, b, ranged := strings.Cut(p, "-")
	from, err := parseIndex(a)
	if err != nil {
		return Span{}, err
	}
	to := from
	if ranged {
		if to, err = parseIndex(b); err != nil {
			return Span{}, err
		}
	}
	if to < from {
		return Span{}, fmt.Errorf("span %q runs backwards", p)
	}
	return Span{from, to}, nil
}

func parseIndex(s string) (int, error) {
	i, err := strconv.Atoi(s)
	if err != nil || i < 1 || i > MaxOrderLen || strconv.Itoa(i) != s {
		return 0, fmt.Errorf("bad chunk index %q", s)
	}
	return i, nil
}

// MarshalJSON writes the String form.
func (o Order) MarshalJSON() ([]byte, error) { return json.Marshal(o.String()) }

// UnmarshalJSON reads the String form.
func (o *Order) UnmarshalJSON(data []byte) error {
	s, err := jsonString(data)
	if err != nil {
		return errors.New("order: want a string like \"1-7,1-20\"")
	}
	v, err := ParseOrder(s)
	if err != nil {
		return err
	}
	*o = v
	return nil
}

// Duration is a time.Duration that reads and writes as Go's duration text ("45s").
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes "45s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "45s" (or a number of nanoseconds).
func (d *Duration) UnmarshalJSON(data []byte) error {
	s, err := jsonString(data)
	if err != nil {
		var n int64
		if err2 := json.Unmarshal(data, &n); err2 != nil {
			return errors.New("duration: want a string like \"45s\"")
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// jsonString reads a JSON string value. One without escapes, all printable ASCII
// (as Order and Duration write theirs), is taken as it is, which is what a JSON
// decoder makes of it, without the cost of one; any other value goes to
// encoding/json.
func jsonString(data []byte) (string, error) {
	if n := len(data); n >= 2 && data[0] == '"' && data[n-1] == '"' {
		plain := true
		for _, c := range data[1 : n-1] {
			if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
				plain = false
				break
			}
		}
		if plain {
			return string(data[1 : n-1]), nil
		}
	}
	var s string
	err := json.Unmarshal(data, &s)
	return s, err
}
