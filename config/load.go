package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads the YAML file at path over its target's profile (the file's target:,
// else bundled) over Default(). It does not validate.
func Load(path string) (Config, error) {
	return LoadTarget(path, "")
}

// LoadTarget is Load with the target given ("" = the file's target:, else bundled).
func LoadTarget(path, target string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	c, err := ParseTarget(data, target)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes YAML over its target's profile over Default(), strictly: unknown
// fields are errors. An empty document is the bundled profile.
func Parse(data []byte) (Config, error) { return ParseTarget(data, "") }

// ParseTarget is Parse with the target given ("" = the document's target:, else
// bundled). A target given here wins over the document's.
func ParseTarget(data []byte, target string) (Config, error) {
	if target == "" {
		var err error
		if target, err = targetOf(data); err != nil {
			return Config{}, err
		}
	}
	if target == "" {
		target = TargetBundled
	}
	base, err := ForTarget(target)
	if err != nil {
		return Config{}, err
	}
	c, err := parseOver(base, data)
	c.Target = target
	return c, err
}

// parseOver decodes YAML over base, strictly.
func parseOver(base Config, data []byte) (Config, error) {
	c := base
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, readable(err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Config{}, errors.New("more than one YAML document")
	}
	return c, nil
}

var unknownField = regexp.MustCompile(`field (\S+) not found in type (\S+)`)

// readable rewrites yaml's type errors in the file's own terms: "line 3: unknown field
// "hots" in docker" rather than "field hots not found in type config.Docker".
func readable(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		msgs[i] = unknownField.ReplaceAllStringFunc(m, func(s string) string {
			sub := unknownField.FindStringSubmatch(s)
			return fmt.Sprintf("unknown field %q in %s", sub[1], sectionOf(sub[2]))
		})
	}
	return errors.New(strings.Join(msgs, "; "))
}

// sectionOf maps a Go type name (config.Docker) to its YAML path (docker).
func sectionOf(goType string) string {
	if p, ok := sections()[goType]; ok {
		return p
	}
	return goType
}

// sections walks Config's struct fields: Go type name -> YAML path.
func sections() map[string]string {
	out := map[string]string{reflect.TypeOf(Config{}).String(): "the top level"}
	var walk func(t reflect.Type, path string)
	walk = func(t reflect.Type, path string) {
		for i := range t.NumField() {
			f := t.Field(i)
			ft := f.Type
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Map || ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if ft.Kind() != reflect.Struct || ft.PkgPath() != t.PkgPath() {
				continue
			}
			p := strings.TrimPrefix(path+"."+strings.Split(f.Tag.Get("yaml"), ",")[0], ".")
			if f.Type.Kind() == reflect.Map {
				p += ".<name>"
			}
			out[ft.String()] = p
			walk(ft, p)
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	return out
}

// YAML renders c as YAML, the database password masked.
func (c Config) YAML() ([]byte, error) {
	c.Postgres.DSN = RedactDSN(c.Postgres.DSN)
	c.Workload.NATS = RedactDSN(c.Workload.NATS)
	c.Alerts.Webhooks = slices.Clone(c.Alerts.Webhooks)
	for i, u := range c.Alerts.Webhooks {
		c.Alerts.Webhooks[i] = RedactURL(u)
	}
	c.Alerts.Slack, c.Alerts.Alertmanager = RedactURL(c.Alerts.Slack), RedactURL(c.Alerts.Alertmanager)
	return yaml.Marshal(c)
}
