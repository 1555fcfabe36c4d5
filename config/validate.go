package config

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/chaosd/chaosd/faults"
	"github.com/chaosd/chaosd/promise"
)

// FieldError is one problem of a configuration: the field (its YAML path), the value
// found there, and what is wrong with it.
type FieldError struct {
	Field string
	Value any
	Msg   string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s: %s (got %s)", e.Field, e.Msg, show(e.Value))
}

func show(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("%q", v)
	case []string:
		return fmt.Sprintf("%q", v)
	case nil:
		return "nothing"
	}
	return fmt.Sprint(v)
}

// checker collects FieldErrors in the order they are found.
type checker struct{ errs []error }

func (c *checker) check(ok bool, field string, value any, msg string, args ...any) {
	if !ok {
		c.errs = append(c.errs, &FieldError{Field: field, Value: value, Msg: fmt.Sprintf(msg, args...)})
	}
}

// Validate checks every section; the errors (all FieldErrors) are joined in file order.
// Empty state paths are valid: they stand for the target's own (ApplyStateDefaults).
func (c Config) Validate() error {
	c.ApplyStateDefaults()
	var k checker
	knownTarget(&k, c.Target)
	if err := promise.Validate(c.Promises); err != nil {
		k.check(false, "promises", c.Promises, "%v", err)
	}
	k.check(!slices.Contains(c.Promises, promise.ReplyPersistedOnce) || strings.TrimSpace(c.Postgres.ReplyQuery) != "",
		"postgres.reply_query", c.Postgres.ReplyQuery, "promises include %s: give the SQL that reads a thread's persisted reply, (message id, text) rows for thread $1", promise.ReplyPersistedOnce)
	c.validateRuntime(&k)
	c.Pods.validate(&k)
	c.Postgres.validate(&k)
	c.Owner.validate(&k)
	c.Ledger.validate(&k)
	c.BlastRadius.validate(&k)
	c.Faults.validate(&k)
	c.Watchdog.validate(&k)
	c.Workload.validate(&k)
	validateChecks(c.Checks, &k)
	c.Soak.validate(&k)
	if c.RuntimeName() == RuntimeDocker { // a Kubernetes soak is refused at its start, for now
		for i, f := range c.Soak.Faults {
			if info, err := faults.LookupKind(f.Kind); err == nil && !info.OfferedBy(RuntimeDocker) {
				k.check(false, fmt.Sprintf("soak.faults[%d].kind", i), f.Kind, "runtime docker does not offer it (it offers %s)", strings.Join(faults.KindNamesFor(RuntimeDocker), ", "))
			}
		}
	}
	c.Alerts.validate(&k)
	c.Metrics.validate(&k)
	return errors.Join(k.errs...)
}

func (d Docker) validate(k *checker) {
	if d.Host != "" {
		u, err := url.Parse(d.Host)
		k.check(err == nil && slices.Contains([]string{"unix", "tcp", "ssh", "http", "https", "npipe"}, u.Scheme),
			"docker.host", d.Host, "want unix:///path, tcp://host:port or ssh://user@host")
	}
	k.check(d.Timeout > 0, "docker.timeout", d.Timeout, "must be positive")
}

func (c Config) validateRuntime(k *checker) {
	switch c.RuntimeName() {
	case RuntimeDocker:
		c.Docker.validate(k)
		c.Selector.validate(k)
	case RuntimeKubernetes:
		c.Kubernetes.validate(k)
	default:
		k.check(false, "runtime", c.Runtime, "want %s or %s", RuntimeDocker, RuntimeKubernetes)
	}
}

func (kc Kubernetes) validate(k *checker) {
	k.check(kc.Namespace != "", "kubernetes.namespace", kc.Namespace, "set the pods' namespace: chaosd touches nothing outside it")
	k.check(strings.TrimSpace(kc.Selector) != "", "kubernetes.selector", kc.Selector, "set a label selector of the pods under test (e.g. component=worker): an empty one would match every pod of the namespace")
	k.check(kc.ProbeImage != "", "kubernetes.probe_image", kc.ProbeImage, "set the image of the partition probe pod (it must hold /chaosd)")
	k.check(kc.Timeout > 0, "kubernetes.timeout", kc.Timeout, "must be positive")
	k.check(kc.Reach == "" || kc.Reach == ReachAuto || kc.Reach == ReachDirect || kc.Reach == ReachPortForward, "kubernetes.reach", kc.Reach,
		"want %s, %s or %s", ReachAuto, ReachDirect, ReachPortForward)
}

func (s Selector) validate(k *checker) {
	k.check(s.Project != "" || len(s.Labels) > 0, "selector", "", "set project or labels: an empty selector would match every container on the host")
	for _, key := range sortedKeys(s.Labels) {
		k.check(key != "", "selector.labels", key, "label names must not be empty")
		k.check(key != faults.LabelSkip, "selector.labels."+key, s.Labels[key], "%s is the never-touch label; it cannot select", faults.LabelSkip)
	}
}

func (p Pods) validate(k *checker) {
	k.check(p.BootTime > 0, "pods.boot_time", p.BootTime, "must be positive: how long a pod takes from its start to ready")
	_, err := faults.ParsePodNameRule(p.NameFrom)
	k.check(err == nil, "pods.name_from", p.NameFrom, "want label:KEY, env:VAR or name")
	k.check(p.Port > 0 && p.Port < 65536, "pods.port", p.Port, "must be a TCP port, 1-65535")
	k.check(p.Ready == ReadyHTTP || p.Ready == ReadyRunning, "pods.ready", p.Ready, "want %s or %s", ReadyHTTP, ReadyRunning)
}

func (p Postgres) validate(k *checker) {
	_, err := pgx.ParseConfig(p.DSN)
	k.check(p.DSN != "" && err == nil, "postgres.dsn", RedactDSN(p.DSN), "want a Postgres URL (postgres://user:password@host:port/db) or key=value string")
}

func (o Owner) validate(k *checker) {
	_, builtin := faults.OwnerSources[o.Source]
	k.check(builtin || o.Source == "query", "owner.source", o.Source, "want threads, dbos or query")
	if o.Source == "query" {
		k.check(strings.TrimSpace(o.Query) != "", "owner.query", o.Query, "owner.source is query: give the SQL, returning (owner pod[, run id])")
	} else if builtin {
		k.check(o.Query == "", "owner.query", o.Query, "set only with owner.source: query (source is %s)", o.Source)
	}
	k.check(o.Wait >= 0, "owner.wait", o.Wait, "must not be negative")
}

func (l Ledger) validate(k *checker) {
	k.check(l.Path != "", "ledger.path", l.Path, "must name a file")
	_, _, err := ParseWaitLock(l.WaitLock)
	k.check(err == nil, "ledger.wait_lock", l.WaitLock, "want true, false or a duration such as 2m")
}

func (b BlastRadius) validate(k *checker) {
	k.check(b.MaxFaulted >= 1, "blast_radius.max_faulted", b.MaxFaulted, "must be at least 1")
	k.check(b.MinReady >= 0, "blast_radius.min_ready", b.MinReady, "must not be negative")
}

func (f Faults) validate(k *checker) {
	k.check(f.ConfirmTimeout > 0, "faults.confirm_timeout", f.ConfirmTimeout, "must be positive")
	k.check(f.HealTimeout > 0, "faults.heal_timeout", f.HealTimeout, "must be positive")
	k.check(f.ProbeTimeout > 0 && f.ProbeTimeout < f.ConfirmTimeout, "faults.probe_timeout", f.ProbeTimeout, "must be positive and shorter than faults.confirm_timeout")
	k.check(f.Settle > 0 && f.Settle < f.HealTimeout, "faults.settle", f.Settle, "must be positive and shorter than faults.heal_timeout")
	for _, g := range sortedKeys(f.Peers) {
		k.check(g != faults.PeersPods, "faults.peers."+g, f.Peers[g], "%q is built in: every other pod of the selector", faults.PeersPods)
		k.check(len(f.Peers[g]) > 0, "faults.peers."+g, f.Peers[g], "name at least one pod or service")
	}
	for _, name := range sortedKeys(f.Kinds) {
		f.Kinds[name].validate(k, name, faults.PeerGroupNames(f.Peers))
	}
}

func (kd Kind) validate(k *checker, name string, groups []string) {
	info, err := faults.LookupKind(name)
	if err != nil {
		k.check(false, "faults.kinds."+name, name, "unknown fault kind (known: %s)", strings.Join(faults.KindNames(), ", "))
		return
	}
	field := "faults.kinds." + name + "."
	if kd.Duration != nil {
		k.check(info.Hold == "duration", field+"duration", kd.Duration.String(), "%s takes %s, not duration", name, info.Hold)
		k.check(!kd.Duration.Never, field+"duration", kd.Duration.String(), "%s cannot be held forever: give a duration or auto", name)
		k.check(kd.Duration.Auto || kd.Duration.Never || kd.Duration.D > 0, field+"duration", kd.Duration.String(), "must be positive or auto")
	}
	if kd.DownFor != nil {
		k.check(info.Hold == "down_for", field+"down_for", kd.DownFor.String(), "%s takes %s, not down_for", name, info.Hold)
		k.check(kd.DownFor.Never || kd.DownFor.Auto || kd.DownFor.D > 0, field+"down_for", kd.DownFor.String(), "must be positive, auto or never")
	}
	k.check(len(kd.Peers) == 0 || info.Peers, field+"peers", kd.Peers, "%s takes no peers", name)
	for _, p := range kd.Peers {
		k.check(slices.Contains(groups, p), field+"peers", p, "unknown peer group (known: %s)", strings.Join(groups, ", "))
	}
}

func (w Watchdog) validate(k *checker) {
	k.check(w.Grace >= 0, "watchdog.grace", w.Grace, "must not be negative")
	k.check(w.GiveUp > 0, "watchdog.give_up", w.GiveUp, "must be positive")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	return keys
}

// RedactDSN masks the password of a Postgres URL.
func RedactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Hold returns kind's default hold: from faults.kinds, else the built-in default.
func (c Config) Hold(kind string) Hold {
	kd, def := c.Faults.Kinds[kind], Default().Faults.Kinds[kind]
	switch {
	case kd.DownFor != nil:
		return *kd.DownFor
	case kd.Duration != nil:
		return *kd.Duration
	case def.DownFor != nil:
		return *def.DownFor
	case def.Duration != nil:
		return *def.Duration
	}
	return HoldAuto
}

// Peers returns kind's default peer groups.
func (c Config) Peers(kind string) []string { return c.Faults.Kinds[kind].Peers }
