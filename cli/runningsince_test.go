package cli

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"go.uber.org/zap"

	"github.com/chaosd/chaosd/faults"
	"github.com/chaosd/chaosd/history"
)

type startedInspector map[string]string // container id -> State.StartedAt; absent: an error

func (s startedInspector) ContainerInspect(_ context.Context, id string) (container.InspectResponse, error) {
	at, ok := s[id]
	if !ok {
		return container.InspectResponse{}, errors.New("no such container: " + id)
	}
	return container.InspectResponse{ContainerJSONBase: &container.ContainerJSONBase{State: &container.State{StartedAt: at}}}, nil
}

// The running snapshot names each pod under test that runs or is paused, at its
// container's start; infra, skipped, exited and uninspectable containers are left out.
func TestRunningSinceSnapshot(t *testing.T) {
	member := func(id, pod, state string) faults.Member {
		return faults.Member{Target: faults.Target{ID: id, Name: "multi-pod-" + pod + "-1", Pod: pod}, State: state}
	}
	infra := member("n", "nats", "running")
	infra.Infra = true
	skipped := member("s", "mesh-9", "running")
	skipped.Skipped = true
	members := []faults.Member{member("a", "mesh-1", "running"), member("b", "mesh-2", "paused"), member("c", "mesh-3", "exited"),
		member("d", "mesh-4", "running"), infra, skipped}
	ins := startedInspector{"a": "2026-12-06T10:00:00.123456789Z", "b": "2026-12-06T10:00:01Z", "c": "2026-12-06T10:00:02Z",
		"n": "2026-12-06T09:00:00Z", "s": "2026-12-06T09:00:00Z"} // d: cannot be inspected

	got := runningSince(context.Background(), ins, members, zap.NewNop())
	want := []history.Docker{
		{Action: history.DockerRunning, Container: "a", Pod: "mesh-1", At: time.Date(2026, 12, 6, 10, 0, 0, 123456789, time.UTC)},
		{Action: history.DockerRunning, Container: "b", Pod: "mesh-2", At: time.Date(2026, 12, 6, 10, 0, 1, 0, time.UTC)},
	}
	if len(got) != len(want) {
		t.Fatalf("snapshot %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Action != want[i].Action || got[i].Pod != want[i].Pod || got[i].Container != want[i].Container || !got[i].At.Equal(want[i].At) {
			t.Errorf("event %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
