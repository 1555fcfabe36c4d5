package mockai

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// fakeProcSys points procSys at a directory holding the given sysctls for one test.
func fakeProcSys(t *testing.T, somaxconn, synBacklog, syncookies string) {
	t.Helper()
	dir := t.TempDir()
	for name, v := range map[string]string{
		"net/core/somaxconn":           somaxconn,
		"net/ipv4/tcp_max_syn_backlog": synBacklog,
		"net/ipv4/tcp_syncookies":      syncookies,
	} {
		if v == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := procSys
	procSys = dir
	t.Cleanup(func() { procSys = old })
}

func TestListenLimitsShort(t *testing.T) {
	cases := []struct {
		l     ListenLimits
		burst int
		want  []string // substrings; none: ""
	}{
		{ListenLimits{4096, 2048, 1}, 4096, nil},
		{ListenLimits{128, 2048, 1}, 4096, []string{"somaxconn is 128"}},
		{ListenLimits{4096, 512, 1}, 4096, nil}, // SYN cookies take over a full SYN queue
		{ListenLimits{4096, 512, 0}, 4096, []string{"tcp_max_syn_backlog is 512"}},
		{ListenLimits{128, 128, 0}, 100, nil},
	}
	for _, c := range cases {
		got := c.l.Short(c.burst)
		if len(c.want) == 0 && got != "" {
			t.Errorf("%+v, burst %d: %q, want nothing short", c.l, c.burst, got)
		}
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%+v, burst %d: %q, want %q in it", c.l, c.burst, got, w)
			}
		}
	}
}

func TestListenWarnsWhenTheBacklogIsShort(t *testing.T) {
	for _, c := range []struct {
		somaxconn string
		warn      bool
	}{{"128", true}, {"4096", false}} {
		fakeProcSys(t, c.somaxconn, "2048", "1")
		core, logs := observer.New(zapcore.DebugLevel)
		ln, err := Listen("127.0.0.1:0", 0, zap.New(core))
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
		warned := logs.FilterLevelExact(zapcore.WarnLevel).Len() > 0
		if warned != c.warn {
			t.Errorf("somaxconn %s: warned %v, want %v (%v)", c.somaxconn, warned, c.warn, logs.All())
		}
	}
}

func TestReadListenLimits(t *testing.T) {
	fakeProcSys(t, "4096", "2048", "")
	l, err := ReadListenLimits()
	if err != nil {
		t.Fatal(err)
	}
	if l != (ListenLimits{Somaxconn: 4096, SynBacklog: 2048, Syncookies: -1}) {
		t.Errorf("read %+v", l)
	}
	fakeProcSys(t, "", "2048", "1")
	if _, err := ReadListenLimits(); err == nil {
		t.Error("no error without somaxconn")
	}
}
