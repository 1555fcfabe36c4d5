package testbed

import (
	"sync"
	"time"
)

// registry is the set of threads whose run this process is dispatching (or about to),
// plus the runs it handed over recently, which its own watcher leaves to other pods
// for a while.
type registry struct {
	mu       sync.Mutex
	active   map[string]bool
	cooldown map[string]time.Time
}

func newRegistry() *registry {
	return &registry{active: map[string]bool{}, cooldown: map[string]time.Time{}}
}

// reserve marks thread as dispatched here; false if it already is.
func (r *registry) reserve(thread string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.active[thread] {
		return false
	}
	r.active[thread] = true
	return true
}

func (r *registry) release(thread string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.active, thread)
}

func (r *registry) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.active)
}

// handedOver keeps this pod's watcher off thread until the given time.
func (r *registry) handedOver(thread string, until time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cooldown[thread] = until
}

func (r *registry) coolingDown(thread string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	until, ok := r.cooldown[thread]
	if ok && now.After(until) {
		delete(r.cooldown, thread)
		return false
	}
	return ok
}
