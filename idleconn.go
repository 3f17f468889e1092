package deepvue

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
)

// The idle-connection guard of the SDK's own transport (NewTransport).
//
// net/http's HTTP/1.1 client reads each kept-alive connection while it is
// idle; bytes a server sends there, after the end of an answer, are printed
// by net/http through the standard logger ("Unsolicited response received
// on idle HTTP channel starting with %q"), a global the SDK must not touch
// and which nothing scrubs: a server that echoes the request after its
// answer puts the Aadhaar number, the OTP and the API key in the process's
// log. net/http prints only what its reader holds when the connection is
// idle. So the SDK's connections frame each HTTP/1.1 answer themselves (its
// status line, headers, and a Content-Length or chunked body): a read never
// hands net/http a byte past the end of the answer to the request written
// on it. A byte that arrives while no request is outstanding, or after the
// end of an answer, poisons the connection: every later read and write
// fails, net/http closes it without printing anything, and a request that
// would have been written on it is retried by net/http on a new connection
// (nothing of it was written). Whatever the framing cannot follow (an
// answer without a length, read until the connection closes; a CONNECT
// tunnel; a protocol switch; bytes that are not HTTP/1.1) is passed through
// untouched from then on: the guard never fails an answer net/http would
// read.

// errUnsolicited is what a poisoned connection returns.
var errUnsolicited = errors.New("deepvue: the server sent bytes on an idle connection; connection closed")

// idleGuardConn frames the HTTP/1.1 answers read on a connection.
type idleGuardConn struct {
	net.Conn
	mu       sync.Mutex
	f        respFramer
	poisoned bool
}

func newIdleGuardConn(c net.Conn) *idleGuardConn { return &idleGuardConn{Conn: c} }

// Read hands out the bytes of the answer being read, never one past its
// end.
func (c *idleGuardConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	poisoned := c.poisoned
	c.mu.Unlock()
	if poisoned {
		return 0, errUnsolicited
	}
	n, err := c.Conn.Read(p)
	if n <= 0 {
		return n, err
	}
	c.mu.Lock()
	k := c.f.feed(p[:n])
	if k < n {
		c.poisoned = true
	}
	c.mu.Unlock()
	if k < n {
		clear(p[k:n]) // the unsolicited bytes stay nowhere
		if k == 0 {
			return 0, errUnsolicited
		}
		return k, nil
	}
	return n, err
}

// Write tells the framing that a request is outstanding (at the first
// bytes written while idle).
func (c *idleGuardConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.poisoned {
		c.mu.Unlock()
		return 0, errUnsolicited
	}
	c.f.request(p)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// guardedDialer returns the SDK transport's dialers: plain connections
// (http://, and the first hop to a proxy) and TLS connections (https://
// without a proxy) framed by the idle-connection guard. The TLS dialer dials
// through tr.DialContext, read at each dial, so a caller who replaces it
// keeps their dialing; tr.TLSClientConfig and tr.TLSHandshakeTimeout are
// read at each dial too. An HTTP/2 connection (a caller who set
// ForceAttemptHTTP2) is not framed: HTTP/2 prints nothing of a server's
// bytes.
func guardedDialer(d *net.Dialer, tr *http.Transport) (plain, withTLS func(ctx context.Context, network, addr string) (net.Conn, error)) {
	plain = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return newIdleGuardConn(c), nil
	}
	withTLS = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dial := tr.DialContext
		if dial == nil {
			dial = d.DialContext
		}
		raw, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if g, ok := raw.(*idleGuardConn); ok {
			raw = g.Conn // TLS records are not HTTP: frame above TLS, not below
		}
		cfg := &tls.Config{}
		if tr.TLSClientConfig != nil {
			cfg = tr.TLSClientConfig.Clone()
		}
		if cfg.ServerName == "" {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				host = addr
			}
			cfg.ServerName = host
		}
		tc := tls.Client(raw, cfg)
		hctx := ctx
		if tr.TLSHandshakeTimeout > 0 {
			var cancel context.CancelFunc
			hctx, cancel = context.WithTimeout(ctx, tr.TLSHandshakeTimeout)
			defer cancel()
		}
		if err := tc.HandshakeContext(hctx); err != nil {
			raw.Close()
			return nil, err
		}
		if tc.ConnectionState().NegotiatedProtocol == "h2" {
			return tc, nil
		}
		return newIdleGuardConn(tc), nil
	}
	return plain, withTLS
}

// respFramer follows the HTTP/1.1 answers on one connection, as net/http
// reads them (net/http's transfer.go is the model): a status line and
// headers; no body for a HEAD request, a 1xx (another head follows), 204 or
// 304; else a chunked body (Transfer-Encoding: chunked, HTTP/1.1), a
// Content-Length body, or a body read until the connection closes
// (framePass).
type respFramer struct {
	state   frameState
	head    bool  // the outstanding request is HEAD
	first   bool  // the next line of the head is the status line
	status  int   // of the answer being read
	http10  bool  // the answer's version is HTTP/1.0
	clen    int64 // Content-Length, -1 if none
	chunked bool
	bad     bool  // a framing header net/http would refuse, or that could not be read
	remain  int64 // bytes left of the body or chunk
	line    [128]byte
	n       int // bytes of the current line (may exceed len(line))
}

type frameState uint8

const (
	frameIdle      frameState = iota // no request outstanding: any byte is unsolicited
	frameHead                        // the status line and headers
	frameBody                        // remain bytes of a Content-Length body
	frameChunkSize                   // a chunk-size line
	frameChunkData                   // remain bytes of chunk data
	frameChunkEnd                    // the line ending the chunk data
	frameTrailer                     // trailer lines, up to an empty one
	framePass                        // framing unknown: everything passes
)

// maxFrameLine bounds a chunk-size or trailer line (net/http: 4 KiB).
const maxFrameLine = 4096

// request notes the first bytes written while idle: a request's line.
func (f *respFramer) request(p []byte) {
	if f.state != frameIdle || len(p) == 0 {
		return
	}
	i := 0
	for i < len(p) && i < 16 && p[i] >= 'A' && p[i] <= 'Z' {
		i++
	}
	if i == 0 || i >= len(p) || p[i] != ' ' || bytes.Equal(p[:i], []byte("CONNECT")) {
		f.state = framePass // not a request line we can follow, or a tunnel
		return
	}
	*f = respFramer{state: frameHead, head: bytes.Equal(p[:i], []byte("HEAD")), first: true}
}

// feed follows p, read from the connection, and returns how many of its
// bytes belong to answers; the rest arrived after the end of one, with no
// request outstanding.
func (f *respFramer) feed(p []byte) int {
	i := 0
	for i < len(p) {
		switch f.state {
		case framePass:
			return len(p)
		case frameIdle:
			return i
		case frameBody, frameChunkData:
			take := int64(len(p) - i)
			if take > f.remain {
				take = f.remain
			}
			i += int(take)
			f.remain -= take
			if f.remain == 0 {
				if f.state == frameBody {
					f.state = frameIdle
				} else {
					f.state, f.n = frameChunkEnd, 0
				}
			}
		default: // a line: head, chunk size, chunk end, trailer
			// The line's bytes up to its "\n" (or all of p) at once: what
			// fits is kept, the rest counted.
			end := len(p)
			if j := bytes.IndexByte(p[i:], '\n'); j >= 0 {
				end = i + j
			}
			if f.n < len(f.line) {
				copy(f.line[f.n:], p[i:end])
			}
			f.n += end - i
			if f.state != frameHead && f.n > maxFrameLine {
				f.state = framePass // the rest of p passes
				continue
			}
			i = end
			if i < len(p) { // the "\n"
				i++
				f.endLine()
			}
		}
	}
	return i
}

// endLine acts on the line just ended (without its "\n"; a trailing "\r"
// is dropped).
func (f *respFramer) endLine() {
	n := f.n
	f.n = 0
	long := n > len(f.line)
	if long {
		n = len(f.line) // only a prefix was kept
	}
	line := f.line[:n]
	if !long && n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	switch f.state {
	case frameHead:
		f.headLine(line, long)
	case frameChunkSize:
		size, _, _ := bytes.Cut(line, []byte(";"))
		v, ok := parseUint(bytes.TrimRight(size, " \t"), 16)
		switch {
		case long || !ok:
			f.state = framePass
		case v == 0:
			f.state = frameTrailer
		default:
			f.state, f.remain = frameChunkData, v
		}
	case frameChunkEnd:
		f.state = frameChunkSize
	case frameTrailer:
		if len(line) == 0 && !long {
			f.state = frameIdle
		}
	}
}

// parseUint reads b, digits in base 10 or 16 only, as a value below 2^62.
func parseUint(b []byte, base int64) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		d := int64(hexDigit(c))
		if d >= base {
			return 0, false
		}
		v = v*base + d
	}
	return v, true
}

// hexDigit returns the value of a hex digit, 16 for any other byte.
func hexDigit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return 16
}

// headLine acts on one line of an answer's head.
func (f *respFramer) headLine(line []byte, long bool) {
	if f.first {
		f.first = false
		// "HTTP/1.1 200 OK"
		if long || len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
			f.state = framePass
			return
		}
		code, ok := parseUint(line[9:12], 10)
		if !ok {
			f.state = framePass
			return
		}
		f.status, f.http10, f.clen, f.chunked, f.bad = int(code), line[7] == '0', -1, false, false
		return
	}
	if long {
		// Only a prefix was kept: a framing header that long cannot be read.
		if hasPrefixFold(line, "content-length") || hasPrefixFold(line, "transfer-encoding") {
			f.bad = true
		}
		return
	}
	if len(line) > 0 {
		if line[0] == ' ' || line[0] == '\t' {
			f.bad = true // a folded header: net/http may read it otherwise
			return
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return
		}
		name = bytes.TrimSpace(name) // the value only for the two headers that frame
		switch {
		case len(name) == len("Content-Length") && hasPrefixFold(name, "content-length"):
			v, ok := parseUint(bytes.TrimSpace(value), 10)
			if !ok || (f.clen >= 0 && f.clen != v) {
				f.bad = true
			}
			f.clen = v
		case len(name) == len("Transfer-Encoding") && hasPrefixFold(name, "transfer-encoding"):
			value = bytes.TrimSpace(value)
			if f.chunked || len(value) != len("chunked") || !hasPrefixFold(value, "chunked") {
				f.bad = true
			}
			f.chunked = true
		}
		return
	}
	// The end of the head.
	switch {
	case f.status == http.StatusSwitchingProtocols:
		f.state = framePass
	case f.status >= 100 && f.status < 200:
		f.first = true // an interim answer: the final one follows
	case f.head || f.status == http.StatusNoContent || f.status == http.StatusNotModified:
		f.state = frameIdle
	case f.bad:
		f.state = framePass
	case f.chunked && !f.http10:
		f.state = frameChunkSize
	case f.clen > 0:
		f.state, f.remain = frameBody, f.clen
	case f.clen == 0:
		f.state = frameIdle
	default:
		f.state = framePass // read until the connection closes
	}
}

// hasPrefixFold reports whether b begins with lower (lower-case ASCII),
// in any case.
func hasPrefixFold(b []byte, lower string) bool {
	if len(b) < len(lower) {
		return false
	}
	for i := 0; i < len(lower); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
