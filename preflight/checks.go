package preflight

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/chaosd/chaosd/config"
	"github.com/chaosd/chaosd/faults"
	"github.com/chaosd/chaosd/probes"
)

// Target is what the preflight checks: the resolved configuration (pods' URLs,
// Postgres and NATS as chaosd reaches them from here) and what Docker said.
type Target struct {
	Cfg        config.Config
	Members    []faults.Member // the selector's containers
	MembersErr error           // Docker could not list them
	Projects   []string        // the compose projects on this Docker, for the fix
	Reach      string          // how chaosd reaches the cluster (published ports, a forwarder, ...)
	ReachErr   error           // the cluster could not be reached from here
	Driver     *probes.Driver
	// Kube, on Kubernetes, says where the pods are ("namespace chaosd-testbed,
	// selector component=worker"): Members are then those pods, and the Docker
	// checks (compose project, services) are not made. "" on Docker.
	Kube string
}

// Options tune the preflight.
type Options struct {
	// Run drives one short run through the cluster (bootstrap, run, attach, owner,
	// buffer, mock LLM); false checks only what can be read without writing.
	Run bool
	// Hint is the run's mockai hint (default slow:10x250: long enough to read its
	// owner while it is in progress).
	Hint string
	// Cadence watches the heartbeat keys for up to 2.5 refresh intervals.
	Cadence bool
	// Timeout bounds each network step (default 10 s).
	Timeout time.Duration
}

func (o Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return 10 * time.Second
}

// Run checks every assumption of t's profile against the live cluster.
func Run(ctx context.Context, t Target, opts Options) Report {
	start := time.Now()
	r := &Report{Target: t.Cfg.Target}
	c := &checks{t: t, o: opts, r: r}
	switch {
	case c.t.Kube != "":
		if c.kubePods() {
			c.pods()
		}
	case c.docker():
		c.pods()
		c.infra()
	}
	c.reach()
	c.health()
	pgOK := c.postgres(ctx)
	c.nats(ctx)
	if opts.Run {
		c.run(ctx, pgOK)
	}
	c.finishCadence()
	r.Took = time.Since(start)
	return *r
}

type checks struct {
	t       Target
	o       Options
	r       *Report
	ready   []string // URLs of the pods that answered ready
	cadence chan Result
	nc      *natsConn
}

func (c *checks) cfg() config.Config { return c.t.Cfg }

func (c *checks) docker() bool {
	sel := c.cfg().Selector
	want := "compose project " + sel.Project
	if sel.Project == "" {
		want = fmt.Sprintf("containers labelled %v", sel.Labels)
	}
	switch {
	case c.t.MembersErr != nil:
		c.r.mismatch("containers", want, c.t.MembersErr.Error(), "start the Docker daemon, or point chaosd at it (--docker-host, DOCKER_HOST)")
		return false
	case len(c.t.Members) == 0:
		fix := "boot the cluster, or name its project (--compose-project)"
		if len(c.t.Projects) > 0 {
			fix = fmt.Sprintf("running compose projects: %s; name yours with --compose-project, or pick the profile that fits: chaosd doctor --suggest", strings.Join(c.t.Projects, ", "))
		}
		c.r.mismatch("containers", want, "no container of it on this Docker", fix)
		return false
	}
	var svcs []string
	for _, m := range c.t.Members {
		svcs = append(svcs, fmt.Sprintf("%s(%s)", orName(m.Service, m.Name), m.State))
	}
	c.r.ok("containers", want, strings.Join(svcs, " "))
	return true
}

// kubePods is docker's check on Kubernetes: the selector's pods could be listed, and
// there are some.
func (c *checks) kubePods() bool {
	want := "the pods of " + c.t.Kube
	switch {
	case c.t.MembersErr != nil:
		c.r.mismatch("containers", want, c.t.MembersErr.Error(), "check kubernetes.kubeconfig, kubernetes.context and chaosd's RBAC Role (deploy/helm/chaosd)")
		return false
	case len(c.t.Members) == 0:
		c.r.mismatch("containers", want, "no pod matches", "deploy the target, or fix kubernetes.namespace and kubernetes.selector (mesh's chart: component=worker)")
		return false
	}
	var ps []string
	for _, m := range c.t.Members {
		ps = append(ps, fmt.Sprintf("%s(%s)", m.Pod, m.State))
	}
	c.r.ok("containers", want, strings.Join(ps, " "))
	return true
}

// podMembers are the members that are pods: not infrastructure, not skip-labelled.
func (c *checks) podMembers() []faults.Member {
	var out []faults.Member
	for _, m := range c.t.Members {
		if !m.Infra && !m.Skipped {
			out = append(out, m)
		}
	}
	return out
}

func (c *checks) pods() {
	cfg := c.cfg()
	want := fmt.Sprintf("pods = the project's services but %s, at least 2, each running, named by %s", strings.Join(cfg.Selector.Infra, ", "), cfg.Pods.NameFrom)
	if c.t.Kube != "" {
		want = "pods = the pods of " + c.t.Kube + ", at least 2, each running, named by metadata.name (POD_NAME)"
	}
	pods := c.podMembers()
	var names, down []string
	for _, m := range pods {
		names = append(names, m.Pod)
		if m.State != "running" {
			down = append(down, fmt.Sprintf("%s is %s", m.Pod, m.State))
		}
	}
	var missing []string
	for _, p := range cfg.Workload.Pods {
		if !slices.Contains(names, p.Name) {
			missing = append(missing, p.Name)
		}
	}
	obs := fmt.Sprintf("%d pods: %s", len(pods), strings.Join(names, ", "))
	switch {
	case len(pods) < 2:
		c.r.mismatch("pods", want, obs, "chaosd needs a pod to fault and one to survive; list the infrastructure services in selector.infra so that the rest are pods")
	case len(missing) > 0:
		c.r.mismatch("pods", want+"; workload.pods named "+strings.Join(missing, ", "), obs,
			"no container has that pod name: fix workload.pods, or pods.name_from (the profile says "+cfg.Pods.NameFrom+")")
	case len(down) > 0:
		c.r.mismatch("pods", want, obs+"; "+strings.Join(down, ", "), "start every pod before a fault (docker start, or boot the cluster again): a pod already down would be blamed on the fault")
	default:
		c.r.ok("pods", want, obs)
	}
}

// infra checks that each service the profile's addresses name (Postgres, NATS, the
// mock LLM) is a running container of the project, when the address names one.
func (c *checks) infra() {
	cfg := c.cfg()
	for _, a := range []struct{ what, raw, field string }{
		{"postgres", cfg.Postgres.DSN, "postgres.dsn"},
		{"nats", cfg.Workload.NATS, "workload.nats"},
		{"mock LLM", cfg.Workload.ProviderURL, "workload.provider_url"},
	} {
		host := hostOf(a.raw)
		if host == "" || isLoopbackOrIP(host) {
			continue
		}
		m, ok := c.service(host)
		assumes := fmt.Sprintf("%s is the project's service %s (%s)", a.what, host, a.field)
		switch {
		case !ok:
			c.r.mismatch("service "+host, assumes, "no container of the project is named "+host+"; services: "+strings.Join(c.services(), ", "),
				fmt.Sprintf("set %s to the service's name, or pick the profile that fits (chaosd doctor --suggest)", a.field))
		case m.State != "running":
			c.r.mismatch("service "+host, assumes, host+" is "+m.State, "start "+m.Name)
		default:
			c.r.ok("service "+host, assumes, host+" runs ("+m.Name+")")
		}
	}
}

func (c *checks) service(name string) (faults.Member, bool) {
	for _, m := range c.t.Members {
		if m.Service == name || m.Name == name || m.Pod == name {
			return m, true
		}
	}
	return faults.Member{}, false
}

func (c *checks) services() []string {
	var out []string
	for _, m := range c.t.Members {
		if s := orName(m.Service, m.Name); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func (c *checks) reach() {
	if c.t.ReachErr != nil {
		c.r.mismatch("reach", "chaosd reaches the pods, Postgres and NATS from here", c.t.ReachErr.Error(),
			"publish the ports, run chaosd inside the project's network, or let it start its forwarder (it needs the project's network and a static chaosd)")
		return
	}
	if c.t.Reach != "" {
		c.r.ok("reach", "chaosd reaches the pods, Postgres and NATS from here", c.t.Reach)
	}
}

func (c *checks) health() {
	pods := c.cfg().Workload.Pods
	if len(pods) == 0 {
		c.r.skip("health", "each pod answers /health/live and /health/ready", "no pod to ask")
		return
	}
	for _, p := range pods {
		c.podHealth(p)
	}
}

func (c *checks) podHealth(p config.PodURL) {
	ctx, cancel := context.WithTimeout(context.Background(), c.o.timeout())
	defer cancel()
	assumes := fmt.Sprintf("GET %s/health/live and /health/ready answer 200", p.URL)
	live := c.t.Driver.Live(ctx, p.URL)
	rd := c.t.Driver.Ready(ctx, p.URL)
	switch {
	case live != nil:
		c.r.mismatch("health "+p.Name, assumes, "live: "+live.Error(), "start the pod, or fix its URL (workload.pods; the profile's pods.port)")
	case !rd.Ready:
		obs := fmt.Sprintf("ready: status %q postgres %q nats %q %s", rd.Status, rd.Postgres, rd.NATS, rd.Err)
		c.r.mismatch("health "+p.Name, assumes, obs, "wait until the pod is ready (it boots in about "+c.cfg().Pods.BootTime.String()+"), or fix what it reports")
	default:
		c.ready = append(c.ready, p.URL)
		c.r.ok("health "+p.Name, assumes, fmt.Sprintf("live, ready (postgres %s, nats %s)", rd.Postgres, rd.NATS))
	}
}

func orName(s, name string) string {
	if s != "" {
		return s
	}
	return name
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

func isLoopbackOrIP(host string) bool {
	if host == "localhost" {
		return true
	}
	_, err := parseIP(host)
	return err == nil
}
