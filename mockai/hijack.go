package mockai

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Hijack mode: a stream over HTTP/1.1 takes its connection over once the request is
// read. Between chunks it holds no goroutine, only a timer (whose function writes the
// chunks that are due, as one HTTP chunk, then re-arms it) and a goroutine blocked
// reading the connection, which ends the stream the moment the client leaves.

const streamHeader = "HTTP/1.1 200 OK\r\n" +
	"Content-Type: text/event-stream\r\n" +
	"Cache-Control: no-cache\r\n" +
	"Connection: close\r\n" +
	"Transfer-Encoding: chunked\r\n" +
	"Date: "

// watch reads the connection until the client closes it (or it is closed), then
// ends the stream: a client that leaves stops the stream at once, whenever its next
// chunk is due.
func (st *stream) watch() {
	var b [1]byte
	for {
		if _, err := st.conn.Read(b[:]); err != nil {
			break
		}
	}
	st.abort(outcomeClientGone)
}

// step writes every frame that is due, then arms the timer for the next one or ends
// the stream. It runs on the handler goroutine first, then on timer goroutines.
func (st *stream) step() {
	st.mu.Lock()
	ended, held := st.ended, st.held
	st.mu.Unlock()
	if ended {
		return
	}
	if held {
		st.abort(outcomeStall)
		return
	}
	bp := writeBufs.Get().(*[]byte)
	defer writeBufs.Put(bp)
	for {
		before := max(st.next, 1)
		b, ph := st.appendDue((*bp)[:chunkHeadRoom], time.Now())
		if ph == phaseDone {
			st.finish(b, before)
			return
		}
		if err := st.writeChunk(b, false); err != nil {
			st.abort(outcomeClientGone)
			return
		}
		st.srv.m.chunks.Add(float64(st.next - before))
		switch ph {
		case phaseFull:
			continue
		case phaseWaiting:
			if d := st.untilNext(); d > 0 {
				st.arm(d)
				return
			}
		case phaseCut:
			st.abort(outcomeCut)
			return
		case phaseStall:
			st.mu.Lock()
			st.held = true
			st.mu.Unlock()
			st.arm(st.srv.holdFor(st.plan.Fault))
			return
		}
	}
}

// writeChunk writes b[chunkHeadRoom:] as one HTTP/1.1 chunk (with the response
// header first, the first time), and the last chunk too when final.
func (st *stream) writeChunk(b []byte, final bool) error {
	n := len(b) - chunkHeadRoom
	start := chunkHeadRoom
	if n > 0 {
		var hx [chunkHeadRoom]byte
		h := strconv.AppendInt(hx[:0], int64(n), 16)
		h = append(h, '\r', '\n')
		start -= len(h)
		copy(b[start:], h)
		b = append(b, '\r', '\n')
	}
	if final {
		b = append(b, "0\r\n\r\n"...)
	}
	if len(b) == start && !st.header {
		return nil // nothing to send
	}
	var err error
	if st.header {
		st.header = false
		hdr := make([]byte, 0, len(streamHeader)+40)
		hdr = append(hdr, streamHeader...)
		hdr = time.Now().UTC().AppendFormat(hdr, http.TimeFormat)
		hdr = append(hdr, "\r\n\r\n"...)
		bufs := net.Buffers{hdr, b[start:]}
		_, err = bufs.WriteTo(st.conn)
	} else {
		_, err = st.conn.Write(b[start:])
	}
	return err
}

// arm schedules the next step after d, unless the stream has ended.
func (st *stream) arm(d time.Duration) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ended {
		return
	}
	if st.timer == nil {
		st.timer = time.AfterFunc(d, st.step)
		return
	}
	st.timer.Reset(d)
}

// finish writes the last frames and the last chunk. The stream is counted as ended
// (and its chunks as sent) first, so that no client sees [DONE] while OpenStreams or
// the metrics do not show it yet.
//
// The response said "Connection: close", so the client closes the connection once it
// has read it, and the watcher then closes the server's side. Letting the client
// close first leaves the TIME_WAIT state on the client, whose next connections pick
// other ports; a server that closed first would hold thousands of TIME_WAIT sockets
// under churn, and a new connection from a port one of them holds stalls for a SYN
// retransmit (1 s). A client that does not close within lingerTimeout is closed on.
func (st *stream) finish(b []byte, before int) {
	st.end(outcomeComplete)
	st.srv.m.chunks.Add(float64(st.next - before))
	if err := st.writeChunk(b, true); err != nil {
		_ = st.conn.Close()
		return
	}
	_ = st.conn.SetReadDeadline(time.Now().Add(lingerTimeout))
}

// writeRawError answers e on a hijacked connection and closes it.
func writeRawError(conn net.Conn, e *APIError) {
	body := e.Body()
	head := fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
		e.Status, http.StatusText(e.Status), len(body))
	bufs := net.Buffers{[]byte(head), body}
	_, _ = bufs.WriteTo(conn)
	_ = conn.Close()
}
