package topology

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fakeDocker is a function-field fake of the Docker slices topology uses. A nil field
// fails the test when called, so each test states what it expects Docker to see.
type fakeDocker struct {
	t       *testing.T
	list    func(opts container.ListOptions) ([]container.Summary, error)
	inspect func(id string) (container.InspectResponse, error)
	imgInsp func(id string) (image.InspectResponse, error)
	build   func(ctx io.Reader, opts build.ImageBuildOptions) (build.ImageBuildResponse, error)
	create  func(cfg *container.Config, host *container.HostConfig, net *network.NetworkingConfig, name string) (container.CreateResponse, error)
	start   func(id string) error
	remove  func(id string, opts container.RemoveOptions) error
	logs    func(id string) (io.ReadCloser, error)
}

var _ Docker = (*fakeDocker)(nil)

func (f *fakeDocker) unexpected(call string) error {
	f.t.Helper()
	f.t.Errorf("unexpected Docker call %s", call)
	return errors.New("unexpected call " + call)
}

func (f *fakeDocker) ContainerList(_ context.Context, o container.ListOptions) ([]container.Summary, error) {
	if f.list == nil {
		return nil, f.unexpected("ContainerList")
	}
	return f.list(o)
}

func (f *fakeDocker) ContainerInspect(_ context.Context, id string) (container.InspectResponse, error) {
	if f.inspect == nil {
		return container.InspectResponse{}, f.unexpected("ContainerInspect")
	}
	return f.inspect(id)
}

func (f *fakeDocker) ImageInspect(_ context.Context, id string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	if f.imgInsp == nil {
		return image.InspectResponse{}, f.unexpected("ImageInspect")
	}
	return f.imgInsp(id)
}

func (f *fakeDocker) ImageBuild(_ context.Context, r io.Reader, o build.ImageBuildOptions) (build.ImageBuildResponse, error) {
	if f.build == nil {
		return build.ImageBuildResponse{}, f.unexpected("ImageBuild")
	}
	return f.build(r, o)
}

func (f *fakeDocker) ContainerCreate(_ context.Context, cfg *container.Config, host *container.HostConfig, n *network.NetworkingConfig, _ *ocispec.Platform, name string) (container.CreateResponse, error) {
	if f.create == nil {
		return container.CreateResponse{}, f.unexpected("ContainerCreate")
	}
	return f.create(cfg, host, n, name)
}

func (f *fakeDocker) ContainerStart(_ context.Context, id string, _ container.StartOptions) error {
	if f.start == nil {
		return f.unexpected("ContainerStart")
	}
	return f.start(id)
}

func (f *fakeDocker) ContainerRemove(_ context.Context, id string, o container.RemoveOptions) error {
	if f.remove == nil {
		return f.unexpected("ContainerRemove")
	}
	return f.remove(id, o)
}

func (f *fakeDocker) ContainerLogs(_ context.Context, id string, _ container.LogsOptions) (io.ReadCloser, error) {
	if f.logs == nil {
		return nil, f.unexpected("ContainerLogs")
	}
	return f.logs(id)
}

// box is a container of the fake project.
type box struct {
	id, name, service, state string
	exit                     int
	health                   string
	labels                   map[string]string
	nets                     map[string]string   // network -> IPv4
	aliases                  []string            // on every network
	ports                    map[string][]string // "3000/tcp" -> host IP, host port
}

func (b box) summary() container.Summary {
	return container.Summary{ID: b.id, Names: []string{"/" + b.name}, Labels: b.labels, State: b.state}
}

func (b box) inspect() container.InspectResponse {
	ci := container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{
			ID: b.id, Name: "/" + b.name,
			State: &container.State{Status: b.state, Running: b.state == "running", ExitCode: b.exit},
		},
		Config:          &container.Config{Labels: b.labels},
		NetworkSettings: &container.NetworkSettings{Networks: map[string]*network.EndpointSettings{}},
	}
	if b.health != "" {
		ci.State.Health = &container.Health{Status: b.health}
	}
	for n, ip := range b.nets {
		ci.NetworkSettings.Networks[n] = &network.EndpointSettings{IPAddress: ip, Aliases: append([]string{b.service, b.id[:12]}, b.aliases...)}
	}
	ci.NetworkSettings.Ports = nat.PortMap{}
	for p, hp := range b.ports {
		ci.NetworkSettings.Ports[nat.Port(p)] = []nat.PortBinding{{HostIP: hp[0], HostPort: hp[1]}}
	}
	return ci
}

// meshHarness is mesh's own harness, as chaosd sees it from the host: project
// multi-pod, only the pods published.
func meshHarness() []box {
	mk := func(n int, service, ip string) box {
		id := string(rune('a'+n)) + "0123456789abcdef0123456789abcdef"
		return box{
			id: id, name: "multi-pod-" + service + "-1", service: service, state: "running",
			labels: map[string]string{LabelProject: "multi-pod", LabelService: service},
			nets:   map[string]string{"multi-pod_default": ip},
		}
	}
	pg, nats, ai := mk(0, "postgres", "172.20.0.2"), mk(1, "nats", "172.20.0.3"), mk(2, "mock-ai", "172.20.0.4")
	pg.health = "healthy"
	var pods []box
	for i, port := range []string{"13001", "13002", "13003"} {
		p := mk(3+i, "mesh-"+string(rune('1'+i)), "172.20.0."+string(rune('5'+i)))
		p.ports = map[string][]string{"3000/tcp": {"127.0.0.1", port}}
		pods = append(pods, p)
	}
	migrate := mk(6, "migrate", "")
	migrate.state, migrate.nets = "exited", map[string]string{"multi-pod_default": ""}
	return append([]box{pg, nats, ai, migrate}, pods...)
}

// withProject makes f serve boxes as one compose project's containers, and answer a
// list of every project with others too.
func (f *fakeDocker) withProject(boxes []box, others ...string) *fakeDocker {
	f.list = func(o container.ListOptions) ([]container.Summary, error) {
		var out []container.Summary
		for _, b := range boxes {
			if matchLabels(o.Filters.Get("label"), b.labels) {
				out = append(out, b.summary())
			}
		}
		for _, p := range others {
			if l := map[string]string{LabelProject: p}; matchLabels(o.Filters.Get("label"), l) {
				out = append(out, container.Summary{ID: p, Labels: l})
			}
		}
		return out, nil
	}
	f.inspect = func(id string) (container.InspectResponse, error) {
		for _, b := range boxes {
			if b.id == id {
				return b.inspect(), nil
			}
		}
		return container.InspectResponse{}, errdefs.NotFound(errors.New("no such container: " + id))
	}
	return f
}

// matchLabels is Docker's label filter: every "key" or "key=value" must hold.
func matchLabels(filter []string, labels map[string]string) bool {
	for _, f := range filter {
		k, v, hasValue := strings.Cut(f, "=")
		got, ok := labels[k]
		if !ok || (hasValue && got != v) {
			return false
		}
	}
	return true
}

// fakeForwarder makes f run the forwarder's container: its published ports are real
// loopback listeners that accept and close, and its log says ReadyMessage.
type fakeForwarder struct {
	mu      sync.Mutex
	created []*container.Config
	hosts   []*container.HostConfig
	nets    []*network.NetworkingConfig
	names   []string
	built   []string // files of each build context
	removed []string
	ports   nat.PortMap
}

func (ff *fakeForwarder) install(t *testing.T, f *fakeDocker) {
	const id = "f0rward0000000000000000000000000000000000000000000000000000000000"
	built := map[string]bool{}
	f.imgInsp = func(tag string) (image.InspectResponse, error) {
		if built[tag] {
			return image.InspectResponse{ID: tag}, nil
		}
		return image.InspectResponse{}, errdefs.NotFound(errors.New("no such image"))
	}
	f.build = func(r io.Reader, o build.ImageBuildOptions) (build.ImageBuildResponse, error) {
		files := tarFiles(t, r)
		ff.mu.Lock()
		ff.built = append(ff.built, files...)
		ff.mu.Unlock()
		built[o.Tags[0]] = true
		return build.ImageBuildResponse{Body: io.NopCloser(bytes.NewBufferString(`{"stream":"Step 1/3 : FROM scratch\n"}{"stream":"Successfully built 0123\n"}`))}, nil
	}
	inner := f.inspect
	f.create = func(cfg *container.Config, host *container.HostConfig, n *network.NetworkingConfig, name string) (container.CreateResponse, error) {
		ff.mu.Lock()
		defer ff.mu.Unlock()
		ff.created, ff.hosts, ff.nets, ff.names = append(ff.created, cfg), append(ff.hosts, host), append(ff.nets, n), append(ff.names, name)
		ff.ports = nat.PortMap{}
		for p := range cfg.ExposedPorts {
			ln := listenLoopback(t)
			_, port, _ := net.SplitHostPort(ln.Addr().String())
			ff.ports[p] = []nat.PortBinding{{HostIP: "127.0.0.1", HostPort: port}}
		}
		return container.CreateResponse{ID: id}, nil
	}
	f.start = func(string) error { return nil }
	f.inspect = func(cid string) (container.InspectResponse, error) {
		if cid != id {
			return inner(cid)
		}
		ff.mu.Lock()
		defer ff.mu.Unlock()
		return container.InspectResponse{
			ContainerJSONBase: &container.ContainerJSONBase{ID: id, State: &container.State{Status: "running", Running: true}},
			NetworkSettings:   &container.NetworkSettings{NetworkSettingsBase: container.NetworkSettingsBase{Ports: ff.ports}},
		}, nil
	}
	f.logs = func(string) (io.ReadCloser, error) {
		return muxedLog(`{"level":"info","msg":"` + ReadyMessage + `"}` + "\n"), nil
	}
	f.remove = func(cid string, o container.RemoveOptions) error {
		if !o.Force {
			t.Errorf("forwarder removed without force")
		}
		ff.mu.Lock()
		defer ff.mu.Unlock()
		ff.removed = append(ff.removed, cid)
		return nil
	}
}

// muxedLog frames s as Docker's multiplexed log stream (stderr).
func muxedLog(s string) io.ReadCloser {
	var b bytes.Buffer
	_, _ = stdcopy.NewStdWriter(&b, stdcopy.Stderr).Write([]byte(s))
	return io.NopCloser(&b)
}

// listenLoopback is a loopback listener that accepts and closes until the test ends.
func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	return ln
}

// ipOf is a parsed address for tables.
func ipOf(s string) netip.Addr { return netip.MustParseAddr(s) }
