package probes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Attachment is an open attach stream on one pod: server-sent UI-message chunks.
type Attachment struct {
	Pod        string
	Thread     string
	OpenedAt   time.Time
	Keepalives int // ": keepalive" comments seen

	body   io.ReadCloser
	sse    *SSEReader
	cancel context.CancelFunc
}

// Attach opens the attach stream of threadID on pod. The stream lives until ctx is
// cancelled, Close is called, or the pod goes away.
func (d *Driver) Attach(ctx context.Context, pod string, t *Tenant, threadID string) (*Attachment, error) {
	ctx, cancel := context.WithCancel(ctx)
	url := d.AttachURL(pod, t, threadID)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	d.decorate(req, t)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := d.http.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("attach %s on %s: %w", threadID, pod, err)
	}
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		cancel()
		return nil, &APIError{Method: http.MethodGet, URL: url, Status: resp.StatusCode, Message: errorMessage(data)}
	}
	return &Attachment{Pod: pod, Thread: threadID, OpenedAt: time.Now(), body: resp.Body, sse: NewSSEReader(resp.Body), cancel: cancel}, nil
}

// Next returns the next chunk, skipping keepalive comments (they are counted).
// It fails with io.ErrUnexpectedEOF or a network error when the pod goes away, and
// with io.EOF when the pod ends the stream cleanly.
func (a *Attachment) Next() (Chunk, error) {
	for {
		ev, err := a.sse.Next()
		if err != nil {
			return Chunk{}, err
		}
		if ev.Comment {
			a.Keepalives++
			continue
		}
		return ParseChunk(ev.Data)
	}
}

// Close ends the stream.
func (a *Attachment) Close() error {
	a.cancel()
	return a.body.Close()
}

// ErrStreamEnded is returned by Collect when the stream ended before a finish chunk.
var ErrStreamEnded = errors.New("attach stream ended before the finish chunk")

// Collect reads chunks into a tally until the run ends: the finish chunk, or the
// error chunk of a failed run. onChunk, when not nil,
// sees every chunk as it arrives (for progress or evidence). It returns the tally so
// far together with any error, so a watcher cut off mid-run still has evidence.
func (a *Attachment) Collect(onChunk func(Chunk)) (*Tally, error) {
	t := NewTally()
	for {
		c, err := a.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = ErrStreamEnded
			}
			return t, fmt.Errorf("attach %s on %s: %w", a.Thread, a.Pod, err)
		}
		t.Add(c)
		if onChunk != nil {
			onChunk(c)
		}
		if c.Type == ChunkFinish || c.Type == ChunkError {
			return t, nil
		}
	}
}
