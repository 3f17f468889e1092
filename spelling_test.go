package deepvue

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/deepvue-go/deepvue/internal/oracle"
	"github.com/stretchr/testify/assert"
)

// The spelling corpus: every value a call must not let out, written the ways
// a server (or net/http quoting a server) can write it. The tests below send
// each spelling through a real call and read every text a caller can reach
// with an oracle (internal/oracle) that decodes Go's escapes and the digit
// forms on its own.

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
var spellSeps = []string{"\t", "\u00a0", "\x01", "\u200b", "\u2060", "\u00ad", "\u3164", " ", "-", `"`, `\`, "%20", "&nbsp;", "&#8203;"}

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

// leaks reports whether a person reads v in s (the Aadhaar number may keep
// its last four digits).
func leaks(s string, v spellValue) bool {
	d := v.digits
	if v.name == "number" {
		d = d[:8]
	}
	return strings.Contains(oracle.ReadDigits(s), d)
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
