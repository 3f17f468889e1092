package deepvuetest

import (
	"net"
	"net/http"
)

// ConnectionReset is an Answer that resets the connection after the
// request was read: the caller sees a connection reset (HTTP/1.1) or a reset
// stream (HTTP/2) and cannot know whether its request was acted on; for
// GenerateOTP, whether an SMS went out. It is not counted by SMSSent.
var ConnectionReset = Answer{Reset: true}

// resetConnection ends the request's connection with a TCP RST (HTTP/1.1)
// or resets its stream (HTTP/2, which cannot hand its connection over).
func resetConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			if tc, ok := conn.(interface{ NetConn() net.Conn }); ok {
				conn = tc.NetConn() // under TLS: reset the TCP connection, no close_notify
			}
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // close sends RST, not FIN
			}
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // net/http resets the stream and logs nothing
}
