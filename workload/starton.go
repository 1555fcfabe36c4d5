package workload

import (
	"context"
	"strconv"
	"time"

	"github.com/chaosd/chaosd/probes"
)

// StartOn starts one run in the background posted to post and watched early from
// early (Start chooses both in turn), and returns at once: a check that a pod serves.
func (w *Workload) StartOn(ctx context.Context, post, early Pod) *Run {
	n := int(w.runs.Add(1)) - 1
	r := &Run{ID: "run-" + strconv.Itoa(n+1), Thread: probes.NewThreadID("chaosd"), Post: post, Early: early,
		w: w, buffered: make(chan struct{}), done: make(chan struct{}), watched: map[string]int{}, started: time.Now()}
	w.mu.Lock()
	w.live[r.ID] = r
	w.stats.Started++
	w.mu.Unlock()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		r.drive(ctx)
	}()
	return r
}
