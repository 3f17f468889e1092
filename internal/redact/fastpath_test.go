package redact

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

// The scrubber's fast paths added for issue 18 (cost per call) must decide
// exactly as the code they shortcut: each is checked here against that
// code, kept as the reference. (The core's own, the query escape and the
// purpose check: input_test.go there.)

// identOKReference is IdentOK as it was before its ASCII fast path: every
// rune, and every web escape read as the one character it stands for,
// goes through DigitValue and IsLetterRune.
func identOKReference(s string) bool {
	if IsUUID(s) {
		return true
	}
	chain, sepInChain, lastDigit := 0, false, false
	for i := 0; i < len(s); {
		r, size, escaped := rune(s[i]), 1, false
		if r == '%' || r == '&' {
			if er, n := parseWebEscape(s[i:]); n > 0 {
				r, size, escaped = er, n, true
			}
		} else if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		i += size
		switch _, digit := DigitValue(r); {
		case r >= '0' && r <= '9' && !escaped:
			chain++
			if chain >= MinKnownDigits && sepInChain {
				return false
			}
			lastDigit = true
		case digit:
			return false // a digit of another script or form, or an escaped one
		case IsLetterRune(r):
			chain, sepInChain, lastDigit = 0, false, false
		default:
			if lastDigit {
				sepInChain = true
			}
			lastDigit = false
		}
	}
	if len(s) == AadhaarDigits {
		var v [AadhaarDigits]byte
		for i := range v {
			if s[i] < '0' || s[i] > '9' {
				return true
			}
			v[i] = s[i] - '0'
		}
		return !AadhaarLike(v[:])
	}
	return true
}

// identSamples are identifiers and near-identifiers: Deepvue's ids, numbers
// written for a person, digits of other scripts, separators of every kind.
var identSamples = []string{
	"", "12815fb81c084fb7a35eedc0ef1c5a84", "29756208", "SUCCESS", "INVALID_INPUT",
	"234123412346", "234123412347", "2341-2341-2346", "98765 43210", "482.913", "48.2913",
	"123e4567-e89b-12d3-a456-426614174000", "ref:123456", "12345-6", "1-23456", "a1-23456",
	"२३४१२३४१२३४६", "²³⁴¹²³", "①②③④⑤⑥", "x\u00a0123456", "12\u200b3456", "12ㅤ3456",
	"12\u3164345678", "txn_0012_3456", "ab12-cd3456", "12/34/56/78", "\xff\xfe123456", "12\xff3456",
	"%30", "tx%2Dref", "123%20456", "&#50;", "ab&nbsp;123456", "12&amp;#x41;3456", "100%", "R&D-123456",
}

func TestIdentOKMatchesItsReference(t *testing.T) {
	for _, s := range identSamples {
		assert.Equal(t, identOKReference(s), IdentOK(s), "%q", s)
	}
	// Random strings over an alphabet of ASCII digits, letters, separators
	// and a few non-ASCII digits, letters and separators.
	alphabet := []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "F", "z", "-", " ", ".", "_", ":", "/",
		"\u00a0", "\u200b", "²", "४", "①", "é", "ㅤ", "\xff", "\\", "%", "&", "#", ";", "%20", "%3", "&#", "&nbsp;"}
	rng := rand.New(rand.NewPCG(18, 5))
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		for n := rng.IntN(20); n > 0; n-- {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		s := b.String()
		if identOKReference(s) != IdentOK(s) {
			t.Fatalf("IdentOK(%q) = %v, reference %v", s, IdentOK(s), identOKReference(s))
		}
	}
}

func FuzzIdentOK(f *testing.F) {
	for _, s := range identSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := IdentOK(s), identOKReference(s); got != want {
			t.Fatalf("IdentOK(%q) = %v, reference %v", s, got, want)
		}
	})
}

// scrubReference is scrub without its fast exit (nothingToMask), and
// without the scan by segments (issue 26): every digit of s is marked at
// once, as before segments.
func (k *Secrets) scrubReference(s string, generic, truncated bool) string {
	if s == "" {
		return s
	}
	if k != nil && k.Secret != "" {
		s = k.maskSecret(s)
	}
	if _, scan := k.needsScan(s, generic, truncated); !scan {
		return s
	}
	return k.scanWhole(s, generic, truncated)
}

// scanWhole is scanSegments as the scan was before segments: every digit of
// s in one list (the segments' lists end to end: the scan of a segment
// starts in the state the previous one stopped in), marked at once, then
// written out.
func (k *Secrets) scanWhole(s string, generic, truncated bool) string {
	var digits []digitAt
	tailBreak := true
	for from := 0; from < len(s); {
		seg, next, tb, _ := scanDigits(s, from, nil, 0)
		if len(seg) == 0 {
			break
		}
		digits = append(digits, seg...)
		from, tailBreak = next, tb
	}
	if len(digits) == 0 {
		return s
	}
	open := truncated && !tailBreak
	masked := false
	var strong []digitAt
	if generic {
		masked = markAadhaar(digits, open)
		forms, escaped := countWeak(digits)
		differ := decodedGapsDiffer(digits)
		if forms+escaped > 0 || differ {
			masked = markReading(digits, open, false, &strong) || masked
		}
		if forms > 0 && (escaped > 0 || differ) {
			masked = markReading(digits, open, true, &strong) || masked
		}
	}
	if k != nil {
		reach := make([]uint16, 0, len(digits)+1)
		masked = markKnown(digits, k.Number, 'X', 4, open, reach) || masked
		masked = markKnown(digits, k.OTP, '*', 0, open, reach) || masked
		masked = markKnown(digits, k.Mobile, '*', 0, open, reach) || masked
	}
	if !masked {
		return s
	}
	// The same writer: what is compared is what is masked (an Aadhaar
	// number's one form is the writer's, TestScrubKnownValuesInAnySpelling).
	out := output{s: s}
	out.write(digits)
	return out.String()
}

func fastPathSecrets() []*Secrets {
	return []*Secrets{nil, {Secret: testSecret}, {Number: validNumber, Secret: testSecret},
		{Number: validNumber, OTP: testOTP, Mobile: testMobile, Secret: testSecret}}
}

// scrubSamples are the values a call scrubs on its common paths and the
// near-misses around the fast exit's conditions.
var scrubSamples = []string{
	"", "OTP sent to your Registered Mobile number. Check your mobile.", "12815fb81c084fb7a35eedc0ef1c5a84",
	"29756208", "SUCCESS", "Invalid UID. Please enter valid UID", "ref 12345", "ref 123456", "id234123412346",
	"234123412346", "x234123412346y", "2341 2341 2346", "a" + testOTP + "b", "m" + testMobile, "12345\\u0036",
	"１２３４５６", "२३४१२३४१२३४६", "12\u00a03456", "\xff123456", testSecret, "k" + testSecret + "1234567",
	"Otp already generated for this aadhaar, please try after some time.", "999941057058", "0000000000000",
	"48291\\u0033", "4829\\x313", "ref48291\\063",
}

func TestScrubFastExitMatchesTheScan(t *testing.T) {
	check := func(k *Secrets, s string) {
		for _, generic := range []bool{false, true} {
			for _, truncated := range []bool{false, true} {
				if got, want := k.scrub(s, generic, truncated), k.scrubReference(s, generic, truncated); got != want {
					t.Fatalf("scrub(%q, generic=%v, truncated=%v) = %q, the scan says %q", s, generic, truncated, got, want)
				}
			}
		}
	}
	for _, k := range fastPathSecrets() {
		for _, s := range scrubSamples {
			check(k, s)
		}
	}
	alphabet := []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "Z", "x", " ", "-", ".", "\\", "u", "\t",
		"\u00a0", "२", "²", "\xff", validNumber, testOTP, testMobile, testSecret, "2346", "99994"}
	rng := rand.New(rand.NewPCG(18, 4))
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		for n := rng.IntN(12); n > 0; n-- {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		for _, k := range fastPathSecrets() {
			check(k, b.String())
		}
	}
}

// TestScrubBySegmentsMatchesTheWholeScan (issue 26): scanSegments masks
// exactly what the whole scan (scanWhole: every digit of s in one list, the
// code before) masks, for texts of many segments, plain or with escapes and
// digit forms in any of them, cut or not. Among them, the texts where the
// whole scan decides across segments: a cut text whose decoded reading ends
// before a segment of digit forms only ("...780Za²"), and an Aadhaar number
// spelled with a digit form ("2341 234¹  \t2346") whose mixed reading runs
// only because of an escape in another segment.
func TestScrubBySegmentsMatchesTheWholeScan(t *testing.T) {
	check := func(k *Secrets, s string) {
		for _, generic := range []bool{false, true} {
			for _, truncated := range []bool{false, true} {
				need, _ := k.needsScan(s, generic, true) // cut: no exit
				if got, want := k.scanSegments(s, generic, truncated, need), k.scanWhole(s, generic, truncated); got != want {
					t.Fatalf("scanSegments(%q, generic=%v, truncated=%v) = %q, the whole scan says %q", s, generic, truncated, got, want)
				}
			}
		}
	}
	texts := []string{
		"x 09123456780Za²", "x 0912345678 Za² b³ c⁴", "x 09123456780Za\\x31",
		"UID 2341 234¹  \\t2346 and x\\u0031 later", "UID 2341 234¹  \\t2346 and 100%31 later", "UID 2341 234¹  \\t2346",
		// The same, with more segments between than a batch holds.
		"x 09123456780" + strings.Repeat("Za²", 40), "x 09123456780" + strings.Repeat("Za\\x31", 20),
		"UID 2341 234¹  \\t2346 and" + strings.Repeat(" ref 1234 5678-9012", 5) + " x\\u0031",
		strings.Repeat("ref 1234 5678-9012, id 98765.43210 at 10.0.0.1:8080; ", 8),
		strings.Repeat("1234 5678-9012, 98765.43210 10.0.0.1:8080; ", 8),
		"otp 482 913 and mobile 91234 56780 and UID 2341 2341 2346", "a" + validNumber + "b" + testOTP + "c" + testMobile,
		"२३४१ २३४१ २३४६ x ²³⁴¹²³⁴¹²³⁴⁶ y 2341%202341%202346 z 2341&nbsp;2341&nbsp;2346",
	}
	for _, k := range fastPathSecrets() {
		for _, s := range append(texts, scrubSamples...) {
			check(k, s)
		}
	}
	// Random texts of many segments: words, separators, digits, the values,
	// digit forms and escapes.
	alphabet := []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "Z", "x", "ref", " ", "-", ".", ", ", ":",
		"\\", "\\t", "\\x31", "\\u00a0", "%20", "%32", "&nbsp;", "&#50;", "\t", "\u00a0", "२", "²", "①", "\xff",
		validNumber, testOTP, testMobile, testSecret, "2341 2341 ", "2346", "99994", "9999 4105 7058"}
	rng := rand.New(rand.NewPCG(26, 1))
	for i := 0; i < 2000; i++ {
		var b strings.Builder
		for n := rng.IntN(40); n > 0; n-- {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		for _, k := range fastPathSecrets() {
			check(k, b.String())
		}
	}
}

func FuzzScrubFastExit(f *testing.F) {
	for _, s := range scrubSamples {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, generic bool) {
		for _, k := range fastPathSecrets() {
			if got, want := k.scrub(s, generic, false), k.scrubReference(s, generic, false); got != want {
				t.Fatalf("scrub(%q, generic=%v) = %q, the scan says %q", s, generic, got, want)
			}
		}
	})
}

// nothingToMaskByteWise is nothingToMask as it was before it read eight
// bytes at a time: every byte through the table of classes.
func (k *Secrets) nothingToMaskByteWise(s string, generic bool) bool {
	classes, digits := uint8(0), 0
	for i := 0; i < len(s); i++ {
		c := byteClass[s[i]]
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

// TestNothingToMaskMatchesByteWise: the fast exit's eight-bytes-at-a-time
// reading decides as the byte-at-a-time one, for every byte value at every
// position of texts of 0 to 40 bytes (each byte class, the digits' edges
// '/', '0', '9', ':' and the top bit's 0x7f, 0x80) and for 20,000 random
// texts.
func TestNothingToMaskMatchesByteWise(t *testing.T) {
	check := func(s string) {
		for _, k := range fastPathSecrets() {
			for _, generic := range []bool{false, true} {
				if got, want := k.nothingToMask(s, generic), k.nothingToMaskByteWise(s, generic); got != want {
					t.Fatalf("nothingToMask(%q, generic=%v) = %v, byte-wise %v", s, generic, got, want)
				}
			}
		}
	}
	for n := 0; n <= 40; n++ {
		base := []byte(strings.Repeat("a1", 21)[:n])
		for i := 0; i < n; i++ {
			for c := 0; c < 256; c++ {
				b := append([]byte(nil), base...)
				b[i] = byte(c)
				check(string(b))
			}
		}
	}
	alphabet := "0123456789/:aZ .-\\\x7f\x80\xffé2346"
	rng := rand.New(rand.NewPCG(26, 8))
	for i := 0; i < 20000; i++ {
		b := make([]byte, rng.IntN(48))
		for j := range b {
			b[j] = alphabet[rng.IntN(len(alphabet))]
		}
		check(string(b))
	}
	check(validNumber + "abcdefgh")
	check("abcdefgh" + testOTP + "xy")
}
