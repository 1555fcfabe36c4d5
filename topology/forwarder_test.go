package topology

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/errdefs"
	"go.uber.org/zap/zaptest"
)

func forwarderOptions(t *testing.T) ForwarderOptions {
	return ForwarderOptions{
		Project: "multi-pod", Network: "multi-pod_default", Targets: []string{"postgres:5432", "nats:4222", "postgres:5432"},
		Binary: writeELF(t, ""), ReadyTimeout: 2 * time.Second, Log: zaptest.NewLogger(t),
	}
}

func TestStartForwarderReusesTheImageAndClosesAfterCancel(t *testing.T) {
	f := &fakeDocker{t: t}
	ff := &fakeForwarder{}
	ff.install(t, f)
	f.imgInsp = func(string) (image.InspectResponse, error) { return image.InspectResponse{}, nil } // built before
	f.build = nil                                                                                   // so never built again
	ctx, cancel := context.WithCancel(context.Background())
	fw, err := StartForwarder(ctx, f, forwarderOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	if cmd := ff.created[0].Cmd; len(cmd) != 3 { // duplicates forwarded once
		t.Errorf("command %q", cmd)
	}
	for _, tg := range []string{"postgres:5432", "nats:4222"} {
		if a, ok := fw.Addr(tg); !ok || !strings.HasPrefix(a, "127.0.0.1:") {
			t.Errorf("Addr(%s) = %q, %v", tg, a, ok)
		}
	}
	if _, ok := fw.Addr("mock-ai:9000"); ok {
		t.Error("Addr of a target not forwarded")
	}
	cancel()
	if err := fw.Close(ctx); err != nil || !slices.Equal(ff.removed, []string{fw.ID()}) {
		t.Errorf("Close after cancel: %v, removed %v", err, ff.removed)
	}
	var nilF *Forwarder
	if err := nilF.Close(ctx); err != nil {
		t.Errorf("nil Close: %v", err)
	}
}

func TestStartForwarderExitedShowsLogsAndRemoves(t *testing.T) {
	f := &fakeDocker{t: t}
	ff := &fakeForwarder{}
	ff.install(t, f)
	f.inspect = func(id string) (container.InspectResponse, error) {
		return container.InspectResponse{ContainerJSONBase: &container.ContainerJSONBase{ID: id, State: &container.State{Status: "exited", ExitCode: 2}}}, nil
	}
	f.logs = func(string) (io.ReadCloser, error) {
		return muxedLog("chaosd forward: proxy: listen 0.0.0.0:10001: address already in use\n"), nil
	}
	_, err := StartForwarder(context.Background(), f, forwarderOptions(t))
	if err == nil || !strings.Contains(err.Error(), "exited (exit code 2)") || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("err = %v", err)
	}
	if len(ff.removed) != 1 {
		t.Errorf("failed forwarder not removed: %v", ff.removed)
	}
}

func TestStartForwarderNotReadyTimesOut(t *testing.T) {
	f := &fakeDocker{t: t}
	ff := &fakeForwarder{}
	ff.install(t, f)
	f.logs = func(string) (io.ReadCloser, error) { return muxedLog("starting\n"), nil }
	o := forwarderOptions(t)
	o.ReadyTimeout = 300 * time.Millisecond
	_, err := StartForwarder(context.Background(), f, o)
	if err == nil || !strings.Contains(err.Error(), "not ready within 300ms") || !strings.Contains(err.Error(), "has not logged") ||
		!strings.Contains(err.Error(), "its log:\nstarting") {
		t.Fatalf("err = %v", err)
	}
	if len(ff.removed) != 1 {
		t.Errorf("forwarder not removed: %v", ff.removed)
	}
}

func TestStartForwarderRefusesADynamicBinary(t *testing.T) {
	o := forwarderOptions(t)
	o.Binary = writeELF(t, "/lib/ld-musl-x86_64.so.1")
	_, err := StartForwarder(context.Background(), &fakeDocker{t: t}, o) // no Docker call at all
	if !errors.Is(err, ErrNotStatic) {
		t.Fatalf("err = %v", err)
	}
}

func TestStartForwarderRejectsBadTargets(t *testing.T) {
	for _, ts := range [][]string{nil, {"postgres"}, {"postgres:5432", "http://nats:4222"}} {
		o := forwarderOptions(t)
		o.Targets = ts
		if _, err := StartForwarder(context.Background(), &fakeDocker{t: t}, o); err == nil {
			t.Errorf("targets %q: no error", ts)
		}
	}
}

func TestRemoveForwarders(t *testing.T) {
	var removed []string
	f := &fakeDocker{t: t}
	f.list = func(o container.ListOptions) ([]container.Summary, error) {
		if got := o.Filters.Get("label"); !o.All || !slices.Equal(got, []string{"chaosd.forwarder=multi-pod"}) {
			t.Errorf("list %+v", o)
		}
		return []container.Summary{{ID: "a1", Names: []string{"/chaosd-forward-multi-pod-aaaaaa"}}, {ID: "b2", Names: []string{"/chaosd-forward-multi-pod-bbbbbb"}}}, nil
	}
	f.remove = func(id string, o container.RemoveOptions) error {
		if id == "b2" {
			return errdefs.NotFound(errors.New("gone")) // removed meanwhile: fine
		}
		removed = append(removed, id)
		return nil
	}
	names, err := RemoveForwarders(context.Background(), f, "multi-pod")
	if err != nil || !slices.Equal(names, []string{"chaosd-forward-multi-pod-aaaaaa", "chaosd-forward-multi-pod-bbbbbb"}) || !slices.Equal(removed, []string{"a1"}) {
		t.Fatalf("RemoveForwarders = %v, %v (removed %v)", names, err, removed)
	}
}
