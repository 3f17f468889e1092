package redact

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/deepvue-go/deepvue/internal/uid"
)

// How the scrubbers read digits: the scan (digit forms, escapes, invisible
// separators) and the two markers (values the call knows, runs that could be
// an Aadhaar number).

// digitAt is one decimal digit found in a string.
type digitAt struct {
	start, end int  // byte offsets of the rune (or escape)
	val        byte // 0-9
	// gap describes the text between the previous digit and this one:
	// 0 nothing, 1-3 that many separators, gapLong more separators,
	// gapBreak a letter (or the first digit). gapDecoded is the same in
	// the decoded reading of Go's escapes, where a weak digit is no digit;
	// gapMixed in the mixed reading: escapes decoded, and the compatibility
	// digit forms read as digits ("②③④①%20②③④①...").
	gap, gapDecoded, gapMixed uint8
	// weak: a hex digit inside an escape ("\u00a0") or a compatibility
	// digit form ("¹"), a digit only in the literal reading.
	weak bool
	// escaped: a weak digit inside an escape (not a digit form), no digit
	// in the mixed reading either.
	escaped bool
	// skippable: an escape that decodes to a digit ("\070" is "8"): read as
	// that digit, or skipped for the literal reading of its own digits,
	// which follow it as weak digits.
	skippable bool
	mask      byte // the character to print instead, 0 to keep
	kept      bool // one of the four digits an Aadhaar number's mask keeps
}

const (
	gapLong  = 254
	gapBreak = 255
)

func incGap(g uint8) uint8 {
	if g < gapLong {
		return g + 1
	}
	return g
}

// scanDigits appends to out the digits of one segment of s, the one that
// starts at from, with the gaps between them; it returns where the next
// segment starts, whether a letter follows the segment's last digit, and
// whether the segment is plain: no escape and no digit form in it, so that
// every reading of its digits is the literal one. A segment ends at the
// first letter after a digit: no spelling crosses a letter in any reading,
// and the letter leaves every gap at gapBreak, the state the scan starts
// in, so the segments' lists end to end are the list of all of s. need is
// at least the number of digits s can hold (ASCII digits, non-ASCII runes
// and escapes): the size of the storage when out, the caller's, is full.
func scanDigits(s string, from int, out []digitAt, need int) (_ []digitAt, next int, tailBreak, plain bool) {
	gapLit, gapDec, gapMix := uint8(gapBreak), uint8(gapBreak), uint8(gapBreak)
	first := len(out) // out may hold the segments before
	plain = true
	for i := from; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		} else if r == '\\' {
			// A run of backslashes before an escape is that escape quoted
			// again (%q of a text that holds a %q): one escape.
			e := i
			for e+1 < len(s) && s[e+1] == '\\' {
				e++
			}
			if er, n, hex := parseEscape(s[e:]); n > 0 {
				end := e + n
				plain = false
				if cap(out)-len(out) <= n {
					out = grow(out, n+1, need)
				}
				if v, ok := DigitValue(er); ok {
					// Decoded reading: the escape is that digit, which may also
					// be skipped for the literal reading ("8\\070" is also 8,
					// 0, 7, 0).
					out = append(out, digitAt{start: i, end: end, val: v, gap: gapLit, gapDecoded: gapDec, gapMixed: gapMix, skippable: true})
					gapLit, gapDec, gapMix = 0, 0, 0
				} else if IsLetterRune(er) {
					// Decoded reading: the escape is one character, a letter
					// or a separator.
					gapDec, gapMix = gapBreak, gapBreak
				} else {
					gapDec, gapMix = incGap(gapDec), incGap(gapMix)
				}
				// Literal reading: the backslashes and the escape's letters
				// are separators, its hex or octal digits are (weak) digits.
				gapLit = incGap(gapLit)
				for j := e + 1; j < end; j++ {
					if c := s[j]; c >= '0' && c <= '9' && j >= end-hex {
						out = append(out, digitAt{start: j, end: j + 1, val: c - '0', gap: gapLit, weak: true, escaped: true})
						gapLit = 0
					} else {
						gapLit = incGap(gapLit)
					}
				}
				i = end
				continue
			}
		}
		if r == '%' || r == '&' {
			// A web escape: percent-encoding ("%20", "%32", "%E0%A5%A8",
			// encoded again as "%2520") or an HTML character reference
			// ("&#50;", "&#x32;", "&nbsp;", "&amp;#50;"). Read both ways, as
			// Go's escapes are: decoded, it is one character; literally, its
			// ASCII digits are weak digits and the rest separators.
			if er, n := parseWebEscape(s[i:]); n > 0 {
				end := i + n
				plain = false
				if cap(out)-len(out) <= n {
					out = grow(out, n+1, need)
				}
				if v, ok := DigitValue(er); ok {
					out = append(out, digitAt{start: i, end: end, val: v, gap: gapLit, gapDecoded: gapDec, gapMixed: gapMix, skippable: true})
					gapLit, gapDec, gapMix = 0, 0, 0
				} else if IsLetterRune(er) {
					gapDec, gapMix = gapBreak, gapBreak
				} else {
					gapDec, gapMix = incGap(gapDec), incGap(gapMix)
				}
				gapLit = incGap(gapLit)
				for j := i + 1; j < end; j++ {
					if c := s[j]; c >= '0' && c <= '9' {
						out = append(out, digitAt{start: j, end: j + 1, val: c - '0', gap: gapLit, weak: true, escaped: true})
						gapLit = 0
					} else {
						gapLit = incGap(gapLit)
					}
				}
				i = end
				continue
			}
		}
		if v, ok := DigitValue(r); ok {
			if len(out) == cap(out) {
				out = grow(out, 1, need)
			}
			if r >= utf8.RuneSelf && !unicode.IsDigit(r) {
				// A compatibility digit form (superscript, circled: Unicode
				// No) is read both ways, as an escape's hex digit is: as a
				// digit, and as a separator between digits ("2¹3¹4¹1..."
				// spells 2341...).
				out = append(out, digitAt{start: i, end: i + size, val: v, gap: gapLit, gapDecoded: gapDec, gapMixed: gapMix, weak: true})
				gapLit, gapDec, gapMix, plain = 0, incGap(gapDec), 0, false
			} else {
				out = append(out, digitAt{start: i, end: i + size, val: v, gap: gapLit, gapDecoded: gapDec, gapMixed: gapMix})
				gapLit, gapDec, gapMix = 0, 0, 0
			}
		} else if IsLetterRune(r) {
			gapLit, gapDec, gapMix = gapBreak, gapBreak, gapBreak
			if len(out) > first {
				return out, i + size, true, plain // a letter after a digit: the segment ends
			}
		} else {
			gapLit, gapDec, gapMix = incGap(gapLit), incGap(gapDec), incGap(gapMix)
		}
		i += size
	}
	return out, len(s), gapLit == gapBreak, plain
}

// grow moves out to storage with room for n more digits: need (every digit
// s holds) the first time, when out is the caller's storage on the stack.
func grow(out []digitAt, n, need int) []digitAt {
	return append(make([]digitAt, 0, max(need, 2*cap(out), len(out)+n)), out...)
}

// parseEscape reads a Go escape at the start of s (which begins with a
// backslash): it returns the rune it stands for, its length (0 if s does
// not start with an escape) and how many hex or octal digits end it.
func parseEscape(s string) (r rune, n, digits int) {
	if len(s) < 2 {
		return 0, 0, 0
	}
	switch c := s[1]; c {
	case 'a':
		return '\a', 2, 0
	case 'b':
		return '\b', 2, 0
	case 'f':
		return '\f', 2, 0
	case 'n':
		return '\n', 2, 0
	case 'r':
		return '\r', 2, 0
	case 't':
		return '\t', 2, 0
	case 'v':
		return '\v', 2, 0
	case '\\', '\'', '"':
		return rune(c), 2, 0
	case 'x', 'u', 'U':
		switch c {
		case 'x':
			digits = 2
		case 'u':
			digits = 4
		default:
			digits = 8
		}
		if len(s) < 2+digits {
			return 0, 0, 0
		}
		v, err := strconv.ParseUint(s[2:2+digits], 16, 32)
		if err != nil {
			return 0, 0, 0
		}
		return rune(v), 2 + digits, digits
	case '0', '1', '2', '3', '4', '5', '6', '7':
		if len(s) < 4 {
			return 0, 0, 0
		}
		v, err := strconv.ParseUint(s[1:4], 8, 8)
		if err != nil {
			return 0, 0, 0
		}
		return rune(v), 4, 3
	}
	return 0, 0, 0
}

// parseWebEscape reads a web escape at the start of s (which begins with
// '%' or '&'): a percent-encoded byte, possibly encoded again ("%2532" is
// "%32" is "2"), or a run of them that is one UTF-8 sequence ("%E0%A5%A8"
// is "२"); or an HTML character reference, numeric ("&#50;", "&#x32;",
// the semicolon optional) or named ("&nbsp;", "&sup2;"), possibly with its
// ampersand escaped again ("&amp;#50;"). It returns the rune it stands for
// and its length (0 if s does not start with one). A named reference stands
// for a separator (U+00A0), whatever it names: the digit of "&sup2;" is
// read in the literal reading, as the escape's own digit.
func parseWebEscape(s string) (r rune, n int) {
	if s[0] == '%' {
		b, n := percentByte(s)
		if n == 0 {
			return 0, 0
		}
		if b < utf8.RuneSelf {
			return rune(b), n
		}
		// A UTF-8 sequence spelled one percent-encoded byte at a time.
		var seq [utf8.UTFMax]byte
		seq[0] = b
		k, size := 1, n
		for k < utf8.UTFMax && !utf8.FullRune(seq[:k]) {
			c, m := percentByte(s[size:])
			if m == 0 {
				break
			}
			seq[k], k, size = c, k+1, size+m
		}
		if r, w := utf8.DecodeRune(seq[:k]); r != utf8.RuneError && w == k {
			return r, size
		}
		return utf8.RuneError, n // a stray byte: one separator
	}
	// "&", then "amp;" any number of times (the ampersand escaped again).
	j := 1
	for strings.HasPrefix(s[j:], "amp;") && j+4 < len(s) && (s[j+4] == '#' || isASCIILetter(s[j+4])) {
		j += 4
	}
	if j < len(s) && s[j] == '#' {
		j++
		base := 10
		if j < len(s) && (s[j] == 'x' || s[j] == 'X') {
			base, j = 16, j+1
		}
		start := j
		for j < len(s) && j-start < 8 && hexValue(s[j]) < base {
			j++
		}
		if j == start {
			return 0, 0
		}
		v, err := strconv.ParseUint(s[start:j], base, 32)
		if err != nil || v > unicode.MaxRune {
			return 0, 0
		}
		if j < len(s) && s[j] == ';' {
			j++
		}
		return rune(v), j
	}
	start := j
	for j < len(s) && j-start < 32 && (isASCIILetter(s[j]) || (j > start && s[j] >= '0' && s[j] <= '9')) {
		j++
	}
	if j == start || j >= len(s) || s[j] != ';' {
		return 0, 0
	}
	return '\u00a0', j + 1
}

// percentByte reads "%HH" at the start of s, and "%25" encoded again any
// number of times before it ("%2520" is "%20"): the byte and the length (0
// if s does not start with one).
func percentByte(s string) (byte, int) {
	if len(s) < 3 || s[0] != '%' {
		return 0, 0
	}
	j := 1
	for j+4 <= len(s) && s[j] == '2' && s[j+1] == '5' && hexValue(s[j+2]) < 16 && hexValue(s[j+3]) < 16 {
		j += 2
	}
	if j+2 > len(s) {
		return 0, 0
	}
	hi, lo := hexValue(s[j]), hexValue(s[j+1])
	if hi >= 16 || lo >= 16 {
		return 0, 0
	}
	return byte(hi<<4 | lo), j + 2
}

// hexValue returns the value of a hex digit, 16 for any other byte.
func hexValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return 16
}

func isASCIILetter(c byte) bool { return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }

// countWeak counts the weak digits: the digit forms, and the digits inside
// escapes.
func countWeak(digits []digitAt) (forms, escaped int) {
	for i := range digits {
		switch d := &digits[i]; {
		case d.escaped:
			escaped++
		case d.weak:
			forms++
		}
	}
	return forms, escaped
}

// IsLetterRune reports whether r breaks a spelling: a letter, other than the
// invisible ones that Unicode classes as letters (the Hangul fillers), which
// count as separators like the other default-ignorable code points.
func IsLetterRune(r rune) bool {
	if r < utf8.RuneSelf {
		return ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z')
	}
	switch r {
	case 0x115F, 0x1160, 0x3164, 0xFFA0:
		return false
	}
	return unicode.IsLetter(r)
}

// markKnown marks every occurrence of value (ASCII digits, at most 15) in
// the digit stream: digits separated by anything but letters, where each
// weak digit (a hex or octal digit inside an escape) may be read as a digit
// or skipped, escape by escape, as a person may read "\\341" as "341" and
// "\u200b" as an invisible space. The last keep digits of an occurrence are
// left visible. With open, a beginning of value that runs into the end of
// digits counts as an occurrence. It reports whether it marked any.
//
// It runs the automaton for value both ways: reach[x] is the set (a bit per
// matched length) of states from which an occurrence can be completed
// reading digits[x:]; a forward pass then marks each digit that some
// completed occurrence reads. reach is scratch space.
func markKnown(digits []digitAt, value string, mask byte, keep int, open bool, reach []uint16) bool {
	n := len(value)
	if n == 0 || n > 15 {
		return false
	}
	done := uint16(1) << n
	all := done<<1 - 1
	var at [10]uint16 // at[d]: the states j whose next digit value[j] is d
	for j := 0; j < n; j++ {
		at[value[j]-'0'] |= 1 << j
	}
	reach = reach[:len(digits)+1]
	reach[len(digits)] = done
	if open {
		reach[len(digits)] = all
	}
	starts := false
	for x := len(digits) - 1; x >= 0; x-- {
		d, next := &digits[x], reach[x+1]
		r := done | at[d.val]&(next>>1)
		if d.weak || d.skippable {
			r |= next &^ done
		}
		if d.gap == gapBreak { // a letter before d: only a new start (state 0) crosses it
			r &= done | 1
		}
		starts = starts || r&1 != 0
		reach[x] = r
	}
	if !starts {
		return false
	}
	found := false
	hide := uint16(1)<<(n-keep) - 1 // the states whose digit is masked
	cur := uint16(1)                // the states reachable before digits[x]
	for x := range digits {
		d := &digits[x]
		if d.gap == gapBreak {
			cur = 0
		}
		cur |= 1
		if take := cur & at[d.val] & (reach[x+1] >> 1); take != 0 {
			found = true
			if take&hide != 0 {
				d.mask = mask
			} else if keep > 0 {
				d.kept = true
			}
		}
		next := (cur & at[d.val]) << 1
		if d.weak || d.skippable {
			next |= cur
		}
		cur = next &^ done
	}
	return found
}

// markAadhaar marks every digit run that could be an Aadhaar number: 12
// digits, the first 2-9, not a palindrome, a valid Verhoeff check digit,
// written either contiguously or in three groups of four with one to three
// separators between them. It keeps the last four. IP addresses, ports,
// timestamps and other numbers stay readable. With open, the last eleven
// digits of a run that reaches the end of digits are masked: the rest of
// it is past the cut.
func markAadhaar(digits []digitAt, open bool) bool {
	found := false
	var v [AadhaarDigits]byte
	check := func(idx *[AadhaarDigits]int) {
		for x := range v {
			v[x] = digits[idx[x]].val
		}
		if AadhaarLike(v[:]) {
			for x := 0; x < AadhaarDigits-4; x++ {
				digits[idx[x]].mask = 'X'
			}
			for x := AadhaarDigits - 4; x < AadhaarDigits; x++ {
				digits[idx[x]].kept = true
			}
			found = true
		}
	}
	var idx [AadhaarDigits]int
	// Contiguous groups, and the lengths of the previous groups of the chain.
	groupStart := 0
	var prevLen [2]int   // lengths of the two previous groups (0 if none)
	var prevStart [2]int // their starts
	for i := 0; i <= len(digits); i++ {
		if i < len(digits) && i > groupStart && digits[i].gap == 0 {
			continue
		}
		// The group [groupStart, i) has ended.
		glen := i - groupStart
		for w := groupStart; w+AadhaarDigits <= i; w++ {
			for x := range idx {
				idx[x] = w + x
			}
			check(&idx)
		}
		if glen == 4 && prevLen[0] == 4 && prevLen[1] == 4 {
			for x := 0; x < 4; x++ {
				idx[x], idx[4+x], idx[8+x] = prevStart[1]+x, prevStart[0]+x, groupStart+x
			}
			check(&idx)
		}
		if i == len(digits) {
			if open {
				chainStart := groupStart
				for chainStart > 0 && digits[chainStart].gap <= 3 {
					chainStart--
				}
				for x := max(chainStart, i-(AadhaarDigits-1)); x < i; x++ {
					digits[x].mask = 'X'
					found = true
				}
			}
			break
		}
		if digits[i].gap <= 3 { // the chain goes on
			prevLen[1], prevStart[1] = prevLen[0], prevStart[0]
			prevLen[0], prevStart[0] = glen, groupStart
		} else {
			prevLen, prevStart = [2]int{}, [2]int{}
		}
		groupStart = i
	}
	return found
}

// AadhaarLike reports whether the 12 digit values (0-9) in v form a valid
// Aadhaar number.
func AadhaarLike(v []byte) bool {
	if len(v) != AadhaarDigits || v[0] < 2 {
		return false
	}
	var n uid.Number
	for i, d := range v {
		if d > 9 {
			return false
		}
		n[i] = '0' + d
	}
	return n.Valid() == uid.OK
}

// digitForms are the compatibility forms of the digits that Unicode does not
// class as decimal digits (category No): superscripts, subscripts, circled,
// parenthesised and other digit forms, which NFKC folds to 0-9. Each range
// holds consecutive values starting at first.
var digitForms = []struct {
	lo, hi rune
	first  byte
}{
	{0x00B2, 0x00B3, 2}, {0x00B9, 0x00B9, 1}, // ² ³ ¹
	{0x1369, 0x1371, 1},                      // Ethiopic digits ፩-፱
	{0x19DA, 0x19DA, 1},                      // New Tai Lue tham digit one
	{0x2070, 0x2070, 0}, {0x2074, 0x2079, 4}, // ⁰ ⁴-⁹
	{0x2080, 0x2089, 0},                      // ₀-₉
	{0x2460, 0x2468, 1}, {0x24EA, 0x24EA, 0}, // ①-⑨ ⓪
	{0x2474, 0x247C, 1},                      // ⑴-⑼
	{0x2488, 0x2490, 1},                      // ⒈-⒐
	{0x24F5, 0x24FD, 1}, {0x24FF, 0x24FF, 0}, // ⓵-⓽ ⓿
	{0x2776, 0x277E, 1}, {0x2780, 0x2788, 1}, {0x278A, 0x2792, 1}, // ❶-❾ ➀-➈ ➊-➒
	{0x10A40, 0x10A43, 1},                        // Kharoshthi digits
	{0x10E60, 0x10E68, 1},                        // Rumi digits
	{0x11052, 0x1105A, 1},                        // Brahmi numbers
	{0x1F100, 0x1F100, 0}, {0x1F101, 0x1F10A, 0}, // 🄀 🄁-🄊
	{0x1F10B, 0x1F10B, 0}, {0x1F10C, 0x1F10C, 0}, // 🄋 🄌
}

// DigitValue returns the value of a decimal digit of any script (Unicode
// Nd), or of a compatibility digit form (digitForms).
func DigitValue(r rune) (byte, bool) {
	if r >= '0' && r <= '9' {
		return byte(r - '0'), true
	}
	if r < 0xB2 {
		return 0, false
	}
	if unicode.IsDigit(r) {
		// Unicode encodes the decimal digits (category Nd) of every script
		// as runs of ten, 0 to 9 in order (TestDigitValueTables checks the
		// tables), so a digit's value is its distance from the start of its
		// range, mod 10.
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
	if !unicode.Is(unicode.No, r) {
		return 0, false
	}
	for _, f := range digitForms {
		if r >= f.lo && r <= f.hi {
			return f.first + byte(r-f.lo), true
		}
	}
	return 0, false
}
