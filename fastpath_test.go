package deepvue

import (
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

// The fast paths added for issue 18 (cost per call) must decide exactly as
// the code they shortcut: each is checked here against that code, kept as
// the reference.

// identOKReference is identOK as it was before its ASCII fast path: every
// rune goes through digitValue and isLetterRune.
func identOKReference(s string) bool {
	if isUUID(s) {
		return true
	}
	chain, sepInChain, lastDigit := 0, false, false
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		i += size
		switch _, digit := digitValue(r); {
		case r >= '0' && r <= '9':
			chain++
			if chain >= minKnownDigits && sepInChain {
				return false
			}
			lastDigit = true
		case digit:
			return false
		case isLetterRune(r):
			chain, sepInChain, lastDigit = 0, false, false
		default:
			if lastDigit {
				sepInChain = true
			}
			lastDigit = false
		}
	}
	if len(s) == aadhaarDigits {
		var v [aadhaarDigits]byte
		for i := range v {
			if s[i] < '0' || s[i] > '9' {
				return true
			}
			v[i] = s[i] - '0'
		}
		return !aadhaarLike(v[:])
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
}

func TestIdentOKMatchesItsReference(t *testing.T) {
	for _, s := range identSamples {
		assert.Equal(t, identOKReference(s), identOK(s), "%q", s)
	}
	// Random strings over an alphabet of ASCII digits, letters, separators
	// and a few non-ASCII digits, letters and separators.
	alphabet := []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "F", "z", "-", " ", ".", "_", ":", "/",
		"\u00a0", "\u200b", "²", "४", "①", "é", "ㅤ", "\xff", "\\"}
	rng := rand.New(rand.NewPCG(18, 5))
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		for n := rng.IntN(20); n > 0; n-- {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		s := b.String()
		if identOKReference(s) != identOK(s) {
			t.Fatalf("identOK(%q) = %v, reference %v", s, identOK(s), identOKReference(s))
		}
	}
}

func FuzzIdentOK(f *testing.F) {
	for _, s := range identSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := identOK(s), identOKReference(s); got != want {
			t.Fatalf("identOK(%q) = %v, reference %v", s, got, want)
		}
	})
}

// scrubReference is scrub without its fast exit (nothingToMask).
func (k *secrets) scrubReference(s string, generic, truncated bool) string {
	if s == "" {
		return s
	}
	if k != nil && k.secret != "" {
		s = k.maskSecret(s)
	}
	return k.scrubScan(s, generic, truncated)
}

func fastPathSecrets() []*secrets {
	return []*secrets{nil, {secret: testSecret}, {number: validNumber, secret: testSecret},
		{number: validNumber, otp: testOTP, mobile: testMobile, secret: testSecret}}
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
	check := func(k *secrets, s string) {
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

func TestWriteQueryEscapeIsQueryEscape(t *testing.T) {
	check := func(s string) {
		var b strings.Builder
		writeQueryEscape(&b, s)
		if b.String() != url.QueryEscape(s) {
			t.Fatalf("writeQueryEscape(%q) = %q, url.QueryEscape says %q", s, b.String(), url.QueryEscape(s))
		}
	}
	for _, s := range []string{"", "KYC onboarding", "a", " ", "  x  ", "loan/KYC & more: 100%", "~-_.", "é", "a+b=c"} {
		check(s)
	}
	rng := rand.New(rand.NewPCG(18, 3))
	for i := 0; i < 20000; i++ {
		b := make([]byte, rng.IntN(16))
		for j := range b {
			if rng.IntN(2) == 0 {
				b[j] = "az09 -_.~+%&/"[rng.IntN(13)]
			} else {
				b[j] = byte(rng.IntN(256))
			}
		}
		check(string(b))
	}
}

func TestASCIIPurposeCheckMatchesTheFullCheck(t *testing.T) {
	check := func(p string) {
		if asciiPurposeOK(p) && checkPurpose(p) != nil {
			t.Fatalf("asciiPurposeOK(%q) accepts what checkPurpose refuses: %v", p, checkPurpose(p))
		}
		isASCII := true
		for i := 0; i < len(p); i++ {
			isASCII = isASCII && p[i] < utf8.RuneSelf
		}
		if isASCII && !asciiPurposeOK(p) && checkPurpose(p) == nil {
			t.Fatalf("asciiPurposeOK(%q) refuses what checkPurpose accepts", p)
		}
	}
	for _, p := range []string{"", " ", "\t\n", "KYC for loan account opening", "a\tb", "a\x7f", "x\x00", " x ",
		strings.Repeat("a", maxPurposeBytes), strings.Repeat("a", maxPurposeBytes+1), "\v\f\r", "é", "\x85"} {
		check(p)
	}
	rng := rand.New(rand.NewPCG(18, 2))
	for i := 0; i < 20000; i++ {
		b := make([]byte, rng.IntN(8))
		for j := range b {
			const alphabet = "a Z\t\n\v\f\r\x00\x1f\x7f~"
			b[j] = alphabet[rng.IntN(len(alphabet))]
		}
		check(string(b))
	}
}
