package deepvuetest_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
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

// TestPendingAsDeepvueAnswersIt: the fake's 409 carries no Retry-After
// (Deepvue documents none), so a Client gets from it the NextStep it gets
// from Deepvue's documented 409, after the same first send (it gave 45 s,
// the fake's own header, where production gives the SDK's estimate).
func TestPendingAsDeepvueAnswersIt(t *testing.T) {
	ctx := context.Background()
	srv := deepvuetest.NewServer(deepvuetest.WithPendingWindow(45 * time.Second))
	t.Cleanup(srv.Close)
	var mu sync.Mutex
	var headers []http.Header
	rec := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err == nil {
			mu.Lock()
			headers = append(headers, resp.Header.Clone())
			mu.Unlock()
		}
		return resp, err
	})
	fake, err := deepvue.NewClient(srv.ClientID, srv.ClientSecret, deepvue.WithBaseURL(srv.URL),
		deepvue.WithHTTPClient(&http.Client{Transport: rec}), deepvue.WithSingleAttemptTransport())
	require.NoError(t, err)
	sendOTP(t, fake, deepvuetest.NumberSuccess)
	_, fakeErr := fake.GenerateOTP(ctx, deepvuetest.NumberSuccess, deepvue.ConsentYes, purpose)
	require.ErrorIs(t, fakeErr, deepvue.ErrVerificationPending)
	require.Len(t, headers, 2)
	assert.Empty(t, headers[1].Get("Retry-After"), "Deepvue's 409 documents no Retry-After")

	// The documented answers, from a server that knows nothing else.
	n := 0
	doc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if n++; n == 1 {
			_, _ = io.WriteString(w, `{"code":200,"timestamp":1738332826135,"transaction_id":"12815fb81c084fb7a35eedc0ef1c5a84",`+
				`"sub_code":"SUCCESS","message":"OTP sent to your Registered Mobile number. Check your mobile.","reference_id":"29756208"}`)
			return
		}
		w.WriteHeader(http.StatusConflict)
		_, _ = io.WriteString(w, `{"code":409,"timestamp":1738332826135,"transaction_id":"12815fb81c084fb7a35eedc0ef1c5a85",`+
			`"sub_code":"VERIFICATION_PENDING","message":"Otp already generated for this aadhaar, please try after some time.","reference_id":""}`)
	}))
	t.Cleanup(doc.Close)
	prod, err := deepvue.NewClient(srv.ClientID, srv.ClientSecret, deepvue.WithBaseURL(doc.URL))
	require.NoError(t, err)
	sendOTP(t, prod, deepvuetest.NumberSuccess)
	_, prodErr := prod.GenerateOTP(ctx, deepvuetest.NumberSuccess, deepvue.ConsentYes, purpose)
	require.ErrorIs(t, prodErr, deepvue.ErrVerificationPending)

	fs, ps := deepvue.NextStep(fakeErr), deepvue.NextStep(prodErr)
	assert.Equal(t, ps.Action, fs.Action)
	assert.InDelta(t, ps.After.Seconds(), fs.After.Seconds(), 2, "the same wait as production: %v, %v", fs.After, ps.After)
	assert.Equal(t, deepvue.OTPStateOf(prodErr), deepvue.OTPStateOf(fakeErr))
}

// roundTripFunc is a RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

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
