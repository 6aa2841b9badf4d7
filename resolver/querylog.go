package resolver

import (
	"sync"
	"time"
)

// ring is a bounded, time-stamped, in-memory record store: the query log
// and the debug samples. When full, the oldest record goes; purge drops
// every record older than a cutoff, whatever its position, so a record
// never outlives the retention even if clocks or goroutines interleaved
// out of order.
type ring[T any] struct {
	// mu guards what follows.
	mu   sync.Mutex
	buf  []T
	at   []time.Time
	head int // index of the oldest record
	n    int
}

func newRing[T any](size int) *ring[T] {
	return &ring[T]{buf: make([]T, size), at: make([]time.Time, size)}
}

func (r *ring[T]) add(t time.Time, v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	size := len(r.buf)
	if r.n == size {
		r.head = (r.head + 1) % size
		r.n--
	}
	i := (r.head + r.n) % size
	r.buf[i], r.at[i] = v, t
	r.n++
}

// purge drops every record stamped before cutoff and zeroes its slot.
func (r *ring[T]) purge(cutoff time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.purgeLocked(cutoff)
}

func (r *ring[T]) purgeLocked(cutoff time.Time) {
	size := len(r.buf)
	kept := 0
	var zero T
	for k := range r.n {
		i := (r.head + k) % size
		if r.at[i].Before(cutoff) {
			continue
		}
		j := (r.head + kept) % size
		r.buf[j], r.at[j] = r.buf[i], r.at[i]
		kept++
	}
	for k := kept; k < r.n; k++ {
		i := (r.head + k) % size
		r.buf[i], r.at[i] = zero, time.Time{}
	}
	r.n = kept
}

// records purges before cutoff and returns a copy of what is left, oldest
// first.
func (r *ring[T]) records(cutoff time.Time) []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.purgeLocked(cutoff)
	out := make([]T, 0, r.n)
	for k := range r.n {
		out = append(out, r.buf[(r.head+k)%len(r.buf)])
	}
	return out
}
