// Package redislimit is a deepvue.Limiter shared through Redis by every
// replica of a service that uses one Deepvue API key: one plan's per-second,
// per-minute and per-day limits for the whole fleet, measured where Deepvue
// counts them.
//
//	lim, err := redislimit.New(rdb, deepvue.PlanGrowth, redislimit.WithKeyPrefix("deepvue:limit:prod:"))
//	if err != nil {
//		return err
//	}
//	client, err := deepvue.NewClient(id, secret, deepvue.WithRateLimiter(lim))
//
// Each Wait runs one Lua script, atomically, in one round trip: it reads
// Redis's clock (TIME, so the replicas' clocks do not matter) and admits the
// request only if every window of the plan has room, or says how long until
// one does. A window is the list of the times of its last Limit admissions,
// so in any span of the window no more than Limit are admitted; each window
// is widened by deepvue.WindowMargin, so that the jitter between admission
// and arrival at Deepvue cannot put one request too many into Deepvue's
// window. Only those times are stored: nothing about a customer, nor the API
// secret, ever goes to Redis. The keys of one limiter share a hash tag, so
// the script runs on Redis Cluster.
//
// When Redis does not answer (within 300 ms by default), the limiter fails
// open: this process paces itself with deepvue.NewPlanLimiter(plan) until
// Redis answers again (tried at most once a second), and logs a Warn once per
// outage. With WithFailClosed it refuses calls instead, with an error that
// matches deepvue.ErrNotSent: nothing is sent.
package redislimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/redis/go-redis/v9"
)

// DefaultKeyPrefix is the prefix of the limiter's keys when WithKeyPrefix is
// not given. Use one prefix per API key.
const DefaultKeyPrefix = "deepvue:limit:"

// Defaults for how long a Redis round trip may take, and how often Redis is
// tried again during an outage.
const (
	DefaultRedisTimeout = 300 * time.Millisecond
	DefaultRetryEvery   = time.Second
)

// ErrUnavailable is returned by Wait of a fail-closed limiter while Redis
// does not answer. It matches deepvue.ErrNotSent too.
var ErrUnavailable = errors.New("redislimit: Redis unavailable, call refused (fail closed)")

type unavailableError struct{ cause error }

func (e *unavailableError) Error() string {
	return ErrUnavailable.Error() + ": " + e.cause.Error()
}
func (e *unavailableError) Unwrap() error { return e.cause }
func (e *unavailableError) Is(target error) bool {
	return target == ErrUnavailable || target == deepvue.ErrNotSent
}

// Option configures New.
type Option func(*Limiter) error

// WithKeyPrefix sets the prefix of the limiter's Redis keys (default
// DefaultKeyPrefix). Replicas that share an API key must share a prefix,
// and a different API key needs a different prefix. It must not be empty
// or hold '{' or '}' (the limiter puts it in a hash tag).
func WithKeyPrefix(prefix string) Option {
	return func(l *Limiter) error {
		if prefix == "" || strings.ContainsAny(prefix, "{}") {
			return errors.New("redislimit: the key prefix must be non-empty, without '{' or '}'")
		}
		l.prefix = prefix
		return nil
	}
}

// WithFailClosed makes Wait refuse calls while Redis does not answer,
// instead of pacing this process alone: the plan is then never exceeded,
// and customers see failures (which match deepvue.ErrNotSent) until Redis
// is back.
func WithFailClosed() Option {
	return func(l *Limiter) error {
		l.failClosed = true
		return nil
	}
}

// WithLogger makes the limiter log through lg: a Warn when Redis stops
// answering (once per outage), an Info when it answers again. Without it
// the limiter is silent.
func WithLogger(lg *slog.Logger) Option {
	return func(l *Limiter) error {
		l.log = lg
		return nil
	}
}

// WithRedisTimeout sets how long one Redis round trip may take before Redis
// is taken as unavailable (default DefaultRedisTimeout). It bounds the delay
// an outage adds to a call, whatever the Redis client's own timeouts.
func WithRedisTimeout(d time.Duration) Option {
	return func(l *Limiter) error {
		if d <= 0 {
			return errors.New("redislimit: the Redis timeout must be positive")
		}
		l.timeout = d
		return nil
	}
}

// Limiter is a deepvue.Limiter shared through Redis. It is safe for
// concurrent use.
type Limiter struct {
	rdb        redis.UniversalClient
	plan       deepvue.Plan
	prefix     string
	failClosed bool
	log        *slog.Logger
	timeout    time.Duration
	retryEvery time.Duration

	keys     []string
	args     []any
	fallback deepvue.Limiter

	mu      sync.Mutex
	down    bool      // Redis did not answer, and has not answered since
	retryAt time.Time // when to try Redis again while down
	now     func() time.Time
}

var _ deepvue.Limiter = (*Limiter)(nil)

// New returns a Limiter for plan over rdb. It checks its arguments; it does
// not touch Redis.
func New(rdb redis.UniversalClient, plan deepvue.Plan, opts ...Option) (*Limiter, error) {
	if rdb == nil {
		return nil, errors.New("redislimit: the Redis client must not be nil")
	}
	windows := plan.Windows()
	if len(windows) == 0 {
		return nil, errors.New("redislimit: the plan enforces no limit")
	}
	l := &Limiter{rdb: rdb, plan: plan, prefix: DefaultKeyPrefix, timeout: DefaultRedisTimeout,
		retryEvery: DefaultRetryEvery, now: time.Now}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(l); err != nil {
			return nil, err
		}
	}
	for _, w := range windows {
		// "{prefix}1s": the braces make every key of the limiter one hash slot.
		l.keys = append(l.keys, "{"+l.prefix+"}"+windowName(w))
		l.args = append(l.args, w.Limit, w.Per.Microseconds())
	}
	l.fallback = deepvue.NewPlanLimiter(plan)
	return l, nil
}

// windowName names a window's key after Deepvue's window: 1s, 1m, 1d.
func windowName(w deepvue.Window) string {
	switch w.Base {
	case time.Second:
		return "1s"
	case time.Minute:
		return "1m"
	case 24 * time.Hour:
		return "1d"
	default:
		return strconv.FormatInt(w.Base.Milliseconds(), 10) + "ms"
	}
}

// Keys returns the Redis keys the limiter uses (one per enforced window).
func (l *Limiter) Keys() []string { return append([]string(nil), l.keys...) }

// admit is the whole decision, atomic in Redis. KEYS: one list per window,
// the times (microseconds) of its last admissions, oldest first. ARGV: per
// window, its limit and its length in microseconds. It returns {1, 0} when
// it admitted the request (and recorded it in every window), or {0, wait}
// with the microseconds until every window has room.
var admit = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local wait = 0
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2*i-1])
  local per = tonumber(ARGV[2*i])
  local n = redis.call('LLEN', key)
  if n >= limit then
    local oldest = tonumber(redis.call('LINDEX', key, n - limit))
    local d = oldest + per - now
    if d > per then d = per end -- a clock that went back: wait no longer than a window
    if d > wait then wait = d end
  end
end
if wait > 0 then return {0, math.ceil(wait)} end
local stamp = string.format('%.0f', now)
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2*i-1])
  local per = tonumber(ARGV[2*i])
  local n = redis.call('RPUSH', key, stamp)
  if n > limit then redis.call('LTRIM', key, n - limit, -1) end
  redis.call('PEXPIRE', key, math.ceil(per / 1000))
end
return {1, 0}
`)

// Wait blocks until a request may be sent within the plan, across every
// replica sharing the prefix. Waiters wake with jitter, so that they do not
// all ask Redis at once. It returns the context's error when it ends first,
// and context.DeadlineExceeded at once when the next slot comes after the
// context's deadline.
func (l *Limiter) Wait(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if l.skipRedis() {
			return l.unavailable(ctx, nil)
		}
		wait, err := l.try(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return l.unavailable(ctx, err)
		}
		l.answered()
		if wait <= 0 {
			return nil
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return context.DeadlineExceeded // it cannot succeed in time: fail now
		}
		// Up to a quarter more, at most 50 ms: waiters told the same time
		// spread out instead of asking Redis together.
		sleep := wait + time.Duration(rand.Int64N(int64(min(wait/4, 50*time.Millisecond))+1))
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// try runs the script once, bounded by the Redis timeout whatever the
// client's own settings: a Redis that hangs is abandoned after the timeout
// (the round trip finishes, or fails, on its own).
func (l *Limiter) try(ctx context.Context) (time.Duration, error) {
	type result struct {
		vals []int64
		err  error
	}
	rctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	done := make(chan result, 1)
	go func() {
		vals, err := admit.Run(rctx, l.rdb, l.keys, l.args...).Int64Slice()
		done <- result{vals, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return 0, r.err
		}
		if len(r.vals) != 2 {
			return 0, fmt.Errorf("redislimit: unexpected script answer of %d values", len(r.vals))
		}
		if r.vals[0] == 1 {
			return 0, nil
		}
		return time.Duration(r.vals[1]) * time.Microsecond, nil
	case <-rctx.Done():
		return 0, fmt.Errorf("redislimit: no answer from Redis within %v", l.timeout)
	}
}

// skipRedis reports whether Redis is down and not yet due for another try.
func (l *Limiter) skipRedis() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.down || !l.now().Before(l.retryAt) {
		if l.down {
			l.retryAt = l.now().Add(l.retryEvery) // this call tries; others wait for the next second
		}
		return false
	}
	return true
}

// unavailable handles a call while Redis does not answer: fail open (pace
// this process alone) or fail closed. cause is nil when Redis was not tried.
func (l *Limiter) unavailable(ctx context.Context, cause error) error {
	l.mu.Lock()
	first := !l.down
	if first {
		l.down = true
		l.retryAt = l.now().Add(l.retryEvery)
	}
	l.mu.Unlock()
	if first && l.log != nil {
		msg := "redislimit: Redis does not answer; pacing this process alone with the in-process plan limiter until it does (the fleet may exceed the plan)"
		if l.failClosed {
			msg = "redislimit: Redis does not answer; refusing calls until it does (fail closed)"
		}
		l.log.LogAttrs(ctx, slog.LevelWarn, msg, slog.String("prefix", l.prefix), slog.String("error", errText(cause)))
	}
	if l.failClosed {
		if cause == nil {
			cause = errors.New("no answer from Redis in the last try")
		}
		return &unavailableError{cause: cause}
	}
	return l.fallback.Wait(ctx)
}

// answered records that Redis answered, ending an outage.
func (l *Limiter) answered() {
	l.mu.Lock()
	was := l.down
	l.down = false
	l.mu.Unlock()
	if was && l.log != nil {
		l.log.LogAttrs(context.Background(), slog.LevelInfo, "redislimit: Redis answers again; the plan is shared by the fleet again",
			slog.String("prefix", l.prefix))
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
