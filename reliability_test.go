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
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
