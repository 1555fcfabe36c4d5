package invariants

import (
	"maps"
	"slices"
)

// runIndex is a checker's state by run id: a map, which stays the truth (for
// iteration, and for a run the World does not know), whose entries the run's
// dossier also points at (its slot), so that the run's readings, one a second from
// each store, find their state without hashing the run's id again: the World has
// just found the run for the event at hand, and World.Run answers it from its
// last-found cache.
//
// Every change goes through set and del, which keep the slot of the World's run for
// that id equal to the map's entry; a slot left nil (the run came after the state,
// or the World dropped and made the run again) falls back to the map.
type runIndex[T any] struct {
	w    *World
	m    map[string]*T
	slot func(*Run) **T
}

func newRunIndex[T any](w *World, slot func(*Run) **T) runIndex[T] {
	return runIndex[T]{w: w, m: map[string]*T{}, slot: slot}
}

// get returns id's state, or nil.
func (x *runIndex[T]) get(id string) *T {
	r := x.w.Run(id)
	if r != nil {
		if v := *x.slot(r); v != nil {
			return v
		}
	}
	v := x.m[id]
	if r != nil && v != nil {
		*x.slot(r) = v
	}
	return v
}

// set makes v id's state.
func (x *runIndex[T]) set(id string, v *T) {
	x.m[id] = v
	if r := x.w.Run(id); r != nil {
		*x.slot(r) = v
	}
}

// del forgets id's state.
func (x *runIndex[T]) del(id string) {
	delete(x.m, id)
	if r := x.w.Run(id); r != nil {
		*x.slot(r) = nil
	}
}

// ids lists the runs with a state, sorted.
func (x *runIndex[T]) ids() []string { return slices.Sorted(maps.Keys(x.m)) }

// all ranges over the states, in no order.
func (x *runIndex[T]) all() map[string]*T { return x.m }
