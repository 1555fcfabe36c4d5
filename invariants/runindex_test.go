package invariants

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestRunIndexKeepsTheSlotEqualToTheMap: a run's slot answers what the map holds,
// through set, del, a World that drops the run and makes it again, and state set
// before the World knew the run.
func TestRunIndexKeepsTheSlotEqualToTheMap(t *testing.T) {
	w := newWorld(Params{})
	x := newRunIndex(w, func(r *Run) **bufState { return &r.bufState })
	a := w.run("r1", "t1")
	st := &bufState{}
	x.set("r1", st)
	if a.bufState != st || x.get("r1") != st {
		t.Fatalf("after set: slot %p, get %p, want %p", a.bufState, x.get("r1"), st)
	}
	x.del("r1")
	if a.bufState != nil || x.get("r1") != nil || len(x.all()) != 0 {
		t.Fatalf("after del: slot %p, get %p, len %d", a.bufState, x.get("r1"), len(x.all()))
	}

	// State set before the World knew the run: found, and the slot filled on the way.
	early := &bufState{judged: true}
	x.set("r2", early)
	b := w.run("r2", "t2")
	if b.bufState != nil {
		t.Fatal("a run made after set has a slot already")
	}
	if got := x.get("r2"); got != early || b.bufState != early {
		t.Fatalf("get of a run made after set: %p (slot %p), want %p", got, b.bufState, early)
	}

	// The World drops the run and makes it again: the new dossier's slot is empty and
	// the map still answers; a del while the run is gone leaves nothing behind.
	delete(w.runs, "r2")
	w.lastRun = nil
	if got := x.get("r2"); got != early {
		t.Fatalf("get of a dropped run: %p, want %p (the map)", got, early)
	}
	c := w.run("r2", "t2")
	if got := x.get("r2"); got != early || c.bufState != early {
		t.Fatalf("get of a run made again: %p (slot %p), want %p", got, c.bufState, early)
	}
	x.del("r2")
	if c.bufState != nil || x.get("r2") != nil {
		t.Fatalf("after del of a run made again: slot %p, get %p", c.bufState, x.get("r2"))
	}
	if x.get("never") != nil {
		t.Fatal("get of an unknown run is not nil")
	}
	x.set("r3", &bufState{})
	x.set("r1", &bufState{})
	if got := x.ids(); !slices.Equal(got, []string{"r1", "r3"}) {
		t.Fatalf("ids %v, want [r1 r3]", got)
	}
}

// TestDropHeapPopsInTimeOrder: pushes and pops interleaved at random come out as a
// sorted queue would give them.
func TestDropHeapPopsInTimeOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h dropHeap
	var ref []time.Time
	for i := range 5000 {
		if len(ref) == 0 || rng.IntN(3) > 0 {
			at := t0.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
			h.push(dropAt{at: at, run: "r"})
			ref = append(ref, at)
			continue
		}
		slices.SortFunc(ref, time.Time.Compare)
		got := h.pop()
		if !got.at.Equal(ref[0]) {
			t.Fatalf("pop %d: %s, want %s", i, got.at, ref[0])
		}
		ref = ref[1:]
	}
	if len(h) != len(ref) {
		t.Fatalf("heap holds %d, want %d", len(h), len(ref))
	}
}
