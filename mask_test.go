package deepvue

import (
	"context"
	"net/http"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// otherMask finds a masked Aadhaar number in any form but UIDAI's display
// form "XXXX XXXX 2346": X runs with other separators, or none.
var otherMask = regexp.MustCompile(`X{8}|XXXX[^ X]+XXXX|XXXX XXXX [^0-9]|[xX*]{4}-[xX*]{4}`)

// TestOneMaskFormat: wherever the SDK shows an Aadhaar number, it is in
// one form, UIDAI's "XXXX XXXX 2346": MaskAadhaar, the audit record, an echo
// in an error's text in any spelling, the verify-otp data's masked number
// (Deepvue's "xxxx-xxxx-8091" included) and free text in it.
func TestOneMaskFormat(t *testing.T) {
	assert.Equal(t, "XXXX XXXX 2346", MaskAadhaar("2341-2341-2346"))

	var rec []AuditRecord
	c, mt := mockClient(t, WithAuditLog(func(_ context.Context, r AuditRecord) error { rec = append(rec, r); return nil }))
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(400,
		`{"sub_code":"INVALID_INPUT","message":"Invalid UID 234123412346, 2341-2341-2346, ２３४१ 2341.2341.2346, 9999 4105 7058"}`))
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.ErrorIs(t, err, ErrInvalidInput)
	assert.Contains(t, err.Error(), "Invalid UID XXXX XXXX 2346, XXXX XXXX 2346, ")
	assert.Contains(t, err.Error(), "XXXX XXXX 7058")
	assert.NotRegexp(t, otherMask, err.Error())
	require.Len(t, rec, 2)
	assert.Equal(t, "XXXX XXXX 2346", rec[0].MaskedNumber)

	for masked, want := range map[string]string{
		"xxxx-xxxx-8091": "XXXX XXXX 8091", "XXXXXXXX8091": "XXXX XXXX 8091", "**** **** 8091": "XXXX XXXX 8091",
		"234123412346": "XXXX XXXX 2346", "2341 2341 2346": "XXXX XXXX 2346",
		"xxxx-xxxx-80911": "xxxx-xxxx-80911", "": "", "xxxx-8091": "xxxx-8091", // not a masked number: as sent
	} {
		c, mt := mockClient(t)
		mt.RegisterResponder(http.MethodPost, verURL, jsonResponder(200,
			`{"code":200,"sub_code":"SUCCESS","transaction_id":"tx","data":{"maskedNumber":"`+masked+`","name":"A 2341-2341-2346"}}`))
		d, err := c.VerifyOTP(context.Background(), validVerifyRequest())
		require.NoError(t, err)
		assert.Equal(t, want, d.MaskedNumber, masked)
		assert.Equal(t, "A XXXX XXXX 2346", d.Name)
	}
}
