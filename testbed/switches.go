package testbed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Runtime defect switches (TESTBED_RUNTIME_SWITCHES=true): one boot of a cluster can
// serve several defect rows. GET /testbed/bugs answers {"bugs":[...]}, the set in
// force; POST /testbed/bugs with {"bugs":[...]} (or {"bugs":"a,b"}) replaces it and
// answers the new set. Each switch is read where it acts (an attach's deliver policy,
// a takeover's claim, a resume), so a change applies to what starts after it: switch
// between rows while no run is in flight, on every pod. no-heartbeat-bucket decides
// whether the bucket exists at all, so it stays as booted; a set that changes it is
// refused with 409. A set with a defect of the other mesh is refused with 400.
//
// In today's mesh a restart is the recovery path (restart-no-recover acts at boot), so
// there a posted set is also kept in Postgres (testbed_switches, by pod name) and a
// pod that boots with runtime switches on takes its last posted set instead of
// TESTBED_BUGS: a row's set survives the restarts the row makes.

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
	if err == nil {
		err = next.forMesh(p.cfg.Mesh)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	cur := *p.bugs.Load()
	if next.Has(BugNoHeartbeatBucket) != cur.Has(BugNoHeartbeatBucket) {
		writeError(w, http.StatusConflict, fmt.Sprintf("%s is a boot-time switch (whether the heartbeat bucket exists): reboot the pod with TESTBED_BUGS to change it", BugNoHeartbeatBucket))
		return
	}
	if p.current() {
		if err := p.st.saveSwitches(r.Context(), p.cfg.PodName, next); err != nil {
			writeError(w, http.StatusServiceUnavailable, "cannot keep the set for the next boot: "+err.Error())
			return
		}
	}
	p.bugs.Store(&next)
	p.log.Info("defect switches replaced", zap.Stringer("from", cur), zap.Stringer("to", next))
	writeJSON(w, http.StatusOK, bugsBody{Bugs: next.list()})
}

// restoreSwitches (today's mesh, runtime switches on) replaces the boot set with the
// set last posted to this pod, if any, retrying until Postgres answers.
func (p *Pod) restoreSwitches(ctx context.Context) {
	bo := newBackoff(200*time.Millisecond, 2*time.Second)
	for {
		saved, ok, err := p.st.loadSwitches(ctx, p.cfg.PodName)
		if err == nil && ok {
			err = saved.forMesh(p.cfg.Mesh)
			if err == nil {
				p.bugs.Store(&saved)
				p.log.Info("defect switches restored from the last POST /testbed/bugs", zap.Stringer("boot", p.cfg.Bugs), zap.Stringer("restored", saved))
				return
			}
			err = fmt.Errorf("%w: %v", errBadSwitches, err)
		}
		switch {
		case err == nil:
			return // none posted: the boot set stands
		case errors.Is(err, errBadSwitches):
			p.log.Warn("ignoring the saved defect switches", zap.Error(err))
			return
		}
		p.log.Warn("cannot read the saved defect switches; retrying", zap.Error(err))
		if bo.wait(ctx) != nil {
			return
		}
	}
}

// errBadSwitches is a saved set that no longer parses.
var errBadSwitches = errors.New("saved defect switches unusable")

// saveSwitches keeps pod's runtime set for its next boot.
func (s *store) saveSwitches(ctx context.Context, pod string, bugs Bugs) error {
	_, err := s.exec(ctx, `INSERT INTO testbed_switches (pod, bugs) VALUES ($1, $2)
		ON CONFLICT (pod) DO UPDATE SET bugs = EXCLUDED.bugs, updated_at = now()`, pod, bugs.String())
	return err
}

// loadSwitches reads pod's last posted set; ok is false when none was posted.
func (s *store) loadSwitches(ctx context.Context, pod string) (Bugs, bool, error) {
	var list string
	err := s.queryRow(ctx, `SELECT bugs FROM testbed_switches WHERE pod = $1`, []any{pod}, &list)
	if errors.Is(err, errNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	bugs, err := ParseBugs(list)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", errBadSwitches, err)
	}
	return bugs, true, nil
}
