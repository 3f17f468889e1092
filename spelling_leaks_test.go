package deepvue

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue/internal/oracle"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
)

// TestServerBytesNeverLeakFromTransportErrors: a real server over a raw TCP
// listener answers with the value spelled (tabs, no-break spaces, control
// characters, an invisible filler between its groups; ASCII, full-width and
// superscript digits) in a status line, an HTTP version, a Content-Length,
// a Transfer-Encoding or a header line. net/http quotes what it could not
// parse; no link of the error chain, no %#v of what errors.As hands out and
// no log record may let a person read the value, for the number, the OTP
// and the mobile number, on both calls, whether the call knows the value or
// not. The kind of fault stays readable.
func TestServerBytesNeverLeakFromTransportErrors(t *testing.T) {
	// Parallel: it runs beside the long rate tests, which mostly wait.
	t.Parallel()
	var count leakCount
	for _, pc := range publicCalls {
		for _, place := range transportPlaces {
			for _, v := range spellValues {
				for _, sp := range spellings(v, true) {
					answer := place.answer(sp.text)
					srv := newRawServer(t, func(s *rawServer, c *net.TCPConn) {
						if s.readRequest(c) {
							_, _ = io.WriteString(c, answer)
						}
					})
					var logs logBuffer
					c, err := NewClient(testID, testSecret, WithBaseURL(srv.URL()), WithLogger(logs.logger()), WithRetryMax(0))
					require.NoError(t, err)
					_, err = pc.call(context.Background(), c)
					c.CloseIdleConnections()
					require.Error(t, err)
					where := pc.name + " " + place.name
					count.check(t, where, sp, err, logs.String())
					if strings.Contains(sp.desc, `grouped by "\t"`) && sp.value.name != "otp" {
						assert.Contains(t, err.Error(), place.fault+` "[server bytes]"`, "%s: the kind of fault is kept", where)
					}
				}
			}
		}
	}
	count.report(t, "transport errors")
}

// apiPlaces are the fields of an error answer a server fills, and whether
// each is an identifier.
var apiPlaces = []struct {
	name  string
	ident bool
	body  func(v string) map[string]string
}{
	{"message", false, func(v string) map[string]string {
		return map[string]string{"sub_code": "INVALID_INPUT", "message": "UID " + v + " is invalid"}
	}},
	{"detail", false, func(v string) map[string]string { return map[string]string{"detail": "no such UID " + v} }},
	{"transaction_id", true, func(v string) map[string]string {
		return map[string]string{"sub_code": "INVALID_INPUT", "transaction_id": v}
	}},
	{"reference_id", true, func(v string) map[string]string {
		return map[string]string{"sub_code": "AADHAAR_MOBILE_NOT_LINKED", "reference_id": v}
	}},
	{"sub_code", true, func(v string) map[string]string { return map[string]string{"sub_code": "E_" + v} }},
}

// mustMask says whether the SDK promises to mask sp in place: a value the
// call knows, always; in an identifier, anything that is not a run of ASCII
// digits (an id may be one); in free text, a number that could be an Aadhaar
// number (contiguous or grouped 4-4-4).
func mustMask(call string, ident bool, sp spelling) bool {
	switch {
	case knows(call, sp.value):
		return true
	case ident:
		return !sp.asciiRun
	default:
		return sp.value.name == "number" && sp.grouped
	}
}

// TestServerBytesNeverLeakFromAPIErrors sends the whole corpus (five digit
// forms, eleven separators, grouped and between every digit) in each field
// of an error answer, on both calls, and reads every field of the
// *APIError, its Error(), its %#v and the Debug log record.
func TestServerBytesNeverLeakFromAPIErrors(t *testing.T) {
	// Parallel: it runs beside the long rate tests, which mostly wait.
	t.Parallel()
	var count leakCount
	for _, pc := range publicCalls {
		for _, place := range apiPlaces {
			for _, v := range spellValues {
				for _, sp := range spellings(v, false) {
					if !mustMask(pc.name, place.ident, sp) {
						continue
					}
					body, err := json.Marshal(place.body(sp.text))
					require.NoError(t, err)
					var logs logBuffer
					c, mt := mockClient(t, WithLogger(logs.logger()))
					mt.RegisterNoResponder(jsonResponder(400, string(body)))
					_, err = pc.call(context.Background(), c)
					require.Error(t, err)
					count.check(t, pc.name+" "+place.name, sp, err, logs.String())
				}
			}
		}
	}
	count.report(t, "API errors")
}

// TestAPIErrorTextIsScrubbedWhole: fields scrubbed one by one can join into
// a number in Error(); an *APIError built by hand is scrubbed too.
func TestAPIErrorTextIsScrubbedWhole(t *testing.T) {
	for _, e := range []*APIError{
		{StatusCode: 400, SubCode: "AADHAAR_2341_2341", Message: "2346 not linked"},
		{StatusCode: 400, SubCode: "AADHAAR_2341", Message: "2341 2346 not linked"},
		{StatusCode: 400, Message: "UID ²³⁴¹ ²³⁴¹ ²³⁴⁶"},
		{StatusCode: 400, Detail: "UID 2341\u31642341\u31642346"},
		{StatusCode: 400, Message: "x", TransactionID: "2341-2341-2346"},
	} {
		assert.NotContains(t, oracle.ReadDigits(e.Error()), "23412341", "%q", e.Error())
	}
	c, mt := mockClient(t)
	mt.RegisterResponder(http.MethodPost, verURL, jsonResponder(400, `{"sub_code":"AADHAAR_2341_2341","message":"2346 not linked"}`))
	_, err := c.VerifyOTP(context.Background(), validVerifyRequest())
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.NotContains(t, oracle.ReadDigits(err.Error()), "23412341", "%q", err.Error())
	assert.Equal(t, "AADHAAR_XXXX_XXXX", ae.SubCode, "an id holding a spelled number is masked")
}

// TestIdentifiersThatAreNotIdentifiers: an id field holding what an id does
// not is masked in the field, in Error() and in the Debug record (the rule
// itself: TestScrubIdentMasksWhatIsNoIdentifier in internal/redact).
func TestIdentifiersThatAreNotIdentifiers(t *testing.T) {
	var logs logBuffer
	c, mt := mockClient(t, WithLogger(logs.logger()))
	mt.RegisterResponder(http.MethodPost, verURL, jsonResponder(400,
		`{"sub_code":"INVALID_INPUT","transaction_id":"2341-2341-2346","reference_id":"२३४१२३४१२३४६"}`))
	_, err := c.VerifyOTP(context.Background(), validVerifyRequest())
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "XXXX-XXXX-XXXX", ae.TransactionID)
	assert.Equal(t, "XXXXXXXXXXXX", ae.ReferenceID)
	assertNoLeak(t, err, "2341-2341-2346", "२३४१")
	assert.NotContains(t, logs.String(), "2341-2341")
	assert.NotContains(t, logs.String(), "२३४१")
	assert.Contains(t, logs.String(), "XXXX-XXXX-XXXX")
}

// TestClientErrorStaysReadableOverTheNetwork: a refused connection's text
// names the address and port.
func TestClientErrorStaysReadableOverTheNetwork(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	c, err := NewClient(testID, testSecret, WithBaseURL("http://"+addr))
	require.NoError(t, err)
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "dial tcp "+addr+": connect: connection refused")
}

// TestGoAwayDebugDataNeverLeaks: an HTTP/2 server closes the connection
// with a GOAWAY whose debug data spells the value with tabs and no-break
// spaces; Go quotes the debug data in the error. Through net/http's and
// x/net's HTTP/2 transports, on both calls, nothing of it can be read, and
// errors.As never hands out the GOAWAY error itself.
func TestGoAwayDebugDataNeverLeaks(t *testing.T) {
	// Parallel: it runs beside the long rate tests, which mostly wait.
	t.Parallel()
	debug := make(chan string, 1)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverTLS("h2"))
	require.NoError(t, err)
	srv := serveConns(t, ln, func(nc net.Conn) {
		c := nc.(*tls.Conn)
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		if c.Handshake() != nil {
			return
		}
		serveH2Frames(c, func(h *h2Conn, f *http2.MetaHeadersFrame) bool {
			// The stream is within LastStreamID: it fails with the
			// GOAWAY's error (debug data included) when the connection
			// closes, instead of being retried.
			_ = h.WriteGoAway(f.StreamID, http2.ErrCodeProtocol, []byte(<-debug))
			return false
		})
	})
	var count leakCount
	for name, newRT := range callerTransports() {
		for _, pc := range publicCalls {
			for _, v := range spellValues {
				for _, sp := range spellings(v, true) {
					rt := newRT()
					c, err := NewClient(testID, testSecret, WithBaseURL("https://"+srv.ln.Addr().String()),
						WithHTTPClient(&http.Client{Transport: rt}), WithRetryMax(0))
					require.NoError(t, err)
					debug <- "bye " + sp.text
					_, err = pc.call(context.Background(), c)
					closeIdle(rt)
					require.Error(t, err)
					count.check(t, name+" "+pc.name, sp, err, "")
					assert.Contains(t, err.Error(), "GOAWAY")
					//lint:ignore SA1019 deprecated upstream, yet x/net's transport still returns it: it must never be handed out
					var ge http2.GoAwayError
					assert.False(t, errors.As(err, &ge), "the GOAWAY error holds the debug data")
				}
			}
		}
	}
	count.report(t, "GOAWAY debug data")
}
