package deepvue

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

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
