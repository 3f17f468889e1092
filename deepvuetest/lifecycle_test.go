package deepvuetest_test

import (
	"context"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvuetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVerifyLifecycleEveryRefusalIsOTPRejected plays each verify failure the
// fake invents (wrong, expired, used, locked, unknown) and checks that each
// is a distinct sub_code, HTTP 400, and matches deepvue.ErrOTPRejected.
func TestVerifyLifecycleEveryRefusalIsOTPRejected(t *testing.T) {
	clock := deepvuetest.NewClock(time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC))
	_, c := start(t, deepvuetest.WithClock(clock.Now), deepvuetest.WithPendingWindow(0))
	ctx := context.Background()
	check := func(err error, subCode string) {
		t.Helper()
		var ae *deepvue.APIError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, subCode, ae.SubCode)
		assert.Equal(t, 400, ae.StatusCode)
		assert.ErrorIs(t, err, deepvue.ErrOTPRejected)
		assert.NotErrorIs(t, err, deepvue.ErrNotSent)
		_, ok := deepvue.RetryAfter(err)
		assert.False(t, ok, "re-entering an OTP has no wait the SDK knows")
	}

	// Wrong OTP, then the right one: the reference stays usable.
	ref := sendOTP(t, c, deepvuetest.NumberSuccess)
	_, err := c.VerifyOTP(ctx, verifyReq(ref, "000001"))
	check(err, "INVALID_OTP")
	_, err = c.VerifyOTP(ctx, verifyReq(ref, deepvuetest.OTPValid))
	require.NoError(t, err)
	// Verified twice: used.
	_, err = c.VerifyOTP(ctx, verifyReq(ref, deepvuetest.OTPValid))
	check(err, "OTP_ALREADY_USED")

	// The third wrong OTP locks the reference.
	ref = sendOTP(t, c, deepvuetest.NumberSuccess)
	for range 2 {
		_, err = c.VerifyOTP(ctx, verifyReq(ref, "000001"))
		check(err, "INVALID_OTP")
	}
	_, err = c.VerifyOTP(ctx, verifyReq(ref, "000001"))
	check(err, "OTP_ATTEMPTS_EXCEEDED")
	_, err = c.VerifyOTP(ctx, verifyReq(ref, deepvuetest.OTPValid))
	check(err, "OTP_ATTEMPTS_EXCEEDED")

	// Ten minutes by the fake's clock: still valid at exactly 10m, expired after.
	ref = sendOTP(t, c, deepvuetest.NumberSuccess)
	ref2 := sendOTP(t, c, deepvuetest.NumberSuccess)
	clock.Advance(10 * time.Minute)
	_, err = c.VerifyOTP(ctx, verifyReq(ref2, deepvuetest.OTPValid))
	require.NoError(t, err, "valid for 10 minutes")
	clock.Advance(time.Second)
	_, err = c.VerifyOTP(ctx, verifyReq(ref, deepvuetest.OTPValid))
	check(err, "OTP_EXPIRED")

	_, err = c.VerifyOTP(ctx, verifyReq("11111111", deepvuetest.OTPValid))
	check(err, "INVALID_REFERENCE_ID")
}

// TestPendingCarriesRetryAfter: the fake's 409 says, in Retry-After, how
// much of its pending window is left, and deepvue.RetryAfter reads it.
func TestPendingCarriesRetryAfter(t *testing.T) {
	clock := deepvuetest.NewClock(time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC))
	_, c := start(t, deepvuetest.WithClock(clock.Now), deepvuetest.WithPendingWindow(45*time.Second))
	sendOTP(t, c, deepvuetest.NumberSuccess)
	clock.Advance(14*time.Second + 500*time.Millisecond)
	_, err := c.GenerateOTP(context.Background(), deepvuetest.NumberSuccess, deepvue.ConsentYes, purpose)
	require.ErrorIs(t, err, deepvue.ErrVerificationPending)
	assert.Equal(t, deepvue.OTPPending, deepvue.OTPStateOf(err))
	d, ok := deepvue.RetryAfter(err)
	require.True(t, ok)
	assert.Equal(t, 31*time.Second, d, "30.5 s left, rounded up to whole seconds")
}

// TestScriptedHeader: a scripted answer's Header reaches the client.
func TestScriptedHeader(t *testing.T) {
	srv, c := start(t)
	a := deepvuetest.RateLimited
	a.Header = map[string][]string{"retry-after": {"12"}}
	srv.Script(deepvuetest.PathGenerateOTP, a)
	_, err := c.GenerateOTP(context.Background(), deepvuetest.NumberSuccess, deepvue.ConsentYes, purpose)
	require.ErrorIs(t, err, deepvue.ErrRateLimited)
	d, ok := deepvue.RetryAfter(err)
	assert.True(t, ok)
	assert.Equal(t, 12*time.Second, d)
}
