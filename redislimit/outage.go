package redislimit

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/redislimit/internal/slots"
)

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
		// What this replica paces during the outage is not in Redis: it gives
		// it back (with what else it knows) when Redis answers again.
		l.restore = true
		if !l.failClosed {
			l.book, l.floor = l.outageBook(time.Now())
		}
	}
	replicas, book, floor := max(l.replicas, 1), l.book, l.floor
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
	s, at := book.Reserve(from, ws, dl)
	if s == nil {
		return &deepvue.LimitError{Wait: max(at.Sub(now), time.Microsecond)}
	}
	if err := book.Wait(ctx, s, time.Now); err != nil {
		var late *slots.Late
		if errors.As(err, &late) {
			return &deepvue.LimitError{Wait: max(late.Wait, time.Microsecond)}
		}
		return err
	}
	l.mu.Lock()
	l.known.addOwn(time.Now().UnixMicro() + l.offset)
	l.mu.Unlock()
	return nil
}

// outageBook returns the book this process paces in while Redis does not
// answer, from now: the slots it knows were booked, in local time (by the
// clocks' offset at the last answer), so that the first local slot comes
// once the queue of slots it last saw has drained; and a floor, before
// which it books nothing. When other replicas share the plan and that
// queue was d deep at the last answer (d of at least a millisecond: the
// fleet was queueing for a window's room), they went on booking slots this
// replica never saw: as the fleet queued then, the queue's end is taken to
// have moved on since, as time did but by no more than d, and the window
// before that end to be full: the floor is a window after it. (Alone, or
// with no queue, nothing is assumed: a replica that was idle for long
// paces at once.) Called with l.mu held.
func (l *Limiter) outageBook(now time.Time) (*slots.Book, time.Time) {
	book := slots.New(l.keep)
	for _, x := range l.known.s {
		book.Record(time.UnixMicro(x - l.offset))
	}
	if len(l.known.s) == 0 || l.replicas <= 1 {
		return book, time.Time{}
	}
	last := time.UnixMicro(l.known.last() - l.offset)
	d := last.Sub(l.lastAnswer)
	if d < time.Millisecond {
		return book, time.Time{}
	}
	end := last.Add(min(now.Sub(l.lastAnswer), d))
	return book, end.Add(l.windows[0].Per)
}

// share returns one replica's share of windows when replicas share them:
// at most Limit/replicas in any span of Per, rounded down; a share below one
// becomes one request in a span replicas/Limit times as long (e.g. a limit
// of 1 per second shared by 2 replicas: 1 every 2 seconds each). While
// Redis is down, a fail-open Limiter paces this process at its share,
// counting the slots it knows were booked.
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

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
