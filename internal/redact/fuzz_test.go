package redact

import (
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/deepvue-go/deepvue/internal/oracle"
)

// FuzzScrubKnownValues spells the Aadhaar number, OTP and mobile number with
// any separator, in any of three scripts, amid any text, and checks that no
// spelling of them survives the scrubber (the number keeps its last four).
func FuzzScrubKnownValues(f *testing.F) {
	for _, seed := range []struct {
		prefix, sep, suffix string
		script              uint8
	}{
		{"Invalid UID ", "", "", 0}, {"", " ", ".", 0}, {"(+91) ", ".", "", 1}, {"x", "\u00a0", "", 2},
		{"9", "/", "1", 0}, {"", "	", "", 1}, {"otp=", "-", "&mobile", 2}, {"", " - ", "", 0},
	} {
		f.Add(seed.prefix, seed.sep, seed.suffix, seed.script)
	}
	sec := &Secrets{Number: validNumber, OTP: testOTP, Mobile: testMobile, Secret: testSecret}
	f.Fuzz(func(t *testing.T, prefix, sep, suffix string, script uint8) {
		for _, r := range sep {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				return // not a separator: the digits are not one value any more
			}
		}
		zero := oracle.Scripts[int(script)%len(oracle.Scripts)]
		spell := func(v string) string {
			parts := make([]string, len(v))
			for i, c := range v {
				parts[i] = string(zero + (c - '0'))
			}
			return strings.Join(parts, sep)
		}
		for _, v := range []string{validNumber, testOTP, testMobile} {
			in := prefix + spell(v) + suffix
			for _, out := range []string{sec.ScrubID(in), sec.ScrubText(in)} {
				if strings.Contains(oracle.ScriptDigits(out), v[:len(v)-4]) && !strings.Contains(oracle.ScriptDigits(prefix+suffix), v[:len(v)-4]) {
					t.Fatalf("%q scrubbed to %q still spells %s", in, out, v)
				}
				if !utf8.ValidString(out) && utf8.ValidString(in) {
					t.Fatalf("%q scrubbed to invalid UTF-8 %q", in, out)
				}
			}
		}
	})
}

// fuzzSeps are the separators FuzzScrubSeparatorsAndEscapes puts between
// digits: nothing, punctuation, whitespace, invisible code points (one a
// "letter" to Unicode), and Go's escapes as %q writes them.
var fuzzSeps = []string{"", "", " ", "-", ".", "/", "_", ",", "\t", "\u00a0", "\u200b", "\u2060", "\u00ad", "\u3164", "\u034f", "\ufeff",
	`\t`, `\n`, `\u00a0`, `\x01`, `\"`, `\\`, `\u200b`, `\U0001f600`, `\001`, "\x01", `"`, `\`}

// fuzzWebSeps are the web escapes FuzzScrubSeparatorsAndEscapes puts
// between digits for a separator byte of 200 or more (the bytes below keep
// their meaning for the regression inputs in testdata).
var fuzzWebSeps = []string{"%20", "%2520", "+", "%E2%80%8B", "%C2%A0", "&nbsp;", "&#160;", "&#x20;", "&#8203;", "&amp;nbsp;", "&#32"}

// fuzzSep is the separator for byte s: fuzzSeps, or fuzzWebSeps from 200.
func fuzzSep(s byte) string {
	if s >= 200 {
		return fuzzWebSeps[int(s-200)%len(fuzzWebSeps)]
	}
	return fuzzSeps[int(s)%len(fuzzSeps)]
}

// fuzzDigit writes digit d in form f: ASCII, full-width, Devanagari,
// superscript, circled, Arabic-Indic, mathematical bold; from 200, as a
// web escape: percent-encoded (once or twice, ASCII or Devanagari) or an
// HTML character reference (decimal, hex, escaped again).
func fuzzDigit(d byte, f byte) string {
	if f >= 200 {
		switch (f - 200) % 6 {
		case 0:
			return fmt.Sprintf("%%3%d", d)
		case 1:
			return fmt.Sprintf("%%253%d", d)
		case 2:
			return url.PathEscape(string(rune('०' + rune(d))))
		case 3:
			return fmt.Sprintf("&#%d;", '0'+d)
		case 4:
			return fmt.Sprintf("&#x3%d;", d)
		default:
			return fmt.Sprintf("&amp;#%d;", '0'+d)
		}
	}
	switch f % 7 {
	case 1:
		return string(rune('０' + rune(d)))
	case 2:
		return string(rune('०' + rune(d)))
	case 3:
		return string([]rune("⁰¹²³⁴⁵⁶⁷⁸⁹")[d])
	case 4:
		return string([]rune("⓪①②③④⑤⑥⑦⑧⑨")[d])
	case 5:
		return string(rune('٠' + rune(d)))
	case 6:
		return string(rune('𝟎' + rune(d)))
	}
	return string(rune('0' + d))
}

// fuzzReadDigits is oracle.ReadDigits widened to the forms of
// fuzzDigit: Arabic-Indic and mathematical digits are read as the
// full-width ones (which are no hex digits, so they make no escape).
func fuzzReadDigits(s string) string {
	return oracle.ReadDigits(strings.Map(func(r rune) rune {
		switch {
		case r >= '٠' && r <= '٩':
			return '０' + r - '٠'
		case r >= '𝟎' && r <= '𝟗':
			return '０' + r - '𝟎'
		}
		return r
	}, s))
}

// FuzzScrubSeparatorsAndEscapes spells the Aadhaar number, the OTP and the
// mobile number with a separator chosen per gap (escapes included) and a
// digit form chosen per digit, amid any text, raw and inside a Go-quoted
// string; no spelling may survive ScrubText, ScrubBelow or ScrubIdent. And
// an IP address with a port, and a 32-hex id, built from the same input,
// come out of the scrubbers untouched when the call knows no digits.
func FuzzScrubSeparatorsAndEscapes(f *testing.F) {
	f.Add("UID ", " bad", []byte{2, 2, 2, 8, 2, 2, 2, 8, 2, 2, 2}, []byte{0}, []byte{203, 0, 113, 100, 0, 9})
	f.Add("", "", []byte{9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9}, []byte{3, 3, 3}, []byte{10, 0, 0, 53, 0, 53})
	f.Add("x=", "&y", []byte{16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26}, []byte{1, 2, 4, 5, 6}, []byte{127, 0, 0, 1, 255, 255})
	f.Add("\"", "\"", []byte{13, 0, 13, 0, 13}, []byte{0, 1}, []byte{192, 168, 100, 200, 1, 187})
	f.Add("UID ", "", []byte{200, 205, 201}, []byte{0, 200, 203, 202}, []byte{10, 1, 2, 3, 0, 80})
	f.Add("q=", "&x=1", []byte{0, 210}, []byte{201, 204, 205}, []byte{8, 8, 8, 8, 1, 0})
	sec := &Secrets{Number: validNumber, OTP: testOTP, Mobile: testMobile, Secret: testSecret}
	bare := &Secrets{Secret: testSecret}
	f.Fuzz(func(t *testing.T, prefix, suffix string, seps, forms, addr []byte) {
		for _, v := range []string{validNumber, testOTP, testMobile} {
			var b strings.Builder
			for i := 0; i < len(v); i++ {
				if i > 0 && len(seps) > 0 {
					b.WriteString(fuzzSep(seps[(i-1)%len(seps)]))
				}
				form := byte(0)
				if len(forms) > 0 {
					form = forms[i%len(forms)]
				}
				b.WriteString(fuzzDigit(v[i]-'0', form))
			}
			spelled := b.String()
			want := v
			if v == validNumber {
				want = v[:8]
			}
			if joinsAround(prefix, suffix, want) {
				continue // the oracle cannot tell the value from the text around it
			}
			for _, in := range []string{prefix + spelled + suffix, prefix + strconv.Quote(spelled) + suffix} {
				for name, out := range map[string]string{
					"ScrubText":  sec.ScrubText(in),
					"ScrubBelow": sec.ScrubBelow(in, MaxBelowText),
					"ScrubIdent": sec.ScrubIdent(in, 1<<20),
				} {
					if strings.Contains(fuzzReadDigits(out), want) {
						t.Fatalf("%s(%q) = %q still spells %s", name, in, out, v)
					}
					if utf8.ValidString(in) && !utf8.ValidString(out) {
						t.Fatalf("%s(%q) = %q is not UTF-8", name, in, out)
					}
				}
			}
		}
		// What must stay readable.
		if len(addr) >= 6 {
			ip := fmt.Sprintf("dial tcp %d.%d.%d.%d:%d: connect: connection refused", addr[0], addr[1], addr[2], addr[3], int(addr[4])<<8|int(addr[5]))
			if out := bare.ScrubBelow(ip, MaxBelowText); out != ip {
				t.Fatalf("an address was scrubbed: %q -> %q", ip, out)
			}
			id := hex.EncodeToString([]byte(prefix + suffix + string(addr) + strings.Repeat("\x00", 16))[:16])
			if out := bare.ScrubIdent(id, 128); out != id {
				t.Fatalf("a hex id was scrubbed: %q -> %q", id, out)
			}
		}
	})
}

// joinsAround reports whether the text around a spelling holds digits that
// a masked value's asterisks would join to each other or to the digits it
// keeps (or holds want itself): then the oracle cannot tell.
func joinsAround(prefix, suffix, want string) bool {
	p, s := fuzzReadDigits(prefix), fuzzReadDigits(suffix)
	return strings.ContainsAny(p, "0123456789") && strings.ContainsAny(s, "0123456789") ||
		strings.ContainsAny(p[max(0, len(p)-1):], "0123456789") || strings.ContainsAny(s[:min(1, len(s))], "0123456789") ||
		strings.Contains(p+s, want)
}
