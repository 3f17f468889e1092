package deepvue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"
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

// operation names.
const (
	opGenerate = "generate-otp"
	opVerify   = "verify-otp"
)

// call carries everything one logical call needs through the pipeline (the
// model is openai-go's requestconfig): what to send, the values to scrub,
// the send-once guard, and what the attempts found. go-retryablehttp's
// hooks and the guarded transport find it in the request context.
type call struct {
	op       string
	endpoint *url.URL // without query
	query    string
	limit    int64 // bound on a 2xx answer's body
	sec      secrets
	guard    sendGuard
	start    time.Time

	url url.URL // the request's URL, query included

	client      *Client
	observer    *Observer // nil without WithObserver
	obs         *observed // set with observer
	limiterWait time.Duration
	audit       *auditCall // set once the consent record is written (WithAuditLog)

	attempts int    // HTTP attempts made (counted by checkRetry)
	ans      answer // the answer being read or decoded (one at a time)
	peeked   bool   // ans is the last attempt's 500, read by checkRetry
	peekErr  error  // or the error reading it
}

type callKey struct{}

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

// do sends one logical call (with its SOURCE_FAILURE retries) and reads the
// final answer. Every error it returns is a scrubbed transport error.
func (c *Client) do(ctx context.Context, cl *call) (*answer, error) {
	defer c.leave() // after resp.Body.Close below: the connection is idle by then
	if err := c.enter(); err != nil {
		return nil, err
	}
	// One cancelable context per call: the default deadline when the caller
	// set none, and what the send-once guard cancels.
	var cancel context.CancelFunc
	if _, ok := ctx.Deadline(); ok {
		ctx, cancel = context.WithCancel(ctx)
	} else {
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
	}
	defer cancel()
	if c.limiter != nil {
		waited := time.Now()
		err := c.limiter.Wait(ctx)
		cl.limiterWait += time.Since(waited)
		if err != nil {
			return nil, cl.transportError("waiting for the rate limiter", &limiterWaitError{limiterError(err)}, true)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, cl.transportError("before sending the request", err, true)
	}

	ctx = context.WithValue(ctx, callKey{}, cl)
	if !c.noGuard {
		ctx = cl.guard.install(ctx, cancel)
	}
	creds := c.creds()
	cl.url = *cl.endpoint
	cl.url.RawQuery = cl.query
	hreq := &http.Request{
		Method:     http.MethodPost,
		URL:        &cl.url,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Host:       cl.url.Host,
		Header: http.Header{
			"Client-Id":    creds.idHeader,
			"X-Api-Key":    creds.keyHdr,
			"User-Agent":   c.userAgent,
			"Content-Type": contentTypeJSON,
		},
	}
	hreq = hreq.WithContext(ctx)
	req, err := retryablehttp.FromRequest(hreq)
	if err != nil {
		return nil, cl.transportError("building the request", err, true)
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		cl.ans.release()
		notSent := !c.noGuard && !cl.guard.maybeSent.Load()
		doing := "sending the request"
		if _, ok := err.(*limiterWaitError); ok {
			doing = "waiting for the rate limiter before a retry"
		}
		return nil, cl.transportError(doing, err, notSent)
	}
	defer resp.Body.Close()
	if cl.peekErr != nil {
		return nil, cl.transportError("reading the HTTP 500 answer", cl.peekErr, false)
	}
	if cl.peeked {
		return &cl.ans, nil
	}
	if err := c.readAnswer(ctx, resp, cl.limit, &cl.ans); err != nil {
		return nil, cl.transportError("reading the HTTP "+strconv.Itoa(resp.StatusCode)+" answer", err, false)
	}
	return &cl.ans, nil
}

// contentTypeJSON is the Content-Type Deepvue's documented calls send
// (with no body).
var contentTypeJSON = []string{"application/json"}

func (cl *call) transportError(doing string, err error, notSent bool) error {
	lw, isLimiter := err.(*limiterWaitError)
	if isLimiter {
		err = lw.err
	}
	e := newTransportError(cl.op, cl.endpoint, doing, err, notSent, &cl.sec)
	if te, ok := e.(*transportError); ok && isLimiter {
		te.limiter = true
	}
	return e
}

// limiterWaitError marks an error of Limiter.Wait (before the first attempt
// or a retry) on its way to cl.transportError, which records it in the
// transportError so that Outcome names it "limiter".
type limiterWaitError struct{ err error }

func (e *limiterWaitError) Error() string { return e.err.Error() }
func (e *limiterWaitError) Unwrap() error { return e.err }

// readAnswer reads resp's body into a within limit (MaxResponseBytes for
// any answer that is not 2xx) and within the Client's memory budget: it
// first reserves what the answer may need, twice its size (the bytes read,
// and at most as much again for what decoding makes of them), waiting for
// room while other calls hold the budget. An answer over a bound is not
// read: a.tooLarge says so, and the caller turns it into an *APIError.
func (c *Client) readAnswer(ctx context.Context, resp *http.Response, limit int64, a *answer) error {
	*a = answer{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), budget: c.budget}
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
	if hold > c.budget.size {
		if n >= 0 {
			a.tooLarge = "answer larger than the Client's memory budget (" + strconv.FormatInt(n, 10) +
				" bytes; see WithMaxBufferedBytes)"
			return nil
		}
		hold = c.budget.size // length unknown: read what the budget allows
		limit = hold / 2
	}
	if err := c.budget.acquire(ctx, hold); err != nil {
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
		c.budget.release(a.held - keep)
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

// limiterError makes x/time/rate's "would exceed context deadline" (a token
// that comes only after the deadline) match context.DeadlineExceeded.
func limiterError(err error) error {
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && strings.Contains(err.Error(), "would exceed context deadline") {
		return fmt.Errorf("%w (%w)", context.DeadlineExceeded, err)
	}
	return err
}

// end reports the end of a call: to the Observer, and in a Debug record
// (operation, status, attempts, elapsed_ms: the whole call in milliseconds
// as a float, sub_code, transaction id and,
// for an error, its class and whether it was sent; never an error's text).
// txn is the transaction id of a success. It returns the call's error, which
// says the request may have been sent more than once when the transport
// hid what it sent (mayHaveResent).
func (c *Client) end(ctx context.Context, cl *call, txn string, err error) error {
	err = mayHaveResent(cl, err)
	status, subCode := http.StatusOK, SubCodeSuccess
	if err != nil {
		status, subCode, txn = errorFields(err)
	}
	c.auditOutcome(ctx, cl, txn, err)
	c.endCall(cl, status, subCode, txn, err)
	if c.logger == nil || ctx == nil || !c.logger.Enabled(ctx, slog.LevelDebug) {
		return err
	}
	attrs := []slog.Attr{
		slog.String("operation", cl.op),
		slog.Int("status", status),
		slog.Int("attempts", cl.attempts),
		slog.Float64("elapsed_ms", float64(time.Since(cl.start).Microseconds())/1000),
		slog.String("sub_code", subCode),
		slog.String("transaction_id", txn),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", Outcome(err)), slog.Bool("not_sent", errors.Is(err, ErrNotSent)))
	}
	if cl.op == opGenerate {
		attrs = append(attrs, slog.String("otp_state", OTPStateOf(err).String()))
	}
	c.logger.LogAttrs(ctx, slog.LevelDebug, "deepvue: call finished", attrs...)
	return err
}

// errorFields returns what an error says of the last answer: its status,
// sub_code and transaction id (all scrubbed already).
func errorFields(err error) (status int, subCode, txn string) {
	var ae *APIError
	if errors.As(err, &ae) && ae != nil {
		return ae.StatusCode, ae.SubCode, ae.TransactionID
	}
	return 0, "", ""
}

// ---- buffers ----

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
