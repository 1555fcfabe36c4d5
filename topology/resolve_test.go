package topology

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// resolver is a Resolver of mesh's harness seen from the host: no service name
// resolves here, so every unpublished one goes through the forwarder.
func resolver(t *testing.T, f *fakeDocker) (Resolver, *observer.ObservedLogs) {
	core, logs := observer.New(zap.DebugLevel)
	return Resolver{
		Docker: f, Project: "multi-pod", Binary: writeELF(t, ""), Log: zap.New(core),
		LookupHost: func(_ context.Context, host string) ([]string, error) {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		},
		Dial: func(_ context.Context, _, addr string) (net.Conn, error) {
			t.Errorf("dialled %s: nothing resolved to the project's containers", addr)
			return nil, errors.New("unexpected dial")
		},
	}, logs
}

func TestResolveRewritesURLs(t *testing.T) {
	f := (&fakeDocker{t: t}).withProject(meshHarness())
	ff := &fakeForwarder{}
	ff.install(t, f)
	r, logs := resolver(t, f)

	// {fwd:TARGET} stands for the forwarder's address for TARGET.
	tests := []struct{ name, in, want string }{
		{"postgres, password kept byte for byte", "postgres://postgres:s3cr%40t@postgres:5432/postgres?sslmode=disable", "postgres://postgres:s3cr%40t@{fwd:postgres:5432}/postgres?sslmode=disable"},
		{"default port of the scheme", "postgresql://postgres:s3cret@postgres/db", "postgresql://postgres:s3cret@{fwd:postgres:5432}/db"},
		{"nats", "nats://nats:4222", "nats://{fwd:nats:4222}"},
		{"nats server list", "nats://nats,nats://10.0.0.7:4222", "nats://{fwd:nats:4222},nats://10.0.0.7:4222"},
		{"multi-host postgres", "postgres://u:p@postgres:5432,10.0.0.9:5432/db?target_session_attrs=any", "postgres://u:p@{fwd:postgres:5432},10.0.0.9:5432/db?target_session_attrs=any"},
		{"unpublished http service", "http://mock-ai:9000/v1", "http://{fwd:mock-ai:9000}/v1"},
		{"published pod", "http://mesh-1:3000/health/ready", "http://127.0.0.1:13001/health/ready"},
		{"published pod by container name", "http://multi-pod-mesh-3-1:3000#frag", "http://127.0.0.1:13003#frag"},
		{"unpublished port of a published pod", "http://mesh-2:9090/metrics", "http://{fwd:mesh-2:9090}/metrics"},
		{"ip", "http://127.0.0.1:13001", "http://127.0.0.1:13001"},
		{"ipv6", "http://[::1]:13001/x", "http://[::1]:13001/x"},
		{"localhost", "http://localhost:3000", "http://localhost:3000"},
		{"not the project's", "https://api.example.com/v1", "https://api.example.com/v1"},
		{"unknown scheme without port", "redis://postgres/0", "redis://postgres/0"},
		{"key/value DSN", "host=postgres port=5432 password=s3cret", "host=postgres port=5432 password=s3cret"},
		{"empty", "", ""},
	}
	in := make([]string, len(tests))
	for i, tc := range tests {
		in[i] = tc.in
	}
	got, fw, err := r.Resolve(context.Background(), in...)
	if err != nil {
		t.Fatal(err)
	}
	if fw == nil {
		t.Fatal("no forwarder started")
	}
	for i, tc := range tests {
		want := tc.want
		for _, tg := range []string{"postgres:5432", "nats:4222", "mock-ai:9000", "mesh-2:9090"} {
			a, ok := fw.Addr(tg)
			if !ok {
				t.Fatalf("forwarder has no address for %s", tg)
			}
			want = strings.ReplaceAll(want, "{fwd:"+tg+"}", a)
		}
		if got[i] != want {
			t.Errorf("%s: Resolve(%q)\n got %q\nwant %q", tc.name, tc.in, got[i], want)
		}
	}

	// One forwarder, created once, with every target in first-seen order.
	if len(ff.created) != 1 {
		t.Fatalf("%d forwarders created, want 1", len(ff.created))
	}
	wantCmd := []string{"--log-format=json", "0.0.0.0:10001=postgres:5432", "0.0.0.0:10002=nats:4222", "0.0.0.0:10003=mock-ai:9000", "0.0.0.0:10004=mesh-2:9090"}
	if cmd := ff.created[0].Cmd; !slices.Equal(cmd, wantCmd) {
		t.Errorf("forwarder command %q, want %q", cmd, wantCmd)
	}
	checkForwarderContainer(t, ff, "multi-pod")

	if err := fw.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(context.Background()); err != nil || len(ff.removed) != 1 {
		t.Errorf("second Close: %v, removed %v", err, ff.removed)
	}
	for _, e := range logs.All() {
		if s := fmt.Sprint(e.Message, e.ContextMap()); strings.Contains(s, "s3cr") {
			t.Errorf("a password was logged: %s", s)
		}
	}
	if n := logs.FilterMessage("address route").Len(); n != 6 {
		t.Errorf("%d routes logged, want 6 (postgres, nats, mock-ai, mesh-1, mesh-3, mesh-2:9090)", n)
	}
}

// checkForwarderContainer checks what the forwarder container was created as.
func checkForwarderContainer(t *testing.T, ff *fakeForwarder, project string) {
	t.Helper()
	cfg, host, name := ff.created[0], ff.hosts[0], ff.names[0]
	if !strings.HasPrefix(name, "chaosd-forward-"+project+"-") {
		t.Errorf("name %q", name)
	}
	if !strings.HasPrefix(cfg.Image, "chaosd-forward:") || !slices.Equal(ff.built, []string{"Dockerfile", "chaosd"}) {
		t.Errorf("image %q built from %v", cfg.Image, ff.built)
	}
	if cfg.Labels[LabelForwarder] != project || cfg.Labels[LabelSkip] != "true" {
		t.Errorf("labels %v", cfg.Labels)
	}
	if _, ok := cfg.Labels[LabelProject]; ok {
		t.Errorf("the forwarder carries the compose project label: it would look like a pod")
	}
	if host.AutoRemove {
		t.Error("AutoRemove: its logs would be lost on failure")
	}
	for p, bs := range host.PortBindings {
		if len(bs) != 1 || bs[0].HostIP != "127.0.0.1" || bs[0].HostPort != "" {
			t.Errorf("port %s published as %+v; want 127.0.0.1 with a port Docker chooses", p, bs)
		}
	}
	if eps := ff.nets[0].EndpointsConfig; len(eps) != 1 || eps[project+"_default"] == nil {
		t.Errorf("networks %v", eps)
	}
}

func TestResolveRoutes(t *testing.T) {
	const pgURL = "postgres://postgres:pw@postgres:5432/postgres"
	tests := []struct {
		name   string
		lookup map[string][]string // host -> addresses; missing = not found
		dialOK map[string]bool     // addresses that connect
		want   string
		fwd    bool
	}{
		{name: "inside the network: kept", lookup: map[string][]string{"postgres": {"172.20.0.2"}}, dialOK: map[string]bool{"172.20.0.2:5432": true}, want: pgURL},
		{name: "resolves to a foreign address: never dialled, forwarded", lookup: map[string][]string{"postgres": {"93.184.216.34"}}, fwd: true},
		{name: "resolves but does not connect: forwarded", lookup: map[string][]string{"postgres": {"172.20.0.2"}}, fwd: true},
		{name: "does not resolve: forwarded", fwd: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := (&fakeDocker{t: t}).withProject(meshHarness())
			ff := &fakeForwarder{}
			ff.install(t, f)
			r, _ := resolver(t, f)
			r.LookupHost = func(_ context.Context, host string) ([]string, error) {
				if a, ok := tc.lookup[host]; ok {
					return a, nil
				}
				return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
			}
			r.Dial = func(_ context.Context, _, addr string) (net.Conn, error) {
				if !strings.HasPrefix(addr, "172.20.0.") {
					t.Errorf("dialled %s: not a container of the project", addr)
				}
				if tc.dialOK[addr] {
					c1, c2 := net.Pipe()
					_ = c2.Close()
					return c1, nil
				}
				return nil, errors.New("connection refused")
			}
			got, fw, err := r.Resolve(context.Background(), pgURL)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = fw.Close(context.Background()) }()
			want := tc.want
			if tc.fwd {
				a, ok := fw.Addr("postgres:5432")
				if !ok {
					t.Fatal("not forwarded")
				}
				want = "postgres://postgres:pw@" + a + "/postgres"
			} else if fw != nil {
				t.Errorf("a forwarder was started")
			}
			if got[0] != want {
				t.Errorf("got %q, want %q", got[0], want)
			}
		})
	}
}

func TestResolveWithoutNamesAsksDockerNothing(t *testing.T) {
	r := Resolver{Docker: &fakeDocker{t: t}, Project: "multi-pod"} // any Docker call fails the test
	in := []string{"postgres://u:p@127.0.0.1:15432/db", "nats://localhost:14222", "http://[::1]:13001"}
	got, fw, err := r.Resolve(context.Background(), in...)
	if err != nil || fw != nil || !slices.Equal(got, in) {
		t.Fatalf("Resolve = %q, %v, %v", got, fw, err)
	}
}

func TestResolveUnknownProject(t *testing.T) {
	f := (&fakeDocker{t: t}).withProject(meshHarness())
	r := Resolver{Docker: f, Project: "multipod"}
	_, _, err := r.Resolve(context.Background(), "postgres://u:secret@postgres:5432/db")
	if err == nil || !strings.Contains(err.Error(), `running projects: multi-pod`) || strings.Contains(err.Error(), "secret") {
		t.Fatalf("err = %v", err)
	}
}
