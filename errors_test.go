package deepvue

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue/deepvuetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAPIErrorBuiltByHandMatchesTheSameSentinel: teams that mock the client
// return *APIError values they build; those classify from the public
// fields exactly as the SDK's own do.
func TestAPIErrorBuiltByHandMatchesTheSameSentinel(t *testing.T) {
	tests := []struct {
		err  *APIError
		want error
	}{
		{&APIError{StatusCode: 409, SubCode: "VERIFICATION_PENDING"}, ErrVerificationPending},
		{&APIError{StatusCode: 400, SubCode: "AADHAAR_MOBILE_NOT_LINKED"}, ErrMobileNotLinked},
		{&APIError{StatusCode: 400, SubCode: "INVALID_INPUT"}, ErrInvalidInput},
		{&APIError{StatusCode: 422, SubCode: "invalid_input"}, ErrInvalidInput},
		{&APIError{StatusCode: 500, SubCode: "SOURCE_FAILURE"}, ErrSourceFailure},
		{&APIError{StatusCode: 401}, ErrUnauthorized},
		{&APIError{StatusCode: 403, Detail: "Invalid client_id or client_secret, access Denied"}, ErrUnauthorized},
		{&APIError{StatusCode: 400, Detail: "Inactive client_id"}, ErrUnauthorized},
		{&APIError{StatusCode: 400, Detail: "Bad Request"}, ErrInvalidInput},
		{&APIError{StatusCode: 422, Detail: "Invalid Pan pattern"}, ErrInvalidInput},
		{&APIError{StatusCode: 422, Detail: "query.purpose: field required"}, ErrInvalidInput},
		{&APIError{StatusCode: 429}, ErrRateLimited},
		{&APIError{StatusCode: 503, Detail: "Source Unavailable"}, ErrServiceUnavailable},
		{&APIError{StatusCode: 200, SubCode: "SUCCESS"}, ErrUnexpectedResponse},
		{&APIError{StatusCode: 302}, ErrUnexpectedResponse},
		{&APIError{StatusCode: 200, SubCode: "VERIFICATION_PENDING"}, ErrVerificationPending},
		{&APIError{StatusCode: 400, SubCode: "INVALID_OTP"}, nil},
		{&APIError{StatusCode: 502}, nil},
		{&APIError{StatusCode: 400, Detail: "something else"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			if tt.want == nil {
				assert.Empty(t, matched(tt.err))
			} else {
				assert.Equal(t, []error{tt.want}, matched(tt.err))
			}
			assert.NotErrorIs(t, tt.err, ErrNotSent)
		})
	}
	var wrapped error = &APIError{StatusCode: 500, SubCode: "SOURCE_FAILURE"}
	assert.True(t, wrapped.(*APIError).Temporary())
	assert.False(t, (&APIError{StatusCode: 409, SubCode: "VERIFICATION_PENDING"}).Temporary())
}

func TestPlatformErrorsAreInvalidInput(t *testing.T) {
	for _, tt := range []struct {
		status int
		body   string
	}{
		{400, `{"detail":"Bad Request"}`},
		{422, `{"detail":"Invalid Pan pattern"}`},
	} {
		c, mt := mockClient(t)
		mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(tt.status, tt.body))
		_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
		assert.Equal(t, []error{ErrInvalidInput}, matched(err), tt.body)
	}
}

// TestErrNotSentMatchesExactlyWhenNothingLeft: ErrNotSent matches every
// failure after which the SDK knows no request left the process, in
// addition to what the error matched before, and nothing else.
func TestErrNotSentMatchesExactlyWhenNothingLeft(t *testing.T) {
	refused := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		ln.Close()
		return "http://" + addr
	}
	tests := []struct {
		name    string
		call    func(t *testing.T) error
		notSent bool
		also    error // what the error matches besides
	}{
		{"invalid Aadhaar number", func(t *testing.T) error {
			c, _ := mockClient(t)
			_, err := c.GenerateOTP(context.Background(), "234123412347", ConsentYes, testPurpose)
			return err
		}, true, ErrInvalidInput},
		{"invalid OTP", func(t *testing.T) error {
			c, _ := mockClient(t)
			req := validVerifyRequest()
			req.OTP = "12"
			_, err := c.VerifyOTP(context.Background(), req)
			return err
		}, true, ErrInvalidInput},
		{"limiter refusal", func(t *testing.T) error {
			c, _ := mockClient(t, WithRateLimiter(limiterFunc(func(context.Context) error { return errors.New("fleet limit reached") })))
			_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
			return err
		}, true, nil},
		{"limiter wait past the deadline", func(t *testing.T) error {
			c, _ := mockClient(t, WithRateLimiter(limiterFunc(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			_, err := c.GenerateOTP(ctx, validNumber, ConsentYes, testPurpose)
			return err
		}, true, context.DeadlineExceeded},
		{"connection refused", func(t *testing.T) error {
			c, err := NewClient(testID, testSecret, WithBaseURL(refused()))
			require.NoError(t, err)
			_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
			return err
		}, true, nil},
		{"an answer", func(t *testing.T) error {
			c, mt := mockClient(t)
			mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(409, `{"sub_code":"VERIFICATION_PENDING"}`))
			_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
			return err
		}, false, ErrVerificationPending},
		{"a transport that reports nothing", func(t *testing.T) error {
			c, _ := mockClient(t) // httpmock: no trace events, so the SDK cannot know
			_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
			return err
		}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(t)
			require.Error(t, err)
			assert.Equal(t, tt.notSent, errors.Is(err, ErrNotSent), "%v", err)
			if tt.also != nil {
				assert.ErrorIs(t, err, tt.also)
			}
			assertNoLeak(t, err)
		})
	}
}

// errorPage is a JSON error answer of about size bytes whose message is free
// text full of digit runs and separators (the scrubber's worst case): the
// kind of page a gateway in front of Deepvue may answer with.
func errorPage(size int) []byte {
	const head, tail = `{"code":400,"sub_code":"INVALID_INPUT","transaction_id":"12815fb81c084fb7a35eedc0ef1c5a84","message":"`, `"}`
	unit := "ref 1234 5678-9012, id 98765.43210 at 10.0.0.1:8080; "
	var b strings.Builder
	b.Grow(size)
	b.WriteString(head)
	for b.Len()+len(unit)+len(tail) <= size {
		b.WriteString(unit)
	}
	b.WriteString(tail)
	return []byte(b.String())
}

// TestMemoryBudget300ConcurrentErrorPagesOf1MiB: the memory budget bounds
// the error path too. 300 concurrent GenerateOTP calls answered with 1 MiB
// HTTP 400 pages (under MaxResponseBytes) grow the heap by at most 384 MiB
// with the default budget: the answer is held within the budget, and its
// free text is scrubbed only as far as it is kept.
func TestMemoryBudget300ConcurrentErrorPagesOf1MiB(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("moves 300 MiB: skipped with -short and under the race detector (the bound does not depend on it)")
	}
	body := errorPage(MaxResponseBytes - 1024)
	run := runUnderHeapWatch(t, http.StatusBadRequest, body, 300, func(c *Client) bool {
		// A number of its own: identical calls would share one request.
		_, err := c.GenerateOTP(context.Background(), deepvuetest.NewNumber(), ConsentYes, testPurpose)
		var ae *APIError
		return assert.ErrorAs(t, err, &ae) && assert.ErrorIs(t, err, ErrInvalidInput) && assert.LessOrEqual(t, len(ae.Message), maxFieldText+len("…"))
	})
	t.Logf("300 concurrent GenerateOTP calls answered with %.2f MiB HTTP 400 pages: %d failed as expected in %v; heap grew by at most %d MiB (budget %d MiB)",
		float64(len(body))/(1<<20), run.ok, run.elapsed.Round(time.Millisecond), run.growth>>20, DefaultMaxBufferedBytes>>20)
	assert.Equal(t, int32(300), run.ok)
	assert.LessOrEqual(t, run.growth, uint64(384<<20), "heap growth")
	assert.Zero(t, run.c.budget.InUse())
}
