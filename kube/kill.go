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

	"github.com/chaosd/chaosd/faults"
)

// LabelAgent marks the pods of chaosd's node agent (deploy/helm/chaosd, agent.enabled).
const LabelAgent = "app.kubernetes.io/component=chaosd-agent"

// killFault SIGKILLs a pod's container in place, as Docker's kill does: chaosd's node
// agent on the pod's node (a DaemonSet pod with the host's process namespace) signals
// every process of the container, found by its cgroup; the kubelet then restarts the
// container under the same pod name (restartPolicy Always), which is what mesh's
// recovery by POD_NAME expects of a crash. Nothing is left to undo: the heal confirms
// the restart and the pod ready again.
type killFault struct {
	r *Runtime
	t faults.Timing
}

type killUndo struct {
	Namespace   string `json:"namespace"`
	Pod         string `json:"pod"`
	UID         string `json:"uid"`
	Container   string `json:"container"`
	ContainerID string `json:"container_id"`
	Node        string `json:"node"`
	Agent       string `json:"agent"`
	Restarts    int32  `json:"restarts"` // the container's restart count before the kill
}

func (f *killFault) Name() string { return "kill" }

// Plan implements faults.Fault.
func (f *killFault) Plan(ctx context.Context, m faults.Member, s faults.Spec) (faults.Plan, error) {
	if s.Never {
		return faults.Plan{}, fmt.Errorf("kill: on Kubernetes the kubelet restarts a killed container in place: down_for never is not possible (delete removes a pod for good)")
	}
	p, cs, id, err := f.r.runningContainer(ctx, "kill", m)
	if err != nil {
		return faults.Plan{}, err
	}
	agent, err := f.r.agentOn(ctx, p.Spec.NodeName)
	if err != nil {
		return faults.Plan{}, fmt.Errorf("kill: %w", err)
	}
	u := killUndo{Namespace: f.r.cfg.Namespace, Pod: p.Name, UID: string(p.UID), Container: cs.Name, ContainerID: id, Node: p.Spec.NodeName, Agent: agent, Restarts: cs.RestartCount}
	undo, err := json.Marshal(u)
	if err != nil {
		return faults.Plan{}, err
	}
	return faults.Plan{
		Kind: "kill", Target: m.Target, Spec: s, Undo: undo,
		Does:   fmt.Sprintf("SIGKILL every process of container %s (%.12s) of pod %s in place, through chaosd's agent %s on node %s", u.Container, id, u.Pod, agent, u.Node),
		Undoes: fmt.Sprintf("nothing to undo: the kubelet restarts the container under the same pod name; confirm pod %s ready again with restart %d", u.Pod, u.Restarts+1),
	}, nil
}

// runningContainer reads the member's pod for a fault of kind that acts on its
// (first) container in place: the pod, that container's status and runtime id. The
// pod must be the member (not a replacement) and the container must run.
func (r *Runtime) runningContainer(ctx context.Context, kind string, m faults.Member) (*corev1.Pod, corev1.ContainerStatus, string, error) {
	p, err := r.client.CoreV1().Pods(r.cfg.Namespace).Get(ctx, m.Name, metav1.GetOptions{})
	if err != nil {
		return nil, corev1.ContainerStatus{}, "", explain(err, r.host(), "get pod "+m.Name)
	}
	if string(p.UID) != m.ID || len(p.Status.ContainerStatuses) == 0 || p.Spec.NodeName == "" {
		return nil, corev1.ContainerStatus{}, "", fmt.Errorf("%s: pod %s was replaced or does not run yet", kind, m.Name)
	}
	cs := p.Status.ContainerStatuses[0]
	_, id, ok := strings.Cut(cs.ContainerID, "://")
	if !ok || cs.State.Running == nil {
		return nil, corev1.ContainerStatus{}, "", fmt.Errorf("%s: container %s of pod %s does not run (%q)", kind, cs.Name, m.Name, cs.ContainerID)
	}
	return p, cs, id, nil
}

// agentOn names the running agent pod on node.
func (r *Runtime) agentOn(ctx context.Context, node string) (string, error) {
	a, err := r.agentPodOn(ctx, node)
	if err != nil {
		return "", err
	}
	return a.Name, nil
}

// agentPodOn is the running agent pod on node.
func (r *Runtime) agentPodOn(ctx context.Context, node string) (*corev1.Pod, error) {
	pods, err := r.client.CoreV1().Pods(r.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelAgent})
	if err != nil {
		return nil, explain(err, r.host(), "list chaosd's agent pods")
	}
	for i := range pods.Items {
		if a := &pods.Items[i]; a.Spec.NodeName == node && podState(a) == "running" {
			return a, nil
		}
	}
	return nil, fmt.Errorf("no chaosd agent runs on node %s in namespace %s (deploy/helm/chaosd with agent.enabled=true): kill and pause in place and a partition from peer groups need it; delete removes a pod instead", node, r.cfg.Namespace)
}

// Inject implements faults.Fault: the agent signals; the pod's status confirms that
// the container ended with SIGKILL's exit code.
func (f *killFault) Inject(ctx context.Context, p faults.Plan) (faults.Effect, error) {
	var u killUndo
	if err := json.Unmarshal(p.Undo, &u); err != nil {
		return faults.Effect{}, fmt.Errorf("decode undo: %w", err)
	}
	code, out, err := f.r.exec.run(ctx, u.Namespace, u.Agent, "agent", []string{"/chaosd", "agent", "kill", "--container-id", u.ContainerID})
	applied := time.Now()
	switch {
	case err != nil:
		return faults.Effect{Applied: applied}, fmt.Errorf("kill: agent %s: %w", u.Agent, err)
	case code != 0:
		return faults.Effect{Applied: applied}, fmt.Errorf("kill: agent %s exited %d: %s", u.Agent, code, trim(out))
	}
	at, ev, err := poll(ctx, f.t, f.t.Confirm, func(ctx context.Context) (bool, string, error) {
		pod, err := f.r.client.CoreV1().Pods(u.Namespace).Get(ctx, u.Pod, metav1.GetOptions{})
		if err != nil || string(pod.UID) != u.UID {
			return false, "", fmt.Errorf("kill: pod %s vanished: %v", u.Pod, err)
		}
		return killed(pod, u)
	})
	if err != nil {
		return faults.Effect{Applied: applied}, err
	}
	return faults.Effect{Applied: applied, Confirmed: at, Evidence: fmt.Sprintf("%s; %s", trim(out), ev)}, nil
}

// killed reads the pod's status for the container's end by SIGKILL (exit code 137).
func killed(pod *corev1.Pod, u killUndo) (bool, string, error) {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name != u.Container {
			continue
		}
		for _, t := range []*corev1.ContainerStateTerminated{cs.State.Terminated, cs.LastTerminationState.Terminated} {
			if t != nil && strings.HasSuffix(t.ContainerID, u.ContainerID) {
				if t.ExitCode != 137 {
					return false, "", fmt.Errorf("kill: container %s ended with exit code %d (%s), not SIGKILL's 137", u.Container, t.ExitCode, t.Reason)
				}
				return true, fmt.Sprintf("container %s ended with exit code 137 at %s (restart count %d)", u.Container, t.FinishedAt.UTC().Format("15:04:05"), cs.RestartCount), nil
			}
		}
		return false, fmt.Sprintf("container %s: restart count %d, no end recorded yet", u.Container, cs.RestartCount), nil
	}
	return false, "no container " + u.Container, nil
}

// Heal implements faults.Fault: the kubelet restarted the container; confirm the pod
// ready again on a new container.
func (f *killFault) Heal(ctx context.Context, raw json.RawMessage) faults.Healing {
	var u killUndo
	if err := json.Unmarshal(raw, &u); err != nil {
		return faults.Healing{Err: fmt.Errorf("decode undo: %w", err)}
	}
	applied := time.Now()
	vanished := false
	at, ev, err := poll(ctx, f.t, readyLimit(ctx), func(ctx context.Context) (bool, string, error) {
		pod, err := f.r.client.CoreV1().Pods(u.Namespace).Get(ctx, u.Pod, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || (err == nil && string(pod.UID) != u.UID) {
			vanished = true
			return true, "pod " + u.Pod + " is gone", nil
		}
		if err != nil {
			return false, err.Error(), nil
		}
		for _, cs := range pod.Status.ContainerStatuses {
			if cs.Name == u.Container {
				again := !strings.HasSuffix(cs.ContainerID, u.ContainerID) && cs.State.Running != nil
				return again && podReady(pod), fmt.Sprintf("pod %s: container %s restart %d, %s, ready %v", u.Pod, u.Container, cs.RestartCount, podState(pod), podReady(pod)), nil
			}
		}
		return false, "no container " + u.Container, nil
	})
	switch {
	case err != nil:
		return faults.Healing{Applied: applied, Evidence: ev, Err: err}
	case vanished:
		return faults.Healing{Outcome: faults.Unknown, Applied: applied, Evidence: ev}
	}
	return faults.Healing{Outcome: faults.Healed, Applied: applied, Confirmed: at, Evidence: "restarted in place: " + ev}
}
