package faults

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// Labels chaosd reads.
const (
	LabelProject = "com.docker.compose.project"
	LabelService = "com.docker.compose.service"
	// LabelSkip on a container set to "true" keeps chaosd's hands off it, always.
	LabelSkip = "chaosd.skip"
)

// Target is a container chaosd hurts, as recorded in the ledger.
type Target struct {
	ID      string `json:"id"`
	Name    string `json:"name"`              // container name, without the leading slash
	Pod     string `json:"pod"`               // its pod name by the mapping rule (mesh's POD_NAME)
	Service string `json:"service,omitempty"` // compose service
	Infra   bool   `json:"infra,omitempty"`   // postgres, nats, mockai...: hurt only when named
}

func (t Target) String() string {
	if t.ID == EveryPod {
		return "every pod (" + t.Name + ")"
	}
	return fmt.Sprintf("%s (container %s %.12s)", t.Pod, t.Name, t.ID)
}

// EveryPod is the pod name and container id of the target of a fault that hits every
// pod in turn (rollout), in the ledger and the history; its name lists the pods.
const EveryPod = "all"

func everyPod(pods []string) Target {
	return Target{ID: EveryPod, Name: strings.Join(pods, ", "), Pod: EveryPod}
}

// Member is a container matched by the selector.
type Member struct {
	Target
	State   string                // running, paused, exited, ...
	Skipped bool                  // labelled chaosd.skip=true: never touched
	Ports   []container.Port      // exposed and published ports
	IPs     map[string]netip.Addr // network name -> the container's address on it
}

// Running reports whether the member runs and is not paused.
func (m Member) Running() bool { return m.State == "running" }

// Selector says which containers chaosd may ever touch: those of a compose project
// and/or carrying all of Labels, never one labelled chaosd.skip=true. Pods named in
// Infra (postgres, nats, the mock LLM) are touched only when named explicitly.
type Selector struct {
	Project string
	Labels  map[string]string
	Infra   []string
	PodName PodNameRule
}

// PodNameRule maps a container to its pod name: a label's value, an environment
// variable of the container (mesh's POD_NAME), or the container name.
type PodNameRule struct {
	From string // "label", "env" or "name"
	Key  string // the label or variable
}

// DefaultPodNameRule is the compose service, which equals POD_NAME in mesh's harness.
var DefaultPodNameRule = PodNameRule{From: "label", Key: LabelService}

// ParsePodNameRule parses "label:KEY", "env:VAR" or "name".
func ParsePodNameRule(s string) (PodNameRule, error) {
	from, key, _ := strings.Cut(s, ":")
	switch {
	case s == "name":
		return PodNameRule{From: "name"}, nil
	case (from == "label" || from == "env") && key != "":
		return PodNameRule{From: from, Key: key}, nil
	}
	return PodNameRule{}, fmt.Errorf("pod name rule %q: want label:KEY, env:VAR or name", s)
}

func (r PodNameRule) String() string {
	if r.From == "name" {
		return "name"
	}
	return r.From + ":" + r.Key
}

// Empty reports whether the selector would match every container on the host.
func (s Selector) Empty() bool { return s.Project == "" && len(s.Labels) == 0 }

// filters are the Docker label filters of the selector.
func (s Selector) filters() filters.Args {
	f := filters.NewArgs()
	if s.Project != "" {
		f.Add("label", LabelProject+"="+s.Project)
	}
	for k, v := range s.Labels {
		f.Add("label", k+"="+v)
	}
	return f
}

type listInspector interface {
	lister
	inspector
}

// List returns every container the selector matches, running or not, sorted by pod
// name. Skip-labelled containers are included, marked Skipped, so that a request
// naming one can be refused by name.
func (s Selector) List(ctx context.Context, c listInspector) ([]Member, error) {
	if s.Empty() {
		return nil, fmt.Errorf("selector: no compose project and no labels: it would match every container")
	}
	cs, err := c.ContainerList(ctx, container.ListOptions{All: true, Filters: s.filters()})
	if err != nil {
		return nil, fmt.Errorf("docker: list containers: %w", err)
	}
	ms := make([]Member, 0, len(cs))
	for _, cs := range cs {
		m, err := s.member(ctx, c, cs)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool {
		return ms[i].Pod < ms[j].Pod || (ms[i].Pod == ms[j].Pod && ms[i].Name < ms[j].Name)
	})
	return ms, nil
}

func (s Selector) member(ctx context.Context, c inspector, cs container.Summary) (Member, error) {
	m := Member{
		Target: Target{ID: cs.ID, Name: containerName(cs.Names), Service: cs.Labels[LabelService]},
		State:  cs.State, Skipped: cs.Labels[LabelSkip] == "true", Ports: cs.Ports, IPs: map[string]netip.Addr{},
	}
	if cs.NetworkSettings != nil {
		for name, ep := range cs.NetworkSettings.Networks {
			if a, err := netip.ParseAddr(ep.IPAddress); err == nil {
				m.IPs[name] = a
			}
		}
	}
	pod, err := s.podName(ctx, c, cs, m.Name)
	if err != nil {
		return m, err
	}
	m.Pod = pod
	m.Infra = slices.Contains(s.Infra, pod) || slices.Contains(s.Infra, m.Service)
	return m, nil
}

func (s Selector) podName(ctx context.Context, c inspector, cs container.Summary, name string) (string, error) {
	switch s.PodName.From {
	case "label":
		if v := cs.Labels[s.PodName.Key]; v != "" {
			return v, nil
		}
	case "env":
		ci, err := inspect(ctx, c, cs.ID)
		if err != nil {
			return "", err
		}
		if ci.Config != nil {
			for _, kv := range ci.Config.Env {
				if k, v, _ := strings.Cut(kv, "="); k == s.PodName.Key && v != "" {
					return v, nil
				}
			}
		}
	}
	return name, nil // no label or variable: the container name stands in
}

func containerName(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return strings.TrimPrefix(names[0], "/")
}

// find returns the member called name: its pod name, compose service, container
// name, or an id prefix of at least 12 characters.
func find(ms []Member, name string) ([]Member, bool) {
	var out []Member
	for _, m := range ms {
		if m.Pod == name || m.Service == name || m.Name == name || (len(name) >= 12 && strings.HasPrefix(m.ID, name)) {
			out = append(out, m)
		}
	}
	return out, len(out) > 0
}
