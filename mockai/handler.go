package mockai

import (
	"context"
	"net/http"
	"time"
)

// Handler mode: a stream is served from its net/http handler goroutine through the
// ResponseWriter (Options.DisableHijack, HTTP/1.0, HTTP/2, or a ResponseWriter that
// cannot be hijacked).

// serve streams through the ResponseWriter from the handler goroutine.
func (st *stream) serve(ctx context.Context, w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	bp := writeBufs.Get().(*[]byte)
	defer writeBufs.Put(bp)
	tm := time.NewTimer(time.Hour)
	defer tm.Stop()
	for {
		before := max(st.next, 1)
		b, ph := st.appendDue((*bp)[:0], time.Now())
		if ph == phaseDone {
			// Counted as ended before the client can read [DONE].
			st.end(outcomeComplete)
			st.srv.m.chunks.Add(float64(st.next - before))
			if _, err := w.Write(b); err == nil {
				_ = rc.Flush()
			}
			return
		}
		if _, err := w.Write(b); err != nil {
			st.end(outcomeClientGone)
			return
		}
		st.srv.m.chunks.Add(float64(st.next - before))
		select {
		case <-st.kill: // aborted by Close
			abortResponse(w)
			return
		default:
		}
		if ph == phaseFull {
			continue
		}
		d := st.untilNext()
		if ph == phaseWaiting && d <= 0 {
			continue
		}
		if err := rc.Flush(); err != nil {
			st.end(outcomeClientGone)
			return
		}
		switch ph {
		case phaseWaiting:
			if !st.sleep(ctx, tm, d) {
				abortResponse(w)
				return
			}
		case phaseCut:
			st.end(outcomeCut)
			abortResponse(w)
			return
		case phaseStall:
			if st.sleep(ctx, tm, st.srv.holdFor(st.plan.Fault)) {
				st.end(outcomeStall)
			}
			abortResponse(w)
			return
		}
	}
}

// sleep waits d; it ends the stream and reports false when the client leaves or the
// stream is aborted first.
func (st *stream) sleep(ctx context.Context, tm *time.Timer, d time.Duration) bool {
	tm.Reset(d)
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		st.end(outcomeClientGone)
	case <-st.kill:
	}
	return false
}
