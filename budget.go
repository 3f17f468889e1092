package deepvue

import (
	"container/list"
	"context"
	"sync"
)

// DefaultMaxBufferedBytes is the default memory budget of a Client: the
// answer bytes all its calls may hold at once (see WithMaxBufferedBytes).
const DefaultMaxBufferedBytes = 128 << 20

// memBudget bounds the bytes of answers a Client holds at once, across all
// its calls. A call reserves what its answer may need before reading it and
// waits, in FIFO order, while the budget is spent; each call holds one
// reservation at a time, taken whole, so the waits cannot deadlock. It is
// golang.org/x/sync/semaphore's Weighted, kept here so the SDK has no
// dependency beyond go-retryablehttp.
type memBudget struct {
	mu      sync.Mutex
	size    int64
	used    int64
	waiters list.List // of *budgetWaiter
}

type budgetWaiter struct {
	n     int64
	ready chan struct{}
}

func newMemBudget(size int64) *memBudget { return &memBudget{size: size} }

// acquire reserves n bytes (n <= size), waiting while the budget is spent,
// until ctx ends.
func (b *memBudget) acquire(ctx context.Context, n int64) error {
	b.mu.Lock()
	if b.used+n <= b.size && b.waiters.Len() == 0 {
		b.used += n
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
			b.used -= n
			b.grantLocked()
		default:
			front := b.waiters.Front() == elem
			b.waiters.Remove(elem)
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
	b.mu.Lock()
	b.used -= n
	b.grantLocked()
	b.mu.Unlock()
}

// grantLocked admits waiters in order while the first one fits.
func (b *memBudget) grantLocked() {
	for e := b.waiters.Front(); e != nil; e = b.waiters.Front() {
		w := e.Value.(*budgetWaiter)
		if b.used+w.n > b.size {
			return
		}
		b.used += w.n
		b.waiters.Remove(e)
		close(w.ready)
	}
}

// inUse returns the bytes reserved now (for tests).
func (b *memBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
