package deepvue

import (
	"sync"
	"time"
)

// The Client's one timer. A call whose caller gave no deadline gets the
// Client's default (WithTimeout, flight.go), and an outcome audit record is
// written within auditOutcomeTimeout of its call's end (audit.go): neither
// has a timer of its own. The contexts with such a deadline are listed, one
// list per duration, so that each list is in the order of its deadlines (a
// deadline is the clock, read under the lock as the context is listed, plus
// the list's one duration), and one timer per Client, set for the earliest
// of the lists' first deadlines, ends those whose deadline passed and is
// set again for the next. A context leaves its list when it ends otherwise.
// The timer is set when a context is listed only if it is not set for an
// earlier time, and again when it fires: a busy Client sets it about once
// per duration, not once a call.

// deadlineKind names a list: its contexts share one duration.
type deadlineKind int

const (
	deadlineCall    deadlineKind = iota // a call's default deadline (flight.go)
	deadlineOutcome                     // an outcome record's (audit.go)
	deadlineKinds
)

// deadlines are the listed contexts of one Client and its timer.
type deadlines struct {
	mu    sync.Mutex
	lists [deadlineKinds]struct{ first, last *deadlineNode }
	timer *time.Timer
	at    time.Time // when the timer fires; zero when it is not set
}

// deadlineNode is a context's place in its list.
type deadlineNode struct {
	prev, next *deadlineNode
	at         time.Time // the deadline
	listed     bool
	owner      deadlineOwner
}

// deadlineOwner is a context the timer ends.
type deadlineOwner interface {
	// deadlinePassed ends the context with context.DeadlineExceeded. It is
	// called with the deadlines' lock held, and must not take it.
	deadlinePassed()
}

// add lists n (of owner) last in the list of kind, whose duration is d, and
// returns its deadline: now plus d.
func (dl *deadlines) add(kind deadlineKind, n *deadlineNode, owner deadlineOwner, d time.Duration) time.Time {
	dl.mu.Lock()
	defer dl.mu.Unlock()
	n.at, n.owner, n.listed = time.Now().Add(d), owner, true
	l := &dl.lists[kind]
	n.prev, n.next = l.last, nil
	if l.last != nil {
		l.last.next = n
	} else {
		l.first = n
	}
	l.last = n
	if dl.at.IsZero() || n.at.Before(dl.at) {
		dl.at = n.at
		if dl.timer == nil {
			dl.timer = time.AfterFunc(d, dl.fire)
		} else {
			dl.timer.Reset(d)
		}
	}
	return n.at
}

// remove takes n out of its list (if it is still listed) of kind.
func (dl *deadlines) remove(kind deadlineKind, n *deadlineNode) {
	dl.mu.Lock()
	dl.unlinkLocked(&dl.lists[kind], n)
	dl.mu.Unlock()
}

func (dl *deadlines) unlinkLocked(l *struct{ first, last *deadlineNode }, n *deadlineNode) {
	if !n.listed {
		return
	}
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		l.first = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		l.last = n.prev
	}
	n.prev, n.next, n.listed = nil, nil, false
}

// fire is the timer's: it ends the contexts whose deadline passed and sets
// the timer for the next deadline.
func (dl *deadlines) fire() {
	dl.mu.Lock()
	defer dl.mu.Unlock()
	now := time.Now()
	dl.at = time.Time{}
	for k := range dl.lists {
		l := &dl.lists[k]
		for n := l.first; n != nil && !n.at.After(now); n = l.first {
			dl.unlinkLocked(l, n)
			n.owner.deadlinePassed()
		}
		if l.first != nil && (dl.at.IsZero() || l.first.at.Before(dl.at)) {
			dl.at = l.first.at
		}
	}
	if !dl.at.IsZero() {
		dl.timer.Reset(dl.at.Sub(now))
	}
}
