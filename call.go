package deepvue

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// How one call runs. GenerateOTP and VerifyOTP each fill in a call record
// and hand it to run; run's steps, in do below, are the whole story of
// every call, and each step is one call into the file named for it:
//
//	enter     a closed Client goes no further (client.go; in run, first)
//	validate  the operation's input (aadhaar.go, verify.go, input.go), the
//	          declared purposes and the consent evidence (consent.go)
//	join      a call identical to one in flight waits for that one's result
//	          instead of sending; any other leads a flight, the call's
//	          context: the caller's deadline or the Client's default, which
//	          the Client's one timer enforces (flight.go, deadline.go; run
//	          hands the result on)
//	audit     the consent record, before anything is sent (audit.go)
//	limit     the rate limiter's slot (ratelimit.go)
//	guard     the send-once guard on the call's context (guard.go)
//	build     the request, its query from the checked input (request.go)
//	send      go-retryablehttp's attempts: each one goes through the guarded
//	          transport (transport.go, guard.go); after each answer,
//	          checkRetry reads a 500 within the budget and decides (retry.go)
//	read      the final answer, bounded, within the memory budget (read.go)
//	decode    classify and scrub: a result or an *APIError (aadhaar.go,
//	          verify_decode.go, errors.go, internal/redact)
//	settle    generate-otp remembers the OTP it sent; a 409 gets the
//	          pending one (pending.go)
//	end       the Observer, the outcome audit record (on a context of the
//	          audit state: the call's values, not its cancel, bounded by the
//	          Client's timer), the Debug record (observe.go, audit.go, here)
//
// Per-attempt state travels explicitly: the guard's hooks and the
// Observer's attempt live in the call record and are reset at each
// attempt's start (guard.go); an answer checkRetry read comes back to do on
// the response itself (keptAnswer), and a failure to read it as the error.
//
// The files stand on floors (layers_test.go lists them): the scrubber
// (internal/redact, a package of its own) below them all, the wire
// decoding at the bottom, then the bounded read, what an answer means
// (errors.go's table of answers), the input rules and results, the steps,
// each attempt, the Client, this story, and the two operations on top. A
// file uses only what lies on its own floor or below, except the two
// records every step works on, the Client and the call.

// call is the record of one logical call: what it sends, the values it must
// scrub, its send-once guard and Observer state, and what its attempts
// found. The operation allocates it together with its input (generateCall,
// verifyCall), and the final answer lives inside it: neither costs an
// allocation of its own.
type call struct {
	op       string
	endpoint *url.URL // without query
	limit    int64    // bound on a 2xx answer's body
	in       operation
	creds    *credentials // read once per call (SetCredentials)
	sec      secrets
	start    time.Time
	client   *Client

	url   url.URL // the request's URL, query included
	ctx   callCtx // the request's context (request.go)
	guard sendGuard
	ans   answer // the final answer's storage

	obs         *observed     // set with WithObserver (observe.go)
	flight      *flight       // the request this call leads (&fl) or joined (flight.go)
	fl          flight        // the flight this call leads, its context from the join step on
	joined      bool          // the call joined another's request: it sends nothing
	landed      chan struct{} // a joiner's: closed when the result is there
	audit       *auditCall
	evidence    *ConsentEvidence
	attempts    int // HTTP attempts made (counted by checkRetry)
	limiterWait time.Duration
}

// initCall fills in cl, the record of a call of op with input in.
func (c *Client) initCall(cl *call, op string, in operation) *call {
	cl.op, cl.in, cl.start, cl.client = op, in, time.Now(), c
	cl.creds = c.creds()
	cl.sec = secrets{Secret: cl.creds.secret}
	switch op {
	case opGenerate:
		cl.endpoint, cl.limit = c.generateURL, MaxResponseBytes
	default:
		cl.endpoint, cl.limit = c.verifyURL, MaxVerifyResponseBytes
	}
	return cl
}

// run enters the Client (a closed Client goes no further: client.go), tells
// the Observer the call begins, runs its steps and ends it. The call is in
// flight (Shutdown waits for it) from its first step to its end.
func (c *Client) run(ctx context.Context, cl *call) (any, error) {
	err := c.enter()
	defer c.leave() // runs last: the answer's body is closed, the call ended
	ctx = c.startCall(ctx, cl)
	var result any
	if err == nil {
		result, err = c.do(ctx, cl)
		c.answered(cl, err) // identical calls made from now on share it
	}
	err = c.end(ctx, cl, result, err)
	c.land(cl, result, err) // the calls that joined this one get its result
	return result, err
}

// do is the story of every call, top to bottom (see the top of this file).
func (c *Client) do(ctx context.Context, cl *call) (any, error) {
	// validate
	if ctx == nil {
		return nil, errNilContext
	}
	if err := cl.in.check(&cl.sec); err != nil {
		return nil, err
	}
	purpose, _ := cl.in.auditFields()
	if err := c.checkConsent(ctx, cl, purpose); err != nil {
		return nil, err
	}
	// join: a call identical to one in flight waits for its result; any
	// other leads a flight, its context from now on: the caller's values
	// and deadline, or the Client's default (WithTimeout)
	if c.join(ctx, cl) {
		return cl.await(ctx)
	}
	ctx = &cl.fl
	// audit
	if err := c.auditConsent(ctx, cl); err != nil {
		return nil, err
	}
	// limit
	if err := c.waitLimiter(ctx, cl); err != nil {
		return nil, cl.transportError("waiting for the rate limiter", err, true)
	}
	if err := ctx.Err(); err != nil {
		return nil, cl.transportError("before sending the request", err, true)
	}
	// guard, then build
	if !c.noGuard {
		ctx = cl.guard.install(ctx, cl.fl.cancel) // the guard may end the flight
	}
	req, err := c.newRequest(ctx, cl)
	if err != nil {
		return nil, cl.transportError("building the request", err, true)
	}
	// send
	resp, err := c.hc.Do(req)
	// read
	a, err := c.finalAnswer(ctx, cl, resp, err)
	if err != nil {
		return nil, err
	}
	defer a.release()
	// decode, then settle
	result, err := cl.in.decode(a, &cl.sec)
	return cl.in.settle(ctx, cl, result, err)
}

// finalAnswer reads the answer go-retryablehttp ended with, or turns its
// error into the call's scrubbed transport error. An answer checkRetry has
// read already comes on resp as a keptAnswer body.
func (c *Client) finalAnswer(ctx context.Context, cl *call, resp *http.Response, err error) (*answer, error) {
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		var re *readError
		if errors.As(err, &re) {
			return nil, cl.transportError("reading the HTTP "+strconv.Itoa(re.status)+" answer", re.err, false)
		}
		doing := "sending the request"
		if _, ok := err.(*limiterWaitError); ok {
			doing = "waiting for the rate limiter before a retry"
		}
		return nil, cl.transportError(doing, err, cl.sentNothing())
	}
	defer resp.Body.Close()
	if k, ok := resp.Body.(*keptAnswer); ok {
		return k.take(), nil
	}
	if err := readAnswer(ctx, c.budget, resp, cl.limit, &cl.ans); err != nil {
		return nil, cl.transportError("reading the HTTP "+strconv.Itoa(resp.StatusCode)+" answer", err, false)
	}
	return &cl.ans, nil
}

// transportError builds the call's transport error (errors.go); a limiter's
// error is recorded as such, so that Outcome names it "limiter".
func (cl *call) transportError(doing string, err error, notSent bool) error {
	lw, isLimiter := err.(*limiterWaitError)
	if isLimiter {
		err = lw.err
	}
	te := newTransportError(cl.op, cl.endpoint, doing, err, notSent, &cl.sec)
	te.limiter = isLimiter
	return te
}

// end reports the end of a call: the outcome audit record, the Observer's
// EndCall, and a Debug record (operation, status, attempts, elapsed_ms: the
// whole call in milliseconds as a float, sub_code, transaction id and, for
// an error, its class, whether the request may have been sent and
// NextStep's action; for generate-otp, otp_state; never an error's text). It
// returns the call's error, which says the request may have been sent more
// than once when the transport hid what it sent (mayHaveResent).
func (c *Client) end(ctx context.Context, cl *call, result any, err error) error {
	err = mayHaveResent(cl, err)
	status, subCode := http.StatusOK, SubCodeSuccess
	txn := cl.in.done(result, cl.audit)
	if err != nil {
		status, subCode, txn = errorFields(err)
	}
	c.auditOutcome(ctx, cl, txn, err)
	c.endCall(cl, status, subCode, txn, err, cl.attemptMaybeSent())
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
	if c.tenant != "" {
		attrs = append(attrs, slog.String("tenant", c.tenant))
	}
	if cl.joined {
		attrs = append(attrs, slog.Bool("joined", true))
	}
	if err != nil {
		// request_maybe_sent is about the request (CallResult.MaybeSent: false
		// exactly when err matches ErrNotSent); otp_state about the phone.
		attrs = append(attrs, slog.String("error", Outcome(err)), slog.Bool("request_maybe_sent", !errors.Is(err, ErrNotSent)),
			slog.String("next_step", NextStep(err).Action.String()))
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
