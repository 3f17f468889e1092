package deepvue

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/deepvue-go/deepvue/internal/budget"
)

// Bounds on how much of an answer is read.
const (
	// MaxResponseBytes bounds every generate-otp answer and every error
	// answer: 1 MiB.
	MaxResponseBytes = 1 << 20
	// MaxVerifyResponseBytes bounds a successful verify-otp answer, which
	// carries a base64 photo (typically 10-50 KB) and, when asked for, a
	// base64 PDF (typically 100-700 KB): 16 MiB leaves a wide margin while
	// keeping memory bounded.
	MaxVerifyResponseBytes = 16 << 20
)

// DefaultMaxBufferedBytes is the size of the memory budget that every
// Client of a process shares unless it is given one of its own
// (WithMaxBufferedBytes): the answer bytes all their calls may hold at once.
const DefaultMaxBufferedBytes = 128 << 20

// largestHold is the most one answer holds of a memory budget: twice its
// largest buffer (MaxVerifyResponseBytes, and one byte more to see a body
// over the bound).
const largestHold = 2 * (MaxVerifyResponseBytes + 1)

// newBudget returns a memory budget of size bytes for answers. Its reserve
// (package budget), as large as the largest answer it holds, is at most
// half of it: however small a Client's own budget, answers have a common
// pool as large as the reserve, and a slow one that owns the reserve does
// not hold up the others.
func newBudget(size int64) *budget.Budget { return budget.New(size, min(largestHold, size/2)) }

// processBudget is the memory budget every Client of the process shares
// unless it has one of its own: a thousand Clients (one per tenant) hold
// at most DefaultMaxBufferedBytes of answers together, not a thousand
// times that.
var processBudget = sync.OnceValue(func() *budget.Budget { return newBudget(DefaultMaxBufferedBytes) })

// answer is a read response: its status and a bounded body, held within the
// memory budget until released.
type answer struct {
	status      int
	contentType string
	body        []byte
	tooLarge    string        // set, and body nil, when the answer was over a bound
	size        int64         // bytes read (kept after release, for observers)
	env         *envelope     // the decoded envelope, when the retry check has it
	retryAfter  time.Duration // the Retry-After header of an answer that is not 2xx

	pooled *[]byte     // pooled storage of body, if any
	hold   budget.Hold // the memory budget's bytes for body and its decoding
}

// release returns the answer's buffer and its reservation.
func (a *answer) release() {
	if a == nil {
		return
	}
	if a.pooled != nil {
		putBuffer(a.pooled)
		a.pooled = nil
	}
	a.body = nil
	a.hold.Release()
}

// keptAnswer is the body of a response whose answer checkRetry read to
// decide (a 500 it does not retry): the answer comes back to the story with
// the response, and is decoded once.
type keptAnswer struct{ a *answer }

func (k *keptAnswer) Read([]byte) (int, error) { return 0, io.EOF }
func (k *keptAnswer) Close() error             { return nil }

// take hands the answer over; it is released by whoever decodes it.
func (k *keptAnswer) take() *answer { return k.a }

// readError is checkRetry's failure to read the answer it was deciding on.
type readError struct {
	status int
	err    error
}

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// readAnswer reads resp's body into a within limit (MaxResponseBytes for
// any answer that is not 2xx) and within the memory budget b. The answer
// holds twice the bytes of its buffer (the bytes read, and at most as much
// again for what decoding makes of them: a verify-otp photo and PDF), taken
// as the buffer grows with the bytes that arrive: an answer that is slow,
// or of unknown length (a gzipped one: Go's transport decompresses it and
// drops its length), holds only what it has received, and its decompressed
// bytes stop at the same bound as any answer's. When the budget is spent,
// the read waits for room until ctx ends (package budget: no answer waits
// behind a larger one). An answer over a bound is not read on: a.tooLarge
// says so, and the caller turns it into an *APIError. Whatever happens,
// a panic in the body's Read included, a failed read holds nothing.
func readAnswer(ctx context.Context, b *budget.Budget, resp *http.Response, limit int64, a *answer) (err error) {
	*a = answer{status: resp.StatusCode, contentType: headerValue(resp.Header, "Content-Type"), hold: b.Open()}
	if resp.StatusCode/100 != 2 {
		limit = MaxResponseBytes
		a.retryAfter = parseRetryAfter(resp.Header, time.Now())
	}
	n := resp.ContentLength
	if n > limit {
		a.tooLarge = tooLargeText(limit)
		return nil
	}
	if most := b.Largest()/2 - 1; limit > most {
		// A small budget: an answer may hold at most its largest hold.
		if n > most {
			a.tooLarge = "answer larger than the memory budget allows (" + strconv.FormatInt(n, 10) +
				" bytes; see WithMaxBufferedBytes)"
			return nil
		}
		limit = most
	}
	read := false
	defer func() {
		if !read { // an error, or a panic in the body's Read: give the memory back
			a.release()
		}
	}()
	body, pooled, err := readBody(ctx, resp.Body, n, limit, &a.hold)
	switch {
	case errors.Is(err, errTooLarge):
		a.tooLarge = tooLargeText(limit)
		return nil
	case err != nil:
		return err
	}
	read = true
	a.body, a.pooled, a.size = body, pooled, int64(len(body))
	// Kept while the answer is decoded: its buffer, and at most as much
	// again as the bytes read.
	a.hold.ShrinkTo(int64(cap(body)) + int64(len(body)))
	return nil
}

var errTooLarge = errors.New("answer larger than the SDK's bound")

func tooLargeText(limit int64) string {
	return "answer larger than the SDK's bound of " + strconv.FormatInt(limit>>10, 10) + " KiB"
}

// firstRead is the room a body of unknown or large length starts with; it
// doubles as the bytes arrive.
const firstRead = 8 << 10

// readBody reads a body of at most limit bytes, n of them if its length
// is known (n >= 0; a hint: a body that has more is read on to the bound),
// into a buffer that grows as bytes arrive: it doubles, up to n+1 bytes
// for a known length (one more than announced, to see the end), up to
// limit+1 bytes in all (one more than the bound, to see a body over it).
// Each growth is first held in h, at twice its bytes. A buffer of at most
// pooledBufferMax bytes comes from a pool (returned in pooled).
func readBody(ctx context.Context, r io.Reader, n, limit int64, h *budget.Hold) (body []byte, pooled *[]byte, err error) {
	end := limit + 1
	hint := end // where a doubling stops first: the known length's end
	if n >= 0 && n < limit {
		hint = n + 1
	}
	room := min(hint, firstRead) // the buffer's size, held in h
	if hint <= pooledBufferMax {
		room = hint // a small body of known length: its room at once
	} else if n >= 0 {
		room = pooledBufferMax // a large one: from the largest pooled size
	}
	if err := h.Grow(ctx, 2*room); err != nil {
		return nil, nil, err
	}
	var buf []byte
	if room <= pooledBufferMax {
		pooled = getBuffer()
		buf = (*pooled)[:0]
	}
	defer func() {
		if err != nil && pooled != nil {
			putBuffer(pooled)
			pooled = nil
		}
	}()
	for {
		if int64(cap(buf)) < room {
			grown := make([]byte, len(buf), room)
			copy(grown, buf)
			if pooled != nil && room > pooledBufferMax {
				putBuffer(pooled) // too large for the pool from now on
				pooled = nil
			}
			buf = grown
			if pooled != nil {
				*pooled = buf
			}
		}
		m, rerr := r.Read(buf[len(buf):room])
		buf = buf[:len(buf)+m]
		if int64(len(buf)) > limit {
			return nil, nil, errTooLarge // more than the bound, its end read or not
		}
		if rerr == io.EOF {
			return buf, pooled, nil
		}
		if rerr != nil {
			return nil, nil, rerr
		}
		if int64(len(buf)) < room {
			continue
		}
		next := min(end, 2*room)
		if room < hint {
			next = min(next, hint)
		}
		if err := h.Grow(ctx, 2*(next-room)); err != nil {
			return nil, nil, err
		}
		room = next
	}
}

// pooledBufferMax is the largest buffer kept in the pool; larger answers (a
// verify answer with a PDF) get a buffer of their own, left to the GC.
const pooledBufferMax = 256 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, firstRead); return &b }}

func getBuffer() *[]byte { return bufPool.Get().(*[]byte) }

func putBuffer(b *[]byte) {
	if cap(*b) > pooledBufferMax {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// headerValue is h.Get(key) for a key already in canonical form, without
// canonicalising it again (net/http stores the headers it reads under their
// canonical keys).
func headerValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}
