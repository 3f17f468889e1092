package deepvue

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
)

// The send-once guard: what it watches (sendGuard), what it decides for each
// attempt (attempt), and the errors that name what it saw.

// attempt sends one attempt of the call through rt: it resets the guard's
// per-attempt state, opens the Observer's attempt, and afterwards gives the
// guard's verdict. When the guard saw the transport begin a second write of
// the request, the attempt fails with errResendBlocked whatever the
// transport returned.
func (cl *call) attempt(rt http.RoundTripper, req *http.Request) (*http.Response, error) {
	g := &cl.guard
	if err := req.Context().Err(); err != nil {
		// The context ended before this attempt: nothing of it was sent.
		return nil, err
	}
	g.startAttempt()
	if cl.obs != nil {
		req = cl.startAttempt(req)
	}
	declared := cl.client.singleAttempt
	resp, err := rt.RoundTrip(req)
	switch {
	case cl.client.noGuard:
	case !g.traced.Load() && !declared:
		// A transport that reports no trace events: the guard saw nothing of
		// what it did, so the request may have been sent, even several times.
		g.untraced.Store(true)
		cl.client.warnBlind(req.Context(), blindUntraced)
	case !declared && !isNetHTTP(rt):
		// A transport the SDK cannot see below: it may fail over after a
		// dial it reported, or retry with a context of its own, so neither
		// its errors nor its answers say how often it sent the request.
		g.untrusted.Store(true)
		g.markSent()
		cl.client.warnBlind(req.Context(), blindUntrusted)
	}
	// An answer means the request was sent; a transport that reports no
	// trace events leaves the SDK unable to know that it was not.
	if resp != nil || !g.traced.Load() {
		g.markSent()
	}
	if g.blocked.Load() {
		g.markSent()
		if resp != nil {
			resp.Body.Close()
		}
		err, resp = errResendBlocked, nil
		if g.unstopped.Load() {
			err = errResendNotStopped
			cl.client.warnBlind(req.Context(), blindUnstopped)
		}
	}
	if cl.obs != nil {
		if err != nil {
			// Classified as the call's error would be, with what the guard knows
			// of this attempt (only the error's kind is used, never its text).
			notSent := !g.attemptMaybeSent()
			cl.client.endAttempt(cl, 0, "", "", Outcome(&transportError{err: err, notSent: notSent}), 0, cl.attemptMaybeSent())
		} else {
			cl.obs.attCode = resp.StatusCode
		}
	}
	return resp, err
}

// isNetHTTP reports whether rt is net/http's own transport, whose every
// write of a request follows a GotConn on the request's context (the guard
// sees it) and whose own resends the guard stops.
func isNetHTTP(rt http.RoundTripper) bool {
	_, ok := rt.(*http.Transport)
	return ok
}

// sentNothing reports whether the SDK knows that no attempt of the call
// left the process (what ErrNotSent says).
func (cl *call) sentNothing() bool { return !cl.client.noGuard && !cl.guard.maybeSent.Load() }

// attemptMaybeSent reports whether the call's current attempt may have
// reached the server (always, in tests that switch the guard off).
func (cl *call) attemptMaybeSent() bool { return cl.client.noGuard || cl.guard.attemptMaybeSent() }

// sendGuard watches the requests of one call through httptrace. Within one
// attempt, once the transport has written the request's headers, any second
// write (a new connection for the same request, a resent HTTP/2 stream) is
// cut off: net/http resends on its own after an HTTP/2 RST_STREAM
// (PROTOCOL_ERROR or REFUSED_STREAM) or GOAWAY, and replays an HTTP/1.1 POST
// that carries an Idempotency-Key header, and each resend of generate-otp is
// an SMS. It also records what ErrNotSent needs to know.
//
// How a second write is stopped, for HTTP/1.1 and HTTP/2 alike: a retry
// inside net/http passes GetConn or GotConn before it writes, and there the
// guard cancels the call's context. HTTP/2 checks the context before it
// writes a stream's headers, so nothing leaves. HTTP/1.1 may go on to write;
// it reports WroteHeaders while the request is still in the connection's
// buffer, and the guard then closes that connection, so a complete request
// never reaches the wire. (HTTP/2 connections, shared by many calls, are
// never closed.) The hooks are GetConn, GotConn and WroteHeaders only: with
// a WroteHeaderField hook, net/http allocates for every header it writes
// (measured: 103 to 111 allocations and +130 B per GenerateOTP). An attempt
// counts as possibly sent from GotConn: over a stalled HTTP/2 connection
// that also marks the requests still waiting for the connection's write
// lock (WroteHeaderField would have left 186 of 200 such calls ErrNotSent,
// GotConn leaves none), a loss of precision in the safe direction only.
type sendGuard struct {
	trace  httptrace.ClientTrace
	cancel context.CancelFunc // ends the call's context

	writes    atomic.Int32 // writes of the request's headers in this attempt
	traced    atomic.Bool  // the transport reported GetConn or GotConn in this attempt
	sentNow   atomic.Bool  // this attempt may have reached the server
	blocked   atomic.Bool  // a second write was cut off
	maybeSent atomic.Bool  // some attempt of the call may have reached the server
	untraced  atomic.Bool  // some attempt of the call reported no trace events
	untrusted atomic.Bool  // some attempt went through a transport the SDK cannot see below
	unstopped atomic.Bool  // a second write went out although the guard cancelled it

	mu   sync.Mutex
	conn net.Conn // the connection of the latest GotConn
}

// install puts the guard's hooks on ctx; cancel must end ctx.
func (g *sendGuard) install(ctx context.Context, cancel context.CancelFunc) context.Context {
	g.cancel = cancel
	g.trace.GetConn = g.getConn
	g.trace.GotConn = g.gotConn
	g.trace.WroteHeaders = g.wroteHeaders
	return httptrace.WithClientTrace(ctx, &g.trace)
}

func (g *sendGuard) startAttempt() {
	g.writes.Store(0)
	g.traced.Store(false)
	g.sentNow.Store(false)
	g.mu.Lock()
	g.conn = nil
	g.mu.Unlock()
}

func (g *sendGuard) getConn(string) {
	g.traced.Store(true)
	if g.writes.Load() > 0 {
		g.block()
	}
}

// markSent records that the current attempt, and so the call, may have
// reached the server.
func (g *sendGuard) markSent() {
	g.sentNow.Store(true)
	g.maybeSent.Store(true)
}

// attemptMaybeSent reports whether the current attempt may have reached the
// server: it obtained a connection, wrote, got an answer, or reported no
// trace events at all.
func (g *sendGuard) attemptMaybeSent() bool {
	return g.sentNow.Load() || !g.traced.Load()
}

// gotConn marks the attempt possibly sent: from here the transport may
// begin putting the request's bytes on the connection. HTTP/2 reports
// WroteHeaders only after the HEADERS frame was flushed, so a flush blocked
// by a stalled peer and ended by the deadline left the request in the
// socket with no WroteHeaders; WroteHeaderField fires earlier but makes
// net/http allocate for every header it writes.
func (g *sendGuard) gotConn(info httptrace.GotConnInfo) {
	g.traced.Store(true)
	g.markSent()
	g.mu.Lock()
	g.conn = info.Conn
	g.mu.Unlock()
	if g.writes.Load() > 0 {
		g.block()
	}
}

// wroteHeaders counts the writes of the request; on a second one (which
// only HTTP/1.1 can reach, its bytes still buffered) it closes the
// connection.
func (g *sendGuard) wroteHeaders() {
	g.markSent()
	if g.writes.Add(1) == 1 {
		return
	}
	g.block()
	g.mu.Lock()
	c := g.conn
	g.mu.Unlock()
	if c != nil && !isHTTP2(c) {
		_ = c.Close()
		return
	}
	// HTTP/2 reports WroteHeaders after the flush: this second write is on
	// the wire. The transport wrote it after the guard cancelled the call's
	// context (at GetConn or GotConn), so it does not pass that context down.
	g.unstopped.Store(true)
}

func (g *sendGuard) block() {
	g.blocked.Store(true)
	if g.cancel != nil {
		g.cancel()
	}
}

func isHTTP2(c net.Conn) bool {
	tc, ok := c.(*tls.Conn)
	return ok && tc.ConnectionState().NegotiatedProtocol == "h2"
}

// blindness is why the send-once guard cannot see below a transport.
type blindness int

const (
	blindUntraced  blindness = iota + 1 // the transport reported no trace events
	blindUnstopped                      // it wrote again after the guard's cancel
	blindUntrusted                      // neither net/http's transport nor declared single-attempt
)

// warnBlind logs, once per Client, that the send-once guard cannot see
// below the caller's transport.
func (c *Client) warnBlind(ctx context.Context, why blindness) {
	if c.logger == nil || c.blindWarned == nil || !c.blindWarned.CompareAndSwap(false, true) {
		return
	}
	reason := "it reports no httptrace events (it sends with a context of its own, or is not net/http)"
	switch why {
	case blindUnstopped:
		reason = "it wrote a request a second time after the SDK cancelled it (it does not pass the request's context down)"
	case blindUntrusted:
		reason = "it is neither net/http's *http.Transport nor declared with WithSingleAttemptTransport " +
			"(it may retry or fail over with a context of its own)"
	}
	c.logger.LogAttrs(ctx, slog.LevelWarn,
		"deepvue: the send-once guard cannot see below this transport: a request it resends on its own "+
			"is neither seen nor stopped, and each resend of generate-otp may send an SMS",
		slog.String("reason", reason))
}

// mayHaveResent marks the error of a call one of whose attempts went
// through a transport the SDK cannot see below (no trace events, or neither
// net/http's nor declared single-attempt): whatever its last answer or
// error, the request may have been sent more than once (a transport that
// retries a 502 on its own and returns the 401 that followed), and the
// error says so and matches ErrMaybeSentMoreThanOnce. An error matching
// ErrNotSent (nothing reached the transport) or ErrResendBlocked (the
// guard's own verdict) is returned as it is.
func mayHaveResent(cl *call, err error) error {
	if err == nil || errors.Is(err, ErrNotSent) || errors.Is(err, ErrResendBlocked) {
		return err
	}
	switch {
	case cl.guard.untraced.Load():
		return &resendUnknownError{err: err, reason: resendUntraced}
	case cl.guard.untrusted.Load():
		return &resendUnknownError{err: err, reason: resendUntrusted}
	}
	return err
}
