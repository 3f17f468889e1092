package deepvue

import (
	"context"
	"errors"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue/deepvuetest"
	"github.com/deepvue-go/deepvue/internal/slots"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

var _ Limiter = (*rate.Limiter)(nil) // x/time/rate satisfies Limiter

func TestRateLimiter100ConcurrentCallsAt5PerSecond(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 20 seconds: skipped with -short")
	}
	t.Parallel()
	fake := deepvuetest.NewServer(deepvuetest.WithPendingWindow(0))
	defer fake.Close()

	lim := &stampLimiter{l: rate.NewLimiter(5, 1)}
	c, err := NewClient(fake.ClientID, fake.ClientSecret, WithBaseURL(fake.URL), WithRateLimiter(lim))
	require.NoError(t, err)
	defer c.CloseIdleConnections()

	const calls = 100
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	start := time.Now()
	for i := 0; i < calls; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.GenerateOTP(context.Background(), deepvuetest.NewNumber(), ConsentYes, testPurpose)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	times := fake.Arrivals(deepvuetest.PathGenerateOTP)
	require.Len(t, times, calls)
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	admitted := lim.stamps()
	require.Len(t, admitted, calls, "every call waited on the limiter once")
	span := times[len(times)-1].Sub(times[0])
	perSecond := float64(calls-1) / span.Seconds()
	// The rate is read where the limiter let the calls through: the
	// server's first arrival can come late on a loaded machine (it once came
	// late enough to read 5.3/s), which says nothing of the limiter; what
	// reaches the server is checked below, in windows less the delivery
	// delay measured for each call.
	admittedSpan := admitted[len(admitted)-1].Sub(admitted[0])
	admittedPerSecond := float64(calls-1) / admittedSpan.Seconds()
	// Every call is admitted before it is sent. Pairing the k-th admission
	// with the k-th arrival, each arrival comes at most late after an
	// admission; then the arrivals in any window of 1 s - late were admitted
	// within 1 s, so they are no more than the limiter admits in a second.
	// A machine too loaded to deliver within half a second leaves only the
	// limiter's side to check.
	late := time.Duration(0)
	for k := range times {
		require.False(t, times[k].Before(admitted[k]), "the k-th arrival comes after the k-th admission")
		late = max(late, times[k].Sub(admitted[k]))
	}
	t.Logf("%d calls admitted over %v: %.2f/s; they reached the server over %v: %.2f/s (total %v); arrivals at most %v after admission",
		calls, admittedSpan.Round(time.Millisecond), admittedPerSecond, span.Round(time.Millisecond), perSecond,
		time.Since(start).Round(time.Millisecond), late.Round(time.Millisecond))
	assert.InDelta(t, 5.0, admittedPerSecond, 0.25)
	assert.LessOrEqual(t, deepvuetest.PeakArrivals(admitted, time.Second), 6, "the limiter admits no more than the rate plus the burst in a second")
	if late < 500*time.Millisecond {
		assert.LessOrEqual(t, deepvuetest.PeakArrivals(times, time.Second-late), 6,
			"at the server, no more than the rate plus the burst in any second, less the delivery delay")
	} else {
		t.Logf("the machine delayed a request by %v between the limiter and the server: only the limiter's side is checked", late)
	}
}

// stampLimiter records when each Wait let a call through: the time the
// limiter scheduled it (a reservation's time to act), not the time the
// goroutine ran again after it, which a loaded machine delays by hundreds
// of milliseconds and bunches (eight stamps once fell in one second of a
// 5/s limiter whose schedule held six). Wait returns no earlier than that
// time, so every request still leaves after its stamp.
type stampLimiter struct {
	l  *rate.Limiter
	mu sync.Mutex
	at []time.Time
}

func (s *stampLimiter) Wait(ctx context.Context) error {
	now := time.Now()
	r := s.l.ReserveN(now, 1)
	if !r.OK() {
		return errors.New("stampLimiter: cannot reserve")
	}
	at := now.Add(r.DelayFrom(now))
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		r.Cancel()
		return ctx.Err()
	}
	s.mu.Lock()
	s.at = append(s.at, at)
	s.mu.Unlock()
	return nil
}

func (s *stampLimiter) stamps() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]time.Time(nil), s.at...)
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

func TestRateLimiterWaitEndsWithContext(t *testing.T) {
	for name, l := range map[string]Limiter{
		"x/time/rate":    rate.NewLimiter(rate.Every(2*time.Second), 1),
		"NewPlanLimiter": NewPlanLimiter(Plan{PerSecond: 1}),
	} {
		t.Run(name, func(t *testing.T) {
			c, mt := mockClient(t, WithRateLimiter(l))
			mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(200, successOTP))
			_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
			require.NoError(t, err, "the first call takes the only token")

			// The next token comes in about a second (within the default
			// 30s deadline), so the call waits until the context is cancelled.
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			start := time.Now()
			_, err = c.GenerateOTP(ctx, validNumber, ConsentYes, testPurpose)
			assert.Less(t, time.Since(start), 900*time.Millisecond, "the wait ends with the context")
			assert.ErrorIs(t, err, context.Canceled)
			assert.Equal(t, 1, mt.GetTotalCallCount(), "nothing was sent")
			assertNoLeak(t, err)

			// A deadline shorter than the wait fails at once.
			dctx, dcancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer dcancel()
			start = time.Now()
			_, err = c.GenerateOTP(dctx, validNumber, ConsentYes, testPurpose)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Less(t, time.Since(start), time.Second, "no point waiting for a token that comes after the deadline")
		})
	}
}

func TestRateLimiterAppliesToRetries(t *testing.T) {
	var mu sync.Mutex
	waits := 0
	l := limiterFunc(func(ctx context.Context) error { mu.Lock(); waits++; mu.Unlock(); return nil })
	c, mt := mockClient(t, WithRateLimiter(l))
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(500, sourceFailBd))
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	assert.ErrorIs(t, err, ErrSourceFailure)
	assert.Equal(t, 3, mt.GetTotalCallCount())
	assert.Equal(t, 3, waits, "one wait per request sent, retries included")
}

type limiterFunc func(ctx context.Context) error

func (f limiterFunc) Wait(ctx context.Context) error { return f(ctx) }

func TestPlanLimiterWindows(t *testing.T) {
	// A fake clock ahead of the real one, so that a context deadline set on
	// it has not passed in real time.
	now := time.Now().Add(time.Hour)
	l := NewPlanLimiter(PlanStarter).(*windowLimiter)
	l.now = func() time.Time { return now }
	ctx := context.Background()
	// delayOf is how long until the next slot: a Wait whose deadline is now
	// is refused with the wait, or takes the slot when it is now.
	delayOf := func() time.Duration {
		dctx, cancel := context.WithDeadline(ctx, now)
		defer cancel()
		var le *LimitError
		if err := l.Wait(dctx); errors.As(err, &le) {
			return le.RetryAfter()
		} else {
			require.NoError(t, err)
		}
		return 0
	}
	second := time.Second + slots.Margin(time.Second)
	minute := time.Minute + slots.Margin(time.Minute)
	assert.Equal(t, 1101*time.Millisecond, second)
	assert.Equal(t, 60160*time.Millisecond, minute)
	// 1/s: the second request in the same second waits a second and the margin.
	require.NoError(t, l.Wait(ctx))
	assert.Equal(t, second, delayOf())
	// 30/min: after 30 requests 1.101 s apart, the 31st waits for the
	// minute (and its margin) to pass since the first.
	for i := 1; i < 30; i++ {
		now = now.Add(second)
		require.NoError(t, l.Wait(ctx))
	}
	now = now.Add(second) // 30 x 1.101 s after the first
	assert.Equal(t, minute-30*second, delayOf())
	now = now.Add(minute - 30*second)
	assert.Zero(t, delayOf(), "the slot is now: taken")
	assert.Equal(t, second, delayOf())

	assert.Equal(t, []int{17, 1000, 50000}, []int{PlanEnterprise.PerSecond, PlanEnterprise.PerMinute, PlanEnterprise.PerDay})
	assert.Len(t, NewPlanLimiter(Plan{PerSecond: 2}).(*windowLimiter).windows, 1, "zero limits are not enforced")
	assert.Equal(t, []slots.Window{{Limit: 17, Per: 1101 * time.Millisecond, Base: time.Second},
		{Limit: 1000, Per: 60160 * time.Millisecond, Base: time.Minute},
		{Limit: 50000, Per: 24*time.Hour + 86500*time.Millisecond, Base: 24 * time.Hour}},
		NewPlanLimiter(PlanEnterprise).(*windowLimiter).windows)
}

// TestPlanLimiterHoldsAtTheServer measures where Deepvue counts: 40
// concurrent calls through NewPlanLimiter(Plan{PerSecond: 5}), with
// SOURCE_FAILURE answers mixed in (each retry waits on the limiter too),
// never put more than 5 requests into any one-second window at the server.
func TestPlanLimiterHoldsAtTheServer(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 9 seconds: skipped with -short")
	}
	t.Parallel()
	fake := deepvuetest.NewServer(deepvuetest.WithPendingWindow(0))
	defer fake.Close()
	for i := 0; i < 8; i++ {
		fake.Script(deepvuetest.PathGenerateOTP, deepvuetest.Answer{}, deepvuetest.SourceFailure)
	}
	c, err := NewClient(fake.ClientID, fake.ClientSecret, WithBaseURL(fake.URL), WithRetryWait(0, 0),
		WithRateLimiter(NewPlanLimiter(Plan{PerSecond: 5})))
	require.NoError(t, err)
	defer c.CloseIdleConnections()
	var wg sync.WaitGroup
	var spent atomic.Int32 // calls whose retries all drew a scripted SOURCE_FAILURE
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.GenerateOTP(context.Background(), deepvuetest.NewNumber(), ConsentYes, testPurpose)
			if errors.Is(err, ErrSourceFailure) {
				spent.Add(1) // which request draws which scripted answer is up to the scheduler
			} else {
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	times := fake.Arrivals(deepvuetest.PathGenerateOTP)
	// 40 calls, and a retry for each of the 8 SOURCE_FAILURE answers except
	// those that ended a call with its retries spent.
	require.Len(t, times, 48-int(spent.Load()))
	peak := deepvuetest.PeakArrivals(times, time.Second)
	t.Logf("%d requests over %v; at most %d in any one-second window at the server", len(times),
		times[len(times)-1].Sub(times[0]).Round(time.Millisecond), peak)
	assert.LessOrEqual(t, peak, 5)
}

// TestPlanLimiterFailsFastUnderContention is issue 15's case in one
// process: many concurrent calls through one NewPlanLimiter, each with the
// same deadline. Each call is handed its slot when it asks, so every call
// whose slot lies after its deadline fails at once (not at the deadline)
// with an error that matches ErrNotSent and context.DeadlineExceeded and
// says when to try again; the calls that get a slot are sent within the
// plan. DEEPVUE_LIMITER_MEASURE=1 runs the numbers (120 calls, 20 s
// deadline) instead of the short ones.
func TestPlanLimiterFailsFastUnderContention(t *testing.T) {
	calls, deadline := 40, 3*time.Second
	if os.Getenv("DEEPVUE_LIMITER_MEASURE") != "" {
		calls, deadline = 120, 20*time.Second
	}
	t.Parallel()
	fake := deepvuetest.NewServer(deepvuetest.WithPendingWindow(0))
	defer fake.Close()
	c, err := NewClient(fake.ClientID, fake.ClientSecret, WithBaseURL(fake.URL), WithRateLimiter(NewPlanLimiter(PlanGrowth)))
	require.NoError(t, err)
	defer c.CloseIdleConnections()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var refused, sent int
	var slowestRefusal, slowestSuccess time.Duration
	for i := 0; i < calls; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			start := time.Now()
			_, err := c.GenerateOTP(ctx, deepvuetest.NewNumber(), ConsentYes, testPurpose)
			took := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				sent++
				slowestSuccess = max(slowestSuccess, took)
				return
			}
			refused++
			slowestRefusal = max(slowestRefusal, took)
			assert.ErrorIs(t, err, ErrNotSent)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			// A refusal and a limiter wait that ran out have one name.
			assert.Equal(t, "limiter", Outcome(err))
			assert.Equal(t, OTPNotSent, OTPStateOf(err))
			var ra interface{ RetryAfter() time.Duration }
			if assert.True(t, errors.As(err, &ra), "the refusal says when to try again") {
				// The slot it would have had lies after its deadline.
				assert.Greater(t, ra.RetryAfter()+took, deadline-100*time.Millisecond)
				d, ok := RetryAfter(err)
				assert.True(t, ok, "RetryAfter finds the limiter's wait")
				assert.Equal(t, ra.RetryAfter(), d)
			}
			assertNoLeak(t, err)
		}()
	}
	wg.Wait()
	times := fake.Arrivals(deepvuetest.PathGenerateOTP)
	t.Logf("%d calls, %v deadline, Plan Growth (5/s): %d sent (the slowest in %v), %d refused, the slowest refusal after %v; at most %d in any second at the server",
		calls, deadline, sent, slowestSuccess.Round(time.Millisecond), refused, slowestRefusal.Round(time.Microsecond),
		deepvuetest.PeakArrivals(times, time.Second))
	assert.Len(t, times, sent)
	assert.Positive(t, refused)
	// A refusal is decided when the call asks, not when its deadline comes:
	// far below the deadline even on a loaded machine.
	assert.Less(t, slowestRefusal, deadline/4, "refused at once, not at the deadline")
	assert.Less(t, slowestSuccess, deadline, "no call waits past its deadline")
	// The peak at the server is logged, not asserted here: a burst of new
	// connections on a loaded machine delays some requests after the limiter
	// let them go by more than the margin (slots.Margin). The plan at the server is
	// asserted by the tests built for it (TestPlanLimiterHoldsAtTheServer,
	// TestFleetNeverExceedsThePlanAtTheServer).
}

// TestPlanLimiterWaiterThatLeavesMovesTheOthersUp: three waiters at
// Plan{PerSecond: 1}; the second leaves (its context is cancelled) and the
// third takes its slot a second earlier than it was handed.
func TestPlanLimiterWaiterThatLeavesMovesTheOthersUp(t *testing.T) {
	l := NewPlanLimiter(Plan{PerSecond: 1}).(*windowLimiter)
	require.NoError(t, l.Wait(context.Background()))
	second, cancelSecond := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	go func() { errs <- l.Wait(second) }()
	require.Eventually(t, func() bool { return l.book.Len() == 2 }, 5*time.Second, time.Millisecond)
	// The third would get its slot 2.2 s from now: within 1.8 s only once
	// the second gives its slot back.
	third, cancelThird := context.WithTimeout(context.Background(), time.Minute)
	defer cancelThird()
	start := time.Now()
	go func() { errs <- l.Wait(third) }()
	require.Eventually(t, func() bool { return l.book.Len() == 3 }, 5*time.Second, time.Millisecond)
	cancelSecond()
	assert.ErrorIs(t, <-errs, context.Canceled)
	require.NoError(t, <-errs)
	took := time.Since(start)
	t.Logf("the third waiter took %v", took.Round(time.Millisecond))
	assert.Less(t, took, 2*time.Second+slots.Margin(time.Second), "the third moved up into the second's slot")
}

// TestLimiterMisuse: a nil context is an error, not a panic; a negative Plan
// is refused by Validate and by every Wait of its limiter; a zero Plan
// limits nothing.
func TestLimiterMisuse(t *testing.T) {
	//lint:ignore SA1012 a nil context on purpose
	assert.Error(t, NewPlanLimiter(PlanGrowth).Wait(nil))
	for _, p := range []Plan{{PerSecond: -1}, {PerSecond: 5, PerMinute: -1}, {PerDay: -5}} {
		err := p.Validate()
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "-")
		assert.Equal(t, err, NewPlanLimiter(p).Wait(context.Background()), "every Wait refuses with Validate's error")
	}
	for _, p := range []Plan{PlanStarter, PlanBusiness, PlanGrowth, PlanEnterprise, {}} {
		assert.NoError(t, p.Validate())
	}
	zero := NewPlanLimiter(Plan{})
	for i := 0; i < 1000; i++ {
		require.NoError(t, zero.Wait(context.Background()), "a zero Plan: no limit")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, zero.Wait(ctx), context.Canceled)

	// Through a Client: refused unsent, no panic.
	c, mt := mockClient(t, WithRateLimiter(NewPlanLimiter(Plan{PerMinute: -3})))
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(200, successOTP))
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	assert.ErrorIs(t, err, ErrNotSent)
	assert.Zero(t, mt.GetTotalCallCount())
}

// TestLimitErrorText: the refusal's text is fixed (no values), it says when
// to try again, and matches context.DeadlineExceeded.
func TestLimitErrorText(t *testing.T) {
	err := error(&LimitError{Wait: 1234567 * time.Microsecond})
	assert.Equal(t, "deepvue: rate limiter: the next free slot is after the context's deadline", err.Error())
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, ErrNotSent, "only the SDK, which knows what was sent, says ErrNotSent")
	var ra interface{ RetryAfter() time.Duration }
	require.True(t, errors.As(err, &ra))
	assert.Equal(t, 1234567*time.Microsecond, ra.RetryAfter())
}
