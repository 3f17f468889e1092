package deepvue

import (
	"crypto/tls"
	"net"
	"net/http"
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
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  1 * time.Second,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
	}
	tr.DialContext, tr.DialTLSContext = guardedDialer(&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}, tr)
	return tr
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

// RoundTrip sends one attempt of a call, through its guard (guard.go).
func (t guardedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	cl, _ := req.Context().Value(callKey{}).(*call)
	if cl == nil {
		return t.base().RoundTrip(req)
	}
	return cl.attempt(t.base(), req)
}
