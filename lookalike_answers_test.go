package deepvue

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// generateCounted makes one GenerateOTP against a real server answering
// status, body and headers hdr, and returns how many requests reached the
// server and its error.
func generateCounted(t *testing.T, status int, body string, hdr map[string]string) (int32, error) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	c, err := NewClient(testID, testSecret, WithBaseURL(srv.URL), WithRetryWait(0, 0), WithRetryMax(2),
		WithPendingStore(NewMemoryPendingStore(0), []byte("redanswers-pending-hash-key-0123")))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = c.GenerateOTP(ctx, validNumber, ConsentYes, testPurpose)
	require.Error(t, err)
	return hits.Load(), err
}

// TestRetryDecisionAgreesWithFinalError: a 500 whose sub_code is
// SOURCE_FAILURE after 70 spaces. The retry check read the raw sub_code
// (trimmed: SOURCE_FAILURE, resend), the final *APIError the sub_code
// clipped to 64 bytes (no longer SOURCE_FAILURE: OTPMaybeSent). Before the
// fix the SDK sent the request 3 times and then said an SMS may have gone
// out: it resent after an answer it itself did not take for a documented
// SOURCE_FAILURE.
func TestRetryDecisionAgreesWithFinalError(t *testing.T) {
	for _, pad := range []int{1, 49, 50, 70} {
		sub := ""
		for range pad {
			sub += " "
		}
		sub += "SOURCE_FAILURE"
		hits, err := generateCounted(t, 500, `{"code":500,"sub_code":"`+sub+`"}`, nil)
		retried := hits > 1
		documented := OTPStateOf(err) == OTPNotSent
		assert.Equal(t, documented, retried, "pad %d: resent %d times, final state %v: %v", pad, hits, OTPStateOf(err), err)
		if !documented {
			assert.Equal(t, int32(1), hits, "pad %d: never resent after an answer the SDK does not take for SOURCE_FAILURE", pad)
		}
	}
}

// TestSubCodeAndDetailMatchOnlyASCIICase: the table matches a documented
// sub_code or detail in any ASCII case, with ASCII spaces around it; a
// Unicode look-alike ("ſOURCE_FAILURE": U+017F folds to S; a no-break
// space before it; "ſource Unavailable") is not Deepvue's documented
// answer: no resend, OTPMaybeSent, never Temporary. Before the fix each was
// taken for the documented answer: resent twice, OTPNotSent, Temporary.
func TestSubCodeAndDetailMatchOnlyASCIICase(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
	}{
		{500, `{"code":500,"sub_code":"\u017fOURCE_FAILURE"}`},
		{500, `{"code":500,"sub_code":"\u00a0SOURCE_FAILURE"}`},
		{500, `{"code":500,"sub_code":"SOURCE_FAILURE\u2003"}`},
		{503, `{"detail":"\u017fource Unavailable"}`},
		{429, `{"detail":"Rate limit exceeded. Plea\u017fe retry after some time."}`},
		{401, `{"detail":"Not authenticated\u00a0"}`},
		{400, `{"sub_code":"INVALID_INPUT\u0085"}`},
	} {
		hits, err := generateCounted(t, tc.status, tc.body, nil)
		assert.Equal(t, int32(1), hits, "%s", tc.body)
		assert.Equal(t, OTPMaybeSent, OTPStateOf(err), "%s: %v", tc.body, err)
		assert.Equal(t, ActionCheckSMS, NextStep(err).Action, "%s", tc.body)
		assert.NotErrorIs(t, err, ErrNotSent)
		var ae *APIError
		require.ErrorAs(t, err, &ae)
		assert.False(t, ae.Temporary(), "%s", tc.body)
	}
	// ASCII case and ASCII spaces stay documented.
	hits, err := generateCounted(t, 500, `{"code":500,"sub_code":" source_Failure\t"}`, nil)
	assert.Equal(t, int32(3), hits)
	assert.Equal(t, OTPNotSent, OTPStateOf(err), "%v", err)
	_, err = generateCounted(t, 503, `{"detail":" SOURCE UNAVAILABLE "}`, nil)
	assert.Equal(t, OTPNotSent, OTPStateOf(err), "%v", err)
}

// TestRetryAfterNeverForAMaybeSentGenerate: RetryAfter(err) is never true
// for a GenerateOTP error that may have sent an SMS (README, "Errors"). A
// VERIFICATION_PENDING body behind a 502 or 500 with Retry-After: 30
// (maybe sent: not at its documented 409), and Deepvue's documented 429
// and 503 through a transport the SDK cannot see below (the error matches
// ErrMaybeSentMoreThanOnce). Before the fix RetryAfter gave 30 s for each.
func TestRetryAfterNeverForAMaybeSentGenerate(t *testing.T) {
	ra := map[string]string{"Retry-After": "30"}
	for _, status := range []int{500, 502} {
		hits, err := generateCounted(t, status, `{"sub_code":"VERIFICATION_PENDING"}`, ra)
		require.Equal(t, int32(1), hits)
		require.Equal(t, OTPMaybeSent, OTPStateOf(err), "%v", err)
		_, known := RetryAfter(err)
		assert.False(t, known, "%d VERIFICATION_PENDING: %v", status, err)
	}
	for status, body := range map[int]string{
		429: `{"detail":"Rate limit exceeded. Please retry after some time."}`,
		503: `{"detail":"Source Unavailable"}`,
	} {
		var hits atomic.Int32
		c, err := NewClient(testID, testSecret, WithBaseURL(testBase), WithRetryWait(0, 0),
			WithHTTPClient(&http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				hits.Add(1)
				rec := httptest.NewRecorder()
				rec.Header().Set("Retry-After", "30")
				rec.WriteHeader(status)
				_, _ = io.WriteString(rec, body)
				return rec.Result(), nil
			})}))
		require.NoError(t, err)
		_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
		require.ErrorIs(t, err, ErrMaybeSentMoreThanOnce)
		require.Equal(t, OTPMaybeSent, OTPStateOf(err))
		require.Equal(t, int32(1), hits.Load())
		_, known := RetryAfter(err)
		assert.False(t, known, "%d through a transport the SDK cannot see below: %v", status, err)
		assert.Zero(t, NextStep(err).After)
	}
	// A documented 409, 429 and 503 keep their Retry-After.
	for status, body := range map[int]string{
		409: `{"sub_code":"VERIFICATION_PENDING"}`,
		429: `{"detail":"Rate limit exceeded. Please retry after some time."}`,
		503: `{"detail":"Source Unavailable"}`,
	} {
		_, err := generateCounted(t, status, body, ra)
		d, known := RetryAfter(err)
		assert.True(t, known, "%d: %v", status, err)
		assert.Equal(t, 30*time.Second, d)
	}
}
