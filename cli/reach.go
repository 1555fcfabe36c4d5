package cli

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"go.uber.org/zap"

	"github.com/chaosd/chaosd/config"
	"github.com/chaosd/chaosd/faults"
	"github.com/chaosd/chaosd/kube"
	"github.com/chaosd/chaosd/preflight"
	"github.com/chaosd/chaosd/probes"
	"github.com/chaosd/chaosd/topology"
)

// targetView is the cluster as chaosd found it: the selector's containers, the
// configuration with every address made reachable from here, and what that took.
type targetView struct {
	cfg        config.Config // resolved: pods' URLs from Docker when not configured, addresses through the forwarder
	members    []faults.Member
	membersErr error
	projects   []string
	reach      string // how the cluster is reached, for the preflight table
	reachErr   error
	closeFwd   func() // removes the forwarder, if one was started
}

func (v *targetView) close() {
	if v.closeFwd != nil {
		v.closeFwd()
		v.closeFwd = nil
	}
}

// viewTarget lists the selector's containers and makes the configured addresses
// reachable from here: pods found in Docker when workload.pods is empty (their
// published port, else through the forwarder), and Postgres, NATS and pods whose
// address names a compose service that this host cannot reach directly through a
// forwarder container in the project's network, published on 127.0.0.1 only.
func viewTarget(ctx context.Context, env *faultEnv) *targetView {
	if env.kube != nil {
		return viewKube(ctx, env)
	}
	v := &targetView{cfg: env.cfg}
	v.members, v.membersErr = env.deps.Selector.List(ctx, env.docker)
	v.projects = composeProjects(ctx, env)
	if v.membersErr != nil || len(v.members) == 0 {
		return v // the preflight's containers check says why
	}
	v.cfg.Workload.Pods = slices.Clone(podURLs(env.cfg, v.members))
	if err := namePods(v.cfg.Workload.Pods, v.members, env.cfg.Selector.Project); err != nil {
		v.reachErr = err
		return v
	}
	v.resolveAddresses(ctx, env)
	return v
}

// namePods names the pods given by a bare URL (--pods, CHAOSD_PODS as deploy/cluster.sh
// env prints them) after the selector's pod container that publishes the URL's port
// on the host; a URL no pod publishes is an error that says how to name it.
func namePods(pods []config.PodURL, ms []faults.Member, project string) error {
	var errs []string
	for i, p := range pods {
		if p.Name != "" {
			continue
		}
		u, err := url.Parse(p.URL)
		port := ""
		if err == nil {
			port = u.Port()
			if port == "" && u.Scheme == "https" {
				port = "443"
			} else if port == "" {
				port = "80"
			}
		}
		var found []string
		for _, m := range ms {
			if m.Infra || m.Skipped {
				continue
			}
			for _, mp := range m.Ports {
				if mp.PublicPort != 0 && strconv.Itoa(int(mp.PublicPort)) == port && !slices.Contains(found, m.Pod) {
					found = append(found, m.Pod)
				}
			}
		}
		switch len(found) {
		case 1:
			pods[i].Name = found[0]
		case 0:
			errs = append(errs, fmt.Sprintf("%s: no pod container of project %s publishes port %s; name it: --pods NAME=URL,... (or workload.pods)", p.URL, orDash(project), orDash(port)))
		default:
			errs = append(errs, fmt.Sprintf("%s: port %s is published by pods %s; name it: --pods NAME=URL,...", p.URL, port, strings.Join(found, ", ")))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("workload.pods: %s", strings.Join(errs, "; "))
	}
	return nil
}

// podURLs are the configured pods or, when none are configured, the selector's pods
// at service:port as seen inside the project's network (resolveAddresses then routes
// them: a published port, else the forwarder).
func podURLs(cfg config.Config, ms []faults.Member) []config.PodURL {
	if len(cfg.Workload.Pods) > 0 {
		return cfg.Workload.Pods
	}
	var out []config.PodURL
	for _, m := range ms {
		if m.Infra || m.Skipped {
			continue
		}
		out = append(out, config.PodURL{Name: m.Pod, URL: "http://" + net.JoinHostPort(orDash(m.Service), strconv.Itoa(cfg.Pods.Port))})
	}
	return out
}

// resolveAddresses makes Postgres, NATS and the pods reachable from here
// (topology.Resolver): an address naming one of the project's containers stays as
// it is when it connects (chaosd inside the project's network), else goes to the
// port the container publishes on the host, else through one forwarder container.
func (v *targetView) resolveAddresses(ctx context.Context, env *faultEnv) {
	c := &v.cfg
	urls := []string{c.Postgres.DSN, c.Workload.NATS}
	for _, p := range c.Workload.Pods {
		urls = append(urls, p.URL)
	}
	r := topology.Resolver{Docker: env.docker, Project: c.Selector.Project, Log: env.log.Named("reach")}
	out, fwd, err := r.Resolve(ctx, urls...)
	if err != nil {
		v.reachErr = err
		return
	}
	c.Postgres.DSN, c.Workload.NATS = out[0], out[1]
	for i := range c.Workload.Pods {
		c.Workload.Pods[i].URL = out[2+i]
	}
	if fwd == nil {
		v.reach = "directly: " + reachSummary(v.cfg)
		return
	}
	v.closeFwd = func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		if err := fwd.Close(cctx); err != nil {
			env.log.Warn("remove the forwarder", zap.String("container", fwd.Name()), zap.Error(err))
		}
	}
	v.reach = fmt.Sprintf("through forwarder %s on 127.0.0.1: %s", fwd.Name(), reachSummary(v.cfg))
	env.log.Info("reaching the cluster through a forwarder", zap.String("container", fwd.Name()))
}

func reachSummary(cfg config.Config) string {
	hosts := []string{hostPort(cfg.Postgres.DSN), hostPort(cfg.Workload.NATS)}
	for _, p := range cfg.Workload.Pods {
		hosts = append(hosts, hostPort(p.URL))
	}
	return strings.Join(hosts, ", ")
}

func hostPort(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "?"
	}
	return u.Host
}

// composeProjects lists the compose projects with containers on this Docker.
func composeProjects(ctx context.Context, env *faultEnv) []string {
	cs, err := env.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", faults.LabelProject))})
	if err != nil {
		return nil
	}
	var out []string
	for _, c := range cs {
		if p := c.Labels[faults.LabelProject]; p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// runPreflight views the target and checks the profile against it.
func runPreflight(ctx context.Context, env *faultEnv, opts preflight.Options) (*targetView, preflight.Report, error) {
	v := viewTarget(ctx, env)
	d, err := probes.NewDriver(probes.DriverConfig{AttachRoute: v.cfg.Workload.AttachRoute, RequestTimeout: 10 * time.Second})
	if err != nil {
		v.close()
		return nil, preflight.Report{}, err
	}
	t := preflight.Target{Cfg: v.cfg, Members: v.members, MembersErr: v.membersErr, Projects: v.projects,
		Reach: v.reach, ReachErr: v.reachErr, Driver: d}
	if env.kube != nil {
		t.Kube = fmt.Sprintf("namespace %s, selector %s", env.kube.Namespace(), env.cfg.Kubernetes.Selector)
	}
	rep := preflight.Run(ctx, t, opts)
	return v, rep, nil
}

// viewKube is viewTarget on Kubernetes: the selector's pods, and when workload.pods
// is empty the ready ones. They are reached as kubernetes.reach says: at their pod
// IPs with Postgres and NATS at their configured addresses (direct: chaosd on a node
// or in a pod; mesh's charts have no headless Service), or each through a port-forward
// on 127.0.0.1, Postgres and NATS through one to a ready pod of the Service their
// address names (port-forward: chaosd outside the cluster's network); auto tries a pod
// IP first.
func viewKube(ctx context.Context, env *faultEnv) *targetView {
	v := &targetView{cfg: env.cfg}
	v.members, v.membersErr = env.kube.List(ctx)
	if v.membersErr != nil || len(v.members) == 0 {
		return v
	}
	ready, err := env.kube.ReadyPods(ctx)
	if err != nil {
		v.reachErr = err
		return v
	}
	reach := env.cfg.Kubernetes.Reach
	if reach == "" || reach == config.ReachAuto {
		reach = config.ReachPortForward
		if len(ready) > 0 && kube.Reaches(ctx, net.JoinHostPort(ready[0].IP, strconv.Itoa(env.cfg.Pods.Port)), 2*time.Second) {
			reach = config.ReachDirect
		}
	}
	if reach == config.ReachPortForward {
		env.fwd = env.kube.NewForwarder()
		c := &v.cfg
		for _, a := range []*string{&c.Postgres.DSN, &c.Workload.NATS} {
			if *a, err = forwardURL(ctx, env.fwd, *a); err != nil {
				v.reachErr = err
				return v
			}
		}
	}
	if len(v.cfg.Workload.Pods) == 0 {
		pods, err := kubePods(ctx, env, ready)
		if err != nil {
			v.reachErr = err
			return v
		}
		v.cfg.Workload.Pods = pods
	}
	if len(v.cfg.Workload.APIPods) == 0 && v.cfg.Kubernetes.APISelector != "" {
		api, err := env.kube.ReadyAPIPods(ctx)
		if err == nil && len(api) == 0 {
			err = fmt.Errorf("kubernetes.api_selector %q: no ready pod in namespace %s", v.cfg.Kubernetes.APISelector, v.cfg.Kubernetes.Namespace)
		}
		if err == nil {
			v.cfg.Workload.APIPods, err = kubePods(ctx, env, api)
		}
		if err != nil {
			v.reachErr = err
			return v
		}
	}
	how := "directly (pod IPs and the configured addresses)"
	if env.fwd != nil {
		how = "through port-forwards on 127.0.0.1 (the API server's pods/portforward)"
	}
	v.reach = how + ": " + reachSummary(v.cfg)
	return v
}

// forwardURL rewrites a URL (a DSN, nats://...) to a local port forwarded to the
// Service its host:port names.
func forwardURL(ctx context.Context, fwd *kube.Forwarder, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("port-forward: %q is not a URL with a host", raw)
	}
	local, err := fwd.Service(ctx, u.Host)
	if err != nil {
		return "", err
	}
	u.Host = local
	return u.String(), nil
}

// kubePods are the ready pods under test as the workload's pods: at their pod IPs, or
// through port-forwards (faultEnv.fwd). ready nil: listed now.
func kubePods(ctx context.Context, env *faultEnv, ready []kube.ReadyPod) ([]config.PodURL, error) {
	if ready == nil {
		var err error
		if ready, err = env.kube.ReadyPods(ctx); err != nil {
			return nil, err
		}
	}
	out := make([]config.PodURL, 0, len(ready))
	for _, p := range ready {
		addr := net.JoinHostPort(p.IP, strconv.Itoa(env.cfg.Pods.Port))
		if env.fwd != nil {
			local, err := env.fwd.Pod(ctx, p.Name, env.cfg.Pods.Port)
			if err != nil {
				return nil, err
			}
			addr = local
		}
		out = append(out, config.PodURL{Name: p.Name, URL: "http://" + addr})
	}
	return out, nil
}
