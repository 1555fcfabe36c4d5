package probes

import (
	"strings"
	"testing"
)

func TestGrammarClean(t *testing.T) {
	tl := NewTally()
	tl.Add(Chunk{Type: ChunkStart, MessageID: "msg_1"})
	tl.Add(Chunk{Type: ChunkStartStep})
	tl.Add(Chunk{Type: ChunkTextStart, ID: "txt-0"})
	for i := 1; i <= 20; i++ {
		tl.Add(Chunk{Type: ChunkTextDelta, ID: "txt-0", Delta: MockReply(1)})
	}
	tl.Add(Chunk{Type: ChunkTextEnd, ID: "txt-0"})
	tl.Add(Chunk{Type: ChunkFinishStep})
	tl.Add(Chunk{Type: ChunkFinish})
	if got, want := tl.Grammar.String(), "S(msg_1)sT(txt-0)d20EfF"; got != want {
		t.Fatalf("grammar %q, want %q", got, want)
	}
	cs, trunc, err := ParseGrammar(tl.Grammar.String(), 1000)
	if err != nil || trunc || len(cs) != 26 || cs[3] != (GrammarChunk{GTextDelta, "txt-0"}) || cs[0] != (GrammarChunk{GStart, "msg_1"}) {
		t.Fatalf("parse: %v %v %v", cs, trunc, err)
	}
}

func TestGrammarRoundTrip(t *testing.T) {
	for _, s := range []string{
		"", "S", "S2", "S(a)2", "S(a)sTd3E", "S(a)sT(x)dT()d", "S(a)sT(x)d2T(y)dd(x)E(y)d(x)EfD3?F",
		"S(a%29b%28%25)sT(p%29)d", "X", "S(m)sT(t)d5S(m)sTd20EfF",
	} {
		cs, _, err := ParseGrammar(s, 1000)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if got := FormatGrammar(cs); got != s {
			t.Errorf("round trip %q -> %q", s, got)
		}
	}
	cs, _, _ := ParseGrammar("S(a%29b)sT(x)dd(y)d", 100)
	if cs[0].ID != "a)b" || cs[3].ID != "x" || cs[4].ID != "y" || cs[5].ID != "y" {
		t.Fatalf("ids: %v", cs)
	}
	for _, bad := range []string{"Z", "S(a", "d1", "S~S", "d99999"} {
		if _, _, err := ParseGrammar(bad, 1000); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestGrammarLimit(t *testing.T) {
	var g Grammar
	for i := range 3000 {
		g.Add(Chunk{Type: ChunkTextDelta, ID: strings.Repeat("x", i%7)})
	}
	s := g.String()
	if len(s) > GrammarLimit || !strings.HasSuffix(s, "~") {
		t.Fatalf("len %d, ends %q", len(s), s[len(s)-3:])
	}
	if _, trunc, err := ParseGrammar(s, 10000); err != nil || !trunc {
		t.Fatalf("parse: %v %v", trunc, err)
	}
}

// TestParseGrammarIntoReusesItsArray: one parse after another into the same array
// gives what ParseGrammar gives each time, without a new array while it fits.
func TestParseGrammarIntoReusesItsArray(t *testing.T) {
	var scratch []GrammarChunk
	for i, s := range []string{"S(a)sT(x)d20EfF", "S(b)sT(y)d3EfF", "X", "S(c)sTd25EfF"} {
		want, _, _ := ParseGrammar(s, 1000)
		got, _, err := ParseGrammarInto(scratch, s, 1000)
		if err != nil || FormatGrammar(got) != s || len(got) != len(want) {
			t.Fatalf("%q: %v, %q", s, err, FormatGrammar(got))
		}
		for j := range want {
			if got[j] != want[j] {
				t.Fatalf("%q: chunk %d is %v, want %v", s, j, got[j], want[j])
			}
		}
		if i == 1 && &got[0] != &scratch[0] {
			t.Fatalf("%q: a new array though the last one (cap %d) fits %d chunks", s, cap(scratch), len(got))
		}
		scratch = got
	}
	if cs, _, err := ParseGrammarInto(scratch, "Z", 1000); err == nil || cs != nil {
		t.Fatalf("a bad grammar into a used array: %v, %v", cs, err)
	}
}
