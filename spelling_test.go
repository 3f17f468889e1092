package deepvue

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
)

// The spelling corpus: every value a call must not let out, written the ways
// a server (or net/http quoting a server) can write it. The tests below send
// each spelling through a real call and read every text a caller can reach
// with an oracle that decodes Go's escapes and the digit forms on its own.

// spellValue is a sensitive value and the groups a person writes it in.
type spellValue struct {
	name   string
	digits string
	groups []int
}

var spellValues = []spellValue{
	{"number", validNumber, []int{4, 4, 4}},
	{"otp", testOTP, []int{3, 3}},
	{"mobile", testMobile, []int{5, 5}},
}

// spellForms write a digit 0-9.
var spellForms = map[string]func(d byte) string{
	"ascii":       func(d byte) string { return string(rune('0' + d)) },
	"fullwidth":   func(d byte) string { return string(rune('０' + rune(d))) },
	"devanagari":  func(d byte) string { return string(rune('०' + rune(d))) },
	"superscript": func(d byte) string { return string([]rune("⁰¹²³⁴⁵⁶⁷⁸⁹")[d]) },
	"circled":     func(d byte) string { return string([]rune("⓪①②③④⑤⑥⑦⑧⑨")[d]) },
}

// spellSeps go between groups (or between every digit): whitespace, control
// characters, invisible code points (one of them a "letter" to Unicode), and
// the characters %q escapes.
var spellSeps = []string{"\t", "\u00a0", "\x01", "\u200b", "\u2060", "\u00ad", "\u3164", " ", "-", `"`, `\`}

// spelling is one way to write one value.
type spelling struct {
	value    spellValue
	text     string
	desc     string
	grouped  bool // contiguous or in its usual groups (else a separator between every digit)
	asciiRun bool // contiguous ASCII digits: an identifier may hold it
}

func spell(v spellValue, form func(byte) string, sep string, perDigit bool) string {
	var b strings.Builder
	cut := map[int]bool{}
	at := 0
	for _, g := range v.groups[:len(v.groups)-1] {
		at += g
		cut[at] = true
	}
	for i := 0; i < len(v.digits); i++ {
		if i > 0 && (perDigit || cut[i]) {
			b.WriteString(sep)
		}
		b.WriteString(form(v.digits[i] - '0'))
	}
	return b.String()
}

// spellings returns the corpus for v: each form contiguous, and with each
// separator between its groups and between every digit. With few, only
// ASCII, full-width and superscript digits and five separators (for tests
// that open a connection per spelling).
func spellings(v spellValue, few bool) []spelling {
	var out []spelling
	forms, seps := []string{"ascii", "fullwidth", "devanagari", "superscript", "circled"}, spellSeps
	if few {
		forms, seps = []string{"ascii", "fullwidth", "superscript"}, []string{"\t", "\u00a0", "\x01", "\u3164", " "}
	}
	for _, fn := range forms {
		f := spellForms[fn]
		out = append(out, spelling{v, spell(v, f, "", false), fn, true, fn == "ascii"})
		for _, sep := range seps {
			out = append(out, spelling{v, spell(v, f, sep, false), fmt.Sprintf("%s grouped by %q", fn, sep), true, false})
			if !few {
				out = append(out, spelling{v, spell(v, f, sep, true), fmt.Sprintf("%s, %q between digits", fn, sep), false, false})
			}
		}
	}
	return out
}

var oracleEscape = regexp.MustCompile(`\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|[abfnrtv\\"])`)

// readDigits is how a person reads the digits in s: Go's escapes decoded,
// the digit forms of spellForms read as digits, letters (but for the
// invisible Hangul filler) breaking a number, everything else skipped.
func readDigits(s string) string {
	s = oracleEscape.ReplaceAllStringFunc(s, func(m string) string {
		r, _, _, err := strconv.UnquoteChar(m, '"')
		if err != nil {
			return m
		}
		return string(r)
	})
	var b strings.Builder
	for _, r := range s {
		switch d, ok := scriptDigit(r); {
		case ok:
			b.WriteByte(d)
		case strings.ContainsRune("⁰¹²³⁴⁵⁶⁷⁸⁹", r):
			b.WriteByte('0' + byte(strings.Index("⁰¹²³⁴⁵⁶⁷⁸⁹", string(r))/len("⁰")))
		case strings.ContainsRune("⓪①②③④⑤⑥⑦⑧⑨", r):
			b.WriteByte('0' + byte(strings.Index("⓪①②③④⑤⑥⑦⑧⑨", string(r))/len("⓪")))
		case r == '\u3164':
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteByte('|')
		}
	}
	return b.String()
}

// leaks reports whether a person reads v in s (the Aadhaar number may keep
// its last four digits).
func leaks(s string, v spellValue) bool {
	d := v.digits
	if v.name == "number" {
		d = d[:8]
	}
	return strings.Contains(readDigits(s), d)
}

// reachableTexts is every text a caller can get from err and its chain, and
// from the Debug records in logs.
func reachableTexts(err error, logs string) []string {
	texts := []string{logs}
	for _, verb := range []string{"%v", "%+v", "%#v", "%q"} {
		texts = append(texts, fmt.Sprintf(verb, err))
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		texts = append(texts, e.Error(), fmt.Sprintf("%#v", e))
	}
	var ne net.Error
	if errors.As(err, &ne) {
		texts = append(texts, ne.Error(), fmt.Sprintf("%#v", ne))
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		texts = append(texts, ue.Error(), fmt.Sprintf("%#v", ue), fmt.Sprintf("%#v", ue.Err))
	}
	var ae *APIError
	if errors.As(err, &ae) {
		texts = append(texts, ae.Error(), fmt.Sprintf("%#v", *ae), ae.SubCode, ae.Message, ae.Detail, ae.TransactionID, ae.ReferenceID)
	}
	var te interface{ Timeout() bool }
	if errors.As(err, &te) {
		texts = append(texts, fmt.Sprintf("%#v", te))
	}
	return texts
}

// leakCount counts, and reports, the spellings that leaked.
type leakCount struct {
	tried, leaked int
	examples      []string
}

func (l *leakCount) check(t *testing.T, where string, sp spelling, err error, logs string) {
	t.Helper()
	l.tried++
	for _, text := range reachableTexts(err, logs) {
		if leaks(text, sp.value) {
			l.leaked++
			if len(l.examples) < 5 {
				l.examples = append(l.examples, fmt.Sprintf("%s, %s %s: %q", where, sp.value.name, sp.desc, text))
			}
			return
		}
	}
}

func (l *leakCount) report(t *testing.T, what string) {
	t.Helper()
	t.Logf("%s: %d of %d spellings leaked", what, l.leaked, l.tried)
	assert.Zero(t, l.leaked, "%s: leaking spellings, for example:\n%s", what, strings.Join(l.examples, "\n"))
}

// knows reports whether the call named call is given v.
func knows(call string, v spellValue) bool {
	if call == "GenerateOTP" {
		return v.name == "number"
	}
	return v.name != "number" // VerifyOTP: the OTP and the mobile number
}

// transportPlaces are the parts of an HTTP/1.1 answer that net/http quotes
// in its error when it cannot parse them, with the kind of fault it names.
var transportPlaces = []struct {
	name, fault string
	answer      func(v string) string
}{
	{"status code", "malformed HTTP status code", func(v string) string { return "HTTP/1.1 " + v + " OK\r\n\r\n" }},
	{"HTTP version", "malformed HTTP version", func(v string) string { return "HTTP/" + v + " 200 OK\r\n\r\n" }},
	{"Content-Length", "bad Content-Length", func(v string) string {
		return "HTTP/1.1 200 OK\r\nContent-Length: " + v + "\r\n\r\n"
	}},
	{"Transfer-Encoding", "unsupported transfer encoding:", func(v string) string {
		return "HTTP/1.1 200 OK\r\nTransfer-Encoding: " + v + "\r\n\r\n"
	}},
	{"header line", "malformed MIME header: missing colon:", func(v string) string {
		return "HTTP/1.1 200 OK\r\nX-A: 1\r\n" + v + "\r\n\r\n"
	}},
}

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
		assert.NotContains(t, readDigits(e.Error()), "23412341", "%q", e.Error())
	}
	c, mt := mockClient(t)
	mt.RegisterResponder(http.MethodPost, verURL, jsonResponder(400, `{"sub_code":"AADHAAR_2341_2341","message":"2346 not linked"}`))
	_, err := c.VerifyOTP(context.Background(), validVerifyRequest())
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.NotContains(t, readDigits(err.Error()), "23412341", "%q", err.Error())
	assert.Equal(t, "AADHAAR_XXXX_XXXX", ae.SubCode, "an id holding a spelled number is masked")
}

// TestIdentifiersThatAreNotIdentifiers: an id field holding what an id does
// not is masked in the field, in Error() and in the Debug record; Deepvue's
// ids, a UUID and a digit reference id stay intact.
func TestIdentifiersThatAreNotIdentifiers(t *testing.T) {
	var none *secrets
	for in, want := range map[string]string{
		"12815fb81c084fb7a35eedc0ef1c5a84":     "12815fb81c084fb7a35eedc0ef1c5a84",
		"b51a55adb999941057058f49e48d2307":     "b51a55adb999941057058f49e48d2307", // a valid Aadhaar number inside a hex id
		"f6efc218-742a-405c-8dd6-5cf19c13b878": "f6efc218-742a-405c-8dd6-5cf19c13b878",
		"29756208":                             "29756208",
		"tx-source":                            "tx-source",
		"VERIFICATION_PENDING":                 "VERIFICATION_PENDING",
		"2341-2341-2346":                       "XXXX-XXXX-XXXX",
		"२३४१२३४१२३४६":                         "XXXXXXXXXXXX",
		"999941057058":                         "XXXXXXXXXXXX", // the whole id is an Aadhaar number
		"99994105705":                          "99994105705",
		"98765 43210":                          "XXXXX XXXXX",
		"482.913":                              "XXX.XXX",
		"tx-²³⁴":                               "tx-XXX",
		"AADHAAR_2341_2341":                    "AADHAAR_XXXX_XXXX",
	} {
		assert.Equal(t, want, none.scrubIdent(in, 128), "%q", in)
	}

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

// TestNetworkErrorsStayReadable: addresses, ports and host names are kept as
// the network gave them; only a run that could be an Aadhaar number, or a
// value the call knows, is masked.
func TestNetworkErrorsStayReadable(t *testing.T) {
	sec := &secrets{number: validNumber, secret: testSecret}
	for _, s := range []string{
		"dial tcp 203.0.113.100:9: connect: connection refused",
		"lookup production.deepvue.tech on 10.200.100.53:53: no such host",
		"dial tcp [2001:db8::1]:443: connect: network is unreachable",
		"read tcp 127.0.0.1:54321->127.0.0.1:44312: read: connection reset by peer",
		"dial tcp 192.168.100.200:65535: i/o timeout",
		"timestamp 1738332826135 request 123456789012",
	} {
		assert.Equal(t, s, sec.scrubBelow(s, maxBelowText))
	}
	// A value the call knows, in any spelling, even as an address.
	assert.Equal(t, "dial tcp XXX.XXX.XX2.346:9: refused", sec.scrubBelow("dial tcp 234.123.412.346:9: refused", maxBelowText))
	assert.Equal(t, "id XXXX XXXX 7058 and XXXXXXXX7058", sec.scrubBelow("id 9999 4105 7058 and 999941057058", maxBelowText),
		"an unknown Aadhaar-like run, grouped or not")
	assert.Equal(t, "id 9999 4105 7059", sec.scrubBelow("id 9999 4105 7059", maxBelowText), "a wrong check digit is no Aadhaar number")
	assert.Equal(t, "id 9999 41057 058", sec.scrubBelow("id 9999 41057 058", maxBelowText), "nor are other groupings")
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

// TestSecretInEscapedForm: a client secret holding `"` or `\` is printed
// escaped by %q; it is masked in that form too.
func TestSecretInEscapedForm(t *testing.T) {
	sec := &secrets{secret: `live_"q\uote"_s3cr3t`}
	for _, s := range []string{
		`key live_"q\uote"_s3cr3t end`,
		`key "live_\"q\\uote\"_s3cr3t" end`,
		strconv.Quote(`key live_"q\uote"_s3cr3t end`),
	} {
		out := sec.scrubText(s)
		assert.NotContains(t, out, "s3cr3t", "%q", s)
		out = sec.scrubBelow(s, maxBelowText)
		assert.NotContains(t, out, "s3cr3t", "%q", s)
	}
}

// TestRawServerLinesAreReplaced: Go 1.23's net/textproto appends a
// malformed header line to its error as it came, unquoted; that tail is
// replaced too, whatever Go release runs the SDK.
func TestRawServerLinesAreReplaced(t *testing.T) {
	var none *secrets
	for _, tail := range rawTails {
		in := "net/http: HTTP/1.x transport connection broken: " + tail + "X-A: 482\x01913 \"2341\t2341"
		assert.Equal(t, "net/http: HTTP/1.x transport connection broken: "+tail+serverBytes, none.scrubBelow(in, maxBelowText))
	}
	quoted := `malformed MIME header line: "482\x01913" (context deadline exceeded)`
	assert.Equal(t, `malformed MIME header line: "[server bytes]" (context deadline exceeded)`, none.scrubBelow(quoted, maxBelowText))
}

// TestDigitOraclesReadEveryScript: the oracles the leak tests and fuzz
// targets judge by read each digit script and escape they generate, so a
// broken oracle cannot pass every leak test by seeing nothing.
func TestDigitOraclesReadEveryScript(t *testing.T) {
	for _, zero := range digitScripts {
		var s strings.Builder
		for _, d := range "234123412346" {
			s.WriteRune(zero + d - '0')
			s.WriteString(" - ")
		}
		assert.Equal(t, "234123412346", oracleDigits(s.String()), "script %U", zero)
		assert.Equal(t, "234123412346", readDigits(s.String()), "script %U", zero)
	}
	assert.Equal(t, "2341", readDigits(`2\u0033\x34¹`))
	assert.Equal(t, "12", readDigits("①②"))
}
