package redact

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Texts from below the SDK: what must be replaced, what must stay readable.

// TestNetworkErrorsStayReadable: addresses, ports and host names are kept as
// the network gave them; only a run that could be an Aadhaar number, or a
// value the call knows, is masked.
func TestNetworkErrorsStayReadable(t *testing.T) {
	sec := &Secrets{Number: validNumber, Secret: testSecret}
	for _, s := range []string{
		"dial tcp 203.0.113.100:9: connect: connection refused",
		"lookup production.deepvue.tech on 10.200.100.53:53: no such host",
		"dial tcp [2001:db8::1]:443: connect: network is unreachable",
		"read tcp 127.0.0.1:54321->127.0.0.1:44312: read: connection reset by peer",
		"dial tcp 192.168.100.200:65535: i/o timeout",
		"timestamp 1738332826135 request 123456789012",
	} {
		assert.Equal(t, s, sec.ScrubBelow(s, MaxBelowText))
	}
	// A value the call knows, in any spelling, even as an address.
	assert.Equal(t, "dial tcp XXXX XXXX 2346:9: refused", sec.ScrubBelow("dial tcp 234.123.412.346:9: refused", MaxBelowText))
	assert.Equal(t, "id XXXX XXXX 7058 and XXXX XXXX 7058", sec.ScrubBelow("id 9999 4105 7058 and 999941057058", MaxBelowText),
		"an unknown Aadhaar-like run, grouped or not")
	assert.Equal(t, "id 9999 4105 7059", sec.ScrubBelow("id 9999 4105 7059", MaxBelowText), "a wrong check digit is no Aadhaar number")
	assert.Equal(t, "id 9999 41057 058", sec.ScrubBelow("id 9999 41057 058", MaxBelowText), "nor are other groupings")
}

// TestSecretInEscapedForm: a client secret holding `"` or `\` is printed
// escaped by %q; it is masked in that form too.
func TestSecretInEscapedForm(t *testing.T) {
	sec := &Secrets{Secret: `live_"q\uote"_s3cr3t`}
	for _, s := range []string{
		`key live_"q\uote"_s3cr3t end`,
		`key "live_\"q\\uote\"_s3cr3t" end`,
		strconv.Quote(`key live_"q\uote"_s3cr3t end`),
	} {
		out := sec.ScrubText(s)
		assert.NotContains(t, out, "s3cr3t", "%q", s)
		out = sec.ScrubBelow(s, MaxBelowText)
		assert.NotContains(t, out, "s3cr3t", "%q", s)
	}
}

// TestRawServerLinesAreReplaced: Go 1.23's net/textproto appends a
// malformed header line to its error as it came, unquoted; that tail is
// replaced too, whatever Go release runs the SDK.
func TestRawServerLinesAreReplaced(t *testing.T) {
	var none *Secrets
	for _, tail := range rawTails {
		in := "net/http: HTTP/1.x transport connection broken: " + tail + "X-A: 482\x01913 \"2341\t2341"
		assert.Equal(t, "net/http: HTTP/1.x transport connection broken: "+tail+serverBytes, none.ScrubBelow(in, MaxBelowText))
	}
	quoted := `malformed MIME header line: "482\x01913" (context deadline exceeded)`
	assert.Equal(t, `malformed MIME header line: "[server bytes]" (context deadline exceeded)`, none.ScrubBelow(quoted, MaxBelowText))
}
