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

// bufferRig is an embedded NATS with a buffer stream named stream over every run
// subject, an observer of it, and a JetStream client to publish with; ctx ends after
// within.
func bufferRig(t *testing.T, stream string, within time.Duration) (context.Context, *NATS, jetstream.JetStream, jetstream.Stream) {
	t.Helper()
	url := testenv.NATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), within)
	t.Cleanup(cancel)
	n, err := NewNATS(NATSConfig{URL: url, Stream: stream})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{SubjectPrefix + ">"}})
	if err != nil {
		t.Fatal(err)
	}
	return ctx, n, js, s
}

// delta is mockai's i-th text chunk as a buffer message.
func delta(i int) string {
	return `{"p":{"type":"text-delta","id":"t","delta":"chunk-` + strconv.Itoa(i) + ` "}}`
}

const finishMsg, doneMsg = `{"p":{"type":"finish"}}`, `{"done":true}`

// afterEnd is what a reading must say was written after the end: its sentinels,
// the messages after the first one, the JetStream time of the first of them and its
// finish chunks.
type afterEnd struct {
	sentinels, after, finishes int
	first                      time.Time
}

func wantAfterEnd(t *testing.T, step string, b Buffer, want afterEnd) {
	t.Helper()
	got := afterEnd{b.Sentinels, b.AfterDone, b.Finishes, b.FirstAfterDone}
	if got.sentinels != want.sentinels || got.after != want.after || got.finishes != want.finishes || !got.first.Equal(want.first) {
		t.Fatalf("%s: %d sentinels, %d messages after the first (first at %s), %d finishes; want %d, %d (%s), %d",
			step, got.sentinels, got.after, got.first, got.finishes, want.sentinels, want.after, want.first, want.finishes)
	}
}

// storedAt is JetStream's timestamp of the message of sequence seq.
func storedAt(t *testing.T, ctx context.Context, s jetstream.Stream, seq uint64) time.Time {
	t.Helper()
	m, err := s.GetMsg(ctx, seq)
	if err != nil {
		t.Fatal(err)
	}
	return m.Time
}

// A reading through a cursor equals a full reading at every step: while messages
// arrive, after the end sentinel, after a purge of the subject, and after new
// messages following the purge.
func TestIntegrationBufferCursorMatchesFullReading(t *testing.T) {
	ctx, n, js, s := bufferRig(t, "CURSOR_TEST", 20*time.Second)
	const thread, other = "t-cursor", "t-other"
	publish := func(th string, data string) uint64 {
		t.Helper()
		ack, err := js.Publish(ctx, SubjectPrefix+th, []byte(data))
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	var c BufferCursor
	check := func(step string, wantDeltas int, wantDone bool) Buffer {
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
		return got
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
	publish(thread, finishMsg)
	doneSeq := publish(thread, doneMsg)
	wantAfterEnd(t, "ended", check("ended", 5, true), afterEnd{sentinels: 1, finishes: 1})
	// A zombie owner writes after the end: a chunk, a second finish, a second sentinel.
	first := publish(thread, delta(6))
	publish(other, delta(4))
	publish(thread, finishMsg)
	publish(thread, doneMsg)
	late := afterEnd{sentinels: 2, after: 3, finishes: 2, first: storedAt(t, ctx, s, first)}
	wantAfterEnd(t, "written after the end", check("written after the end", 6, true), late)
	// The testbed's purge of a finished run keeps its end sentinel: what came after it
	// still reads as written after the end.
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(SubjectPrefix+thread), jetstream.WithPurgeSequence(doneSeq)); err != nil {
		t.Fatal(err)
	}
	late.finishes = 1
	wantAfterEnd(t, "purged up to the sentinel", check("purged up to the sentinel", 1, true), late)
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

// A thread the buffer tap follows reads like a full reading at every step, with one
// request a reading once the tap has what was published; after a purge the tap is
// no longer trusted and the readings, through the cursor, still match. A thread
// whose messages predate its Watch reads right too.
func TestIntegrationBufferTapMatchesFullReading(t *testing.T) {
	ctx, n, js, s := bufferRig(t, "TAP_TEST", 30*time.Second)
	const thread, other, early = "t-tap", "t-tap-other", "t-tap-early"
	published := map[string]uint64{}
	publish := func(th string, data string) uint64 {
		t.Helper()
		ack, err := js.Publish(ctx, SubjectPrefix+th, []byte(data))
		if err != nil {
			t.Fatal(err)
		}
		published[th]++
		return ack.Sequence
	}
	// Messages of early before any Watch: the tap never delivers them.
	publish(early, delta(1))
	publish(early, delta(2))
	if err := n.Watch(ctx, thread); err != nil {
		t.Fatalf("watch: %v", err)
	}
	if err := n.Watch(ctx, early); err != nil {
		t.Fatalf("watch: %v", err)
	}
	// caughtUp waits until the tap has delivered every message of th published so far.
	caughtUp := func(th string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; {
			b, ok := n.tapReading(SubjectPrefix + th)
			if ok && b.Messages == published[th] {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("tap of %s: %+v (followed %v) after 5 s, want %d messages", th, b, ok, published[th])
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	var c BufferCursor
	check := func(step, th string, wantDeltas int, wantDone bool, wantRequests uint64) Buffer {
		t.Helper()
		before := n.requests.Load()
		got, err := n.ReadBuffer(ctx, th, &c)
		if err != nil {
			t.Fatalf("%s: tapped reading: %v", step, err)
		}
		took := n.requests.Load() - before
		full, err := n.Buffer(ctx, th)
		if err != nil {
			t.Fatalf("%s: full reading: %v", step, err)
		}
		if got != full {
			t.Fatalf("%s: tapped reading %+v, full reading %+v", step, got, full)
		}
		if got.TextDeltas != wantDeltas || got.Done != wantDone {
			t.Fatalf("%s: reading %+v, want %d text deltas, done %v", step, got, wantDeltas, wantDone)
		}
		if wantRequests > 0 && took != wantRequests {
			t.Fatalf("%s: reading took %d requests, want %d", step, took, wantRequests)
		}
		return got
	}
	check("empty", thread, 0, false, 1)
	publish(thread, `{"p":{"type":"start","messageId":"m"}}`)
	for i := 1; i <= 3; i++ {
		publish(thread, delta(i))
		publish(other, delta(i)) // an unwatched run's messages interleave
	}
	caughtUp(thread)
	check("three chunks", thread, 3, false, 1)
	check("nothing new", thread, 3, false, 1)
	for i := 4; i <= 5; i++ {
		publish(thread, delta(i))
	}
	publish(thread, finishMsg)
	publish(thread, doneMsg)
	check("ended, read at once (the tap may be behind)", thread, 5, true, 0)
	caughtUp(thread)
	wantAfterEnd(t, "ended", check("ended", thread, 5, true, 1), afterEnd{sentinels: 1, finishes: 1})
	// A zombie owner writes after the end: the tap counts it as a full reading does,
	// read at once (the tap's reading completed with direct gets) and once current.
	first := publish(thread, delta(6))
	publish(other, delta(4))
	publish(thread, finishMsg)
	publish(thread, doneMsg)
	late := afterEnd{sentinels: 2, after: 3, finishes: 2, first: storedAt(t, ctx, s, first)}
	wantAfterEnd(t, "written after the end, read at once", check("written after the end, read at once", thread, 6, true, 0), late)
	caughtUp(thread)
	wantAfterEnd(t, "written after the end", check("written after the end", thread, 6, true, 1), late)
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(SubjectPrefix+thread)); err != nil {
		t.Fatal(err)
	}
	check("purged", thread, 0, false, 1)
	if _, ok := n.tapReading(SubjectPrefix + thread); ok {
		t.Fatal("the tap still answers for a purged thread")
	}
	publish(thread, delta(1))
	publish(thread, delta(2))
	check("after the purge (cursor)", thread, 2, false, 0)
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(SubjectPrefix+thread), jetstream.WithPurgeKeep(1)); err != nil {
		t.Fatal(err)
	}
	publish(thread, delta(3))
	check("head purged (cursor)", thread, 2, false, 0)

	c = BufferCursor{}
	check("predating messages", early, 2, false, 0)
	publish(early, delta(3))
	check("predating messages, then one more", early, 3, false, 0)

	n.Unwatch(thread)
	if _, ok := n.tapReading(SubjectPrefix + thread); ok {
		t.Fatal("the tap answers for an unwatched thread")
	}

	// The testbed's purge of a finished run keeps its end sentinel: the tap is no
	// longer trusted, and the direct gets from the first message left read what came
	// after the sentinel as the tap did.
	const zombie = "t-tap-zombie"
	if err := n.Watch(ctx, zombie); err != nil {
		t.Fatal(err)
	}
	publish(zombie, delta(1))
	publish(zombie, finishMsg)
	doneSeq := publish(zombie, doneMsg)
	first = publish(zombie, delta(2))
	publish(zombie, doneMsg)
	caughtUp(zombie)
	c = BufferCursor{}
	late = afterEnd{sentinels: 2, after: 2, finishes: 1, first: storedAt(t, ctx, s, first)}
	wantAfterEnd(t, "zombie, tapped", check("zombie, tapped", zombie, 2, true, 1), late)
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(SubjectPrefix+zombie), jetstream.WithPurgeSequence(doneSeq)); err != nil {
		t.Fatal(err)
	}
	late.finishes = 0
	wantAfterEnd(t, "zombie, purged up to the sentinel", check("zombie, purged up to the sentinel", zombie, 1, true, 0), late)
	if _, ok := n.tapReading(SubjectPrefix + zombie); ok {
		t.Fatal("the tap still answers for a thread purged up to its sentinel")
	}

	// The stream deleted and made anew (a NATS restart with memory storage) with as
	// many messages on the subject as the tap holds of the old one: the reading is the
	// new stream's.
	const again = "t-tap-again"
	if err := n.Watch(ctx, again); err != nil {
		t.Fatal(err)
	}
	publish(again, delta(1))
	publish(again, delta(2))
	caughtUp(again)
	c = BufferCursor{}
	check("before the stream is made anew", again, 2, false, 1)
	if err := js.DeleteStream(ctx, "TAP_TEST"); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "TAP_TEST", Subjects: []string{SubjectPrefix + ">"}}); err != nil {
		t.Fatal(err)
	}
	publish(again, delta(1))
	publish(again, `{"done":true}`)
	check("the stream made anew", again, 1, true, 0)
}
