package topology

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestDiscoverMeshHarness(t *testing.T) {
	f := (&fakeDocker{t: t}).withProject(meshHarness())
	topo, err := Discover(context.Background(), f, "multi-pod")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := topo.Services(), []string{"mesh-1", "mesh-2", "mesh-3", "migrate", "mock-ai", "nats", "postgres"}; !slices.Equal(got, want) {
		t.Errorf("Services() = %v, want %v", got, want)
	}
	if got := topo.Networks(); !slices.Equal(got, []string{"multi-pod_default"}) {
		t.Errorf("Networks() = %v", got)
	}
	if n, err := topo.JoinNetwork(); err != nil || n != "multi-pod_default" {
		t.Errorf("JoinNetwork() = %q, %v", n, err)
	}
	pg := topo.Service("postgres")
	if len(pg) != 1 {
		t.Fatalf("Service(postgres) = %v", pg)
	}
	c := pg[0]
	if c.Name != "multi-pod-postgres-1" || c.State != "running" || !c.Running() || c.Health != "healthy" ||
		c.Networks["multi-pod_default"] != ipOf("172.20.0.2") || len(c.Ports) != 0 || len(c.Aliases) != 0 {
		t.Errorf("postgres = %+v", c)
	}
	if m := topo.Service("migrate")[0]; m.State != "exited" || m.Running() || m.Networks["multi-pod_default"].IsValid() {
		t.Errorf("migrate = %+v", m)
	}
	if p := topo.Service("mesh-2")[0]; p.Ports["3000/tcp"] != "127.0.0.1:13002" {
		t.Errorf("mesh-2 ports = %v", p.Ports)
	}
	if got := topo.Lookup("multi-pod-nats-1"); len(got) != 1 || got[0].Service != "nats" {
		t.Errorf("Lookup(container name) = %v", got)
	}
}

func TestDiscoverAliasesAndPorts(t *testing.T) {
	b := meshHarness()[2] // mock-ai
	b.service, b.labels = "mockai", map[string]string{LabelProject: "multi-pod", LabelService: "mockai"}
	b.aliases = []string{"mock-ai"}
	b.ports = map[string][]string{"9000/tcp": {"0.0.0.0", "19000"}, "9001/tcp": {"::", "19001"}}
	topo, err := Discover(context.Background(), (&fakeDocker{t: t}).withProject([]box{b}), "multi-pod")
	if err != nil {
		t.Fatal(err)
	}
	c := topo.Containers[0]
	if !slices.Equal(c.Aliases, []string{"mock-ai"}) || !c.Answers("mock-ai") || !c.Answers("mockai") || c.Answers("mock") {
		t.Errorf("aliases = %v (the short id must not be one)", c.Aliases)
	}
	if c.Ports["9000/tcp"] != "127.0.0.1:19000" || c.Ports["9001/tcp"] != "[::1]:19001" {
		t.Errorf("ports = %v", c.Ports)
	}
}

func TestDiscoverNamesTheProjectsThatExist(t *testing.T) {
	f := (&fakeDocker{t: t}).withProject(meshHarness(), "chaosd", "other")
	_, err := Discover(context.Background(), f, "multipod")
	want := `docker: no containers of compose project "multipod" (label com.docker.compose.project); running projects: chaosd, multi-pod, other`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	_, err = Discover(context.Background(), (&fakeDocker{t: t}).withProject(nil), "x")
	if err == nil || !strings.HasSuffix(err.Error(), "running projects: none") {
		t.Fatalf("err = %v", err)
	}
}

func TestJoinNetworkWithoutDefault(t *testing.T) {
	topo := Topology{Project: "p", Containers: []Container{
		{Networks: map[string]netip.Addr{"p_back": {}, "p_front": {}}},
		{Networks: map[string]netip.Addr{"p_back": {}}},
	}}
	if n, err := topo.JoinNetwork(); err != nil || n != "p_back" {
		t.Errorf("JoinNetwork() = %q, %v; want the most shared, p_back", n, err)
	}
	if _, err := (Topology{Project: "p"}).JoinNetwork(); err == nil {
		t.Error("JoinNetwork() of no containers: no error")
	}
}
