package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/chaosd/chaosd/faults"
)

// rolloutFault is what `kubectl rollout restart` does to the Deployments of the pods
// under test: a new restartedAt annotation on the pod template, so that the
// Deployment controller replaces every pod under its own rollout strategy. Inject
// returns once every rollout is complete; nothing can undo a restart, so the heal
// confirms that each Deployment is whole.
type rolloutFault struct {
	r *Runtime
	t faults.Timing
}

type rolloutUndo struct {
	Namespace   string           `json:"namespace"`
	Deployments []rolloutReplica `json:"deployments"`
	Stamp       string           `json:"stamp"` // the restartedAt value written
}

type rolloutReplica struct {
	Name     string `json:"name"`
	Replicas int32  `json:"replicas"`
}

func (f *rolloutFault) Name() string { return "rollout" }

// Plan implements faults.Fault: every Deployment that runs a pod under test; a
// Deployment one of whose pods is labelled chaosd.skip=true is refused.
func (f *rolloutFault) Plan(ctx context.Context, m faults.Member, s faults.Spec) (faults.Plan, error) {
	ms, err := f.r.List(ctx)
	if err != nil {
		return faults.Plan{}, err
	}
	u := rolloutUndo{Namespace: f.r.cfg.Namespace, Stamp: time.Now().UTC().Format(time.RFC3339)}
	var names []string
	for _, pm := range ms {
		if pm.Service == "" {
			return faults.Plan{}, fmt.Errorf("rollout: pod %s has no Deployment: a rollout would not replace it", pm.Pod)
		}
		if pm.Skipped {
			return faults.Plan{}, fmt.Errorf("rollout: pod %s of deployment %s is labelled %s=true: a rollout would restart it", pm.Pod, pm.Service, LabelSkip)
		}
		if !slices.Contains(names, pm.Service) {
			names = append(names, pm.Service)
		}
	}
	if len(names) == 0 {
		return faults.Plan{}, fmt.Errorf("rollout: no pod matches %s in namespace %s", f.r.sel, f.r.cfg.Namespace)
	}
	pods := 0
	for _, n := range names {
		d, err := f.r.client.AppsV1().Deployments(u.Namespace).Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			return faults.Plan{}, explain(err, f.r.host(), "get deployment "+n)
		}
		u.Deployments = append(u.Deployments, rolloutReplica{Name: n, Replicas: replicas(d.Spec.Replicas)})
		pods += int(replicas(d.Spec.Replicas))
	}
	undo, err := json.Marshal(u)
	if err != nil {
		return faults.Plan{}, err
	}
	within := s.ReadyWithin
	if within <= 0 {
		within = faults.DefaultReadyWithin
	}
	return faults.Plan{
		Kind: "rollout", Target: m.Target, Spec: s, Undo: undo,
		Does:   fmt.Sprintf("restart deployment(s) %s as kubectl rollout restart does (%s=%s) and watch each rollout to its end", strings.Join(names, ", "), restartedAt, u.Stamp),
		Undoes: "nothing can undo a restart: confirm every deployment whole (its replicas updated and ready)",
		Takes:  within * time.Duration(max(pods, 1)),
	}, nil
}

// Inject implements faults.Fault.
func (f *rolloutFault) Inject(ctx context.Context, p faults.Plan) (faults.Effect, error) {
	var u rolloutUndo
	if err := json.Unmarshal(p.Undo, &u); err != nil {
		return faults.Effect{}, fmt.Errorf("decode undo: %w", err)
	}
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{"annotations": map[string]string{restartedAt: u.Stamp}}}}})
	if err != nil {
		return faults.Effect{}, err
	}
	applied := time.Now()
	for _, d := range u.Deployments {
		if _, err := f.r.client.AppsV1().Deployments(u.Namespace).Patch(ctx, d.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: "chaosd"}); err != nil {
			return faults.Effect{Applied: applied}, explain(err, f.r.host(), "patch deployment "+d.Name)
		}
	}
	var evs []string
	confirmed := applied
	for _, d := range u.Deployments {
		h := whole(ctx, f.r, f.t, u.Namespace, d.Name, d.Replicas, "", "", applied)
		if h.Err != nil || h.Outcome != faults.Healed {
			return faults.Effect{Applied: applied}, fmt.Errorf("rollout of %s not complete: %s %v", d.Name, h.Evidence, h.Err)
		}
		evs = append(evs, fmt.Sprintf("%s after %s", h.Evidence, h.Confirmed.Sub(applied).Round(time.Millisecond)))
		confirmed = h.Confirmed
	}
	return faults.Effect{Applied: applied, Confirmed: confirmed, Evidence: "rollout complete: " + strings.Join(evs, "; ")}, nil
}

// Heal implements faults.Fault.
func (f *rolloutFault) Heal(ctx context.Context, raw json.RawMessage) faults.Healing {
	var u rolloutUndo
	if err := json.Unmarshal(raw, &u); err != nil {
		return faults.Healing{Err: fmt.Errorf("decode undo: %w", err)}
	}
	applied := time.Now()
	out := faults.Healing{Outcome: faults.Healed, Applied: applied}
	var evs []string
	for _, d := range u.Deployments {
		h := whole(ctx, f.r, f.t, u.Namespace, d.Name, d.Replicas, "", "", applied)
		if h.Err != nil || h.Outcome != faults.Healed {
			return h
		}
		evs = append(evs, h.Evidence)
		out.Confirmed = h.Confirmed
	}
	out.Evidence = strings.Join(evs, "; ")
	return out
}
