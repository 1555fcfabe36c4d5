package workload

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/probes"
)

// Run is one run in flight: a thread, the pod that received its POST, and its
// watchers.
type Run struct {
	ID     string
	Thread string
	Post   Pod // received the POST; usually becomes the owner
	Early  Pod // watched from before the start

	w        *Workload
	ctx      context.Context // the run's own: ends at its deadline or when decided
	buffered chan struct{}   // closed once k chunks are confirmed in the buffer
	done     chan struct{}   // closed once the run is decided
	watchers sync.WaitGroup
	nWatch   int

	settle time.Duration // the settle window (Config.Settle, or StartOn's)

	mu        sync.Mutex
	owner     string
	status    string
	buffer    probes.Buffer
	cursor    probes.BufferCursor // sample's and settle's alone: each reading fetches only new messages
	late      bool                // late attaches opened
	watched   map[string]int      // pod name -> watchers opened on it
	outcome   string
	started   time.Time
	decidedAt time.Time // the Postgres reading that said completed or failed
}

// Outcomes of a run as the workload saw it; the invariants judge from the history.
const (
	OutcomeCompleted = "completed"
	OutcomeFailed    = "failed"
	OutcomeTimeout   = "timeout"
	OutcomeAborted   = "aborted" // could not be started
)

// Buffered is closed once k chunks of the run are confirmed in its buffer.
func (r *Run) Buffered() <-chan struct{} { return r.buffered }

// Done is closed once the run is decided.
func (r *Run) Done() <-chan struct{} { return r.done }

// Owner is the run's owner pod as last read from Postgres ("" when none).
func (r *Run) Owner() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.owner
}

// Streamed is how many chunks of the run its buffer held at the last reading, and
// whether the run's stream has ended as far as the last readings go: the buffer held
// the end sentinel, or Postgres said completed or failed. (A run stays in flight
// after that while its watchers read to the end; Done closes then.)
func (r *Run) Streamed() (chunks int, ended bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ended = r.buffer.Done || r.status == history.StatusCompleted || r.status == history.StatusFailed
	return r.buffer.TextDeltas, ended
}

// Outcome is how the run ended, once Done is closed.
func (r *Run) Outcome() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.outcome
}

// Start starts one run in the background and returns at once.
func (w *Workload) Start(ctx context.Context) *Run {
	n := int(w.runs.Add(1)) - 1
	pods := w.Entries()
	return w.launch(ctx, n, pods[n%len(pods)], pods[(n+1)%len(pods)], w.cfg.Settle)
}

// launch starts run number n (from 0), posted to post and watched early from early,
// with settle as its settle window.
func (w *Workload) launch(ctx context.Context, n int, post, early Pod, settle time.Duration) *Run {
	r := &Run{ID: "run-" + strconv.Itoa(n+1), Thread: probes.NewThreadID("chaosd"), Post: post, Early: early,
		w: w, buffered: make(chan struct{}), done: make(chan struct{}), watched: map[string]int{}, started: time.Now(), settle: settle}
	w.mu.Lock()
	w.live[r.ID] = r
	w.stats.Started++
	w.mu.Unlock()
	w.wg.Add(1)
	w.decided.Add(1)
	go func() {
		defer w.wg.Done()
		r.drive(ctx)
	}()
	return r
}

// deadline bounds a run: the time mockai takes to stream it plus the grace.
func (r *Run) deadline() time.Duration {
	return time.Duration(r.w.plan.Chunks)*r.w.plan.Delay + r.w.cfg.Grace
}

// drive plays the run: the start, its readings and watchers until it is decided,
// then (finish) its decision, then its settle window on runs, the context it was
// started on (the run's own ends at its deadline).
func (r *Run) drive(runs context.Context) {
	ctx, cancel := context.WithTimeout(runs, r.deadline())
	defer cancel()
	r.mu.Lock()
	r.ctx = ctx
	r.mu.Unlock()
	outcome := OutcomeAborted
	defer func() {
		r.finish(outcome)
		if outcome == OutcomeCompleted || outcome == OutcomeFailed {
			r.settleWindow(runs)
		}
		r.w.deps.NATS.Unwatch(r.Thread)
	}()
	// The buffer tap follows the thread from before its run starts until its settle
	// window ends, so that a reading of its buffer is one request
	// (probes.NATS.Watch); without it the readings use direct gets.
	if err := r.w.deps.NATS.Watch(ctx, r.Thread); err != nil {
		r.w.tapFailed.Do(func() {
			r.w.log.Warn("buffer readings use direct gets (one request per message)", zap.Error(err))
		})
	}
	if err := r.begin(ctx); err != nil {
		r.w.log.Info("run not started (recorded; the invariants judge it)", zap.String("run", r.ID), zap.Error(err))
		return
	}
	outcome = r.observe(ctx)
	if outcome == OutcomeCompleted || outcome == OutcomeFailed {
		r.readReply(ctx)
	}
	r.drain(ctx, drainGrace)
	cancel() // ends the watchers still open
	r.watchers.Wait()
}

// readReply records what Postgres holds of the decided run's reply. mesh persists
// the reply with (or just before) the terminal status, so the reading is retried
// for a moment while it finds no reply, and the last reading is recorded.
func (r *Run) readReply(ctx context.Context) {
	w := r.w
	if !w.cfg.Replies {
		return
	}
	var replies []string
	var err error
	for try := 0; try < 5; try++ {
		replies, err = w.deps.Postgres.Replies(ctx, r.Thread)
		if ctx.Err() != nil {
			return // cut short: not a reading
		}
		if err == nil && len(replies) > 0 {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
	w.record(history.ProbeEvent(history.MessagesProbe(r.ID, r.Thread, replies, err), time.Now()))
}

// drainGrace is how long watchers may take to read a decided run to its end.
const drainGrace = 15 * time.Second

// drain waits for the watchers to finish reading, at most grace or until ctx ends.
func (r *Run) drain(ctx context.Context, grace time.Duration) {
	idle := make(chan struct{})
	go func() {
		r.watchers.Wait()
		close(idle)
	}()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-idle:
	case <-t.C:
	case <-ctx.Done():
	}
}

// begin creates the thread, attaches early and starts the run.
func (r *Run) begin(ctx context.Context) error {
	w, d, t := r.w, r.w.deps.Driver, r.w.tenant
	op := w.invoke(history.Op{Name: history.OpCreateThread, Run: r.ID, Thread: r.Thread, Pod: r.Post.Name})
	err := d.CreateThread(ctx, r.Post.URL, t, r.Thread)
	w.complete(op, err)
	if err != nil {
		return err
	}
	if err := r.attach(ctx, r.Early, false, 0); err != nil {
		return err
	}
	settle := history.Duration(r.settle)
	op = w.invoke(history.Op{Name: history.OpStartRun, Run: r.ID, Thread: r.Thread, Pod: r.Post.Name, Hint: w.cfg.Hint,
		Chunks: w.plan.Chunks, Expect: history.Duration(time.Duration(w.plan.Chunks) * w.plan.Delay), Settle: &settle})
	op.TaskID, err = d.StartRun(ctx, r.Post.URL, t, r.Thread, w.cfg.Hint)
	w.complete(op, err)
	return err
}

// observe samples the thread and its buffer until the run is decided, opening the
// late attaches once k chunks are buffered.
//
// Every run samples on one clock, at the multiples of the probe interval, so that
// the readings of all runs in flight are asked at the same instant and Postgres
// answers them in one round trip (probes.Postgres.Thread batches them).
func (r *Run) observe(ctx context.Context) string {
	every := r.w.cfg.ProbeEvery
	t := time.NewTimer(every) // reset before every wait (a timer's Reset is safe since Go 1.23)
	defer t.Stop()
	for {
		if status := r.sample(ctx); status == history.StatusCompleted || status == history.StatusFailed {
			return status
		}
		t.Reset(nextTick(time.Now(), every))
		select {
		case <-ctx.Done():
			return OutcomeTimeout
		case <-t.C:
		}
	}
}

// nextTick is how long from now until the next multiple of every on the wall clock
// (a whole interval when now is one).
func nextTick(now time.Time, every time.Duration) time.Duration {
	return every - time.Duration(now.UnixNano()%int64(every))
}

// sample takes one reading of the thread and one of the buffer and reacts to them.
func (r *Run) sample(ctx context.Context) string {
	w := r.w
	now := time.Now()
	st, err := w.deps.Postgres.Thread(ctx, r.Thread)
	bufAt := time.Now()
	buf, berr := w.deps.NATS.ReadBuffer(ctx, r.Thread, &r.cursor)
	if ctx.Err() != nil {
		return "" // cut short by the run's deadline or shutdown: not a reading
	}
	w.record(history.ProbeEvent(history.ThreadProbe(r.ID, r.Thread, st, err), now))
	w.record(history.ProbeEvent(history.BufferProbe(r.ID, r.Thread, buf, berr), bufAt))
	r.mu.Lock()
	if err == nil {
		r.owner, r.status = st.Owner, st.Status
		if (st.Status == history.StatusCompleted || st.Status == history.StatusFailed) && r.decidedAt.IsZero() {
			r.decidedAt = now // the reading's time, as the history has it
		}
	}
	if berr == nil {
		r.buffer = buf
	}
	openLate := !r.late && berr == nil && buf.TextDeltas >= w.cfg.LateAfter
	if openLate {
		r.late = true
	}
	status := r.status
	r.mu.Unlock()
	if openLate {
		// The late attaches open beside the sampling, never in its way: an attach that
		// hangs (on a pod frozen a moment later) must not stop the readings of the run
		// that the invariants judge. The run counts as buffered, the signal a fault
		// waits for, once they are open, so that they precede the fault.
		go func() {
			r.openLate(ctx, buf.TextDeltas)
			close(r.buffered)
		}()
	}
	if err != nil {
		return ""
	}
	return status
}

// openLate attaches on the run's late pods (latePods), all at once, and returns when
// every attach is open or has failed.
func (r *Run) openLate(ctx context.Context, k int) {
	var wg sync.WaitGroup
	for _, p := range r.latePods() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.attach(ctx, p, true, k); err != nil {
				r.w.log.Debug("late attach failed", zap.String("run", r.ID), zap.String("pod", p.Name), zap.Error(err))
			}
		}()
	}
	wg.Wait()
}

// latePods is the sample of pods that watch the run late: never the early watcher's
// pod, first the pod after the POST pod in the rotation that is not the early one (a
// cross-pod replay from a pod that neither received the run nor watched it from the
// start), then the POST pod itself (usually the owner: a replay from the owner's own
// buffer reader), then the pods after it in turn. The rotation moves with the run
// number, so over a soak every pod watches early, late and as the owner. Watchers 0,
// or at least the pods there are, means every pod but the early one.
func (r *Run) latePods() []Pod {
	pods := r.w.Entries()
	want := r.w.cfg.Watchers
	if want <= 0 || want > len(pods)-1 {
		want = len(pods) - 1
	}
	post := slices.IndexFunc(pods, func(p Pod) bool { return p.Name == r.Post.Name })
	order := make([]Pod, 0, len(pods))
	switch {
	case post < 0: // the POST pod has left the rotation (removed for good): the others in turn
		order = append(order, pods...)
	default:
		if len(pods) > 2 {
			order = append(order, pods[(post+2)%len(pods)])
		}
		order = append(order, r.Post)
		for i := 3; i < len(pods); i++ {
			order = append(order, pods[(post+i)%len(pods)])
		}
	}
	out := make([]Pod, 0, want)
	for _, p := range order {
		if len(out) == want {
			break
		}
		if p.Name != r.Early.Name && !slices.ContainsFunc(out, func(q Pod) bool { return q.Name == p.Name }) {
			out = append(out, p)
		}
	}
	return out
}

// AttachLate opens one more late attach on pod, e.g. on a survivor while the owner is
// down, with k the chunks confirmed in the buffer: those of the run's last reading
// (at most a probe interval old, so fewer than or as many as now: the prefix the
// watcher must replay is one the buffer surely held), or, before any reading found
// one, a whole reading of the buffer now. A fault attaches survivors to every run in
// flight at once; reading each buffer whole then cost a request per buffered message.
// ctx bounds the opening; the watcher itself lives as long as the run.
func (r *Run) AttachLate(ctx context.Context, pod Pod) error {
	r.mu.Lock()
	runCtx, k := r.ctx, r.buffer.TextDeltas
	r.mu.Unlock()
	if runCtx == nil || runCtx.Err() != nil {
		return errors.New("the run is not in flight")
	}
	if k == 0 {
		buf, err := r.w.deps.NATS.Buffer(ctx, r.Thread)
		if err != nil {
			return fmt.Errorf("read buffer before attach: %w", err)
		}
		k = buf.TextDeltas
	}
	return r.attach(runCtx, pod, true, k)
}

// attach opens a watcher on pod and collects what it sees in the background.
func (r *Run) attach(ctx context.Context, pod Pod, late bool, k int) error {
	w := r.w
	r.mu.Lock()
	r.nWatch++
	id := fmt.Sprintf("%s/w%d@%s", r.ID, r.nWatch, pod.Name)
	r.watched[pod.Name]++
	r.mu.Unlock()
	op := w.invoke(history.Op{Name: history.OpAttach, Run: r.ID, Thread: r.Thread, Pod: pod.Name, Watcher: id, Late: late, K: k})
	a, err := w.deps.Driver.Attach(ctx, pod.URL, w.tenant, r.Thread)
	w.complete(op, err)
	if err != nil {
		return err
	}
	r.watchers.Add(1)
	go func() {
		defer r.watchers.Done()
		defer a.Close()
		var prefixAt time.Time
		seen := map[int]bool{}
		tally, err := a.Collect(func(c probes.Chunk) {
			if !late || k == 0 || !prefixAt.IsZero() || c.Type != probes.ChunkTextDelta {
				return
			}
			if i, ok := probes.MockChunkIndex(c.Delta); ok && i <= k && !seen[i] {
				seen[i] = true
				if len(seen) == k {
					prefixAt = time.Now()
				}
			}
		})
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && err != nil {
			err = fmt.Errorf("gave up at the run's deadline (%s): %w", r.deadline(), err)
		}
		w.record(history.WatchEvent(history.WatchOf(history.Watch{Watcher: id, Run: r.ID, Thread: r.Thread, Pod: pod.Name,
			Late: late, K: k, OpenedAt: a.OpenedAt, PrefixAt: prefixAt}, tally, err)))
		if err != nil && !tally.Finished {
			r.reattach(ctx, pod)
		}
	}()
	return nil
}

// reattach replaces a watcher whose pod went away mid-run with one on another pod,
// as a user's client would: a late attach that must replay the prefix.
func (r *Run) reattach(ctx context.Context, lost Pod) {
	if ctx.Err() != nil {
		return
	}
	select {
	case <-r.done:
		return
	default:
	}
	for _, p := range r.w.Entries() {
		r.mu.Lock()
		fresh := p.Name != lost.Name && r.watched[p.Name] < 2
		r.mu.Unlock()
		if fresh && r.AttachLate(ctx, p) == nil {
			return
		}
	}
}

// settleEvery is how often a decided run's buffer is read in its settle window.
const settleEvery = time.Second

// settleWindow reads the decided run's buffer about once a second until its settle
// window is over (r.settle after the reading that decided it, or after the heal of
// the last fault in effect while the run ran if later: Workload.Fault), the last reading at
// or after that deadline, and records each reading as sample does: a frozen or
// cut-off owner that wakes after a survivor finished the run, and writes on, shows
// as messages after the end sentinel (no-write-after-end). When ctx ends first
// (chaosd stops) the window is cut short: the readings stop, and the history shows
// that none reached the deadline.
func (r *Run) settleWindow(ctx context.Context) {
	r.mu.Lock()
	decided := r.decidedAt
	r.mu.Unlock()
	if r.settle <= 0 || decided.IsZero() {
		return
	}
	t := time.NewTimer(settleEvery)
	defer t.Stop()
	for {
		// The window runs from the decision, or from the heal of a fault that was in
		// effect while the run ran if later; while such a fault is in effect it has
		// no end yet.
		from, known := r.w.settleFrom(r.started, decided)
		until := from.Add(r.settle)
		wait := settleEvery
		if known {
			wait = min(time.Until(until), settleEvery)
		}
		if wait > 0 {
			t.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
		at := time.Now()
		buf, err := r.w.deps.NATS.ReadBuffer(ctx, r.Thread, &r.cursor)
		if ctx.Err() != nil {
			return // cut short: not a reading
		}
		r.w.record(history.ProbeEvent(history.BufferProbe(r.ID, r.Thread, buf, err), at))
		if from, known := r.w.settleFrom(r.started, decided); known && !at.Before(from.Add(r.settle)) {
			return
		}
	}
}

// finish decides the run and drops it from the live set.
func (r *Run) finish(outcome string) {
	r.mu.Lock()
	r.outcome = outcome
	r.mu.Unlock()
	close(r.done)
	w := r.w
	w.mu.Lock()
	delete(w.live, r.ID)
	switch outcome {
	case OutcomeCompleted:
		w.stats.Completed++
	default:
		w.stats.Failed++
	}
	w.mu.Unlock()
	w.log.Debug("run decided", zap.String("run", r.ID), zap.String("outcome", outcome))
	if w.deps.OnDecided != nil {
		w.deps.OnDecided(r, outcome, time.Since(r.started))
	}
	w.decided.Done()
}
