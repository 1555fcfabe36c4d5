package workload

import "context"

// StartOn starts one run in the background posted to post and watched early from
// early (Start chooses both in turn), and returns at once: a check that a pod serves.
func (w *Workload) StartOn(ctx context.Context, post, early Pod) *Run {
	return w.launch(ctx, int(w.runs.Add(1))-1, post, early)
}
