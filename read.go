package deepvue

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
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

// answer is a read response: its status and a bounded body, held within the
// Client's memory budget until released.
type answer struct {
	status      int
	contentType string
	body        []byte
	tooLarge    string        // set, and body nil, when the answer was over a bound
	size        int64         // bytes read (kept after release, for observers)
	env         *envelope     // the decoded envelope, when the retry check has it
	retryAfter  time.Duration // the Retry-After header of an answer that is not 2xx

	buf    *bytes.Buffer // pooled storage of body, if any
	budget *memBudget
	held   int64 // bytes reserved in budget
}

// release returns the answer's buffer and its reservation.
func (a *answer) release() {
	if a == nil {
		return
	}
	if a.buf != nil {
		putBuffer(a.buf)
		a.buf = nil
	}
	a.body = nil
	if a.held > 0 {
		a.budget.release(a.held)
		a.held = 0
	}
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
// any answer that is not 2xx) and within the Client's memory budget: it
// first reserves what the answer may need, twice its size (the bytes read,
// and at most as much again for what decoding makes of them), waiting for
// room while other calls hold the budget. An answer over a bound is not
// read: a.tooLarge says so, and the caller turns it into an *APIError.
func readAnswer(ctx context.Context, budget *memBudget, resp *http.Response, limit int64, a *answer) error {
	*a = answer{status: resp.StatusCode, contentType: headerValue(resp.Header, "Content-Type"), budget: budget}
	if resp.StatusCode/100 != 2 {
		limit = MaxResponseBytes
		a.retryAfter = parseRetryAfter(resp.Header, time.Now())
	}
	n := resp.ContentLength
	if n > limit {
		a.tooLarge = tooLargeText(limit)
		return nil
	}
	need := limit
	if n >= 0 {
		need = n
	}
	hold := 2 * need
	if hold > budget.size {
		if n >= 0 {
			a.tooLarge = "answer larger than the Client's memory budget (" + strconv.FormatInt(n, 10) +
				" bytes; see WithMaxBufferedBytes)"
			return nil
		}
		hold = budget.size // length unknown: read what the budget allows
		limit = hold / 2
	}
	if err := budget.acquire(ctx, hold); err != nil {
		return err
	}
	a.held = hold
	body, buf, err := readBody(resp.Body, n, limit)
	switch {
	case errors.Is(err, errTooLarge):
		a.release()
		a.tooLarge = tooLargeText(limit)
		return nil
	case err != nil:
		a.release()
		return err
	}
	a.body, a.buf, a.size = body, buf, int64(len(body))
	if keep := 2 * int64(len(body)); keep < a.held {
		budget.release(a.held - keep)
		a.held = keep
	}
	return nil
}

var errTooLarge = errors.New("answer larger than the SDK's bound")

func tooLargeText(limit int64) string {
	return "answer larger than the SDK's bound of " + strconv.FormatInt(limit>>10, 10) + " KiB"
}

// readBody reads a body of n bytes (-1: unknown) of at most limit bytes.
// Small bodies go into a pooled buffer (returned in buf); a large one of
// known length into one slice of exactly its size.
func readBody(r io.Reader, n, limit int64) (body []byte, buf *bytes.Buffer, err error) {
	if n > pooledBufferMax {
		body = make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, nil, err
		}
		// Read on to EOF (net/http returns it with the last bytes already), so
		// that any transport can reuse the connection.
		var one [1]byte
		if m, _ := r.Read(one[:]); m > 0 {
			return nil, nil, errTooLarge // more than its Content-Length
		}
		return body, nil, nil
	}
	buf = getBuffer()
	if n >= 0 {
		buf.Grow(int(n) + 1)
	} else {
		buf.Grow(bytes.MinRead)
	}
	for {
		if int64(buf.Len()) > limit {
			putBuffer(buf)
			return nil, nil, errTooLarge
		}
		if buf.Available() == 0 {
			buf.Grow(buf.Len()) // double, up to limit+1
		}
		free := buf.AvailableBuffer()[:buf.Available()]
		if room := limit + 1 - int64(buf.Len()); int64(len(free)) > room {
			free = free[:room]
		}
		m, err := r.Read(free)
		buf.Write(free[:m])
		if err == io.EOF {
			return buf.Bytes(), buf, nil
		}
		if err != nil {
			putBuffer(buf)
			return nil, nil, err
		}
	}
}

// pooledBufferMax is the largest buffer kept in the pool; larger answers (a
// verify answer with a PDF) get a buffer of their own, left to the GC.
const pooledBufferMax = 256 << 10

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuffer() *bytes.Buffer { return bufPool.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > pooledBufferMax {
		return
	}
	b.Reset()
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
