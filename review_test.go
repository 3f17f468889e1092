package deepvue

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Cases found by a read-only review of 0.3.0 before release; each test fails
// without its fix.

// TestAPIErrorFieldsDoNotJoinIntoAKnownValue: each field is scrubbed alone,
// and Error() joins them; a value the call knows, split across sub_code and
// message, must not appear in the joined text.
func TestAPIErrorFieldsDoNotJoinIntoAKnownValue(t *testing.T) {
	cases := map[string]string{
		"mobile": `{"code":400,"sub_code":"BAD_91234","message":"56780 is not linked","transaction_id":"t1"}`,
		"otp":    `{"code":400,"sub_code":"WRONG_482","message":"913 rejected","transaction_id":"t2"}`,
		"number": `{"code":400,"sub_code":"AADHAAR_2341_2341","message":"2346 not linked","transaction_id":"t3"}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			c, mt := mockClient(t)
			mt.RegisterResponder(http.MethodPost, verURL, jsonResponder(400, body))
			_, err := c.VerifyOTP(context.Background(), VerifyOTPRequest{ReferenceID: "29756208", OTP: testOTP,
				MobileNumber: testMobile, Consent: ConsentYes, Purpose: testPurpose})
			require.Error(t, err)
			sec := secrets{Number: validNumber, OTP: testOTP, Mobile: testMobile}
			for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				assert.Equal(t, sec.ScrubText(text), text, "a known value spelled across fields: %s", text)
			}
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.ErrorIs(t, err, ErrOTPRejected, "classification is kept")
		})
	}
}

// TestTypedNilErrorsDoNotPanic: a test double returning a typed nil
// *APIError or *LimitError must not make the SDK's helpers panic.
func TestTypedNilErrorsDoNotPanic(t *testing.T) {
	for _, err := range []error{(*APIError)(nil), fmt.Errorf("w: %w", (*APIError)(nil)),
		(*LimitError)(nil), fmt.Errorf("w: %w", (*LimitError)(nil))} {
		assert.NotPanics(t, func() {
			_ = OTPStateOf(err)
			_ = Outcome(err)
			_, _ = RetryAfter(err)
			_ = errors.Is(err, ErrOTPRejected)
			_ = err.Error()
		}, "%T", err)
		assert.Equal(t, OTPMaybeSent, OTPStateOf(err))
		_, ok := RetryAfter(err)
		assert.False(t, ok)
	}
	// Through a Client: a Limiter that returns a typed nil *LimitError.
	c, _ := mockClient(t, WithRateLimiter(limiterFunc(func(context.Context) error { return (*LimitError)(nil) })))
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.Error(t, err)
	assert.NotPanics(t, func() { _, _ = RetryAfter(err) })
	assert.ErrorIs(t, err, ErrNotSent)
}

// TestReferenceIDEchoingTheNumberIsRefused: a 200 whose reference_id is the
// Aadhaar number (or the OTP, or the mobile) would put it into every print
// and log of the result.
func TestReferenceIDEchoingTheNumberIsRefused(t *testing.T) {
	c, mt := mockClient(t)
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(200,
		`{"code":200,"transaction_id":"t","sub_code":"SUCCESS","message":"OTP sent","reference_id":"`+validNumber+`"}`))
	res, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.Error(t, err)
	assert.Nil(t, res)
	assert.ErrorIs(t, err, ErrUnexpectedResponse)
	assert.Equal(t, OTPMaybeSent, OTPStateOf(err), "the request reached Deepvue")
	assert.NotContains(t, fmt.Sprintf("%v %+v %#v", err, err, err), validNumber)
}

// TestClosedClientWritesNoAuditRecord: after Close, a call fails at once
// with ErrClientClosed, before any audit record (a consent record for a call
// that never proceeds, or a write that blocks on a database being shut down).
func TestClosedClientWritesNoAuditRecord(t *testing.T) {
	sink := &auditSink{}
	c, mt := mockClient(t, WithAuditLog(sink.fn))
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(200, successOTP))
	require.NoError(t, c.Close())
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	assert.ErrorIs(t, err, ErrClientClosed)
	assert.ErrorIs(t, err, ErrNotSent)
	_, err = c.VerifyOTP(context.Background(), VerifyOTPRequest{ReferenceID: "29756208", OTP: testOTP, Consent: ConsentYes, Purpose: testPurpose})
	assert.ErrorIs(t, err, ErrClientClosed)
	assert.Empty(t, sink.records())
	assert.Zero(t, mt.GetTotalCallCount())
	assert.False(t, strings.Contains(err.Error(), testOTP))
}
