package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvuetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOnboardingOTPStates drives each OTP state through deepvuetest.Script
// and checks what the browser is told: the state, the message, and
// retry_after_seconds (with a Retry-After header) exactly when the SDK
// knows it.
func TestOnboardingOTPStates(t *testing.T) {
	withHeader := func(a deepvuetest.Answer, retryAfter string) deepvuetest.Answer {
		a.Header = http.Header{"Retry-After": {retryAfter}}
		return a
	}
	tests := []struct {
		name       string
		script     []deepvuetest.Answer
		status     int
		code       string
		state      string
		msg        string
		retryAfter float64 // 0: none
	}{
		{"sent", nil, 200, "", "", "", 0},
		{"not sent: rate limited, Retry-After known", []deepvuetest.Answer{withHeader(deepvuetest.RateLimited, "7")},
			503, "try_again", "not_sent", "please try again in 7 seconds", 7},
		{"not sent: rate limited, no Retry-After", []deepvuetest.Answer{deepvuetest.RateLimited},
			503, "try_again", "not_sent", "please try again in a minute", 0},
		{"not sent: unavailable", []deepvuetest.Answer{withHeader(deepvuetest.Unavailable, "120")},
			503, "try_again", "not_sent", "try again in 120 seconds", 120},
		{"not sent: source failure", []deepvuetest.Answer{deepvuetest.SourceFailure, deepvuetest.SourceFailure, deepvuetest.SourceFailure},
			503, "try_again", "not_sent", "try again in a minute", 0},
		{"not sent: bad request", []deepvuetest.Answer{deepvuetest.BadRequest},
			400, "fix_input", "not_sent", "check what you entered", 0},
		{"not sent: inactive client", []deepvuetest.Answer{deepvuetest.InactiveClient},
			500, "fix_configuration", "not_sent", "not configured correctly", 0},
		{"pending", []deepvuetest.Answer{{Status: 409, Header: http.Header{"Retry-After": {"30"}},
			Body: `{"code":409,"sub_code":"VERIFICATION_PENDING","message":"Otp already generated for this aadhaar, please try after some time.","reference_id":""}`}},
			409, "enter_otp", "pending", "enter it; you can ask for a new one in 30 seconds", 30},
		{"maybe sent: gateway HTML", []deepvuetest.Answer{{Status: 502, Body: "<html>502 Bad Gateway</html>"}},
			502, "check_sms", "maybe_sent", "check your SMS", 0},
		{"maybe sent: 200 that cannot be decoded", []deepvuetest.Answer{{Status: 200, Body: `{"sub_code":`}},
			502, "check_sms", "maybe_sent", "check your SMS", 0},
		// A proxy's 401 page after it forwarded the request (issue 24): the
		// OTP may be on its way, whatever else the error says.
		{"maybe sent: a proxy's 401 page", []deepvuetest.Answer{{Status: 401, Body: "<html>401 Authorization Required</html>"}},
			502, "check_sms", "maybe_sent", "check your SMS", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t)
			e.fake.Script(deepvuetest.PathGenerateOTP, tt.script...)
			resp, err := http.Post(e.api.URL+"/kyc/otp", "application/json", strings.NewReader(otpBody(deepvuetest.NumberSuccess)))
			require.NoError(t, err)
			defer resp.Body.Close()
			status, out, raw := e.decode(t, resp)
			assert.Equal(t, tt.status, status, raw)
			if tt.status == 200 {
				assert.NotEmpty(t, out["reference_id"])
				return
			}
			assert.Equal(t, tt.code, out["error"], raw)
			assert.Equal(t, tt.state, out["state"], raw)
			assert.Contains(t, out["message"], tt.msg)
			if tt.retryAfter > 0 {
				assert.Equal(t, tt.retryAfter, out["retry_after_seconds"])
				assert.Equal(t, strconv.Itoa(int(tt.retryAfter)), resp.Header.Get("Retry-After"))
			} else {
				assert.NotContains(t, out, "retry_after_seconds", "never a guess")
			}
		})
	}
}

// TestOnboardingPendingRetryAfter: a second request within the fake's
// pending window is a 409 with the seconds the SDK gives, as in production
// (Deepvue's 409 carries no Retry-After: the OTP sent is valid for
// deepvue.OTPValidity, by the SDK's clock), and no second SMS.
func TestOnboardingPendingRetryAfter(t *testing.T) {
	clock := deepvuetest.NewClock(time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC))
	e := setup(t, deepvuetest.WithClock(clock.Now), deepvuetest.WithPendingWindow(45*time.Second))
	status, _, _ := e.post(t, "/kyc/otp", otpBody(deepvuetest.NumberSuccess))
	require.Equal(t, 200, status)
	clock.Advance(40 * time.Second)
	status, out, raw := e.post(t, "/kyc/otp", otpBody(deepvuetest.NumberSuccess))
	assert.Equal(t, 409, status, raw)
	assert.Equal(t, "pending", out["state"])
	assert.InDelta(t, deepvue.OTPValidity.Seconds(), out["retry_after_seconds"], 2)
	assert.Equal(t, 1, e.fake.SMSSent())
}

// TestOnboardingMaybeSentOnTimeout: a deadline with no answer is "maybe
// sent": the browser is told to check the SMS, not to ask again.
func TestOnboardingMaybeSentOnTimeout(t *testing.T) {
	fake := deepvuetest.NewServer()
	t.Cleanup(fake.Close)
	fake.Script(deepvuetest.PathGenerateOTP, deepvuetest.Answer{Delay: time.Minute})
	kyc, err := deepvue.NewClient(fake.ClientID, fake.ClientSecret, deepvue.WithBaseURL(fake.URL))
	require.NoError(t, err)
	svc := newService(kyc, slog.New(slog.NewTextHandler(io.Discard, nil)))
	svc.timeout = 100 * time.Millisecond
	api := httptest.NewServer(svc.routes())
	t.Cleanup(api.Close)
	resp, err := http.Post(api.URL+"/kyc/otp", "application/json", strings.NewReader(otpBody(deepvuetest.NumberSuccess)))
	require.NoError(t, err)
	defer resp.Body.Close()
	status, out, raw := (&env{}).decode(t, resp)
	assert.Equal(t, http.StatusBadGateway, status, raw)
	assert.Equal(t, "maybe_sent", out["state"])
	assert.Equal(t, "check_sms", out["error"])
	assert.Contains(t, out["message"], "check your SMS")
	assert.Empty(t, resp.Header.Get("Retry-After"))
}

// TestOnboardingOTPRejectedLifecycle: a wrong OTP, a third wrong OTP
// (locked) and an expired OTP are all "otp_rejected" for the browser; the
// raw sub_code is only in the log.
func TestOnboardingOTPRejectedLifecycle(t *testing.T) {
	clock := deepvuetest.NewClock(time.Now())
	e := setup(t, deepvuetest.WithClock(clock.Now), deepvuetest.WithPendingWindow(0))
	newRef := func() string {
		_, out, raw := e.post(t, "/kyc/otp", otpBody(deepvuetest.NumberSuccess))
		ref, _ := out["reference_id"].(string)
		require.NotEmpty(t, ref, raw)
		return ref
	}
	verify := func(ref, otp string) (int, map[string]any) {
		status, out, _ := e.post(t, "/kyc/verify", `{"reference_id":"`+ref+`","otp":"`+otp+`"}`)
		return status, out
	}
	ref := newRef()
	for range 3 {
		status, out := verify(ref, "654321")
		assert.Equal(t, 422, status)
		assert.Equal(t, "otp_rejected", out["error"])
	}
	status, out := verify(ref, deepvuetest.OTPValid)
	assert.Equal(t, 422, status, "locked after the third wrong OTP")
	assert.Equal(t, "otp_rejected", out["error"])
	assert.Contains(t, e.logs.String(), "OTP_ATTEMPTS_EXCEEDED")

	ref = newRef()
	clock.Advance(10*time.Minute + time.Second)
	status, out = verify(ref, deepvuetest.OTPValid)
	assert.Equal(t, 422, status, "expired by the fake's clock")
	assert.Equal(t, "otp_rejected", out["error"])
	assert.Contains(t, e.logs.String(), "OTP_EXPIRED")
}

func (e *env) decode(t *testing.T, resp *http.Response) (int, map[string]any, string) {
	t.Helper()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	return resp.StatusCode, out, string(raw)
}
