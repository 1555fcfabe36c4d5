//go:build integration

package probes

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chaosd/chaosd/internal/testenv"
)

func TestIntegrationHeartbeatsReadsExpectedPodsDirectly(t *testing.T) {
	url := testenv.NATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := NewNATS(NATSConfig{URL: url, Bucket: "HB_TEST"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, err := n.Heartbeats(ctx, "mesh-1"); !errors.Is(err, ErrNoBucket) {
		t.Fatalf("no bucket: %v, want ErrNoBucket", err)
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "HB_TEST", History: 1, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"mesh-1", "mesh-2"} {
		if _, err := kv.Put(ctx, p, []byte(time.Now().UTC().Format(time.RFC3339Nano))); err != nil {
			t.Fatal(err)
		}
	}
	// Refreshes while the readings are taken: every reading names both pods.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				_, _ = kv.Put(ctx, "mesh-1", []byte(time.Now().UTC().Format(time.RFC3339Nano)))
			}
		}
	}()
	for range 200 {
		hs, err := n.Heartbeats(ctx, "mesh-1", "mesh-2", "mesh-3")
		if err != nil {
			t.Fatal(err)
		}
		var pods []string
		for _, h := range hs {
			pods = append(pods, h.Pod)
		}
		slices.Sort(pods)
		if !slices.Equal(pods, []string{"mesh-1", "mesh-2"}) {
			t.Fatalf("reading named %v, want mesh-1 and mesh-2 (mesh-3 has no key)", pods)
		}
	}
}
