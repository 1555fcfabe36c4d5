// Package config is chaosd's configuration: a YAML file decoded strictly (an unknown
// field is an error) over Default(), the bundled cluster's values; environment
// variables override the file and flags override both (override.go). Validate names
// the field and the value of every problem.
//
// Each section is a struct of its own with its own checks, so that later features add
// a section (or a field) and its validation in one place.
package config

import (
	"path/filepath"
	"strings"

	"github.com/chaosd/chaosd/faults"
)

// Config is all of chaosd's configuration.
type Config struct {
	// Target names the profile (config/targets/NAME.yaml) whose values sit between
	// the built-in defaults and this file: bundled, mesh-2026-05, mesh-current.
	Target string `yaml:"target"`
	// Promises are what the target mesh promises (package promise): each invariant
	// checks one, and one whose promise the mesh does not make is not judged. Empty:
	// the promises of mesh at May 2026 (promise.Default).
	Promises []string `yaml:"promises"`
	// Runtime is where the pods run: docker (compose containers, the default) or
	// kubernetes (pods of a namespace, through the API server).
	Runtime     string      `yaml:"runtime"`
	Docker      Docker      `yaml:"docker"`
	Kubernetes  Kubernetes  `yaml:"kubernetes"`
	Selector    Selector    `yaml:"selector"`
	Pods        Pods        `yaml:"pods"`
	Postgres    Postgres    `yaml:"postgres"`
	Owner       Owner       `yaml:"owner"`
	Ledger      Ledger      `yaml:"ledger"`
	BlastRadius BlastRadius `yaml:"blast_radius"`
	Faults      Faults      `yaml:"faults"`
	Watchdog    Watchdog    `yaml:"watchdog"`
	Workload    Workload    `yaml:"workload"`
	Checks      []Check     `yaml:"checks"`
	Soak        Soak        `yaml:"soak"`
	Alerts      Alerts      `yaml:"alerts"`
	Metrics     Metrics     `yaml:"metrics"`
}

// Docker is the Docker daemon chaosd drives.
type Docker struct {
	Host    string   `yaml:"host"`    // "" = DOCKER_HOST, else the default socket
	Timeout Duration `yaml:"timeout"` // for the first contact (ping)
}

// Kubernetes is the cluster chaosd drives when runtime is kubernetes.
type Kubernetes struct {
	Kubeconfig string `yaml:"kubeconfig"` // "" = KUBECONFIG, ~/.kube/config, else in-cluster
	Context    string `yaml:"context"`    // "" = the kubeconfig's current context
	Namespace  string `yaml:"namespace"`  // the pods' namespace: chaosd touches nothing outside it
	Selector   string `yaml:"selector"`   // label selector of the pods under test, e.g. component=worker
	// APISelector picks pods that take requests but run nothing (mesh's API pods,
	// component=api): runs are posted to them and watched from them too; they are
	// never faulted and keep no heartbeat. "" = none.
	APISelector string   `yaml:"api_selector"`
	ProbeImage  string   `yaml:"probe_image"` // image of the partition probe pod; it must hold /chaosd
	Timeout     Duration `yaml:"timeout"`     // for the first contact
	// Reach is how chaosd reaches the pods and the Services its addresses name:
	// direct (pod IPs and Service addresses route from here: on a node, or in a pod),
	// port-forward (through the API server, for a chaosd outside the cluster's
	// network), or auto (direct when a pod IP answers, else port-forward).
	Reach string `yaml:"reach"`
}

// Ways to reach a Kubernetes target (Kubernetes.Reach).
const (
	ReachAuto        = "auto"
	ReachDirect      = "direct"
	ReachPortForward = "port-forward"
)

// Runtimes.
const (
	RuntimeDocker     = faults.RuntimeDocker
	RuntimeKubernetes = faults.RuntimeKubernetes
)

// RuntimeName is the runtime, docker when unset.
func (c Config) RuntimeName() string {
	if c.Runtime == "" {
		return RuntimeDocker
	}
	return c.Runtime
}

// Selector says which containers chaosd may ever touch.
type Selector struct {
	Project string            `yaml:"project"` // compose project (label com.docker.compose.project)
	Labels  map[string]string `yaml:"labels"`  // and/or labels every target must carry
	Infra   []string          `yaml:"infra"`   // pod or service names hurt only when named
}

// Pods says how to name and probe the pods.
type Pods struct {
	NameFrom string `yaml:"name_from"` // label:KEY, env:VAR or name: the pod name (mesh's POD_NAME)
	Port     int    `yaml:"port"`      // the pods' HTTP port inside the container
	Ready    string `yaml:"ready"`     // http (GET /health/ready) or running (container state)
	// BootTime is how long a pod takes from its start to ready: pod-recovers' deadline
	// and the preflight's patience derive from it.
	BootTime Duration `yaml:"boot_time"`
}

// Postgres is mesh's database, where run owners are read.
type Postgres struct {
	DSN string `yaml:"dsn"`
	// ReplyQuery reads a run's persisted reply: SQL returning (message id, text)
	// rows of thread $1's assistant text parts, in order. Needed when the target
	// promises reply-persisted-once; "" reads nothing.
	ReplyQuery string `yaml:"reply_query"`
}

// Owner says where a run's owner pod is recorded.
type Owner struct {
	Source string   `yaml:"source"` // threads, dbos, or query
	Query  string   `yaml:"query"`  // source query: SQL returning (owner pod[, run id]), newest first
	Wait   Duration `yaml:"wait"`   // how long --fault=KIND-owner waits for an in-progress run
}

// Ledger is the write-ahead fault ledger.
type Ledger struct {
	// Path is the ledger file; "" is the target's own, DefaultStateDir/<StateKey>/
	// ledger.jsonl (ApplyStateDefaults), so that chaosd instances on different
	// clusters never share one.
	Path string `yaml:"path"`
	// WaitLock says what to do when another chaosd already holds this target (its
	// instance lock beside the ledger): "" or false refuse at once, true wait until it
	// ends, a duration wait at most that long (ParseWaitLock).
	WaitLock string `yaml:"wait_lock"`
}

// BlastRadius bounds the damage.
type BlastRadius struct {
	MaxFaulted int `yaml:"max_faulted"` // pods faulted at once
	MinReady   int `yaml:"min_ready"`   // other pods that must stay ready
}

// Faults tunes the fault kinds.
type Faults struct {
	ConfirmTimeout Duration            `yaml:"confirm_timeout"` // to observe an effect or a heal
	HealTimeout    Duration            `yaml:"heal_timeout"`    // for one heal, confirmation included
	ProbeTimeout   Duration            `yaml:"probe_timeout"`   // one TCP probe of a partition
	Settle         Duration            `yaml:"settle"`          // after a crash mid-injection: wait for a call in flight
	Kinds          map[string]Kind     `yaml:"kinds"`           // per kind defaults, by kind name
	Peers          map[string][]string `yaml:"peers"`           // partition peer groups: name -> pods or services
}

// Kind holds one kind's defaults; which fields a kind takes is in faults.Kinds.
type Kind struct {
	Duration *Hold `yaml:"duration,omitempty"` // a duration or auto

	DownFor *Hold    `yaml:"down_for,omitempty"`
	Peers   []string `yaml:"peers,omitempty"`
}

// Watchdog is the detached process that heals a fault at its deadline if chaosd dies.
type Watchdog struct {
	Enabled bool     `yaml:"enabled"`
	Grace   Duration `yaml:"grace"`   // extra wait past the deadline while chaosd lives
	GiveUp  Duration `yaml:"give_up"` // stop retrying a failing heal this long after the deadline
	Binary  string   `yaml:"binary"`  // "" = the running chaosd executable
}

// Where chaosd keeps its state unless configured: each under a directory of its own
// per target (StateKey), so that two chaosd on two clusters of one host share none of
// it.
const (
	DefaultStateDir   = "/var/lib/chaosd" // <key>/ledger.jsonl and the instance lock beside it
	DefaultHistoryDir = "chaosd-history"  // <key>/chaosd-<time>.jsonl, relative to the working directory
	DefaultSoakDir    = "chaosd-soak"     // <key>/<start time>/, relative to the working directory
)

// StateKey names the target chaosd acts on, for the paths of its state: the compose
// project, else the profile plus the selector's labels (k=v, sorted), with every
// character outside [A-Za-z0-9._-] replaced by '_'.
func (c Config) StateKey() string {
	key := c.Selector.Project
	if c.RuntimeName() == RuntimeKubernetes {
		key = "k8s-" + c.Kubernetes.Namespace + "-" + c.Kubernetes.Selector
	}
	if key == "" {
		parts := []string{or(c.Target, TargetBundled)}
		for _, k := range sortedKeys(c.Selector.Labels) {
			parts = append(parts, k+"="+c.Selector.Labels[k])
		}
		key = strings.Join(parts, "-")
	}
	b := []byte(key)
	for i, ch := range b {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '_' || ch == '-') {
			b[i] = '_'
		}
	}
	if s := string(b); s != "" && s != "." && s != ".." {
		return s
	}
	return "_"
}

// ApplyStateDefaults fills the state paths left empty with the target's own:
// ledger.path, workload.history_dir and soak.out, each under StateKey. A path set in
// the file, the environment or a flag is kept as it is.
func (c *Config) ApplyStateDefaults() {
	key := c.StateKey()
	if c.Ledger.Path == "" {
		c.Ledger.Path = filepath.Join(DefaultStateDir, key, "ledger.jsonl")
	}
	if c.Workload.HistoryDir == "" {
		c.Workload.HistoryDir = filepath.Join(DefaultHistoryDir, key)
	}
	if c.Soak.Out == "" {
		c.Soak.Out = filepath.Join(DefaultSoakDir, key)
	}
}

// Default is the configuration for the bundled cluster (deploy/docker-compose.yml).
func Default() Config {
	return Config{
		Docker:      Docker{Timeout: D(10e9)},
		Kubernetes:  Kubernetes{Timeout: D(10e9), ProbeImage: "chaosd:dev"},
		Target:      TargetBundled,
		Selector:    Selector{Project: "chaosd", Labels: map[string]string{}, Infra: []string{"postgres", "nats", "mockai", "mock-ai", "migrate"}},
		Pods:        Pods{NameFrom: faults.DefaultPodNameRule.String(), Port: 3000, Ready: ReadyHTTP, BootTime: D(5e9)},
		Postgres:    Postgres{DSN: "postgres://postgres:postgres@127.0.0.1:15432/postgres?sslmode=disable"},
		Owner:       Owner{Source: "threads"},
		Ledger:      Ledger{}, // the target's own: ApplyStateDefaults
		BlastRadius: BlastRadius{MaxFaulted: 1, MinReady: 1},
		Faults: Faults{
			ConfirmTimeout: D(10e9), HealTimeout: D(60e9), ProbeTimeout: D(250e6), Settle: D(3e9),
			Kinds: map[string]Kind{
				"kill":      {DownFor: ptr(HoldAuto)},
				"pause":     {Duration: ptr(HoldAuto)},
				"partition": {Duration: ptr(HoldAuto)},
				"stop":      {DownFor: ptr(HoldAuto)},
			},
			Peers: map[string][]string{"nats": {"nats"}, "postgres": {"postgres"}, "mockai": {"mockai", "mock-ai"}},
		},
		Watchdog: Watchdog{Enabled: true, Grace: D(2e9), GiveUp: D(3600e9)},
		Workload: defaultWorkload(),
		Soak:     defaultSoak(),
		Alerts:   defaultAlerts(),
		Metrics:  defaultMetrics(),
	}
}

// Readiness checks of pods.
const (
	ReadyHTTP    = "http"
	ReadyRunning = "running"
)

func ptr[T any](v T) *T { return &v }
