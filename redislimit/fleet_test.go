package redislimit_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvuetest"
	"github.com/deepvue-go/deepvue/redislimit"
	"github.com/deepvue-go/deepvue/redislimit/internal/slots"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTwoReplicasFailFastUnderContention is issue 15's case: two replicas
// sharing a Growth plan (5/s) through Redis, many concurrent calls with the
// same deadline. Each call books its slot in Redis when it asks, so a call
// whose slot lies after its deadline fails at once (a Redis round trip, not
// the deadline) with an error matching ErrNotSent and
// context.DeadlineExceeded that says when to try again; no call waits past
// its deadline; the server never sees more than the plan.
// DEEPVUE_LIMITER_MEASURE=1 runs the numbers (120 calls, 20 s).
func TestTwoReplicasFailFastUnderContention(t *testing.T) {
	calls, deadline := 24, 3*time.Second
	if os.Getenv("DEEPVUE_LIMITER_MEASURE") != "" {
		calls, deadline = 120, 20*time.Second
	}
	rs := startRedis(t)
	fake := fakeDeepvue(t)
	// Redis is up throughout: a generous Redis timeout keeps a loaded test
	// machine from taking a slow answer for an outage (and failing open).
	opts := []redislimit.Option{redislimit.WithKeyPrefix("contention:"), redislimit.WithRedisTimeout(10 * time.Second)}
	a, _ := replica(t, rs, fake, deepvue.PlanGrowth, opts...)
	b, _ := replica(t, rs, fake, deepvue.PlanGrowth, opts...)
	// Each replica's connections to Redis and to the server are open before
	// the burst, as in a service that has been running; then the plan's
	// second passes, so the burst starts with the whole plan free.
	for _, c := range []*deepvue.Client{a, b} {
		require.NoError(t, generate(context.Background(), c))
	}
	time.Sleep(time.Second + slots.Margin(time.Second))
	warm := len(fake.Arrivals(deepvuetest.PathGenerateOTP))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var refused, sent int
	var slowestRefusal, slowestSuccess time.Duration
	for i := 0; i < calls; i++ {
		c := a
		if i%2 == 1 {
			c = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			start := time.Now()
			err := generate(ctx, c)
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
			assert.ErrorIs(t, err, deepvue.ErrNotSent)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Equal(t, "limiter", deepvue.Outcome(err), "one name for a limiter refusal and a limiter timeout")
			var ra interface{ RetryAfter() time.Duration }
			if d, ok := deepvue.RetryAfter(err); assert.True(t, ok, "RetryAfter finds the refusal's wait") {
				assert.Positive(t, d)
			}
			if assert.True(t, errors.As(err, &ra), "the refusal says when to try again: %v after %v", err, took) {
				assert.Greater(t, ra.RetryAfter()+took, deadline-200*time.Millisecond, "its slot lay after its deadline")
			}
		}()
	}
	wg.Wait()
	times := fake.Arrivals(deepvuetest.PathGenerateOTP)[warm:]
	peak := deepvuetest.PeakArrivals(times, time.Second)
	t.Logf("2 replicas, %d calls, %v deadline, Plan Growth (5/s): %d sent (the slowest in %v), %d refused, the slowest refusal after %v; at most %d in any second at the server",
		calls, deadline, sent, slowestSuccess.Round(time.Millisecond), refused, slowestRefusal.Round(time.Microsecond), peak)
	if os.Getenv("REDISLIMIT_TEST_TRACE") != "" {
		for _, at := range times {
			t.Logf("%v", at.Sub(times[0]).Round(time.Millisecond))
		}
	}
	assert.Len(t, times, sent)
	assert.Positive(t, refused)
	assert.Less(t, slowestRefusal, deadline/4, "refused at once, not at the deadline")
	assert.Less(t, slowestSuccess, deadline, "no call waits past its deadline")
	// The peak at the server is logged, not asserted here: a burst of new
	// connections on a loaded machine delays some requests after the limiter
	// let them go by more than the margin (slots.Margin). The plan at the server is
	// asserted by the tests built for it (TestPlanLimiterHoldsAtTheServer,
	// TestFleetNeverExceedsThePlanAtTheServer).
}

// TestGivenBackSlotIsReused: a waiter whose context ends gives its slot
// back in Redis: the next caller gets that slot, not the one after it.
func TestGivenBackSlotIsReused(t *testing.T) {
	rs := startRedis(t)
	plan := deepvue.Plan{PerSecond: 1}
	prefix := redislimit.WithKeyPrefix("giveback:")
	a, err := redislimit.New(rs.client(t), plan, prefix)
	require.NoError(t, err)
	b, err := redislimit.New(rs.client(t), plan, prefix)
	require.NoError(t, err)
	require.NoError(t, a.Wait(context.Background()))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	assert.ErrorIs(t, a.Wait(ctx), context.Canceled)
	// b's slot is the one a gave back (about a second away), not the one after.
	dctx, dcancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer dcancel()
	var le *deepvue.LimitError
	require.ErrorAs(t, b.Wait(dctx), &le)
	assert.Less(t, le.RetryAfter(), time.Second+slots.Margin(time.Second))
	assert.Greater(t, le.RetryAfter(), 500*time.Millisecond)
	assert.Equal(t, int64(1), rs.client(t).LLen(context.Background(), a.Keys()[0]).Val(), "a refusal books nothing")
}

// TestWaitNilContext: a nil context is an error, not a panic.
func TestWaitNilContext(t *testing.T) {
	rs := startRedis(t)
	lim, err := redislimit.New(rs.client(t), deepvue.PlanGrowth, redislimit.WithKeyPrefix("nil:"))
	require.NoError(t, err)
	//lint:ignore SA1012 a nil context on purpose
	assert.Error(t, lim.Wait(nil))
}

// Replica processes for TestFleetWithinThePlanWhileRedisIsDown: the test
// binary re-executed with these variables set runs TestReplicaProcess.
const (
	envReplica = "REDISLIMIT_TEST_REPLICA" // the Redis socket
	envURL     = "REDISLIMIT_TEST_URL"
	envID      = "REDISLIMIT_TEST_ID"
	envSecret  = "REDISLIMIT_TEST_SECRET"
	envUntil   = "REDISLIMIT_TEST_UNTIL" // Unix milliseconds
	envPerSec  = "REDISLIMIT_TEST_PER_SECOND"
)

// TestReplicaProcess is one replica of a service, run in a process of its
// own by TestFleetWithinThePlanWhileRedisIsDown: its own Redis client,
// limiter (fail open) and SDK client, three workers calling GenerateOTP
// until the time given. It prints how many calls ended in each way.
func TestReplicaProcess(t *testing.T) {
	sock := os.Getenv(envReplica)
	if sock == "" {
		t.Skip("run by TestFleetWithinThePlanWhileRedisIsDown in a process of its own")
	}
	perSecond, err := strconv.Atoi(os.Getenv(envPerSec))
	require.NoError(t, err)
	ms, err := strconv.ParseInt(os.Getenv(envUntil), 10, 64)
	require.NoError(t, err)
	until := time.UnixMilli(ms)
	rdb := redis.NewClient(&redis.Options{Network: "unix", Addr: sock})
	defer rdb.Close()
	// A generous Redis timeout: a freshly started process on a loaded
	// machine (-race) must not take a slow first answer for an outage. The
	// outage itself is a killed server: refused at once.
	lim, err := redislimit.New(rdb, deepvue.Plan{PerSecond: perSecond}, redislimit.WithKeyPrefix("fleet-outage:"),
		redislimit.WithRedisTimeout(3*time.Second), redislimit.WithLogger(slog.New(slog.NewTextHandler(os.Stdout, nil))))
	require.NoError(t, err)
	// The limiter admits until the end of the run; a call it admitted has
	// a few seconds more to reach the server, so that every admission is
	// one arrival (the test pairs them).
	stamped := &stampLimiter{l: lim, until: until}
	c, err := deepvue.NewClient(os.Getenv(envID), os.Getenv(envSecret), deepvue.WithBaseURL(os.Getenv(envURL)),
		deepvue.WithRateLimiter(stamped), deepvue.WithRetryWait(0, 0))
	require.NoError(t, err)
	defer c.CloseIdleConnections()
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[string]int{}
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(until) {
				ctx, cancel := context.WithDeadline(context.Background(), until.Add(5*time.Second))
				err := generate(ctx, c)
				cancel()
				mu.Lock()
				outcomes[deepvue.Outcome(err)]++
				mu.Unlock()
				if wait, ok := retryAfter(err); ok {
					// Refused: the slot lies after the end of the run.
					time.Sleep(min(wait, time.Until(until)))
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("outcomes %v\n", outcomes)
	fmt.Print("admitted")
	for _, at := range stamped.stamps() {
		fmt.Printf(" %d", at.UnixNano())
	}
	fmt.Println()
}

// stampLimiter records when its limiter let each call through, and admits
// none after until.
type stampLimiter struct {
	l     deepvue.Limiter
	until time.Time
	mu    sync.Mutex
	at    []time.Time
}

func (s *stampLimiter) Wait(ctx context.Context) error {
	ctx, cancel := context.WithDeadline(ctx, s.until)
	defer cancel()
	if err := s.l.Wait(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	s.at = append(s.at, time.Now())
	s.mu.Unlock()
	return nil
}

func (s *stampLimiter) stamps() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.at...)
}

// parseAdmitted reads a replica's "admitted" line.
func parseAdmitted(t *testing.T, out string) []time.Time {
	t.Helper()
	line := lastLine(out, "admitted")
	require.True(t, strings.HasPrefix(line, "admitted"), "replica output:\n%s", out)
	var times []time.Time
	for _, f := range strings.Fields(strings.TrimPrefix(line, "admitted")) {
		ns, err := strconv.ParseInt(f, 10, 64)
		require.NoError(t, err)
		times = append(times, time.Unix(0, ns))
	}
	return times
}

// assertPlanHolds checks a fleet's requests against a plan of limit per
// second, on both sides of the network. At the limiter: no one-second
// window holds more than limit admissions. At the server: every request
// arrives after it was admitted, so pairing the k-th admission with the
// k-th arrival (both in time order) bounds the delivery delay, late; the
// arrivals in any window of 1 s - late were admitted within 1 s, so they
// are no more than limit. (The limiter's windows are 101 ms longer than a
// second: a request delayed by less than that cannot put one too many into
// Deepvue's second; a loaded machine, -race, delays some by more. A machine
// too loaded to deliver within half a second leaves only the limiter's
// side to check.) It returns the peak at the server in plain seconds, for
// the log.
func assertPlanHolds(t *testing.T, admitted, arrivals []time.Time, limit int) (late time.Duration, serverPeak int) {
	t.Helper()
	admitted = append([]time.Time(nil), admitted...)
	arrivals = append([]time.Time(nil), arrivals...)
	sort.Slice(admitted, func(i, j int) bool { return admitted[i].Before(admitted[j]) })
	sort.Slice(arrivals, func(i, j int) bool { return arrivals[i].Before(arrivals[j]) })
	require.Len(t, arrivals, len(admitted), "every admitted call reached the server, once")
	for k := range arrivals {
		require.False(t, arrivals[k].Before(admitted[k]), "the k-th arrival comes after the k-th admission")
		late = max(late, arrivals[k].Sub(admitted[k]))
	}
	assert.LessOrEqual(t, deepvuetest.PeakArrivals(admitted, time.Second), limit, "admissions in any one-second window")
	if late < 500*time.Millisecond {
		assert.LessOrEqual(t, deepvuetest.PeakArrivals(arrivals, time.Second-late), limit,
			"at the server, requests in any one-second window less the delivery delay (%v)", late)
	} else {
		t.Logf("the machine delayed a request by %v between the limiter and the server: only the limiter's side is checked", late)
	}
	return late, deepvuetest.PeakArrivals(arrivals, time.Second)
}

// TestFleetWithinThePlanWhileRedisIsDown: three replicas in three
// processes share Plan{PerSecond: 6} through Redis, each with three workers
// calling as fast as the limiter lets them; Redis is killed 2.5 s into the
// run and stays down for the last 5 s. Each replica learned from the
// heartbeats that three replicas share the plan, so during the outage it
// paces itself at 2 per window, counting the slots it knew were booked in
// Redis (and, when it was queueing, assuming the others went on booking
// slots it could not see): no one-second window holds more than 6
// admissions, nor more than 6 requests at the server once the measured
// delivery delay is allowed for (assertPlanHolds). (Before shares, each
// replica fell back to the whole plan: 3 times the plan.)
func TestFleetWithinThePlanWhileRedisIsDown(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 8 seconds: skipped with -short")
	}
	rs := startRedis(t)
	fake := fakeDeepvue(t)
	const perSecond, replicas = 6, 3
	start := time.Now()
	until := start.Add(7500 * time.Millisecond)
	outage := start.Add(2500 * time.Millisecond)
	var outs [replicas]strings.Builder
	var cmds []*exec.Cmd
	for i := 0; i < replicas; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestReplicaProcess$", "-test.v")
		cmd.Env = append(os.Environ(), envReplica+"="+rs.sock, envURL+"="+fake.URL, envID+"="+fake.ClientID,
			envSecret+"="+fake.ClientSecret, envUntil+"="+strconv.FormatInt(until.UnixMilli(), 10),
			envPerSec+"="+strconv.Itoa(perSecond))
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		dieWithTest(cmd)
		require.NoError(t, cmd.Start())
		cmds = append(cmds, cmd)
	}
	time.Sleep(time.Until(outage))
	rs.kill()
	var admitted []time.Time
	for i, cmd := range cmds {
		assert.NoError(t, cmd.Wait(), "replica %d:\n%s", i, outs[i].String())
		t.Logf("replica %d: %s; %s", i, lastLine(outs[i].String(), "outcomes"), lastLine(outs[i].String(), "time="))
		admitted = append(admitted, parseAdmitted(t, outs[i].String())...)
	}
	times := fake.Arrivals(deepvuetest.PathGenerateOTP)
	var before, during []time.Time
	for _, at := range times {
		if at.Before(outage) {
			before = append(before, at)
		} else {
			during = append(during, at)
		}
	}
	late, peak := assertPlanHolds(t, admitted, times, perSecond)
	peakDuring := deepvuetest.PeakArrivals(during, time.Second)
	outageFor := until.Sub(outage).Seconds()
	t.Logf("%d replicas at Plan{PerSecond: %d}: %d requests before the outage (peak %d per second), %d in the %.1f s Redis was down (%.1f/s, peak %d per second); peak over the run %d (at most %v from admission to arrival)",
		replicas, perSecond, len(before), deepvuetest.PeakArrivals(before, time.Second), len(during), outageFor,
		float64(len(during))/outageFor, peakDuring, peak, late.Round(time.Millisecond))
	if os.Getenv("REDISLIMIT_TEST_TRACE") != "" {
		for _, at := range times {
			t.Logf("%v", at.Sub(outage).Round(time.Millisecond))
		}
	}
	// The replicas kept calling during the outage, at their share (2 per
	// window of 1.101 s each, about 5.4/s for the fleet) once the queue
	// they estimated and a window after it had passed.
	assert.Greater(t, float64(len(during)), outageFor*perSecond/4, "fail open: calls go on while Redis is down")
}

func lastLine(out, prefix string) string {
	lines := strings.Split(out, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], prefix) {
			return lines[i]
		}
	}
	return "(no " + prefix + " line)\n" + out
}

// retryAfter finds a refusal's wait, as deepvue.RetryAfter will.
func retryAfter(err error) (time.Duration, bool) {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		return ra.RetryAfter(), true
	}
	return 0, false
}
