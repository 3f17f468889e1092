package deepvue

import (
	"html"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/deepvue-go/deepvue/internal/redact"
)

// The rules that tell personal data (an Aadhaar number, an Indian mobile
// number, an e-mail address) in a text the application gives: consent
// evidence (consent.go) and the purpose an audit record keeps.

// personalNumber names the kind of personal number s could hold ("" if
// none): an Aadhaar number or an Indian mobile number, either written as a
// number (ASCII digits with anything but a letter between them, not
// touching a letter: "+91 98765 43210", "9876_543_210", "98765\u00a043210")
// or as a run of digits inside a word ("cust9876543210"), in s as written
// and with its web escapes decoded ("98765%2043210", "&#57;876543210"). A
// word that is an identifier is not read: a UUID, or a hex digest of 16
// characters or more, whose digits are random. strict reads an Aadhaar
// number inside a longer number too (for a customer reference); otherwise a
// number must have exactly 12 digits to be read as one (a text may hold a
// timestamp of 14).
func personalNumber(s string, strict bool) string {
	if d := webDecoded(s); d != s {
		if why := personalNumberIn(d, strict); why != "" {
			return why
		}
	}
	return personalNumberIn(s, strict)
}

// personalNumberIn is personalNumber's reading of one spelling of s.
func personalNumberIn(s string, strict bool) string {
	s = blankUUIDs(s)
	if why := numberProblem(s, strict); why != "" {
		return why
	}
	for _, tok := range strings.Split(s, " ") {
		for _, w := range strings.FieldsFunc(tok, func(r rune) bool { return !(r < utf8.RuneSelf && isAlnum(byte(r))) }) {
			if len(w) >= 16 && isHex(w, len(w)) {
				continue
			}
			for i := 0; i < len(w); {
				j := i
				for j < len(w) && isDigit(w[j]) {
					j++
				}
				if j == i {
					i++
					continue
				}
				run := make([]byte, j-i)
				for k := range run {
					run[k] = w[i+k] - '0'
				}
				if why := numberKind(run, strict); why != "" {
					return why
				}
				i = j
			}
		}
	}
	return ""
}

// blankUUIDs returns s with every UUID in it (8-4-4-4-12 hex digits, not
// touching another letter or digit) replaced by spaces.
func blankUUIDs(s string) string {
	var b []byte
	for i := 0; i+36 <= len(s); i++ {
		if redact.IsUUID(s[i:i+36]) && (i == 0 || !isAlnum(s[i-1])) && (i+36 == len(s) || !isAlnum(s[i+36])) {
			if b == nil {
				b = []byte(s)
			}
			for j := i; j < i+36; j++ {
				b[j] = ' '
			}
			i += 35
		}
	}
	if b == nil {
		return s
	}
	return string(b)
}

func isAlnum(c byte) bool { return isDigit(c) || isLetterASCII(c) }

// numberKind names the kind of personal number the digit values v could
// be: an Aadhaar number (12 digits, or with strict a valid one within a
// longer number) or a mobile number (10 digits from 6 to 9, alone or after
// 0, 91 or 091). "" if neither.
func numberKind(v []byte, strict bool) string {
	if strict {
		for i := 0; i+redact.AadhaarDigits <= len(v); i++ {
			if redact.AadhaarLike(v[i : i+redact.AadhaarDigits]) {
				return "an Aadhaar number"
			}
		}
	} else if redact.AadhaarLike(v) {
		return "an Aadhaar number"
	}
	if mobileLike(v) {
		return "a mobile number"
	}
	return ""
}

// numberProblem reads the numbers of s (see personalNumber: every character
// that is not a letter is a separator inside a number) that do not touch a
// letter and names the kind of personal number one of them could be
// (numberKind). "" if none.
func numberProblem(s string, strict bool) string {
	var digits []byte
	afterLetter := false // the current number's first digit follows a letter
	prevLetter := false  // the last character read was a letter
	lastDigitEnd := -1   // where the current number's last digit ends
	check := func(beforeLetter bool) string {
		defer func() { digits, lastDigitEnd = digits[:0], -1 }()
		if len(digits) == 0 || afterLetter || beforeLetter {
			return "" // none, or part of an identifier
		}
		return numberKind(digits, strict)
	}
	for i, r := range s {
		switch {
		case '0' <= r && r <= '9':
			if len(digits) == 0 {
				afterLetter = prevLetter
			}
			digits = append(digits, byte(r-'0'))
			lastDigitEnd = i + 1
			prevLetter = false
		case redact.IsLetterRune(r):
			// A letter ends a number; one right after its last digit makes
			// it part of an identifier.
			if why := check(lastDigitEnd == i); why != "" {
				return why
			}
			prevLetter = true
		default:
			// Anything else (a space, punctuation, an invisible character)
			// is a separator inside a number: the number goes on.
			prevLetter = false
		}
	}
	return check(false)
}

// webDecoded returns s with its web escapes decoded: percent-encoding
// ("%20", "%40", encoded again as "%2520") and HTML character references
// ("&#52;", "&nbsp;", "&amp;#64;"), a few rounds over. A number or an
// e-mail address spelled so reads as one.
func webDecoded(s string) string {
	for round := 0; round < 4 && strings.ContainsAny(s, "%&"); round++ {
		d := html.UnescapeString(percentDecoded(s))
		if d == s {
			break
		}
		s = d
	}
	return s
}

// percentDecoded returns s with each "%XX" (two hex digits) replaced by the
// byte it encodes.
func percentDecoded(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1:i+3], 2) {
			hi, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
			b = append(b, byte(hi))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

// mobileLike reports whether the digit values v are an Indian mobile
// number: 10 digits, the first 6 to 9, alone or after 0, 91, 091 or 0091.
func mobileLike(v []byte) bool {
	var body []byte
	switch len(v) {
	case 10:
		body = v
	case 11:
		if v[0] == 0 {
			body = v[1:]
		}
	case 12:
		if v[0] == 9 && v[1] == 1 {
			body = v[2:]
		}
	case 13:
		if v[0] == 0 && v[1] == 9 && v[2] == 1 {
			body = v[3:]
		}
	case 14:
		if v[0] == 0 && v[1] == 0 && v[2] == 9 && v[3] == 1 {
			body = v[4:]
		}
	}
	return body != nil && body[0] >= 6
}

func isLetterASCII(c byte) bool { return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }

// purposeForRecord returns a call's purpose as an audit record keeps it:
// scrubbed of the values the call sends and of Aadhaar-like numbers
// (sec.ScrubText), every digit masked when a mobile number could remain in
// it (see personalNumber), and each word holding an e-mail address, as
// written or with its web escapes decoded, replaced by "[e-mail]". The
// purpose goes to Deepvue as given; the trail holds no customer data.
func purposeForRecord(purpose string, sec *secrets) string {
	p := sec.ScrubText(purpose)
	if plainPurpose(p) {
		return p // nothing below could match: no allocation for the common purpose
	}
	if personalNumber(p, false) != "" {
		p = redact.MaskDigits(p)
	}
	if strings.ContainsAny(p, "@%&") {
		words := strings.Split(p, " ")
		for i, w := range words {
			if d := webDecoded(w); strings.IndexByte(w, '@') >= 0 || strings.IndexByte(d, '@') >= 0 {
				words[i] = "[e-mail]"
			}
		}
		p = strings.Join(words, " ")
	}
	return p
}

// containsEmail reports whether s holds something like an e-mail address:
// an '@' between two characters that are not spaces, with a dot after it
// before the next space.
// plainPurpose reports whether p holds fewer ASCII digits than the
// shortest personal number (a mobile number's 10), no escape that could
// spell more ('%', '&') and no '@': purposeForRecord keeps it as it is.
// (Only ASCII digits make a personal number here; other scripts' are the
// scrubber's.)
func plainPurpose(p string) bool {
	digits := 0
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case '0' <= c && c <= '9':
			if digits++; digits >= 10 {
				return false
			}
		case c == '%' || c == '&' || c == '@':
			return false
		}
	}
	return true
}

func containsEmail(s string) bool {
	for i := 1; i+1 < len(s); i++ {
		if s[i] != '@' || s[i-1] == ' ' || s[i+1] == ' ' {
			continue
		}
		rest := s[i+1:]
		if sp := strings.IndexByte(rest, ' '); sp >= 0 {
			rest = rest[:sp]
		}
		if dot := strings.IndexByte(rest, '.'); dot > 0 && dot < len(rest)-1 {
			return true
		}
	}
	return false
}
