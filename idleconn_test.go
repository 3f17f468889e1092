package deepvue

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// echoAfter is a raw HTTP/1.1 server that answers each request, then (in
// the same write, or a little later) sends bytes nobody asked for: the
// request line and headers it was sent, query and x-api-key included, as a
// misbehaving server or middlebox would. closed receives once per
// connection the client closed.
type echoAfter struct {
	ln      net.Listener
	chunked bool
	delay   time.Duration
	closed  chan struct{}
	wg      sync.WaitGroup
}

func newEchoAfter(t *testing.T, useTLS, chunked bool, delay time.Duration) *echoAfter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	if useTLS {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{testPKI.leaf}})
	}
	s := &echoAfter{ln: ln, chunked: chunked, delay: delay, closed: make(chan struct{}, 16)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.serve(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *echoAfter) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			s.closed <- struct{}{}
			return
		}
		var echo bytes.Buffer
		echo.WriteString("HTTP/1.1 200 OK\r\nX-Echo: " + req.Method + " " + req.URL.RequestURI() + "\r\n")
		_ = req.Header.Write(&echo)
		echo.WriteString("\r\n")
		body := successOTP
		if strings.Contains(req.URL.Path, "verify") {
			body = verifySuccessBody("")
		}
		var answer string
		if s.chunked {
			answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
				strconv.FormatInt(int64(len(body)), 16) + ";ext=1\r\n" + body + "\r\n0\r\nX-Trailer: t\r\n\r\n"
		} else {
			answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
		}
		if s.delay == 0 {
			_, _ = io.WriteString(c, answer+echo.String())
		} else {
			_, _ = io.WriteString(c, answer)
			time.Sleep(s.delay)
			_, _ = c.Write(echo.Bytes())
		}
	}
}

// TestUnsolicitedBytesNeverReachTheStandardLogger is issue 24 item 8's
// first leak: a server that sends bytes after its answer on a kept-alive
// connection made net/http print them ("Unsolicited response received on
// idle HTTP channel starting with ...") through the standard logger, with
// the Aadhaar number, OTP, mobile and API key of the request it echoes.
// Through the SDK's own transport, over HTTP/1.1 and TLS, with the bytes
// in the answer's last segment or later, after a Content-Length or a
// chunked body: nothing is printed, and the next call works on a new
// connection (before: 8 of 8 printed the values in clear).
func TestUnsolicitedBytesNeverReachTheStandardLogger(t *testing.T) {
	var logged syncBuffer
	prev, flags := log.Writer(), log.Flags()
	log.SetOutput(&logged)
	t.Cleanup(func() { log.SetOutput(prev); log.SetFlags(flags) })

	printed := 0
	for _, useTLS := range []bool{false, true} {
		for _, chunked := range []bool{false, true} {
			for _, delay := range []time.Duration{0, 30 * time.Millisecond} {
				srv := newEchoAfter(t, useTLS, chunked, delay)
				scheme := "http://"
				if useTLS {
					scheme = "https://"
				}
				c, err := NewClient(testID, testSecret, WithBaseURL(scheme+srv.ln.Addr().String()))
				require.NoError(t, err)
				before := logged.String()
				req := validVerifyRequest()
				req.MobileNumber = testMobile
				_, err = c.VerifyOTP(context.Background(), req)
				require.NoError(t, err)
				waitClosed(t, srv)
				_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
				require.NoError(t, err, "the next call, on a new connection")
				waitClosed(t, srv)
				require.NoError(t, c.Close())
				out := strings.TrimPrefix(logged.String(), before)
				if strings.Contains(out, "Unsolicited") {
					printed++
				}
				assert.NotContains(t, out, "Unsolicited", "tls=%v chunked=%v delay=%v", useTLS, chunked, delay)
				for _, s := range append(sensitive, "aadhaar_number=", "otp=") {
					assert.NotContains(t, out, s, "tls=%v chunked=%v delay=%v", useTLS, chunked, delay)
				}
			}
		}
	}
	t.Logf("cases whose bytes net/http printed: %d of 8", printed)
}

// waitClosed waits until the client closed one connection to srv.
func waitClosed(t *testing.T, srv *echoAfter) {
	t.Helper()
	select {
	case <-srv.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the client kept the connection that received unsolicited bytes")
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestFramerFollowsEveryAnswerShape: the framing of the idle-connection
// guard reads, split at every byte, every shape of answer net/http reads
// (Content-Length, chunked with extensions and trailers, interim 1xx, HEAD
// and 204/304 with a Content-Length, no length), hands out every byte of
// them, and catches exactly the first byte past the end.
func TestFramerFollowsEveryAnswerShape(t *testing.T) {
	tests := []struct {
		name, req, resp string
		pass            bool // read until close: everything passes
	}{
		{"content-length", "POST /x HTTP/1.1\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false},
		{"bare LF", "POST /x HTTP/1.1\r\n", "HTTP/1.1 200 OK\nContent-Length: 2\n\nhi", false},
		{"zero length", "POST /x HTTP/1.1\r\n", "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n", false},
		{"chunked", "POST /x HTTP/1.1\r\n", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n" +
			"5;x=y\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer: 1\r\n\r\n", false},
		{"interim 103 then 200", "POST /x HTTP/1.1\r\n", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", false},
		{"HEAD with a length", "HEAD /x HTTP/1.1\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n", false},
		{"204 with a length", "POST /x HTTP/1.1\r\n", "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", false},
		{"304", "GET /x HTTP/1.1\r\n", "HTTP/1.1 304 Not Modified\r\n\r\n", false},
		{"no length", "POST /x HTTP/1.1\r\n", "HTTP/1.1 200 OK\r\n\r\nuntil close", true},
		{"HTTP/1.0 chunked header ignored", "POST /x HTTP/1.1\r\n", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nuntil close", true},
		{"two lengths", "POST /x HTTP/1.1\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", true},
		{"gzip transfer coding", "POST /x HTTP/1.1\r\n", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx", true},
		{"switching protocols", "GET /x HTTP/1.1\r\n", "HTTP/1.1 101 Switching Protocols\r\n\r\nanything", true},
		{"CONNECT", "CONNECT host:443 HTTP/1.1\r\n", "HTTP/1.1 200 OK\r\n\r\n\x16\x03\x01", true},
		{"not HTTP", "\x16\x03\x01\x00", "\x16\x03\x03 binary", true},
	}
	for _, tt := range tests {
		stream := tt.resp + tt.resp // two answers, a request before each
		for split := 0; split <= len(tt.resp); split++ {
			var f respFramer
			f.request([]byte(tt.req))
			got := f.feed([]byte(tt.resp[:split]))
			got += f.feed([]byte(tt.resp[split:]))
			require.Equal(t, len(tt.resp), got, "%s split at %d", tt.name, split)
			if tt.pass {
				assert.Equal(t, 3, f.feed([]byte("xyz")), "%s: passes everything", tt.name)
				continue
			}
			require.Equal(t, frameIdle, f.state, "%s split at %d: the answer ended", tt.name, split)
			assert.Zero(t, f.feed([]byte("H")), "%s: a byte while idle", tt.name)
			// The same answer, the second one on the connection, with a
			// byte past its end in the same read.
			f.request([]byte(tt.req))
			assert.Equal(t, len(tt.resp), f.feed([]byte(stream[len(tt.resp):]+"!")), "%s: stops at the end", tt.name)
		}
	}
}

// feedByteWise is feed as it was first written, a byte at a time: the
// reference the line-at-a-time feed is held to.
func (f *respFramer) feedByteWise(p []byte) int {
	i := 0
	for i < len(p) {
		switch f.state {
		case framePass:
			return len(p)
		case frameIdle:
			return i
		case frameBody, frameChunkData:
			take := min(int64(len(p)-i), f.remain)
			i += int(take)
			f.remain -= take
			if f.remain == 0 {
				if f.state == frameBody {
					f.state = frameIdle
				} else {
					f.state, f.n = frameChunkEnd, 0
				}
			}
		default:
			c := p[i]
			i++
			if c != '\n' {
				if f.n < len(f.line) {
					f.line[f.n] = c
				}
				f.n++
				if f.state != frameHead && f.n > maxFrameLine {
					f.state = framePass
				}
				continue
			}
			f.endLine()
		}
	}
	return i
}

// TestFramerMatchesByteWise: feed, which takes a line's bytes at once,
// frames as the byte-at-a-time reference does: 500 random answers (the
// shapes above, with long head lines, long and malformed chunk lines,
// bytes removed, doubled or changed, and extra bytes after), each read in
// random pieces, give the same counts and the same state after each read.
func TestFramerMatchesByteWise(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(26, 1))
	shapes := []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nT: 1\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("a", 300) + "\r\nContent-Length: 2\r\n\r\nhi",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + strings.Repeat("0", 5000) + "5\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n" + strings.Repeat("t", 4100) + "\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 2\n\nhi",
	}
	reqs := []string{"POST /x HTTP/1.1\r\n", "HEAD /x HTTP/1.1\r\n"}
	for n := 0; n < 500; n++ {
		b := []byte(shapes[rng.IntN(len(shapes))])
		for k := rng.IntN(3); k > 0; k-- { // mutate
			i := rng.IntN(len(b))
			switch rng.IntN(3) {
			case 0:
				b = append(b[:i:i], b[i+1:]...)
			case 1:
				b = append(b[:i+1:i+1], b[i:]...)
			default:
				b[i] = "\r\n:0a9 xH;"[rng.IntN(10)]
			}
		}
		b = append(b, "HTTP/1.1 200"[:rng.IntN(12)]...)
		req := []byte(reqs[rng.IntN(len(reqs))])
		var got, want respFramer
		got.request(req)
		want.request(req)
		for i := 0; i < len(b); {
			j := min(len(b), i+1+rng.IntN(64))
			g, w := got.feed(b[i:j]), want.feedByteWise(b[i:j])
			require.Equal(t, w, g, "answer %q, read [%d:%d]", b, i, j)
			if got.state == framePass && want.state == framePass {
				got.n, want.n = 0, 0 // passing everything, a line's count no longer matters
			}
			require.Equal(t, want, got, "answer %q, read [%d:%d]", b, i, j)
			if g < j-i {
				break
			}
			i = j
		}
	}
}

// BenchmarkIdleGuardFraming is the idle-connection guard's cost per answer:
// the framing of a generate-otp answer as net/http reads it (its head, then
// its body, in two reads).
func BenchmarkIdleGuardFraming(b *testing.B) {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Thu, 01 Jan 2026 10:00:00 GMT\r\n" +
		"Content-Length: " + strconv.Itoa(len(successOTP)) + "\r\n\r\n" + successOTP)
	req := []byte("POST /v2/ekyc/aadhaar/generate-otp?aadhaar_number=234123412346 HTTP/1.1\r\n")
	split := len(resp) - len(successOTP)
	var f respFramer
	b.ReportAllocs()
	b.SetBytes(int64(len(resp)))
	for i := 0; i < b.N; i++ {
		f.request(req)
		if f.feed(resp[:split])+f.feed(resp[split:]) != len(resp) || f.state != frameIdle {
			b.Fatal("framing")
		}
	}
}
