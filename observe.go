package deepvue

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Observer sees what the SDK does, for tracing and metrics: each logical
// call (GenerateOTP, VerifyOTP) and each HTTP attempt within it. The module
// github.com/deepvue-go/deepvue/deepvueotel builds one for OpenTelemetry.
//
// Observer is a struct of optional functions, as net/http/httptrace's
// ClientTrace is: set the ones you need; a nil field does nothing (StartCall
// and StartAttempt then keep the context as it is). New optional fields may
// be added in later releases, so build an Observer with field names
// (&deepvue.Observer{EndCall: ...}). WithObserver takes a copy.
//
// Every value the SDK hands an Observer is safe to record: no Aadhaar
// number, OTP, mobile number, secret, or error text (outcomes are sentinel
// names or fixed classes, URLs have every query value replaced by REDACTED,
// sub_codes and transaction ids are scrubbed). A call that fails local
// validation or waits on the rate limiter is observed too, with no attempt.
//
// The functions are called from the goroutine making the call, in this
// order: StartCall; for each attempt StartAttempt then EndAttempt; EndCall.
// A context returned by StartCall or StartAttempt must be derived from the
// one passed in; the SDK uses it for the call or the attempt and passes it
// back to the matching End function. A nil context returned is taken to mean
// the one passed in. The functions must be safe for
// concurrent use (one Client serves many calls at once) and fast.
type Observer struct {
	// StartCall is called when a call begins, before its input is checked.
	StartCall func(ctx context.Context, call CallInfo) context.Context
	// StartAttempt is called before an HTTP request is sent. Headers set in
	// header (a trace context, say) are added to the request; it never holds
	// the request's own headers, and client-id, x-api-key, Content-Type,
	// User-Agent and Host cannot be set. header is StartAttempt's only until
	// it returns (the SDK reuses the map): keep a copy, never the map.
	StartAttempt func(ctx context.Context, attempt AttemptInfo, header http.Header) context.Context
	// EndAttempt is called once the attempt's outcome is known: after its
	// answer was read and decoded, or when it failed.
	EndAttempt func(ctx context.Context, attempt AttemptInfo, result AttemptResult)
	// EndCall is called when the call returns.
	EndCall func(ctx context.Context, call CallInfo, result CallResult)
}

// empty reports whether o sets no function: such an Observer is no Observer.
func (o *Observer) empty() bool {
	return o == nil || o.StartCall == nil && o.StartAttempt == nil && o.EndAttempt == nil && o.EndCall == nil
}

// CallInfo describes a call.
type CallInfo struct {
	// Operation is "generate-otp" or "verify-otp".
	Operation string
	// ServerAddress and ServerPort are the API's host and port.
	ServerAddress string
	ServerPort    int
	// Tenant is the Client's WithTenant label ("" without one).
	Tenant string
}

// AttemptInfo describes one HTTP attempt of a call.
type AttemptInfo struct {
	CallInfo
	// Attempt counts from 1 (the SDK resends only after a 500
	// SOURCE_FAILURE, so Attempt-1 is the number of resends).
	Attempt int
	// Method is the HTTP method, "POST".
	Method string
	// URL is the full URL with every query value replaced by REDACTED.
	URL string
	// ResendCount is Attempt-1.
	//
	// Deprecated: use Attempt-1. ResendCount goes in 0.5.0.
	ResendCount int
}

// AttemptResult is the outcome of one HTTP attempt.
type AttemptResult struct {
	// StatusCode is the HTTP status, 0 when no answer came.
	StatusCode int
	// SubCode and TransactionID are the answer's, scrubbed ("" if none).
	SubCode       string
	TransactionID string
	// Outcome is as Outcome gives it for this attempt ("ok" for an answer
	// that is not an error).
	Outcome string
	// MaybeSent reports whether the request may have reached Deepvue.
	MaybeSent bool
	// ResponseBytes is the size of the answer's body as read (0 if none).
	ResponseBytes int64
	// Duration is from sending to the answer's end.
	Duration time.Duration
}

// CallResult is the outcome of a call.
type CallResult struct {
	// Outcome is Outcome(err) of the call's error.
	Outcome string
	// StatusCode, SubCode and TransactionID are the last answer's.
	StatusCode    int
	SubCode       string
	TransactionID string
	// Attempts is the number of HTTP attempts (0 when nothing was sent).
	Attempts int
	// MaybeSent reports whether a request may have reached Deepvue: false
	// exactly when the call's error matches ErrNotSent.
	MaybeSent bool
	// Duration is the whole call; LimiterWait the part spent waiting on the
	// rate limiter.
	Duration    time.Duration
	LimiterWait time.Duration
	// AuditFailed reports that the call's outcome audit record could not be
	// written (see WithAuditLog); the call's own result stands.
	AuditFailed bool
	// OTPState is OTPStateOf of the call's error: whether an OTP went to the
	// customer's phone. It is meaningful for generate-otp only; for
	// verify-otp it is left at its zero value.
	OTPState OTPState
	// Joined reports that the call was a double submit: identical to a call
	// in flight on the same Client, it sent nothing of its own and returns
	// that call's result (Attempts is 0; MaybeSent is that call's). Count
	// requests, or SMS, from the calls that did not join.
	Joined bool
}

// maxQueryShapes bounds operation.queryShape: generate-otp's one form and
// verify-otp's four.
const maxQueryShapes = 5

// observerInfo is what a Client with an Observer tells it of every call,
// made once: the CallInfo of each operation, and the redacted URL of each
// form of query (made at the first attempt of that form, from its URL).
type observerInfo struct {
	generate, verify CallInfo
	urls             [maxQueryShapes]atomic.Pointer[string]
	// headers are the empty maps handed to StartAttempt: its header is
	// read when it returns and then emptied and put back (a map a call is
	// about 450 instructions and an allocation; the Observer's doc says it
	// is not to be kept).
	headers sync.Pool
}

// newObserverInfo returns the observerInfo of a Client whose endpoints are
// generate and verify, with the tenant label tenant.
func newObserverInfo(generate, verify *url.URL, tenant string) *observerInfo {
	oi := &observerInfo{generate: callInfo(opGenerate, generate), verify: callInfo(opVerify, verify)}
	oi.generate.Tenant, oi.verify.Tenant = tenant, tenant
	return oi
}

// callInfo describes a call to endpoint.
func callInfo(op string, endpoint *url.URL) CallInfo {
	host, port := endpoint.Hostname(), endpoint.Port()
	p, err := strconv.Atoi(port)
	if err != nil {
		p = 443
		if endpoint.Scheme == "http" {
			p = 80
		}
	}
	return CallInfo{Operation: op, ServerAddress: host, ServerPort: p}
}

// redactedURL is u with every query value replaced by REDACTED.
func redactedURL(u *url.URL) string {
	r := *u
	if r.RawQuery != "" {
		parts := strings.Split(r.RawQuery, "&")
		for i, p := range parts {
			if k, _, ok := strings.Cut(p, "="); ok {
				parts[i] = k + "=REDACTED"
			}
		}
		r.RawQuery = strings.Join(parts, "&")
	}
	return r.String()
}

// reservedHeaders cannot be set by an Observer.
var reservedHeaders = map[string]bool{"Client-Id": true, "X-Api-Key": true, "Content-Type": true, "User-Agent": true, "Host": true}

// observed is the Observer state of one call.
type observed struct {
	ctx  context.Context // the call's, from StartCall
	info CallInfo

	att      AttemptInfo
	attCtx   context.Context
	attStart time.Time
	attOpen  bool
	attCode  int
}

// startCall tells the Observer a call begins and returns the context for
// the call (nil stays nil: the call then fails with errNilContext).
func (c *Client) startCall(ctx context.Context, cl *call) context.Context {
	if c.observer == nil {
		return ctx
	}
	info := c.obsInfo.generate
	if cl.op != opGenerate {
		info = c.obsInfo.verify
	}
	if cl.obs == nil { // else allocated with the call record
		cl.obs = new(observed)
	}
	cl.obs.info = info
	base := ctx
	if base == nil {
		base = context.Background()
	}
	cl.obs.ctx = base
	if f := c.observer.StartCall; f != nil {
		if octx := f(base, cl.obs.info); octx != nil { // a nil context keeps the caller's
			cl.obs.ctx = octx
		}
	}
	if ctx == nil {
		return nil
	}
	return cl.obs.ctx
}

// endCall ends the open attempt, if any, and the call.
func (c *Client) endCall(cl *call, status int, subCode, txn string, err error, lastMaybeSent bool) {
	if c.observer == nil || c.observer.EndCall == nil && c.observer.EndAttempt == nil {
		return
	}
	outcome := Outcome(err)
	now := time.Now() // the open attempt and the call end together: one clock read
	c.endAttemptAt(cl, status, subCode, txn, outcome, cl.ans.size, lastMaybeSent, now)
	res := CallResult{
		Outcome: outcome, StatusCode: status, SubCode: subCode, TransactionID: txn, Attempts: cl.attempts,
		MaybeSent: !errors.Is(err, ErrNotSent), Duration: now.Sub(cl.start), LimiterWait: cl.limiterWait,
		AuditFailed: cl.audit != nil && cl.audit.failed, Joined: cl.joined,
	}
	if cl.op == opGenerate {
		res.OTPState = OTPStateOf(err)
	}
	if f := c.observer.EndCall; f != nil {
		f(cl.obs.ctx, cl.obs.info, res)
	}
}

// startAttempt begins an attempt: it tells the Observer and returns the
// request to send (a copy with the Observer's headers and context, if any).
func (cl *call) startAttempt(req *http.Request) *http.Request {
	o := cl.obs
	if cl.client.observer.StartAttempt == nil && cl.client.observer.EndAttempt == nil {
		return req // nothing to tell of attempts
	}
	o.att = AttemptInfo{CallInfo: o.info, Attempt: cl.attempts + 1, Method: req.Method, URL: cl.redactedURL(req.URL),
		ResendCount: cl.attempts}
	var hdr http.Header
	o.attCtx = req.Context()
	if f := cl.client.observer.StartAttempt; f != nil {
		hdr, _ = cl.client.obsInfo.headers.Get().(http.Header)
		if hdr == nil {
			hdr = http.Header{}
		}
		defer func() { // after the copy below; on a panic too, the map emptied
			clear(hdr)
			cl.client.obsInfo.headers.Put(hdr)
		}()
		if actx := f(req.Context(), o.att, hdr); actx != nil { // a nil context keeps the request's
			o.attCtx = actx
		}
	}
	o.attStart, o.attOpen, o.attCode = time.Now(), true, 0
	if len(hdr) == 0 && o.attCtx == req.Context() {
		return req
	}
	rctx := o.attCtx
	if rctx != req.Context() && rctx.Done() == req.Context().Done() {
		// Values added to the request's context (a span): it still ends
		// with the call's flight, whose AfterFunc it keeps (see callCtx).
		// One per attempt: what net/http (or a mock) started for an
		// attempt may still read its context when the next one begins.
		rctx = &attemptCtx{rctx, cl.ctx.end}
	}
	r := req.WithContext(rctx)
	if len(hdr) > 0 {
		r.Header = req.Header.Clone()
		for k, vs := range hdr {
			if k = http.CanonicalHeaderKey(k); !reservedHeaders[k] {
				r.Header[k] = vs // the slice, not the map, is kept
			}
		}
	}
	return r
}

// attemptCtx is the request's context when the Observer's StartAttempt
// added values to it (a span): it ends with the call's flight, so its
// AfterFunc is the flight's, and net/http's transport needs no goroutine to
// watch it.
type attemptCtx struct {
	context.Context
	end afterFuncer // the call's flight
}

// AfterFunc registers fn on the call's flight.
func (a *attemptCtx) AfterFunc(fn func()) (stop func() bool) { return a.end.AfterFunc(fn) }

// redactedURL returns u, the request's URL, with every query value
// replaced by REDACTED: made once per form of query (observerInfo).
func (cl *call) redactedURL(u *url.URL) string {
	slot := &cl.client.obsInfo.urls[cl.in.queryShape()]
	if p := slot.Load(); p != nil {
		return *p
	}
	r := redactedURL(u)
	slot.Store(&r)
	return r
}

// endAttempt ends the open attempt, if any.
func (c *Client) endAttempt(cl *call, status int, subCode, txn, outcome string, size int64, maybeSent bool) {
	if o := cl.obs; o == nil || !o.attOpen {
		return
	}
	c.endAttemptAt(cl, status, subCode, txn, outcome, size, maybeSent, time.Now())
}

// endAttemptAt ends the open attempt, if any, at now.
func (c *Client) endAttemptAt(cl *call, status int, subCode, txn, outcome string, size int64, maybeSent bool, now time.Time) {
	o := cl.obs
	if o == nil || !o.attOpen {
		return
	}
	o.attOpen = false
	if status == 0 {
		status = o.attCode
	}
	f := c.observer.EndAttempt
	if f == nil {
		return
	}
	f(o.attCtx, o.att, AttemptResult{
		StatusCode: status, SubCode: subCode, TransactionID: txn, Outcome: outcome,
		MaybeSent: status != 0 || maybeSent, ResponseBytes: size,
		Duration: now.Sub(o.attStart),
	})
}
