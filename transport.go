package deepvue

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"
)

// maxResponseHeaderBytes bounds the response headers the SDK's own
// transport reads (Go's default is 10 MiB): Deepvue's answers carry a few
// hundred bytes of headers.
const maxResponseHeaderBytes = 64 << 10

// NewTransport returns a new copy of the SDK's tuned transport, the one a
// Client uses when no WithHTTPClient is given: HTTP/1.1 with a pool large enough for a few hundred concurrent calls to one
// host (the standard library keeps 2 idle connections per host), TLS 1.2
// minimum, 64 KiB of response headers at most. HTTP/1.1 rather than HTTP/2
// because it measured faster over TLS both serially and at 32x parallelism
// (BENCHMARKS.md): HTTP/2 multiplexes every call of a busy backend onto one
// connection. Proxies come from the environment (http.ProxyFromEnvironment).
//
// Many Clients can share one: a service that holds one Client per tenant
// (per credentials) creates one transport and gives it to every Client with
// WithHTTPClient(&http.Client{Transport: tr}), so that all tenants share one
// connection pool instead of one pool each (see the README's "Many tenants,
// one pool"). A Client's Close leaves such a shared transport open: close it
// with its CloseIdleConnections when the service stops.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:           512,
		MaxIdleConnsPerHost:    256,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  1 * time.Second,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
	}
}

// defaultTransport is the transport of a Client without WithHTTPClient.
func defaultTransport() *http.Transport { return NewTransport() }

// refuseRedirect makes http.Client hand a 3xx back instead of following it,
// so the credentials and the Aadhaar number never reach another host.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// guardedTransport is what the SDK sends through: the caller's transport
// (nil means http.DefaultTransport, looked up at each request as net/http
// does, so httpmock.Activate works) or the SDK's own, behind the send-once
// guard. It has no CloseIdleConnections method, on purpose: go-retryablehttp
// calls it after every failed call, which would empty a busy backend's pool.
type guardedTransport struct {
	rt http.RoundTripper
}

func (t guardedTransport) base() http.RoundTripper {
	if t.rt == nil {
		return http.DefaultTransport
	}
	return t.rt
}

// RoundTrip sends one attempt of a call. When the call's guard saw the
// transport begin a second write of the request, the attempt fails with
// errResendBlocked whatever the transport returned.
func (t guardedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	cl, _ := req.Context().Value(callKey{}).(*call)
	if cl == nil {
		return t.base().RoundTrip(req)
	}
	g := &cl.guard
	if err := req.Context().Err(); err != nil {
		// The context ended before this attempt: nothing of it was sent.
		return nil, err
	}
	g.startAttempt()
	if cl.observer != nil {
		req = cl.startAttempt(req)
	}
	resp, err := t.base().RoundTrip(req)
	if !g.traced.Load() && !cl.client.noGuard {
		// A transport that reports no trace events: the guard saw nothing of
		// what it did, so the request may have been sent, even several times.
		g.untraced.Store(true)
		cl.client.warnBlind(req.Context(), blindUntraced)
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
	if cl.observer != nil {
		if err != nil {
			// Classified as the call's error would be, with what the guard knows
			// of this attempt (only the error's kind is used, never its text).
			notSent := !g.attemptMaybeSent()
			cl.client.endAttempt(cl, 0, "", "", Outcome(&transportError{err: err, notSent: notSent}), 0)
		} else {
			cl.obs.attCode = resp.StatusCode
		}
	}
	return resp, err
}

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
