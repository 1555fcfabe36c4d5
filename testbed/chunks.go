package testbed

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"unicode/utf8"
)

// UI-message chunk types the testbed publishes (the AI SDK's UI message stream).
const (
	ChunkStart      = "start"
	ChunkStartStep  = "start-step"
	ChunkTextStart  = "text-start"
	ChunkTextDelta  = "text-delta"
	ChunkTextEnd    = "text-end"
	ChunkFinishStep = "finish-step"
	ChunkFinish     = "finish"
	ChunkError      = "error"
)

// Chunk is one UI-message chunk, published as {"p":chunk}.
type Chunk struct {
	Type      string `json:"type"`
	ID        string `json:"id,omitempty"`
	Delta     string `json:"delta,omitempty"`
	MessageID string `json:"messageId,omitempty"`
	ErrorText string `json:"errorText,omitempty"`
}

// envelope is one message of the stream buffer: {"p":chunk} or {"done":true}. In
// today's mesh every message also carries the fence of the attempt that published it
// ({"p":chunk,"fence":2}; mesh's events are keyed by run and fence token, the field
// name is the testbed's); the May pods publish none.
type envelope struct {
	P     *Chunk `json:"p,omitempty"`
	Done  bool   `json:"done,omitempty"`
	Fence int64  `json:"fence,omitempty"`
}

// encodeChunk is the buffer message of c, published by the attempt of fence (0: a
// May pod, no fence).
func encodeChunk(c Chunk, fence int64) []byte {
	b, _ := json.Marshal(envelope{P: &c, Fence: fence})
	return b
}

// encodeDone is the done sentinel of the attempt of fence: {"done":true} in May.
func encodeDone(fence int64) []byte {
	b, _ := json.Marshal(envelope{Done: true, Fence: fence})
	return b
}

// progress is what the buffer holds of one run: which structural chunks were
// published and how many bytes of text. A resumer reads it from the buffer and
// publishes only what it lacks.
type progress struct {
	Started, StepStarted, TextStarted bool
	Text                              int // bytes of text in the published text-deltas
	TextEnded, StepFinished, Finished bool
	Errored, Done                     bool
}

// apply records that c was published.
func (p *progress) apply(c Chunk) {
	switch c.Type {
	case ChunkStart:
		p.Started = true
	case ChunkStartStep:
		p.StepStarted = true
	case ChunkTextStart:
		p.TextStarted = true
	case ChunkTextDelta:
		p.Text += len(c.Delta)
	case ChunkTextEnd:
		p.TextEnded = true
	case ChunkFinishStep:
		p.StepFinished = true
	case ChunkFinish:
		p.Finished = true
	case ChunkError:
		p.Errored = true
	}
}

// complete reports whether nothing is left to publish but the done sentinel.
func (p progress) complete() bool { return p.Finished || p.Errored }

// progressReader folds the buffer of a thread, message by message, into the progress
// of one run: the messages from the last start chunk carrying the run's message id.
// Messages of earlier runs on the same thread are ignored, and so are those of other
// attempts than fence's (today's mesh; fence 0 reads the unfenced May messages).
type progressReader struct {
	messageID string
	fence     int64
	seen      bool
	prog      progress
	reply     []byte // the text of the run's text-deltas
}

func (r *progressReader) add(data []byte) {
	var e envelope
	if json.Unmarshal(data, &e) != nil || e.Fence != r.fence {
		return
	}
	switch {
	case e.P != nil && e.P.Type == ChunkStart:
		r.seen = e.P.MessageID == r.messageID
		if r.seen {
			r.prog, r.reply = progress{}, r.reply[:0]
			r.prog.apply(*e.P)
		}
	case !r.seen:
	case e.P != nil:
		r.prog.apply(*e.P)
		if e.P.Type == ChunkTextDelta {
			r.reply = append(r.reply, e.P.Delta...)
		}
	case e.Done:
		r.prog.Done = true
		r.seen = false
	}
}

// script is the run as the provider produced it in the current attempt. Each attempt
// starts a new script; pending compares it with what the buffer holds.
type script struct {
	messageID, textID string
	begun             bool
	deltas            []string
	ended             bool
	errText           string
}

func newScript(taskID string) *script {
	return &script{messageID: messageIDFor(taskID), textID: "txt-0"}
}

// add appends a provider delta. Invalid UTF-8 is replaced byte by byte with U+FFFD,
// as encoding/json does, so the text bytes counted here are those in the buffer.
func (s *script) add(delta string) {
	if !utf8.ValidString(delta) {
		delta = string([]rune(delta))
	}
	s.deltas = append(s.deltas, delta)
}

// messageIDFor derives the assistant message id from the task id, so that every pod
// that resumes a run publishes the same id and can find the run's start in the buffer.
func messageIDFor(taskID string) string {
	sum := sha256.Sum256([]byte(taskID))
	return "msg_" + hex.EncodeToString(sum[:12])
}

// pending returns, in order, the chunks of the script that p does not hold yet. Text
// already held is skipped by byte count, so a re-streamed reply (the provider is
// deterministic) continues exactly where the buffer ends; each provider delta stays
// one text-delta chunk.
func (s *script) pending(p progress) []Chunk {
	var out []Chunk
	emit := func(c Chunk) {
		out = append(out, c)
		p.apply(c)
	}
	if !s.begun || p.complete() {
		return nil
	}
	if !p.Started {
		emit(Chunk{Type: ChunkStart, MessageID: s.messageID})
	}
	if !p.StepStarted {
		emit(Chunk{Type: ChunkStartStep})
	}
	if len(s.deltas) > 0 && !p.TextStarted {
		emit(Chunk{Type: ChunkTextStart, ID: s.textID})
	}
	pos := 0
	for _, d := range s.deltas {
		end := pos + len(d)
		if end > p.Text {
			emit(Chunk{Type: ChunkTextDelta, ID: s.textID, Delta: d[max(0, p.Text-pos):]})
		}
		pos = end
	}
	if s.errText != "" {
		emit(Chunk{Type: ChunkError, ErrorText: s.errText})
		return out
	}
	if !s.ended {
		return out
	}
	if p.TextStarted && !p.TextEnded {
		emit(Chunk{Type: ChunkTextEnd, ID: s.textID})
	}
	if !p.StepFinished {
		emit(Chunk{Type: ChunkFinishStep})
	}
	emit(Chunk{Type: ChunkFinish})
	return out
}
