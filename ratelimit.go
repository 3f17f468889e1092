package deepvue

import (
	"context"
	"sync"
	"time"
)

// Limiter paces requests on the client side. Wait blocks until one request
// may be sent, or returns an error (the context's, when it ends first).
// *rate.Limiter from golang.org/x/time/rate satisfies it, and so does the
// limiter NewPlanLimiter returns. To share one API key's limit across a fleet
// of backend instances, implement Limiter over a shared store (for example a
// Redis token bucket) or give each of N instances 1/N of the plan.
type Limiter interface {
	Wait(ctx context.Context) error
}

// Plan holds the documented limits of a Deepvue plan, per API key.
type Plan struct {
	Name      string
	PerSecond int
	PerMinute int
	PerDay    int
}

// Deepvue's documented plans.
var (
	PlanStarter    = Plan{Name: "Starter", PerSecond: 1, PerMinute: 30, PerDay: 1000}
	PlanBusiness   = Plan{Name: "Business", PerSecond: 2, PerMinute: 100, PerDay: 10000}
	PlanGrowth     = Plan{Name: "Growth", PerSecond: 5, PerMinute: 500, PerDay: 20000}
	PlanEnterprise = Plan{Name: "Enterprise", PerSecond: 17, PerMinute: 1000, PerDay: 50000}
)

// NewPlanLimiter returns a Limiter that keeps one process inside all three of
// a plan's limits: at most PerSecond requests in any one-second window,
// PerMinute in any minute and PerDay in any day (sliding windows). A zero
// limit is not enforced. Waits end when the context does.
func NewPlanLimiter(p Plan) Limiter {
	l := &windowLimiter{}
	for _, w := range []struct {
		n   int
		per time.Duration
	}{{p.PerSecond, time.Second}, {p.PerMinute, time.Minute}, {p.PerDay, 24 * time.Hour}} {
		if w.n > 0 {
			l.windows = append(l.windows, &window{limit: w.n, per: w.per})
		}
	}
	return l
}

// windowLimiter admits a request when every window has room. Each window
// remembers the send times of its last limit requests (a ring).
type windowLimiter struct {
	mu      sync.Mutex
	windows []*window
	now     func() time.Time // for tests; nil means time.Now
}

type window struct {
	limit int
	per   time.Duration
	times []time.Time // ring of the last sends, oldest at next
	next  int
}

// Wait blocks until a request may be sent without breaking any window.
func (l *windowLimiter) Wait(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		l.mu.Lock()
		now := time.Now()
		if l.now != nil {
			now = l.now()
		}
		var wait time.Duration
		for _, w := range l.windows {
			if d := w.delay(now); d > wait {
				wait = d
			}
		}
		if wait == 0 {
			for _, w := range l.windows {
				w.record(now)
			}
			l.mu.Unlock()
			return nil
		}
		l.mu.Unlock()
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			// It cannot succeed in time: fail now instead of at the deadline.
			return context.DeadlineExceeded
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// delay returns how long until this window has room at now.
func (w *window) delay(now time.Time) time.Duration {
	if len(w.times) < w.limit {
		return 0
	}
	oldest := w.times[w.next]
	if d := oldest.Add(w.per).Sub(now); d > 0 {
		return d
	}
	return 0
}

func (w *window) record(now time.Time) {
	if len(w.times) < w.limit {
		w.times = append(w.times, now)
		return
	}
	w.times[w.next] = now
	w.next = (w.next + 1) % w.limit
}
