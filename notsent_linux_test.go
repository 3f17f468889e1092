//go:build linux

package deepvue

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
)

// smallBuffers sets a socket's buffer (SO_RCVBUF or SO_SNDBUF) to the
// kernel's minimum, so that a peer that stops reading blocks the writer
// after a few KiB.
func smallBuffers(opt int) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt, 1024) })
		if err != nil {
			return err
		}
		return serr
	}
}

// stallServer is an HTTP/2 server (TLS, h2 only, a small receive buffer)
// that answers the first request, then stops reading for stall, then reads
// on and decodes every HEADERS frame the client sent, recording each
// request's purpose. It answers the request whose purpose is "final".
type stallServer struct {
	*connServer
	stall time.Duration

	mu      sync.Mutex
	decoded map[string]bool // purposes of the requests whose HEADERS were decoded in full
	answers atomic.Int32
	resumed chan struct{} // closed when the server reads again
	final   chan struct{} // closed when the final request was decoded
}

func newStallServer(t *testing.T, stall time.Duration) *stallServer {
	t.Helper()
	lc := net.ListenConfig{Control: smallBuffers(syscall.SO_RCVBUF)}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &stallServer{stall: stall, decoded: map[string]bool{}, resumed: make(chan struct{}), final: make(chan struct{})}
	s.connServer = serveConns(t, tls.NewListener(ln, serverTLS("h2")), func(c net.Conn) { s.serve(c.(*tls.Conn)) })
	return s
}

func (s *stallServer) URL() string { return "https://" + s.ln.Addr().String() }

func (s *stallServer) serve(c *tls.Conn) {
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	if c.Handshake() != nil || c.ConnectionState().NegotiatedProtocol != "h2" {
		return
	}
	serveH2Frames(c, func(h *h2Conn, f *http2.MetaHeadersFrame) bool {
		u, err := url.Parse(f.PseudoValue("path"))
		if err != nil {
			return false
		}
		purpose := u.Query().Get("purpose")
		s.mu.Lock()
		s.decoded[purpose] = true
		s.mu.Unlock()
		switch {
		case s.answers.Add(1) == 1: // the warm-up: then stop reading
			h.answer(f.StreamID, successOTP)
			time.Sleep(s.stall)
			close(s.resumed)
		case purpose == "final":
			h.answer(f.StreamID, successOTP)
			close(s.final)
		}
		return true
	})
}

// TestNoFalseErrNotSentOverStalledHTTP2 is issue 14's first case: a caller
// transport that negotiates h2, a server that completes SETTINGS and then
// stops reading (small buffers at both ends), many concurrent calls whose
// deadline ends while Go's HTTP/2 client is blocked flushing their HEADERS.
// net/http reports WroteHeaders only after the flush, so a guard that
// waited for it called such a request not sent; the server then decoded
// it. No call may match ErrNotSent when the server saw its request.
func TestNoFalseErrNotSentOverStalledHTTP2(t *testing.T) {
	if testing.Short() {
		t.Skip("a stalled TLS server for seconds: skipped with -short")
	}
	const calls = 200
	const deadline = time.Second
	srv := newStallServer(t, 2*deadline)
	tr := &http.Transport{
		ForceAttemptHTTP2: true,
		TLSClientConfig:   &tls.Config{RootCAs: testPKI.pool},
		DialContext:       (&net.Dialer{Control: smallBuffers(syscall.SO_SNDBUF)}).DialContext,
	}
	defer tr.CloseIdleConnections()
	c, err := NewClient(testID, testSecret, WithBaseURL(srv.URL()), WithHTTPClient(&http.Client{Transport: tr}))
	require.NoError(t, err)

	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, "warm-up")
	require.NoError(t, err, "the warm-up opens the one HTTP/2 connection")

	// Long purposes fill the stalled socket quickly.
	pad := strings.Repeat("p", 300)
	errs := make([]error, calls)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			_, errs[i] = c.GenerateOTP(ctx, validNumber, ConsentYes, fmt.Sprintf("call-%03d-%s", i, pad))
		}()
	}
	wg.Wait()
	<-srv.resumed
	// HTTP/2 keeps a connection's frames in order: once the server has
	// decoded a later request, it has decoded every earlier one.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = c.GenerateOTP(ctx, validNumber, ConsentYes, "final")
	require.NoError(t, err)
	<-srv.final
	assert.Equal(t, int32(1), srv.conns.Load(), "one connection: the order argument holds")

	srv.mu.Lock()
	defer srv.mu.Unlock()
	var notSent, falseNotSent, decoded int
	for i, err := range errs {
		require.Error(t, err, "the server answers none of them")
		seen := srv.decoded[fmt.Sprintf("call-%03d-%s", i, pad)]
		if seen {
			decoded++
		}
		if errors.Is(err, ErrNotSent) {
			notSent++
			if seen {
				falseNotSent++
			}
		}
	}
	t.Logf("%d calls: %d HEADERS decoded by the server, %d calls matched ErrNotSent, %d of them falsely",
		calls, decoded, notSent, falseNotSent)
	assert.Positive(t, decoded, "the stall let some requests through: the case is reproduced")
	assert.Less(t, decoded, calls, "the stall held some requests back: the case is reproduced")
	assert.Zero(t, falseNotSent, "a call matched ErrNotSent although the server decoded its request")
}
