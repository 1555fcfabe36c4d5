package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Sweep removes what chaosd left in the namespace past its expiry, whatever the
// ledger says (a ledger lost with its pod, a ledger of another host): each
// NetworkPolicy and probe pod labelled by chaosd whose chaosd.io/expires has passed,
// and the fault label of each pod that no policy selects any more. `chaosd recover`
// runs it after healing what the ledger holds. It returns what it removed.
func (r *Runtime) Sweep(ctx context.Context, now time.Time) ([]string, error) {
	ns := r.cfg.Namespace
	var gone []string
	nps, err := r.client.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{LabelSelector: LabelFault})
	if err != nil {
		return nil, explain(err, r.host(), "list the NetworkPolicies of namespace "+ns)
	}
	live := map[string]bool{}
	for _, np := range nps.Items {
		if !expired(np.Annotations, now) {
			live[np.Labels[LabelFault]] = true
			continue
		}
		if err := r.client.NetworkingV1().NetworkPolicies(ns).Delete(ctx, np.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return gone, explain(err, r.host(), "delete NetworkPolicy "+np.Name)
		}
		gone = append(gone, "NetworkPolicy "+np.Name)
	}
	pods, err := r.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return gone, explain(err, r.host(), "list the pods of namespace "+ns)
	}
	zero := int64(0)
	for _, p := range pods.Items {
		if _, ok := p.Labels[LabelProbe]; ok && expired(p.Annotations, now) {
			if err := r.client.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil && !apierrors.IsNotFound(err) {
				return gone, explain(err, r.host(), "delete probe pod "+p.Name)
			}
			gone = append(gone, "probe pod "+p.Name)
		}
		if id, ok := p.Labels[LabelFault]; ok && !live[id] {
			patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{LabelFault: nil}}})
			if _, err := r.client.CoreV1().Pods(ns).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "chaosd"}); err != nil && !apierrors.IsNotFound(err) {
				return gone, explain(err, r.host(), "unlabel pod "+p.Name)
			}
			gone = append(gone, fmt.Sprintf("label %s=%s on pod %s", LabelFault, id, p.Name))
		}
	}
	return gone, nil
}

// expired reports whether annotations carry an expiry that has passed; an object
// without a readable one is not chaosd's to judge.
func expired(annotations map[string]string, now time.Time) bool {
	at, err := time.Parse(time.RFC3339, annotations[AnnotationExpire])
	return err == nil && now.After(at)
}
