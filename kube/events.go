package kube

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/events"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/chaosd/chaosd/faults"
)

// Events is the pods' container deaths in Docker's event words, so that chaosd's
// event watch (faults.WatchEvents) and the history take them as they take Docker's:
// a "die" (with the exit code when the kubelet reported one) when a container that
// ran is seen terminated, restarted or gone with its pod, and an "oom" before it when
// the kubelet says OOMKilled. The actor is the pod (its UID, Member.ID), named by the
// pod's name. The time is when chaosd saw it: the kubelet's own times have a
// resolution of a second.
//
// It lists the pods, then watches from the listing's resource version; when the watch
// ends, the error channel says so, and faults.Events asks again (Kubernetes keeps no
// event history to resume from: a death in between is lost, and the history records
// the break as Docker's watch-error, so that no-unexpected-death says it may be).
// opts (Docker's filters) are not used: the runtime's namespace and selector are.
func (r *Runtime) Events(ctx context.Context, _ events.ListOptions) (<-chan events.Message, <-chan error) {
	msgs, errs := make(chan events.Message, 64), make(chan error, 1)
	go func() {
		err := r.watchDeaths(ctx, msgs)
		if ctx.Err() == nil {
			errs <- err
		}
	}()
	return msgs, errs
}

func (r *Runtime) watchDeaths(ctx context.Context, out chan<- events.Message) error {
	lctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	list, err := r.client.CoreV1().Pods(r.cfg.Namespace).List(lctx, metav1.ListOptions{LabelSelector: r.sel.String()})
	cancel()
	if err != nil {
		return explain(err, r.host(), "list the pods of namespace "+r.cfg.Namespace)
	}
	d := newDeaths()
	for i := range list.Items {
		d.observe(&list.Items[i], false)
	}
	rv := list.ResourceVersion
	for {
		// A watch the API server ends (its own timeout, minutes) is resumed from the
		// last version seen; one that cannot be resumed is the stream broken.
		var err error
		if rv, err = r.watchFrom(ctx, rv, d, out); err != nil || ctx.Err() != nil {
			return err
		}
	}
}

// watchFrom watches the pods from resource version rv until the watch ends, sending
// the deaths it shows, and returns the last version seen.
func (r *Runtime) watchFrom(ctx context.Context, rv string, d *deaths, out chan<- events.Message) (string, error) {
	w, err := r.watcher.CoreV1().Pods(r.cfg.Namespace).Watch(ctx, metav1.ListOptions{LabelSelector: r.sel.String(), ResourceVersion: rv, AllowWatchBookmarks: true})
	if err != nil {
		return rv, explain(err, r.host(), "watch the pods of namespace "+r.cfg.Namespace)
	}
	defer w.Stop()
	began := time.Now()
	for {
		select {
		case <-ctx.Done():
			return rv, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok && time.Since(began) < time.Second { // not the server's timeout: something is wrong
				return rv, fmt.Errorf("kubernetes: the watch of the pods of namespace %s ended at once", r.cfg.Namespace)
			}
			if !ok {
				return rv, nil
			}
			if ev.Type == watch.Error {
				return rv, fmt.Errorf("kubernetes: the watch of the pods of namespace %s failed: %v", r.cfg.Namespace, apierrors.FromObject(ev.Object))
			}
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			rv = p.ResourceVersion
			if ev.Type == watch.Bookmark {
				continue
			}
			for _, m := range d.observe(p, ev.Type == watch.Deleted) {
				select {
				case out <- m:
				case <-ctx.Done():
					return rv, ctx.Err()
				}
			}
		}
	}
}

// deaths remembers each container's last known state, to tell a death from a pod's
// other updates.
type deaths struct {
	mu    sync.Mutex
	known map[string]containerSeen // pod UID + "/" + container name
	now   func() time.Time
}

type containerSeen struct {
	running  bool
	restarts int32
}

func newDeaths() *deaths { return &deaths{known: map[string]containerSeen{}, now: time.Now} }

// observe takes a pod as the API server now has it (gone: it was deleted) and
// returns the deaths it shows, in Docker's words.
func (d *deaths) observe(p *corev1.Pod, gone bool) []events.Message {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []events.Message
	for _, cs := range p.Status.ContainerStatuses {
		key := string(p.UID) + "/" + cs.Name
		was, seen := d.known[key]
		now := containerSeen{running: cs.State.Running != nil && !gone, restarts: cs.RestartCount}
		if gone {
			delete(d.known, key)
		} else {
			d.known[key] = now
		}
		if !seen {
			continue // first sight: a death before the watch is not one it saw
		}
		var term *corev1.ContainerStateTerminated
		switch {
		case cs.RestartCount > was.restarts: // died and was restarted in place
			term = cs.LastTerminationState.Terminated
		case was.running && cs.State.Terminated != nil:
			term = cs.State.Terminated
		case was.running && gone: // deleted before the kubelet reported the death
		default:
			continue
		}
		at := d.now()
		attrs := map[string]string{"name": p.Name, "container": cs.Name}
		if term != nil {
			attrs["exitCode"] = strconv.Itoa(int(term.ExitCode))
			if term.Reason == "OOMKilled" {
				out = append(out, message(p, "oom", at, attrs))
			}
		}
		out = append(out, message(p, "die", at, attrs))
	}
	return out
}

func message(p *corev1.Pod, action string, at time.Time, attrs map[string]string) events.Message {
	a := make(map[string]string, len(attrs))
	for k, v := range attrs {
		a[k] = v
	}
	return events.Message{Type: events.ContainerEventType, Action: events.Action(action), Actor: events.Actor{ID: string(p.UID), Attributes: a},
		Time: at.Unix(), TimeNano: at.UnixNano()}
}

// Started is the running snapshot: for each pod under test that runs, when its
// containers last started (the latest of them; the kubelet's time, to the second).
// A pod with no running container is left out.
func (r *Runtime) Started(ctx context.Context) (map[string]time.Time, error) {
	pods, err := r.client.CoreV1().Pods(r.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: r.sel.String()})
	if err != nil {
		return nil, explain(err, r.host(), "list the pods of namespace "+r.cfg.Namespace)
	}
	out := map[string]time.Time{}
	for _, p := range pods.Items {
		var at time.Time
		for _, cs := range p.Status.ContainerStatuses {
			if cs.State.Running != nil && cs.State.Running.StartedAt.After(at) {
				at = cs.State.Running.StartedAt.Time
			}
		}
		if !at.IsZero() && p.DeletionTimestamp == nil {
			out[p.Name] = at
		}
	}
	return out, nil
}

// ReadyPod is a pod under test that serves: ready, not terminating, with an IP.
type ReadyPod struct {
	Name string
	IP   string
}

// ReadyPods lists the pods under test that are ready (their Ready condition true),
// not terminating and have an IP, sorted by name; skip-labelled pods are left out.
func (r *Runtime) ReadyPods(ctx context.Context) ([]ReadyPod, error) {
	return r.readyPods(ctx, r.sel.String())
}

// ReadyAPIPods are the ready pods of the API selector (none without one).
func (r *Runtime) ReadyAPIPods(ctx context.Context) ([]ReadyPod, error) {
	if r.cfg.APISelector == "" {
		return nil, nil
	}
	ps, err := r.readyPods(ctx, r.cfg.APISelector)
	if err != nil {
		return nil, err
	}
	under, err := r.readyPods(ctx, r.sel.String())
	if err != nil {
		return nil, err
	}
	// A pod both selectors match is a pod under test, never an API pod.
	return slices.DeleteFunc(ps, func(p ReadyPod) bool {
		return slices.ContainsFunc(under, func(u ReadyPod) bool { return u.Name == p.Name })
	}), nil
}

func (r *Runtime) readyPods(ctx context.Context, selector string) ([]ReadyPod, error) {
	pods, err := r.client.CoreV1().Pods(r.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, explain(err, r.host(), "list the pods of namespace "+r.cfg.Namespace)
	}
	var out []ReadyPod
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil || p.Status.PodIP == "" || p.Labels[LabelSkip] == "true" || !podReady(p) {
			continue
		}
		out = append(out, ReadyPod{Name: p.Name, IP: p.Status.PodIP})
	}
	slices.SortFunc(out, func(a, b ReadyPod) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// The deaths each kind causes, expected on its pod (faults.Expecter): a delete
// SIGKILLs and removes it, a stop lets it exit, a kill SIGKILLs it in place, a
// rollout replaces every pod.
var (
	_ faults.Expecter = (*deleteFault)(nil)
	_ faults.Expecter = (*killFault)(nil)
	_ faults.Expecter = (*rolloutFault)(nil)
)

// ExpectedEvents implements faults.Expecter.
func (*deleteFault) ExpectedEvents() []string { return []string{"die"} }

// ExpectedEvents implements faults.Expecter.
func (*killFault) ExpectedEvents() []string { return []string{"die"} }

// ExpectedEvents implements faults.Expecter.
func (*rolloutFault) ExpectedEvents() []string { return []string{"die"} }

// Replaces reports whether a fault of kind removes its pod for good on Kubernetes,
// the pod's controller starting a replacement under a new name: delete, stop and
// rollout do; kill and partition leave the pod in place.
func Replaces(kind string) bool { return kind == "delete" || kind == "stop" || kind == "rollout" }

// Ping checks that the API server answers (its version endpoint), for the soak's
// dependency watch.
func (r *Runtime) Ping(ctx context.Context) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// ServerVersion takes no context: the client's timeout (kubernetes.timeout) bounds it.
	if _, err := r.client.Discovery().ServerVersion(); err != nil {
		return fmt.Errorf("kubernetes: the API server at %s does not answer: %w", r.host(), err)
	}
	return nil
}
