// Package redact is the SDK's scrubber: it takes out of a string every
// spelling of the values one call must never let out (the Aadhaar number,
// the OTP and the mobile number it sent, and the client secret), and every
// digit run that could be an Aadhaar number, whoever sent it.
//
// A value is found in any spelling a server, or net/http quoting a server,
// can write: digits of any script and their compatibility forms, any
// separators between them that are not letters, Go's escapes,
// percent-encoding and HTML character references read both as text and
// decoded. The core package calls it through Secrets (one per call) and
// its methods:
//
//   - ScrubText for free text (messages, details, names, network errors),
//     ScrubTextClip for free text it keeps only n bytes of;
//   - ScrubID for values that must reach the caller intact but for the
//     call's own values (a date of birth, a PIN code, a hash);
//   - ScrubIdent for Deepvue's identifiers (transaction id, reference id,
//     sub_code);
//   - ScrubBelow for texts from below the SDK (net/http, a transport, a
//     limiter), which quote server bytes, and Clean to ask whether a value
//     from there may be handed out as it is.
//
// A nil *Secrets knows no value: it masks only what could be an Aadhaar
// number. Clip and MaskDigits shorten and mask texts the same way the
// scrubbers do; IdentOK, IsUUID, DigitValue and AadhaarLike are the
// readings the scrubbers decide by, for rules of the core that must agree
// with them. Nothing here logs, or panics on any input.
package redact

import (
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Secrets is what one call must never let out: the digits it sent (the
// Aadhaar number, the OTP, the mobile number) and the client secret. Every
// string that leaves the SDK (error texts, log records, values returned on
// success) goes through one of its scrubbers.
type Secrets struct {
	Number string // 12 ASCII digits, or ""
	OTP    string // 6 ASCII digits, or ""
	Mobile string // 10 ASCII digits, or ""
	Secret string // the client secret, matched as exact text and as Go quotes it
}

// MinKnownDigits is the length of the shortest digit value a call knows (the
// OTP); a string with fewer digits cannot hold one.
const MinKnownDigits = 6

// AadhaarDigits is the length of an Aadhaar number: a digit run masked in
// free text even when the call does not know it, if it could be one.
const AadhaarDigits = 12

// scrubMargin is how far past a cut the scrubbers read: a value spelled
// across the cut is seen whole (or, if it runs further, masked as a partial
// match), so clipping after scrubbing never lets a part of it out.
const scrubMargin = 256

// serverBytes stands in for whatever a text from below the SDK quotes.
const serverBytes = `"[server bytes]"`

// ScrubID masks every spelling of a value the call knows (see scrub) and
// nothing else. It is for values that must reach the caller intact (a date
// of birth, a PIN code, a hash); for Deepvue's identifiers see ScrubIdent.
func (k *Secrets) ScrubID(s string) string { return k.scrub(s, false, false) }

// ScrubText is ScrubID plus a mask over every digit run that could be an
// Aadhaar number (see markAadhaar): for free text (messages, details, names,
// addresses, network errors).
func (k *Secrets) ScrubText(s string) string { return k.scrub(s, true, false) }

// ScrubTextClip returns ScrubText(s) clipped to n bytes, reading only n bytes
// and a margin: its cost and its allocations do not grow with s.
func (k *Secrets) ScrubTextClip(s string, n int) string { return k.scrubClip(s, n, true) }

// scrubIDClip returns ScrubID(s) clipped to n bytes, reading only n bytes
// and a margin.
func (k *Secrets) scrubIDClip(s string, n int) string { return k.scrubClip(s, n, false) }

func (k *Secrets) scrubClip(s string, n int, generic bool) string {
	if len(s) <= n {
		return k.scrub(s, generic, false)
	}
	w := k.window(len(s), n)
	return Clip(k.scrub(s[:w], generic, w < len(s)), n)
}

// window returns how many bytes of a text of length size to scrub when n are
// kept: n and the margin, widened so that the client secret, even as Go
// escapes it (at most 10 bytes a byte), fits beyond the cut; never inside a
// UTF-8 sequence.
func (k *Secrets) window(size, n int) int {
	m := scrubMargin
	if k != nil {
		m = max(m, 10*len(k.Secret)+2)
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
// digit run that could be one: see markAadhaar) is written in UIDAI's
// display form, "XXXX XXXX 2346", whatever its spelling: its separators and
// scripts are not kept, and its last four digits are written in ASCII. The
// OTP and mobile number become asterisks, one per digit. truncated says s is the head of a longer text: a value that
// runs into its end is masked as far as it goes.
func (k *Secrets) scrub(s string, generic, truncated bool) string {
	if s == "" {
		return s
	}
	if k != nil && k.Secret != "" {
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
// pass over the bytes. It reports true only where scrubScan
// returns s unchanged at one of its first two exits (see there): fewer than
// MinKnownDigits ASCII digits and only ASCII, no backslash; or, outside free
// text, only ASCII letters and digits and none of the known values as a
// substring. Anything else goes to scrubScan. A known value (ASCII digits)
// is looked for only when s has at least as many digits.
//
// Eight bytes are read at a time (a byte of a multi-byte sequence or a
// backslash ends the exit; ASCII digits are counted, and the other bytes
// that are not letters noted, with bit arithmetic), the rest through the
// table.
func (k *Secrets) nothingToMask(s string, generic bool) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	classes, digits := uint8(0), 0
	t := s
	for len(t) >= 8 {
		_ = t[7]
		w := uint64(t[0]) | uint64(t[1])<<8 | uint64(t[2])<<16 | uint64(t[3])<<24 |
			uint64(t[4])<<32 | uint64(t[5])<<40 | uint64(t[6])<<48 | uint64(t[7])<<56
		t = t[8:]
		if w&hi != 0 {
			return false // a byte of a multi-byte sequence (or invalid)
		}
		if b := w ^ ('\\' * lo); (b-lo)&^b&hi != 0 {
			return false // a backslash (a zero byte of b)
		}
		// Every byte is below 0x80, so adding to it never carries into the
		// next: adding 0x50 sets its top bit when it is at least '0', 0x46
		// when above '9'; with bit 5 set (lower case), adding 0x1f sets it
		// when at least 'a', 0x05 when above 'z'.
		digit := (w + 0x50*lo) &^ (w + 0x46*lo) & hi
		l := w | 0x20*lo
		letter := (l + 0x1f*lo) &^ (l + 0x05*lo) & hi
		digits += bits.OnesCount64(digit)
		if (digit|letter)^hi != 0 {
			classes |= byteOther
		}
	}
	for i := 0; i < len(t); i++ { // no branch in the loop: a table, an or, an add
		c := byteClass[t[i]]
		classes |= c
		digits += int(c & byteDigit)
	}
	if classes&(byteHigh|byteBackslash) != 0 {
		return false
	}
	if digits < MinKnownDigits {
		return true
	}
	return classes&byteOther == 0 && !generic &&
		(k == nil || !(holdsValue(s, k.Number, digits) || holdsValue(s, k.OTP, digits) || holdsValue(s, k.Mobile, digits)))
}

// holdsValue reports whether s, which has digits ASCII digits, holds v
// (ASCII digits).
func holdsValue(s, v string, digits int) bool {
	return v != "" && len(v) <= digits && strings.Contains(s, v)
}

// scrubScan is scrub once the client secret is masked: the full scan.
func (k *Secrets) scrubScan(s string, generic, truncated bool) string {
	need, scan := k.needsScan(s, generic, truncated)
	if !scan {
		return s
	}
	return k.scanSegments(s, generic, truncated, need)
}

// needsScan is scrubScan's fast exits: it reports false where the scan
// would return s unchanged, as far as one pass over the bytes of s tells;
// else it returns how many digits s can hold at most (one per ASCII digit,
// per non-ASCII rune and per escape).
func (k *Secrets) needsScan(s string, generic, truncated bool) (need int, scan bool) {
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
	if ascii < MinKnownDigits && nonASCII == 0 && backslashes == 0 && !truncated {
		return 0, false
	}
	if nonASCII == 0 && !separators && (!generic || longest < AadhaarDigits) && !truncated &&
		(k == nil || !(containsValue(s, k.Number) || containsValue(s, k.OTP) || containsValue(s, k.Mobile))) {
		return 0, false
	}
	return ascii + nonASCII + backslashes + webEscapes, true
}

// scanSegments marks and writes out the digits of s, segment by segment
// (see scanDigits): a segment ends at a letter after a digit, where every
// spelling breaks in every reading, so plain segments (no escape, no digit
// form: one reading) are marked in batches, in the stack's storage (64
// digits: free text has words between its numbers), and written out while
// the scan goes on. The last segment scanned stays in the batch: from the
// first segment that is not plain, the rest of s and the batch are one list,
// marked at once as before segments, since which readings run is decided
// over all of s and a reading's last digit, where a cut text may run on, can
// lie in the segment before (TestScrubBySegmentsMatchesTheWholeScan). need
// is at least the number of digits s can hold: the size of heap storage,
// when a segment needs more than the stack's.
func (k *Secrets) scanSegments(s string, generic, truncated bool, need int) string {
	var store, strongStore [64]digitAt
	var reachStore [64]uint16
	m := marker{k: k, generic: generic, strong: strongStore[:0], reach: reachStore[:0]}
	out := output{s: s}
	batch, last := store[:0], 0 // batch[last:] is the last segment scanned
	tailBreak, plain := true, true
	for from := 0; from < len(s); {
		if len(batch) > cap(batch)/2 && last > 0 {
			// Half full: mark and write out the segments before the last.
			if m.mark(batch[:last], false, true) {
				out.write(batch[:last])
			}
			batch, last = batch[:copy(batch, batch[last:])], 0
		}
		first, next := len(batch), 0
		batch, next, tailBreak, plain = scanDigits(s, from, batch, need)
		if len(batch) == first {
			plain = true // nothing after the last digit is read
			break
		}
		if !plain {
			for from = next; from < len(s); {
				batch, from, tailBreak, _ = scanDigits(s, from, batch, need)
			}
			break
		}
		from, last = next, first
	}
	if len(batch) > 0 && m.mark(batch, truncated && !tailBreak, plain) {
		out.write(batch)
	}
	return out.String()
}

// marker sets the masks of a list of digits: the values the call knows,
// and with generic every run that could be an Aadhaar number, in each
// reading the list needs. strong and reach are scratch storage, kept (and
// grown) from one list to the next.
type marker struct {
	k       *Secrets
	generic bool
	strong  []digitAt // a reading's digits
	reach   []uint16  // markKnown's automaton states
}

// mark marks digits and reports whether it found anything to mask; with
// open, a value may run on past their end (s was cut there); plain says
// that no escape or digit form stands among them (one reading).
func (m *marker) mark(digits []digitAt, open, plain bool) bool {
	found := false
	if m.generic {
		found = markAadhaar(digits, open)
		if !plain {
			forms, escaped := countWeak(digits)
			differ := decodedGapsDiffer(digits)
			if forms+escaped > 0 || differ {
				// The decoded reading: escapes are single characters, the
				// hex digits inside them are not digits ("&nbsp;" is one
				// separator), and neither are the compatibility digit forms.
				found = markReading(digits, open, false, &m.strong) || found
			}
			if forms > 0 && (escaped > 0 || differ) {
				// The mixed reading: escapes decoded, digit forms read as
				// digits ("②③④①%20②③④①%20②③④⑥", "②③④①&nbsp;②③④①...").
				found = markReading(digits, open, true, &m.strong) || found
			}
		}
	}
	if k := m.k; k != nil { // after the generic runs, so that a known value's mask wins
		if len(digits)+1 > cap(m.reach) {
			m.reach = make([]uint16, 0, len(digits)+1)
		}
		found = markKnown(digits, k.Number, 'X', 4, open, m.reach) || found
		found = markKnown(digits, k.OTP, '*', 0, open, m.reach) || found
		found = markKnown(digits, k.Mobile, '*', 0, open, m.reach) || found
	}
	return found
}

// output is what scrubScan returns: s with each masked digit replaced by
// its mask, written list by list, in order; s itself while nothing is
// masked.
type output struct {
	s      string
	b      strings.Builder
	prev   int // s[:prev] is in b
	masked bool
}

func (o *output) write(digits []digitAt) {
	for i := 0; i < len(digits); i++ {
		d := &digits[i]
		if d.mask == 0 || d.start < o.prev {
			// Unmasked, or inside an escape already masked whole (the
			// literal digits of "\070" follow the escape in digits).
			continue
		}
		if !o.masked {
			o.b.Grow(len(o.s))
			o.masked = true
		}
		o.b.WriteString(o.s[o.prev:d.start])
		if last, four, ok := aadhaarOccurrence(digits, i); ok {
			// An Aadhaar number, in whatever spelling, is written in the
			// one form the SDK shows (UIDAI's display form, as MaskAadhaar).
			o.b.WriteString("XXXX XXXX ")
			o.b.Write(four[:])
			o.prev, i = digits[last].end, last
			continue
		}
		o.b.WriteByte(d.mask)
		o.prev = d.end
	}
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

func (o *output) String() string {
	if !o.masked {
		return o.s
	}
	o.b.WriteString(o.s[o.prev:])
	return o.b.String()
}

// maskSecret replaces the client secret, as it is and as Go quotes it
// (strconv.Quote and QuoteToASCII, without the quotes), by [REDACTED].
func (k *Secrets) maskSecret(s string) string {
	if strings.Contains(s, k.Secret) {
		s = strings.ReplaceAll(s, k.Secret, "[REDACTED]")
	}
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	for _, q := range []string{strconv.Quote(k.Secret), strconv.QuoteToASCII(k.Secret)} {
		if q = q[1 : len(q)-1]; q != k.Secret && strings.Contains(s, q) {
			s = strings.ReplaceAll(s, q, "[REDACTED]")
		}
	}
	return s
}

// markReading runs markAadhaar over one reading of digits, and copies the
// masks it sets back: the decoded reading (escapes are one character, weak
// digits are none), or with mixed the mixed one (escapes decoded, digit
// forms read as digits). strong is scratch storage for the reading.
func markReading(digits []digitAt, open, mixed bool, strong *[]digitAt) bool {
	in := func(d digitAt) bool { return !d.weak || mixed && !d.escaped }
	if len(digits) > cap(*strong) {
		*strong = make([]digitAt, 0, len(digits))
	}
	reading := (*strong)[:0]
	for _, d := range digits {
		if in(d) {
			d.gap = d.gapDecoded
			if mixed {
				d.gap = d.gapMixed
			}
			reading = append(reading, d)
		}
	}
	if !markAadhaar(reading, open) {
		return false
	}
	j := 0
	for i := range digits {
		if in(digits[i]) {
			if reading[j].mask != 0 {
				digits[i].mask = reading[j].mask
			}
			digits[i].kept = digits[i].kept || reading[j].kept
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

// MaskDigits replaces every digit of s, of any script or form, with X.
func MaskDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if _, ok := DigitValue(r); ok {
			return 'X'
		}
		return r
	}, s)
}

// Clip shortens s to at most n bytes on a rune boundary, marking the cut.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
