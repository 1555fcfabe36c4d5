package config

import (
	"strings"
	"testing"
	"time"
)

// workload.settle: auto by default; a duration from the file, CHAOSD_SETTLE or
// --settle (0 turns it off); anything else is an error naming the setting.
func TestSettleSetting(t *testing.T) {
	if got := Default().Workload.Settle; !got.Auto {
		t.Fatalf("default settle %s, want auto", got)
	}
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want Hold
	}{
		{nil, []string{"--settle", "0"}, Hold{}},
		{nil, []string{"--settle=90s"}, Hold{D: 90 * time.Second}},
		{map[string]string{"CHAOSD_SETTLE": "40s"}, nil, Hold{D: 40 * time.Second}},
		{map[string]string{"CHAOSD_SETTLE": "40s"}, []string{"--settle=auto"}, HoldAuto},
	} {
		c, err := resolve(t, tc.env, tc.args...)
		if err != nil {
			t.Fatalf("%v %v: %v", tc.env, tc.args, err)
		}
		if c.Workload.Settle != tc.want {
			t.Errorf("%v %v: settle %s, want %s", tc.env, tc.args, c.Workload.Settle, tc.want)
		}
	}
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"--settle=soon"}, `--settle: "soon" is not a duration (e.g. 40s; 0 turns the settle window off) or auto`},
		{nil, []string{"--settle=never"}, `--settle: "never" is not a duration`},
		{map[string]string{"CHAOSD_SETTLE": "-1s"}, nil, `workload.settle: must not be negative (0: no settle window) (got "-1s")`},
	} {
		_, err := resolve(t, tc.env, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: error %v, want %q", tc.env, tc.args, err, tc.want)
		}
	}
}
