package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/chaosd/chaosd/faults"
	"github.com/chaosd/chaosd/schedule"
)

// Soak is the overnight soak (chaosd soak): runs flow at Rate for Duration while the
// faults fire on their cron schedules; none fires during Warmup, during a quiet
// window, or in the last Cooldown, which is the final quiet check: every fault is
// healed, runs still flow, every pod must be ready again.
type Soak struct {
	Duration    Duration     `yaml:"duration"`      // how long the soak runs (faults and runs)
	Rate        float64      `yaml:"rate"`          // runs started per second
	MaxInFlight int          `yaml:"max_in_flight"` // runs in flight at most
	Warmup      Duration     `yaml:"warmup"`        // no faults this long after the start
	Cooldown    Duration     `yaml:"cooldown"`      // no faults in the last stretch: the final quiet check
	Out         string       `yaml:"out"`           // directory for the history and the reports
	HistoryMax  ByteSize     `yaml:"history_max"`   // rotate the history at this size (0: never)
	Compress    bool         `yaml:"compress"`      // gzip rotated history segments
	Faults      []SoakFault  `yaml:"faults"`        // one schedule per fault kind
	Quiet       []QuietSpell `yaml:"quiet"`         // recurring windows with no faults
	Progress    string       `yaml:"progress"`      // auto, line (a live line on a terminal), log, off
}

// SoakFault is one fault kind's schedule.
type SoakFault struct {
	Kind     string   `yaml:"kind"`     // kill, stop, pause, partition or rollout
	Schedule string   `yaml:"schedule"` // cron (5 or 6 fields, UTC) or @every 10m
	Jitter   Duration `yaml:"jitter"`   // each firing waits a random delay in [0, jitter) first
	Target   string   `yaml:"target"`   // owner (of an in-flight run), random, a pod's name; all for rollout
}

// QuietSpell is a window opened at each firing of Schedule that lasts For.
type QuietSpell struct {
	Schedule string   `yaml:"schedule"` // cron, e.g. "0 2 * * *" (02:00 UTC)
	For      Duration `yaml:"for"`
}

// Alerts says where violations are announced while the soak runs. URLs are secrets:
// they are never logged or printed (check-config shows them redacted).
type Alerts struct {
	Webhooks     []string          `yaml:"webhooks"`      // generic JSON webhooks
	Slack        string            `yaml:"slack"`         // a Slack incoming webhook
	Alertmanager string            `yaml:"alertmanager"`  // Alertmanager base URL (v2 API)
	Renotify     Duration          `yaml:"renotify"`      // re-send a still-firing alert this often
	ResolveAfter Duration          `yaml:"resolve_after"` // resolved when not seen again for this long
	Labels       map[string]string `yaml:"labels"`        // added to every alert (e.g. cluster: staging)
}

// Metrics is chaosd's own /metrics endpoint.
type Metrics struct {
	Addr  string `yaml:"addr"`  // host:port, 127.0.0.1 unless you mean it; "" turns it off
	Pprof bool   `yaml:"pprof"` // also serve Go's profiles under /debug/pprof/ (diagnosing chaosd)
}

// Progress modes.
const (
	ProgressAuto = "auto" // a live line on a terminal, a log line a minute otherwise
	ProgressLine = "line"
	ProgressLog  = "log"
	ProgressOff  = "off"
)

func defaultSoak() Soak {
	return Soak{
		Duration: D(8 * 3600e9), Rate: 0.5, MaxInFlight: 6, Warmup: D(60e9), Cooldown: D(180e9), Out: "", // the target's own: ApplyStateDefaults
		HistoryMax: 256 << 20, Compress: true, Progress: ProgressAuto, Quiet: []QuietSpell{},
		Faults: []SoakFault{
			{Kind: "kill", Schedule: "@every 10m", Jitter: D(60e9), Target: "owner"},
			{Kind: "pause", Schedule: "@every 15m", Jitter: D(60e9), Target: "owner"},
			{Kind: "partition", Schedule: "@every 20m", Jitter: D(60e9), Target: "owner"},
		},
	}
}

func defaultAlerts() Alerts {
	return Alerts{Webhooks: []string{}, Renotify: D(3600e9), ResolveAfter: D(600e9), Labels: map[string]string{}}
}

func defaultMetrics() Metrics { return Metrics{Addr: "127.0.0.1:9464"} }

func (s Soak) validate(k *checker) {
	k.check(s.Duration > 0, "soak.duration", s.Duration.String(), "must be positive, e.g. 8h")
	k.check(s.Rate > 0, "soak.rate", s.Rate, "must be positive (runs per second)")
	k.check(s.MaxInFlight >= 1, "soak.max_in_flight", s.MaxInFlight, "must be at least 1")
	k.check(s.Warmup >= 0 && s.Cooldown >= 0, "soak.warmup", s.Warmup.String(), "warmup and cooldown must not be negative")
	k.check(s.Duration <= 0 || s.Warmup+s.Cooldown < s.Duration, "soak.cooldown", s.Cooldown.String(),
		"warmup (%s) plus cooldown must be shorter than the duration (%s), or no fault ever fires", s.Warmup, s.Duration)
	k.check(s.Out != "", "soak.out", s.Out, "must name a directory")
	k.check(s.HistoryMax == 0 || s.HistoryMax >= 1<<20, "soak.history_max", s.HistoryMax.String(), "must be 0 (never rotate) or at least 1MiB")
	k.check(s.Progress == ProgressAuto || s.Progress == ProgressLine || s.Progress == ProgressLog || s.Progress == ProgressOff,
		"soak.progress", s.Progress, "want auto, line, log or off")
	seen := map[string]int{}
	for i, f := range s.Faults {
		field := fmt.Sprintf("soak.faults[%d]", i)
		info, lookupErr := faults.LookupKind(f.Kind)
		if lookupErr != nil {
			k.check(false, field+".kind", f.Kind, "want one of %s", strings.Join(faults.KindNames(), ", "))
		} else if j, dup := seen[f.Kind]; dup {
			k.check(false, field+".kind", f.Kind, "already scheduled by soak.faults[%d]: one schedule per kind", j)
		}
		seen[f.Kind] = i
		if info.AllPods {
			k.check(f.Target == faults.PickAll, field+".target", f.Target, "%s restarts every pod in turn: want %s", f.Kind, faults.PickAll)
		} else {
			k.check(f.Target != "" && f.Target != faults.PickAll, field+".target", f.Target, "want owner, random or a pod's name (%s is for %s)",
				faults.PickAll, kindsOfAllPods())
		}
		err := schedule.Validate(schedule.Config{Entries: []schedule.Entry{{Kind: "x", Spec: f.Schedule, Jitter: f.Jitter.Std()}}})
		var fe *schedule.FieldError
		for _, e := range unjoin(err) {
			field := field + ".schedule"
			if errors.As(e, &fe) && strings.HasSuffix(fe.Field, "jitter") {
				k.check(false, field[:len(field)-len("schedule")]+"jitter", f.Jitter.String(), "%v", fe.Err)
				continue
			}
			if errors.As(e, &fe) {
				e = fe.Err
			}
			k.check(false, field, f.Schedule, "%v", e)
		}
	}
	for i, q := range s.Quiet {
		field := fmt.Sprintf("soak.quiet[%d]", i)
		err := schedule.Validate(schedule.Config{Quiet: []schedule.Quiet{{Spec: q.Schedule, For: q.For.Std()}}})
		var fe *schedule.FieldError
		for _, e := range unjoin(err) {
			sub := ".schedule"
			var v any = q.Schedule
			if errors.As(e, &fe) {
				if strings.HasSuffix(fe.Field, "for") {
					sub, v = ".for", q.For.String()
				}
				e = fe.Err
			}
			k.check(false, field+sub, v, "%v", e)
		}
	}
}

// SoakTarget is the target of a kind scheduled without one: all for a kind that hits
// every pod in turn (rollout), else owner.
func SoakTarget(kind string) string {
	if info, err := faults.LookupKind(kind); err == nil && info.AllPods {
		return faults.PickAll
	}
	return "owner"
}

// kindsOfAllPods names the kinds that hit every pod in turn.
func kindsOfAllPods() string {
	var names []string
	for _, k := range faults.Kinds() {
		if k.AllPods {
			names = append(names, k.Name)
		}
	}
	return strings.Join(names, ", ")
}

// unjoin splits an errors.Join error into its parts.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func (a Alerts) validate(k *checker) {
	for i, u := range a.Webhooks {
		k.check(httpURL(u), fmt.Sprintf("alerts.webhooks[%d]", i), RedactURL(u), "want an http(s) URL")
	}
	k.check(a.Slack == "" || httpURL(a.Slack), "alerts.slack", RedactURL(a.Slack), "want the Slack incoming webhook's https URL")
	k.check(a.Alertmanager == "" || httpURL(a.Alertmanager), "alerts.alertmanager", RedactURL(a.Alertmanager), "want Alertmanager's base URL, e.g. http://127.0.0.1:9093")
	k.check(a.Renotify > 0, "alerts.renotify", a.Renotify.String(), "must be positive")
	k.check(a.ResolveAfter > 0, "alerts.resolve_after", a.ResolveAfter.String(), "must be positive")
}

// Enabled reports whether any alert destination is set.
func (a Alerts) Enabled() bool { return len(a.Webhooks) > 0 || a.Slack != "" || a.Alertmanager != "" }

func (m Metrics) validate(k *checker) {
	if m.Addr == "" {
		return
	}
	_, port, err := net.SplitHostPort(m.Addr)
	k.check(err == nil && port != "", "metrics.addr", m.Addr, "want host:port, e.g. 127.0.0.1:9464 (\"\" turns /metrics off)")
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// RedactURL keeps a URL's scheme and host: webhook paths and queries are secrets.
func RedactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "<redacted>"
	}
	if u.Path == "" && u.RawQuery == "" && u.User == nil {
		return u.Scheme + "://" + u.Host
	}
	return u.Scheme + "://" + u.Host + "/<redacted>"
}
