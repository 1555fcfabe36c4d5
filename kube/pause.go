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

// pauseFault freezes a pod's container in place, as Docker's pause does: chaosd's
// node agent freezes the container's cgroup and records the freeze on the node with a
// time past the fault's deadline (AgentGrace later), by which the agent thaws it by
// itself should chaosd and its watchdog both be gone. The heal asks the agent on the
// pod's node (whichever runs there then) to thaw it, confirmed by the cgroup's state.
type pauseFault struct {
	r *Runtime
	t faults.Timing
}

// AgentGrace is how long past a pause's deadline the agent waits before it thaws the
// container by itself: chaosd's watchdog heals at the deadline; the agent is the last
// resort.
const AgentGrace = 30 * time.Second

type pauseUndo struct {
	Namespace   string `json:"namespace"`
	Pod         string `json:"pod"`
	UID         string `json:"uid"`
	Container   string `json:"container"`
	ContainerID string `json:"container_id"`
	Node        string `json:"node"`
	Agent       string `json:"agent"`
}

func (f *pauseFault) Name() string { return "pause" }

// ExpectedEvents implements faults.Expecter: a freeze is no container event.
func (f *pauseFault) ExpectedEvents() []string { return nil }

// Plan implements faults.Fault.
func (f *pauseFault) Plan(ctx context.Context, m faults.Member, s faults.Spec) (faults.Plan, error) {
	p, cs, id, err := f.r.runningContainer(ctx, "pause", m)
	if err != nil {
		return faults.Plan{}, err
	}
	for _, c := range p.Spec.Containers {
		if c.Name == cs.Name {
			if err := pauseFitsLiveness(m.Name, c.LivenessProbe, s.Hold); err != nil {
				return faults.Plan{}, err
			}
		}
	}
	agent, err := f.r.agentOn(ctx, p.Spec.NodeName)
	if err != nil {
		return faults.Plan{}, fmt.Errorf("pause: %w", err)
	}
	u := pauseUndo{Namespace: f.r.cfg.Namespace, Pod: p.Name, UID: string(p.UID), Container: cs.Name, ContainerID: id, Node: p.Spec.NodeName, Agent: agent}
	undo, err := json.Marshal(u)
	if err != nil {
		return faults.Plan{}, err
	}
	return faults.Plan{
		Kind: "pause", Target: m.Target, Spec: s, Undo: undo,
		Does: fmt.Sprintf("freeze container %s (%.12s) of pod %s in place (its cgroup), through chaosd's agent %s on node %s, which thaws it by itself %s past the deadline",
			u.Container, id, u.Pod, agent, u.Node, AgentGrace),
		Undoes: fmt.Sprintf("thaw container %.12s of pod %s through the agent on node %s", id, u.Pod, u.Node),
	}, nil
}

// Inject implements faults.Fault: the agent records and freezes; its answer (the
// cgroup's state) confirms.
func (f *pauseFault) Inject(ctx context.Context, p faults.Plan) (faults.Effect, error) {
	var u pauseUndo
	if err := json.Unmarshal(p.Undo, &u); err != nil {
		return faults.Effect{}, fmt.Errorf("decode undo: %w", err)
	}
	until := time.Now().Add(p.Spec.Hold + AgentGrace).UTC().Format(time.RFC3339)
	code, out, err := f.r.exec.run(ctx, u.Namespace, u.Agent, "agent", []string{"/chaosd", "agent", "freeze", "--container-id", u.ContainerID, "--until", until})
	applied := time.Now()
	switch {
	case err != nil:
		return faults.Effect{Applied: applied}, fmt.Errorf("pause: agent %s: %w", u.Agent, err)
	case code != 0 || !strings.Contains(out, "FROZEN"):
		return faults.Effect{Applied: applied}, fmt.Errorf("pause: agent %s exited %d: %s", u.Agent, code, trim(out))
	}
	return faults.Effect{Applied: applied, Confirmed: applied, Evidence: trim(out)}, nil
}

// Heal implements faults.Fault: the agent on the pod's node now thaws the container;
// a pod gone meanwhile has nothing left frozen, but its heal is not confirmed.
func (f *pauseFault) Heal(ctx context.Context, raw json.RawMessage) faults.Healing {
	var u pauseUndo
	if err := json.Unmarshal(raw, &u); err != nil {
		return faults.Healing{Err: fmt.Errorf("decode undo: %w", err)}
	}
	applied := time.Now()
	pod, err := f.r.client.CoreV1().Pods(u.Namespace).Get(ctx, u.Pod, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || (err == nil && string(pod.UID) != u.UID) {
		return faults.Healing{Outcome: faults.Unknown, Applied: applied, Evidence: "pod " + u.Pod + " is gone: its containers, frozen or not, with it"}
	}
	if err != nil {
		return faults.Healing{Applied: applied, Err: explain(err, f.r.host(), "get pod "+u.Pod)}
	}
	agent, err := f.r.agentOn(ctx, u.Node)
	if err != nil {
		return faults.Healing{Applied: applied, Err: fmt.Errorf("thaw: %w (it thaws the container itself past the deadline once it runs)", err)}
	}
	code, out, err := f.r.exec.run(ctx, u.Namespace, agent, "agent", []string{"/chaosd", "agent", "thaw", "--container-id", u.ContainerID})
	switch {
	case err != nil:
		return faults.Healing{Applied: applied, Err: fmt.Errorf("thaw: agent %s: %w", agent, err)}
	case code != 0 || !strings.Contains(out, "THAWED"):
		return faults.Healing{Applied: applied, Err: fmt.Errorf("thaw: agent %s exited %d: %s", agent, code, trim(out))}
	}
	return faults.Healing{Outcome: faults.Healed, Applied: applied, Confirmed: time.Now(), Evidence: trim(out)}
}

// pauseFitsLiveness refuses a pause the container's liveness probe would end: frozen,
// the container fails every probe, and after failureThreshold of them the kubelet
// restarts it, a death chaosd did not ask for that its verdict would blame on the
// mesh (seen: a 28 s pause under a 6 x 5 s probe, the container restarted 1.3 s after
// the thaw). The hold must stay under (failureThreshold - 1) probe periods less the
// probe's timeout.
func pauseFitsLiveness(pod string, lp *corev1.Probe, hold time.Duration) error {
	if lp == nil {
		return nil
	}
	period, failures, timeout := lp.PeriodSeconds, lp.FailureThreshold, lp.TimeoutSeconds
	if period <= 0 {
		period = 10
	}
	if failures <= 0 {
		failures = 3
	}
	if timeout <= 0 {
		timeout = 1
	}
	limit := time.Duration(failures-1)*time.Duration(period)*time.Second - time.Duration(timeout)*time.Second
	if hold < limit {
		return nil
	}
	return fmt.Errorf("pause: pod %s's liveness probe (every %ds, %d failures) would have the kubelet restart it after about %ds frozen: "+
		"hold the pause under %s (--duration, faults.kinds.pause.duration), or use kill if a restart is what you want",
		pod, period, failures, period*failures, limit)
}
