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
// caller's slot: the earliest time, after every slot already booked, at
// which every window of the plan has room. The slots are one list of times,
// so in any span of a window no more than its limit are booked; each window
// is widened by 100 ms plus 0.1 % (101 ms for a second, 160 ms for a
// minute, 86.5 s for a day), as deepvue.NewPlanLimiter's are, so that the
// jitter between admission and arrival at Deepvue cannot put one request
// too many into Deepvue's window. When the slot lies after the caller's
// deadline, or more than ten minutes ahead (the horizon), nothing is booked
// and Wait fails at once with a *deepvue.LimitError (it matches
// context.DeadlineExceeded, and its RetryAfter is the wait until that
// slot); no caller waits past its deadline. A caller whose context ends
// while it waits gives its slot back (it no longer counts for the callers
// who ask next; the slots already booked behind it keep their times).
//
// At most once a second, the same script records a heartbeat: this
// replica's random id, scored by Redis's time, in "{prefix}replicas"; each
// Wait counts the replicas that asked in the last minute. Only times, those
// random ids and the epoch (a time) are stored: nothing about a customer,
// nor the API secret, ever goes to Redis. The keys of one limiter share a
// hash tag, so the script runs on Redis Cluster.
//
// What the script accepts is bounded, so that a value written into Redis by
// something other than a limiter cannot stall the fleet: a stored slot that
// is not a time, or lies beyond the horizon, is dropped; a heartbeat scored
// after Redis's time is not counted.
//
// Each replica keeps the slots it knows were booked: its own, and the
// fleet's that its answers showed it. When Redis comes back having lost
// them (a restart without persistence: its epoch changed; or from an older
// snapshot: its list ends before the latest slot the replica knows), and
// after an outage (the slots it paced on its own are not in Redis), the replica
// gives them back to Redis before it books again. Calls another replica
// makes before that are not counted against them.
//
// When Redis does not answer (within 300 ms by default), the limiter fails
// open: this process paces itself at its share of the plan, the plan divided
// by the replicas seen in the last minute (rounded down; a share below one
// request per window becomes one request per longer window, e.g. 1/s shared
// by two replicas is one request every 2.2 s each), counting the slots it
// knows were booked: pacing starts once the queue of slots it last saw in
// Redis has drained. Redis is tried again at most once a second, and a Warn
// is logged once per outage. With WithFailClosed it refuses calls instead,
// with an error that matches deepvue.ErrNotSent: nothing is sent.
//
// Limits of the fail-open share: a replica knows the slots the fleet booked
// up to its own last answer from Redis, and the replicas that asked in the
// last minute; a replica idle for longer than a minute before the outage is
// not counted by the others, one that has not reached Redis since it started
// knows of no other replica (it paces at the whole plan), and with more
// replicas than a window's limit the share is a slower rate, which keeps the
// fleet within the plan on average but not in every span of that window.
package redislimit

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
	run        redis.Scripter // rdb, with the Redis timeout on every socket read and write when it can
	bounded    bool           // run honours the Redis timeout by itself: no goroutine per round trip
	plan       deepvue.Plan
	prefix     string
	failClosed bool
	log        *slog.Logger
	timeout    time.Duration
	retryEvery time.Duration

	keys    []string       // the slots, the heartbeats, the epoch
	windows []slots.Window // the plan's, widened (slots.PlanWindows)
	keep    int            // the slots the windows need: the largest limit
	longest time.Duration  // the longest window
	id      string         // this replica's random id, for the heartbeats
	fixed   []any          // the script's arguments that never change
	idArg   any

	lastBeat atomic.Int64 // when this replica last sent a heartbeat (Unix nanoseconds)

	mu         sync.Mutex
	known      knownSlots  // the slots this replica knows were booked (Redis microseconds)
	offset     int64       // Redis's clock minus the local one (microseconds), at the last answer
	lastAnswer time.Time   // when Redis last answered
	epoch      string      // the epoch of the slots Redis holds, at the last answer
	epochArg   any         // epoch, boxed once
	restore    bool        // give the known slots back to Redis at the next round trip
	down       bool        // Redis did not answer, and has not answered since
	retryAt    time.Time   // when to try Redis again while down
	replicas   int         // replicas seen in the last heartbeat span, at the last answer
	lostCount  int         // the replicas counted before Redis lost its heartbeats (a restart, an older snapshot)
	lostUntil  time.Time   // until then, replicas is at least lostCount: a heartbeat span after the loss
	book       *slots.Book // while down: the slots this process paces around
	floor      time.Time   // while down: no local slot before this
	now        func() time.Time
}

// heartbeatSpan is how long a replica's heartbeat counts: the replicas that
// share the plan are those that asked Redis in the last minute.
const heartbeatSpan = time.Minute

// heartbeatEvery is how often a replica sends a heartbeat, at most.
const heartbeatEvery = time.Second

// horizon is the furthest ahead a slot is booked, or read from Redis as
// one: a Wait whose slot lies further fails with a *deepvue.LimitError
// whatever its context (nobody keeps a KYC call waiting longer than an OTP
// lives), and a stored value further ahead was not written by a limiter.
const horizon = 10 * time.Minute

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
	l := &Limiter{rdb: rdb, run: rdb, plan: plan, prefix: DefaultKeyPrefix, timeout: DefaultRedisTimeout,
		retryEvery: DefaultRetryEvery, now: time.Now}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(l); err != nil {
			return nil, err
		}
	}
	l.bounded = l.boundRoundTrips()
	l.windows = windows
	l.fixed = append(l.fixed, len(windows))
	for _, w := range windows {
		l.fixed = append(l.fixed, w.Limit, w.Per.Microseconds())
		l.keep = max(l.keep, w.Limit)
		l.longest = max(l.longest, w.Per)
	}
	// "{prefix}1d": the braces make every key of the limiter one hash slot.
	// The slots are named after the longest window, the one that keeps them
	// longest.
	tag := "{" + l.prefix + "}"
	l.keys = []string{tag + windowName(windows[len(windows)-1]), tag + "replicas", tag + "epoch"}
	l.id = rand.Text()
	l.idArg = l.id
	l.epochArg = ""
	return l, nil
}

// boundRoundTrips makes run a client that gives up on a round trip after
// the Redis timeout by itself: a *redis.Client's copy with that timeout on
// its socket (WithTimeout: the same connection pool), or a client that
// honours its context's deadline (ContextTimeoutEnabled). It reports false
// for any other client: Wait then abandons a round trip that takes too long
// from a goroutine of its own.
func (l *Limiter) boundRoundTrips() bool {
	switch c := l.rdb.(type) {
	case *redis.Client:
		if !c.Options().ContextTimeoutEnabled {
			l.run = c.WithTimeout(l.timeout)
		}
		return true
	case interface{ Options() *redis.ClusterOptions }:
		return c.Options().ContextTimeoutEnabled
	case interface{ Options() *redis.RingOptions }:
		return c.Options().ContextTimeoutEnabled
	}
	return false
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

// Keys returns the Redis keys the limiter uses: "{prefix}1d" (or 1m, or 1s:
// after the plan's longest window), the times of the slots booked, then
// "{prefix}replicas" (the replicas' heartbeats: random ids scored by time),
// then "{prefix}epoch" (when Redis began to hold these slots).
func (l *Limiter) Keys() []string { return append([]string(nil), l.keys...) }

// answer is what reserve says.
type answer struct {
	status   int           // 1 booked, 0 not booked, 2 give the known slots back first
	wait     time.Duration // until the slot (or the slot it would have had)
	slot     int64         // Redis microseconds
	replicas int           // counted in the last heartbeat span
	now      int64         // Redis microseconds
	epoch    string
	tail     string // the fleet's latest slots, space-separated (Redis microseconds)
	seen     int64  // the latest slot this replica knew when it asked
	lost     bool   // Redis asked for the slots this replica knows first: it had lost them
}

// errNilContext is what Wait returns for a nil context.
var errNilContext = errors.New("redislimit: nil context")

// Wait books the next slot of the plan across every replica sharing the
// prefix (one round trip to Redis) and waits for it. When the slot lies
// after the context's deadline (or beyond the horizon of ten minutes), it
// books nothing and fails at once with a *deepvue.LimitError (it matches
// context.DeadlineExceeded; its RetryAfter is the wait until that slot).
// When the context ends while it waits, it gives the slot back and returns
// the context's error.
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
	maxWait := horizon.Microseconds()
	if dl, ok := ctx.Deadline(); ok {
		maxWait = min(max(time.Until(dl).Microseconds(), 0), maxWait)
	}
	a, err := l.reserve(ctx, maxWait)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return l.unavailable(ctx, err)
	}
	received := time.Now()
	l.answered(received, &a)
	if a.status != 1 {
		return &deepvue.LimitError{Wait: max(a.wait, time.Microsecond)}
	}
	if a.wait <= 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && received.Add(a.wait).After(dl) {
		// The answer came so late that the slot now lies after the deadline.
		l.giveBack(ctx, a.slot)
		return &deepvue.LimitError{Wait: a.wait}
	}
	t := time.NewTimer(a.wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		l.giveBack(ctx, a.slot)
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// reserve runs the script: once, or twice when Redis asks for the slots
// this replica knows first (it lost its own: the epoch changed).
func (l *Limiter) reserve(ctx context.Context, maxWait int64) (answer, error) {
	beat := l.beatDue()
	l.mu.Lock()
	restore := l.restore
	l.mu.Unlock()
	for try := 0; ; try++ {
		a, err := l.roundTrip(ctx, maxWait, beat, restore)
		a.lost = try > 0
		if err != nil || a.status != 2 || try > 0 {
			if err == nil && a.status == 2 {
				err = errors.New("redislimit: Redis asked twice for the slots this replica knows")
			}
			return a, err
		}
		restore = true
	}
}

// beatDue reports whether this Wait sends the replica's heartbeat: at most
// one a second.
func (l *Limiter) beatDue() bool {
	now := time.Now().UnixNano()
	last := l.lastBeat.Load()
	return now-last >= int64(heartbeatEvery) && l.lastBeat.CompareAndSwap(last, now)
}

var argsPool = sync.Pool{New: func() any { return new([]any) }}

// Arguments boxed once.
var (
	spanArg    any = heartbeatSpan.Microseconds()
	noIDArg    any = ""
	horizonArg any = horizon.Microseconds()
)

// roundTrip runs the script once, bounded by the Redis timeout whatever
// the client's own settings (see boundRoundTrips).
func (l *Limiter) roundTrip(ctx context.Context, maxWait int64, beat, restore bool) (answer, error) {
	ap := argsPool.Get().(*[]any)
	defer func() {
		clear(*ap)
		*ap = (*ap)[:0]
		argsPool.Put(ap)
	}()
	args := append((*ap)[:0], l.fixed...)
	id := noIDArg
	if beat {
		id = l.idArg
	}
	l.mu.Lock()
	epoch := l.epochArg
	if len(l.known.s) == 0 {
		epoch = ""
	}
	seen := l.known.last()
	args = append(args, maxWait, id, spanArg, seen, horizonArg, l.ttlMillis(), epoch, l.keep)
	if restore {
		for _, x := range l.known.s {
			args = append(args, x)
		}
	}
	l.mu.Unlock()
	*ap = args

	rctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	var text string
	var err error
	if l.bounded {
		text, err = reserve.Run(rctx, l.sooner(rctx), l.keys, args...).Text()
	} else {
		text, err = l.abandonable(rctx, args)
	}
	if err != nil {
		return answer{}, err
	}
	a, ok := parseAnswer(text)
	if !ok {
		return answer{}, errors.New("redislimit: unexpected script answer")
	}
	a.seen = seen
	if restore && a.status != 2 {
		l.mu.Lock()
		l.restore = false
		l.mu.Unlock()
	}
	return a, nil
}

// sooner returns run, or, when run is a *redis.Client's copy bounded by
// the Redis timeout on its socket (which does not follow the context) and
// ctx ends sooner than that, a copy bounded by what is left of ctx: a
// caller's deadline holds while Redis hangs (before, a Wait with 50 ms left
// returned after the whole Redis timeout).
func (l *Limiter) sooner(ctx context.Context) redis.Scripter {
	c, ok := l.rdb.(*redis.Client)
	if !ok || c.Options().ContextTimeoutEnabled {
		return l.run
	}
	dl, ok := ctx.Deadline()
	if !ok {
		return l.run
	}
	if left := time.Until(dl); left < l.timeout {
		return c.WithTimeout(max(left, time.Millisecond))
	}
	return l.run
}

// abandonable runs the script from a goroutine of its own, for a client
// that may not give up after the Redis timeout (a ClusterClient or Ring
// without ContextTimeoutEnabled): the round trip finishes, or fails, on its
// own.
func (l *Limiter) abandonable(rctx context.Context, args []any) (string, error) {
	type result struct {
		text string
		err  error
	}
	args = append([]any(nil), args...) // the pooled slice goes back when Wait returns
	done := make(chan result, 1)
	go func() {
		text, err := reserve.Run(rctx, l.run, l.keys, args...).Text()
		done <- result{text, err}
	}()
	select {
	case r := <-done:
		return r.text, r.err
	case <-rctx.Done():
		return "", errors.New("redislimit: no answer from Redis within the Redis timeout")
	}
}

// ttlMillis is the keys' time to live: renewed at least once a second by a
// replica that books, it outlives every slot booked until then (at most the
// horizon ahead) by the longest window.
func (l *Limiter) ttlMillis() int64 {
	return (l.longest + horizon + 2*heartbeatEvery).Milliseconds()
}

// parseAnswer reads the script's answer without allocating.
func parseAnswer(text string) (a answer, ok bool) {
	var f [6]string
	for i := range f {
		j := strings.IndexByte(text, ' ')
		if j < 0 {
			if i < len(f)-1 {
				return a, false
			}
			j = len(text)
		}
		f[i], text = text[:j], text[min(j+1, len(text)):]
	}
	var n [5]int64
	for i := range n {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return a, false
		}
		n[i] = v
	}
	return answer{status: int(n[0]), wait: time.Duration(n[1]) * time.Microsecond, slot: n[2],
		replicas: int(n[3]), now: n[4], epoch: f[5], tail: text}, true
}

// answered records an answer: Redis answers (an outage ends), the clock's
// offset, the epoch, the replicas counted, and the slots it showed.
func (l *Limiter) answered(received time.Time, a *answer) {
	l.mu.Lock()
	was := l.down
	l.down = false
	if a.lost || l.epoch != "" && a.epoch != l.epoch {
		// Redis lost what it held (its epoch changed, or it lacks slots this
		// replica knows): the heartbeats too. The replicas counted before
		// still share the plan until theirs would have expired, whether or
		// not they beat again in the meantime.
		if !received.Before(l.lostUntil) {
			l.lostCount = 0
		}
		l.lostCount = max(l.lostCount, l.replicas)
		l.lostUntil = received.Add(heartbeatSpan)
	}
	if a.replicas > 0 {
		l.replicas = a.replicas
		if received.Before(l.lostUntil) {
			l.replicas = max(l.replicas, l.lostCount)
		}
	}
	l.offset = a.now - received.UnixMicro()
	l.lastAnswer = received
	if a.epoch != l.epoch {
		l.epoch = strings.Clone(a.epoch)
		l.epochArg = l.epoch
	}
	if a.status == 1 {
		l.known.add(a.slot)
	}
	// The fleet's latest slots, as stored: those after what this replica
	// knew when it asked, that are times within the horizon.
	far := a.now + horizon.Microseconds()
	for tail := a.tail; tail != ""; {
		j := strings.IndexByte(tail, ' ')
		if j < 0 {
			j = len(tail)
		}
		if x, err := strconv.ParseInt(tail[:j], 10, 64); err == nil && x > a.seen && x <= far && x != a.slot {
			l.known.add(x)
		}
		tail = tail[min(j+1, len(tail)):]
	}
	l.known.trim(a.now-l.longest.Microseconds(), l.keep)
	l.mu.Unlock()
	if was && l.log != nil {
		l.log.LogAttrs(context.Background(), slog.LevelInfo, "redislimit: Redis answers again; the plan is shared by the fleet again",
			slog.String("prefix", l.prefix))
	}
}

// giveBack releases a booked slot in Redis (bounded by the Redis timeout,
// whatever the caller's context) and forgets it.
func (l *Limiter) giveBack(ctx context.Context, slot int64) {
	l.mu.Lock()
	l.known.remove(slot)
	l.mu.Unlock()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.timeout)
	defer cancel()
	_ = release.Run(rctx, l.run, l.keys[:1], slot).Err()
}
