package probes

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// UI-message chunk types that mesh streams over an attach (mesh-contract.md).
const (
	ChunkStart      = "start"
	ChunkStartStep  = "start-step"
	ChunkTextStart  = "text-start"
	ChunkTextDelta  = "text-delta"
	ChunkTextEnd    = "text-end"
	ChunkFinishStep = "finish-step"
	ChunkFinish     = "finish"
	// ChunkError ends a failed run instead of finish: {"type":"error","errorText":...}.
	ChunkError = "error"
)

// Chunk is one UI-message chunk as received on an attach. Raw keeps the original
// JSON for evidence.
type Chunk struct {
	Type      string          `json:"type"`
	ID        string          `json:"id,omitempty"`
	MessageID string          `json:"messageId,omitempty"` // a start chunk's message id
	Delta     string          `json:"delta,omitempty"`
	ErrorText string          `json:"errorText,omitempty"`
	Raw       json.RawMessage `json:"-"`
}

// ParseChunk decodes one attach event's data.
func ParseChunk(data []byte) (Chunk, error) {
	var c Chunk
	if err := json.Unmarshal(data, &c); err != nil {
		return Chunk{}, fmt.Errorf("chunk %.80q: %w", data, err)
	}
	if c.Type == "" {
		return Chunk{}, fmt.Errorf("chunk %.80q: no type", data)
	}
	c.Raw = json.RawMessage(data)
	return c, nil
}

// MockChunkIndex returns i when delta is mockai's content text "chunk-<i> ", and
// false for any other text.
func MockChunkIndex(delta string) (int, bool) {
	rest, ok := strings.CutPrefix(delta, "chunk-")
	if !ok {
		return 0, false
	}
	rest, ok = strings.CutSuffix(rest, " ")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(rest)
	if err != nil || i < 1 || strconv.Itoa(i) != rest {
		return 0, false
	}
	return i, true
}

// MockReply is the whole text of mockai's reply of n chunks, as a UI message holds
// it: "chunk-1 chunk-2 ... chunk-n ".
func MockReply(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "chunk-%d ", i)
	}
	return b.String()
}

// Tally is what one watcher saw of one run, kept compact: per mock chunk index how
// often it arrived, in the order first seen, plus the other chunk types.
type Tally struct {
	Order    []int       // mock chunk indexes in arrival order (duplicates included)
	Counts   map[int]int // index -> times seen
	Foreign  []string    // text deltas that are not mockai text
	Types    map[string]int
	Finished bool   // a finish chunk arrived
	Error    string // the errorText of an error chunk: the run failed
	// Restarts: for each start chunk that arrived after a mock text chunk (the reply
	// begins again: a new attempt, as today's mesh keeps a dead attempt's log in the
	// buffer), len(Order) at that moment.
	Restarts []int
	// Grammar is every chunk's type in arrival order, compactly (Grammar).
	Grammar Grammar
}

// NewTally returns an empty tally.
func NewTally() *Tally {
	return &Tally{Counts: map[int]int{}, Types: map[string]int{}}
}

// Add records one chunk.
func (t *Tally) Add(c Chunk) {
	t.Types[c.Type]++
	t.Grammar.Add(c)
	switch c.Type {
	case ChunkStart:
		if n := len(t.Order); n > 0 && (len(t.Restarts) == 0 || t.Restarts[len(t.Restarts)-1] != n) {
			t.Restarts = append(t.Restarts, n)
		}
	case ChunkTextDelta:
		if i, ok := MockChunkIndex(c.Delta); ok {
			t.Order = append(t.Order, i)
			t.Counts[i]++
		} else {
			t.Foreign = append(t.Foreign, c.Delta)
		}
	case ChunkFinish:
		t.Finished = true
	case ChunkError:
		t.Error = c.ErrorText
		if t.Error == "" {
			t.Error = "error chunk without errorText"
		}
	}
}

// Check compares the tally with the expected text chunk-1..chunk-n and describes
// every difference: missing, duplicated, out of order, foreign text, no finish.
// It returns nil when the watcher saw exactly chunk-1..chunk-n once each, in order,
// and the finish chunk.
func (t *Tally) Check(n int) []string {
	var problems []string
	var missing, dup []int
	for i := 1; i <= n; i++ {
		switch c := t.Counts[i]; {
		case c == 0:
			missing = append(missing, i)
		case c > 1:
			dup = append(dup, i)
		}
	}
	if len(missing) > 0 {
		problems = append(problems, "missing chunks "+Ranges(missing))
	}
	if len(dup) > 0 {
		problems = append(problems, "duplicated chunks "+Ranges(dup))
	}
	var extra []int
	for i := range t.Counts {
		if i > n {
			extra = append(extra, i)
		}
	}
	if len(extra) > 0 {
		problems = append(problems, fmt.Sprintf("%d chunks beyond chunk-%d", len(extra), n))
	}
	for k := 1; k < len(t.Order); k++ {
		if t.Order[k] < t.Order[k-1] {
			problems = append(problems, fmt.Sprintf("out of order: chunk-%d after chunk-%d", t.Order[k], t.Order[k-1]))
			break
		}
	}
	if len(t.Foreign) > 0 {
		problems = append(problems, fmt.Sprintf("%d foreign text deltas, first %q", len(t.Foreign), t.Foreign[0]))
	}
	if t.Error != "" {
		problems = append(problems, "the run failed: "+t.Error)
	}
	if !t.Finished {
		problems = append(problems, "no finish chunk")
	}
	return problems
}

// Ranges formats sorted ints compactly: [1 2 3 7 9 10] -> "1-3,7,9-10".
func Ranges(xs []int) string {
	var b strings.Builder
	for i := 0; i < len(xs); {
		j := i
		for j+1 < len(xs) && xs[j+1] == xs[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if j > i {
			fmt.Fprintf(&b, "%d-%d", xs[i], xs[j])
		} else {
			fmt.Fprintf(&b, "%d", xs[i])
		}
		i = j + 1
	}
	return b.String()
}
