package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// Forwarder reaches pods and Services from outside the cluster's network, as
// `kubectl port-forward` does: a local port on 127.0.0.1 forwarded through the API
// server (pods/portforward) to a pod's port. A forward whose pod goes away ends; the
// next request for it starts a new one (for a Service, to another of its ready pods).
type Forwarder struct {
	r *Runtime

	mu   sync.Mutex
	fwds map[string]*forward // "pod:port"
}

type forward struct {
	local string // 127.0.0.1:N
	stop  chan struct{}
	done  chan struct{}
}

// NewForwarder is a Forwarder through r's API server.
func (r *Runtime) NewForwarder() *Forwarder { return &Forwarder{r: r, fwds: map[string]*forward{}} }

// Pod returns a local address forwarded to pod's port, starting the forward if none
// runs.
func (f *Forwarder) Pod(ctx context.Context, pod string, port int) (string, error) {
	key := pod + ":" + strconv.Itoa(port)
	f.mu.Lock()
	if fw := f.fwds[key]; fw != nil {
		select {
		case <-fw.done: // ended: the pod went away, or the stream broke
			delete(f.fwds, key)
		default:
			f.mu.Unlock()
			return fw.local, nil
		}
	}
	f.mu.Unlock()
	fw, err := f.start(ctx, pod, port)
	if err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if old := f.fwds[key]; old != nil { // another caller won the race: keep one
		close(fw.stop)
		return old.local, nil
	}
	f.fwds[key] = fw
	return fw.local, nil
}

func (f *Forwarder) start(ctx context.Context, pod string, port int) (*forward, error) {
	if f.r.rest == nil {
		return nil, errors.New("kubernetes: no API server to port-forward through")
	}
	rt, upgrader, err := spdy.RoundTripperFor(f.r.rest)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: port-forward: %w", err)
	}
	url := f.r.client.CoreV1().RESTClient().Post().Resource("pods").Namespace(f.r.cfg.Namespace).Name(pod).SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, url)
	fw := &forward{stop: make(chan struct{}), done: make(chan struct{})}
	ready := make(chan struct{})
	pf, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(port)}, fw.stop, ready, io.Discard, io.Discard)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: port-forward to pod %s:%d: %w", pod, port, err)
	}
	errc := make(chan error, 1)
	go func() {
		defer close(fw.done)
		errc <- pf.ForwardPorts()
	}()
	select {
	case <-ready:
	case err := <-errc:
		return nil, explain(err, f.r.host(), fmt.Sprintf("port-forward to pod %s:%d", pod, port))
	case <-ctx.Done():
		close(fw.stop)
		return nil, ctx.Err()
	}
	ports, err := pf.GetPorts()
	if err != nil || len(ports) != 1 {
		close(fw.stop)
		return nil, fmt.Errorf("kubernetes: port-forward to pod %s:%d: no local port (%v)", pod, port, err)
	}
	fw.local = net.JoinHostPort("127.0.0.1", strconv.Itoa(int(ports[0].Local)))
	f.r.log.Info("port-forward", zap.String("pod", pod), zap.Int("port", port), zap.String("local", fw.local))
	return fw, nil
}

// Service returns a local address forwarded to the Service that host:port names (its
// cluster IP, or its name, name.namespace or name.namespace.svc...), through one of
// its ready pods at the port's target port.
func (f *Forwarder) Service(ctx context.Context, hostport string) (string, error) {
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", fmt.Errorf("kubernetes: %q: want host:port: %w", hostport, err)
	}
	port, _ := strconv.Atoi(portStr)
	svcs, err := f.r.client.CoreV1().Services(f.r.cfg.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", explain(err, f.r.host(), "list the Services of namespace "+f.r.cfg.Namespace)
	}
	name, _, _ := strings.Cut(host, ".")
	for _, s := range svcs.Items {
		if s.Spec.ClusterIP != host && s.Name != host && s.Name != name {
			continue
		}
		for _, sp := range s.Spec.Ports {
			if int(sp.Port) != port {
				continue
			}
			pod, target, err := f.backend(ctx, &s, sp)
			if err != nil {
				return "", err
			}
			return f.Pod(ctx, pod, target)
		}
		return "", fmt.Errorf("kubernetes: Service %s has no port %d", s.Name, port)
	}
	return "", fmt.Errorf("kubernetes: no Service of namespace %s is %s (its cluster IP or name): port-forward reaches Services of the pods' namespace only", f.r.cfg.Namespace, host)
}

// backend picks a ready pod of the Service and the container port its port targets.
func (f *Forwarder) backend(ctx context.Context, s *corev1.Service, sp corev1.ServicePort) (string, int, error) {
	if len(s.Spec.Selector) == 0 {
		return "", 0, fmt.Errorf("kubernetes: Service %s has no selector: no pod to port-forward to", s.Name)
	}
	pods, err := f.r.client.CoreV1().Pods(f.r.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(s.Spec.Selector).String()})
	if err != nil {
		return "", 0, explain(err, f.r.host(), "list the pods of Service "+s.Name)
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil || !podReady(p) {
			continue
		}
		switch {
		case sp.TargetPort.IntValue() > 0:
			return p.Name, sp.TargetPort.IntValue(), nil
		case sp.TargetPort.StrVal != "":
			for _, c := range p.Spec.Containers {
				for _, cp := range c.Ports {
					if cp.Name == sp.TargetPort.StrVal {
						return p.Name, int(cp.ContainerPort), nil
					}
				}
			}
		default:
			return p.Name, int(sp.Port), nil
		}
	}
	return "", 0, fmt.Errorf("kubernetes: Service %s: no ready pod to port-forward to", s.Name)
}

// Close ends every forward.
func (f *Forwarder) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, fw := range f.fwds {
		close(fw.stop)
		delete(f.fwds, k)
	}
}

// Reaches reports whether a TCP connection to addr opens within d: how "auto"
// decides between the pods' own addresses and port-forward.
func Reaches(ctx context.Context, addr string, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}
