//go:build e2e

package faults_test

// The end-to-end tier of faults/: real containers of the bundled cluster (compose
// project CHAOSD_COMPOSE_PROJECT, default chaosd; Postgres at CHAOSD_DATABASE_URL), a
// chaosd binary built for the suite, and two decoys chaosd must never touch: one
// outside the selector, one inside it but labelled chaosd.skip=true. TestMain checks
// the decoys after the last test: untouched, or the suite fails.

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/chaosd/chaosd/faults"
	"github.com/chaosd/chaosd/faults/netns"
	"github.com/chaosd/chaosd/probes"
)

// suite is what every e2e test shares.
var suite struct {
	bin     string // the chaosd binary under test
	dir     string // ledgers and logs
	project string
	dc      *client.Client
	drv     *probes.Driver
	base    map[string]baseline // pod or service name -> its state before the suite
	decoys  []*decoy
}

// baseline is a container's network identity before any fault.
type baseline struct {
	id      string
	name    string
	aliases map[string][]string // network -> aliases (without the short id)
}

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	ctx := context.Background()
	if err := setUp(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "faults e2e: set-up:", err)
		return 1
	}
	watch := watchDecoys(ctx)
	code := m.Run()
	if err := podsReady(ctx, time.Minute); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: faults e2e: the cluster did not recover from the suite's faults:", err)
		code = 1
	}
	if err := checkDecoys(ctx, watch()); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: faults e2e: a decoy was touched:", err)
		code = 1
	} else {
		fmt.Printf("faults e2e: decoys %s untouched across the suite\n", decoyNames())
	}
	removeDecoys(ctx)
	if code == 0 {
		_ = os.RemoveAll(suite.dir)
	} else {
		fmt.Fprintln(os.Stderr, "faults e2e: ledgers and watchdog logs kept in", suite.dir)
	}
	return code
}

func setUp(ctx context.Context) error {
	var err error
	suite.project = env("CHAOSD_COMPOSE_PROJECT", "chaosd")
	if suite.dir, err = os.MkdirTemp("", "chaosd-faults-e2e-"); err != nil {
		return err
	}
	if suite.bin, err = chaosdBinary(); err != nil {
		return err
	}
	if suite.dc, err = faults.NewDocker(ctx, "", 10*time.Second); err != nil {
		return err
	}
	if suite.drv, err = probes.NewDriver(probes.DriverConfig{RequestTimeout: time.Second}); err != nil {
		return err
	}
	if err := recordBaselines(ctx); err != nil {
		return err
	}
	return makeDecoys(ctx)
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// chaosdBinary is CHAOSD_E2E_BIN, else a fresh build of ./cmd/chaosd.
func chaosdBinary() (string, error) {
	if b := os.Getenv("CHAOSD_E2E_BIN"); b != "" {
		return filepath.Abs(b)
	}
	out := filepath.Join(suite.dir, "chaosd")
	cmd := exec.Command("go", "build", "-o", out, "github.com/chaosd/chaosd/cmd/chaosd")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build chaosd: %v\n%s", err, b)
	}
	return out, nil
}

func projectContainers(ctx context.Context) ([]container.Summary, error) {
	return suite.dc.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", faults.LabelProject+"="+suite.project))})
}

func recordBaselines(ctx context.Context) error {
	cs, err := projectContainers(ctx)
	if err != nil {
		return err
	}
	suite.base = map[string]baseline{}
	for _, c := range cs {
		svc := c.Labels[faults.LabelService]
		if c.State != "running" || svc == "" || c.Labels[faults.LabelSkip] == "true" {
			continue
		}
		ci, err := suite.dc.ContainerInspect(ctx, c.ID)
		if err != nil {
			return err
		}
		b := baseline{id: c.ID, name: strings.TrimPrefix(ci.Name, "/"), aliases: map[string][]string{}}
		for n, ep := range ci.NetworkSettings.Networks {
			b.aliases[n] = withoutShortID(ep.Aliases, c.ID)
		}
		suite.base[svc] = b
	}
	for _, want := range []string{"mesh-1", "mesh-2", "mesh-3", "postgres", "nats", "mockai"} {
		if _, ok := suite.base[want]; !ok {
			return fmt.Errorf("no running %s in compose project %q: boot the bundled cluster (deploy/cluster.sh up, or scripts/e2e.sh)", want, suite.project)
		}
	}
	return nil
}

func withoutShortID(aliases []string, id string) []string {
	var out []string
	for _, a := range aliases {
		if !(len(a) >= 12 && strings.HasPrefix(id, a)) {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}

// podsReady waits until every pod answers /health/ready again, so that the next
// package's tests find the cluster as they expect it.
func podsReady(ctx context.Context, within time.Duration) error {
	var urls []string
	for _, name := range []string{"mesh-1", "mesh-2", "mesh-3"} {
		ci, err := suite.dc.ContainerInspect(ctx, suite.base[name].id)
		if err != nil {
			return err
		}
		for _, b := range ci.NetworkSettings.Ports["3000/tcp"] {
			urls = append(urls, "http://127.0.0.1:"+b.HostPort)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	readings, err := suite.drv.WaitReady(ctx, urls, 200*time.Millisecond)
	if err != nil {
		return fmt.Errorf("%w: %+v", err, readings)
	}
	return nil
}

// --- decoys ---------------------------------------------------------------------------

type decoy struct {
	name    string
	labels  map[string]string
	id      string
	started string
	nets    []string
}

func decoyNames() string {
	var ns []string
	for _, d := range suite.decoys {
		ns = append(ns, d.name)
	}
	return strings.Join(ns, ", ")
}

// makeDecoys starts two containers on the cluster's network: chaosd-ft-decoy outside
// the selector (no project label), chaosd-ft-decoy-skip inside it but labelled
// chaosd.skip=true. Both run the chaosd image's mock LLM.
func makeDecoys(ctx context.Context) error {
	netName := ""
	for n := range suite.base["mesh-1"].aliases {
		netName = n
	}
	suite.decoys = []*decoy{
		{name: "chaosd-ft-decoy", labels: map[string]string{"chaosd.test": "decoy"}},
		{name: "chaosd-ft-decoy-skip", labels: map[string]string{faults.LabelProject: suite.project, faults.LabelService: "decoy-skip", faults.LabelSkip: "true"}},
	}
	image := env("CHAOSD_IMAGE", "chaosd:dev")
	for _, d := range suite.decoys {
		_ = suite.dc.ContainerRemove(ctx, d.name, container.RemoveOptions{Force: true})
		created, err := suite.dc.ContainerCreate(ctx,
			&container.Config{Image: image, Cmd: []string{"mockai", "--listen", ":9000"}, Labels: d.labels},
			&container.HostConfig{NetworkMode: container.NetworkMode(netName)},
			&network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{netName: {Aliases: []string{d.name}}}}, nil, d.name)
		if err != nil {
			return fmt.Errorf("decoy %s (image %s, CHAOSD_IMAGE): %w", d.name, image, err)
		}
		d.id = created.ID
		if err := suite.dc.ContainerStart(ctx, d.id, container.StartOptions{}); err != nil {
			return fmt.Errorf("decoy %s: %w", d.name, err)
		}
		ci, err := suite.dc.ContainerInspect(ctx, d.id)
		if err != nil {
			return err
		}
		d.started = ci.State.StartedAt
		for n := range ci.NetworkSettings.Networks {
			d.nets = append(d.nets, n)
		}
	}
	return nil
}

// watchDecoys records every Docker event of the decoys (container and network) until
// the returned function is called.
func watchDecoys(ctx context.Context) func() []string {
	ctx, cancel := context.WithCancel(ctx)
	var mu sync.Mutex
	var seen []string
	ids := map[string]string{}
	for _, d := range suite.decoys {
		ids[d.id] = d.name
	}
	msgs, errs := suite.dc.Events(ctx, events.ListOptions{Since: time.Now().Format(time.RFC3339Nano)})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case m := <-msgs:
				name, ok := ids[m.Actor.ID]
				if !ok {
					name, ok = ids[m.Actor.Attributes["container"]] // network connect/disconnect
				}
				if ok {
					mu.Lock()
					seen = append(seen, fmt.Sprintf("%s %s %s", name, m.Type, m.Action))
					mu.Unlock()
				}
			case <-errs:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() []string {
		time.Sleep(200 * time.Millisecond)
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return seen
	}
}

// checkDecoys: no event, same start, running, unpaused, same networks, no nftables table.
func checkDecoys(ctx context.Context, evs []string) error {
	var problems []string
	problems = append(problems, evs...)
	for _, d := range suite.decoys {
		ci, err := suite.dc.ContainerInspect(ctx, d.id)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", d.name, err))
			continue
		}
		var nets []string
		for n := range ci.NetworkSettings.Networks {
			nets = append(nets, n)
		}
		if ci.State.StartedAt != d.started || !ci.State.Running || ci.State.Paused || !slices.Equal(nets, d.nets) {
			problems = append(problems, fmt.Sprintf("%s: started %s (was %s), running %v, paused %v, networks %v (were %v)", d.name, ci.State.StartedAt, d.started, ci.State.Running, ci.State.Paused, nets, d.nets))
		}
		if present, _, err := netns.Rules(ci.State.Pid); err != nil || present {
			problems = append(problems, fmt.Sprintf("%s: chaosd's nftables table present %v (%v)", d.name, present, err))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

func removeDecoys(ctx context.Context) {
	for _, d := range suite.decoys {
		_ = suite.dc.ContainerRemove(ctx, d.id, container.RemoveOptions{Force: true})
	}
}

// --- running chaosd ---------------------------------------------------------------------

// proc is a chaosd run in the background.
type proc struct {
	cmd      *exec.Cmd
	out, err bytes.Buffer
	done     chan struct{}
	code     int
}

// ledgerPath is a fresh ledger for one test.
func ledgerPath(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(suite.dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, fmt.Sprintf("ledger-%d.jsonl", time.Now().UnixNano()))
}

// start runs chaosd with args and the test's ledger; the environment carries the
// cluster's settings (CHAOSD_COMPOSE_PROJECT, CHAOSD_DATABASE_URL).
func start(t *testing.T, ledger string, args ...string) *proc {
	t.Helper()
	p := &proc{done: make(chan struct{})}
	p.cmd = exec.Command(suite.bin, args...)
	p.cmd.Env = append(os.Environ(), "CHAOSD_LEDGER="+ledger, "CHAOSD_COMPOSE_PROJECT="+suite.project, "CHAOSD_LOG_FORMAT=json", "CHAOSD_LOG_LEVEL=warn",
		"CHAOSD_WORKLOAD=false") // the bare fault: these tests check the fault itself
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.err
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		_ = p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
	}()
	return p
}

// run runs chaosd to the end.
func run(t *testing.T, ledger string, args ...string) *proc {
	t.Helper()
	p := start(t, ledger, args...)
	p.wait(t, 2*time.Minute)
	return p
}

func (p *proc) wait(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("chaosd did not finish within %s:\n%s%s", within, p.out.String(), p.err.String())
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", p.code, p.out.String(), p.err.String())
}

// waitLedger polls the ledger until cond holds for fault entries, or fails the test.
func waitLedger(t *testing.T, ledger string, within time.Duration, cond func(*faults.State) bool) *faults.State {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st, err := faults.ReadLedger(ledger)
		if err == nil && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("ledger %s: condition not met within %s (err %v)", ledger, within, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func confirmed(st *faults.State) bool {
	for _, id := range st.Order {
		if e := st.Get(id); e.Confirmed != nil {
			return true
		}
	}
	return false
}

// --- observing the cluster --------------------------------------------------------------

func inspect(t *testing.T, name string) container.InspectResponse {
	t.Helper()
	ci, err := suite.dc.ContainerInspect(context.Background(), suite.base[name].id)
	if err != nil {
		t.Fatalf("inspect %s: %v", name, err)
	}
	return ci
}

// addr is name's address on its (first) network, and the port to probe.
func addr(t *testing.T, name string) netip.AddrPort {
	t.Helper()
	ports := map[string]uint16{"postgres": 5432, "nats": 4222, "mockai": 9000}
	port, ok := ports[name]
	if !ok {
		port = 3000
	}
	for n := range suite.base[name].aliases {
		if ep := inspect(t, name).NetworkSettings.Networks[n]; ep != nil {
			return netip.AddrPortFrom(netip.MustParseAddr(ep.IPAddress), port)
		}
	}
	t.Fatalf("%s has no address", name)
	return netip.AddrPort{}
}

// reach probes to from inside from's network namespace (from "" = the host).
func reach(t *testing.T, from string, to netip.AddrPort) bool {
	t.Helper()
	pid := netns.Host
	if from != "" {
		pid = inspect(t, from).State.Pid
	}
	r, err := netns.Probe(context.Background(), pid, to, 500*time.Millisecond)
	if err != nil {
		t.Fatalf("probe %s -> %s: %v", from, to, err)
	}
	return r.Reachable
}

// podURL is the pod's published HTTP port.
func podURL(t *testing.T, name string) string {
	t.Helper()
	for _, b := range inspect(t, name).NetworkSettings.Ports["3000/tcp"] {
		host := b.HostIP
		if host == "" || host == "0.0.0.0" {
			host = "127.0.0.1"
		}
		return "http://" + host + ":" + b.HostPort
	}
	t.Fatalf("%s publishes no port 3000", name)
	return ""
}

func ready(t *testing.T, name string) bool {
	t.Helper()
	ci := inspect(t, name)
	if !ci.State.Running || ci.State.Paused {
		return false
	}
	return suite.drv.Ready(context.Background(), podURL(t, name)).Ready
}

// assertClean checks that nothing of a fault is left on name: running, unpaused, on its
// networks with its aliases, no chaosd table, reaching and reached, ready again, and no
// fault open in the ledger.
func assertClean(t *testing.T, name, ledger string) {
	t.Helper()
	for _, p := range clean(t, name, ledger) {
		t.Error(p)
	}
}

// clean returns what is left behind (nothing: nil).
func clean(t *testing.T, name, ledger string) []string {
	t.Helper()
	var problems []string
	ci := inspect(t, name)
	if !ci.State.Running || ci.State.Paused {
		problems = append(problems, fmt.Sprintf("%s: running %v, paused %v", name, ci.State.Running, ci.State.Paused))
		return problems
	}
	for n, want := range suite.base[name].aliases {
		ep := ci.NetworkSettings.Networks[n]
		if ep == nil {
			problems = append(problems, fmt.Sprintf("%s: not on network %s", name, n))
			continue
		}
		if got := withoutShortID(ep.Aliases, ci.ID); !slices.Equal(got, want) {
			problems = append(problems, fmt.Sprintf("%s: aliases %v on %s, want %v", name, got, n, want))
		}
	}
	if present, n, err := netns.Rules(ci.State.Pid); err != nil || present {
		problems = append(problems, fmt.Sprintf("%s: chaosd table present %v with %d rules (%v)", name, present, n, err))
	}
	if len(problems) == 0 && (!reach(t, name, addr(t, "postgres")) || !reach(t, name, addr(t, "nats")) || !reach(t, otherPod(name), addr(t, name))) {
		problems = append(problems, name+": traffic to postgres, nats or from another pod does not get through")
	}
	if st, err := faults.ReadLedger(ledger); err != nil || len(st.Open()) > 0 {
		problems = append(problems, fmt.Sprintf("ledger: %d fault(s) open (%v)", len(st.Open()), err))
	}
	return problems
}

// waitReady waits for name to answer /health/ready (a killed pod boots again).
func waitReady(t *testing.T, name string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ready(t, name) {
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within %s", name, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func otherPod(name string) string {
	if name == "mesh-1" {
		return "mesh-3"
	}
	return "mesh-1"
}
