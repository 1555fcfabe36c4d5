//go:build e2e

package topology_test

// The end-to-end tier of topology/: a running compose project (CHAOSD_COMPOSE_PROJECT,
// default chaosd: deploy/cluster.sh up), a static chaosd built for the test
// (CHAOSD_E2E_BIN to bring one). Traffic goes to loopback and the project's
// containers only: the direct check's name look-up is replaced by one that finds
// nothing, as on a host outside the project's network.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"github.com/jackc/pgx/v5"
	"go.uber.org/zap/zaptest"

	"github.com/chaosd/chaosd/topology"
)

func e2eProject() string {
	if p := os.Getenv("CHAOSD_COMPOSE_PROJECT"); p != "" {
		return p
	}
	return "chaosd"
}

func e2eDocker(t *testing.T) *client.Client {
	t.Helper()
	dc, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dc.Close() })
	return dc
}

// e2eBin is the chaosd the forwarders run: CHAOSD_E2E_BIN, else a static build of
// ./cmd/chaosd made once for the package.
var e2eBin string

func TestMain(m *testing.M) {
	os.Exit(runE2E(m))
}

func runE2E(m *testing.M) int {
	if b := os.Getenv("CHAOSD_E2E_BIN"); b != "" {
		abs, err := filepath.Abs(b)
		if err != nil {
			fmt.Fprintln(os.Stderr, "topology e2e:", err)
			return 1
		}
		e2eBin = abs
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "chaosd-topology-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "topology e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	e2eBin = filepath.Join(dir, "chaosd")
	cmd := exec.Command("go", "build", "-o", e2eBin, "github.com/chaosd/chaosd/cmd/chaosd")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "topology e2e: go build chaosd: %v\n%s", err, b)
		return 1
	}
	return m.Run()
}

// pgURL is the in-network Postgres URL of the project, with the credentials its
// postgres container was started with (the official image's variables).
func pgURL(t *testing.T, topo topology.Topology, dc *client.Client) string {
	t.Helper()
	pg := topo.Service("postgres")
	if len(pg) == 0 {
		t.Fatalf("compose project %q has no postgres service (services: %v)", topo.Project, topo.Services())
	}
	ci, err := dc.ContainerInspect(context.Background(), pg[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "postgres"}
	for _, kv := range ci.Config.Env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	db := env["POSTGRES_DB"]
	if db == "" {
		db = env["POSTGRES_USER"]
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword(env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]), Host: "postgres:5432", Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

func selectOne(t *testing.T, dsn string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to Postgres at %s: %v", hostOf(dsn), err)
	}
	defer conn.Close(ctx)
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 at %s = %d, %v", hostOf(dsn), one, err)
	}
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "?"
	}
	return u.Host
}

// natsInfo connects to addr and reads the server's INFO greeting.
func natsInfo(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("connect to NATS at %s: %v", addr, err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "INFO {") {
		t.Fatalf("NATS at %s greeted %q, %v; want an INFO line", addr, line, err)
	}
}

func loopback(t *testing.T, addr string) {
	t.Helper()
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("address %q is not on 127.0.0.1", addr)
	}
}

func TestE2ETopologyForwarder(t *testing.T) {
	ctx := context.Background()
	dc, project := e2eDocker(t), e2eProject()
	t.Cleanup(func() {
		if names, err := topology.RemoveForwarders(context.WithoutCancel(ctx), dc, project); err != nil || len(names) > 0 {
			t.Errorf("forwarders left behind: %v, %v", names, err)
		}
	})
	topo, err := topology.Discover(ctx, dc, project)
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range []string{"postgres", "nats"} {
		cs := topo.Service(svc)
		if len(cs) == 0 || !cs[0].Running() {
			t.Fatalf("no running %s in compose project %q: %+v", svc, project, cs)
		}
	}
	network, err := topo.JoinNetwork()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("project %s: services %v, networks %v, joining %s", project, topo.Services(), topo.Networks(), network)

	fw, err := topology.StartForwarder(ctx, dc, topology.ForwarderOptions{
		Project: project, Targets: []string{"postgres:5432", "nats:4222"}, Binary: e2eBin, Log: zaptest.NewLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			_ = fw.Close(ctx)
		}
	}()
	pgAddr, ok1 := fw.Addr("postgres:5432")
	natsAddr, ok2 := fw.Addr("nats:4222")
	if !ok1 || !ok2 {
		t.Fatalf("forwarder addresses: %q %v, %q %v", pgAddr, ok1, natsAddr, ok2)
	}
	loopback(t, pgAddr)
	loopback(t, natsAddr)

	// The forwarder is no pod: it has no compose project label, so neither the
	// selector nor Discover sees it.
	again, err := topology.Discover(ctx, dc, project)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(again.Containers, func(c topology.Container) bool { return c.ID == fw.ID() }) {
		t.Error("the forwarder shows up among the project's containers")
	}

	dsn := strings.Replace(pgURL(t, topo, dc), "@postgres:5432/", "@"+pgAddr+"/", 1)
	selectOne(t, dsn)
	natsInfo(t, natsAddr)

	if err := fw.Close(ctx); err != nil {
		t.Fatal(err)
	}
	closed = true
	if _, err := dc.ContainerInspect(ctx, fw.ID()); !errdefs.IsNotFound(err) {
		t.Fatalf("forwarder %s still exists after Close: %v", fw.Name(), err)
	}
}

func TestE2ETopologyResolve(t *testing.T) {
	ctx := context.Background()
	dc, project := e2eDocker(t), e2eProject()
	topo, err := topology.Discover(ctx, dc, project)
	if err != nil {
		t.Fatal(err)
	}
	for _, forward := range []bool{false, true} {
		t.Run(fmt.Sprintf("ForwardPublished=%v", forward), func(t *testing.T) {
			r := topology.Resolver{
				Docker: dc, Project: project, Binary: e2eBin, Log: zaptest.NewLogger(t), ForwardPublished: forward,
				LookupHost: func(_ context.Context, host string) ([]string, error) {
					return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
				},
			}
			got, fw, err := r.Resolve(ctx, pgURL(t, topo, dc), "nats://nats:4222")
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := fw.Close(ctx); err != nil {
					t.Error(err)
				}
			}()
			if forward && fw == nil {
				t.Fatal("no forwarder started")
			}
			loopback(t, hostOf(got[0]))
			loopback(t, hostOf(got[1]))
			selectOne(t, got[0])
			natsInfo(t, hostOf(got[1]))
		})
	}
}

func TestE2ETopologyRemovesLeftovers(t *testing.T) {
	ctx := context.Background()
	dc, project := e2eDocker(t), e2eProject()
	fw, err := topology.StartForwarder(ctx, dc, topology.ForwarderOptions{
		Project: project, Targets: []string{"nats:4222"}, Binary: e2eBin, Log: zaptest.NewLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	// A chaosd that died here never closes fw; the next one cleans up.
	names, err := topology.RemoveForwarders(ctx, dc, project)
	if err != nil || !slices.Contains(names, fw.Name()) {
		t.Fatalf("RemoveForwarders = %v, %v; want %s among them", names, err, fw.Name())
	}
	if _, err := dc.ContainerInspect(ctx, fw.ID()); !errdefs.IsNotFound(err) {
		t.Fatalf("forwarder %s still exists: %v", fw.Name(), err)
	}
	if err := fw.Close(ctx); err != nil {
		t.Errorf("Close after removal: %v", err)
	}
}
