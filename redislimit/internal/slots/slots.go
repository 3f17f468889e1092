// Package slots is the reservation book behind redislimit's pacing while
// Redis does not answer, and the plan's windows: each waiter is handed its slot
// when it asks (as golang.org/x/time/rate's Reserve does), so a slot that
// lies after the waiter's deadline is known at once, and a waiter that
// leaves gives its slot back so that the waiters behind it move up.
//
// A book holds slots in time order. A new slot is the earliest time, at or
// after the request and after every earlier slot, at which every window has
// room: at most Limit slots in any span of Per.
//
// It is redislimit's own copy of the core module's internal/slots (one
// module cannot import another's internal packages, and the core keeps no
// exported name for it): the windows and their margin are the ones
// deepvue.NewPlanLimiter documents, and TestMargin and TestPlanWindows hold
// both copies to the same documented numbers.
package slots

import (
	"context"
	"sync"
	"time"
)

// Window is one limit: at most Limit slots in any span of Per. A Limit of
// zero or less is not enforced. Base, when set, is Deepvue's window that Per
// widens (see PlanWindows); a Book ignores it.
type Window struct {
	Limit int
	Per   time.Duration
	Base  time.Duration
}

// Slot is one reservation in a Book.
type Slot struct {
	at    time.Time // when it may be used
	asked time.Time // when it was asked for: it never moves before this
	done  bool      // used (or recorded as used): it never moves again
}

// Late is returned by Wait when a slot lies after the context's deadline.
// Wait is how long from the refusal until the slot.
type Late struct{ Wait time.Duration }

func (e *Late) Error() string { return "slots: the slot is after the context's deadline" }

// Book is a set of reservations against windows. It is safe for concurrent
// use.
type Book struct {
	mu      sync.Mutex
	keep    int     // done slots kept: the largest limit any window may use
	slots   []*Slot // in time order
	windows []Window
	changed chan struct{} // closed when pending slots moved
}

// New returns a Book that keeps the last keep used slots (at least the
// largest Limit of any window it is asked to enforce).
func New(keep int) *Book {
	return &Book{keep: max(keep, 1), changed: make(chan struct{})}
}

// slotAt is the earliest time at or after from for a slot at position p
// (only the slots before p count).
func slotAt(slots []*Slot, p int, from time.Time, ws []Window) time.Time {
	t := from
	if p > 0 && slots[p-1].at.After(t) {
		t = slots[p-1].at
	}
	for _, w := range ws {
		if w.Limit <= 0 {
			continue
		}
		if i := p - w.Limit; i >= 0 {
			if c := slots[i].at.Add(w.Per); c.After(t) {
				t = c
			}
		}
	}
	return t
}

// Reserve books the earliest slot at or after now within ws and returns it
// with its time. When notAfter is not zero and the slot would lie after it,
// nothing is booked: the slot is nil and the time is when it would have been.
func (b *Book) Reserve(now time.Time, ws []Window, notAfter time.Time) (*Slot, time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.windows = ws
	at := slotAt(b.slots, len(b.slots), now, ws)
	if !notAfter.IsZero() && at.After(notAfter) {
		return nil, at
	}
	s := &Slot{at: at, asked: now}
	b.slots = append(b.slots, s)
	return s, at
}

// Record books a slot already granted elsewhere (by Redis) at at, as used.
func (b *Book) Record(at time.Time) *Slot {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := &Slot{at: at, asked: at, done: true}
	i := len(b.slots)
	for i > 0 && b.slots[i-1].at.After(at) {
		i--
	}
	b.slots = append(b.slots, nil)
	copy(b.slots[i+1:], b.slots[i:])
	b.slots[i] = s
	b.trim()
	return s
}

// Cancel gives s back: it is removed, and every pending slot after it moves
// up to the earliest time it could have had without s.
func (b *Book) Cancel(s *Slot) {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := b.index(s)
	if i < 0 {
		return
	}
	b.slots = append(b.slots[:i], b.slots[i+1:]...)
	b.reflow(i, false)
}

// index returns s's position in the book, -1 if it is not there (searched
// from the end: the slot asked about is usually among the latest).
func (b *Book) index(s *Slot) int {
	i := len(b.slots) - 1
	for i >= 0 && b.slots[i] != s {
		i--
	}
	return i
}

// reflow recomputes the pending slots from position i on: only earlier (a
// slot was given back), or only later (a slot was used late), and wakes
// the waiters when one moved.
func (b *Book) reflow(i int, later bool) {
	moved := false
	for j := i; j < len(b.slots); j++ {
		p := b.slots[j]
		if p.done {
			continue
		}
		t := slotAt(b.slots, j, p.asked, b.windows)
		if later && t.After(p.at) || !later && t.Before(p.at) {
			p.at = t
			moved = true
		}
	}
	if moved {
		close(b.changed)
		b.changed = make(chan struct{})
	}
}

// take marks s used at now. A slot used late (its waiter woke late: a
// loaded machine) counts from when it was used, as Deepvue will count it:
// it moves to now, and the pending slots behind it move later as needed.
func (b *Book) take(s *Slot, now time.Time) {
	s.done = true
	if !now.After(s.at) {
		return
	}
	i := b.index(s)
	if i < 0 {
		return
	}
	// Keep the book in time order: s goes after every slot up to now.
	b.slots = append(b.slots[:i], b.slots[i+1:]...)
	s.at = now
	k := i
	for k < len(b.slots) && !b.slots[k].at.After(now) {
		k++
	}
	b.slots = append(b.slots, nil)
	copy(b.slots[k+1:], b.slots[k:])
	b.slots[k] = s
	b.reflow(i, true)
}

// trim drops the oldest used slots beyond what any window needs.
func (b *Book) trim() {
	if len(b.slots) <= b.keep+b.keep/4+64 {
		return
	}
	n := 0
	for n < len(b.slots)-b.keep && b.slots[n].done {
		n++
	}
	if n > 0 {
		b.slots = append(b.slots[:0], b.slots[n:]...)
	}
}

// Wait waits until s's time has come (it then counts as used and Wait
// returns nil). When the context ends first, s is given back and Wait
// returns the context's error; when s lies after the context's deadline
// (it can move only earlier, so this is known at once), s is given back and
// Wait returns a *Late. clock is the time now.
func (b *Book) Wait(ctx context.Context, s *Slot, clock func() time.Time) error {
	for {
		b.mu.Lock()
		now := clock()
		if !s.at.After(now) {
			b.take(s, now)
			b.trim()
			b.mu.Unlock()
			return nil
		}
		at, ch := s.at, b.changed
		b.mu.Unlock()
		if dl, ok := ctx.Deadline(); ok && at.After(dl) {
			b.Cancel(s)
			return &Late{Wait: at.Sub(now)}
		}
		t := time.NewTimer(at.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			b.Cancel(s)
			return ctx.Err()
		case <-ch:
			t.Stop()
		case <-t.C:
		}
	}
}

// Len returns how many slots the book holds (for tests).
func (b *Book) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.slots)
}

// At returns the time of s.
func (b *Book) At(s *Slot) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return s.at
}
