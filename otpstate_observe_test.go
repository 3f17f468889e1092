package deepvue

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOTPStateOnCallResultAndDebugRecord: a generate-otp call carries its
// OTPState on CallResult and as otp_state in its Debug record; a verify-otp
// call carries neither.
func TestOTPStateOnCallResultAndDebugRecord(t *testing.T) {
	tests := []struct {
		status int
		body   string
		want   OTPState
	}{
		{200, successOTP, OTPSent},
		{409, `{"sub_code":"VERIFICATION_PENDING","reference_id":""}`, OTPPending},
		{400, `{"sub_code":"AADHAAR_MOBILE_NOT_LINKED","reference_id":"1"}`, OTPNotSent},
		{502, `<html>Bad Gateway</html>`, OTPMaybeSent},
	}
	for _, tt := range tests {
		t.Run(tt.want.String(), func(t *testing.T) {
			for _, op := range []string{opGenerate, opVerify} {
				rec := &recorder{}
				logs := &logBuffer{}
				c, mt := mockClient(t, WithObserver(rec.observer()), WithLogger(logs.logger()))
				mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(tt.status, tt.body))
				mt.RegisterResponder(http.MethodPost, verURL, jsonResponder(tt.status, tt.body))
				if op == opGenerate {
					_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
					assert.Equal(t, tt.want, OTPStateOf(err))
				} else {
					_, _ = c.VerifyOTP(context.Background(), validVerifyRequest())
				}
				require.Len(t, rec.calls, 1)
				if op == opGenerate {
					assert.Equal(t, tt.want, rec.calls[0].OTPState)
					assert.Contains(t, logs.String(), `"otp_state":"`+tt.want.String()+`"`)
				} else {
					assert.Equal(t, OTPMaybeSent, rec.calls[0].OTPState, "verify-otp leaves the zero value")
					assert.NotContains(t, logs.String(), "otp_state")
				}
			}
		})
	}
	// A refusal before sending.
	rec := &recorder{}
	c, _ := mockClient(t, WithObserver(rec.observer()))
	_, err := c.GenerateOTP(context.Background(), "234123412347", ConsentYes, testPurpose)
	require.Error(t, err)
	require.Len(t, rec.calls, 1)
	assert.Equal(t, OTPNotSent, rec.calls[0].OTPState)
}

// TestErrOTPRejected: every verify-otp answer with 400, 404, 410 or 422
// matches ErrOTPRejected whatever its sub_code, as well as what it matched
// before, except Deepvue's documented platform answers (issue 24 item 6: a
// disabled account, a bad request, a validation detail are not about the
// OTP); nothing else does, and no generate-otp answer does.
func TestErrOTPRejected(t *testing.T) {
	tests := []struct {
		status   int
		body     string
		rejected bool
		also     error
	}{
		{400, `{"sub_code":"INVALID_OTP","message":"Invalid OTP. Please enter the correct OTP."}`, true, nil},
		{400, `{"sub_code":"OTP_EXPIRED","message":"Otp expired"}`, true, nil},
		{400, `{"sub_code":"INVALID_INPUT","message":"Invalid OTP"}`, true, ErrInvalidInput},
		{422, `{"sub_code":"INVALID_INPUT","message":"Invalid OTP pattern."}`, true, ErrInvalidInput},
		{422, `{"detail":"Invalid reference id"}`, false, ErrInvalidInput},
		{422, `{"detail":[{"loc":["query","otp"],"msg":"field required","type":"value_error.missing"}]}`, false, ErrInvalidInput},
		{400, `{"detail":"Inactive client_id"}`, false, ErrUnauthorized},
		{400, `{"detail":"inactive CLIENT_ID "}`, false, ErrUnauthorized},
		{400, `{"detail":"Something else"}`, true, nil},
		{404, `{"detail":"Not Found"}`, true, nil},
		{410, `{"sub_code":"SESSION_EXPIRED","message":"Session expired, please generate a new OTP"}`, true, nil},
		{400, `not json`, true, nil},
		{400, `{"detail":"Bad Request"}`, false, ErrInvalidInput},
		{401, `{"detail":"Not authenticated"}`, false, ErrUnauthorized},
		{403, `{"detail":"Forbidden"}`, false, ErrUnauthorized},
		{409, `{"sub_code":"VERIFICATION_PENDING"}`, false, ErrVerificationPending},
		{429, `{"detail":"Rate limit exceeded."}`, false, ErrRateLimited},
		{500, sourceFailBd, false, ErrSourceFailure},
		{503, `{"detail":"Source Unavailable"}`, false, ErrServiceUnavailable},
		{200, `{"sub_code":"OTP_INVALID","message":"x"}`, false, ErrUnexpectedResponse},
	}
	for _, tt := range tests {
		c, mt := mockClient(t)
		mt.RegisterResponder(http.MethodPost, verURL, jsonResponder(tt.status, tt.body))
		mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(tt.status, tt.body))
		_, err := c.VerifyOTP(context.Background(), validVerifyRequest())
		require.Error(t, err)
		assert.Equal(t, tt.rejected, errors.Is(err, ErrOTPRejected), "verify %d %s", tt.status, tt.body)
		if tt.also != nil {
			assert.ErrorIs(t, err, tt.also, "verify %d %s", tt.status, tt.body)
		}
		assert.NotErrorIs(t, err, ErrNotSent)
		var ae *APIError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, tt.status, ae.StatusCode, "the raw fields stay")

		_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
		require.Error(t, err)
		assert.NotErrorIs(t, err, ErrOTPRejected, "generate %d", tt.status)
	}

	// Raw fields stay; the outcome names it when no other sentinel does.
	c, mt := mockClient(t)
	mt.RegisterResponder(http.MethodPost, verURL, jsonResponder(400,
		`{"code":400,"transaction_id":"tx-otp","sub_code":"INVALID_OTP","message":"Invalid OTP. Please enter the correct OTP."}`))
	_, err := c.VerifyOTP(context.Background(), validVerifyRequest())
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "INVALID_OTP", ae.SubCode)
	assert.Equal(t, "Invalid OTP. Please enter the correct OTP.", ae.Message)
	assert.Equal(t, "ErrOTPRejected", Outcome(err))
	assert.Equal(t, "ErrInvalidInput", Outcome(&APIError{Operation: opVerify, StatusCode: 422, SubCode: "INVALID_INPUT"}))

	// Hand-built: decided from Operation and StatusCode.
	for _, status := range []int{400, 404, 410, 422} {
		assert.ErrorIs(t, &APIError{Operation: "verify-otp", StatusCode: status}, ErrOTPRejected)
		assert.NotErrorIs(t, &APIError{Operation: "generate-otp", StatusCode: status}, ErrOTPRejected)
		assert.NotErrorIs(t, &APIError{StatusCode: status}, ErrOTPRejected)
	}
	for _, status := range []int{200, 401, 403, 405, 409, 429, 500, 502, 503} {
		assert.NotErrorIs(t, &APIError{Operation: "verify-otp", StatusCode: status}, ErrOTPRejected, "%d", status)
	}
	assert.ErrorIs(t, &APIError{Operation: "verify-otp", StatusCode: 422, SubCode: "INVALID_INPUT"}, ErrInvalidInput)
}
