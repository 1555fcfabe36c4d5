package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/chaosd/chaosd/probes"
)

// Workload is the traffic chaosd drives while it faults the cluster, and where it
// reaches what it observes. Pod URLs are as chaosd (not the pods) reaches them.
type Workload struct {
	Pods []PodURL `yaml:"pods"` // name (mesh's POD_NAME) and base URL
	// APIPods take requests but run nothing (on Kubernetes: kubernetes.api_selector's
	// pods): runs are posted to them and watched from them as well as from the pods.
	APIPods     []PodURL `yaml:"api_pods,omitempty"`
	NATS        string   `yaml:"nats"`         // mesh's NATS, for buffers and heartbeats
	ProviderURL string   `yaml:"provider_url"` // the mock LLM as the pods reach it
	Hint        string   `yaml:"hint"`         // mockai hint of every run
	Runs        int      `yaml:"runs"`         // runs in flight when a one-shot fault hits
	LateAfter   int      `yaml:"late_after"`   // k: chunks buffered before the late attaches
	// Watchers is how many pods attach to each run late (after late_after chunks),
	// besides the one that watches it from the start: a sample that always holds a
	// pod other than the one the run was started on, rotating over the pods from run
	// to run; 0 means every pod. The default, 2, is every pod on three pods.
	Watchers int `yaml:"watchers"`
	// ProbeInterval is how often each run in flight has its owner and status read
	// from Postgres and its buffer from NATS.
	ProbeInterval Duration `yaml:"probe_interval"`
	AttachRoute   string   `yaml:"attach_route"` // attach or stream
	// Tiers are the keys of the bootstrap's simple_mode.tiers (smart gets the mock
	// model, the others null): mesh at May 2026 takes fast, smart, thinking, image,
	// web_research; today's schema has web_search and deep_research instead.
	Tiers        []string `yaml:"tiers"`
	Heartbeats   bool     `yaml:"heartbeats"`    // mesh has the POD_HEARTBEATS bucket
	HeartbeatTTL Duration `yaml:"heartbeat_ttl"` // the cluster's TTL and refresh, for the graces
	HeartbeatInt Duration `yaml:"heartbeat_interval"`
	DetectInt    Duration `yaml:"detect_interval"` // pods look for dead peers this often; 0 = heartbeat_interval
	// Settle is each run's settle window (no-write-after-end): once the run is decided
	// its buffer is still read about once a second for this long, for writes after
	// its end by a frozen or cut-off owner that wakes. A duration (0: none) or auto:
	// the fault's hold plus heartbeat_ttl for chaosd --fault, the longest hold of the
	// scheduled kinds plus heartbeat_ttl for chaosd soak, none for chaosd bench.
	Settle  Hold   `yaml:"settle"`
	History string `yaml:"history"` // the history file ("" = chaosd-<time>.jsonl in HistoryDir)
	// HistoryDir holds the one-shot's default history files; "" is the target's own,
	// DefaultHistoryDir/<StateKey> (ApplyStateDefaults).
	HistoryDir string `yaml:"history_dir"`
}

// PodURL names one pod and where chaosd reaches it. An empty name is filled in at
// start-up from Docker: the pod whose container publishes the URL's port.
type PodURL struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
}

func defaultWorkload() Workload {
	return Workload{
		Pods: []PodURL{{"mesh-1", "http://127.0.0.1:13001"}, {"mesh-2", "http://127.0.0.1:13002"}, {"mesh-3", "http://127.0.0.1:13003"}},
		NATS: "nats://127.0.0.1:14222", ProviderURL: "http://mockai:9000/v1", Hint: "slow:20x250", Runs: 3, LateAfter: 3, Watchers: 2, ProbeInterval: D(250e6),
		AttachRoute: "attach", Tiers: probes.TiersMay2026, Heartbeats: true, HeartbeatTTL: D(6e9), HeartbeatInt: D(2e9), DetectInt: D(2e9),
		Settle: HoldAuto,
	}
}

func (w Workload) validate(k *checker) {
	k.check(len(w.Pods) == 0 || len(w.Pods) >= 2, "workload.pods", len(w.Pods), "need at least 2 pods (one to fault, one to survive), or none to find them in Docker")
	for i, p := range w.Pods {
		u, err := url.Parse(p.URL)
		for j := range i {
			k.check(p.Name == "" || p.Name != w.Pods[j].Name, fmt.Sprintf("workload.pods[%d].name", i), p.Name, "names pod %d too: each pod once", j)
		}
		k.check(err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "", fmt.Sprintf("workload.pods[%d].url", i), p.URL, "want an http(s) base URL")
	}
	for i, p := range w.APIPods {
		u, err := url.Parse(p.URL)
		k.check(p.Name != "" && !slices.ContainsFunc(w.Pods, func(q PodURL) bool { return q.Name == p.Name }), fmt.Sprintf("workload.api_pods[%d].name", i), p.Name, "want a name that no pod under test has")
		k.check(err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "", fmt.Sprintf("workload.api_pods[%d].url", i), p.URL, "want an http(s) base URL")
	}
	k.check(strings.HasPrefix(w.NATS, "nats://") || strings.HasPrefix(w.NATS, "tls://"), "workload.nats", RedactDSN(w.NATS), "want a nats:// URL")
	k.check(strings.HasPrefix(w.ProviderURL, "http"), "workload.provider_url", w.ProviderURL, "want an http(s) base URL, e.g. http://mockai:9000/v1")
	k.check(w.Runs >= 1, "workload.runs", w.Runs, "must be at least 1")
	k.check(w.LateAfter >= 1, "workload.late_after", w.LateAfter, "must be at least 1 (a late attach must have a prefix to replay)")
	k.check(w.Watchers >= 0, "workload.watchers", w.Watchers, "must be 0 (every pod) or more")
	k.check(w.ProbeInterval >= D(10e6), "workload.probe_interval", w.ProbeInterval.String(), "must be at least 10ms")
	k.check(w.AttachRoute == "attach" || w.AttachRoute == "stream", "workload.attach_route", w.AttachRoute, "want attach or stream")
	k.check(slices.Contains(w.Tiers, "smart"), "workload.tiers", w.Tiers, "must include smart, the tier every run uses")
	k.check(w.DetectInt >= 0, "workload.detect_interval", w.DetectInt.String(), "must not be negative (0: the heartbeat interval)")
	k.check(w.HeartbeatTTL > 0 && w.HeartbeatInt > 0 && w.HeartbeatInt < w.HeartbeatTTL, "workload.heartbeat_interval", w.HeartbeatInt.String(), "must be positive and below workload.heartbeat_ttl (%s)", w.HeartbeatTTL)
	k.check(!w.Settle.Never, "workload.settle", w.Settle.String(), "want a duration (0: no settle window) or auto, not never: the verdict waits for the window")
	k.check(w.Settle.D >= 0, "workload.settle", w.Settle.String(), "must not be negative (0: no settle window)")
}

// Check is a user check, probed with the cluster's readings: exactly one of SQL (must
// return no rows), HTTP (must answer 2xx), NATSStream or NATSBucket (must exist).
type Check struct {
	Name       string `yaml:"name"`
	SQL        string `yaml:"sql,omitempty"`
	HTTP       string `yaml:"http,omitempty"`
	NATSStream string `yaml:"nats_stream,omitempty"`
	NATSBucket string `yaml:"nats_bucket,omitempty"`
}

func validateChecks(cs []Check, k *checker) {
	seen := map[string]bool{}
	for i, c := range cs {
		field := fmt.Sprintf("checks[%d]", i)
		k.check(c.Name != "" && !seen[c.Name], field+".name", c.Name, "must be set and unique")
		seen[c.Name] = true
		set := 0
		for _, v := range []string{c.SQL, c.HTTP, c.NATSStream, c.NATSBucket} {
			if v != "" {
				set++
			}
		}
		k.check(set == 1, field, c.Name, "give exactly one of sql, http, nats_stream, nats_bucket")
		if c.HTTP != "" {
			u, err := url.Parse(c.HTTP)
			k.check(err == nil && (u.Scheme == "http" || u.Scheme == "https"), field+".http", c.HTTP, "want an http(s) URL")
		}
	}
}
