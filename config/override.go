package config

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Override is one setting the environment and a flag can override: the file sets it,
// the environment variable Env overrides the file, the flag overrides both.
type Override struct {
	Flag  string
	Env   string
	Field string // the YAML path it sets
	Usage string
	set   func(c *Config, v string) error
}

// overrides is the one list of overridable settings.
var overrides = []Override{
	{"docker-host", "CHAOSD_DOCKER_HOST", "docker.host", "Docker daemon (default DOCKER_HOST, else the local socket)", func(c *Config, v string) error { c.Docker.Host = v; return nil }},
	{"runtime", "CHAOSD_RUNTIME", "runtime", "where the pods run: docker or kubernetes", func(c *Config, v string) error { c.Runtime = v; return nil }},
	{"kubeconfig", "CHAOSD_KUBECONFIG", "kubernetes.kubeconfig", "kubeconfig file (default KUBECONFIG, ~/.kube/config, else in-cluster)", func(c *Config, v string) error { c.Kubernetes.Kubeconfig = v; return nil }},
	{"kube-context", "CHAOSD_KUBE_CONTEXT", "kubernetes.context", "kubeconfig context (default its current one)", func(c *Config, v string) error { c.Kubernetes.Context = v; return nil }},
	{"kube-selector", "CHAOSD_KUBE_SELECTOR", "kubernetes.selector", "label selector of the pods under test on Kubernetes, e.g. component=worker", func(c *Config, v string) error { c.Kubernetes.Selector = v; return nil }},
	{"kube-reach", "CHAOSD_KUBE_REACH", "kubernetes.reach", "how chaosd reaches the pods and Services on Kubernetes: auto, direct or port-forward", func(c *Config, v string) error { c.Kubernetes.Reach = v; return nil }},
	{"namespace", "CHAOSD_K8S_NAMESPACE", "kubernetes.namespace", "the pods' namespace on Kubernetes", func(c *Config, v string) error { c.Kubernetes.Namespace = v; return nil }},
	{"compose-project", "CHAOSD_COMPOSE_PROJECT", "selector.project", "compose project whose containers chaosd may touch", func(c *Config, v string) error { c.Selector.Project = v; return nil }},
	{"select-labels", "CHAOSD_SELECT_LABELS", "selector.labels", "labels every target must carry: k=v,k2=v2", setLabels},
	{"database-url", "CHAOSD_DATABASE_URL", "postgres.dsn", "mesh's Postgres, where run owners are read", func(c *Config, v string) error { c.Postgres.DSN = v; return nil }},
	{"owner-source", "CHAOSD_OWNER_SOURCE", "owner.source", "where owners are recorded: threads (threads.run_owner_pod), dbos (dbos.workflow_status.executor_id) or query", func(c *Config, v string) error { c.Owner.Source = v; return nil }},
	{"owner-query", "CHAOSD_OWNER_QUERY", "owner.query", "with owner source query: SQL returning (owner pod[, run id]), newest first", func(c *Config, v string) error { c.Owner.Query = v; return nil }},
	{"owner-wait", "CHAOSD_OWNER_WAIT", "owner.wait", "wait this long for an in-progress run to have an owner", setDuration(func(c *Config) *Duration { return &c.Owner.Wait })},
	{"pod-name-from", "CHAOSD_POD_NAME_FROM", "pods.name_from", "a container's pod name: label:KEY, env:VAR or name", func(c *Config, v string) error { c.Pods.NameFrom = v; return nil }},
	{"ledger", "CHAOSD_LEDGER", "ledger.path", "the write-ahead fault ledger (default " + DefaultStateDir + "/<target key>/ledger.jsonl, the key being the compose project)", func(c *Config, v string) error { c.Ledger.Path = v; return nil }},
	{"wait-lock", "CHAOSD_WAIT_LOCK", "ledger.wait_lock", "when another chaosd holds this target: false (refuse at once), true (wait until it ends) or a duration to wait at most", setWaitLock},
	{"max-faulted", "CHAOSD_MAX_FAULTED", "blast_radius.max_faulted", "pods faulted at once, at most", setInt(func(c *Config) *int { return &c.BlastRadius.MaxFaulted })},
	{"min-ready", "CHAOSD_MIN_READY", "blast_radius.min_ready", "other pods that must stay ready", setInt(func(c *Config) *int { return &c.BlastRadius.MinReady })},
	{"watchdog", "CHAOSD_WATCHDOG", "watchdog.enabled", "arm a detached watchdog per fault (true or false)", setBool(func(c *Config) *bool { return &c.Watchdog.Enabled })},
	{"pods", "CHAOSD_PODS", "workload.pods", "the pods as chaosd reaches them, comma-separated: NAME=URL, or a bare base URL named after the container that publishes its port", setPods},
	{"nats-url", "CHAOSD_NATS_URL", "workload.nats", "mesh's NATS, for run buffers and heartbeats", func(c *Config, v string) error { c.Workload.NATS = v; return nil }},
	{"provider-url", "CHAOSD_PROVIDER_URL", "workload.provider_url", "the mock LLM's base URL as the pods reach it", func(c *Config, v string) error { c.Workload.ProviderURL = v; return nil }},
	{"hint", "CHAOSD_HINT", "workload.hint", "mockai hint of every run, e.g. slow:20x250", func(c *Config, v string) error { c.Workload.Hint = v; return nil }},
	{"late-after", "CHAOSD_LATE_AFTER", "workload.late_after", "k: chunks buffered in a run's JetStream buffer before the late attaches open", setInt(func(c *Config) *int { return &c.Workload.LateAfter })},
	{"runs", "CHAOSD_RUNS", "workload.runs", "runs in flight when the fault hits", setInt(func(c *Config) *int { return &c.Workload.Runs })},
	{"watchers", "CHAOSD_WATCHERS", "workload.watchers", "pods that attach to each run late, besides its early watcher (0: every pod)", setInt(func(c *Config) *int { return &c.Workload.Watchers })},
	{"probe-interval", "CHAOSD_PROBE_INTERVAL", "workload.probe_interval", "how often each run in flight is read from Postgres and NATS", setDuration(func(c *Config) *Duration { return &c.Workload.ProbeInterval })},
	{"settle", "CHAOSD_SETTLE", "workload.settle", "after a run is decided, read its buffer this long for writes after its end: a duration (0: none) or auto (the heartbeat TTL, or one refresh interval on a mesh without a heartbeat bucket, from the decision or the fault's heal, whichever is later)", setSettle},
	{"history", "CHAOSD_HISTORY", "workload.history", "history file (JSONL; default chaosd-<time>.jsonl in workload.history_dir)", func(c *Config, v string) error { c.Workload.History = v; return nil }},
	{"history-dir", "CHAOSD_HISTORY_DIR", "workload.history_dir", "directory of the one-shot's default history files (default " + DefaultHistoryDir + "/<target key>)", func(c *Config, v string) error { c.Workload.HistoryDir = v; return nil }},
	{"heartbeat-ttl", "CHAOSD_HEARTBEAT_TTL", "workload.heartbeat_ttl", "the cluster's heartbeat TTL (graces derive from it)", setDuration(func(c *Config) *Duration { return &c.Workload.HeartbeatTTL })},
	{"heartbeat-interval", "CHAOSD_HEARTBEAT_INTERVAL", "workload.heartbeat_interval", "the pods' heartbeat refresh and orphan scan interval", setDuration(func(c *Config) *Duration { return &c.Workload.HeartbeatInt })},
	{"detect-interval", "CHAOSD_DETECT_INTERVAL", "workload.detect_interval", "how often the pods look for dead peers (default: the heartbeat interval)", setDuration(func(c *Config) *Duration { return &c.Workload.DetectInt })},
	{"boot-time", "CHAOSD_BOOT_TIME", "pods.boot_time", "how long a pod takes from its start to ready (pod-recovers' deadline derives from it)", setDuration(func(c *Config) *Duration { return &c.Pods.BootTime })},
	{"duration", "CHAOSD_SOAK_DURATION", "soak.duration", "how long to run, e.g. 8h", setDuration(func(c *Config) *Duration { return &c.Soak.Duration })},
	{"rate", "CHAOSD_SOAK_RATE", "soak.rate", "runs started per second", setFloat(func(c *Config) *float64 { return &c.Soak.Rate })},
	{"max-in-flight", "CHAOSD_SOAK_MAX_IN_FLIGHT", "soak.max_in_flight", "runs in flight at most", setInt(func(c *Config) *int { return &c.Soak.MaxInFlight })},
	{"warmup", "CHAOSD_SOAK_WARMUP", "soak.warmup", "no faults this long after the start", setDuration(func(c *Config) *Duration { return &c.Soak.Warmup })},
	{"cooldown", "CHAOSD_SOAK_COOLDOWN", "soak.cooldown", "no faults in this last stretch (the final quiet check)", setDuration(func(c *Config) *Duration { return &c.Soak.Cooldown })},
	{"out", "CHAOSD_SOAK_OUT", "soak.out", "directory for the history and the reports (default " + DefaultSoakDir + "/<target key>)", func(c *Config, v string) error { c.Soak.Out = v; return nil }},
	{"history-max", "CHAOSD_HISTORY_MAX", "soak.history_max", "rotate the history at this size, e.g. 256MiB (0: never)", func(c *Config, v string) error {
		b, err := ParseByteSize(v)
		c.Soak.HistoryMax = b
		return err
	}},
	{"schedule", "CHAOSD_SOAK_SCHEDULE", "soak.faults", "fault schedules, KIND=SPEC[~JITTER][;...], e.g. 'kill=@every 10m~1m;pause=0 */2 * * *'", setSchedules},
	{"quiet", "CHAOSD_SOAK_QUIET", "soak.quiet", "quiet windows, 'SPEC for DURATION[;...]', e.g. '0 2 * * * for 30m'", setQuiet},
	{"compress", "CHAOSD_HISTORY_COMPRESS", "soak.compress", "gzip rotated history segments (true or false)", setBool(func(c *Config) *bool { return &c.Soak.Compress })},
	{"progress", "CHAOSD_PROGRESS", "soak.progress", "auto, line, log or off", func(c *Config, v string) error { c.Soak.Progress = v; return nil }},
	{"alert-webhook", "CHAOSD_ALERT_WEBHOOK", "alerts.webhooks", "generic JSON webhook URL(s), comma-separated", func(c *Config, v string) error {
		c.Alerts.Webhooks = strings.Split(v, ",")
		return nil
	}},
	{"alert-slack", "CHAOSD_ALERT_SLACK", "alerts.slack", "Slack incoming webhook URL", func(c *Config, v string) error { c.Alerts.Slack = v; return nil }},
	{"alertmanager", "CHAOSD_ALERTMANAGER", "alerts.alertmanager", "Alertmanager base URL (v2 API)", func(c *Config, v string) error { c.Alerts.Alertmanager = v; return nil }},
	{"alert-renotify", "CHAOSD_ALERT_RENOTIFY", "alerts.renotify", "re-send a still-firing alert this often", setDuration(func(c *Config) *Duration { return &c.Alerts.Renotify })},
	{"alert-resolve-after", "CHAOSD_ALERT_RESOLVE_AFTER", "alerts.resolve_after", "an alert not seen again for this long is resolved", setDuration(func(c *Config) *Duration { return &c.Alerts.ResolveAfter })},
	{"alert-labels", "CHAOSD_ALERT_LABELS", "alerts.labels", "labels added to every alert: k=v,k2=v2", func(c *Config, v string) error {
		l, err := parseLabels(v)
		c.Alerts.Labels = l
		return err
	}},
	{"pprof", "CHAOSD_PPROF", "metrics.pprof", "also serve Go's profiles on the metrics address under /debug/pprof/ (true or false)", setBool(func(c *Config) *bool { return &c.Metrics.Pprof })},
	{"metrics-addr", "CHAOSD_METRICS_ADDR", "metrics.addr", "serve /metrics here (\"\" turns it off)", func(c *Config, v string) error { c.Metrics.Addr = v; return nil }},
	{"watchdog-binary", "CHAOSD_WATCHDOG_BINARY", "watchdog.binary", "chaosd executable the watchdog runs (default: this one)", func(c *Config, v string) error { c.Watchdog.Binary = v; return nil }},
}

// soakOnly are the overrides that only chaosd soak takes as flags (their
// environment variables apply everywhere); --fault has a --duration of its own.
var soakOnly = map[string]bool{"duration": true, "rate": true, "max-in-flight": true, "warmup": true, "cooldown": true, "out": true,
	"history-max": true, "schedule": true, "quiet": true, "compress": true, "progress": true, "alert-webhook": true, "alert-slack": true,
	"alertmanager": true, "alert-renotify": true, "alert-resolve-after": true, "alert-labels": true, "metrics-addr": true, "pprof": true}

// Overrides lists the overridable settings.
func Overrides() []Override { return append([]Override(nil), overrides...) }

// EnvConfig names the variable holding the config file's path.
const EnvConfig = "CHAOSD_CONFIG"

// Flags are the --config flag and the override flags of one FlagSet.
type Flags struct {
	fs     *flag.FlagSet
	path   *string
	target *string
	vals   map[string]*string
}

// RegisterFlags adds --config and the override flags of every command but the soak
// to fs.
func RegisterFlags(fs *flag.FlagSet) *Flags { return register(fs, false) }

// RegisterSoakFlags adds --config and every override flag, the soak's included.
func RegisterSoakFlags(fs *flag.FlagSet) *Flags { return register(fs, true) }

func register(fs *flag.FlagSet, soak bool) *Flags {
	f := &Flags{fs: fs, vals: map[string]*string{}}
	f.path = fs.String("config", "", "YAML config file (env "+EnvConfig+"; default: the target profile's settings)")
	f.target = fs.String("target", "", "the target profile: "+strings.Join(ProfileNames(), ", ")+" (env "+EnvTarget+", or target: in the file; default bundled); chaosd targets lists them")
	for _, o := range overrides {
		if soakOnly[o.Flag] && !soak {
			continue
		}
		v := &flagValue{isBool: boolFlags[o.Flag]}
		f.vals[o.Flag] = &v.s
		fs.Var(v, o.Flag, fmt.Sprintf("%s: %s (env %s)", o.Field, o.Usage, o.Env))
	}
	return f
}

// boolFlags are the overrides that take no value on the command line (--pprof is
// --pprof=true); the environment still says true or false.
var boolFlags = map[string]bool{"watchdog": true, "compress": true, "pprof": true, "wait-lock": true}

// flagValue holds an override flag's text until Resolve applies it.
type flagValue struct {
	s      string
	isBool bool
}

func (v *flagValue) String() string     { return v.s }
func (v *flagValue) Set(s string) error { v.s = s; return nil }
func (v *flagValue) IsBoolFlag() bool   { return v.isBool }

// Resolve builds the configuration after fs was parsed: Default(), the file (flag or
// env), the environment, the flags set on the command line; then validates it.
func (f *Flags) Resolve(getenv func(string) string) (Config, string, error) {
	target := getenv(EnvTarget)
	if f.target != nil && *f.target != "" {
		target = *f.target
	}
	return f.resolve(getenv, target)
}

// ResolveAs is Resolve with the target profile given, whatever the flag, the
// environment or the file say (chaosd doctor --suggest tries each).
func (f *Flags) ResolveAs(getenv func(string) string, target string) (Config, string, error) {
	return f.resolve(getenv, target)
}

func (f *Flags) resolve(getenv func(string) string, target string) (Config, string, error) {
	path := *f.path
	if path == "" {
		path = getenv(EnvConfig)
	}
	var c Config
	var err error
	if path != "" {
		c, err = LoadTarget(path, target)
	} else {
		c, err = ForTarget(or(target, TargetBundled))
	}
	if err != nil {
		if path == "" {
			err = fmt.Errorf("--target: %w", err)
		}
		return Config{}, path, err
	}
	if err := c.applyEnv(getenv); err != nil {
		return Config{}, path, err
	}
	if err := c.applyFlags(f); err != nil {
		return Config{}, path, err
	}
	c.ApplyStateDefaults()
	if err := c.Validate(); err != nil {
		return c, path, fmt.Errorf("config%s: %w", inFile(path), err)
	}
	return c, path, nil
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

func inFile(path string) string {
	if path == "" {
		return ""
	}
	return " " + path
}

func (c *Config) applyEnv(getenv func(string) string) error {
	var errs []error
	for _, o := range overrides {
		if v := getenv(o.Env); v != "" {
			if err := o.set(c, v); err != nil {
				errs = append(errs, fmt.Errorf("env %s: %w", o.Env, err))
			}
		}
	}
	return errors.Join(errs...)
}

func (c *Config) applyFlags(f *Flags) error {
	var errs []error
	f.fs.Visit(func(fl *flag.Flag) {
		for _, o := range overrides {
			if o.Flag == fl.Name && f.vals[o.Flag] != nil {
				if err := o.set(c, *f.vals[o.Flag]); err != nil {
					errs = append(errs, fmt.Errorf("--%s: %w", o.Flag, err))
				}
			}
		}
	})
	return errors.Join(errs...)
}

func setInt(field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		*field(c) = n
		return nil
	}
}

func setBool(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		*field(c) = b
		return nil
	}
}

func setDuration(field func(*Config) *Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		h, err := ParseHold(v)
		if err != nil || h.Never {
			return fmt.Errorf("%q is not a duration (e.g. 30s, 2m)", v)
		}
		*field(c) = Duration(h.D)
		return nil
	}
}

// setSettle is workload.settle: a duration or auto (never is refused here; a negative
// duration by Validate, which names the setting).
func setSettle(c *Config, v string) error {
	h, err := ParseHold(v)
	if err != nil || h.Never {
		return fmt.Errorf("%q is not a duration (e.g. 40s; 0 turns the settle window off) or auto", v)
	}
	c.Workload.Settle = h
	return nil
}

// setPods replaces workload.pods: comma-separated entries, each NAME=URL or a bare
// base URL (as deploy/cluster.sh env prints them), whose name is left empty: chaosd
// names it at start-up after the container that publishes the URL's port.
func setPods(c *Config, v string) error {
	var out []PodURL
	for i, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, raw := "", part
		if n, u, ok := strings.Cut(part, "="); ok && !strings.Contains(n, "://") { // else an '=' in a bare URL's query
			if name, raw = strings.TrimSpace(n), u; name == "" {
				return fmt.Errorf("entry %d %q: empty pod name before '=' (want NAME=URL or a bare URL)", i+1, part)
			}
		}
		raw = strings.TrimRight(strings.TrimSpace(raw), "/")
		if !httpBase(raw) {
			return fmt.Errorf("entry %d %q: %q is not an http(s) base URL (want NAME=URL or a bare URL, e.g. mesh-1=http://127.0.0.1:13001)", i+1, part, raw)
		}
		out = append(out, PodURL{Name: name, URL: raw})
	}
	if len(out) == 0 {
		return fmt.Errorf("%q names no pod (want comma-separated NAME=URL or base URLs)", v)
	}
	c.Workload.Pods = out
	return nil
}

func httpBase(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// setWaitLock is ledger.wait_lock: true or false, or a duration.
func setWaitLock(c *Config, v string) error {
	if _, _, err := ParseWaitLock(v); err != nil {
		return err
	}
	c.Ledger.WaitLock = v
	return nil
}

// ParseWaitLock reads ledger.wait_lock: "" or false (refuse at once), true or forever
// (wait until the other chaosd ends, or chaosd is stopped), or a positive duration
// (wait at most that long).
func ParseWaitLock(v string) (d time.Duration, forever bool, err error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "false", "0", "no":
		return 0, false, nil
	case "true", "forever", "yes":
		return 0, true, nil
	}
	d, err = time.ParseDuration(strings.TrimSpace(v))
	if err != nil || d < 0 {
		return 0, false, fmt.Errorf("%q: want true, false or a duration such as 2m", v)
	}
	return d, false, nil
}

func setLabels(c *Config, v string) error {
	labels, err := parseLabels(v)
	c.Selector.Labels = labels
	return err
}

func parseLabels(v string) (map[string]string, error) {
	labels := map[string]string{}
	for _, kv := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q: want key=value[,key=value]", kv)
		}
		labels[k] = val
	}
	return labels, nil
}

func setFloat(field func(*Config) *float64) func(*Config, string) error {
	return func(c *Config, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", v)
		}
		*field(c) = f
		return nil
	}
}

// setSchedules replaces the soak's fault schedules: KIND=SPEC[~JITTER] separated by
// ';' (cron specs hold spaces and commas), each with the kind's target kept from the
// file when it scheduled that kind, else SoakTarget(kind): owner, all for a rollout.
// Without ~JITTER there is none: a jitter fits one spacing of firings, so it goes with
// its schedule.
func setSchedules(c *Config, v string) error {
	old := map[string]SoakFault{}
	for _, f := range c.Soak.Faults {
		old[f.Kind] = f
	}
	var out []SoakFault
	for _, part := range strings.Split(v, ";") {
		kind, spec, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || kind == "" || spec == "" {
			return fmt.Errorf("%q: want KIND=SPEC[;KIND=SPEC], e.g. kill=@every 10m", part)
		}
		f, had := old[kind]
		if !had {
			f = SoakFault{Kind: kind, Target: SoakTarget(kind)}
		}
		spec, jitter, hasJitter := strings.Cut(spec, "~")
		f.Schedule, f.Jitter = strings.TrimSpace(spec), 0
		if hasJitter {
			h, err := ParseHold(strings.TrimSpace(jitter))
			if err != nil || h.Never {
				return fmt.Errorf("%q: jitter %q is not a duration (e.g. 30s)", part, jitter)
			}
			f.Jitter = Duration(h.D)
		}
		out = append(out, f)
	}
	c.Soak.Faults = out
	return nil
}

// setQuiet replaces the soak's quiet windows: 'SPEC for DURATION' separated by ';'.
func setQuiet(c *Config, v string) error {
	var out []QuietSpell
	for _, part := range strings.Split(v, ";") {
		spec, d, ok := strings.Cut(strings.TrimSpace(part), " for ")
		h, err := ParseHold(strings.TrimSpace(d))
		if !ok || spec == "" || err != nil || h.Never {
			return fmt.Errorf("%q: want 'SPEC for DURATION[;...]', e.g. '0 2 * * * for 30m'", part)
		}
		out = append(out, QuietSpell{Schedule: strings.TrimSpace(spec), For: Duration(h.D)})
	}
	c.Soak.Quiet = out
	return nil
}
