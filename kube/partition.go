package kube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/chaosd/chaosd/faults"
)

// partitionFault cuts a pod off from everything: a NetworkPolicy that selects the
// label chaosd.io/fault=<id>, with no ingress and no egress rule, and that label on
// the pod. The cluster's network plugin enforces it (one that enforces NetworkPolicy
// must run: kube-router, Calico, Cilium...). Its effect is confirmed by a probe pod
// that chaosd starts beside it: "chaosd healthcheck tcp://POD-IP:PORT" run in it
// (pods/exec) must connect before the policy and fail under it; the heal removes
// the policy and the label and confirms that the probe connects again.
type partitionFault struct {
	r      *Runtime
	t      faults.Timing
	groups map[string][]string // faults.peers
}

type partitionUndo struct {
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	UID       string `json:"uid"`
	ID        string `json:"id"`     // the label value and the objects' suffix
	Policy    string `json:"policy"` // the NetworkPolicy
	Probe     string `json:"probe"`  // the probe pod
	Addr      string `json:"addr"`   // the pod's ip:port, probed
	Image     string `json:"image"`
	Expires   string `json:"expires"`

	// A partition from peer groups (modePeers): the agent's cut.
	Mode   string     `json:"mode,omitempty"` // "": the NetworkPolicy
	Node   string     `json:"node,omitempty"`
	Agent  string     `json:"agent,omitempty"`
	Groups []string   `json:"groups,omitempty"`
	Peers  []peerAddr `json:"peers,omitempty"`
	// A whole-pod partition with an agent that may cut (Agent set): the agent's cut
	// from everything but the node (HostIP), beside the policy.
	HostIP string `json:"host_ip,omitempty"`
}

func (f *partitionFault) Name() string { return "partition" }

// Plan implements faults.Fault.
func (f *partitionFault) Plan(ctx context.Context, m faults.Member, s faults.Spec) (faults.Plan, error) {
	p, err := f.r.client.CoreV1().Pods(f.r.cfg.Namespace).Get(ctx, m.Name, metav1.GetOptions{})
	if err != nil {
		return faults.Plan{}, explain(err, f.r.host(), "get pod "+m.Name)
	}
	if string(p.UID) != m.ID || p.Status.PodIP == "" {
		return faults.Plan{}, fmt.Errorf("partition: pod %s was replaced or has no address (uid %s, ip %q)", m.Name, p.UID, p.Status.PodIP)
	}
	if len(s.Peers) > 0 {
		return f.planPeers(ctx, m, s, p)
	}
	if f.r.cfg.Port <= 0 {
		return faults.Plan{}, errors.New("partition: pods.port is not set: the probe has no port to connect to")
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	u := partitionUndo{
		Namespace: f.r.cfg.Namespace, Pod: p.Name, UID: string(p.UID), ID: id,
		Policy: "chaosd-partition-" + id, Probe: "chaosd-probe-" + id,
		Addr: net.JoinHostPort(p.Status.PodIP, fmt.Sprint(f.r.cfg.Port)), Image: f.r.cfg.ProbeImage,
		Expires: expiry(time.Now().Add(s.Hold + 10*time.Minute)),
	}
	// A NetworkPolicy stops new connections; the plugins that enforce it (kube-router,
	// Calico, Cilium) let the open ones live on (conntrack's ESTABLISHED; measured on
	// kube-router: a partitioned worker kept talking to NATS and Postgres on the
	// connections it had). The agent's cut drops those too.
	var open string
	a, aerr := f.r.agentPodOn(ctx, p.Spec.NodeName)
	if aerr == nil {
		aerr = agentCanCut(a)
	}
	if aerr == nil {
		u.Agent, u.Node, u.HostIP = a.Name, p.Spec.NodeName, p.Status.HostIP
		if u.Peers, err = f.allPeers(ctx, p); err != nil {
			return faults.Plan{}, err
		}
		open = "the connections the pod has open are cut too, by chaosd's nftables table in its network namespace (everything but the loopback and the node), through chaosd's agent " + a.Name
	} else {
		open = "WARNING: the connections the pod has open are NOT cut (" + aerr.Error() + "): NetworkPolicy plugins let them live on, so the pod may go on talking to NATS and Postgres and the partition show nothing"
		f.r.log.Warn("partition: open connections will not be cut", zap.String("pod", p.Name), zap.Error(aerr))
	}
	undo, err := json.Marshal(u)
	if err != nil {
		return faults.Plan{}, err
	}
	return faults.Plan{
		Kind: "partition", Target: m.Target, Spec: s, Undo: undo,
		Does: fmt.Sprintf("start probe pod %s, label pod %s %s=%s and create NetworkPolicy %s denying all its ingress and egress; confirm that the probe no longer reaches %s; %s",
			u.Probe, u.Pod, LabelFault, id, u.Policy, u.Addr, open),
		Undoes: fmt.Sprintf("delete NetworkPolicy %s and the label (and the agent's table); confirm that the probe reaches %s again; delete the probe pod", u.Policy, u.Addr),
		Takes:  f.t.Confirm + probeStart,
	}, nil
}

// probeStart bounds how long the probe pod may take to run.
const probeStart = 60 * time.Second

// Inject implements faults.Fault.
func (f *partitionFault) Inject(ctx context.Context, p faults.Plan) (faults.Effect, error) {
	var u partitionUndo
	if err := json.Unmarshal(p.Undo, &u); err != nil {
		return faults.Effect{}, fmt.Errorf("decode undo: %w", err)
	}
	if u.Mode == modePeers {
		return f.injectPeers(ctx, p, u)
	}
	if err := f.startProbe(ctx, u); err != nil {
		return faults.Effect{}, err
	}
	if res, out := f.probe(ctx, u); res != reached {
		return faults.Effect{}, fmt.Errorf("partition: before the policy the probe pod %s cannot reach %s (%s): no probe could tell the policy's effect", u.Probe, u.Addr, out)
	}
	cut := "open connections not cut: no agent may cut them"
	if u.Agent != "" {
		// First: the agent's probes from inside the pod must get through before the cut,
		// and the policy would stop them.
		var err error
		if cut, err = f.agentCut(ctx, p, u); err != nil {
			return faults.Effect{}, err
		}
	}
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: u.Policy, Namespace: u.Namespace, Labels: map[string]string{LabelFault: u.ID}, Annotations: map[string]string{AnnotationExpire: u.Expires}},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{LabelFault: u.ID}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		},
	}
	if _, err := f.r.client.NetworkingV1().NetworkPolicies(u.Namespace).Create(ctx, np, metav1.CreateOptions{FieldManager: "chaosd"}); err != nil && !apierrors.IsAlreadyExists(err) {
		return faults.Effect{}, explain(err, f.r.host(), "create NetworkPolicy "+u.Policy)
	}
	if err := f.label(ctx, u, &u.ID); err != nil {
		return faults.Effect{}, err
	}
	applied := time.Now()
	at, ev, err := poll(ctx, f.t, f.t.Confirm, func(ctx context.Context) (bool, string, error) {
		res, out := f.probe(ctx, u)
		return res == refused, out, nil // a probe that did not run proves nothing
	})
	if err != nil {
		return faults.Effect{Applied: applied}, fmt.Errorf("partition: the probe pod %s still reaches %s under NetworkPolicy %s (does the cluster's network plugin enforce NetworkPolicy?): %w", u.Probe, u.Addr, u.Policy, err)
	}
	return faults.Effect{Applied: applied, Confirmed: at, Evidence: fmt.Sprintf("probe pod %s: %s after %s; agent: %s", u.Probe, ev, at.Sub(applied).Round(time.Millisecond), cut)}, nil
}

// Heal implements faults.Fault.
func (f *partitionFault) Heal(ctx context.Context, raw json.RawMessage) faults.Healing {
	var u partitionUndo
	if err := json.Unmarshal(raw, &u); err != nil {
		return faults.Healing{Err: fmt.Errorf("decode undo: %w", err)}
	}
	if u.Mode == modePeers {
		return f.healPeers(ctx, u)
	}
	err := f.r.client.NetworkingV1().NetworkPolicies(u.Namespace).Delete(ctx, u.Policy, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return faults.Healing{Err: explain(err, f.r.host(), "delete NetworkPolicy "+u.Policy)}
	}
	hadPolicy := err == nil
	vanished := false
	hadLabel, err := f.relabel(ctx, u, nil)
	if errors.Is(err, errPodGone) {
		vanished = true
	} else if err != nil {
		return faults.Healing{Err: err}
	}
	uncut := ""
	if u.Agent != "" && !vanished {
		// After the policy: the agent's probes from inside the pod, new connections,
		// must get through again, and the policy would stop them.
		out, _, err := f.agentUncut(ctx, u)
		if err != nil {
			return faults.Healing{Err: err}
		}
		uncut = "; agent: " + out
	}
	applied := time.Now()
	if !vanished && !hadPolicy && !hadLabel {
		// The injection stopped before the policy or the label (a chaosd that died
		// early, a baseline probe that failed): nothing cut the pod off, and no probe
		// is needed to say so; one that cannot reach the pod would hold the fault
		// open for nothing.
		f.stopProbe(ctx, u)
		return faults.Healing{Outcome: faults.Healed, Applied: applied, Confirmed: applied,
			Evidence: fmt.Sprintf("nothing was in place: no NetworkPolicy %s, no label on pod %s%s", u.Policy, u.Pod, uncut)}
	}
	if vanished {
		f.stopProbe(ctx, u)
		return faults.Healing{Outcome: faults.Unknown, Applied: applied, Evidence: fmt.Sprintf("NetworkPolicy %s deleted; pod %s (uid %s) is gone", u.Policy, u.Pod, u.UID)}
	}
	if err := f.startProbe(ctx, u); err != nil { // a chaosd that died before it started one
		return faults.Healing{Applied: applied, Err: err}
	}
	at, ev, err := poll(ctx, f.t, f.t.Confirm, func(ctx context.Context) (bool, string, error) {
		res, out := f.probe(ctx, u)
		return res == reached, out, nil
	})
	if err != nil {
		return faults.Healing{Applied: applied, Evidence: ev, Err: fmt.Errorf("partition heal: NetworkPolicy %s deleted, yet the probe does not reach %s: %w", u.Policy, u.Addr, err)}
	}
	f.stopProbe(ctx, u)
	return faults.Healing{Outcome: faults.Healed, Applied: applied, Confirmed: at,
		Evidence: fmt.Sprintf("NetworkPolicy %s deleted, label removed; probe pod %s: %s after %s%s", u.Policy, u.Probe, ev, at.Sub(applied).Round(time.Millisecond), uncut)}
}

var errPodGone = errors.New("pod gone")

// label sets (value non-nil) or removes the fault's label on the pod, if it is still
// the same pod.
func (f *partitionFault) label(ctx context.Context, u partitionUndo, value *string) error {
	_, err := f.relabel(ctx, u, value)
	return err
}

// relabel is label, also saying whether the pod carried the fault's label before.
func (f *partitionFault) relabel(ctx context.Context, u partitionUndo, value *string) (had bool, err error) {
	pods := f.r.client.CoreV1().Pods(u.Namespace)
	p, err := pods.Get(ctx, u.Pod, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || (err == nil && string(p.UID) != u.UID) {
		return false, errPodGone
	}
	if err != nil {
		return false, explain(err, f.r.host(), "get pod "+u.Pod)
	}
	had = p.Labels[LabelFault] == u.ID
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]*string{LabelFault: value}}})
	if err != nil {
		return had, err
	}
	if _, err := pods.Patch(ctx, u.Pod, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "chaosd"}); err != nil {
		if apierrors.IsNotFound(err) {
			return had, errPodGone
		}
		return had, explain(err, f.r.host(), "label pod "+u.Pod)
	}
	return had, nil
}

// startProbe creates the probe pod unless it exists and waits until it runs.
func (f *partitionFault) startProbe(ctx context.Context, u partitionUndo) error {
	pods := f.r.client.CoreV1().Pods(u.Namespace)
	grace := int64(1)
	no := false
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: u.Probe, Namespace: u.Namespace,
			Labels:      map[string]string{LabelProbe: u.ID, "app.kubernetes.io/managed-by": "chaosd"},
			Annotations: map[string]string{AnnotationExpire: u.Expires}},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: &grace,
			AutomountServiceAccountToken:  &no,
			EnableServiceLinks:            &no,
			Containers: []corev1.Container{{
				Name: "probe", Image: u.Image, ImagePullPolicy: corev1.PullIfNotPresent,
				Command: []string{"/chaosd", "probe-pod"},
			}},
		},
	}
	if old, err := pods.Get(ctx, u.Probe, metav1.GetOptions{}); err == nil && (old.Status.Phase == corev1.PodFailed || old.Status.Phase == corev1.PodSucceeded || old.DeletionTimestamp != nil) {
		// One that ended (an earlier chaosd's, or an image without probe-pod): anew.
		f.stopProbe(ctx, u)
		if _, _, err := poll(ctx, f.t, probeStart, func(ctx context.Context) (bool, string, error) {
			_, err := pods.Get(ctx, u.Probe, metav1.GetOptions{})
			return apierrors.IsNotFound(err), "the ended probe pod still exists", nil
		}); err != nil {
			return fmt.Errorf("partition: probe pod %s: %w", u.Probe, err)
		}
	}
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{FieldManager: "chaosd"}); err != nil && !apierrors.IsAlreadyExists(err) {
		return explain(err, f.r.host(), "create probe pod "+u.Probe)
	}
	_, ev, err := poll(ctx, f.t, probeStart, func(ctx context.Context) (bool, string, error) {
		p, err := pods.Get(ctx, u.Probe, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
			return false, "", fmt.Errorf("probe pod %s ended (%s%s): does the image hold /chaosd with its probe-pod command?", u.Probe, p.Status.Phase, exitOf(p))
		}
		return podState(p) == "running", "probe pod " + podState(p), nil
	})
	if err != nil {
		return fmt.Errorf("partition: probe pod %s (image %s, kubernetes.probe_image) not running: %s: %w", u.Probe, u.Image, ev, err)
	}
	return nil
}

func (f *partitionFault) stopProbe(ctx context.Context, u partitionUndo) {
	zero := int64(0)
	err := f.r.client.CoreV1().Pods(u.Namespace).Delete(ctx, u.Probe, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	if err != nil && !apierrors.IsNotFound(err) {
		f.r.log.Warn("probe pod not deleted", zap.String("pod", u.Probe), zap.Error(err))
	}
}

// Probe results: a probe that did not run (the exec failed, the probe exited 2)
// confirms neither a partition nor a heal.
type probeResult int

const (
	probeError probeResult = iota
	reached
	refused
)

// probe runs the connection probe in the probe pod.
func (f *partitionFault) probe(ctx context.Context, u partitionUndo) (probeResult, string) {
	timeout := max(f.t.Probe, 500*time.Millisecond)
	code, out, err := f.r.exec.run(ctx, u.Namespace, u.Probe, "probe",
		[]string{"/chaosd", "healthcheck", "--timeout", timeout.String(), "tcp://" + u.Addr})
	switch {
	case err != nil:
		return probeError, "the probe did not run: " + err.Error()
	case code == 0:
		return reached, "connects to " + u.Addr
	case code == 1: // healthcheck's ExitUnhealthy
		return refused, fmt.Sprintf("cannot connect to %s (%s)", u.Addr, trim(out))
	}
	return probeError, fmt.Sprintf("the probe exited %d: %s", code, trim(out))
}

// exitOf describes how a pod's container ended.
func exitOf(p *corev1.Pod) string {
	for _, c := range p.Status.ContainerStatuses {
		if t := c.State.Terminated; t != nil {
			return fmt.Sprintf(", exit code %d %s %s", t.ExitCode, t.Reason, trim(t.Message))
		}
	}
	return ""
}
