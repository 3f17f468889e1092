package deepvue

import (
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestQueryEscapeMatchesStandardLibrary(t *testing.T) {
	for _, s := range []string{"", "a b", "ए आधार", "x&y=z+%#?/", "~-._", "\x7f\xff"} {
		var b strings.Builder
		writeQueryEscape(&b, s)
		assert.Equal(t, url.QueryEscape(s), b.String())
	}
}

func TestCheckConsentPurpose(t *testing.T) {
	assert.NoError(t, checkConsentPurpose(ConsentYes, "KYC"))
	assert.NoError(t, checkConsentPurpose(ConsentYes, strings.Repeat("p", maxPurposeBytes)))
	for _, tt := range []struct {
		consent Consent
		purpose string
		field   string
	}{
		{ConsentNo, "KYC", "consent"},
		{"y", "KYC", "consent"},
		{ConsentYes, " ", "purpose"},
		{ConsentYes, strings.Repeat("p", maxPurposeBytes+1), "purpose"},
		{ConsentYes, "KYC\x00", "purpose"},
		{ConsentYes, "KYC\xff", "purpose"},
	} {
		err := checkConsentPurpose(tt.consent, tt.purpose)
		var ve *ValidationError
		if assert.ErrorAs(t, err, &ve) {
			assert.Equal(t, tt.field, ve.Field)
		}
		assert.ErrorIs(t, err, ErrNotSent)
	}
}

func TestValidReferenceID(t *testing.T) {
	for s, want := range map[string]bool{"29756208": true, "ref-1_x": true, "": false, "a b": false,
		"ref\n": false, "é": false, strings.Repeat("1", 64): true, strings.Repeat("1", 65): false} {
		assert.Equal(t, want, validReferenceID(s), "%q", s)
	}
}

// The fast paths added for issue 18 (cost per call) must decide exactly as
// the code they shortcut: url.QueryEscape, and checkPurpose.

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
