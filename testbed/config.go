package testbed

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Config is one pod's configuration. Build it with ConfigFromEnv, or start from
// DefaultConfig and set fields (tests do).
type Config struct {
	PodName     string // POD_NAME: the heartbeat key and run_owner_pod value; required
	ExecutorID  string // TESTBED_EXECUTOR_ID: dbos.workflow_status.executor_id of this pod's runs; "" = PodName
	Mesh        string // TESTBED_MESH: the mesh this pod stands in for, MeshMay or MeshCurrent
	Role        string // TESTBED_ROLE: RoleAll (serves and runs) or RoleAPI (serves only)
	DatabaseURL string // DATABASE_URL
	NATSURL     string // NATS_URL
	Addr        string // listen address; from PORT as ":<port>"

	Bugs            Bugs // TESTBED_BUGS: defects switched on at boot
	RuntimeSwitches bool // TESTBED_RUNTIME_SWITCHES: serve /testbed/bugs, which replaces the set while the pod runs

	HeartbeatTTL      time.Duration // TESTBED_HEARTBEAT_TTL: a key older than this is a dead pod
	HeartbeatInterval time.Duration // TESTBED_HEARTBEAT_INTERVAL: key refresh and orphan scan period
	KeepAlive         time.Duration // TESTBED_KEEPALIVE: SSE keepalive comment period
	AuthURL           string        // TESTBED_AUTH_URL: the trusted Origin (mesh's BETTER_AUTH_URL); "*" trusts any
	PurgeGrace        time.Duration // TESTBED_PURGE_GRACE: delay between a run's end and the purge of its buffer

	ProviderRetries     int           // TESTBED_PROVIDER_RETRIES: attempts on provider API errors before the run fails
	ProviderIdleTimeout time.Duration // TESTBED_PROVIDER_IDLE_TIMEOUT: a provider stream silent this long is retried
	HandoverAfter       int           // TESTBED_HANDOVER_AFTER: provider connection failures in a row before the run is handed to another pod
	DBTimeout           time.Duration // TESTBED_DB_TIMEOUT: bound on each Postgres statement

	QueuePoll    time.Duration // TESTBED_QUEUE_POLL: current: period of the thread-gate queue poll
	ReaperAfter  time.Duration // TESTBED_REAPER_AFTER: current: an in-progress run without progress this long is failed
	DrainTimeout time.Duration // TESTBED_DRAIN_TIMEOUT: current: bound on a graceful stop's drain and hand-over

	MaxBodyBytes int64 // request body limit
	BcryptCost   int   // password hashing cost

	providerTransport http.RoundTripper // tests cut one pod off from the provider; nil: the default
}

// The meshes a pod can stand in for (TESTBED_MESH).
const (
	MeshMay     = "2026-05" // mesh at #3392 (May 2026): run_owner_pod claims, the POD_HEARTBEATS bucket
	MeshCurrent = "current" // today's mesh: DBOS workflow owners, no bucket, SIGTERM hand-over, a reaper
)

// The roles a pod can play (TESTBED_ROLE), as mesh's Helm chart splits them.
const (
	// RoleAll serves the routes and runs the agent loops (every pod of the compose
	// harness; the worker Deployment of mesh's chart).
	RoleAll = "all"
	// RoleAPI serves the routes and runs nothing (mesh's API pods: they take no DBOS
	// queues and never run agent loops): a run posted to it is claimed by no one here
	// and left for the workers: released (run_owner_pod NULL, 2026-05), for their
	// orphan scan; or its gate workflow ENQUEUED with no executor (current), for their
	// queue poll. It keeps no heartbeat key and recovers nothing; attaches it serves
	// like any pod, from the buffer.
	RoleAPI = "api"
)

// DefaultConfig holds mesh's defaults: 45 s heartbeat TTL, 10 s refresh, 15 s keepalive;
// for today's mesh a 10 min reaper (run-registry.ts RUN_IDLE_TIMEOUT_MS).
func DefaultConfig() Config {
	return Config{
		Mesh:                MeshMay,
		Role:                RoleAll,
		DatabaseURL:         "postgres://postgres:postgres@localhost:5432/postgres?sslmode=disable",
		NATSURL:             "nats://localhost:4222",
		Addr:                ":3000",
		Bugs:                Bugs{},
		HeartbeatTTL:        45 * time.Second,
		HeartbeatInterval:   10 * time.Second,
		KeepAlive:           15 * time.Second,
		AuthURL:             "http://localhost:3000",
		PurgeGrace:          5 * time.Second,
		ProviderRetries:     3,
		ProviderIdleTimeout: 30 * time.Second,
		HandoverAfter:       5,
		DBTimeout:           5 * time.Second,
		QueuePoll:           time.Second,
		ReaperAfter:         10 * time.Minute,
		DrainTimeout:        10 * time.Second,
		MaxBodyBytes:        1 << 20,
		BcryptCost:          bcrypt.DefaultCost,
	}
}

// EnvVar describes one environment variable the pod reads. The CLI turns each into a
// flag of the same meaning.
type EnvVar struct {
	Name, Flag, Usage string
	Default           func(Config) string
	set               func(*Config, string) error
	Alias             string // another variable of the same meaning, read when Name is unset
}

// From returns the variable's value in the environment getenv reads: Name's, else
// Alias's.
func (v EnvVar) From(getenv func(string) string) string {
	if val := getenv(v.Name); val != "" || v.Alias == "" {
		return val
	}
	return getenv(v.Alias)
}

// EnvVars is the one list of the pod's environment variables.
var EnvVars = []EnvVar{
	{"POD_NAME", "pod-name", "the pod's name: its heartbeat key and run owner id (required)",
		func(c Config) string { return c.PodName }, setPodName, ""},
	{"TESTBED_EXECUTOR_ID", "executor-id", `DBOS executor id written to dbos.workflow_status.executor_id (default: the pod's name; mesh at #3392 wrote "local" on every pod)`,
		func(c Config) string { return c.ExecutorID }, setExecutorID, ""},
	{"TESTBED_MESH", "mesh", `the mesh this pod stands in for: "2026-05" (mesh at #3392: run_owner_pod, POD_HEARTBEATS) or "current" (today's: DBOS workflow owners, no heartbeat bucket, SIGTERM hand-over, a reaper)`,
		func(c Config) string { return c.Mesh }, setMesh, ""},
	{"TESTBED_ROLE", "role", `"all": serve the routes and run the agent loops; "api": serve the routes only, as mesh's API pods (a run posted here is left to the other pods: released, or its gate enqueued)`,
		func(c Config) string { return c.Role }, setRole, ""},
	{"DATABASE_URL", "database-url", "PostgreSQL URL",
		func(c Config) string { return c.DatabaseURL }, setDatabaseURL, ""},
	{"NATS_URL", "nats-url", "NATS URL (JetStream enabled)",
		func(c Config) string { return c.NATSURL }, setNATSURL, ""},
	{"PORT", "port", "HTTP port",
		func(c Config) string { return strings.TrimPrefix(c.Addr, ":") }, setPort, ""},
	{"TESTBED_BUGS", "bugs", "comma-separated mesh defects to switch on: " + validBugs(),
		func(c Config) string { return c.Bugs.String() }, setBugs, ""},
	{"TESTBED_RUNTIME_SWITCHES", "runtime-switches", "true: serve GET and POST /testbed/bugs, which read and replace the defect set while the pod runs (no-heartbeat-bucket stays as booted; with --mesh=current a posted set is kept for the pod's next boot)",
		func(c Config) string { return strconv.FormatBool(c.RuntimeSwitches) }, setRuntimeSwitches, ""},
	{"TESTBED_HEARTBEAT_TTL", "heartbeat-ttl", "heartbeat key TTL: an older key is a dead pod",
		func(c Config) string { return c.HeartbeatTTL.String() }, durationSetter(func(c *Config) *time.Duration { return &c.HeartbeatTTL }), ""},
	{"TESTBED_HEARTBEAT_INTERVAL", "heartbeat-interval", "heartbeat refresh and orphan scan period",
		func(c Config) string { return c.HeartbeatInterval.String() }, durationSetter(func(c *Config) *time.Duration { return &c.HeartbeatInterval }), ""},
	{"TESTBED_KEEPALIVE", "keepalive", "SSE keepalive comment period",
		func(c Config) string { return c.KeepAlive.String() }, durationSetter(func(c *Config) *time.Duration { return &c.KeepAlive }), ""},
	{"TESTBED_AUTH_URL", "auth-url", `trusted Origin for auth requests (also read from mesh's BETTER_AUTH_URL); "*" trusts any`,
		func(c Config) string { return c.AuthURL }, setAuthURL, "BETTER_AUTH_URL"},
	{"TESTBED_PURGE_GRACE", "purge-grace", "delay between a run's end and the purge of its buffer, so attached readers drain first",
		func(c Config) string { return c.PurgeGrace.String() }, durationSetter(func(c *Config) *time.Duration { return &c.PurgeGrace }), ""},
	{"TESTBED_PROVIDER_RETRIES", "provider-retries", "attempts on provider API errors before the run is marked failed",
		func(c Config) string { return strconv.Itoa(c.ProviderRetries) }, intSetter(func(c *Config) *int { return &c.ProviderRetries }), ""},
	{"TESTBED_PROVIDER_IDLE_TIMEOUT", "provider-idle-timeout", "a provider stream silent this long is retried",
		func(c Config) string { return c.ProviderIdleTimeout.String() }, durationSetter(func(c *Config) *time.Duration { return &c.ProviderIdleTimeout }), ""},
	{"TESTBED_HANDOVER_AFTER", "handover-after", "provider connection failures in a row before the run is handed to another pod",
		func(c Config) string { return strconv.Itoa(c.HandoverAfter) }, intSetter(func(c *Config) *int { return &c.HandoverAfter }), ""},
	{"TESTBED_DB_TIMEOUT", "db-timeout", "bound on each PostgreSQL statement",
		func(c Config) string { return c.DBTimeout.String() }, durationSetter(func(c *Config) *time.Duration { return &c.DBTimeout }), ""},
	{"TESTBED_QUEUE_POLL", "queue-poll", "current mesh: how often every pod polls the thread-gate queue for handed-over runs",
		func(c Config) string { return c.QueuePoll.String() }, durationSetter(func(c *Config) *time.Duration { return &c.QueuePoll }), ""},
	{"TESTBED_REAPER_AFTER", "reaper-after", "current mesh: an in-progress run that made no progress this long is failed (mesh's RUN_IDLE_TIMEOUT_MS)",
		func(c Config) string { return c.ReaperAfter.String() }, durationSetter(func(c *Config) *time.Duration { return &c.ReaperAfter }), ""},
	{"TESTBED_DRAIN_TIMEOUT", "drain-timeout", "current mesh: bound on a graceful stop's drain and hand-over of its runs",
		func(c Config) string { return c.DrainTimeout.String() }, durationSetter(func(c *Config) *time.Duration { return &c.DrainTimeout }), ""},
}

// ConfigFromEnv starts from DefaultConfig, applies every variable that lookup returns
// non-empty, and validates the result. Errors name the variable and the value.
func ConfigFromEnv(lookup func(string) string) (Config, error) {
	cfg := DefaultConfig()
	var errs []error
	for _, v := range EnvVars {
		val := strings.TrimSpace(v.From(lookup))
		if val == "" {
			continue
		}
		if err := v.set(&cfg, val); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", v.Name, val, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

var podNameRE = regexp.MustCompile(`^[A-Za-z0-9_=-]+$`)

// Validate checks the fields that have no safe default.
func (c Config) Validate() error {
	var errs []error
	if c.PodName == "" {
		errs = append(errs, errors.New("POD_NAME is required: set it to the pod's name, e.g. mesh-1"))
	} else if !podNameRE.MatchString(c.PodName) {
		errs = append(errs, fmt.Errorf("POD_NAME=%q: want letters, digits, '-', '_' or '=' (it is a NATS KV key)", c.PodName))
	}
	if c.ExecutorID != "" && !podNameRE.MatchString(c.ExecutorID) {
		errs = append(errs, fmt.Errorf("TESTBED_EXECUTOR_ID=%q: want letters, digits, '-', '_' or '='", c.ExecutorID))
	}
	if c.Role != "" && c.Role != RoleAll && c.Role != RoleAPI {
		errs = append(errs, fmt.Errorf("TESTBED_ROLE=%q: want %q or %q", c.Role, RoleAll, RoleAPI))
	}
	if c.Mesh != MeshMay && c.Mesh != MeshCurrent {
		errs = append(errs, fmt.Errorf("TESTBED_MESH=%q: want %q or %q", c.Mesh, MeshMay, MeshCurrent))
	} else if err := c.Bugs.forMesh(c.Mesh); err != nil {
		errs = append(errs, fmt.Errorf("TESTBED_BUGS=%q: %w", c.Bugs, err))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"TESTBED_HEARTBEAT_TTL", c.HeartbeatTTL}, {"TESTBED_HEARTBEAT_INTERVAL", c.HeartbeatInterval},
		{"TESTBED_KEEPALIVE", c.KeepAlive}, {"TESTBED_PROVIDER_IDLE_TIMEOUT", c.ProviderIdleTimeout}, {"TESTBED_DB_TIMEOUT", c.DBTimeout},
		{"TESTBED_QUEUE_POLL", c.QueuePoll}, {"TESTBED_REAPER_AFTER", c.ReaperAfter}, {"TESTBED_DRAIN_TIMEOUT", c.DrainTimeout}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s=%q: want a positive duration", d.name, d.v))
		}
	}
	if c.HeartbeatTTL > 0 && c.HeartbeatInterval >= c.HeartbeatTTL {
		errs = append(errs, fmt.Errorf("TESTBED_HEARTBEAT_INTERVAL=%q: want less than TESTBED_HEARTBEAT_TTL=%q, or live pods expire between refreshes", c.HeartbeatInterval, c.HeartbeatTTL))
	}
	if c.PurgeGrace < 0 {
		errs = append(errs, fmt.Errorf("TESTBED_PURGE_GRACE=%q: want zero or more", c.PurgeGrace))
	}
	if c.ProviderRetries < 1 || c.HandoverAfter < 1 {
		errs = append(errs, fmt.Errorf("TESTBED_PROVIDER_RETRIES=%d, TESTBED_HANDOVER_AFTER=%d: want at least 1", c.ProviderRetries, c.HandoverAfter))
	}
	return errors.Join(errs...)
}

func setPodName(c *Config, v string) error { c.PodName = v; return nil }

func setExecutorID(c *Config, v string) error { c.ExecutorID = v; return nil }

func setMesh(c *Config, v string) error {
	if v != MeshMay && v != MeshCurrent {
		return fmt.Errorf("want %q (mesh at #3392) or %q (today's mesh)", MeshMay, MeshCurrent)
	}
	c.Mesh = v
	return nil
}

// Executor is the DBOS executor id this pod writes on the workflow rows of the runs it
// claims: ExecutorID, else the pod's name. It names the pod only when it is the pod's
// name: with a shared id ("local", as at mesh's #3392) it is no owner source.
func (c Config) Executor() string {
	if c.ExecutorID != "" {
		return c.ExecutorID
	}
	return c.PodName
}

func setRole(c *Config, v string) error {
	if v != RoleAll && v != RoleAPI {
		return fmt.Errorf("want %q (serve and run) or %q (serve only, as mesh's API pods)", RoleAll, RoleAPI)
	}
	c.Role = v
	return nil
}

// api reports whether the pod only serves (RoleAPI).
func (c Config) api() bool { return c.Role == RoleAPI }

func setDatabaseURL(c *Config, v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return errors.New("want a postgres:// URL")
	}
	c.DatabaseURL = v
	return nil
}

func setNATSURL(c *Config, v string) error {
	for _, one := range strings.Split(v, ",") {
		u, err := url.Parse(strings.TrimSpace(one))
		if err != nil || u.Host == "" {
			return errors.New("want a nats:// URL (or a comma-separated list)")
		}
	}
	c.NATSURL = v
	return nil
}

func setPort(c *Config, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 65535 {
		return errors.New("want a port number 0..65535")
	}
	c.Addr = net.JoinHostPort("", v)
	return nil
}

func setBugs(c *Config, v string) error {
	b, err := ParseBugs(v)
	if err != nil {
		return err
	}
	c.Bugs = b
	return nil
}

func setRuntimeSwitches(c *Config, v string) error {
	on, err := strconv.ParseBool(v)
	if err != nil {
		return errors.New("want true or false")
	}
	c.RuntimeSwitches = on
	return nil
}

func setAuthURL(c *Config, v string) error {
	if v != "*" {
		u, err := url.Parse(v)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return errors.New(`want an origin like http://localhost:3000, or "*"`)
		}
		v = u.Scheme + "://" + u.Host
	}
	c.AuthURL = v
	return nil
}

func durationSetter(field func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return errors.New("want a duration like 10s or 500ms")
		}
		*field(c) = d
		return nil
	}
}

func intSetter(field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return errors.New("want a whole number")
		}
		*field(c) = n
		return nil
	}
}
