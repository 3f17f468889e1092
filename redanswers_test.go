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
// status, body and headers hdr, and returns its error and how many
// requests reached the server.
func generateCounted(t *testing.T, status int, body string, hdr map[string]string) (error, int32) {
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
	return err, hits.Load()
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
		err, hits := generateCounted(t, 500, `{"code":500,"sub_code":"`+sub+`"}`, nil)
		retried := hits > 1
		documented := OTPStateOf(err) == OTPNotSent
		assert.Equal(t, documented, retried, "pad %d: resent %d times, final state %v: %v", pad, hits, OTPStateOf(err), err)
		if !documented {
			assert.Equal(t, int32(1), hits, "pad %d: never resent after an answer the SDK does not take for SOURCE_FAILURE", pad)
		}
	}
}
