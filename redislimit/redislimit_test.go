package redislimit_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvuetest"
	"github.com/deepvue-go/deepvue/redislimit"
	"github.com/deepvue-go/deepvue/redislimit/internal/slots"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestMain silences go-redis's own logger (a global, which the library
// leaves to the application), which prints dial failures while the tests
// kill Redis, and checks that no test leaves a goroutine behind.
func TestMain(m *testing.M) {
	redis.SetLogger(quiet{})
	goleak.VerifyTestMain(m)
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...interface{}) {}

// Synthetic test values (python-stdnum's public vector; made-up OTP and mobile).
const (
	number = "234123412346"
	otp    = "482913"
	mobile = "9123456780"
)

func fakeDeepvue(t *testing.T) *deepvuetest.Server {
	t.Helper()
	fake := deepvuetest.NewServer(deepvuetest.WithPendingWindow(0))
	t.Cleanup(fake.Close)
	return fake
}

// replica is one backend instance: its own Redis client, limiter and SDK
// client, as separate processes would have.
func replica(t *testing.T, rs *redisServer, fake *deepvuetest.Server, plan deepvue.Plan, opts ...redislimit.Option) (*deepvue.Client, *redislimit.Limiter) {
	t.Helper()
	lim, err := redislimit.New(rs.client(t), plan, opts...)
	require.NoError(t, err)
	c, err := deepvue.NewClient(fake.ClientID, fake.ClientSecret, deepvue.WithBaseURL(fake.URL),
		deepvue.WithRateLimiter(lim), deepvue.WithRetryWait(0, 0))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return c, lim
}

// generate sends an OTP to a fresh number: concurrent calls for one number
// on one Client would share one request (double submits).
func generate(ctx context.Context, c *deepvue.Client) error {
	_, err := c.GenerateOTP(ctx, deepvuetest.NewNumber(), deepvue.ConsentYes, "KYC for loan account opening")
	return err
}

// TestFleetNeverExceedsThePlanAtTheServer: four replicas, each with its own
// Redis client and limiter and three goroutines, share Plan{PerSecond: 8};
// SOURCE_FAILURE answers mixed in make retries, which wait on the limiter
// too. No one-second window holds more than 8 admissions, nor more than 8
// requests at the server once the measured delivery delay is allowed for
// (assertPlanHolds); and the run is not much slower than the plan allows.
func TestFleetNeverExceedsThePlanAtTheServer(t *testing.T) {
	rs := startRedis(t)
	fake := fakeDeepvue(t)
	for i := 0; i < 8; i++ {
		fake.Script(deepvuetest.PathGenerateOTP, deepvuetest.Answer{}, deepvuetest.Answer{}, deepvuetest.Answer{}, deepvuetest.Answer{}, deepvuetest.SourceFailure)
	}
	plan := deepvue.Plan{PerSecond: 8, PerMinute: 500}
	const replicas, workers, callsPerWorker = 4, 3, 4 // 48 calls
	var wg sync.WaitGroup
	var spent atomic.Int32 // calls whose retries all drew a scripted SOURCE_FAILURE
	start := time.Now()
	var stamped []*stampLimiter
	for r := 0; r < replicas; r++ {
		// Redis is up throughout: a generous Redis timeout keeps a loaded
		// machine from taking a slow answer for an outage (a replica failing
		// open paces alone at its share, which Redis does not count: the
		// fleet's share while Redis is down has its own tests).
		lim, err := redislimit.New(rs.client(t), plan, redislimit.WithRedisTimeout(10*time.Second))
		require.NoError(t, err)
		st := &stampLimiter{l: lim, until: start.Add(time.Minute)}
		stamped = append(stamped, st)
		c, err := deepvue.NewClient(fake.ClientID, fake.ClientSecret, deepvue.WithBaseURL(fake.URL),
			deepvue.WithRateLimiter(st), deepvue.WithRetryWait(0, 0))
		require.NoError(t, err)
		t.Cleanup(c.CloseIdleConnections)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < callsPerWorker; i++ {
					if err := generate(context.Background(), c); errors.Is(err, deepvue.ErrSourceFailure) {
						spent.Add(1) // which request draws which scripted answer is up to the scheduler
					} else {
						assert.NoError(t, err)
					}
				}
			}()
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	times := fake.Arrivals(deepvuetest.PathGenerateOTP)
	// 48 calls, and a retry for each of the 8 SOURCE_FAILURE answers except
	// those that ended a call with its retries spent.
	require.Len(t, times, 56-int(spent.Load()))
	var admitted []time.Time
	for _, st := range stamped {
		admitted = append(admitted, st.stamps()...)
	}
	late, p := assertPlanHolds(t, admitted, times, plan.PerSecond)
	// The plan allows 8 per second: the requests after the first 8 need a
	// window each 8, of 1 s plus the margin.
	floor := time.Duration(float64(len(times)-8) / 8 * float64(time.Second+slots.Margin(time.Second)))
	t.Logf("%d replicas: %d requests reached the server in %v (the plan's floor with the margin: %v); "+
		"at most %d in any one-second window (plan: %d), at most %v from admission to arrival", replicas, len(times),
		elapsed.Round(time.Millisecond), floor.Round(time.Millisecond), p, plan.PerSecond, late.Round(time.Millisecond))
	assert.GreaterOrEqual(t, elapsed, floor-200*time.Millisecond)
	assert.Less(t, elapsed, floor*13/10+time.Second, "not much slower than the plan allows")
}

// TestPerMinuteAndPerDayWindows: small plans shared by two replicas; a call
// whose slot comes after its deadline fails at once, unsent.
func TestPerMinuteAndPerDayWindows(t *testing.T) {
	rs := startRedis(t)
	for _, tt := range []struct {
		name string
		plan deepvue.Plan
		key  string
		ttl  time.Duration
	}{
		{"per minute", deepvue.Plan{PerMinute: 3}, "1m", time.Minute + slots.Margin(time.Minute)},
		{"per day", deepvue.Plan{PerDay: 3}, "1d", 24*time.Hour + slots.Margin(24*time.Hour)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fake := fakeDeepvue(t)
			prefix := redislimit.WithKeyPrefix("test:" + tt.key + ":")
			a, limA := replica(t, rs, fake, tt.plan, prefix)
			b, _ := replica(t, rs, fake, tt.plan, prefix)
			require.NoError(t, generate(context.Background(), a))
			require.NoError(t, generate(context.Background(), b))
			require.NoError(t, generate(context.Background(), a))

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			start := time.Now()
			err := generate(ctx, b)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.ErrorIs(t, err, deepvue.ErrNotSent)
			assert.Less(t, time.Since(start), 500*time.Millisecond, "the next slot is past the deadline: fail at once")
			assert.Len(t, fake.Arrivals(deepvuetest.PathGenerateOTP), 3, "the fourth call was not sent")

			keys := limA.Keys()
			require.Len(t, keys, 3)
			assert.Equal(t, "{test:"+tt.key+":}"+tt.key, keys[0])
			assert.Equal(t, "{test:"+tt.key+":}replicas", keys[1])
			assert.Equal(t, "{test:"+tt.key+":}epoch", keys[2])
			rdb := rs.client(t)
			assert.Equal(t, int64(3), rdb.LLen(context.Background(), keys[0]).Val())
			// The keys outlive the last slot a Wait may book (10 minutes
			// ahead, the horizon) by the window, renewed at least once a
			// second (plus that second's margin).
			want := tt.ttl + 10*time.Minute + 2*time.Second
			for _, k := range []string{keys[0], keys[2]} {
				ttl := rdb.PTTL(context.Background(), k).Val()
				assert.InDelta(t, float64(want), float64(ttl), float64(5*time.Second), "%s expires a window after the last slot it may hold", k)
			}
		})
	}
}

// syncLog is a concurrency-safe slog sink.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// TestRedisKilledMidRunFailsOpen: Redis crashes while two replicas make
// calls, then comes back. Calls keep flowing throughout, none held up by the
// outage by more than about a second (the plan is far above the call rate,
// so any wait is the outage's); each replica logs one Warn for the outage
// (not one per call) and one Info when Redis answers again.
func TestRedisKilledMidRunFailsOpen(t *testing.T) {
	rs := startRedis(t)
	fake := fakeDeepvue(t)
	plan := deepvue.Plan{PerSecond: 1 << 20}
	var logs [2]*syncLog
	var clients [2]*deepvue.Client
	for i := range clients {
		logs[i] = &syncLog{}
		clients[i], _ = replica(t, rs, fake, plan,
			redislimit.WithLogger(slog.New(slog.NewJSONHandler(logs[i], nil))), redislimit.WithKeyPrefix("failopen:"))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var slowest time.Duration
	calls := 0
	for _, c := range clients {
		for w := 0; w < 2; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					start := time.Now()
					err := generate(context.Background(), c)
					d := time.Since(start)
					assert.NoError(t, err)
					mu.Lock()
					calls++
					slowest = max(slowest, d)
					mu.Unlock()
				}
			}()
		}
	}
	time.Sleep(700 * time.Millisecond)
	rs.kill()
	time.Sleep(1500 * time.Millisecond)
	rs.start()
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	t.Logf("%d calls over 4.2 s with Redis down for 1.5 s; the slowest took %v", calls, slowest.Round(time.Millisecond))
	assert.Less(t, slowest, time.Second, "an outage holds a call up by about a second at most")
	assert.Greater(t, calls, 40)
	for i, l := range logs {
		out := l.String()
		assert.Equal(t, 1, strings.Count(out, `"level":"WARN"`), "replica %d: one Warn per outage, not per call:\n%s", i, out)
		assert.Equal(t, 1, strings.Count(out, `"level":"INFO"`), "replica %d: one Info when Redis is back", i)
		assert.Contains(t, out, "pacing this process at its share of the plan")
		assert.Contains(t, out, `"replicas":2`)
	}
}

// TestRedisThatHangsIsAbandoned: a Redis that stops answering (SIGSTOP, as
// a stuck server or a network partition) holds a call up by the Redis
// timeout, not by the client's own (3 s by default).
func TestRedisThatHangsIsAbandoned(t *testing.T) {
	rs := startRedis(t)
	fake := fakeDeepvue(t)
	c, _ := replica(t, rs, fake, deepvue.Plan{PerSecond: 50})
	require.NoError(t, generate(context.Background(), c))
	rs.mu.Lock()
	proc := rs.cmd.Process
	rs.mu.Unlock()
	require.NoError(t, proc.Signal(syscall.SIGSTOP))
	defer func() { _ = proc.Signal(syscall.SIGCONT) }()
	for i := 0; i < 5; i++ {
		start := time.Now()
		require.NoError(t, generate(context.Background(), c))
		assert.Less(t, time.Since(start), 800*time.Millisecond, "call %d", i)
	}
	require.NoError(t, proc.Signal(syscall.SIGCONT))
}

// otherClient is a Redis client the limiter cannot give a socket timeout
// of its own (not a *redis.Client; no ContextTimeoutEnabled): it abandons
// a round trip from a goroutine instead.
type otherClient struct{ *redis.Client }

// TestHangingRedisIsAbandonedWithAnyClient: with such a client too, a
// Redis that stops answering holds a Wait up by the Redis timeout.
func TestHangingRedisIsAbandonedWithAnyClient(t *testing.T) {
	rs := startRedis(t)
	lim, err := redislimit.New(otherClient{rs.client(t)}, deepvue.Plan{PerSecond: 50}, redislimit.WithKeyPrefix("other:"))
	require.NoError(t, err)
	require.NoError(t, lim.Wait(context.Background()))
	rs.mu.Lock()
	proc := rs.cmd.Process
	rs.mu.Unlock()
	require.NoError(t, proc.Signal(syscall.SIGSTOP))
	defer func() { _ = proc.Signal(syscall.SIGCONT) }()
	start := time.Now()
	require.NoError(t, lim.Wait(context.Background()), "fails open")
	assert.Less(t, time.Since(start), 800*time.Millisecond)
	require.NoError(t, proc.Signal(syscall.SIGCONT))
}

// TestFailClosedRefusesUnsent: with WithFailClosed, a call while Redis is
// down is refused with an error matching deepvue.ErrNotSent, and nothing
// reaches Deepvue; once Redis is back, calls go through again.
func TestFailClosedRefusesUnsent(t *testing.T) {
	rs := startRedis(t)
	fake := fakeDeepvue(t)
	c, _ := replica(t, rs, fake, deepvue.Plan{PerSecond: 10}, redislimit.WithFailClosed(), redislimit.WithKeyPrefix("closed:"))
	require.NoError(t, generate(context.Background(), c))
	rs.kill()
	for i := 0; i < 3; i++ {
		start := time.Now()
		err := generate(context.Background(), c)
		require.Error(t, err)
		assert.ErrorIs(t, err, deepvue.ErrNotSent)
		assert.Less(t, time.Since(start), time.Second)
	}
	assert.Len(t, fake.Arrivals(deepvuetest.PathGenerateOTP), 1, "nothing was sent while Redis was down")
	rs.start()
	time.Sleep(redislimit.DefaultRetryEvery + 100*time.Millisecond)
	assert.NoError(t, generate(context.Background(), c), "Redis answers again")
}

func TestFailClosedErrorMatchesBoth(t *testing.T) {
	rs := startRedis(t)
	lim, err := redislimit.New(rs.client(t), deepvue.Plan{PerSecond: 1}, redislimit.WithFailClosed())
	require.NoError(t, err)
	rs.kill()
	err = lim.Wait(context.Background())
	assert.ErrorIs(t, err, redislimit.ErrUnavailable)
	assert.ErrorIs(t, err, deepvue.ErrNotSent)
}

// TestWaitHonoursTheContext: a waiter leaves when its context is cancelled,
// and fails at once when the next slot is after its deadline.
func TestWaitHonoursTheContext(t *testing.T) {
	rs := startRedis(t)
	lim, err := redislimit.New(rs.client(t), deepvue.Plan{PerSecond: 1}, redislimit.WithKeyPrefix("ctx:"))
	require.NoError(t, err)
	require.NoError(t, lim.Wait(context.Background()))

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	assert.ErrorIs(t, lim.Wait(ctx), context.Canceled)
	assert.Less(t, time.Since(start), 500*time.Millisecond)

	dctx, dcancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer dcancel()
	start = time.Now()
	assert.ErrorIs(t, lim.Wait(dctx), context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 100*time.Millisecond, "fails at once")

	time.Sleep(time.Second + slots.Margin(time.Second))
	assert.NoError(t, lim.Wait(context.Background()))
}

// TestNothingAboutACustomerInRedis: after generate and verify calls, every
// key and value in Redis is checked: only slot times and the replicas' random ids, under the
// limiter's hash-tagged keys.
func TestNothingAboutACustomerInRedis(t *testing.T) {
	rs := startRedis(t)
	fake := fakeDeepvue(t)
	c, lim := replica(t, rs, fake, deepvue.PlanEnterprise)
	res, err := c.GenerateOTP(context.Background(), number, deepvue.ConsentYes, "KYC")
	require.NoError(t, err)
	_, err = c.VerifyOTP(context.Background(), deepvue.VerifyOTPRequest{ReferenceID: res.ReferenceID, OTP: deepvuetest.OTPValid,
		Consent: deepvue.ConsentYes, Purpose: "KYC", MobileNumber: mobile})
	require.NoError(t, err)
	_, _ = c.VerifyOTP(context.Background(), deepvue.VerifyOTPRequest{ReferenceID: res.ReferenceID, OTP: otp,
		Consent: deepvue.ConsentYes, Purpose: "KYC"})

	rdb := rs.client(t)
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "*").Result()
	require.NoError(t, err)
	assert.ElementsMatch(t, lim.Keys(), keys)
	sensitive := []string{number, otp, mobile, deepvuetest.OTPValid, fake.ClientSecret, fake.ClientID}
	now := time.Now()
	for _, k := range keys {
		for _, s := range sensitive {
			assert.NotContains(t, k, s)
		}
		assert.True(t, strings.HasPrefix(k, "{"+redislimit.DefaultKeyPrefix+"}"), "hash tag: %s", k)
		if strings.HasSuffix(k, "}replicas") {
			// The heartbeats: one random id per replica, scored by the time.
			zs, err := rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
			require.NoError(t, err)
			require.Len(t, zs, 1)
			id := zs[0].Member.(string)
			assert.Regexp(t, `^[A-Z2-7]{26}$`, id, "a random id")
			for _, s := range sensitive {
				assert.NotContains(t, id, s)
			}
			assert.WithinDuration(t, now, time.UnixMicro(int64(zs[0].Score)), 10*time.Second)
			continue
		}
		if strings.HasSuffix(k, "}epoch") {
			// When Redis began to hold these slots: a time.
			us, err := strconv.ParseInt(rdb.Get(ctx, k).Val(), 10, 64)
			require.NoError(t, err)
			assert.WithinDuration(t, now, time.UnixMicro(us), 10*time.Second)
			continue
		}
		vals, err := rdb.LRange(ctx, k, 0, -1).Result()
		require.NoError(t, err)
		assert.Len(t, vals, 3)
		for _, v := range vals {
			for _, s := range sensitive {
				assert.NotContains(t, v, s)
			}
			us, err := strconv.ParseInt(v, 10, 64)
			require.NoError(t, err, "only times: %q", v)
			assert.WithinDuration(t, now, time.UnixMicro(us), 10*time.Second)
		}
	}
}

// TestMemoryAtTheEnterprisePlan: the list of slots of the Enterprise plan
// (50,000 a day) holds at most 50,000 times and a slack of a sixteenth
// (trimmed when it is full, so that a Wait rarely trims); its size is
// measured.
func TestMemoryAtTheEnterprisePlan(t *testing.T) {
	rs := startRedis(t)
	rdb := rs.client(t)
	ctx := context.Background()
	lim, err := redislimit.New(rdb, deepvue.PlanEnterprise, redislimit.WithKeyPrefix("mem:"))
	require.NoError(t, err)
	day := lim.Keys()[0]
	// A full day of admissions and the slack, all older than the window:
	// the next one is admitted and the list trimmed.
	old := time.Now().Add(-49 * time.Hour).UnixMicro()
	pipe := rdb.Pipeline()
	for i := 0; i < 54000; i += 1000 {
		vals := make([]any, 1000)
		for j := range vals {
			vals[j] = strconv.FormatInt(old+int64(i+j)*1500000, 10)
		}
		pipe.RPush(ctx, day, vals...)
	}
	_, err = pipe.Exec(ctx)
	require.NoError(t, err)
	require.NoError(t, lim.Wait(ctx))
	assert.Equal(t, int64(50000), rdb.LLen(ctx, day).Val(), "trimmed to the plan's limit")
	var total int64
	for _, k := range lim.Keys() {
		n, err := rdb.MemoryUsage(ctx, k).Result()
		require.NoError(t, err)
		total += n
	}
	t.Logf("Enterprise plan, a full day: %d bytes in Redis for the limiter's keys (%.1f bytes per admission)", total, float64(total)/50000)
	assert.Less(t, total, int64(1<<20))
}

func TestNewChecksItsArguments(t *testing.T) {
	rs := startRedis(t)
	rdb := rs.client(t)
	_, err := redislimit.New(nil, deepvue.PlanGrowth)
	assert.Error(t, err)
	_, err = redislimit.New(rdb, deepvue.Plan{})
	assert.Error(t, err)
	_, err = redislimit.New(rdb, deepvue.PlanGrowth, redislimit.WithKeyPrefix("a{b}"))
	assert.Error(t, err)
	_, err = redislimit.New(rdb, deepvue.PlanGrowth, redislimit.WithRedisTimeout(0))
	assert.Error(t, err)
	lim, err := redislimit.New(rdb, deepvue.PlanGrowth, nil, redislimit.WithKeyPrefix("kyc:"))
	require.NoError(t, err)
	assert.Equal(t, []string{"{kyc:}1d", "{kyc:}replicas", "{kyc:}epoch"}, lim.Keys())
	for _, p := range []deepvue.Plan{{PerSecond: -1}, {PerSecond: 5, PerDay: -1}} {
		_, err = redislimit.New(rdb, p)
		assert.Error(t, err, "a negative limit is refused")
	}
	var _ deepvue.Limiter = lim
	assert.False(t, errors.Is(context.Canceled, deepvue.ErrNotSent))
}
