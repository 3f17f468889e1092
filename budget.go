package deepvue

import (
	"container/list"
	"context"
	"sync"
	"sync/atomic"
)

// DefaultMaxBufferedBytes is the default memory budget of a Client: the
// answer bytes all its calls may hold at once (see WithMaxBufferedBytes).
const DefaultMaxBufferedBytes = 128 << 20

// memBudget bounds the bytes of answers a Client holds at once, across all
// its calls. A call reserves what its answer may need before reading it and
// waits, in FIFO order, while the budget is spent; each call holds one
// reservation at a time, taken whole, so the waits cannot deadlock. It is
// golang.org/x/sync/semaphore's Weighted, kept here so the SDK has no
// dependency beyond go-retryablehttp, with a lock-free fast path: while no
// call waits, a reservation and its release are one atomic operation each,
// and the lock is taken only when the budget is spent.
type memBudget struct {
	size    int64
	used    atomic.Int64 // bytes reserved now
	waiting atomic.Int64 // calls waiting or about to wait (>= waiters.Len())

	mu      sync.Mutex
	waiters list.List // of *budgetWaiter
}

type budgetWaiter struct {
	n     int64
	ready chan struct{}
}

func newMemBudget(size int64) *memBudget { return &memBudget{size: size} }

// take reserves n bytes if they fit now.
func (b *memBudget) take(n int64) bool {
	for {
		u := b.used.Load()
		if u+n > b.size {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// acquire reserves n bytes (n <= size), waiting while the budget is spent,
// until ctx ends.
func (b *memBudget) acquire(ctx context.Context, n int64) error {
	if b.waiting.Load() == 0 && b.take(n) {
		return nil // the fast path: room, and no one queued before this call
	}
	b.mu.Lock()
	// Announced before the last look at used: a release that does not see
	// this count made its room visible to that look (both are sequentially
	// consistent atomics), and one that sees it grants under the lock.
	b.waiting.Add(1)
	if b.waiters.Len() == 0 && b.take(n) {
		b.waiting.Add(-1)
		b.mu.Unlock()
		return nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	elem := b.waiters.PushBack(w)
	b.mu.Unlock()

	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		select {
		case <-w.ready:
			// Granted just as the context ended: give it back.
			b.used.Add(-n)
			b.grantLocked()
		default:
			front := b.waiters.Front() == elem
			b.waiters.Remove(elem)
			b.waiting.Add(-1)
			if front {
				// The waiters behind this one may fit now.
				b.grantLocked()
			}
		}
		b.mu.Unlock()
		return ctx.Err()
	}
}

// release returns n bytes to the budget and wakes the waiters that fit.
func (b *memBudget) release(n int64) {
	if n <= 0 {
		return
	}
	b.used.Add(-n)
	if b.waiting.Load() == 0 {
		return // no one to wake: no lock
	}
	b.mu.Lock()
	b.grantLocked()
	b.mu.Unlock()
}

// grantLocked admits waiters in order while the first one fits.
func (b *memBudget) grantLocked() {
	for e := b.waiters.Front(); e != nil; e = b.waiters.Front() {
		w := e.Value.(*budgetWaiter)
		if !b.take(w.n) {
			return
		}
		b.waiters.Remove(e)
		b.waiting.Add(-1)
		close(w.ready)
	}
}

// inUse returns the bytes reserved now (for tests).
func (b *memBudget) inUse() int64 { return b.used.Load() }
