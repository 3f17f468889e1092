// Package budget bounds the bytes of answers held at once: by every Client
// of a process (the default) or by one Client (WithMaxBufferedBytes).
//
// A reader takes a Hold and grows it as the bytes of its answer arrive, so
// an answer that is slow, or whose length is unknown (a gzipped answer),
// holds only what it has received. Growing waits while the budget is spent;
// the waits cannot deadlock, and no reader waits behind a larger one:
//
//   - Most of the budget is a common pool, shared by every Hold with no
//     order: a Hold grows whenever its bytes fit, whoever waits before it.
//   - The rest, the reserve, is as large as the largest Hold. It belongs to
//     one Hold at a time: the first that no longer fits in the common pool
//     while the reserve is free, then, as it is freed, the Holds waiting for
//     room in their order of arrival. The Hold that owns the reserve always
//     has room for its next bytes (the common pool never exceeds its share
//     and the reserve covers the largest Hold), so it finishes, releases
//     the reserve, and the next waiter takes it: every wait ends.
//
// While no reader waits, growing and releasing are an atomic operation
// each; the lock is taken only when a Hold does not fit.
package budget

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// ErrTooLarge is Grow's error for a Hold that would exceed the largest
// Hold of its Budget.
var ErrTooLarge = errors.New("budget: more than the largest hold")

// Budget is a bound on the bytes all its Holds hold at once. It is safe
// for concurrent use.
type Budget struct {
	size    int64
	largest int64 // the most one Hold may hold; also the reserve's size
	common  int64 // size - largest: the common pool's bound

	pooled   atomic.Int64 // bytes held in the common pool
	reserved atomic.Int64 // bytes held by the reserve's owner
	waiting  atomic.Int64 // Holds waiting or about to wait (>= waiters.Len())

	mu      sync.Mutex
	owner   *Hold     // the Hold that owns the reserve; nil when it is free
	waiters list.List // of *waiter, in order of arrival
}

type waiter struct {
	h     *Hold
	n     int64
	ready chan struct{}
}

// New returns a Budget of size bytes in which one Hold holds at most
// largest bytes (at most size: a larger value is taken as size).
func New(size, largest int64) *Budget {
	largest = max(min(largest, size), 0)
	return &Budget{size: size, largest: largest, common: size - largest}
}

// Size returns the budget's size in bytes.
func (b *Budget) Size() int64 { return b.size }

// Largest returns the most one Hold may hold.
func (b *Budget) Largest() int64 { return b.largest }

// InUse returns the bytes held now.
func (b *Budget) InUse() int64 { return b.pooled.Load() + b.reserved.Load() }

// Hold is one reader's share of a Budget: zero bytes at first, grown as
// its answer arrives, released when the answer is done with. A Hold is
// used by one goroutine at a time and must not be copied after its first
// Grow. The zero Hold holds nothing and belongs to no Budget; Open gives
// one that does.
type Hold struct {
	b    *Budget
	n    int64 // bytes held
	owns bool  // the Hold owns the reserve (set under b.mu)
}

// Open returns an empty Hold on b.
func (b *Budget) Open() Hold { return Hold{b: b} }

// Held returns the bytes h holds.
func (h *Hold) Held() int64 { return h.n }

// takePooled adds n bytes to the common pool if they fit.
func (b *Budget) takePooled(n int64) bool {
	for {
		u := b.pooled.Load()
		if u+n > b.common {
			return false
		}
		if b.pooled.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// Grow adds n bytes to h, waiting while they do not fit, until ctx ends
// (then it returns ctx's error, and h holds what it held before). It
// returns ErrTooLarge, holding nothing more, if h would exceed the largest
// Hold.
func (h *Hold) Grow(ctx context.Context, n int64) error {
	if n <= 0 {
		return nil
	}
	b := h.b
	if h.n+n > b.largest {
		return ErrTooLarge
	}
	if h.owns {
		// The reserve covers the largest Hold: there is always room.
		h.n += n
		b.reserved.Add(n)
		return nil
	}
	if b.takePooled(n) {
		h.n += n
		return nil
	}
	b.mu.Lock()
	// Announced before the last look at the pool: a release that does not
	// see this count made its room visible to that look (both are
	// sequentially consistent atomics), and one that sees it grants under
	// the lock.
	b.waiting.Add(1)
	if b.grantLocked(h, n) {
		b.waiting.Add(-1)
		b.mu.Unlock()
		return nil
	}
	w := &waiter{h: h, n: n, ready: make(chan struct{})}
	elem := b.waiters.PushBack(w)
	b.mu.Unlock()

	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		select {
		case <-w.ready:
			// Granted just as the context ended: h keeps it, and gives it
			// back when it is released.
			b.mu.Unlock()
			return nil
		default:
		}
		b.waiters.Remove(elem)
		b.waiting.Add(-1)
		b.mu.Unlock()
		return ctx.Err()
	}
}

// grantLocked gives h n more bytes from the common pool or, when the
// reserve is free, by making h its owner (then they always fit). It
// reports whether it did.
func (b *Budget) grantLocked(h *Hold, n int64) bool {
	if b.takePooled(n) {
		h.n += n
		return true
	}
	if b.owner != nil {
		return false
	}
	// h's bytes move from the common pool to the reserve.
	b.owner, h.owns = h, true
	b.reserved.Store(h.n + n)
	b.pooled.Add(-h.n)
	h.n += n
	return true
}

// wakeLocked grants the waiters that fit, in their order of arrival; one
// that does not fit does not hold up those behind it.
func (b *Budget) wakeLocked() {
	for e := b.waiters.Front(); e != nil; {
		next := e.Next()
		w := e.Value.(*waiter)
		if b.grantLocked(w.h, w.n) {
			b.waiters.Remove(e)
			b.waiting.Add(-1)
			close(w.ready)
		}
		e = next
	}
}

// ShrinkTo gives back what h holds above n bytes.
func (h *Hold) ShrinkTo(n int64) {
	n = max(n, 0)
	if h.n <= n {
		return
	}
	b := h.b
	d := h.n - n
	h.n = n
	if h.owns {
		b.reserved.Add(-d)
		return // the reserve stays h's until Release: nothing to wake
	}
	b.pooled.Add(-d)
	if b.waiting.Load() == 0 {
		return // no one to wake: no lock
	}
	b.mu.Lock()
	b.wakeLocked()
	b.mu.Unlock()
}

// Release gives back everything h holds, and the reserve if h owns it.
// h may grow again afterwards. Releasing an empty Hold, or the zero Hold,
// does nothing.
func (h *Hold) Release() {
	b := h.b
	if !h.owns {
		if h.n > 0 {
			h.ShrinkTo(0)
		}
		return
	}
	b.mu.Lock()
	h.n, h.owns = 0, false
	b.owner = nil
	b.reserved.Store(0)
	b.wakeLocked()
	b.mu.Unlock()
}
