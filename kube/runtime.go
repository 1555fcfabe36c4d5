// Package kube is chaosd's Kubernetes runtime: the pods under test are the pods of one
// namespace that a label selector matches, reached through the API server with
// client-go's typed clients, and the fault kinds are what Kubernetes expresses:
//   - delete: the pod deleted with no grace; its controller starts a replacement
//     under a new name (the permanent death of an owner);
//   - stop: the pod deleted gracefully (SIGTERM, its grace period);
//   - rollout: what `kubectl rollout restart` does to the pods' Deployments, watched
//     to the end;
//   - partition: the pod labelled and isolated by a NetworkPolicy that denies all of
//     its ingress and egress, the effect and the heal each confirmed by a probe from a
//     probe pod beside it, never assumed.
//
// Every object chaosd creates carries the label chaosd.io/fault and the annotation
// chaosd.io/expires, and its undo is in the ledger before it exists (faults.Injector),
// so that `chaosd recover` and the watchdog remove it after a crash. chaosd touches
// nothing outside its namespace.
package kube

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/chaosd/chaosd/faults"
)

// Labels and annotations chaosd puts on what it creates or marks.
const (
	LabelFault       = "chaosd.io/fault"   // on chaosd's objects and on a partitioned pod: the fault's plan id
	LabelProbe       = "chaosd.io/probe"   // on a probe pod
	AnnotationExpire = "chaosd.io/expires" // RFC 3339: past it, the object is chaosd's litter
	LabelSkip        = faults.LabelSkip    // chaosd.skip=true on a pod keeps chaosd's hands off it
	restartedAt      = "kubectl.kubernetes.io/restartedAt"
)

// Config is where the pods are and how chaosd reaches the API server.
type Config struct {
	Kubeconfig string // "" = KUBECONFIG, ~/.kube/config, else in-cluster
	Context    string
	Namespace  string
	Selector   string // label selector of the pods under test
	// APISelector selects pods that serve but run nothing (mesh's API pods): listed
	// for the workload by ReadyAPIPods, never faulted. "" = none.
	APISelector string
	Port        int    // the pods' serving port (the partition probe connects to it)
	ProbeImage  string // the probe pod's image; it must hold /chaosd
	Timeout     time.Duration
}

// Runtime is the Kubernetes runtime: faults.Runtime.
type Runtime struct {
	cfg    Config
	client kubernetes.Interface
	// watcher is client without the request timeout, for watches, which last (the
	// API server ends them after its own timeout; Events then watches again).
	watcher kubernetes.Interface
	rest    *rest.Config
	sel     labels.Selector
	log     *zap.Logger
	exec    execer
}

var _ faults.Runtime = (*Runtime)(nil)

// Connect builds the client from the kubeconfig (or the in-cluster config) and checks
// that the API server answers and that the pods of the namespace may be listed.
func Connect(ctx context.Context, cfg Config, log *zap.Logger) (*Runtime, error) {
	rc, err := restConfig(cfg)
	if err != nil {
		return nil, err
	}
	c, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: client for %s: %w", rc.Host, err)
	}
	r, err := New(c, rc, cfg, log)
	if err != nil {
		return nil, err
	}
	wc := rest.CopyConfig(rc)
	wc.Timeout = 0
	if r.watcher, err = kubernetes.NewForConfig(wc); err != nil {
		return nil, fmt.Errorf("kubernetes: client for %s: %w", rc.Host, err)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if _, err := c.CoreV1().Pods(cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: cfg.Selector, Limit: 1}); err != nil {
		return nil, explain(err, rc.Host, "list the pods of namespace "+cfg.Namespace)
	}
	return r, nil
}

// New is a Runtime on a client (a fake one in tests; rc may then be nil: no exec).
func New(c kubernetes.Interface, rc *rest.Config, cfg Config, log *zap.Logger) (*Runtime, error) {
	if cfg.Namespace == "" {
		return nil, errors.New("kubernetes: no namespace: chaosd touches the pods of one namespace only")
	}
	sel, err := labels.Parse(cfg.Selector)
	if err != nil || sel.Empty() {
		return nil, fmt.Errorf("kubernetes: selector %q: want a non-empty label selector such as component=worker (%v)", cfg.Selector, err)
	}
	if cfg.APISelector != "" {
		if api, err := labels.Parse(cfg.APISelector); err != nil || api.Empty() {
			return nil, fmt.Errorf("kubernetes: api_selector %q: want a label selector such as component=api, or none (%v)", cfg.APISelector, err)
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if log == nil {
		log = zap.NewNop()
	}
	r := &Runtime{cfg: cfg, client: c, watcher: c, rest: rc, sel: sel, log: log.Named("kube")}
	r.exec = spdyExec{rc: rc, client: c}
	return r, nil
}

func restConfig(cfg Config) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if cfg.Kubeconfig != "" {
		rules.ExplicitPath = cfg.Kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: cfg.Context})
	rc, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes: no usable kubeconfig (kubernetes.kubeconfig %q, KUBECONFIG, ~/.kube/config) and not in a cluster: %w", cfg.Kubeconfig, err)
	}
	rc.Timeout = cfg.Timeout
	rc.UserAgent = "chaosd"
	return rc, nil
}

// explain turns an API error into one that says what chaosd could not do and why.
func explain(err error, host, what string) error {
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("kubernetes: may not %s at %s (chaosd's RBAC Role lacks it: deploy/helm/chaosd grants what chaosd uses): %w", what, host, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("kubernetes: %s at %s: the credentials were refused: %w", what, host, err)
	case apierrors.IsNotFound(err):
		return fmt.Errorf("kubernetes: %s at %s: not found: %w", what, host, err)
	}
	return fmt.Errorf("kubernetes: cannot %s at %s (is the API server up? kubernetes.kubeconfig, kubernetes.context): %w", what, host, err)
}

// Name implements faults.Runtime.
func (r *Runtime) Name() string { return faults.RuntimeKubernetes }

// Namespace is the pods' namespace.
func (r *Runtime) Namespace() string { return r.cfg.Namespace }

// List implements faults.Runtime: the pods the selector matches, as members. A pod's
// name is its POD_NAME (mesh's charts set POD_NAME from metadata.name), its Service
// the Deployment that runs it, its address its pod IP.
func (r *Runtime) List(ctx context.Context) ([]faults.Member, error) {
	pods, err := r.client.CoreV1().Pods(r.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: r.sel.String()})
	if err != nil {
		return nil, explain(err, r.host(), "list the pods of namespace "+r.cfg.Namespace)
	}
	ms := make([]faults.Member, 0, len(pods.Items))
	for i := range pods.Items {
		ms = append(ms, member(&pods.Items[i]))
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Pod < ms[j].Pod })
	return ms, nil
}

func (r *Runtime) host() string {
	if r.rest == nil {
		return "the API server"
	}
	return r.rest.Host
}

func member(p *corev1.Pod) faults.Member {
	m := faults.Member{
		Target:  faults.Target{ID: string(p.UID), Name: p.Name, Pod: p.Name, Service: deploymentOf(p)},
		State:   podState(p),
		Skipped: p.Labels[LabelSkip] == "true",
		IPs:     map[string]netip.Addr{},
	}
	if a, err := netip.ParseAddr(p.Status.PodIP); err == nil {
		m.IPs["pod"] = a
	}
	for _, c := range p.Spec.Containers {
		for _, port := range c.Ports {
			if port.Protocol == "" || port.Protocol == corev1.ProtocolTCP {
				m.Ports = append(m.Ports, container.Port{PrivatePort: uint16(port.ContainerPort), Type: "tcp"})
			}
		}
	}
	return m
}

// podState is the pod's state in Docker's words where they fit: running (every
// container runs), terminating, else its phase in lower case.
func podState(p *corev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return "terminating"
	}
	if p.Status.Phase != corev1.PodRunning {
		return strings.ToLower(string(p.Status.Phase))
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running == nil {
			return "restarting"
		}
	}
	return "running"
}

// deploymentOf names the Deployment a pod belongs to (through its ReplicaSet, whose
// name is the Deployment's plus the template hash), or its controller, or "".
func deploymentOf(p *corev1.Pod) string {
	for _, o := range p.OwnerReferences {
		if o.Controller == nil || !*o.Controller {
			continue
		}
		if o.Kind == "ReplicaSet" {
			if h := p.Labels["pod-template-hash"]; h != "" {
				return strings.TrimSuffix(o.Name, "-"+h)
			}
		}
		return o.Name
	}
	return ""
}

// Fault implements faults.Runtime.
func (r *Runtime) Fault(kind string, d faults.Deps) (faults.Fault, bool) {
	t := timing(d.Timing)
	switch kind {
	case "delete":
		return &deleteFault{r: r, t: t, graceful: false}, true
	case "stop":
		return &deleteFault{r: r, t: t, graceful: true}, true
	case "kill":
		return &killFault{r: r, t: t}, true
	case "pause":
		return &pauseFault{r: r, t: t}, true
	case "rollout":
		return &rolloutFault{r: r, t: t}, true
	case "partition":
		return &partitionFault{r: r, t: t, groups: d.PeerGroups}, true
	}
	return nil, false
}

func timing(t faults.Timing) faults.Timing {
	d := faults.DefaultTiming
	if t.Confirm > 0 {
		d.Confirm = t.Confirm
	}
	if t.Probe > 0 {
		d.Probe = t.Probe
	}
	d.Poll = 100 * time.Millisecond // API requests, not local inspections
	if t.Settle > 0 {
		d.Settle = t.Settle
	}
	return d
}

// poll runs check every t.Poll until it reports done, within limit.
func poll(ctx context.Context, t faults.Timing, limit time.Duration, check func(ctx context.Context) (bool, string, error)) (time.Time, string, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	last := ""
	for {
		ok, ev, err := check(ctx)
		if ctx.Err() != nil && last != "" {
			ev = last // the check was cut short by the limit: the last whole one says more
		}
		if err != nil {
			return time.Time{}, ev, err
		}
		if ok {
			return time.Now(), ev, nil
		}
		last = ev
		select {
		case <-ctx.Done():
			return time.Time{}, last, fmt.Errorf("not confirmed within %s: %s", limit, last)
		case <-time.After(t.Poll):
		}
	}
}

func expiry(at time.Time) string { return at.UTC().Format(time.RFC3339) }
