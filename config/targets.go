package config

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// A target profile is a named set of defaults for one kind of cluster chaosd is
// pointed at: its topology (compose project, pod and infrastructure services), how
// chaosd reaches it, its routes, owner source and timings. Each is one YAML file in
// config/targets/, in chaosd.yaml's own schema, with the place in mesh's source each
// fact was read from. A profile sits between Default() and the user's file: the file,
// CHAOSD_* variables and flags override it field by field. Code asks the resolved
// configuration, never the profile's name.
//
//go:embed targets/*.yaml
var targetFiles embed.FS

// Target names.
const (
	TargetBundled     = "bundled"
	TargetBundled30   = "bundled-30" // the bundled cluster with 30 pods, as its own project beside it
	TargetMesh202605  = "mesh-2026-05"
	TargetMeshCurrent = "mesh-current"
)

// EnvTarget names the variable that selects the profile.
const EnvTarget = "CHAOSD_TARGET"

// Profile is one target profile file.
type Profile struct {
	Name  string // the file's base name
	About string // its first comment line
	File  string // config/targets/NAME.yaml
	Data  []byte
}

// Profiles lists the built-in profiles, sorted by name (bundled before bundled-30,
// whose file names sort the other way round).
func Profiles() []Profile {
	entries, err := fs.ReadDir(targetFiles, "targets")
	if err != nil {
		panic(err) // embedded: cannot fail
	}
	var out []Profile
	for _, e := range entries {
		data, err := targetFiles.ReadFile("targets/" + e.Name())
		if err != nil {
			panic(err)
		}
		name := strings.TrimSuffix(e.Name(), path.Ext(e.Name()))
		out = append(out, Profile{Name: name, About: about(data), File: "config/targets/" + e.Name(), Data: data})
	}
	slices.SortFunc(out, func(a, b Profile) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// ProfileNames lists the profiles' names.
func ProfileNames() []string {
	var out []string
	for _, p := range Profiles() {
		out = append(out, p.Name)
	}
	return out
}

// LookupProfile finds a profile by name.
func LookupProfile(name string) (Profile, error) {
	for _, p := range Profiles() {
		if p.Name == name {
			return p, nil
		}
	}
	return Profile{}, fmt.Errorf("unknown target %q (known: %s; chaosd doctor --suggest names the one that fits a running cluster)", name, strings.Join(ProfileNames(), ", "))
}

// about is the text of the file's first comment line, without "# NAME:".
func about(data []byte) string {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	s := strings.TrimSpace(strings.TrimPrefix(string(line), "#"))
	if _, rest, ok := strings.Cut(s, ": "); ok {
		return rest
	}
	return s
}

// ForTarget is Default() with the named profile applied.
func ForTarget(name string) (Config, error) {
	p, err := LookupProfile(name)
	if err != nil {
		return Config{}, err
	}
	c, err := parseOver(Default(), p.Data)
	if err != nil {
		return Config{}, fmt.Errorf("target %s (%s): %w", name, p.File, err) // a bug of ours: tests parse every profile
	}
	c.Target = name
	return c, nil
}

// targetOf reads the target a config file names, "" for none.
func targetOf(data []byte) (string, error) {
	var doc struct {
		Target string `yaml:"target"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil && !errors.Is(err, io.EOF) {
		return "", readable(err)
	}
	return doc.Target, nil
}

// knownTarget checks a target name as a config value.
func knownTarget(k *checker, name string) {
	k.check(slices.Contains(ProfileNames(), name), "target", name, "unknown target (known: %s)", strings.Join(ProfileNames(), ", "))
}
