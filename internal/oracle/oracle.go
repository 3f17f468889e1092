// Package oracle is how the tests read digits: independent of the scrubber
// (it shares no code with internal/redact), it decodes Go's escapes,
// percent-encoding (net/url) and HTML character references (html) and
// reads the digit forms the tests write, as a person would. The leak tests
// of the core and the fuzz targets of internal/redact judge the scrubber's
// output by it. Only tests import it.
package oracle

import (
	"html"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// Scripts spell the digits 0-9 in ASCII, full-width and Devanagari: each
// is the script's zero.
var Scripts = []rune{'0', '０', '०'}

// ScriptDigit reads r as a digit of Scripts: the ASCII digit, and whether r
// is one.
func ScriptDigit(r rune) (byte, bool) {
	for _, zero := range Scripts {
		if r >= zero && r <= zero+9 {
			return byte('0' + r - zero), true
		}
	}
	return 0, false
}

// ScriptDigits is an independent reading of s for FuzzScrubKnownValues:
// digits of the three scripts become ASCII, letters and other digits become
// '|' (they break a spelling), everything else is dropped.
func ScriptDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch d, ok := ScriptDigit(r); {
		case ok:
			b.WriteByte(d)
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteByte('|')
		}
	}
	return b.String()
}

var goEscape = regexp.MustCompile(`\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|[abfnrtv\\"])`)

// percentRun is a run of percent-encoded bytes.
var percentRun = regexp.MustCompile(`(%[0-9a-fA-F]{2})+`)

// ReadDigits is how a person reads the digits in s: Go's escapes, percent-
// encoding (net/url) and HTML character references (html) decoded, again
// while that changes anything (a value encoded twice), the digits of
// Scripts, superscripts and circled digits read as digits, letters (but for
// the invisible Hangul filler) breaking a number, everything else skipped.
func ReadDigits(s string) string {
	for range 4 {
		before := s
		if strings.IndexByte(s, '\\') >= 0 {
			s = goEscape.ReplaceAllStringFunc(s, func(m string) string {
				r, _, _, err := strconv.UnquoteChar(m, '"')
				if err != nil {
					return m
				}
				return string(r)
			})
		}
		if strings.IndexByte(s, '%') >= 0 {
			s = percentRun.ReplaceAllStringFunc(s, func(m string) string {
				d, err := url.PathUnescape(m)
				if err != nil {
					return m
				}
				return d
			})
		}
		if strings.IndexByte(s, '&') >= 0 {
			s = html.UnescapeString(s)
		}
		if s == before {
			break
		}
	}
	var b strings.Builder
	for _, r := range s {
		switch d, ok := ScriptDigit(r); {
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
