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
// Redis's clock (TIME, so the replicas' clocks do not matter) and books the
// caller's slot: the earliest time, after every slot already booked, at which
// every window of the plan has room. A window is the list of the times of
// its slots, so in any span of the window no more than Limit are booked;
// each window is widened by 100 ms plus 0.1 % (101 ms for a second, 160 ms
// for a minute, 86.5 s for a day), as deepvue.NewPlanLimiter's are, so that
// the jitter between admission and arrival at Deepvue cannot put one request
// too many into Deepvue's window. When the slot lies after the caller's deadline, nothing
// is booked and Wait fails at once with a *deepvue.LimitError (it matches
// context.DeadlineExceeded, and its RetryAfter is the wait until that
// slot); no caller waits past its deadline. A caller whose context ends
// while it waits gives its slot back (it no longer counts for the callers
// who ask next; the slots already booked behind it keep their times). The
// same script records a heartbeat:
// this replica's random id, scored by the time, in "{prefix}replicas" (ids
// older than a minute are dropped), and answers how many replicas asked in
// the last minute. Only times and those random ids are stored: nothing
// about a customer, nor the API secret, ever goes to Redis. The keys of one
// limiter share a hash tag, so the script runs on Redis Cluster.
//
// When Redis does not answer (within 300 ms by default), the limiter fails
// open: this process paces itself at its share of the plan, the plan divided
// by the replicas seen in the last minute (rounded down; a share below one
// request per window becomes one request per longer window, e.g. 1/s shared
// by two replicas is one request every 2.2 s each), counting the slots it
// knew were booked in Redis, and starting once the queue of slots it last
// saw in Redis has drained. Redis is tried again at most once a second, and
// a Warn is logged once per outage. With WithFailClosed it refuses calls
// instead, with an error that matches deepvue.ErrNotSent: nothing is sent.
//
// Limits of the fail-open share: a replica knows the slots the fleet booked
// up to its own last answer from Redis, and the replicas that asked in the
// last minute; a replica idle for longer than a minute before the outage is
// not counted by the others, one that has not reached Redis since it started
// knows of no other replica (it paces at the whole plan), and with more
// replicas than a window's limit
// the share is a slower rate, which keeps the fleet within the plan on
// average but not in every span of that window.
package redislimit

import (
	"context"
	"errors"

	"crypto/rand"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/redislimit/internal/slots"
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
// instead of pacing this process at its share: the plan is then never exceeded,
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

	keys    []string // the window lists, then the heartbeats
	args    []any
	windows []slots.Window // the plan's, widened (slots.PlanWindows)
	id      string         // this replica's random id, for the heartbeats
	local   *slots.Book    // the slots this replica knows of, in local time

	mu       sync.Mutex
	down     bool          // Redis did not answer, and has not answered since
	retryAt  time.Time     // when to try Redis again while down
	replicas int           // replicas seen in the last heartbeat span, at the last answer
	lastSeen int64         // the latest slot recorded in local from Redis
	depth    time.Duration // how far ahead the fleet's last slot lay, at the last answer
	floor    time.Time     // during an outage: no local slot before this
	now      func() time.Time
}

// heartbeatSpan is how long a replica's heartbeat counts: the replicas that
// share the plan are those that asked Redis in the last minute.
const heartbeatSpan = time.Minute

var _ deepvue.Limiter = (*Limiter)(nil)

// New returns a Limiter for plan over rdb. It checks its arguments; it does
// not touch Redis.
func New(rdb redis.UniversalClient, plan deepvue.Plan, opts ...Option) (*Limiter, error) {
	if rdb == nil {
		return nil, errors.New("redislimit: the Redis client must not be nil")
	}
	if err := plan.Validate(); err != nil {
		return nil, err
	}
	windows := slots.PlanWindows(plan.PerSecond, plan.PerMinute, plan.PerDay)
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
	keep := 0
	for _, w := range windows {
		// "{prefix}1s": the braces make every key of the limiter one hash slot.
		l.keys = append(l.keys, "{"+l.prefix+"}"+windowName(w))
		l.args = append(l.args, w.Limit, w.Per.Microseconds())
		keep = max(keep, w.Limit)
	}
	l.keys = append(l.keys, "{"+l.prefix+"}replicas")
	l.windows = windows
	l.id = rand.Text()
	l.local = slots.New(keep)
	return l, nil
}

// windowName names a window's key after Deepvue's window: 1s, 1m, 1d.
func windowName(w slots.Window) string {
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

// Keys returns the Redis keys the limiter uses: one per enforced window
// ("{prefix}1s", "{prefix}1m", "{prefix}1d": the times of the slots booked),
// then "{prefix}replicas" (the replicas' heartbeats: random ids scored by
// time).
func (l *Limiter) Keys() []string { return append([]string(nil), l.keys...) }

// reserve is the whole decision, atomic in Redis, in one round trip. KEYS:
// one list per window, the times (microseconds, Redis's clock) of its
// slots in time order (the last Limit ones, and any later than a window
// ago), some of them perhaps in the future;
// then the sorted set of replica heartbeats. ARGV: per window, its limit and
// its length in microseconds; then the longest wait the caller accepts
// (microseconds; -1: any), the replica's random id, how long a heartbeat
// counts (microseconds), and the latest slot this replica has seen.
//
// It records the replica's heartbeat (its id, scored by the time; ids older
// than the heartbeat span are removed) and books the earliest slot, after
// every slot already booked, at which every window has room. When the slot
// lies further than the caller accepts, nothing is booked. It returns
// {booked (1 or 0), wait until the slot, the slot, replicas seen, the time
// now, then those of the first window's last Limit slots (at most 32) later
// than the last one this replica saw}, all in microseconds.
var reserve = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local nw = #KEYS - 1
local rk = KEYS[nw + 1]
local maxwait = tonumber(ARGV[2*nw + 1])
-- trim drops the oldest slots a window no longer needs: beyond its last
-- limit slots, those that left the window (a slot given back must not
-- leave the window short of the ones before it).
local function trim(key, limit, per)
  local n = redis.call('LLEN', key)
  if n <= limit then return end
  local lo, hi = 0, n - limit
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if tonumber(redis.call('LINDEX', key, mid)) + per < now then lo = mid + 1 else hi = mid end
  end
  if lo > 0 then redis.call('LTRIM', key, lo, -1) end
end
local span = tonumber(ARGV[2*nw + 3])
redis.call('ZADD', rk, now, ARGV[2*nw + 2])
redis.call('ZREMRANGEBYSCORE', rk, '-inf', now - span)
redis.call('PEXPIRE', rk, math.ceil(span / 1000) + 1000)
local replicas = redis.call('ZCARD', rk)
local at = now
for i = 1, nw do
  local key = KEYS[i]
  local limit = tonumber(ARGV[2*i-1])
  local per = tonumber(ARGV[2*i])
  local n = redis.call('LLEN', key)
  if n > 0 then
    local last = tonumber(redis.call('LINDEX', key, -1))
    if last > at then at = last end
  end
  if n >= limit then
    local c = tonumber(redis.call('LINDEX', key, n - limit)) + per
    if c > at then at = c end
  end
end
local booked = 1
if maxwait >= 0 and at - now > maxwait then
  booked = 0
else
  local stamp = string.format('%.0f', at)
  for i = 1, nw do
    local limit = tonumber(ARGV[2*i-1])
    local per = tonumber(ARGV[2*i])
    redis.call('RPUSH', KEYS[i], stamp)
    trim(KEYS[i], limit, per)
    redis.call('PEXPIRE', KEYS[i], math.ceil((at - now + per) / 1000))
  end
end
local out = {booked, at - now, at, replicas, now}
local tail = redis.call('LRANGE', KEYS[1], -math.min(tonumber(ARGV[1]), 32), -1)
local seen = tonumber(ARGV[2*nw + 4])
for _, v in ipairs(tail) do
  local x = tonumber(v)
  if x > seen then out[#out + 1] = x end
end
return out
`)

// release gives a booked slot back. KEYS: the window lists; ARGV: the slot.
var release = redis.NewScript(`
for _, key in ipairs(KEYS) do redis.call('LREM', key, -1, ARGV[1]) end
return 0
`)

// answer is what reserve says.
type answer struct {
	booked   bool
	wait     time.Duration // until the slot (or the slot it would have had)
	slot     int64         // Redis microseconds
	replicas int
	now      int64   // Redis microseconds
	tail     []int64 // the first window's last Limit slots, Redis microseconds
}

// errNilContext is what Wait returns for a nil context.
var errNilContext = errors.New("redislimit: nil context")

// Wait books the next slot of the plan across every replica sharing the
// prefix (one round trip to Redis) and waits for it. When the slot lies
// after the context's deadline, it books nothing and fails at once with a
// *deepvue.LimitError (it matches context.DeadlineExceeded; its RetryAfter
// is the wait until that slot). When the context ends while it waits, it
// gives the slot back and returns the context's error.
func (l *Limiter) Wait(ctx context.Context) error {
	if ctx == nil {
		return errNilContext
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if l.skipRedis() {
		return l.unavailable(ctx, nil)
	}
	maxWait := int64(-1)
	if dl, ok := ctx.Deadline(); ok {
		maxWait = max(time.Until(dl).Microseconds(), 0)
	}
	a, err := l.try(ctx, maxWait)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return l.unavailable(ctx, err)
	}
	received := time.Now()
	l.answered(a.replicas)
	mine := l.learn(received, a)
	if !a.booked {
		return &deepvue.LimitError{Wait: max(a.wait, time.Microsecond)}
	}
	if a.wait <= 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && received.Add(a.wait).After(dl) {
		// The answer came so late that the slot now lies after the deadline.
		l.giveBack(ctx, a.slot, mine)
		return &deepvue.LimitError{Wait: a.wait}
	}
	t := time.NewTimer(a.wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		l.giveBack(ctx, a.slot, mine)
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// learn records the slots the fleet booked in Redis (this replica's among
// them) in the local book, in local time, so that the pacing during an
// outage starts from them. It returns this replica's slot in the book.
func (l *Limiter) learn(received time.Time, a answer) *slots.Slot {
	local := func(stamp int64) time.Time { return received.Add(time.Duration(stamp-a.now) * time.Microsecond) }
	l.mu.Lock()
	defer l.mu.Unlock()
	var mine *slots.Slot
	for _, stamp := range a.tail {
		if stamp > l.lastSeen {
			s := l.local.Record(local(stamp))
			if a.booked && stamp == a.slot && mine == nil {
				mine = s
			}
		}
	}
	if len(a.tail) > 0 {
		last := a.tail[len(a.tail)-1]
		l.lastSeen = max(l.lastSeen, last)
		l.depth = max(time.Duration(last-a.now)*time.Microsecond, 0)
	}
	if a.booked && mine == nil {
		// Not in the tail (the first window was full of later slots):
		// record it anyway.
		mine = l.local.Record(local(a.slot))
	}
	return mine
}

// giveBack releases a booked slot in Redis (bounded by the Redis timeout,
// whatever the caller's context) and in the local book.
func (l *Limiter) giveBack(ctx context.Context, slot int64, mine *slots.Slot) {
	if mine != nil {
		l.local.Cancel(mine)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.timeout)
	defer cancel()
	_ = release.Run(rctx, l.rdb, l.keys[:len(l.keys)-1], strconv.FormatInt(slot, 10)).Err()
}

// try runs the script once, bounded by the Redis timeout whatever the
// client's own settings: a Redis that hangs is abandoned after the timeout
// (the round trip finishes, or fails, on its own).
func (l *Limiter) try(ctx context.Context, maxWait int64) (answer, error) {
	type result struct {
		vals []int64
		err  error
	}
	rctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	done := make(chan result, 1)
	l.mu.Lock()
	seen := l.lastSeen
	l.mu.Unlock()
	args := append(append([]any(nil), l.args...), maxWait, l.id, heartbeatSpan.Microseconds(), seen)
	go func() {
		vals, err := reserve.Run(rctx, l.rdb, l.keys, args...).Int64Slice()
		done <- result{vals, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return answer{}, r.err
		}
		if len(r.vals) < 5 {
			return answer{}, errors.New("redislimit: unexpected script answer")
		}
		v := r.vals
		return answer{booked: v[0] == 1, wait: time.Duration(v[1]) * time.Microsecond, slot: v[2],
			replicas: int(v[3]), now: v[4], tail: v[5:]}, nil
	case <-rctx.Done():
		return answer{}, errors.New("redislimit: no answer from Redis within the Redis timeout")
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
		// Slots the other replicas booked after this one's last answer are
		// unknown here; they lie after the fleet's last slot known here,
		// about as far ahead as the queue seen then. The local pacing starts
		// once that queue has drained.
		l.floor = time.Now().Add(l.depth)
	}
	replicas, floor := max(l.replicas, 1), l.floor
	l.mu.Unlock()
	if first && l.log != nil {
		msg := "redislimit: Redis does not answer; pacing this process at its share of the plan until it does"
		if l.failClosed {
			msg = "redislimit: Redis does not answer; refusing calls until it does (fail closed)"
		}
		attrs := []slog.Attr{slog.String("prefix", l.prefix), slog.String("error", errText(cause))}
		if !l.failClosed {
			attrs = append(attrs, slog.Int("replicas", replicas))
		}
		l.log.LogAttrs(ctx, slog.LevelWarn, msg, attrs...)
	}
	if l.failClosed {
		if cause == nil {
			cause = errors.New("no answer from Redis in the last try")
		}
		return &unavailableError{cause: cause}
	}
	ws := share(l.windows, replicas)
	now := time.Now()
	dl, _ := ctx.Deadline()
	from := now
	if floor.After(now) {
		from = floor
	}
	s, at := l.local.Reserve(from, ws, dl)
	if s == nil {
		return &deepvue.LimitError{Wait: max(at.Sub(now), time.Microsecond)}
	}
	if err := l.local.Wait(ctx, s, time.Now); err != nil {
		var late *slots.Late
		if errors.As(err, &late) {
			return &deepvue.LimitError{Wait: max(late.Wait, time.Microsecond)}
		}
		return err
	}
	return nil
}

// share returns one replica's share of windows when replicas share them:
// at most Limit/replicas in any span of Per, rounded down; a share below one
// becomes one request in a span replicas/Limit times as long (e.g. a limit
// of 1 per second shared by 2 replicas: 1 every 2 seconds each). While
// Redis is down, a fail-open Limiter paces this process at its share,
// counting the slots it knows were booked in Redis before the outage.
func share(windows []slots.Window, replicas int) []slots.Window {
	replicas = max(replicas, 1)
	out := make([]slots.Window, 0, len(windows))
	for _, w := range windows {
		if w.Limit >= replicas {
			out = append(out, slots.Window{Limit: w.Limit / replicas, Per: w.Per})
			continue
		}
		// Rounded up to the microsecond: never a little too fast.
		per := (w.Per*time.Duration(replicas) + time.Duration(w.Limit) - 1) / time.Duration(w.Limit)
		out = append(out, slots.Window{Limit: 1, Per: per})
	}
	return out
}

// answered records that Redis answered (and how many replicas share the
// plan), ending an outage.
func (l *Limiter) answered(replicas int) {
	l.mu.Lock()
	was := l.down
	l.down = false
	if replicas > 0 {
		l.replicas = replicas
	}
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
