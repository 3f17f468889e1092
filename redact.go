package deepvue

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// secrets is what one call must never let out: the digits it sent (the
// Aadhaar number, the OTP, the mobile number) and the client secret. Every
// string that leaves the SDK (error texts, log records, values returned on
// success) goes through one of its scrubbers.
type secrets struct {
	number string // 12 ASCII digits, or ""
	otp    string // 6 ASCII digits, or ""
	mobile string // 10 ASCII digits, or ""
	secret string // the client secret, matched as exact text and as Go quotes it
}

// minKnownDigits is the length of the shortest digit value a call knows (the
// OTP); a string with fewer digits cannot hold one.
const minKnownDigits = 6

// aadhaarDigits is the length of an Aadhaar number: a digit run masked in
// free text even when the call does not know it, if it could be one.
const aadhaarDigits = 12

// scrubMargin is how far past a cut the scrubbers read: a value spelled
// across the cut is seen whole (or, if it runs further, masked as a partial
// match), so clipping after scrubbing never lets a part of it out.
const scrubMargin = 256

// serverBytes stands in for whatever a text from below the SDK quotes.
const serverBytes = `"[server bytes]"`

// scrubID masks every spelling of a value the call knows (see scrub) and
// nothing else. It is for values that must reach the caller intact (a date
// of birth, a PIN code, a hash); for Deepvue's identifiers see scrubIdent.
func (k *secrets) scrubID(s string) string { return k.scrub(s, false, false) }

// scrubText is scrubID plus a mask over every digit run that could be an
// Aadhaar number (see markAadhaar): for free text (messages, details, names,
// addresses, network errors).
func (k *secrets) scrubText(s string) string { return k.scrub(s, true, false) }

// scrubTextClip returns scrubText(s) clipped to n bytes, reading only n bytes
// and a margin: its cost and its allocations do not grow with s.
func (k *secrets) scrubTextClip(s string, n int) string { return k.scrubClip(s, n, true) }

// scrubIDClip returns scrubID(s) clipped to n bytes, reading only n bytes
// and a margin.
func (k *secrets) scrubIDClip(s string, n int) string { return k.scrubClip(s, n, false) }

func (k *secrets) scrubClip(s string, n int, generic bool) string {
	if len(s) <= n {
		return k.scrub(s, generic, false)
	}
	w := k.window(len(s), n)
	return clip(k.scrub(s[:w], generic, w < len(s)), n)
}

// window returns how many bytes of a text of length size to scrub when n are
// kept: n and the margin, widened so that the client secret, even as Go
// escapes it (at most 10 bytes a byte), fits beyond the cut; never inside a
// UTF-8 sequence.
func (k *secrets) window(size, n int) int {
	m := scrubMargin
	if k != nil {
		m = max(m, 10*len(k.secret)+2)
	}
	w := n + m
	if w >= size {
		return size
	}
	return w
}

// scrub replaces the client secret with [REDACTED] (also as Go quotes it:
// a secret holding `"` or `\` is printed escaped) and masks each known digit
// value in any spelling: digits of any script (full-width "２３４１", Devanagari
// "२३४१", ...) and their compatibility forms (superscript "²³⁴¹", circled
// "②③④①"), with any separators between them that are not letters
// ("2341.2341.2346", "(+91) 98765-01234", "482 913", a no-break space, a
// tab, an invisible filler such as U+3164), and with Go's escapes read both
// ways ("2341\t2341" and "2341\u00a02341" as separators, the hex digits of
// "\x2341" as digits). An Aadhaar number (the call's, or with generic any
// that could be one) is written in UIDAI's display form, "XXXX XXXX 2346",
// whatever its spelling: its separators and scripts are not kept, and its
// last four digits are written in ASCII. The OTP and mobile number become
// asterisks, one per digit. With generic,
// every digit run that could be an Aadhaar number (see markAadhaar) is
// masked too. truncated says s is the head of a longer text: a value that
// runs into its end is masked as far as it goes.
func (k *secrets) scrub(s string, generic, truncated bool) string {
	if s == "" {
		return s
	}
	if k != nil && k.secret != "" {
		s = k.maskSecret(s)
	}
	if !truncated && k.nothingToMask(s, generic) {
		return s
	}
	return k.scrubScan(s, generic, truncated)
}

// Byte classes for nothingToMask.
const (
	byteDigit     = 1 << iota // ASCII 0-9
	byteLetter                // ASCII a-z A-Z
	byteOther                 // any other ASCII byte but the backslash
	byteHigh                  // a byte of a multi-byte UTF-8 sequence (or invalid)
	byteBackslash             // the backslash, which may start an escape
)

var byteClass = func() (t [256]uint8) {
	for c := range t {
		switch {
		case c >= '0' && c <= '9':
			t[c] = byteDigit
		case (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
			t[c] = byteLetter
		case c >= utf8.RuneSelf:
			t[c] = byteHigh
		case c == '\\':
			t[c] = byteBackslash
		default:
			t[c] = byteOther
		}
	}
	return t
}()

// nothingToMask is scrub's fast exit for the common values (a message with
// no digit, a transaction or reference id of ASCII letters and digits): one
// pass over a table of byte classes. It reports true only where scrubScan
// returns s unchanged at one of its first two exits (see there): fewer than
// minKnownDigits ASCII digits and only ASCII, no backslash; or, outside free
// text, only ASCII letters and digits and none of the known values as a
// substring. Anything else goes to scrubScan. A known value (ASCII digits)
// is looked for only when s has at least as many digits.
func (k *secrets) nothingToMask(s string, generic bool) bool {
	classes, digits := uint8(0), 0
	for i := 0; i < len(s); i++ { // no branch in the loop: a table, an or, an add
		c := byteClass[s[i]]
		classes |= c
		digits += int(c & byteDigit)
	}
	if classes&(byteHigh|byteBackslash) != 0 {
		return false
	}
	if digits < minKnownDigits {
		return true
	}
	return classes&byteOther == 0 && !generic &&
		(k == nil || !(holdsValue(s, k.number, digits) || holdsValue(s, k.otp, digits) || holdsValue(s, k.mobile, digits)))
}

// holdsValue reports whether s, which has digits ASCII digits, holds v
// (ASCII digits).
func holdsValue(s, v string, digits int) bool {
	return v != "" && len(v) <= digits && strings.Contains(s, v)
}

// scrubScan is scrub once the client secret is masked: the full scan.
func (k *secrets) scrubScan(s string, generic, truncated bool) string {
	// Fast exits. Too few digits for any value to hide in; or only ASCII
	// letters and digits (an id): letters break every spelling, so a known
	// value can only stand as a substring and an Aadhaar-like run only as
	// consecutive digits.
	ascii, run, longest, nonASCII, separators, backslashes, webEscapes := 0, 0, 0, 0, false, 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			ascii++
			run++
			longest = max(longest, run)
		case c >= utf8.RuneSelf:
			if c >= 0xC0 {
				nonASCII++
			}
			// A byte of a multi-byte rune, or a stray one (invalid UTF-8,
			// which the scan reads as U+FFFD): either stands between digits
			// as a separator would.
			separators, run = true, 0
		case ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z'):
			run = 0
		default:
			if c == '\\' {
				backslashes++
			} else if c == '%' || c == '&' {
				webEscapes++
			}
			separators, run = true, 0
		}
	}
	if ascii < minKnownDigits && nonASCII == 0 && backslashes == 0 && !truncated {
		return s
	}
	if nonASCII == 0 && !separators && (!generic || longest < aadhaarDigits) && !truncated &&
		(k == nil || !(containsValue(s, k.number) || containsValue(s, k.otp) || containsValue(s, k.mobile))) {
		return s
	}
	// Storage sized from the input: one entry per ASCII digit, per non-ASCII
	// rune and per escape, at most.
	var store [64]digitAt
	digits := store[:0]
	if need := ascii + nonASCII + backslashes + webEscapes; need > len(store) {
		digits = make([]digitAt, 0, need)
	}
	digits, tailBreak := scanDigits(s, digits)
	if len(digits) == 0 {
		return s
	}
	open := truncated && !tailBreak
	masked := false
	if generic {
		masked = markAadhaar(digits, open)
		forms, escaped := countWeak(digits)
		differ := decodedGapsDiffer(digits)
		if forms+escaped > 0 || differ {
			// The decoded reading: escapes are single characters, the hex
			// digits inside them are not digits ("&nbsp;" is one separator),
			// and neither are the compatibility digit forms.
			masked = markReading(digits, open, false) || masked
		}
		if forms > 0 && (escaped > 0 || differ) {
			// The mixed reading: escapes decoded, digit forms read as digits
			// ("②③④①%20②③④①%20②③④⑥", "②③④①&nbsp;②③④①...").
			masked = markReading(digits, open, true) || masked
		}
	}
	if k != nil { // after the generic runs, so that a known value's mask wins
		var store [64]uint16
		reach := store[:0]
		if len(digits)+1 > len(store) {
			reach = make([]uint16, 0, len(digits)+1)
		}
		masked = markKnown(digits, k.number, 'X', 4, open, reach) || masked
		masked = markKnown(digits, k.otp, '*', 0, open, reach) || masked
		masked = markKnown(digits, k.mobile, '*', 0, open, reach) || masked
	}
	if !masked {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	prev := 0
	for i := 0; i < len(digits); i++ {
		d := &digits[i]
		if d.mask == 0 || d.start < prev {
			// Unmasked, or inside an escape already masked whole (the
			// literal digits of "\070" follow the escape in digits).
			continue
		}
		if last, four, ok := aadhaarOccurrence(digits, i); ok {
			// An Aadhaar number, in whatever spelling, is written in the
			// one form the SDK shows (UIDAI's display form, as MaskAadhaar).
			b.WriteString(s[prev:d.start])
			b.WriteString("XXXX XXXX ")
			b.Write(four[:])
			prev, i = digits[last].end, last
			continue
		}
		b.WriteString(s[prev:d.start])
		b.WriteByte(d.mask)
		prev = d.end
	}
	b.WriteString(s[prev:])
	return b.String()
}

// aadhaarOccurrence reports whether digits[i] begins a masked Aadhaar
// number: eight digits masked with X, then the four its mask keeps, with no
// letter among them (the digits of an escape that are no part of it are
// skipped). It returns the index of the last kept digit and the four, in
// ASCII. Any other shape (a number cut by the end of a clipped text, say)
// is not one.
func aadhaarOccurrence(digits []digitAt, i int) (last int, four [4]byte, ok bool) {
	masked, kept := 0, 0
	for j := i; j < len(digits) && kept < 4; j++ {
		d := &digits[j]
		switch {
		case j > i && d.gap == gapBreak:
			return 0, four, false
		case masked < 8 && d.mask == 'X':
			masked++
		case masked == 8 && d.mask == 0 && d.kept:
			four[kept] = '0' + d.val
			kept++
			last = j
		case d.mask == 0 && (d.weak || d.skippable):
			// An escape's digit outside the number's reading.
		default:
			return 0, four, false
		}
	}
	return last, four, kept == 4
}

// maskSecret replaces the client secret, as it is and as Go quotes it
// (strconv.Quote and QuoteToASCII, without the quotes), by [REDACTED].
func (k *secrets) maskSecret(s string) string {
	if strings.Contains(s, k.secret) {
		s = strings.ReplaceAll(s, k.secret, "[REDACTED]")
	}
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	for _, q := range []string{strconv.Quote(k.secret), strconv.QuoteToASCII(k.secret)} {
		if q = q[1 : len(q)-1]; q != k.secret && strings.Contains(s, q) {
			s = strings.ReplaceAll(s, q, "[REDACTED]")
		}
	}
	return s
}

// markReading runs markAadhaar over one reading of digits, and copies the
// masks it sets back: the decoded reading (escapes are one character, weak
// digits are none), or with mixed the mixed one (escapes decoded, digit
// forms read as digits).
func markReading(digits []digitAt, open, mixed bool) bool {
	in := func(d digitAt) bool { return !d.weak || mixed && !d.escaped }
	strong := make([]digitAt, 0, len(digits))
	for _, d := range digits {
		if in(d) {
			d.gap = d.gapDecoded
			if mixed {
				d.gap = d.gapMixed
			}
			strong = append(strong, d)
		}
	}
	if !markAadhaar(strong, open) {
		return false
	}
	j := 0
	for i := range digits {
		if in(digits[i]) {
			if strong[j].mask != 0 {
				digits[i].mask = strong[j].mask
			}
			digits[i].kept = digits[i].kept || strong[j].kept
			j++
		}
	}
	return true
}

// decodedGapsDiffer reports whether the decoded reading of some gap differs
// from its literal one (an escape between digits).
func decodedGapsDiffer(digits []digitAt) bool {
	for i := range digits {
		if digits[i].gap != digits[i].gapDecoded {
			return true
		}
	}
	return false
}

func containsValue(s, v string) bool { return v != "" && strings.Contains(s, v) }

// maskDigits replaces every digit of s, of any script or form, with X.
func maskDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if _, ok := digitValue(r); ok {
			return 'X'
		}
		return r
	}, s)
}

// clip shortens s to at most n bytes on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
