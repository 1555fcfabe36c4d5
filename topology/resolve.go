package topology

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
)

// DefaultProbeTimeout bounds each look-up and connection attempt of the direct check.
const DefaultProbeTimeout = time.Second

// defaultPorts are the ports of URLs that name none.
var defaultPorts = map[string]string{
	"postgres": "5432", "postgresql": "5432",
	"nats": "4222", "tls": "4222",
	"http": "80", "ws": "80",
	"https": "443", "wss": "443",
}

// Route is how one in-network address is reached from here.
type Route string

const (
	RouteDirect    Route = "direct"    // the name resolves to the container and connects: chaosd runs in the network
	RoutePublished Route = "published" // the container publishes the port on the host
	RouteForwarder Route = "forwarder" // through the forwarder container
)

// Resolver rewrites URLs whose host is a service, container name or alias of a
// compose project so that they connect from where chaosd runs.
type Resolver struct {
	Docker  Docker
	Project string
	Network string // the forwarder's network; "" = the project's
	Binary  string // the forwarder's static chaosd; "" = this process's own
	Log     *zap.Logger
	// ProbeTimeout bounds each look-up and connection of the direct check; 0 =
	// DefaultProbeTimeout.
	ProbeTimeout time.Duration
	// ReadyTimeout bounds the forwarder's start; 0 = DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// ForwardPublished routes published ports through the forwarder too, as if the
	// project published nothing (mesh's own harness publishes only the pods).
	ForwardPublished bool
	// LookupHost and Dial are the direct check's resolver and dialer; nil = the
	// system's (net.DefaultResolver, net.Dialer).
	LookupHost func(ctx context.Context, host string) ([]string, error)
	Dial       func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Resolve rewrites each URL (postgres://, nats://, http://, ...; a comma-separated
// NATS server list and a multi-host Postgres URL too) whose host names a container of
// the project to an address that connects from here, in this order:
//
//   - unchanged, when the name resolves to the container's address and connects (chaosd
//     runs inside the project's network, e.g. in a container of the project);
//   - 127.0.0.1:PORT where the container publishes the port, when the name is one
//     container's;
//   - the forwarder's 127.0.0.1:PORT, for every other one: one forwarder, started once
//     with all of them.
//
// Hosts that are IP addresses, localhost, or no name of the project's are left as they
// are, and so are URLs without a scheme; user, password, path and query are kept byte
// for byte. The forwarder is nil when none was needed; the caller closes it.
func (r Resolver) Resolve(ctx context.Context, urls ...string) ([]string, *Forwarder, error) {
	log := r.Log
	if log == nil {
		log = zap.NewNop()
	}
	parsed := make([][]urlParts, len(urls))
	var names []*endpoint
	for i, raw := range urls {
		parsed[i] = splitList(raw)
		names = append(names, namedEndpoints(parsed[i])...)
	}
	out := slices.Clone(urls)
	if len(names) == 0 || r.Project == "" {
		return out, nil, nil
	}
	t, err := Discover(ctx, r.Docker, r.Project)
	if err != nil {
		return nil, nil, fmt.Errorf("resolve addresses: %w", err)
	}
	routes, targets := r.plan(ctx, t, names, log)
	var fw *Forwarder
	if len(targets) > 0 {
		if fw, err = r.forward(ctx, t, targets, log); err != nil {
			return nil, nil, fmt.Errorf("resolve addresses: %w", err)
		}
		for _, tg := range targets {
			routes[tg], _ = fw.Addr(tg)
			logRoute(log, tg, RouteForwarder, routes[tg])
		}
	}
	for i, ps := range parsed {
		if rewrite(ps, routes) {
			out[i] = joinList(ps)
		}
	}
	return out, fw, nil
}

func namedEndpoints(ps []urlParts) []*endpoint {
	var out []*endpoint
	for _, p := range ps {
		for _, ep := range p.hosts {
			if ep.named() {
				out = append(out, ep)
			}
		}
	}
	return out
}

// plan routes each endpoint that names a container of t: routes maps its host:port
// to the address to use ("" until the forwarder runs), targets are those to forward,
// in first-seen order.
func (r Resolver) plan(ctx context.Context, t Topology, names []*endpoint, log *zap.Logger) (map[string]string, []string) {
	routes := map[string]string{}
	var targets []string
	for _, ep := range names {
		target := net.JoinHostPort(ep.host, ep.port)
		if _, done := routes[target]; done {
			continue
		}
		cs := t.Lookup(ep.host)
		if len(cs) == 0 {
			continue // not the project's: left as it is
		}
		route, addr := r.route(ctx, t, cs, ep)
		routes[target] = addr
		if route == RouteForwarder {
			targets = append(targets, target)
			continue // logged once the forwarder runs
		}
		logRoute(log, target, route, addr)
	}
	return routes, targets
}

// forward starts the forwarder for targets on r.Network, else the project's.
func (r Resolver) forward(ctx context.Context, t Topology, targets []string, log *zap.Logger) (*Forwarder, error) {
	netName := r.Network
	if netName == "" {
		var err error
		if netName, err = t.JoinNetwork(); err != nil {
			return nil, err
		}
	}
	return StartForwarder(ctx, r.Docker, ForwarderOptions{
		Project: r.Project, Network: netName, Targets: targets, Binary: r.Binary, ReadyTimeout: r.ReadyTimeout, Log: log,
	})
}

// logRoute logs how target is reached: host:port only, never a URL (they carry
// passwords).
func logRoute(log *zap.Logger, target string, route Route, addr string) {
	log.Debug("address route", zap.String("target", target), zap.String("route", string(route)), zap.String("addr", addr))
}

// route decides how ep, a name of the containers cs, is reached; addr is "" for
// the forwarder.
func (r Resolver) route(ctx context.Context, t Topology, cs []Container, ep *endpoint) (Route, string) {
	target := net.JoinHostPort(ep.host, ep.port)
	if r.direct(ctx, t, ep.host, ep.port) {
		return RouteDirect, target
	}
	if len(cs) == 1 && !r.ForwardPublished {
		if a, ok := cs[0].Ports[ep.port+"/tcp"]; ok {
			return RoutePublished, a
		}
	}
	return RouteForwarder, ""
}

// direct reports whether host resolves here to the address of one of the project's
// containers and host:port connects. Nothing is dialled that is not the project's.
func (r Resolver) direct(ctx context.Context, t Topology, host, port string) bool {
	timeout := r.ProbeTimeout
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	lookup, dial := r.LookupHost, r.Dial
	if lookup == nil {
		lookup = net.DefaultResolver.LookupHost
	}
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ips, err := lookup(lctx, host)
	if err != nil {
		return false
	}
	for _, s := range ips {
		ip, err := netip.ParseAddr(s)
		if err != nil || !t.owns(ip) {
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, timeout)
		c, err := dial(dctx, "tcp", net.JoinHostPort(s, port))
		cancel()
		if err == nil {
			_ = c.Close()
			return true
		}
	}
	return false
}

// urlParts is a URL cut around its hosts, so that a rewrite changes nothing else.
type urlParts struct {
	prefix string      // scheme://userinfo@
	hosts  []*endpoint // the authority's comma-separated host[:port] items
	suffix string      // /path?query#fragment
}

// endpoint is one host[:port] item of a URL.
type endpoint struct {
	raw        string // as written
	host, port string // port is the scheme's default when none is written
	rewritten  string // the replacement; "" = unchanged
}

// named reports whether the endpoint's host is a name that may be a container's: not
// an IP address, not localhost, and with a port known.
func (e *endpoint) named() bool {
	if e.host == "" || e.port == "" {
		return false
	}
	if _, err := netip.ParseAddr(e.host); err == nil {
		return false
	}
	h := strings.ToLower(e.host)
	return h != "localhost" && !strings.HasSuffix(h, ".localhost")
}

// splitList splits a comma-separated list of URLs (a NATS server list) or one URL.
func splitList(raw string) []urlParts {
	items := strings.Split(raw, ",")
	list := len(items) > 1
	for _, it := range items {
		list = list && strings.Contains(it, "://")
	}
	if !list {
		items = []string{raw}
	}
	out := make([]urlParts, len(items))
	for i, it := range items {
		out[i] = splitURL(it)
	}
	return out
}

// splitURL cuts scheme://userinfo@host1[:port1],host2[:port2]/rest. A string that is
// not of that form keeps no hosts and is rewritten to itself.
func splitURL(raw string) urlParts {
	i := strings.Index(raw, "://")
	if i <= 0 {
		return urlParts{prefix: raw}
	}
	scheme := strings.ToLower(raw[:i])
	rest := raw[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	auth, suffix := rest[:end], rest[end:]
	at := strings.LastIndex(auth, "@")
	p := urlParts{prefix: raw[:i+3] + auth[:at+1], suffix: suffix}
	for _, h := range strings.Split(auth[at+1:], ",") {
		p.hosts = append(p.hosts, parseEndpoint(h, defaultPorts[scheme]))
	}
	return p
}

func parseEndpoint(raw, defPort string) *endpoint {
	e := &endpoint{raw: raw, host: raw, port: defPort}
	if h, p, err := net.SplitHostPort(raw); err == nil {
		e.host, e.port = h, p
	} else if strings.HasPrefix(raw, "[") {
		e.host = strings.Trim(raw, "[]")
	}
	return e
}

// rewrite sets each endpoint's replacement from routes and reports whether any
// changed.
func rewrite(ps []urlParts, routes map[string]string) bool {
	changed := false
	for _, p := range ps {
		for _, ep := range p.hosts {
			if !ep.named() {
				continue
			}
			target := net.JoinHostPort(ep.host, ep.port)
			if addr := routes[target]; addr != "" && addr != target {
				ep.rewritten, changed = addr, true
			}
		}
	}
	return changed
}

func joinList(ps []urlParts) string {
	items := make([]string, len(ps))
	for i, p := range ps {
		hosts := make([]string, len(p.hosts))
		for j, ep := range p.hosts {
			hosts[j] = ep.raw
			if ep.rewritten != "" {
				hosts[j] = ep.rewritten
			}
		}
		items[i] = p.prefix + strings.Join(hosts, ",") + p.suffix
	}
	return strings.Join(items, ",")
}
