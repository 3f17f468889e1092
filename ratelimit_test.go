package deepvue

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue/deepvuetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

var _ Limiter = (*rate.Limiter)(nil) // x/time/rate satisfies Limiter

// arrivals wraps the fake server's handler and records when each request
// reached it.
type arrivals struct {
	mu    sync.Mutex
	times []time.Time
	next  http.Handler
}

func (a *arrivals) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.times = append(a.times, time.Now())
	a.mu.Unlock()
	a.next.ServeHTTP(w, r)
}

func (a *arrivals) sorted() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := append([]time.Time(nil), a.times...)
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

func TestRateLimiter100ConcurrentCallsAt5PerSecond(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 20 seconds: skipped with -short")
	}
	t.Parallel()
	fake := deepvuetest.NewUnstartedServer(deepvuetest.WithPendingWindow(0))
	rec := &arrivals{next: fake.Config.Handler}
	fake.Config.Handler = rec
	fake.Start()
	defer fake.Close()

	c, err := NewClient(fake.ClientID, fake.ClientSecret, WithBaseURL(fake.URL),
		WithRateLimiter(rate.NewLimiter(5, 1)))
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
			_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	times := rec.sorted()
	require.Len(t, times, calls)
	span := times[len(times)-1].Sub(times[0])
	perSecond := float64(calls-1) / span.Seconds()
	t.Logf("%d calls reached the server over %v: %.2f/s (total %v)", calls, span.Round(time.Millisecond), perSecond, time.Since(start).Round(time.Millisecond))
	assert.InDelta(t, 5.0, perSecond, 0.25)
	// No one-second window holds more than the rate plus the burst.
	for i := range times {
		j := i
		for j < len(times) && times[j].Sub(times[i]) < time.Second {
			j++
		}
		assert.LessOrEqual(t, j-i, 6, "requests in the second after request %d", i)
	}
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
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := NewPlanLimiter(PlanStarter).(*windowLimiter)
	l.now = func() time.Time { return now }
	ctx := context.Background()
	delayOf := func() time.Duration {
		var d time.Duration
		for _, w := range l.windows {
			if x := w.delay(now); x > d {
				d = x
			}
		}
		return d
	}
	// 1/s: the second request in the same second must wait a second.
	require.NoError(t, l.Wait(ctx))
	assert.Equal(t, time.Second, delayOf())
	// 30/min: after 30 requests a second apart, the 31st waits for the
	// minute to pass since the first.
	for i := 1; i < 30; i++ {
		now = now.Add(time.Second)
		require.NoError(t, l.Wait(ctx))
	}
	now = now.Add(time.Second) // 30 s after the first
	assert.Equal(t, 30*time.Second, delayOf())
	now = now.Add(30 * time.Second)
	assert.Zero(t, delayOf())
	require.NoError(t, l.Wait(ctx))

	assert.Equal(t, []int{17, 1000, 50000}, []int{PlanEnterprise.PerSecond, PlanEnterprise.PerMinute, PlanEnterprise.PerDay})
	assert.Len(t, NewPlanLimiter(Plan{PerSecond: 2}).(*windowLimiter).windows, 1, "zero limits are not enforced")
}
