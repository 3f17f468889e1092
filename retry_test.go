package deepvue

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIsRetryableDecision(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   bool
	}{
		{"500 SOURCE_FAILURE", 500, sourceFailBd, true},
		{"500 source_failure lower case", 500, `{"sub_code":"source_failure"}`, true},
		{"500 SOURCE_FAILURE, string timestamp", 500, `{"code":"500","timestamp":"2025-01-31T10:00:00Z","sub_code":"SOURCE_FAILURE"}`, true},
		{"500 SOURCE_FAILURE, odd field types", 500, `{"code":{"x":1},"timestamp":[1],"transaction_id":7,"sub_code":"SOURCE_FAILURE","message":null}`, true},
		{"500 other sub_code", 500, `{"sub_code":"INTERNAL_ERROR"}`, false},
		{"500 HTML", 500, `<html>oops</html>`, false},
		{"500 empty", 500, ``, false},
		{"503 Source Unavailable", 503, `{"detail":"Source Unavailable"}`, false},
		{"503 with SOURCE_FAILURE body", 503, sourceFailBd, false},
		{"502 gateway", 502, `<html>Bad Gateway</html>`, false},
		{"504 gateway", 504, `<html>Gateway Timeout</html>`, false},
		{"429", 429, `{"detail":"Rate limit exceeded. Please retry after some time."}`, false},
		{"409 pending", 409, `{"sub_code":"VERIFICATION_PENDING"}`, false},
		{"400", 400, `{"sub_code":"INVALID_INPUT"}`, false},
		{"401", 401, `{"detail":"Not authenticated"}`, false},
		{"200", 200, successOTP, false},
		{"200 with SOURCE_FAILURE", 200, sourceFailBd, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var env *envelope
			if dec, ok := decodeEnvelope([]byte(tt.body)); ok {
				env = &dec
			}
			assert.Equal(t, tt.want, isRetryable(tt.status, env, &secrets{}))
		})
	}
}

func TestCheckRetry(t *testing.T) {
	c, _ := mockClient(t, WithRetryMax(2))
	src := func() *http.Response {
		req := httptest.NewRequest(http.MethodPost, genURL, nil)
		return &http.Response{StatusCode: 500, Body: io.NopCloser(strings.NewReader(sourceFailBd)), Request: req,
			ContentLength: int64(len(sourceFailBd))}
	}
	cl := &call{op: opGenerate}
	ctx := context.WithValue(context.Background(), callKey{}, cl)

	first := src()
	retry, err := c.checkRetry(ctx, first, nil)
	assert.True(t, retry)
	assert.NoError(t, err)
	second := src()
	retry, _ = c.checkRetry(ctx, second, nil)
	assert.True(t, retry, "second attempt: one retry left")
	assert.Equal(t, http.NoBody, second.Body, "a retried answer is read, and released at once")
	assert.Zero(t, c.budget.InUse())
	last := src()
	retry, err = c.checkRetry(ctx, last, nil)
	assert.False(t, retry, "retries spent")
	assert.NoError(t, err)
	kept, ok := last.Body.(*keptAnswer)
	require.True(t, ok, "the last 500 is kept for the final error, on the response: decoded once")
	a := kept.take()
	assert.Equal(t, 500, a.status)
	require.NotNil(t, a.env, "and its envelope, so the final error does not decode it again")
	ae := newAPIError(opGenerate, a, nil, "", &secrets{})
	assert.Equal(t, "tx-source", ae.TransactionID)
	a.release()
	assert.Zero(t, c.budget.InUse(), "every reservation is returned")

	// A transport error is never retried: the request may have been sent.
	retry, err = c.checkRetry(ctx, nil, errors.New("connection reset by peer"))
	assert.False(t, retry)
	assert.NoError(t, err)

	// An ended context stops retries.
	cctx, cancel := context.WithCancel(context.WithValue(context.Background(), callKey{}, &call{}))
	cancel()
	retry, _ = c.checkRetry(cctx, src(), nil)
	assert.False(t, retry)
}

func TestBackoffBounds(t *testing.T) {
	min, max := 100*time.Millisecond, 800*time.Millisecond
	for attempt := 0; attempt < 40; attempt++ {
		ceil := max
		if attempt < 4 {
			ceil = min << attempt
		}
		for i := 0; i < 200; i++ {
			d := backoff(min, max, attempt, nil)
			require.GreaterOrEqual(t, d, min)
			require.LessOrEqual(t, d, ceil, "attempt %d", attempt)
		}
	}
	assert.Equal(t, time.Duration(0), backoff(0, 0, 3, nil))
	// Retry-After is ignored: never above max.
	resp := &http.Response{StatusCode: 500, Header: http.Header{"Retry-After": {"3600"}}}
	assert.LessOrEqual(t, backoff(min, max, 1, resp), max)
}

func TestRetriesOnlySourceFailure(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		wantCalls int
		want      error
	}{
		{"source failure, retried twice then given up", 500, sourceFailBd, 3, ErrSourceFailure},
		{"source failure with a string timestamp", 500, `{"code":500,"timestamp":"2025-01-31T10:00:00+05:30","sub_code":"SOURCE_FAILURE"}`, 3, ErrSourceFailure},
		{"500 other", 500, `{"sub_code":"SOMETHING_ELSE","message":"x"}`, 1, nil},
		{"503", 503, `{"detail":"Source Unavailable"}`, 1, ErrServiceUnavailable},
		{"502 html", 502, `<html><body>Bad Gateway</body></html>`, 1, nil},
		{"429", 429, `{"detail":"Rate limit exceeded. Please retry after some time."}`, 1, ErrRateLimited},
		{"409", 409, `{"sub_code":"VERIFICATION_PENDING","reference_id":""}`, 1, ErrVerificationPending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt := mockClient(t)
			mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(tt.status, tt.body))
			_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
			require.Error(t, err)
			assert.Equal(t, tt.wantCalls, mt.GetTotalCallCount())
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.status, ae.StatusCode)
			if tt.want != nil {
				assert.Equal(t, []error{tt.want}, matched(err))
			} else {
				assert.Empty(t, matched(err))
			}
			assert.NotErrorIs(t, err, ErrNotSent)
			assert.Zero(t, c.budget.InUse())
		})
	}
}

func TestSourceFailureThenSuccess(t *testing.T) {
	logs := &logBuffer{}
	c, mt := mockClient(t, WithLogger(logs.logger()))
	mt.RegisterResponder(http.MethodPost, genURL,
		jsonResponder(500, sourceFailBd).Then(jsonResponder(200, successOTP)))
	res, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.NoError(t, err)
	assert.Equal(t, "29756208", res.ReferenceID)
	assert.Equal(t, 2, mt.GetTotalCallCount())

	out := logs.String()
	assert.Contains(t, out, `"level":"WARN"`)
	assert.Contains(t, out, `"msg":"deepvue: retrying after SOURCE_FAILURE"`)
	assert.Contains(t, out, `"attempt":1`)
	assert.Contains(t, out, `"transaction_id":"tx-source"`)
	assert.Contains(t, out, `"msg":"deepvue: call finished"`)
	assert.Contains(t, out, `"attempts":2`)
	assert.Contains(t, out, `"transaction_id":"12815fb81c084fb7a35eedc0ef1c5a84"`, "a success's transaction id is logged")
	assert.Contains(t, out, `"sub_code":"SUCCESS"`)
	for _, s := range sensitive {
		assert.NotContains(t, out, s)
	}
	assert.NotContains(t, out, "aadhaar_number=")
}

func TestRetryLogScrubsAnEchoingTransactionID(t *testing.T) {
	logs := &logBuffer{}
	c, mt := mockClient(t, WithLogger(logs.logger()))
	// Each call masks the values it knows, in any spelling, even in an id.
	echo := func(r *http.Request) (*http.Response, error) {
		spelled := "2341.2341.2346"
		if r.URL.Query().Has("otp") {
			spelled = "482 913 / (+91) 91234-56780"
		}
		return jsonResponder(500, `{"sub_code":"SOURCE_FAILURE","transaction_id":"`+r.URL.RawQuery+` `+spelled+`"}`)(r)
	}
	mt.RegisterResponder(http.MethodPost, genURL, echo)
	mt.RegisterResponder(http.MethodPost, verURL, echo)
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.ErrorIs(t, err, ErrSourceFailure)
	req := validVerifyRequest()
	req.MobileNumber = testMobile
	_, err = c.VerifyOTP(context.Background(), req)
	require.ErrorIs(t, err, ErrSourceFailure)
	out := logs.String()
	assert.Contains(t, out, "retrying after SOURCE_FAILURE")
	assert.Contains(t, out, "XXXX XXXX 2346")
	for _, s := range append(sensitive, "2341.2341.2346", "482 913", "91234-56780") {
		assert.NotContains(t, out, s)
	}
}

func TestRetryMaxZeroDoesNotRetry(t *testing.T) {
	c, mt := mockClient(t, WithRetryMax(0))
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(500, sourceFailBd))
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	assert.ErrorIs(t, err, ErrSourceFailure)
	assert.Equal(t, 1, mt.GetTotalCallCount())
}

func TestContextCanceledDuringBackoffReturnsAtOnce(t *testing.T) {
	c, mt := mockClient(t, WithRetryWait(time.Hour/20, time.Hour/20)) // 3 minutes
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(500, sourceFailBd))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	start := time.Now()
	_, err := c.GenerateOTP(ctx, validNumber, ConsentYes, testPurpose)
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, ErrNotSent, "the first attempt was sent")
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.Equal(t, 1, mt.GetTotalCallCount())
	assertNoLeak(t, err)
}

func TestDeadlineDuringBackoff(t *testing.T) {
	c, mt := mockClient(t, WithRetryWait(time.Minute, time.Minute))
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(500, sourceFailBd))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.GenerateOTP(ctx, validNumber, ConsentYes, testPurpose)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Zero(t, c.budget.InUse())
}
