package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// A freeze is the agent's pause of a container: its cgroup frozen (cgroup v1's
// freezer.state FROZEN, v2's cgroup.freeze 1), and a record of it in the agent's
// state directory (a hostPath, so that it outlives the agent pod) with the time by
// which the agent itself thaws it, should chaosd and its watchdog both be gone:
// "agent serve" sweeps the records every second.
type freezeRecord struct {
	ContainerID string    `json:"container_id"`
	Cgroup      string    `json:"cgroup"` // the container's freezer cgroup directory
	V2          bool      `json:"v2,omitempty"`
	Until       time.Time `json:"until"`
}

// freezerDir finds the container's freezer cgroup directory under root (the host's
// /sys/fs/cgroup), from the cgroup of one of its processes: cgroup v1's freezer
// hierarchy, else v2's unified one.
func freezerDir(proc, root, id string) (dir string, v2 bool, err error) {
	pids, err := containerPIDs(proc, id)
	if err != nil {
		return "", false, err
	}
	if len(pids) == 0 {
		return "", false, fmt.Errorf("no process of container %.12s on this node", id)
	}
	f, err := os.Open(filepath.Join(proc, fmt.Sprint(pids[0]), "cgroup"))
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	var unified string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case strings.Contains(","+parts[1]+",", ",freezer,"):
			return filepath.Join(root, "freezer", parts[2]), false, nil
		case parts[0] == "0" && parts[1] == "":
			unified = parts[2]
		}
	}
	if unified != "" {
		return filepath.Join(root, unified), true, nil
	}
	return "", false, fmt.Errorf("container %.12s: no freezer cgroup found in %s", id, f.Name())
}

// freezeState reads whether the cgroup is frozen: FROZEN, FREEZING or THAWED.
func freezeState(dir string, v2 bool) (string, error) {
	if !v2 {
		b, err := os.ReadFile(filepath.Join(dir, "freezer.state"))
		return strings.TrimSpace(string(b)), err
	}
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if l == "frozen 1" {
			return "FROZEN", nil
		}
	}
	return "THAWED", nil
}

// setFrozen freezes or thaws the cgroup and waits (up to 5 s) until it says so.
func setFrozen(dir string, v2, frozen bool) (string, error) {
	file, value, want := "freezer.state", "FROZEN", "FROZEN"
	if !frozen {
		value, want = "THAWED", "THAWED"
	}
	if v2 {
		file, value = "cgroup.freeze", "1"
		if !frozen {
			value = "0"
		}
	}
	if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0); err != nil {
		return "", fmt.Errorf("write %s to %s: %w", value, filepath.Join(dir, file), err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := freezeState(dir, v2)
		if err != nil || st == want || time.Now().After(deadline) {
			return st, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func recordPath(state, id string) string { return filepath.Join(state, "freeze-"+id+".json") }

// agentFreeze freezes the container and records it, the record first: a freeze that
// is not recorded could outlive everything that would thaw it.
func agentFreeze(w io.Writer, proc, root, state, id string, until time.Time) error {
	dir, v2, err := freezerDir(proc, root, id)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(state, 0o700); err != nil {
		return fmt.Errorf("the agent's state directory: %w", err)
	}
	rec, err := json.Marshal(freezeRecord{ContainerID: id, Cgroup: dir, V2: v2, Until: until.UTC()})
	if err != nil {
		return err
	}
	if err := os.WriteFile(recordPath(state, id), rec, 0o600); err != nil {
		return fmt.Errorf("record the freeze: %w", err)
	}
	st, err := setFrozen(dir, v2, true)
	if err != nil || st != "FROZEN" {
		_, _ = setFrozen(dir, v2, false)
		_ = os.Remove(recordPath(state, id))
		return fmt.Errorf("freeze container %.12s (%s): state %q: %v", id, dir, st, err)
	}
	_, err = fmt.Fprintf(w, "container %.12s FROZEN (%s); the agent thaws it at %s unless thawed before\n", id, dir, until.UTC().Format(time.RFC3339))
	return err
}

// agentThaw thaws a recorded freeze (or, with no record, the container's cgroup as
// found now) and removes the record once the cgroup says THAWED.
func agentThaw(w io.Writer, proc, root, state, id string) error {
	var rec freezeRecord
	b, err := os.ReadFile(recordPath(state, id))
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("the freeze record of %.12s: %w", id, err)
		}
	case errors.Is(err, os.ErrNotExist):
		if rec.Cgroup, rec.V2, err = freezerDir(proc, root, id); err != nil {
			return err
		}
	default:
		return err
	}
	st, err := setFrozen(rec.Cgroup, rec.V2, false)
	if errors.Is(err, os.ErrNotExist) { // the container is gone: nothing is frozen
		st, err = "THAWED", nil
	}
	if err != nil || st != "THAWED" {
		return fmt.Errorf("thaw container %.12s (%s): state %q: %v", id, rec.Cgroup, st, err)
	}
	if err := os.Remove(recordPath(state, id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	_, err = fmt.Fprintf(w, "container %.12s THAWED (%s)\n", id, rec.Cgroup)
	return err
}

// sweepFreezes thaws every recorded freeze past its time, and reports what it did.
func sweepFreezes(w io.Writer, proc, root, state string, now time.Time) {
	recs, _ := filepath.Glob(filepath.Join(state, "freeze-*.json"))
	for _, p := range recs {
		b, err := os.ReadFile(p)
		var rec freezeRecord
		if err != nil || json.Unmarshal(b, &rec) != nil || now.Before(rec.Until) {
			continue
		}
		if err := agentThaw(w, proc, root, state, rec.ContainerID); err != nil {
			fmt.Fprintf(w, "chaosd agent: the freeze of %.12s is past its time (%s) and could not be thawed: %v\n", rec.ContainerID, rec.Until.Format(time.RFC3339), err)
		}
	}
}

// serveAgent holds the agent pod open until SIGTERM, thawing the freezes and undoing
// the cuts past their time every second.
func serveAgent(ctx context.Context, w io.Writer, proc, root, state string) {
	ctx, stop := signalContext(ctx)
	defer stop()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		sweepFreezes(w, proc, root, state, time.Now())
		sweepCuts(ctx, w, hostAgentNet(), proc, state, time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
