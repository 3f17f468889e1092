package deepvue

// Fault injection over real sockets: every case runs for both public calls,
// checks the error (type, sentinel, status), how many requests the server
// saw, how long the call took, and that no rendering of the error and no log
// record holds the Aadhaar number, OTP, mobile number or secret.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// publicCall is one of the SDK's network calls, with its success body.
type publicCall struct {
	name    string
	success string
	call    func(ctx context.Context, c *Client) (any, error)
}

var publicCalls = []publicCall{
	{"GenerateOTP", successOTP, func(ctx context.Context, c *Client) (any, error) {
		return c.GenerateOTP(ctx, "2341 2341 2346", ConsentYes, testPurpose)
	}},
	{"VerifyOTP", verifySuccessBody(""), func(ctx context.Context, c *Client) (any, error) {
		return c.VerifyOTP(ctx, VerifyOTPRequest{ReferenceID: "29756208", OTP: testOTP, Consent: ConsentYes,
			Purpose: testPurpose, MobileNumber: testMobile, GeneratePDF: true})
	}},
}

// connServer accepts connections and hands each to a handler in its own
// goroutine; it counts them, and at cleanup closes the listener and every
// connection still open (as httptest.Server.Close does: a client may keep
// an idle one) and waits for the handlers.
type connServer struct {
	ln    net.Listener
	conns atomic.Int32
	wg    sync.WaitGroup
	mu    sync.Mutex
	open  map[net.Conn]bool
}

func serveConns(t testing.TB, ln net.Listener, handle func(net.Conn)) *connServer {
	t.Helper()
	s := &connServer{ln: ln, open: map[net.Conn]bool{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			s.mu.Lock()
			s.open[c] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() {
					s.mu.Lock()
					delete(s.open, c)
					s.mu.Unlock()
					c.Close()
				}()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for c := range s.open {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// rawServer accepts TCP connections and hands each to behave. It counts
// connections and the HTTP requests it read in full.
type rawServer struct {
	*connServer
	requests atomic.Int32
}

func newRawServer(t *testing.T, behave func(s *rawServer, c *net.TCPConn)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &rawServer{}
	s.connServer = serveConns(t, ln, func(c net.Conn) { behave(s, c.(*net.TCPConn)) })
	return s
}

// serveHTTP1 reads HTTP/1.1 requests from c until misbehave (called for
// each request read in full) says to drop the connection; it answers the
// others with a 200 carrying body.
func serveHTTP1(c net.Conn, misbehave func() bool, body string) {
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		if misbehave() {
			return // the request was read; the connection drops
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	}
}

func (s *rawServer) URL() string { return "http://" + s.ln.Addr().String() }

// readRequest reads one HTTP request and counts it.
func (s *rawServer) readRequest(c net.Conn) bool {
	req, err := http.ReadRequest(bufio.NewReader(c))
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, req.Body)
	s.requests.Add(1)
	return true
}

// reset closes c with an RST instead of a FIN.
func reset(c *net.TCPConn) {
	_ = c.SetLinger(0)
	_ = c.Close()
}

// counting wraps an http.Handler and counts requests.
type counting struct {
	n atomic.Int32
	h http.HandlerFunc
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.n.Add(1); c.h(w, r) }

// sentness is what a fault's error says about ErrNotSent.
type sentness int

const (
	maybeSent   sentness = iota // must not match ErrNotSent
	notSentKnow                 // must match ErrNotSent
	racy                        // either, by timing (a reset racing the connect)
)

// fault is one failure mode: it starts a server and says what to expect.
type fault struct {
	name string
	// start returns the base URL and a function giving the number of
	// requests the server saw (and of connections, for raw servers).
	start func(t *testing.T, pc publicCall) (baseURL string, seen func() (requests, conns int))
	// opts add client options; ctxTimeout, if set, bounds the call's context.
	opts       []Option
	ctxTimeout time.Duration
	// expectations
	wantSuccess  bool
	wantStatus   int   // for an *APIError
	wantSentinel error // nil: no sentinel
	wantCause    error // errors.Is target for a transport error
	wantNotSent  sentness
	wantRequests int // -1: not checked (refused)
	wantConns    int // -1: not checked
	minElapsed   time.Duration
	maxElapsed   time.Duration
}

func rawFault(behave func(s *rawServer, c *net.TCPConn)) func(*testing.T, publicCall) (string, func() (int, int)) {
	return func(t *testing.T, _ publicCall) (string, func() (int, int)) {
		s := newRawServer(t, behave)
		return s.URL(), func() (int, int) { return int(s.requests.Load()), int(s.conns.Load()) }
	}
}

func handlerFault(tlsServer bool, h func(pc publicCall) http.HandlerFunc) func(*testing.T, publicCall) (string, func() (int, int)) {
	return func(t *testing.T, pc publicCall) (string, func() (int, int)) {
		ch := &counting{h: h(pc)}
		var srv *httptest.Server
		if tlsServer {
			srv = httptest.NewTLSServer(ch)
		} else {
			srv = httptest.NewServer(ch)
		}
		t.Cleanup(srv.Close)
		return srv.URL, func() (int, int) { return int(ch.n.Load()), -1 }
	}
}

// gzipBytes compresses b (writing to memory cannot fail).
func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// gzipBomb returns 64 MiB of zeros as gzip (about 64 KB): 1 MiB of zeros
// compressed once, then 64 concatenated copies of that member, which gzip
// readers (Go's included) inflate as one stream. Cheap to build, even under
// the race detector.
var gzipBomb = sync.OnceValue(func() []byte {
	member := gzipBytes(make([]byte, 1<<20))
	return bytes.Repeat(member, 64)
})

func faults() []fault {
	quick := 3 * time.Second
	bulk := 60 * time.Second // moving 16 MiB and more, slow under -race
	return []fault{
		{
			name: "connection refused",
			start: func(t *testing.T, _ publicCall) (string, func() (int, int)) {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				require.NoError(t, err)
				addr := ln.Addr().String()
				ln.Close()
				return "http://" + addr, func() (int, int) { return -1, -1 }
			},
			wantNotSent:  notSentKnow,
			wantRequests: -1, wantConns: -1, maxElapsed: quick,
		},
		{
			name: "DNS failure",
			start: func(t *testing.T, _ publicCall) (string, func() (int, int)) {
				return "https://kyc.deepvue.invalid", func() (int, int) { return -1, -1 }
			},
			opts: []Option{WithHTTPClient(&http.Client{Transport: &http.Transport{
				DialContext: func(_ context.Context, _, addr string) (net.Conn, error) {
					return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "kyc.deepvue.invalid", IsNotFound: true}}
				},
			}})},
			wantNotSent:  notSentKnow,
			wantRequests: -1, wantConns: -1, maxElapsed: quick,
		},
		{
			name: "reset before any byte",
			start: rawFault(func(s *rawServer, c *net.TCPConn) {
				reset(c)
			}),
			wantNotSent:  racy, // the RST may end the connect (nothing written) or the read
			wantRequests: 0, wantConns: 1, maxElapsed: quick,
		},
		{
			name: "reset after the request was read",
			start: rawFault(func(s *rawServer, c *net.TCPConn) {
				if s.readRequest(c) {
					reset(c)
				}
			}),
			wantRequests: 1, wantConns: 1, maxElapsed: quick,
		},
		{
			name: "reset mid-body",
			start: rawFault(func(s *rawServer, c *net.TCPConn) {
				if s.readRequest(c) {
					_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{\"code\":200,\"sub_code\":\"SUC")
					time.Sleep(20 * time.Millisecond)
					reset(c)
				}
			}),
			wantRequests: 1, wantConns: 1, maxElapsed: quick,
		},
		{
			name: "headers never sent, caller's deadline",
			start: rawFault(func(s *rawServer, c *net.TCPConn) {
				if s.readRequest(c) {
					_, _ = io.Copy(io.Discard, c) // until the client gives up
				}
			}),
			ctxTimeout:   300 * time.Millisecond,
			wantCause:    context.DeadlineExceeded,
			wantRequests: 1, wantConns: 1, minElapsed: 300 * time.Millisecond, maxElapsed: quick,
		},
		{
			name: "headers never sent, WithTimeout default",
			start: rawFault(func(s *rawServer, c *net.TCPConn) {
				if s.readRequest(c) {
					_, _ = io.Copy(io.Discard, c)
				}
			}),
			opts:         []Option{WithTimeout(300 * time.Millisecond)},
			wantCause:    context.DeadlineExceeded,
			wantRequests: 1, wantConns: 1, minElapsed: 300 * time.Millisecond, maxElapsed: quick,
		},
		{
			name: "body trickles a byte a second",
			start: rawFault(func(s *rawServer, c *net.TCPConn) {
				if !s.readRequest(c) {
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n")
				for i := 0; i < 200; i++ {
					if _, err := c.Write([]byte{' '}); err != nil {
						return
					}
					time.Sleep(time.Second)
				}
			}),
			ctxTimeout:   1500 * time.Millisecond,
			wantCause:    context.DeadlineExceeded,
			wantRequests: 1, wantConns: 1, minElapsed: 1500 * time.Millisecond, maxElapsed: 5 * time.Second,
		},
		{
			name: "TLS server with an untrusted certificate",
			start: handlerFault(true, func(pc publicCall) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, pc.success) }
			}),
			wantCause:    x509.UnknownAuthorityError{},
			wantNotSent:  notSentKnow,
			wantRequests: 0, wantConns: -1, maxElapsed: quick,
		},
		{
			name: "answer larger than the bound",
			start: handlerFault(false, func(pc publicCall) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					chunk := bytes.Repeat([]byte("x"), 64<<10)
					for i := 0; i < (MaxVerifyResponseBytes>>16)+4; i++ { // 16 MiB + 256 KiB, chunked
						if _, err := w.Write(chunk); err != nil {
							return
						}
					}
				}
			}),
			wantStatus: 200, wantSentinel: ErrUnexpectedResponse,
			wantRequests: 1, wantConns: -1, maxElapsed: bulk,
		},
		{
			name: "truncated JSON",
			start: handlerFault(false, func(pc publicCall) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					_, _ = io.WriteString(w, pc.success[:len(pc.success)/2])
				}
			}),
			wantStatus: 200, wantSentinel: ErrUnexpectedResponse,
			wantRequests: 1, wantConns: -1, maxElapsed: quick,
		},
		{
			name: "gzip-encoded answer",
			start: handlerFault(false, func(pc publicCall) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
						http.Error(w, "gzip expected", 400)
						return
					}
					w.Header().Set("Content-Type", "application/json")
					w.Header().Set("Content-Encoding", "gzip")
					_, _ = w.Write(gzipBytes([]byte(pc.success)))
				}
			}),
			wantSuccess:  true,
			wantRequests: 1, wantConns: -1, maxElapsed: quick,
		},
		{
			name: "gzip bomb (64 MiB inflated)",
			start: handlerFault(false, func(pc publicCall) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Encoding", "gzip")
					_, _ = w.Write(gzipBomb())
				}
			}),
			wantStatus: 200, wantSentinel: ErrUnexpectedResponse,
			wantRequests: 1, wantConns: -1, maxElapsed: bulk,
		},
		{
			name: "3xx to another host",
			start: func(t *testing.T, pc publicCall) (string, func() (int, int)) {
				other := &counting{h: func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, pc.success) }}
				otherSrv := httptest.NewServer(other)
				t.Cleanup(otherSrv.Close)
				first := &counting{h: func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, otherSrv.URL+r.URL.RequestURI(), http.StatusFound)
				}}
				srv := httptest.NewServer(first)
				t.Cleanup(srv.Close)
				return srv.URL, func() (int, int) {
					// Requests the other host saw count too: there must be none.
					return int(first.n.Load()) + 100*int(other.n.Load()), -1
				}
			},
			wantStatus: http.StatusFound, wantSentinel: ErrUnexpectedResponse,
			wantRequests: 1, wantConns: -1, maxElapsed: quick,
		},
		{
			name: "response headers larger than 64 KiB",
			start: handlerFault(false, func(pc publicCall) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("X-Echo", r.URL.RawQuery+strings.Repeat(" pad", 20000))
					_, _ = io.WriteString(w, pc.success)
				}
			}),
			wantRequests: 1, wantConns: -1, maxElapsed: quick,
		},
		{
			name: "HTTP/2 GOAWAY whose debug data echoes the request",
			start: func(t *testing.T, pc publicCall) (string, func() (int, int)) {
				s := newH2Server(t, goAway, true, pc.success)
				return s.URL(), func() (int, int) { return int(s.requests.Load()), -1 }
			},
			opts: []Option{WithHTTPClient(&http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true,
				TLSClientConfig: &tls.Config{RootCAs: testPKI.pool}}})},
			wantCause:    ErrResendBlocked,
			wantRequests: 1, wantConns: -1, maxElapsed: quick,
		},
		{
			name: "Connection: close on every answer",
			start: handlerFault(false, func(pc publicCall) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Connection", "close")
					w.Header().Set("Content-Type", "application/json")
					_, _ = io.WriteString(w, pc.success)
				}
			}),
			wantSuccess:  true,
			wantRequests: 1, wantConns: -1, maxElapsed: quick,
		},
		{
			name: "server echoes every sensitive value",
			start: handlerFault(false, func(pc publicCall) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(400)
					q := r.URL.Query()
					echo := strings.Join([]string{q.Get("aadhaar_number"), q.Get("otp"), q.Get("mobile_number"),
						r.Header.Get("x-api-key"), r.URL.String()}, " ")
					fmt.Fprintf(w, `{"sub_code":"INVALID_INPUT","message":%q,"detail":%q,"transaction_id":%q,"reference_id":%q}`,
						echo, echo, echo, echo)
				}
			}),
			wantStatus: 400, wantSentinel: ErrInvalidInput,
			wantRequests: 1, wantConns: -1, maxElapsed: quick,
		},
	}
}

// TestFaultInjection is the fault matrix and the leak sweep in one: every
// public call against every failure mode.
func TestFaultInjection(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets and deadlines: skipped with -short")
	}
	for _, f := range faults() {
		for _, pc := range publicCalls {
			t.Run(f.name+"/"+pc.name, func(t *testing.T) {
				t.Parallel()
				base, seen := f.start(t, pc)
				logs := &logBuffer{}
				opts := append([]Option{WithBaseURL(base), WithLogger(logs.logger()), WithRetryWait(0, 0)}, f.opts...)
				c, err := NewClient(testID, testSecret, opts...)
				require.NoError(t, err)
				defer c.CloseIdleConnections()

				ctx := context.Background()
				if f.ctxTimeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, f.ctxTimeout)
					defer cancel()
				}
				start := time.Now()
				res, err := pc.call(ctx, c)
				elapsed := time.Since(start)

				if f.wantSuccess {
					require.NoError(t, err)
					require.NotNil(t, res)
				} else {
					require.Error(t, err)
					var ae *APIError
					var ve *ValidationError
					assert.False(t, errors.As(err, &ve))
					if f.wantStatus != 0 {
						require.ErrorAs(t, err, &ae)
						assert.Equal(t, f.wantStatus, ae.StatusCode)
					} else {
						assert.False(t, errors.As(err, &ae), "a transport failure is not an *APIError: %v", err)
					}
					if f.wantSentinel != nil {
						assert.Equal(t, []error{f.wantSentinel}, matched(err))
					} else {
						assert.Empty(t, matched(err))
					}
					switch cause := f.wantCause.(type) {
					case nil:
					case x509.UnknownAuthorityError:
						assert.ErrorAs(t, err, &cause)
					default:
						assert.ErrorIs(t, err, cause)
					}
					switch f.wantNotSent {
					case notSentKnow:
						assert.ErrorIs(t, err, ErrNotSent, "nothing left the process")
					case maybeSent:
						assert.NotErrorIs(t, err, ErrNotSent, "the request may have been written")
					}
					assert.Less(t, len(err.Error()), 400, "short error text: %q", err)
					if f.wantStatus == 0 {
						// A transport error must not carry the request URL's query at all.
						assertNoLeak(t, err, "aadhaar_number=", "otp=")
					} else {
						assertNoLeak(t, err)
					}
				}
				requests, conns := seen()
				if errors.Is(err, ErrNotSent) && requests >= 0 {
					assert.Zero(t, requests, "ErrNotSent, yet the server saw a request")
				}
				if f.wantRequests >= 0 {
					assert.Equal(t, f.wantRequests, requests, "requests the server saw: never re-sent")
				}
				if f.wantConns >= 0 {
					assert.Equal(t, f.wantConns, conns, "connections: a request is never re-sent on a new one")
				}
				assert.GreaterOrEqual(t, elapsed, f.minElapsed)
				assert.Less(t, elapsed, f.maxElapsed)
				t.Logf("%s/%s: %v in %v, requests seen %d", f.name, pc.name, err, elapsed.Round(time.Millisecond), requests)
				assert.Zero(t, c.budget.inUse(), "every reservation of the memory budget is returned")

				out := logs.String()
				assert.Contains(t, out, `"msg":"deepvue: call finished"`)
				// No value, and no query with a value (a server echo keeps the
				// key names with masked values).
				for _, s := range append(sensitive, "aadhaar_number=2", "otp=4") {
					assert.NotContains(t, out, s, "log records")
				}
			})
		}
	}
}

// TestGzipBombMemoryStaysBounded checks that reading a 64 MiB inflated answer
// allocates about the bound, not the answer.
func TestGzipBombMemoryStaysBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(gzipBomb())
	}))
	defer srv.Close()
	c, err := NewClient(testID, testSecret, WithBaseURL(srv.URL))
	require.NoError(t, err)
	defer c.CloseIdleConnections()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	runtime.ReadMemStats(&after)
	assert.ErrorIs(t, err, ErrUnexpectedResponse)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d KiB for a 64 MiB inflated answer (bound %d KiB)", allocated>>10, MaxResponseBytes>>10)
	assert.Less(t, allocated, uint64(16*MaxResponseBytes), "a quarter of the inflated size at most")
}

// TestConnectionsStayBoundedUnderMixedFailures makes thousands of calls with
// failures mixed in (SOURCE_FAILURE with retries, 409, 429, HTML 502, and
// connections dropped mid-call) and checks that the pool reuses
// connections: a failed call, after which go-retryablehttp closes idle
// connections, must not empty it.
func TestConnectionsStayBoundedUnderMixedFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("thousands of calls: skipped with -short")
	}
	var newConns, requests, dropped atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		switch n % 10 {
		case 5:
			// A connection that breaks after the request was read: a transport
			// error, after which go-retryablehttp closes idle connections.
			if n%20 == 5 {
				dropped.Add(1)
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close()
				}
				return
			}
			_, _ = io.WriteString(w, successOTP)
		case 1:
			w.WriteHeader(500)
			_, _ = io.WriteString(w, sourceFailBd)
		case 2:
			w.WriteHeader(409)
			_, _ = io.WriteString(w, `{"sub_code":"VERIFICATION_PENDING","reference_id":""}`)
		case 3:
			w.WriteHeader(429)
			_, _ = io.WriteString(w, `{"detail":"Rate limit exceeded. Please retry after some time."}`)
		case 4:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(502)
			_, _ = io.WriteString(w, "<html>"+strings.Repeat("bad gateway ", 400)+"</html>")
		default:
			_, _ = io.WriteString(w, successOTP)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			newConns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c, err := NewClient(testID, testSecret, WithBaseURL(srv.URL), WithRetryWait(0, 0))
	require.NoError(t, err)
	defer c.CloseIdleConnections()

	const workers, perWorker = 16, 150
	var wg sync.WaitGroup
	var ok, failed atomic.Int32
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				if _, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose); err != nil {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d calls (%d ok, %d failed), %d requests, %d connections dropped by the server, %d connections opened",
		workers*perWorker, ok.Load(), failed.Load(), requests.Load(), dropped.Load(), newConns.Load())
	assert.Equal(t, int32(workers*perWorker), ok.Load()+failed.Load())
	assert.Greater(t, failed.Load(), int32(workers*perWorker/10))
	assert.Greater(t, dropped.Load(), int32(0))
	// Each dropped connection is replaced by one new connection; no failure
	// empties the rest of the pool.
	assert.LessOrEqual(t, newConns.Load(), 2*workers+dropped.Load(), "connections are reused, not reopened per failure")
}
