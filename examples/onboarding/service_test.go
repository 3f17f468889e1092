package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvuetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// testHandlerOptions log at Debug without the record's time and the
// "elapsed_ms": their digits are arbitrary and may hold a test value
// by chance (a timestamp ending .123456789 holds the fake's OTP).
var testHandlerOptions = &slog.HandlerOptions{
	Level: slog.LevelDebug,
	ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == "elapsed_ms") {
			return slog.Attr{}
		}
		return a
	},
}

type env struct {
	fake *deepvuetest.Server
	api  *httptest.Server
	logs *syncBuffer
}

// setup runs the onboarding service over real HTTP against the fake Deepvue.
func setup(t *testing.T, opts ...deepvuetest.Option) *env {
	t.Helper()
	fake := deepvuetest.NewServer(opts...)
	t.Cleanup(fake.Close)
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, testHandlerOptions))
	kyc, err := deepvue.NewClient(fake.ClientID, fake.ClientSecret, deepvue.WithBaseURL(fake.URL),
		deepvue.WithLogger(log), deepvue.WithRetryWait(time.Millisecond, 2*time.Millisecond))
	require.NoError(t, err)
	api := httptest.NewServer(newService(kyc, log).routes())
	t.Cleanup(api.Close)
	return &env{fake: fake, api: api, logs: logs}
}

func (e *env) post(t *testing.T, path, body string) (int, map[string]any, string) {
	t.Helper()
	resp, err := http.Post(e.api.URL+path, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	return resp.StatusCode, out, string(raw)
}

func otpBody(number string) string {
	return `{"aadhaar_number":"` + number + `","consent":true,"purpose":"Loan onboarding"}`
}

func TestOnboardingFullFlow(t *testing.T) {
	e := setup(t)
	status, out, raw := e.post(t, "/kyc/otp", otpBody("2341 2341 2346"))
	require.Equal(t, http.StatusOK, status, raw)
	assert.Equal(t, "XXXX XXXX 2346", out["masked_aadhaar"])
	ref := out["reference_id"].(string)
	assert.NotEmpty(t, ref)
	assert.NotContains(t, raw, "234123412346")

	status, out, raw = e.post(t, "/kyc/verify", `{"reference_id":"`+ref+`","otp":"`+deepvuetest.OTPValid+`","mobile_number":"`+deepvuetest.MobileLinked+`"}`)
	require.Equal(t, http.StatusOK, status, raw)
	assert.Equal(t, deepvuetest.SampleName, out["name"])
	assert.Equal(t, "28-06-1999", out["date_of_birth"])
	assert.Equal(t, "XXXX XXXX 8091", out["masked_number"])
	assert.Equal(t, true, out["mobile_match"])
	assert.Greater(t, out["photo_bytes"].(float64), float64(500))
	assert.Contains(t, out["address"], "Karnataka")
	assert.NotNil(t, out["age"])

	// The reference is used up: a replay is refused by the service itself.
	status, out, _ = e.post(t, "/kyc/verify", `{"reference_id":"`+ref+`","otp":"`+deepvuetest.OTPValid+`"}`)
	assert.Equal(t, http.StatusNotFound, status)
	assert.Equal(t, "unknown_reference", out["error"])

	logs := e.logs.String()
	for _, secret := range []string{"234123412346", "2341 2341 2346", deepvuetest.OTPValid, deepvuetest.MobileLinked, e.fake.ClientSecret} {
		assert.NotContains(t, logs, secret)
	}
	assert.Contains(t, logs, "XXXX XXXX 2346")
	assert.Equal(t, 1, e.fake.SMSSent())
}

func TestOnboardingOTPFailures(t *testing.T) {
	tests := []struct {
		name, body string
		status     int
		code, msg  string
	}{
		{"typo", otpBody("234123412347"), 400, "fix_input", "check the Aadhaar number"},
		{"short", otpBody("643343121"), 400, "fix_input", "check the Aadhaar number"},
		{"no consent", `{"aadhaar_number":"234123412346","consent":false,"purpose":"Loan"}`, 400, "fix_input", "consent"},
		{"no purpose", `{"aadhaar_number":"234123412346","consent":true}`, 400, "fix_input", "purpose"},
		{"not JSON", `aadhaar=1`, 400, "bad_json", "JSON"},
		{"not linked", otpBody(deepvuetest.NumberNotLinked), 422, "no_mobile_linked", "another KYC method"},
		{"invalid UID", otpBody(deepvuetest.NumberInvalidUID), 400, "fix_input", "check the Aadhaar number"},
		{"source failure", otpBody(deepvuetest.NumberSourceFailure), 503, "try_again", "try again in a minute"},
		{"rate limited", otpBody(deepvuetest.NumberRateLimited), 503, "try_again", "try again"},
		{"unavailable", otpBody(deepvuetest.NumberUnavailable), 503, "try_again", "try again"},
	}
	e := setup(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out, raw := e.post(t, "/kyc/otp", tt.body)
			assert.Equal(t, tt.status, status, raw)
			assert.Equal(t, tt.code, out["error"])
			assert.Contains(t, out["message"], tt.msg)
			assert.NotContains(t, raw, "234123412347")
		})
	}
	assert.Zero(t, e.fake.SMSSent())
	assert.NotContains(t, e.logs.String(), "234123412347")
}

func TestOnboardingPendingIs409(t *testing.T) {
	e := setup(t)
	status, _, _ := e.post(t, "/kyc/otp", otpBody(deepvuetest.NumberSuccess))
	require.Equal(t, 200, status)
	status, out, _ := e.post(t, "/kyc/otp", otpBody(deepvuetest.NumberSuccess))
	assert.Equal(t, http.StatusConflict, status)
	assert.Equal(t, "pending", out["state"])
	assert.Contains(t, out["message"], "still valid: enter it")
	assert.Equal(t, 1, e.fake.SMSSent())
}

func TestOnboardingVerifyFailures(t *testing.T) {
	e := setup(t)
	_, out, _ := e.post(t, "/kyc/otp", otpBody(deepvuetest.NumberSuccess))
	ref := out["reference_id"].(string)

	status, out, _ := e.post(t, "/kyc/verify", `{"reference_id":"`+ref+`","otp":"12345"}`)
	assert.Equal(t, 400, status)
	assert.Equal(t, "the OTP must be the 6 digits from the SMS", out["message"])

	status, out, _ = e.post(t, "/kyc/verify", `{"reference_id":"`+ref+`","otp":"654321"}`)
	assert.Equal(t, 422, status)
	assert.Equal(t, "otp_rejected", out["error"])

	status, out, _ = e.post(t, "/kyc/verify", `{"reference_id":"`+ref+`","otp":"`+deepvuetest.OTPSourceFailure+`"}`)
	assert.Equal(t, 503, status)
	assert.Equal(t, "try_again", out["error"])

	status, out, _ = e.post(t, "/kyc/verify", `{"reference_id":"`+ref+`","otp":"`+deepvuetest.OTPValid+`","mobile_number":"12345"}`)
	assert.Equal(t, 400, status)
	assert.Equal(t, "the mobile number must have 10 digits", out["message"])

	status, out, _ = e.post(t, "/kyc/verify", `{"reference_id":"nope","otp":"123456"}`)
	assert.Equal(t, 404, status)
	assert.Equal(t, "unknown_reference", out["error"])

	// After the failures, the right OTP still works.
	status, _, raw := e.post(t, "/kyc/verify", `{"reference_id":"`+ref+`","otp":"`+deepvuetest.OTPValid+`"}`)
	assert.Equal(t, 200, status, raw)
	assert.NotContains(t, e.logs.String(), "654321")
}

func TestOnboardingVerifyExpired(t *testing.T) {
	clock := deepvuetest.NewClock(time.Now())
	e := setup(t, deepvuetest.WithClock(clock.Now))
	_, out, _ := e.post(t, "/kyc/otp", otpBody(deepvuetest.NumberSuccess))
	ref := out["reference_id"].(string)
	clock.Advance(11 * time.Minute)
	status, out, _ := e.post(t, "/kyc/verify", `{"reference_id":"`+ref+`","otp":"`+deepvuetest.OTPValid+`"}`)
	assert.Equal(t, 422, status)
	assert.Equal(t, "otp_rejected", out["error"])
}

func TestOnboardingMisconfiguredCredentials(t *testing.T) {
	fake := deepvuetest.NewServer()
	t.Cleanup(fake.Close)
	kyc, err := deepvue.NewClient(fake.ClientID, "wrong-secret", deepvue.WithBaseURL(fake.URL))
	require.NoError(t, err)
	logs := &syncBuffer{}
	api := httptest.NewServer(newService(kyc, slog.New(slog.NewJSONHandler(logs, testHandlerOptions))).routes())
	t.Cleanup(api.Close)
	resp, err := http.Post(api.URL+"/kyc/otp", "application/json", strings.NewReader(otpBody(deepvuetest.NumberSuccess)))
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.Contains(t, string(body), "fix_configuration")
	assert.NotContains(t, string(body), "wrong-secret")
	assert.NotContains(t, logs.String(), "wrong-secret")
	assert.Contains(t, logs.String(), "Invalid client_id or client_secret")
}

func TestOnboardingMethodAndTimeout(t *testing.T) {
	e := setup(t)
	resp, err := http.Get(e.api.URL + "/kyc/otp")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)

	// A Deepvue that never answers: the per-request deadline holds.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	kyc, err := deepvue.NewClient("id", "secret", deepvue.WithBaseURL(hang.URL))
	require.NoError(t, err)
	svc := newService(kyc, slog.New(slog.NewTextHandler(io.Discard, nil)))
	svc.timeout = 100 * time.Millisecond
	api := httptest.NewServer(svc.routes())
	defer api.Close()
	start := time.Now()
	resp, err = http.Post(api.URL+"/kyc/otp", "application/json", strings.NewReader(otpBody(deepvuetest.NumberSuccess)))
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode, "check_sms: the OTP may be on its way")
	assert.Less(t, time.Since(start), 5*time.Second)
}

// TestOnboardingBrowserDisconnectDoesNotCancelTheCall: the customer closes
// the page while Deepvue is answering slowly; the call goes on (its SMS may
// be on its way), so the consent record exists and the customer's retry
// gets the reference instead of a surprise.
func TestOnboardingBrowserDisconnectDoesNotCancelTheCall(t *testing.T) {
	e := setup(t)
	e.fake.Script(deepvuetest.PathGenerateOTP, deepvuetest.Answer{Delay: 300 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.api.URL+"/kyc/otp", strings.NewReader(otpBody(deepvuetest.NumberSuccess)))
	require.NoError(t, err)
	_, err = http.DefaultClient.Do(req)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the browser went away")
	assert.Eventually(t, func() bool { return e.fake.SMSSent() == 1 }, 5*time.Second, 10*time.Millisecond,
		"the call finished after the browser left")
	assert.Eventually(t, func() bool { return strings.Contains(e.logs.String(), `"msg":"otp sent"`) }, 5*time.Second, 10*time.Millisecond)
}

// TestOnboardingNotSentIsSafeToRetry: a Deepvue that cannot be reached
// (nothing was sent) gets "try again", distinct from a timeout's
// "check your SMS".
func TestOnboardingNotSentIsSafeToRetry(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	kyc, err := deepvue.NewClient("id", "secret", deepvue.WithBaseURL("http://"+addr))
	require.NoError(t, err)
	api := httptest.NewServer(newService(kyc, slog.New(slog.NewTextHandler(io.Discard, nil))).routes())
	defer api.Close()
	resp, err := http.Post(api.URL+"/kyc/otp", "application/json", strings.NewReader(otpBody(deepvuetest.NumberSuccess)))
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Contains(t, string(body), `"try_again"`)
	assert.Contains(t, string(body), `"not_sent"`)
}

// TestOnboardingPendingGivesTheReference: a customer whose first answer was
// lost (a double click, a reload) asks again and meets the 409: the answer
// says "enter it", so it must carry the pending OTP's reference (the SDK
// remembers it: deepvue.PendingReference), or the page has nothing to
// verify the OTP with. The reference then verifies.
func TestOnboardingPendingGivesTheReference(t *testing.T) {
	e := setup(t)
	_, first, _ := e.post(t, "/kyc/otp", otpBody(deepvuetest.NumberSuccess))
	ref, _ := first["reference_id"].(string)
	require.NotEmpty(t, ref)
	status, out, raw := e.post(t, "/kyc/otp", otpBody(deepvuetest.NumberSuccess))
	require.Equal(t, http.StatusConflict, status, raw)
	assert.Equal(t, ref, out["reference_id"], raw)
	assert.NotContains(t, raw, deepvuetest.NumberSuccess)
	status, _, raw = e.post(t, "/kyc/verify", `{"reference_id":"`+ref+`","otp":"`+deepvuetest.OTPValid+`"}`)
	assert.Equal(t, http.StatusOK, status, raw)
	assert.Equal(t, 1, e.fake.SMSSent())
}
