package schedule

import (
	"context"
	"errors"
	"testing"
	"time"
)

var day = time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)

func at(hms string) time.Time {
	d, err := time.Parse("2006-01-02 15:04:05", "2025-03-14 "+hms)
	if err != nil {
		panic(err)
	}
	return d
}

func nopFire(context.Context, string, time.Time) error { return nil }

func TestValidateAcceptsGoodConfigs(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Entries: []Entry{
			{Kind: "kill", Spec: "*/10 * * * *", Jitter: 9 * time.Minute},
			{Kind: "pause", Spec: "30 */5 * * * *"}, // seconds first
			{Kind: "partition", Spec: "@every 45s", Jitter: 44 * time.Second},
			{Kind: "stop", Spec: "@hourly"},
			{Kind: "restart", Spec: "CRON_TZ=UTC 0 3 * * mon-fri"},
		}},
		{Quiet: []Quiet{{Spec: "0 2 * * *", For: 30 * time.Minute}, {Spec: "@daily", For: 23 * time.Hour}}},
		{Start: day, End: day.Add(8 * time.Hour), Warmup: 10 * time.Minute, Cooldown: 20 * time.Minute},
		{Start: day, Warmup: time.Hour}, // open-ended
	} {
		if err := Validate(cfg); err != nil {
			t.Errorf("Validate(%+v) = %v, want nil", cfg, err)
		}
	}
}

func TestValidateNamesFieldAndValue(t *testing.T) {
	entry := func(kind, spec string, jitter time.Duration) Config {
		return Config{Entries: []Entry{{Kind: kind, Spec: spec, Jitter: jitter}}}
	}
	quiet := func(spec string, d time.Duration) Config { return Config{Quiet: []Quiet{{Spec: spec, For: d}}} }
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"minute out of range", entry("kill", "61 * * * *", 0),
			`schedule entry "kill": spec "61 * * * *": end of range (61) above maximum (59): 61`},
		{"empty spec", entry("kill", "", 0), `schedule entry "kill": spec "": empty spec string`},
		{"seven fields", entry("kill", "1 2 3 4 5 6 7", 0),
			`schedule entry "kill": spec "1 2 3 4 5 6 7": expected 5 to 6 fields, found 7: [1 2 3 4 5 6 7]`},
		{"unknown descriptor", entry("kill", "@fortnightly", 0),
			`schedule entry "kill": spec "@fortnightly": unrecognized descriptor: @fortnightly`},
		{"every below a second", entry("kill", "@every 500ms", 0),
			`schedule entry "kill": spec "@every 500ms": @every must be a whole number of seconds, at least 1s (cron would use 1s)`},
		{"every fractional", entry("kill", "@every 1500ms", 0),
			`schedule entry "kill": spec "@every 1500ms": @every must be a whole number of seconds, at least 1s (cron would use 1s)`},
		{"never fires", entry("kill", "0 0 30 2 *", 0), `schedule entry "kill": spec "0 0 30 2 *": never fires`},
		{"time zone", entry("kill", "CRON_TZ=Europe/Paris 0 2 * * *", 0),
			`schedule entry "kill": spec "CRON_TZ=Europe/Paris 0 2 * * *": schedules run in UTC; drop the time zone Europe/Paris`},
		{"negative jitter", entry("kill", "@every 1s", -time.Second), `schedule entry "kill": jitter -1s: must not be negative`},
		{"jitter as long as the gap", entry("kill", "@every 10s", 10*time.Second),
			`schedule entry "kill": jitter 10s: must be shorter than the 10s between firings`},
		{"jitter longer than the shortest gap", entry("kill", "0,1 * * * *", 2*time.Minute),
			`schedule entry "kill": jitter 2m0s: must be shorter than the 1m0s between firings`},
		{"empty kind", entry("", "@hourly", 0), `schedule entry[0]: kind "": must not be empty`},
		{"duplicate kind", Config{Entries: []Entry{{Kind: "kill", Spec: "@hourly"}, {Kind: "kill", Spec: "@daily"}}},
			`schedule entry[1]: kind "kill": duplicate of entry[0]: one schedule per kind`},
		{"quiet for zero", quiet("0 2 * * *", 0), `schedule quiet[0]: for 0s: must be positive`},
		{"quiet for negative", quiet("0 2 * * *", -time.Minute), `schedule quiet[0]: for -1m0s: must be positive`},
		{"quiet bad spec", quiet("0 25 * * *", time.Minute),
			`schedule quiet[0]: spec "0 25 * * *": end of range (25) above maximum (23): 25`},
		{"quiet every", quiet("@every 1h", time.Minute),
			`schedule quiet[0]: spec "@every 1h": @every has no fixed firing times; use a cron spec such as "0 2 * * *"`},
		{"quiet always", quiet("@hourly", time.Hour),
			`schedule quiet[0]: for 1h0m0s: must be shorter than the 1h0m0s between firings of "@hourly", or no fault would ever fire`},
		{"negative warmup and cooldown", Config{Warmup: -time.Second, Cooldown: -time.Second},
			"schedule warmup -1s: must not be negative\nschedule cooldown -1s: must not be negative"},
		{"warmup and cooldown fill the span", Config{Start: day, End: day.Add(8 * time.Hour), Warmup: 5 * time.Hour, Cooldown: 3 * time.Hour},
			`schedule warmup + cooldown 8h0m0s: must be shorter than the span 8h0m0s (warmup 5h0m0s, cooldown 3h0m0s): no fault could fire`},
		{"end before start", Config{Start: day, End: day.Add(-time.Hour)},
			`schedule end 2025-03-13T23:00:00Z: must be after start 2025-03-14T00:00:00Z`},
		{"end without start", Config{End: day}, `schedule start unset: must be set when end is set`},
		{"all errors, in order", Config{
			Entries: []Entry{{Kind: "kill", Spec: "bad", Jitter: -1}},
			Quiet:   []Quiet{{Spec: "0 2 * * *"}},
			Warmup:  -1,
		}, "schedule entry \"kill\": spec \"bad\": expected 5 to 6 fields, found 1: [bad]\n" +
			"schedule entry \"kill\": jitter -1ns: must not be negative\n" +
			"schedule quiet[0]: for 0s: must be positive\n" +
			"schedule warmup -1ns: must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.cfg)
			if err == nil {
				t.Fatalf("Validate = nil, want %q", tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("Validate =\n%s\nwant\n%s", err, tc.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("Validate = %T, want a *FieldError inside", err)
			}
			// New fills in a missing start with the current time.
			if _, err := New(tc.cfg, nopFire, nil); err == nil && tc.name != "end without start" {
				t.Errorf("New accepted what Validate refused")
			}
		})
	}
}
