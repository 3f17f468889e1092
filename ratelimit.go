package deepvue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/deepvue-go/deepvue/internal/slots"
)

// Limiter paces requests on the client side. Wait blocks until one request
// may be sent, or returns an error (the context's, when it ends first); a
// call whose limiter returns an error before its first attempt fails with
// an error matching ErrNotSent (a refusal before a retry, once a request may
// have reached Deepvue, does not match it). *rate.Limiter from golang.org/x/time/rate satisfies it, and so
// does the limiter NewPlanLimiter returns. To share one API key's plan across
// a fleet of replicas, use the module
// github.com/deepvue-go/deepvue/redislimit.
type Limiter interface {
	Wait(ctx context.Context) error
}

// Plan holds the documented limits of a Deepvue plan, per API key. A zero
// limit is not enforced, so the zero Plan means "no limit"; a negative limit
// is an error (see Validate), refused where the Plan is used.
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
// a plan's limits, measured where Deepvue counts them: at most PerSecond
// requests in any one-second window, PerMinute in any minute and PerDay in
// any day (sliding windows). Each window is widened by 100 ms plus 0.1 %
// (101 ms for a second, 160 ms for a minute, 86.5 s for a day): requests
// admitted at the limiter reach Deepvue a little later, by an amount that
// varies (a new connection, a retry, the network), and Deepvue counts
// arrivals; the margin absorbs that jitter, and the drift of clocks over a
// day. A zero limit is not enforced; a zero Plan limits nothing (Wait
// returns at once). A Plan
// that fails Validate gives a limiter whose Wait refuses every call with
// Validate's error.
//
// Each waiter is handed its slot when it asks (a reservation, as
// golang.org/x/time/rate's Reserve does), in the order they ask. A waiter
// whose slot lies after its context's deadline fails at once with a
// *LimitError (it matches context.DeadlineExceeded, and its RetryAfter says
// how long until that slot) and books nothing; a waiter whose context ends
// while it waits gives its slot back, and the waiters behind it move up. No
// waiter waits past its deadline. It paces one process; for a fleet sharing
// one API key, see the redislimit module.
func NewPlanLimiter(p Plan) Limiter {
	if err := p.Validate(); err != nil {
		return &windowLimiter{err: err}
	}
	l := &windowLimiter{windows: slots.PlanWindows(p.PerSecond, p.PerMinute, p.PerDay)}
	keep := 0
	for _, w := range l.windows {
		keep = max(keep, w.Limit)
	}
	l.book = slots.New(keep)
	return l
}

// Validate reports whether the plan can be enforced: no limit may be
// negative. (A zero limit is not enforced; a zero Plan limits nothing.)
func (p Plan) Validate() error {
	for _, f := range []struct {
		name string
		n    int
	}{{"PerSecond", p.PerSecond}, {"PerMinute", p.PerMinute}, {"PerDay", p.PerDay}} {
		if f.n < 0 {
			return errors.New("deepvue: invalid Plan: " + f.name + " is negative")
		}
	}
	return nil
}

// LimitError is a limiter's refusal of a call whose slot lies after the
// call's deadline: it fails at once instead of waiting for nothing. Its text
// is fixed. It matches context.DeadlineExceeded; through a Client, the
// call's error also matches ErrNotSent when nothing of the call was sent,
// and RetryAfter(err) finds the wait. NewPlanLimiter and the redislimit
// module return it.
type LimitError struct {
	// Wait is how long from the refusal until the slot the call would have
	// had (always positive).
	Wait time.Duration
}

// Error returns a fixed text.
func (e *LimitError) Error() string {
	return "deepvue: rate limiter: the next free slot is after the context's deadline"
}

// RetryAfter returns how long until the slot the call would have had.
func (e *LimitError) RetryAfter() time.Duration {
	if e == nil {
		return 0
	}
	return e.Wait
}

// Is matches context.DeadlineExceeded: the call could not be sent before
// its deadline.
func (e *LimitError) Is(target error) bool { return target == context.DeadlineExceeded }

// errNilWaitContext is what a limiter's Wait returns for a nil context.
var errNilWaitContext = errors.New("deepvue: rate limiter: nil context")

// windowLimiter hands out slots from a reservation book.
type windowLimiter struct {
	err     error // the plan's, from Validate: every Wait refuses with it
	windows []slots.Window
	book    *slots.Book
	now     func() time.Time // for tests; nil means time.Now
}

func (l *windowLimiter) clock() time.Time {
	if l.now != nil {
		return l.now()
	}
	return time.Now()
}

// Wait books the next slot and waits for it; see NewPlanLimiter.
func (l *windowLimiter) Wait(ctx context.Context) error {
	if ctx == nil {
		return errNilWaitContext
	}
	if l.err != nil {
		return l.err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(l.windows) == 0 {
		return nil // a zero Plan: no limit
	}
	now := l.clock()
	dl, _ := ctx.Deadline()
	s, at := l.book.Reserve(now, l.windows, dl)
	if s == nil {
		// It cannot succeed in time: fail now instead of at the deadline.
		return &LimitError{Wait: at.Sub(now)}
	}
	return fromLate(l.book.Wait(ctx, s, l.clock))
}

// fromLate turns the book's *slots.Late into a *LimitError.
func fromLate(err error) error {
	if late, ok := err.(*slots.Late); ok {
		return &LimitError{Wait: late.Wait}
	}
	return err
}

// waitLimiter is the story's limit step, and a retry's: it waits on the
// Client's Limiter, if any, adds the wait to the call's record, and returns
// the Limiter's error as a *limiterWaitError.
func (c *Client) waitLimiter(ctx context.Context, cl *call) error {
	if c.limiter == nil {
		return nil
	}
	waited := time.Now()
	err := c.limiter.Wait(ctx)
	cl.limiterWait += time.Since(waited)
	if err != nil {
		return &limiterWaitError{limiterError(err)}
	}
	return nil
}

// limiterWaitError marks an error of Limiter.Wait (before the first attempt
// or a retry) on its way to the call's transport error, which records it so
// that Outcome names it "limiter".
type limiterWaitError struct{ err error }

func (e *limiterWaitError) Error() string { return e.err.Error() }
func (e *limiterWaitError) Unwrap() error { return e.err }

// limiterError makes x/time/rate's "would exceed context deadline" (a token
// that comes only after the deadline) match context.DeadlineExceeded.
func limiterError(err error) error {
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && strings.Contains(err.Error(), "would exceed context deadline") {
		return fmt.Errorf("%w (%w)", context.DeadlineExceeded, err)
	}
	return err
}
