package deepvue

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Conn is the server's side of one HTTP/2 connection that a test drives
// frame by frame: the Framer (to write RST_STREAM, GOAWAY...) and the
// connection's HPACK encoder, for answers.
type h2Conn struct {
	*http2.Framer
	hbuf bytes.Buffer
	enc  *hpack.Encoder
}

// answer writes a 200 with a JSON body on stream id: HEADERS (status,
// content-type, content-length) then one DATA frame that ends the stream.
func (h *h2Conn) answer(id uint32, body string) {
	h.hbuf.Reset()
	_ = h.enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
	_ = h.enc.WriteField(hpack.HeaderField{Name: "content-type", Value: "application/json"})
	_ = h.enc.WriteField(hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(len(body))})
	_ = h.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: h.hbuf.Bytes(), EndHeaders: true})
	_ = h.WriteData(id, true, []byte(body))
}

// serveH2Frames serves HTTP/2 on c (after TLS handshake and ALPN) by hand:
// it reads the client preface, writes SETTINGS, acknowledges the client's
// SETTINGS and PINGs, and hands each request's decoded headers to onStream,
// in the order the frames came, on this goroutine (so a callback that
// sleeps stops the reading). It returns when onStream returns false, when
// the client sends GOAWAY, or when a read fails.
func serveH2Frames(c net.Conn, onStream func(h *h2Conn, f *http2.MetaHeadersFrame) bool) {
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(c, preface); err != nil || string(preface) != http2.ClientPreface {
		return
	}
	h := &h2Conn{Framer: http2.NewFramer(c, c)}
	h.enc = hpack.NewEncoder(&h.hbuf)
	h.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if h.WriteSettings() != nil {
		return
	}
	for {
		f, err := h.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = h.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				_ = h.WritePing(true, f.Data)
			}
		case *http2.GoAwayFrame:
			return
		case *http2.MetaHeadersFrame:
			if !onStream(h, f) {
				return
			}
		}
	}
}

// newTLSServerH2 starts an httptest TLS server (the test CA) with handler,
// offering HTTP/2 when h2 is set, and returns it with a transport that
// trusts it and attempts HTTP/2 when h2 is set. Cleanup closes the
// transport's idle connections, then the server.
func newTLSServerH2(t *testing.T, h2 bool, handler http.Handler) (*httptest.Server, *http.Transport) {
	t.Helper()
	srv := httptest.NewUnstartedServer(handler)
	srv.EnableHTTP2 = h2
	srv.TLS = serverTLS()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	tr := &http.Transport{ForceAttemptHTTP2: h2, TLSClientConfig: &tls.Config{RootCAs: testPKI.pool}}
	t.Cleanup(tr.CloseIdleConnections)
	return srv, tr
}
