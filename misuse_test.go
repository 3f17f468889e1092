package deepvue

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

// Issue 24 item 7: misuse neither panics nor loses a call's result.

// okServer answers every generate-otp with the documented success and
// counts the requests.
func okServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		_, _ = io.WriteString(w, successOTP)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestObserverReturningNilContexts: an Observer whose StartCall or
// StartAttempt returns a nil context (before: a panic in
// http.Request.WithContext) is taken to keep the context it was given.
func TestObserverReturningNilContexts(t *testing.T) {
	srv, n := okServer(t)
	var ended atomic.Int32
	for name, o := range map[string]*Observer{
		"StartAttempt": {StartAttempt: func(context.Context, AttemptInfo, http.Header) context.Context { return nil },
			EndAttempt: func(ctx context.Context, _ AttemptInfo, _ AttemptResult) {
				if ctx != nil {
					ended.Add(1)
				}
			}},
		"StartCall": {StartCall: func(context.Context, CallInfo) context.Context { return nil },
			EndCall: func(ctx context.Context, _ CallInfo, _ CallResult) {
				if ctx != nil {
					ended.Add(1)
				}
			}},
		"both": {StartCall: func(context.Context, CallInfo) context.Context { return nil },
			StartAttempt: func(context.Context, AttemptInfo, http.Header) context.Context { return nil }},
	} {
		c, err := NewClient(testID, testSecret, WithBaseURL(srv.URL), WithObserver(o))
		require.NoError(t, err)
		var res *OTPResponse
		require.NotPanics(t, func() {
			res, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
		}, name)
		require.NoError(t, err, name)
		assert.Equal(t, "29756208", res.ReferenceID, name)
		c.CloseIdleConnections()
	}
	assert.Equal(t, int32(3), n.Load())
	assert.Equal(t, int32(2), ended.Load(), "the End functions get a context")
}

// TestTypedNilLimiterIsRefused: a nil *rate.Limiter (or any typed nil) in
// the Limiter interface is refused by NewClient (before: accepted, and the
// first call panicked in Wait); a plain nil means no limiter.
func TestTypedNilLimiterIsRefused(t *testing.T) {
	srv, _ := okServer(t)
	var nilRate *rate.Limiter
	var nilPlan *windowLimiter
	for name, l := range map[string]Limiter{"*rate.Limiter": nilRate, "*windowLimiter": nilPlan, "func": waitFunc(nil)} {
		var c *Client
		var err error
		require.NotPanics(t, func() {
			c, err = NewClient(testID, testSecret, WithBaseURL(srv.URL), WithRateLimiter(l))
		}, name)
		var ve *ValidationError
		require.ErrorAs(t, err, &ve, name)
		assert.Equal(t, FieldRateLimiter, ve.Field)
		assert.Nil(t, c)
		assert.Equal(t, Step{Action: ActionFixConfiguration, Field: FieldRateLimiter}, NextStep(err))
	}
	c, err := NewClient(testID, testSecret, WithBaseURL(srv.URL), WithRateLimiter(nil))
	require.NoError(t, err)
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.NoError(t, err)
	c.CloseIdleConnections()
}

// TestPanickingAuditFuncLosesNoResult: an outcome AuditFunc that panics
// (before: the panic unwound GenerateOTP, and the reference id of an OTP
// that went out was lost) leaves the call's result as it was; the failure
// is reported through the logger's Warn and CallResult.AuditFailed. A
// consent AuditFunc that panics fails the call with ErrAuditFailed and
// ErrNotSent, and nothing is sent.
func TestPanickingAuditFuncLosesNoResult(t *testing.T) {
	srv, n := okServer(t)
	rec := &sentRecorder{}
	logs := &logBuffer{}
	audit := func(_ context.Context, r AuditRecord) error {
		if r.Stage == AuditOutcome {
			panic("audit store: nil map write for " + r.CallID + " " + validNumber)
		}
		return nil
	}
	c, err := NewClient(testID, testSecret, WithBaseURL(srv.URL), WithAuditLog(audit), WithObserver(rec.observer()),
		WithLogger(logs.logger()))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	var res *OTPResponse
	require.NotPanics(t, func() {
		res, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	})
	require.NoError(t, err)
	assert.Equal(t, "29756208", res.ReferenceID, "the reference id of the OTP that went out")
	assert.Equal(t, int32(1), n.Load())
	require.Len(t, rec.calls, 1)
	assert.True(t, rec.calls[0].AuditFailed, "CallResult.AuditFailed")
	assert.Contains(t, logs.String(), "the outcome audit record was not written")
	assert.Contains(t, logs.String(), "the AuditFunc panicked")
	for _, s := range sensitive {
		assert.NotContains(t, logs.String(), s)
	}

	// At the consent stage: nothing is sent.
	c2, err := NewClient(testID, testSecret, WithBaseURL(srv.URL),
		WithAuditLog(func(context.Context, AuditRecord) error { panic(errors.New("boom")) }))
	require.NoError(t, err)
	t.Cleanup(c2.CloseIdleConnections)
	require.NotPanics(t, func() {
		_, err = c2.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	})
	assert.ErrorIs(t, err, ErrAuditFailed)
	assert.ErrorIs(t, err, ErrNotSent)
	assert.True(t, strings.Contains(err.Error(), "panicked"), "%v", err)
	assert.Equal(t, int32(1), n.Load(), "nothing sent")
}
