package mockai

import (
	"math"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
)

// How a stream ended, as the stream duration metric labels it.
const (
	outcomeComplete   = "complete"    // finish frame and [DONE] sent
	outcomeCut        = "cut"         // cut:K fault
	outcomeStall      = "stall"       // stall:K fault held to its end
	outcomeClientGone = "client_gone" // the client left (or a write failed)
	outcomeShutdown   = "shutdown"    // closed by Close or a Shutdown past its deadline
)

// Buffering of stream writes. Frames that are due at the same moment are written
// together: into a pooled buffer, flushed when the buffer is full or when the next
// frame is not due yet.
const (
	writeBufSize  = 32 << 10
	chunkHeadRoom = 10 // room for an HTTP/1.1 chunk header: up to 8 hex digits and CRLF
	// lingerTimeout bounds how long a finished hijacked connection waits for the
	// client to close it first.
	lingerTimeout = 2 * time.Second
)

var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, writeBufSize); return &b }}

// phase is where a stream stands after appendDue.
type phase uint8

const (
	phaseFull    phase = iota // the buffer is full; more frames may be due
	phaseWaiting              // the next content chunk is not due yet
	phaseDone                 // the finish frame (and usage) and [DONE] are appended
	phaseCut                  // the cut:K fault is due: close the connection
	phaseStall                // the stall:K fault is due: send nothing more
)

// stream is one streamed chat completion. Its frames are produced by appendDue,
// which only one goroutine at a time calls: the handler goroutine in handler mode;
// in hijack mode, the handler goroutine for the first step and then one timer
// goroutine per step, each arming the next timer only after its writes.
type stream struct {
	srv    *Server
	plan   Plan
	prefix []byte // shared start of every JSON frame
	usage  Usage
	inclU  bool
	start  time.Time
	next   int  // the next content chunk; 0 = the role frame is not sent yet
	limit  int  // flush when the buffer holds this many bytes
	header bool // hijack mode: the response header is still to be sent
	held   bool // hijack mode: stalled; the next timer ends the stream

	conn  net.Conn      // hijack mode
	timer *time.Timer   // hijack mode
	kill  chan struct{} // handler mode: closed by abort

	mu    sync.Mutex
	ended bool
}

func (s *Server) newStream(req *Request, plan Plan) *stream {
	prefix := framePrefix(newID(), time.Now(), s.modelJSON)
	return &stream{
		srv: s, plan: plan, prefix: prefix,
		usage: newUsage(req.PromptTokens, plan.Chunks), inclU: req.IncludeUsage,
		limit: max(writeBufSize-4*(len(prefix)+maxFrameExtra), chunkHeadRoom+1),
		start: time.Now(),
	}
}

// dueAt is when content chunk i of a stream started at start is due: start + i*delay,
// so that chunks do not drift however long the writes take.
func dueAt(start time.Time, i int, delay time.Duration) time.Time {
	if delay > 0 && int64(i) > math.MaxInt64/int64(delay) {
		return start.Add(math.MaxInt64)
	}
	return start.Add(time.Duration(i) * delay)
}

// appendDue appends to b the frames due at now, up to the buffer limit.
func (st *stream) appendDue(b []byte, now time.Time) ([]byte, phase) {
	if st.next == 0 {
		b = appendRole(b, st.prefix)
		st.next = 1
	}
	last := st.plan.Last()
	for st.next <= last {
		if len(b) >= st.limit {
			return b, phaseFull
		}
		if dueAt(st.start, st.next, st.plan.Delay).After(now) {
			return b, phaseWaiting
		}
		b = appendContent(b, st.prefix, st.next)
		st.next++
	}
	switch st.plan.Fault.Kind {
	case FaultCut:
		return b, phaseCut
	case FaultStall:
		return b, phaseStall
	}
	b = appendFinish(b, st.prefix)
	if st.inclU {
		b = appendUsage(b, st.prefix, st.usage)
	}
	return append(b, doneFrame...), phaseDone
}

// untilNext is how long until the next content chunk is due.
func (st *stream) untilNext() time.Duration {
	return time.Until(dueAt(st.start, st.next, st.plan.Delay))
}

// end marks the stream ended once and reports whether this call did it.
func (st *stream) end(outcome string) bool {
	st.mu.Lock()
	if st.ended {
		st.mu.Unlock()
		return false
	}
	st.ended = true
	if st.timer != nil {
		st.timer.Stop()
	}
	if st.kill != nil {
		close(st.kill)
	}
	st.mu.Unlock()
	s := st.srv
	s.unregister(st)
	d := time.Since(st.start)
	s.m.streamEnded(outcome, d)
	s.log.Debug("stream ended", zap.String(logKeyOutcome, outcome), zap.Duration(logKeyDuration, d))
	return true
}

// abort ends the stream and, in hijack mode, closes its connection.
func (st *stream) abort(outcome string) {
	st.end(outcome)
	if st.conn != nil {
		_ = st.conn.Close()
	}
}

// stream serves a streamed chat completion.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, req *Request, plan Plan) {
	st := s.newStream(req, plan)
	if s.hijack && r.ProtoMajor == 1 && r.ProtoMinor >= 1 {
		// net/http's buffered reader and writer are dropped: the request has been
		// read, and the stream writes whole HTTP chunks itself.
		st.conn, _, _ = http.NewResponseController(w).Hijack() // nil on error: handler mode
	}
	if st.conn == nil {
		st.kill = make(chan struct{})
	}
	if !s.register(st) {
		if st.conn != nil {
			writeRawError(st.conn, shuttingDown())
			s.m.request(routeChat, http.StatusServiceUnavailable)
		} else {
			s.fail(w, routeChat, shuttingDown())
		}
		return
	}
	s.m.request(routeChat, http.StatusOK)
	if st.conn == nil {
		st.serve(r.Context(), w)
		return
	}
	st.header = true
	go st.watch()
	st.step()
}
