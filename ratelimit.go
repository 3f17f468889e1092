package deepvue

import (
	"context"
	"sync"
	"time"
)

// Limiter paces requests on the client side. Wait blocks until one request
// may be sent, or returns an error (the context's, when it ends first); a
// call whose limiter returns an error fails with an error matching
// ErrNotSent. *rate.Limiter from golang.org/x/time/rate satisfies it, and so
// does the limiter NewPlanLimiter returns. To share one API key's plan across
// a fleet of replicas, use the module
// github.com/deepvue-go/deepvue/redislimit.
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

// Window is one limit of a plan as the SDK's limiters enforce it: at most
// Limit requests admitted in any span of Per, which is Deepvue's window
// (Base: a second, a minute or a day) widened by WindowMargin.
type Window struct {
	Limit int
	Per   time.Duration
	Base  time.Duration
}

// WindowMargin is how much longer than Deepvue's window the SDK's limiters
// make each window: 100 ms plus 0.1 % of the window (101 ms for a second,
// 160 ms for a minute, 86.5 s for a day). Requests admitted at the limiter
// reach Deepvue a little later, by an amount that varies (a new connection,
// a retry, the network); two requests admitted a window apart can arrive
// closer than that, and Deepvue counts arrivals. The margin absorbs that
// jitter, and the drift of clocks over a day.
func WindowMargin(per time.Duration) time.Duration { return 100*time.Millisecond + per/1000 }

// Windows returns the windows of the plan that are enforced (a zero limit is
// not), each widened by WindowMargin: per second, per minute, per day.
func (p Plan) Windows() []Window {
	var out []Window
	for _, w := range []Window{{Limit: p.PerSecond, Base: time.Second}, {Limit: p.PerMinute, Base: time.Minute},
		{Limit: p.PerDay, Base: 24 * time.Hour}} {
		if w.Limit > 0 {
			w.Per = w.Base + WindowMargin(w.Base)
			out = append(out, w)
		}
	}
	return out
}

// NewPlanLimiter returns a Limiter that keeps one process inside all three of
// a plan's limits, measured where Deepvue counts them: at most PerSecond
// requests in any one-second window, PerMinute in any minute and PerDay in
// any day (sliding windows, each widened by WindowMargin). A zero limit is
// not enforced. Waits end when the context does, and a wait that would end
// after the context's deadline fails at once with context.DeadlineExceeded.
// It paces one process; for a fleet sharing one API key, see the redislimit
// module.
func NewPlanLimiter(p Plan) Limiter {
	l := &windowLimiter{}
	for _, w := range p.Windows() {
		l.windows = append(l.windows, &window{limit: w.Limit, per: w.Per})
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
