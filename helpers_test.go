package deepvue

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Test values. The Aadhaar numbers are python-stdnum's public test vectors
// and the fake server's synthetic ones; the OTP and mobile are made up.
const (
	testID       = "test-client-id"
	testSecret   = "live_s3cr3t_value_never_print"
	validNumber  = "234123412346"
	otherNumber  = "499181234560"
	testOTP      = "482913"
	testMobile   = "9123456780"
	testBase     = "https://api.deepvue.test/base"
	genURL       = testBase + "/v2/ekyc/aadhaar/generate-otp"
	verURL       = testBase + "/v2/ekyc/aadhaar/verify-otp"
	testPurpose  = "KYC for loan account opening"
	successOTP   = `{"code":200,"timestamp":1738332826135,"transaction_id":"12815fb81c084fb7a35eedc0ef1c5a84","sub_code":"SUCCESS","message":"OTP sent to your Registered Mobile number. Check your mobile.","reference_id":"29756208"}`
	sourceFailBd = `{"code":500,"timestamp":1738332826135,"transaction_id":"tx-source","sub_code":"SOURCE_FAILURE","message":"Authorised source is temporarily unavailable, please try again shortly."}`
)

// sensitive lists every value that must never be printed or logged.
var sensitive = []string{validNumber, "2341 2341 2346", otherNumber, testOTP, testMobile, testSecret}

// mockClient returns a Client whose requests go to an httpmock transport,
// with a base path so that a wrongly built URL finds no responder.
func mockClient(t *testing.T, opts ...Option) (*Client, *httpmock.MockTransport) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	all := append([]Option{
		WithHTTPClient(&http.Client{Transport: mt}),
		WithBaseURL(testBase),
		WithRetryWait(0, 0),
	}, opts...)
	c, err := NewClient(testID, testSecret, all...)
	require.NoError(t, err)
	return c, mt
}

// jsonResponder answers status with body as JSON.
func jsonResponder(status int, body string) httpmock.Responder {
	return func(*http.Request) (*http.Response, error) {
		r := httpmock.NewStringResponse(status, body)
		r.Header.Set("Content-Type", "application/json")
		return r, nil
	}
}

// assertNoLeak checks every rendering of v, and every error in its chain,
// for the sensitive values.
func assertNoLeak(t *testing.T, v any, extra ...string) {
	t.Helper()
	var texts []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		texts = append(texts, fmt.Sprintf(verb, v))
	}
	if err, ok := v.(error); ok {
		for e := err; e != nil; e = errors.Unwrap(e) {
			texts = append(texts, e.Error(), fmt.Sprintf("%#v", e))
		}
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})).Debug("x", "value", v)
	texts = append(texts, buf.String())
	for _, text := range texts {
		for _, s := range append(sensitive, extra...) {
			assert.NotContains(t, text, s, "leaked in %q", text)
		}
	}
}

// logBuffer is a concurrency-safe slog JSON sink at debug level.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// sentinels lists every sentinel, to check that an error matches exactly one.
var sentinels = []error{
	ErrInvalidInput, ErrMobileNotLinked, ErrVerificationPending, ErrSourceFailure,
	ErrUnauthorized, ErrRateLimited, ErrServiceUnavailable, ErrUnexpectedResponse,
}

// matched returns the sentinels err matches.
func matched(err error) []error {
	var out []error
	for _, s := range sentinels {
		if errors.Is(err, s) {
			out = append(out, s)
		}
	}
	return out
}
