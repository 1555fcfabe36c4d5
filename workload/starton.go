package workload

import (
	"context"
	"time"
)

// StartOn starts one run in the background posted to post and watched early from
// early (Start chooses both in turn), with settle as its settle window (Start's runs
// have Config.Settle), and returns at once: a check that a pod serves.
func (w *Workload) StartOn(ctx context.Context, post, early Pod, settle time.Duration) *Run {
	return w.launch(ctx, int(w.runs.Add(1))-1, post, early, max(settle, 0))
}
