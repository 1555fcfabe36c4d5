package testbed

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"go.uber.org/zap"
)

// Runtime defect switches (TESTBED_RUNTIME_SWITCHES=true): one boot of a cluster can
// serve several defect rows. GET /testbed/bugs answers {"bugs":[...]}, the set in
// force; POST /testbed/bugs with {"bugs":[...]} (or {"bugs":"a,b"}) replaces it and
// answers the new set. Each switch is read where it acts (an attach's deliver policy,
// a takeover's claim, a resume), so a change applies to what starts after it: switch
// between rows while no run is in flight, on every pod. no-heartbeat-bucket decides
// whether the bucket exists at all, so it stays as booted; a set that changes it is
// refused with 409.

// bug reports whether b is switched on now.
func (p *Pod) bug(b Bug) bool { return (*p.bugs.Load()).Has(b) }

// clone copies the set (nil: empty), keeping only the switched-on defects.
func (s Bugs) clone() Bugs {
	out := Bugs{}
	for b, on := range s {
		if on {
			out[b] = true
		}
	}
	return out
}

// list is the switched-on defects, sorted; never nil, so it encodes as [].
func (s Bugs) list() []string {
	if str := s.String(); str != "" {
		return strings.Split(str, ",")
	}
	return []string{}
}

type bugsBody struct {
	Bugs []string `json:"bugs"`
}

func (p *Pod) handleGetBugs(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, bugsBody{Bugs: p.bugs.Load().list()})
}

func (p *Pod) handleSetBugs(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Bugs json.RawMessage `json:"bugs"`
	}
	if err := p.decodeBody(w, r, &body); err != nil {
		p.fail(w, r, err)
		return
	}
	var names []string
	var one string
	switch {
	case len(body.Bugs) == 0 || string(body.Bugs) == "null":
		writeError(w, http.StatusBadRequest, `want {"bugs": [...]}: the defects to switch on ([] for none)`)
		return
	case json.Unmarshal(body.Bugs, &names) == nil:
	case json.Unmarshal(body.Bugs, &one) == nil:
		names = []string{one}
	default:
		writeError(w, http.StatusBadRequest, `"bugs": want a list of defect names (or one comma-separated string); [] switches every defect off`)
		return
	}
	next, err := ParseBugs(strings.Join(names, ","))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	cur := *p.bugs.Load()
	if next.Has(BugNoHeartbeatBucket) != cur.Has(BugNoHeartbeatBucket) {
		writeError(w, http.StatusConflict, fmt.Sprintf("%s is a boot-time switch (whether the heartbeat bucket exists): reboot the pod with TESTBED_BUGS to change it", BugNoHeartbeatBucket))
		return
	}
	p.bugs.Store(&next)
	p.log.Info("defect switches replaced", zap.Stringer("from", cur), zap.Stringer("to", next))
	writeJSON(w, http.StatusOK, bugsBody{Bugs: next.list()})
}
