package deepvue

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// secrets is what one call must never let out: the digits it sent (the
// Aadhaar number, the OTP, the mobile number) and the client secret. Every
// string that leaves the SDK (error texts, log records, values returned on
// success) goes through one of its two scrubbers.
type secrets struct {
	number string // 12 ASCII digits, or ""
	otp    string // 6 ASCII digits, or ""
	mobile string // 10 ASCII digits, or ""
	secret string // the client secret, matched as exact text
}

// minKnownDigits is the length of the shortest digit value a call knows (the
// OTP); a string with fewer digits cannot hold one.
const minKnownDigits = 6

// genericRunDigits is the length of a digit run masked in free text even
// when the call does not know it: an Aadhaar number.
const genericRunDigits = 12

// scrubID masks every spelling of a value the call knows (see scrub) and
// nothing else. It is for identifiers that must reach Deepvue support
// intact: a random 32-hex transaction id holds a 12-digit run about 3 % of
// the time.
func (k *secrets) scrubID(s string) string { return k.scrub(s, false) }

// scrubText is scrubID plus a mask over every Aadhaar-like run of 12 or more
// digits: for free text (messages, details, names, addresses).
func (k *secrets) scrubText(s string) string { return k.scrub(s, true) }

// scrub replaces the client secret with [REDACTED] and masks each known digit
// value in any spelling: digits of any script (full-width "２３４１", Devanagari
// "२३४१", ...) with any non-alphanumeric separators between them ("2341.2341.2346",
// "(+91) 98765-01234", "482 913", a no-break space or a tab). The Aadhaar
// number keeps its last four digits ("XXXX XXXX 2346"); the OTP and mobile
// number become asterisks. With generic, any run of 12 or more digits (at
// most three separator characters apart) is masked the same way.
func (k *secrets) scrub(s string, generic bool) string {
	if s == "" {
		return s
	}
	if k != nil && k.secret != "" && strings.Contains(s, k.secret) {
		s = strings.ReplaceAll(s, k.secret, "[REDACTED]")
	}
	// Fast exits. Too few digits for any value to hide in; or only ASCII
	// letters and digits (an id): letters break every spelling, so a known
	// value can only stand as a substring and a generic run only as
	// consecutive digits.
	ascii, run, longest, nonASCII, separators := 0, 0, 0, false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			ascii++
			run++
			longest = max(longest, run)
		case c >= utf8.RuneSelf:
			nonASCII, run = true, 0
		case ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z'):
			run = 0
		default:
			separators, run = true, 0
		}
	}
	if ascii < minKnownDigits && !nonASCII {
		return s
	}
	if !nonASCII && !separators && (!generic || longest < genericRunDigits) &&
		(k == nil || !(containsValue(s, k.number) || containsValue(s, k.otp) || containsValue(s, k.mobile))) {
		return s
	}
	var store [64]digitAt
	digits := scanDigits(s, store[:0])
	if len(digits) < minKnownDigits {
		return s
	}
	masked := false
	if generic && len(digits) >= genericRunDigits {
		masked = markRuns(digits)
	}
	if k != nil { // after the generic runs, so that a known value's mask wins
		masked = markKnown(digits, k.number, 'X', 4) || masked
		masked = markKnown(digits, k.otp, '*', 0) || masked
		masked = markKnown(digits, k.mobile, '*', 0) || masked
	}
	if !masked {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	prev := 0
	for _, d := range digits {
		if d.mask == 0 {
			continue
		}
		b.WriteString(s[prev:d.start])
		b.WriteByte(d.mask)
		prev = d.end
	}
	b.WriteString(s[prev:])
	return b.String()
}

func containsValue(s, v string) bool { return v != "" && strings.Contains(s, v) }

// digitAt is one decimal digit found in a string.
type digitAt struct {
	start, end int  // byte offsets of the rune
	val        byte // 0-9
	// gap describes the text between the previous digit and this one:
	// 0 nothing, 1-3 that many separator runes, gapLong more separators,
	// gapBreak a letter (or the first digit).
	gap  uint8
	mask byte // the character to print instead, 0 to keep
}

const (
	gapLong  = 254
	gapBreak = 255
)

// scanDigits lists the decimal digits of s with the gaps between them.
func scanDigits(s string, out []digitAt) []digitAt {
	gap := uint8(gapBreak)
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		if v, ok := digitValue(r); ok {
			out = append(out, digitAt{start: i, end: i + size, val: v, gap: gap})
			gap = 0
		} else if isLetterRune(r) {
			gap = gapBreak
		} else if gap < gapLong {
			gap++
		}
		i += size
	}
	return out
}

func isLetterRune(r rune) bool {
	if r < utf8.RuneSelf {
		return ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z')
	}
	return unicode.IsLetter(r)
}

// markKnown marks every occurrence of value (ASCII digits) in the digit
// streams: digits separated by anything but letters. The last keep digits
// of an occurrence are left visible. It reports whether it marked any.
func markKnown(digits []digitAt, value string, mask byte, keep int) bool {
	n := len(value)
	if n == 0 || len(digits) < n {
		return false
	}
	found := false
	for i := 0; i+n <= len(digits); i++ {
		j := 0
		for ; j < n; j++ {
			d := digits[i+j]
			if d.val != value[j]-'0' || (j > 0 && d.gap == gapBreak) {
				break
			}
		}
		if j < n {
			continue
		}
		for j := 0; j < n-keep; j++ {
			digits[i+j].mask = mask
		}
		found = true
	}
	return found
}

// markRuns marks every run of 12 or more digits in which at most three
// separator characters stand between two digits, keeping its last four.
func markRuns(digits []digitAt) bool {
	found := false
	for i := 0; i < len(digits); {
		j := i + 1
		for j < len(digits) && digits[j].gap <= 3 {
			j++
		}
		if j-i >= genericRunDigits {
			for x := i; x < j-4; x++ {
				digits[x].mask = 'X'
			}
			found = true
		}
		i = j
	}
	return found
}

// digitValue returns the value of a decimal digit of any script.
func digitValue(r rune) (byte, bool) {
	if r >= '0' && r <= '9' {
		return byte(r - '0'), true
	}
	if r < utf8.RuneSelf || !unicode.IsDigit(r) {
		return 0, false
	}
	// Unicode encodes the decimal digits (category Nd) of every script as
	// runs of ten, 0 to 9 in order (TestDigitValueTables checks the tables),
	// so a digit's value is its distance from the start of its range, mod 10.
	for _, rg := range unicode.Digit.R16 {
		if r >= rune(rg.Lo) && r <= rune(rg.Hi) {
			return byte((r - rune(rg.Lo)) % 10), true
		}
	}
	for _, rg := range unicode.Digit.R32 {
		if r >= rune(rg.Lo) && r <= rune(rg.Hi) {
			return byte((r - rune(rg.Lo)) % 10), true
		}
	}
	return 0, false
}
