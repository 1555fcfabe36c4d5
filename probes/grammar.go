package probes

import (
	"fmt"
	"strconv"
	"strings"
)

// Grammar records the type of every chunk a watcher received, in arrival order, in a
// compact text that a history keeps (history.Watch.Chunks): one letter per chunk
// type, the message id of each start and the part id of text chunks where it
// changes, and runs of identical chunks as a count. A clean 20-chunk run is
// "S(msg_…)sT(txt-0)d20EfF".
//
// Letters (GrammarLetter): S start, s start-step, T text-start, d text-delta, E
// text-end, f finish-step, F finish, X error, D data-*, ? any other type.
// A start's message id follows it in parentheses ("S" alone: no message id). A text
// chunk's part id follows it in parentheses when it differs from the previous text
// chunk's (the first text chunk's when it is not empty); without one the chunk has
// the previous text chunk's id. A count after a token repeats it ("d20": twenty
// deltas of the same part). In ids, '%', '(' and ')' are written %25, %28, %29. When
// the text would pass GrammarLimit bytes, recording stops and "~" ends it: the chunks
// after it were not recorded.
type Grammar struct {
	b       strings.Builder
	cur     GrammarChunk
	n       int    // times cur repeats; 0: no token pending
	lastID  string // the id of the previous text chunk, as the decoder will know it
	curText string // cur's id as written ("" when implicit)
	full    bool
}

// GrammarLimit bounds a recorded grammar's length.
const GrammarLimit = 2048

// GrammarChunk is one chunk as a grammar records it: its letter and its id (a
// start's message id, a text chunk's part id).
type GrammarChunk struct {
	Kind byte
	ID   string
}

// Grammar letters.
const (
	GStart      byte = 'S'
	GStartStep  byte = 's'
	GTextStart  byte = 'T'
	GTextDelta  byte = 'd'
	GTextEnd    byte = 'E'
	GFinishStep byte = 'f'
	GFinish     byte = 'F'
	GError      byte = 'X'
	GData       byte = 'D'
	GOther      byte = '?'
)

// GrammarLetter is the letter of a chunk type.
func GrammarLetter(typ string) byte {
	switch typ {
	case ChunkStart:
		return GStart
	case ChunkStartStep:
		return GStartStep
	case ChunkTextStart:
		return GTextStart
	case ChunkTextDelta:
		return GTextDelta
	case ChunkTextEnd:
		return GTextEnd
	case ChunkFinishStep:
		return GFinishStep
	case ChunkFinish:
		return GFinish
	case ChunkError:
		return GError
	}
	if strings.HasPrefix(typ, "data-") {
		return GData
	}
	return GOther
}

// GrammarName is the chunk type of a letter, for messages ("data-*", "other").
func GrammarName(k byte) string {
	switch k {
	case GStart:
		return ChunkStart
	case GStartStep:
		return ChunkStartStep
	case GTextStart:
		return ChunkTextStart
	case GTextDelta:
		return ChunkTextDelta
	case GTextEnd:
		return ChunkTextEnd
	case GFinishStep:
		return ChunkFinishStep
	case GFinish:
		return ChunkFinish
	case GError:
		return ChunkError
	case GData:
		return "data-*"
	}
	return "other"
}

// isText reports whether chunks of letter k carry a text part id.
func isText(k byte) bool { return k == GTextStart || k == GTextDelta || k == GTextEnd }

// Add records one chunk.
func (g *Grammar) Add(c Chunk) {
	if g.full {
		return
	}
	gc := GrammarChunk{Kind: GrammarLetter(c.Type)}
	switch {
	case gc.Kind == GStart:
		gc.ID = c.MessageID
	case isText(gc.Kind):
		gc.ID = c.ID
	}
	if g.n > 0 && gc == g.cur {
		g.n++
		return
	}
	g.flush()
	if g.full {
		return
	}
	g.cur, g.n, g.curText = gc, 1, ""
	switch {
	case gc.Kind == GStart && gc.ID != "":
		g.curText = gc.ID
	case isText(gc.Kind) && gc.ID != g.lastID:
		g.curText = gc.ID
		if g.curText == "" {
			g.curText = "\x00" // an explicit empty id: "()"
		}
	}
	if isText(gc.Kind) {
		g.lastID = gc.ID
	}
}

// flush writes the pending token.
func (g *Grammar) flush() {
	if g.n == 0 {
		return
	}
	var tok strings.Builder
	tok.WriteByte(g.cur.Kind)
	switch g.curText {
	case "":
	case "\x00":
		tok.WriteString("()")
	default:
		tok.WriteString("(" + escapeGrammarID(g.curText) + ")")
	}
	if g.n > 1 {
		tok.WriteString(strconv.Itoa(g.n))
	}
	g.n = 0
	if g.b.Len()+tok.Len() > GrammarLimit-1 {
		g.b.WriteByte('~')
		g.full = true
		return
	}
	g.b.WriteString(tok.String())
}

// String is the recorded grammar. Chunks added after it continue it.
func (g *Grammar) String() string {
	s := g.b.String()
	if g.n > 0 && !g.full {
		// Render the pending token without ending it.
		save := *g
		save.b = strings.Builder{}
		save.b.WriteString(s)
		save.flush()
		return save.b.String()
	}
	return s
}

var grammarEscaper = strings.NewReplacer("%", "%25", "(", "%28", ")", "%29")
var grammarUnescaper = strings.NewReplacer("%25", "%", "%28", "(", "%29", ")")

func escapeGrammarID(id string) string { return grammarEscaper.Replace(id) }

// ParseGrammar decodes a recorded grammar into its chunks. truncated reports the "~"
// of a grammar that stopped recording at GrammarLimit. limit bounds the chunks
// returned (a count can be large): more is an error.
func ParseGrammar(s string, limit int) (chunks []GrammarChunk, truncated bool, err error) {
	return ParseGrammarInto(nil, s, limit)
}

// ParseGrammarInto is ParseGrammar into dst's array (dst[:0], grown as needed), for a
// caller that parses one grammar after another and keeps none of them.
func ParseGrammarInto(dst []GrammarChunk, s string, limit int) (chunks []GrammarChunk, truncated bool, err error) {
	chunks = dst[:0]
	lastID := ""
	for i := 0; i < len(s); {
		k := s[i]
		i++
		switch k {
		case GStart, GStartStep, GTextStart, GTextDelta, GTextEnd, GFinishStep, GFinish, GError, GData, GOther:
		case '~':
			if i != len(s) {
				return nil, false, fmt.Errorf("grammar %.40q: ~ before the end", s)
			}
			return chunks, true, nil
		default:
			return nil, false, fmt.Errorf("grammar %.40q: unknown letter %q at %d", s, k, i-1)
		}
		gc := GrammarChunk{Kind: k}
		explicit := false
		if i < len(s) && s[i] == '(' {
			j := strings.IndexByte(s[i:], ')')
			if j < 0 {
				return nil, false, fmt.Errorf("grammar %.40q: unclosed ( at %d", s, i)
			}
			gc.ID, explicit = s[i+1:i+j], true
			if strings.IndexByte(gc.ID, '%') >= 0 { // escaped: most ids are not
				gc.ID = grammarUnescaper.Replace(gc.ID)
			}
			i += j + 1
		}
		if isText(k) {
			if !explicit {
				gc.ID = lastID
			}
			lastID = gc.ID
		}
		n, j := 1, i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j > i {
			if n, err = strconv.Atoi(s[i:j]); err != nil || n < 2 {
				return nil, false, fmt.Errorf("grammar %.40q: bad count %q", s, s[i:j])
			}
			i = j
		}
		if len(chunks)+n > limit {
			return nil, false, fmt.Errorf("grammar %.40q: more than %d chunks", s, limit)
		}
		for range n {
			chunks = append(chunks, gc)
		}
	}
	return chunks, false, nil
}

// FormatGrammar is the grammar text of chunks (the inverse of ParseGrammar, for
// tests and messages).
func FormatGrammar(chunks []GrammarChunk) string {
	var g Grammar
	for _, c := range chunks {
		ch := Chunk{Type: GrammarName(c.Kind)}
		switch {
		case c.Kind == GStart:
			ch.MessageID = c.ID
		case isText(c.Kind):
			ch.ID = c.ID
		case c.Kind == GData:
			ch.Type = "data-x"
		}
		g.Add(ch)
	}
	return g.String()
}
