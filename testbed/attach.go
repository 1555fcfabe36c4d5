package testbed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// sseWriteTimeout bounds each write to an attached client, so a stuck client cannot
// hold a handler forever.
const sseWriteTimeout = 30 * time.Second

// handleAttach serves GET /api/<slug>/decopilot/attach/<id> and the later
// /threads/<id>/stream: server-sent events, one `data: <chunk>` per buffered chunk,
// `: keepalive` comments, open across runs. While the thread is in progress it
// replays the buffer from its first message (deliver policy all), otherwise it
// delivers new messages only (mesh's PR #3387). Without the buffer it answers 503;
// today's mesh answers 204 (routes.ts: the JetStream tail is unavailable).
func (p *Pod) handleAttach(w http.ResponseWriter, r *http.Request) {
	o, threadID, err := p.runRoute(r)
	var t thread
	if err == nil {
		t, err = p.st.threadInOrg(r.Context(), o.ID, threadID)
		if errors.Is(err, errNotFound) {
			err = errorf(http.StatusNotFound, "thread %q not found", threadID)
		}
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if p.subscriberLost() {
		p.fail(w, r, fmt.Errorf("%s: stream subscriber gone since the NATS disconnect: %w", BugReadyButFailing, nats.ErrConnectionClosed))
		return
	}
	policy := p.deliverPolicy(t.Status)
	msgs, stop, err := p.subscribe(r.Context(), threadID, policy)
	if err != nil && p.current() {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "stream buffer unavailable: "+err.Error())
		return
	}
	defer stop()
	p.metrics.attaches.Inc()
	defer p.metrics.attaches.Dec()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	var lose *startDropper
	if policy == jetstream.DeliverAllPolicy && p.bug(BugReplayLosesStart) {
		lose = &startDropper{}
	}
	p.pump(r.Context(), http.NewResponseController(w), w, msgs, lose)
}

// startDropper is replay-loses-start: it drops the first start chunk of a replaying
// attach and lets everything else through.
type startDropper struct{ dropped bool }

// keep reports whether the buffer message data is forwarded.
func (d *startDropper) keep(data []byte) bool {
	if d == nil || d.dropped {
		return true
	}
	var e envelope
	if json.Unmarshal(data, &e) == nil && e.P != nil && e.P.Type == ChunkStart {
		d.dropped = true
		return false
	}
	return true
}

// subscriberLost is ready-but-failing after the pod's first NATS disconnect: the
// attach path is gone for good.
func (p *Pod) subscriberLost() bool { return p.natsDropped.Load() && p.bug(BugReadyButFailing) }

// noteDisconnect is the NATS disconnect handler. With ready-but-failing on, the first
// disconnect after the pod became ready tears the attach path down (and no reconnect
// handler rebuilds it); a correct pod keeps nothing that a reconnect would not heal.
func (p *Pod) noteDisconnect(err error) {
	if p.ready.Load() && p.bug(BugReadyButFailing) && !p.natsDropped.Swap(true) {
		p.log.Warn("ready-but-failing: NATS disconnected; the attach path is torn down and will not be rebuilt", zap.Error(err))
	}
}

func (p *Pod) deliverPolicy(status string) jetstream.DeliverPolicy {
	if status == StatusInProgress && !p.bug(BugDeliverNew) {
		return jetstream.DeliverAllPolicy
	}
	return jetstream.DeliverNewPolicy
}

// attachConsumerInactive is how long the server keeps an attach's consumer once
// nobody pulls from it. Mesh's attach (nats.js `js.subscribe` with `ordered: true`, a
// push consumer that it unsubscribes when the replay ends) leaves its consumer to the
// server's default for ephemeral consumers, 5 s; nats.go's ordered consumers ask for
// 5 minutes, and Stop does not delete them. At the 3 attaches a run makes, 20 runs/s
// then held about 18,000 idle consumers on the buffer stream (7,600 were measured
// after a minute and a half of 15-20 runs/s), each one more for the server to match
// every publish against: nats-server took 73% of a core and set the bundled
// cluster's ceiling. While an attach runs, its pending pull request keeps it alive.
const attachConsumerInactive = 5 * time.Second

// subscribe opens an ordered consumer on the thread's subject. The consumer exists
// when subscribe returns, so "new" counts from before the response headers go out.
func (p *Pod) subscribe(ctx context.Context, threadID string, policy jetstream.DeliverPolicy) (<-chan []byte, func(), error) {
	if p.nc.Status() != nats.CONNECTED {
		return nil, nil, errors.New("not connected to NATS")
	}
	if _, err := p.buf.ensure(ctx); err != nil {
		return nil, nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, p.cfg.DBTimeout)
	defer cancel()
	cons, err := p.buf.js.OrderedConsumer(cctx, StreamName, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{StreamSubject(threadID)}, DeliverPolicy: policy,
		InactiveThreshold: attachConsumerInactive})
	if err != nil {
		return nil, nil, fmt.Errorf("consumer: %w", err)
	}
	msgs := make(chan []byte, 64)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case msgs <- m.Data():
		case <-ctx.Done():
		}
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		// The ordered consumer recreates itself from the last message it delivered
		// (a missed heartbeat, e.g. after the pod was paused); what the buffer no
		// longer holds by then (a purge) is gone for this attach. Logged, so the
		// pod's log shows when an attach may have lost messages.
		p.log.Warn("attach: buffer consumer error", zap.String("thread", threadID), zap.Error(err))
	}))
	if err != nil {
		return nil, nil, fmt.Errorf("consume: %w", err)
	}
	return msgs, cc.Stop, nil
}

// pump forwards chunks and keepalives until the client or the pod goes away.
func (p *Pod) pump(ctx context.Context, rc *http.ResponseController, w http.ResponseWriter, msgs <-chan []byte, lose *startDropper) {
	if rc.Flush() != nil {
		return
	}
	t := time.NewTicker(p.cfg.KeepAlive)
	defer t.Stop()
	for {
		var frame []byte
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			frame = []byte(": keepalive\n\n")
		case data := <-msgs:
			chunk, ok := chunkOf(data)
			if !ok || !lose.keep(data) {
				continue
			}
			frame = append(append([]byte("data: "), chunk...), '\n', '\n')
		}
		_ = rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
		if _, err := w.Write(frame); err != nil || rc.Flush() != nil {
			return
		}
	}
}

// chunkOf returns the chunk of a {"p":chunk} message; the done sentinel and anything
// malformed are not forwarded.
func chunkOf(data []byte) ([]byte, bool) {
	var e struct {
		P json.RawMessage `json:"p"`
	}
	if json.Unmarshal(data, &e) != nil || len(e.P) == 0 || string(e.P) == "null" {
		return nil, false
	}
	return e.P, true
}
