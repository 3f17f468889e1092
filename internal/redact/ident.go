package redact

import (
	"strings"
	"unicode/utf8"
)

// Deepvue's identifiers (transaction id, reference id, sub_code) reach the
// caller intact unless they hold what an identifier does not.

// ScrubIdent is for Deepvue's identifiers (transaction id, reference id,
// sub_code): ScrubID, and then, if the value holds what an identifier does
// not, every digit of it becomes X. An identifier holds ASCII letters,
// digits and punctuation; what it does not hold is a digit other than ASCII
// 0-9 (any script, superscripts, circled digits), a digit run broken by
// separators with six or more digits in it ("2341-2341-2346", "98765 43210",
// "482.913": a number written for a person to read), or, as the whole value,
// a 12-digit run that is a valid Aadhaar number. Deepvue's 32-hex ids stay
// intact, even when they hold a 12-digit run; so does a UUID.
func (k *Secrets) ScrubIdent(s string, n int) string {
	s = k.scrubIDClip(s, n)
	if !IdentOK(s) {
		var b strings.Builder
		b.Grow(len(s))
		for _, r := range s {
			if _, ok := DigitValue(r); ok {
				b.WriteByte('X')
			} else {
				b.WriteRune(r)
			}
		}
		return b.String()
	}
	return s
}

// IdentOK reports whether s reads as an identifier (see ScrubIdent).
func IdentOK(s string) bool {
	if IsUUID(s) {
		return true
	}
	// Only ASCII letters and digits (a 32-hex id): no separator can break a
	// digit run, so only the whole-value Aadhaar check below applies.
	classes := uint8(0)
	for i := 0; i < len(s); i++ {
		classes |= byteClass[s[i]]
	}
	if classes&^(byteDigit|byteLetter) == 0 {
		return !wholeAadhaar(s)
	}
	chain, sepInChain, lastDigit := 0, false, false
	for i := 0; i < len(s); {
		if c := s[i]; c == '%' || c == '&' {
			// A web escape is one character: an escaped digit is no id's,
			// an escaped letter breaks a run, anything else separates.
			if r, n := parseWebEscape(s[i:]); n > 0 {
				i += n
				switch _, digit := DigitValue(r); {
				case digit:
					return false
				case IsLetterRune(r):
					chain, sepInChain, lastDigit = 0, false, false
				default:
					if lastDigit {
						sepInChain = true
					}
					lastDigit = false
				}
				continue
			}
		}
		if c := s[i]; c < utf8.RuneSelf {
			// ASCII (the common case, inlined): a digit, a letter or a
			// separator, as DigitValue and IsLetterRune would say.
			i++
			if '0' <= c && c <= '9' {
				chain++
				if chain >= MinKnownDigits && sepInChain {
					return false
				}
				lastDigit = true
			} else if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') {
				chain, sepInChain, lastDigit = 0, false, false
			} else {
				if lastDigit {
					sepInChain = true
				}
				lastDigit = false
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch _, digit := DigitValue(r); {
		case digit:
			return false // a digit of another script or form
		case IsLetterRune(r):
			chain, sepInChain, lastDigit = 0, false, false
		default: // a separator
			if lastDigit {
				sepInChain = true
			}
			lastDigit = false
		}
	}
	return !wholeAadhaar(s)
}

// wholeAadhaar reports whether s, as a whole, is 12 ASCII digits that could
// be an Aadhaar number (AadhaarLike).
func wholeAadhaar(s string) bool {
	if len(s) != AadhaarDigits {
		return false
	}
	var v [AadhaarDigits]byte
	for i := range v {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		v[i] = s[i] - '0'
	}
	return AadhaarLike(v[:])
}

// IsUUID reports whether s is a UUID in its 8-4-4-4-12 hex form.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
