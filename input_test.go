package deepvue

import (
	"net/url"
	"strings"
	"testing"

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
