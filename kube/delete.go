package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/chaosd/chaosd/faults"
)

// deleteFault is delete (grace 0: the pod's object goes at once and its Deployment
// starts a replacement under a new name; the pod's name, its POD_NAME, is gone for
// good) and stop (the pod's grace: the object stays, terminating, until its
// containers exited). Its heal undoes nothing: the Deployment does; the heal confirms
// that the Deployment is whole again.
//
// A grace-0 delete is not a SIGKILL: the kubelet still stops the containers with the
// pod's own terminationGracePeriodSeconds (SIGTERM first), and nothing in the API
// shows when they have stopped (measured: a testbed pod deleted with grace 0
// finished the run it owned). A SIGKILL in place needs the node agent.
type deleteFault struct {
	r        *Runtime
	t        faults.Timing
	graceful bool
}

type deleteUndo struct {
	Namespace  string `json:"namespace"`
	Pod        string `json:"pod"`
	UID        string `json:"uid"`
	Deployment string `json:"deployment"`
	Replicas   int32  `json:"replicas"` // the Deployment's, when the fault was planned
	Grace      int64  `json:"grace_s"`
	PodGrace   int64  `json:"pod_grace_s"` // the pod's terminationGracePeriodSeconds
	// delete with chaosd's node agent on the pod's node: its containers are SIGKILLed
	// through it first, so that the pod dies hard, not by the kubelet's SIGTERM.
	Agent        string   `json:"agent,omitempty"`
	ContainerIDs []string `json:"container_ids,omitempty"`
}

func (f *deleteFault) Name() string {
	if f.graceful {
		return "stop"
	}
	return "delete"
}

// Plan implements faults.Fault.
func (f *deleteFault) Plan(ctx context.Context, m faults.Member, s faults.Spec) (faults.Plan, error) {
	if s.Never {
		return faults.Plan{}, fmt.Errorf("%s: on Kubernetes the pod's Deployment replaces a deleted pod: down_for never is not possible", f.Name())
	}
	pods := f.r.client.CoreV1().Pods(f.r.cfg.Namespace)
	p, err := pods.Get(ctx, m.Name, metav1.GetOptions{})
	if err != nil {
		return faults.Plan{}, explain(err, f.r.host(), "get pod "+m.Name)
	}
	if string(p.UID) != m.ID {
		return faults.Plan{}, fmt.Errorf("%s: pod %s was replaced meanwhile (uid %s, not %s)", f.Name(), m.Name, p.UID, m.ID)
	}
	dep := deploymentOf(p)
	if dep == "" {
		return faults.Plan{}, fmt.Errorf("%s: pod %s has no Deployment: deleting it would remove it for good; chaosd deletes only pods a Deployment replaces", f.Name(), m.Name)
	}
	d, err := f.r.client.AppsV1().Deployments(f.r.cfg.Namespace).Get(ctx, dep, metav1.GetOptions{})
	if err != nil {
		return faults.Plan{}, explain(err, f.r.host(), "get deployment "+dep)
	}
	u := deleteUndo{Namespace: f.r.cfg.Namespace, Pod: p.Name, UID: string(p.UID), Deployment: dep, Replicas: replicas(d.Spec.Replicas)}
	u.PodGrace = 30
	if p.Spec.TerminationGracePeriodSeconds != nil {
		u.PodGrace = *p.Spec.TerminationGracePeriodSeconds
	}
	if !f.graceful && p.Spec.NodeName != "" {
		if agent, err := f.r.agentOn(ctx, p.Spec.NodeName); err == nil {
			u.Agent = agent
			for _, cs := range p.Status.ContainerStatuses {
				if _, id, ok := strings.Cut(cs.ContainerID, "://"); ok && cs.State.Running != nil {
					u.ContainerIDs = append(u.ContainerIDs, id)
				}
			}
		}
	}
	if f.graceful {
		u.Grace = u.PodGrace
		if s.Grace > 0 {
			u.Grace = int64((s.Grace + time.Second - 1) / time.Second)
		}
	}
	undo, err := json.Marshal(u)
	if err != nil {
		return faults.Plan{}, err
	}
	does := fmt.Sprintf("delete pod %s/%s (uid %s) with grace 0: its object and name go at once; the kubelet still stops its containers with the pod's grace (%ds, SIGTERM first: no chaosd agent on its node to SIGKILL them)", u.Namespace, u.Pod, u.UID, u.PodGrace)
	if len(u.ContainerIDs) > 0 {
		does = fmt.Sprintf("SIGKILL the containers of pod %s/%s (uid %s) through chaosd's agent %s, then delete the pod with grace 0: it dies hard and its name goes for good", u.Namespace, u.Pod, u.UID, u.Agent)
	}
	if f.graceful {
		does = fmt.Sprintf("delete pod %s/%s (uid %s) gracefully: SIGTERM, SIGKILL after %ds", u.Namespace, u.Pod, u.UID, u.Grace)
	}
	return faults.Plan{
		Kind: f.Name(), Target: m.Target, Spec: s, Undo: undo, Does: does,
		Undoes: fmt.Sprintf("nothing to undo: deployment %s starts a replacement; confirm %d of its pods ready again", dep, u.Replicas),
		Takes:  time.Duration(u.Grace) * time.Second,
	}, nil
}

func replicas(n *int32) int32 {
	if n == nil {
		return 1
	}
	return *n
}

// Inject implements faults.Fault: for delete with an agent on the node, SIGKILL the
// containers through it first; then delete, and confirm the pod gone from the API.
func (f *deleteFault) Inject(ctx context.Context, p faults.Plan) (faults.Effect, error) {
	var u deleteUndo
	if err := json.Unmarshal(p.Undo, &u); err != nil {
		return faults.Effect{}, fmt.Errorf("decode undo: %w", err)
	}
	uid := types.UID(u.UID)
	var killedBy []string
	for _, id := range u.ContainerIDs { // before the delete: the kubelet never SIGTERMs them
		code, out, err := f.r.exec.run(ctx, u.Namespace, u.Agent, "agent", []string{"/chaosd", "agent", "kill", "--container-id", id})
		if err != nil || code != 0 {
			return faults.Effect{Applied: time.Now()}, fmt.Errorf("delete: agent %s could not SIGKILL container %.12s (exit %d: %s %v)", u.Agent, id, code, trim(out), err)
		}
		killedBy = append(killedBy, trim(out))
	}
	err := f.r.client.CoreV1().Pods(u.Namespace).Delete(ctx, u.Pod, metav1.DeleteOptions{GracePeriodSeconds: &u.Grace, Preconditions: &metav1.Preconditions{UID: &uid}})
	applied := time.Now()
	if err != nil {
		return faults.Effect{Applied: applied}, explain(err, f.r.host(), "delete pod "+u.Pod)
	}
	limit := time.Duration(u.Grace)*time.Second + f.t.Confirm
	gone, ev, err := poll(ctx, f.t, limit, func(ctx context.Context) (bool, string, error) { return f.podGone(ctx, u) })
	if err != nil {
		return faults.Effect{Applied: applied}, err
	}
	evidence := fmt.Sprintf("%s after %s", ev, gone.Sub(applied).Round(time.Millisecond))
	switch {
	case len(killedBy) > 0:
		evidence = strings.Join(killedBy, "; ") + "; " + evidence
	case !f.graceful:
		evidence += fmt.Sprintf(" (its containers may run on for up to %ds: the kubelet stops them with the pod's grace)", u.PodGrace)
	default:
		evidence += " (its containers exited: the kubelet removes the object after them)"
	}
	return faults.Effect{Applied: applied, Confirmed: gone, Evidence: evidence}, nil
}

func (f *deleteFault) podGone(ctx context.Context, u deleteUndo) (bool, string, error) {
	p, err := f.r.client.CoreV1().Pods(u.Namespace).Get(ctx, u.Pod, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return true, "pod " + u.Pod + " gone from the API", nil
	case err != nil:
		return false, err.Error(), nil // the API server may blink; poll's limit decides
	case string(p.UID) != u.UID:
		return true, "pod " + u.Pod + " gone (a new pod has its name)", nil
	}
	return false, "pod " + u.Pod + " " + podState(p), nil
}

// Heal implements faults.Fault: the Deployment heals; chaosd confirms it has its
// replicas ready again, the deleted pod not among them.
func (f *deleteFault) Heal(ctx context.Context, raw json.RawMessage) faults.Healing {
	var u deleteUndo
	if err := json.Unmarshal(raw, &u); err != nil {
		return faults.Healing{Err: fmt.Errorf("decode undo: %w", err)}
	}
	applied := time.Now()
	return whole(ctx, f.r, f.t, u.Namespace, u.Deployment, u.Replicas, u.Pod, u.UID, applied)
}

// whole waits until deployment dep of ns is whole: its controller has seen its latest
// spec, and want pods (or its spec's replicas, if more) of its current template are
// ready and not terminating, the pod (name, uid) not among them, and no other pod is
// left. The pods are counted, not read from the Deployment's status, which lags a
// deletion. A Deployment that no longer exists is an unknown outcome.
func whole(ctx context.Context, r *Runtime, t faults.Timing, ns, dep string, want int32, pod, uid string, applied time.Time) faults.Healing {
	vanished := false
	at, ev, err := poll(ctx, t, readyLimit(ctx), func(ctx context.Context) (bool, string, error) {
		d, err := r.client.AppsV1().Deployments(ns).Get(ctx, dep, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			vanished = true
			return true, "deployment " + dep + " is gone", nil
		}
		if err != nil {
			return false, err.Error(), nil
		}
		want := max(want, replicas(d.Spec.Replicas))
		if d.Status.ObservedGeneration < d.Generation || d.Status.UpdatedReplicas < want {
			return false, fmt.Sprintf("deployment %s: rolling out (%d/%d updated)", dep, d.Status.UpdatedReplicas, want), nil
		}
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil {
			return false, "", fmt.Errorf("deployment %s: selector: %w", dep, err)
		}
		pods, err := r.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			return false, err.Error(), nil
		}
		ready, other := 0, 0
		var names []string
		kept := ""
		for i := range pods.Items {
			p := &pods.Items[i]
			self := string(p.UID) == uid || (pod != "" && p.Name == pod && uid == "")
			switch {
			case self && p.DeletionTimestamp != nil:
				return false, "pod " + pod + " still exists (" + podState(p) + ")", nil
			case self:
				// Never deleted: chaosd died between the agent's SIGKILL and the delete
				// (the kubelet restarted the container in place). Nothing was removed:
				// the Deployment is whole once the pod is ready again.
				kept = fmt.Sprintf("; pod %s was never deleted (%s)", pod, podState(p))
				if podReady(p) {
					ready++
					names = append(names, p.Name)
				} else {
					other++
				}
			case p.DeletionTimestamp == nil && podReady(p):
				ready++
				names = append(names, p.Name)
			default:
				other++
			}
		}
		ev := fmt.Sprintf("deployment %s: %d/%d pods ready (%s), %d other%s", dep, ready, want, strings.Join(names, ", "), other, kept)
		// Exactly want: a pod of the old template still ready (its ReplicaSet not yet
		// scaled down: seen "4/3 pods ready" mid-rollout) is not a whole Deployment.
		return ready == int(want) && other == 0, ev, nil
	})
	switch {
	case err != nil:
		return faults.Healing{Applied: applied, Evidence: ev, Err: err}
	case vanished:
		return faults.Healing{Outcome: faults.Unknown, Applied: applied, Evidence: ev}
	}
	return faults.Healing{Outcome: faults.Healed, Applied: applied, Confirmed: at, Evidence: ev}
}

func podReady(p *corev1.Pod) bool {
	if podState(p) != "running" {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// readyLimit is how long a Deployment may take to be whole: the heal's own deadline,
// else two minutes.
func readyLimit(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return time.Until(d)
	}
	return faults.DefaultReadyWithin
}
