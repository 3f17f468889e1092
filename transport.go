package deepvue

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"
)

// maxResponseHeaderBytes bounds the response headers the SDK's own
// transport reads (Go's default is 10 MiB): Deepvue's answers carry a few
// hundred bytes of headers.
const maxResponseHeaderBytes = 64 << 10

// DefaultMaxConnsPerHost caps the connections NewTransport opens to one
// host (http.Transport.MaxConnsPerHost); calls beyond it wait for a
// connection to come free, in order, until their context ends. It equals
// the idle pool per host (MaxIdleConnsPerHost), so that no connection is
// opened only to be closed after one call: measured with 1,000 concurrent
// calls over TLS, it opens 256 connections instead of 1,000 and takes no
// longer (BENCHMARKS.md, "Many Clients per process").
const DefaultMaxConnsPerHost = 256

// NewTransport returns a new copy of the SDK's tuned transport, the one
// Clients share when no WithHTTPClient is given: HTTP/1.1 with a pool large
// enough for a few hundred concurrent calls to one host (the standard
// library keeps 2 idle connections per host) and at most
// DefaultMaxConnsPerHost connections to it, TLS 1.2 minimum, 64 KiB of
// response headers at most. HTTP/1.1 rather than HTTP/2 because it measured
// faster over TLS both serially and at 32x parallelism (BENCHMARKS.md):
// HTTP/2 multiplexes every call of a busy backend onto one connection.
// Proxies come from the environment (http.ProxyFromEnvironment).
//
// Clients made without WithHTTPClient already share one such transport per
// process. NewTransport is for a pool of one's own: pass it with
// WithHTTPClient(&http.Client{Transport: tr}) to the Clients that should use
// it, and close it with its CloseIdleConnections when they are done (a
// Client's Close leaves a transport given with WithHTTPClient open).
//
// Its connections carry the SDK's idle-connection guard (idleconn.go):
// bytes a server sends on a kept-alive connection after the end of an
// answer close it, instead of reaching the standard logger through
// net/http's "Unsolicited response received on idle HTTP channel" line.
// Replacing its DialContext keeps the guard for https:// (TLS is dialed
// over the caller's DialContext); replacing DialTLSContext removes it.
func NewTransport() *http.Transport {
	tr := &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		MaxIdleConns:           512,
		MaxIdleConnsPerHost:    256,
		MaxConnsPerHost:        DefaultMaxConnsPerHost,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  1 * time.Second,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
	}
	tr.DialContext, tr.DialTLSContext = guardedDialer(&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}, tr)
	return tr
}

// sharedTransport is the transport of every Client made without
// WithHTTPClient: one pool per process, made at the first such Client, so
// that a Client per request (or per tenant) opens no pool of its own and
// leaves no connection or goroutine behind but the pool's idle connections,
// which the next Clients reuse and IdleConnTimeout closes.
var sharedTransport = sync.OnceValue(NewTransport)

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

// RoundTrip sends one attempt of a call, through its guard (guard.go).
func (t guardedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	cl, _ := req.Context().Value(callKey{}).(*call)
	if cl == nil {
		return t.base().RoundTrip(req)
	}
	return cl.attempt(t.base(), req)
}
