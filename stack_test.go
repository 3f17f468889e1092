package deepvue

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const plainRemoteBase = "http://fake:8080"

func TestPlainHTTPToRemoteHostNeedsInsecurePlainHTTP(t *testing.T) {
	for _, base := range []string{plainRemoteBase, "http://10.0.0.7", "http://deepvue.internal/gw"} {
		_, err := NewClient(testID, testSecret, WithBaseURL(base))
		var ve *ValidationError
		require.ErrorAs(t, err, &ve, base)
		assert.Equal(t, FieldBaseURL, ve.Field)
		assert.Contains(t, ve.Reason, "WithInsecurePlainHTTP")
		assert.ErrorIs(t, err, ErrInvalidInput)
	}
	// Unchanged without the option: https anywhere, plain http to loopback.
	for _, base := range []string{"https://fake:8443", "http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:2"} {
		_, err := NewClient(testID, testSecret, WithBaseURL(base))
		assert.NoError(t, err, base)
	}
}

func TestInsecurePlainHTTPInEitherOrderWarns(t *testing.T) {
	for name, opts := range map[string][]Option{
		"option first": {WithInsecurePlainHTTP(), WithBaseURL(plainRemoteBase)},
		"option last":  {WithBaseURL(plainRemoteBase), WithInsecurePlainHTTP()},
	} {
		t.Run(name, func(t *testing.T) {
			var logs logBuffer
			mt := httpmock.NewMockTransport()
			mt.RegisterResponder(http.MethodPost, plainRemoteBase+"/v2/ekyc/aadhaar/generate-otp", jsonResponder(200, successOTP))
			c, err := NewClient(testID, testSecret, append(opts, WithLogger(logs.logger()),
				WithHTTPClient(&http.Client{Transport: mt}))...)
			require.NoError(t, err)
			res, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
			require.NoError(t, err)
			assert.Equal(t, "29756208", res.ReferenceID)

			var rec map[string]any
			first, _, _ := strings.Cut(logs.String(), "\n")
			require.NoError(t, json.Unmarshal([]byte(first), &rec))
			assert.Equal(t, "WARN", rec["level"])
			msg, _ := rec["msg"].(string)
			assert.Contains(t, msg, "WithInsecurePlainHTTP")
			assert.Contains(t, msg, "secret")
			assert.Contains(t, msg, "Aadhaar number")
			assert.Contains(t, msg, "clear text")
			assert.Equal(t, plainRemoteBase, rec["base_url"])
			assertNoLeak(t, logs.String())
		})
	}
}

func TestInsecurePlainHTTPOnlyWarnsWhenItTakesEffect(t *testing.T) {
	for _, base := range []string{"https://fake:8443", "http://127.0.0.1:8080"} {
		var logs logBuffer
		_, err := NewClient(testID, testSecret, WithInsecurePlainHTTP(), WithBaseURL(base), WithLogger(logs.logger()))
		require.NoError(t, err)
		assert.Empty(t, logs.String(), base)
	}
	// No logger: silent, as always.
	_, err := NewClient(testID, testSecret, WithInsecurePlainHTTP(), WithBaseURL(plainRemoteBase))
	require.NoError(t, err)
}

func TestNewTransportIsTheClientsShared(t *testing.T) {
	a, b := NewTransport(), NewTransport()
	require.NotSame(t, a, b, "each call returns a new transport")
	c, err := NewClient(testID, testSecret)
	require.NoError(t, err)
	own, ok := c.base.rt.(*http.Transport)
	require.True(t, ok)
	for _, tr := range []*http.Transport{a, own} {
		assert.Equal(t, 256, tr.MaxIdleConnsPerHost)
		assert.Equal(t, 512, tr.MaxIdleConns)
		assert.Equal(t, DefaultMaxConnsPerHost, tr.MaxConnsPerHost)
		assert.Equal(t, 90*time.Second, tr.IdleConnTimeout)
		assert.Equal(t, int64(maxResponseHeaderBytes), tr.MaxResponseHeaderBytes)
		assert.NotNil(t, tr.Proxy)
		assert.NotNil(t, tr.DialContext)
	}
	assert.True(t, c.sharedPool)
	assert.Same(t, sharedTransport(), own, "Clients without WithHTTPClient share the process's transport")
	c3, err := NewClient(testID, testSecret)
	require.NoError(t, err)
	assert.Same(t, own, c3.base.rt)
	c2, err := NewClient(testID, testSecret, WithHTTPClient(&http.Client{Transport: a}))
	require.NoError(t, err)
	assert.Same(t, a, c2.base.rt, "shared through WithHTTPClient")
	assert.False(t, c2.sharedPool)
}

func TestValidationErrorFieldConstants(t *testing.T) {
	ctx := context.Background()
	c, _ := mockClient(t)
	verify := func(r VerifyOTPRequest) error {
		if r.ReferenceID == "" {
			r.ReferenceID = "29756208"
		}
		if r.OTP == "" {
			r.OTP = testOTP
		}
		if r.Consent == "" {
			r.Consent = ConsentYes
		}
		if r.Purpose == "" {
			r.Purpose = testPurpose
		}
		_, err := c.VerifyOTP(ctx, r)
		return err
	}
	newClient := func(opts ...Option) error { _, err := NewClient(testID, testSecret, opts...); return err }
	_, errGen := c.GenerateOTP(ctx, "234123412347", ConsentYes, testPurpose)
	_, errConsent := c.GenerateOTP(ctx, validNumber, ConsentNo, testPurpose)
	_, errPurpose := c.GenerateOTP(ctx, validNumber, ConsentYes, " ")
	_, errID := NewClient("", testSecret)
	_, errSecret := NewClient(testID, "a b")
	for want, err := range map[string]error{
		"aadhaar_number":     errGen,
		"consent":            errConsent,
		"purpose":            errPurpose,
		"reference_id":       verify(VerifyOTPRequest{ReferenceID: "a b"}),
		"otp":                verify(VerifyOTPRequest{OTP: "12"}),
		"mobile_number":      verify(VerifyOTPRequest{MobileNumber: "12"}),
		"client ID":          errID,
		"client secret":      errSecret,
		"base URL":           newClient(WithBaseURL("ftp://x")),
		"HTTP client":        newClient(WithHTTPClient(nil)),
		"retry max":          newClient(WithRetryMax(-1)),
		"retry wait":         newClient(WithRetryWait(2, 1)),
		"user agent":         newClient(WithUserAgent("")),
		"timeout":            newClient(WithTimeout(0)),
		"max buffered bytes": newClient(WithMaxBufferedBytes(1)),
		"tenant":             newClient(WithTenant("ops@example.com")),
	} {
		var ve *ValidationError
		require.True(t, errors.As(err, &ve), "%s: %v", want, err)
		assert.Equal(t, want, ve.Field)
	}
	// The constants hold exactly these values.
	assert.Equal(t, []string{"aadhaar_number", "consent", "purpose", "reference_id", "otp", "mobile_number",
		"client ID", "client secret", "base URL", "HTTP client", "retry max", "retry wait", "user agent",
		"timeout", "max buffered bytes", "audit log", "tenant"},
		[]string{FieldAadhaarNumber, FieldConsent, FieldPurpose, FieldReferenceID, FieldOTP, FieldMobileNumber,
			FieldClientID, FieldClientSecret, FieldBaseURL, FieldHTTPClient, FieldRetryMax, FieldRetryWait,
			FieldUserAgent, FieldTimeout, FieldMaxBufferedBytes, FieldAuditLog, FieldTenant})
}

func TestDebugRecordHasElapsedMilliseconds(t *testing.T) {
	var logs logBuffer
	c, mt := mockClient(t, WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(200, successOTP))
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.NoError(t, err)
	var rec map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(line, "call finished") {
			require.NoError(t, json.Unmarshal([]byte(line), &rec))
		}
	}
	require.NotNil(t, rec, "no Debug record: %s", logs.String())
	ms, ok := rec["elapsed_ms"].(float64)
	require.True(t, ok, "elapsed_ms is a JSON number: %s", logs.String())
	assert.Positive(t, ms)
	assert.Less(t, ms, 60_000.0, "milliseconds, not nanoseconds")
	assert.NotContains(t, rec, "elapsed")
}
