package owners

import (
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	pods := []string{"mesh-1", "mesh-2"}
	for owner, want := range map[string]Kind{
		"":                                     KindNone,
		"mesh-1":                               KindPod,
		"local":                                KindShared,
		"0f8fad5b-d9cb-469f-a165-70867728950e": KindConductor,
		"mesh-9":                               KindUnknown,
	} {
		if got := Classify(owner, pods); got != want {
			t.Errorf("Classify(%q) = %s, want %s", owner, got, want)
		}
	}
}

func TestUnmappableSaysWhy(t *testing.T) {
	pods := []string{"mesh-2", "mesh-1"}
	for owner, want := range map[string]string{
		"mesh-1":                               "",
		"":                                     "",
		"local":                                "every pod shares the DBOS executor id",
		"0f8fad5b-d9cb-469f-a165-70867728950e": "DBOS Conductor",
		"studio-1":                             "none of the pods (mesh-1, mesh-2)",
	} {
		got := Unmappable(SourceDBOS, owner, pods)
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("Unmappable(%q) = %q, want it to contain %q", owner, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		l    Lookup
		want string
	}{
		{Lookup{Source: "threads"}, ""},
		{Lookup{Source: "dbos"}, ""},
		{Lookup{Source: "query", Query: "SELECT 'mesh-1', 'x'"}, ""},
		{Lookup{Source: "query"}, "give owner.query"},
		{Lookup{Source: "dbos", Query: "SELECT 1"}, "only with owner.source: query"},
		{Lookup{Source: "redis"}, `owner.source "redis": want threads, dbos, query`},
	} {
		err := tc.l.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: Validate() = %v, want %q", tc.l, err, tc.want)
		}
	}
}

// The query source's per-thread form filters the user's query on the run id, so the
// probes read the owner the fault picks.
func TestThreadSQLWrapsTheUsersQuery(t *testing.T) {
	q := Lookup{Source: SourceQuery, Query: "SELECT owner, thread FROM runs;"}.ThreadSQL()
	if !strings.Contains(q, "FROM (SELECT owner, thread FROM runs) AS q(owner, run)") || !strings.Contains(q, "q.run::text = $1::text") {
		t.Fatalf("ThreadSQL = %s", q)
	}
}
