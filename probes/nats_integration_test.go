//go:build integration

package probes

import (
	"context"
	"errors"
	"slices"
	"strconv"
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

// A reading through a cursor equals a full reading at every step: while messages
// arrive, after the end sentinel, after a purge of the subject, and after new
// messages following the purge.
func TestIntegrationBufferCursorMatchesFullReading(t *testing.T) {
	url := testenv.NATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := NewNATS(NATSConfig{URL: url, Stream: "CURSOR_TEST"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "CURSOR_TEST", Subjects: []string{SubjectPrefix + ">"}})
	if err != nil {
		t.Fatal(err)
	}
	const thread, other = "t-cursor", "t-other"
	publish := func(th string, data string) {
		t.Helper()
		if _, err := js.Publish(ctx, SubjectPrefix+th, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	var c BufferCursor
	check := func(step string, wantDeltas int, wantDone bool) {
		t.Helper()
		got, err := n.ReadBuffer(ctx, thread, &c)
		if err != nil {
			t.Fatalf("%s: cursor reading: %v", step, err)
		}
		full, err := n.Buffer(ctx, thread)
		if err != nil {
			t.Fatalf("%s: full reading: %v", step, err)
		}
		if got != full {
			t.Fatalf("%s: cursor reading %+v, full reading %+v", step, got, full)
		}
		if got.TextDeltas != wantDeltas || got.Done != wantDone {
			t.Fatalf("%s: reading %+v, want %d text deltas, done %v", step, got, wantDeltas, wantDone)
		}
	}
	delta := func(i int) string {
		return `{"p":{"type":"text-delta","id":"t","delta":"chunk-` + strconv.Itoa(i) + ` "}}`
	}
	check("empty", 0, false)
	publish(thread, `{"p":{"type":"start","messageId":"m"}}`)
	for i := 1; i <= 3; i++ {
		publish(thread, delta(i))
		publish(other, delta(i)) // another run's messages interleave
	}
	check("three chunks", 3, false)
	check("nothing new", 3, false)
	for i := 4; i <= 5; i++ {
		publish(thread, delta(i))
	}
	publish(thread, `{"done":true}`)
	check("ended", 5, true)
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(SubjectPrefix+thread)); err != nil {
		t.Fatal(err)
	}
	check("purged", 0, false)
	publish(thread, delta(1))
	publish(thread, delta(2))
	check("after the purge", 2, false)
	// Head removed while the count grew back past what was read: read again from the start.
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(SubjectPrefix+thread), jetstream.WithPurgeKeep(1)); err != nil {
		t.Fatal(err)
	}
	publish(thread, delta(3))
	check("head purged", 2, false)
}
