package deepvue

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		header, date string
		want         time.Duration
	}{
		{"", "", 0},
		{"7", "", 7 * time.Second},
		{" 120 ", "", 2 * time.Minute},
		{"0", "", 0},
		{"3600", "", time.Hour},
		{"3601", "", MaxRetryAfter},
		{"99999999999999999999999", "", MaxRetryAfter}, // overflows int64: capped
		{"-5", "", 0},
		{"1.5", "", 0},
		{"soon", "", 0},
		{"7 seconds", "", 0},
		{"Thu, 01 Jan 2026 10:00:30 GMT", "", 30 * time.Second},
		{"Thu, 01 Jan 2026 10:00:30 GMT", "Thu, 01 Jan 2026 10:00:20 GMT", 10 * time.Second}, // the server's Date wins
		{"Thu, 01 Jan 2026 10:00:30 GMT", "garbage", 30 * time.Second},
		{"Thu, 01 Jan 2026 09:59:00 GMT", "", 0}, // in the past
		{"Fri, 01 Jan 2027 10:00:00 GMT", "", MaxRetryAfter},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.header != "" {
			h.Set("Retry-After", tt.header)
		}
		if tt.date != "" {
			h.Set("Date", tt.date)
		}
		assert.Equal(t, tt.want, parseRetryAfter(h, now), "Retry-After %q Date %q", tt.header, tt.date)
	}
}

// TestRetryAfterFromAnswers: the header of a 429, 503 or 409 pending answer
// reaches RetryAfter through the SDK; other answers, and a missing or
// garbage header, give false.
func TestRetryAfterFromAnswers(t *testing.T) {
	tests := []struct {
		name, url    string
		status       int
		body, header string
		want         time.Duration
		ok           bool
	}{
		{"429 seconds", genURL, 429, `{"detail":"Rate limit exceeded. Please retry after some time."}`, "7", 7 * time.Second, true},
		{"429 no header", genURL, 429, `{"detail":"Rate limit exceeded. Please retry after some time."}`, "", 0, false},
		{"429 garbage", genURL, 429, `{"detail":"Rate limit exceeded. Please retry after some time."}`, "later", 0, false},
		{"429 huge", genURL, 429, `{"detail":"Rate limit exceeded. Please retry after some time."}`, "86400", MaxRetryAfter, true},
		// Not Deepvue's body: a proxy's 429 may follow a request it forwarded,
		// so no retry advice (issue 25: never for an answer that may have sent an SMS).
		{"429 a proxy's", genURL, 429, `{"message":"API rate limit exceeded"}`, "7", 0, false},
		{"503 a proxy's", genURL, 503, `upstream connect error or disconnect/reset before headers`, "7", 0, false},
		{"503 HTTP date", genURL, 503, `{"detail":"Source Unavailable"}`, "date+90s", 90 * time.Second, true},
		{"409 pending", genURL, 409, `{"sub_code":"VERIFICATION_PENDING","reference_id":""}`, "31", 31 * time.Second, true},
		{"409 pending no header", genURL, 409, `{"sub_code":"VERIFICATION_PENDING"}`, "", 0, false},
		{"verify 429", verURL, 429, `{"detail":"Rate limit exceeded. Please retry after some time."}`, "2", 2 * time.Second, true},
		{"400 with a header", genURL, 400, `{"sub_code":"INVALID_INPUT"}`, "30", 0, false},
		{"verify 400 with a header", verURL, 400, `{"sub_code":"INVALID_OTP"}`, "30", 0, false},
		{"502 with a header", genURL, 502, `<html>bad gateway</html>`, "30", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt := mockClient(t)
			mt.RegisterResponder(http.MethodPost, tt.url, func(*http.Request) (*http.Response, error) {
				r := httpmock.NewStringResponse(tt.status, tt.body)
				r.Header.Set("Content-Type", "application/json")
				switch {
				case tt.header == "date+90s":
					now := time.Now().UTC().Truncate(time.Second)
					r.Header.Set("Date", now.Format(http.TimeFormat))
					r.Header.Set("Retry-After", now.Add(90*time.Second).Format(http.TimeFormat))
				case tt.header != "":
					r.Header.Set("Retry-After", tt.header)
				}
				return r, nil
			})
			var err error
			if tt.url == genURL {
				_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
			} else {
				_, err = c.VerifyOTP(context.Background(), validVerifyRequest())
			}
			require.Error(t, err)
			d, ok := RetryAfter(err)
			assert.Equal(t, tt.ok, ok, "%v", err)
			assert.Equal(t, tt.want, d)
		})
	}
}

// fleetRefusal is a limiter error that knows the caller's next slot, as the
// real limiters' errors do.
type fleetRefusal struct{ next time.Duration }

func (e *fleetRefusal) Error() string             { return "rate limiter: next slot too late" }
func (e *fleetRefusal) RetryAfter() time.Duration { return e.next }

// leakyRefusal quotes a value the SDK must never hand out.
type leakyRefusal struct{}

func (leakyRefusal) Error() string             { return "refused for " + validNumber }
func (leakyRefusal) RetryAfter() time.Duration { return time.Second }

func TestRetryAfterFromLimiter(t *testing.T) {
	refuse := func(err error) Option {
		return WithRateLimiter(limiterFunc(func(context.Context) error { return err }))
	}
	for _, op := range []string{opGenerate, opVerify} {
		t.Run(op, func(t *testing.T) {
			c, _ := mockClient(t, refuse(&fleetRefusal{next: 1500 * time.Millisecond}))
			var err error
			if op == opGenerate {
				_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
			} else {
				_, err = c.VerifyOTP(context.Background(), validVerifyRequest())
			}
			require.ErrorIs(t, err, ErrNotSent)
			d, ok := RetryAfter(err)
			assert.True(t, ok, "%v", err)
			assert.Equal(t, 1500*time.Millisecond, d)
			assert.Equal(t, "limiter", Outcome(err))
		})
	}

	// Wrapped further by the caller: still found.
	c, _ := mockClient(t, refuse(fmt.Errorf("fleet: %w", &fleetRefusal{next: 20 * time.Hour})))
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	d, ok := RetryAfter(fmt.Errorf("handler: %w", err))
	assert.True(t, ok)
	assert.Equal(t, MaxRetryAfter, d, "a limiter's wait is capped like a server's header (issue 24, item 9)")

	// Zero, and a refusal without the method: false.
	c, _ = mockClient(t, refuse(&fleetRefusal{}))
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	_, ok = RetryAfter(err)
	assert.False(t, ok)
	c, _ = mockClient(t, refuse(errors.New("no")))
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	_, ok = RetryAfter(err)
	assert.False(t, ok)

	// An error whose text holds an Aadhaar number is never handed out; its
	// wait, a duration, is.
	c, _ = mockClient(t, refuse(leakyRefusal{}))
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	var lr leakyRefusal
	assert.False(t, errors.As(err, &lr), "safeError.As hands out only errors with clean text")
	d, ok = RetryAfter(err)
	assert.True(t, ok)
	assert.Equal(t, time.Second, d)
	assertNoLeak(t, err)
}

func TestRetryAfterHandBuilt(t *testing.T) {
	_, ok := RetryAfter(nil)
	assert.False(t, ok)
	_, ok = RetryAfter(errors.New("x"))
	assert.False(t, ok)
	d, ok := RetryAfter(&APIError{StatusCode: 429, Detail: "Rate limit exceeded. Please retry after some time.", RetryAfter: 5 * time.Second})
	assert.True(t, ok)
	assert.Equal(t, 5*time.Second, d)
	_, ok = RetryAfter(&APIError{StatusCode: 429, RetryAfter: 5 * time.Second})
	assert.False(t, ok, "not Deepvue's body: maybe sent, no retry advice")
	d, ok = RetryAfter(&APIError{StatusCode: 503, Detail: "Source Unavailable", RetryAfter: 48 * time.Hour})
	assert.True(t, ok)
	assert.Equal(t, MaxRetryAfter, d)
	_, ok = RetryAfter(&APIError{StatusCode: 429})
	assert.False(t, ok, "no header: the SDK does not know")
	_, ok = RetryAfter(&APIError{StatusCode: 409, RetryAfter: time.Second})
	assert.False(t, ok, "409 without VERIFICATION_PENDING")
	_, ok = RetryAfter(&APIError{StatusCode: 409, SubCode: "VERIFICATION_PENDING", RetryAfter: time.Second})
	assert.True(t, ok)
	_, ok = RetryAfter(&APIError{StatusCode: 500, SubCode: "SOURCE_FAILURE", RetryAfter: time.Second})
	assert.True(t, ok)
	_, ok = RetryAfter(&APIError{StatusCode: 422, SubCode: "INVALID_INPUT", RetryAfter: time.Second})
	assert.False(t, ok)
}

// TestLimiterOutcomeOneName: a refusal and a wait that ends with the
// deadline are both "limiter", before the first attempt and before a retry.
func TestLimiterOutcomeOneName(t *testing.T) {
	c, _ := mockClient(t, WithRateLimiter(limiterFunc(func(context.Context) error { return errors.New("refused") })))
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	assert.Equal(t, "limiter", Outcome(err))

	c, _ = mockClient(t, WithRateLimiter(limiterFunc(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err = c.GenerateOTP(ctx, validNumber, ConsentYes, testPurpose)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, "limiter", Outcome(err))

	// Before a retry: the first attempt got SOURCE_FAILURE, the second wait
	// is refused.
	waits := 0
	c, mt := mockClient(t, WithRateLimiter(limiterFunc(func(context.Context) error {
		waits++
		if waits > 1 {
			return errors.New("refused")
		}
		return nil
	})))
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(500, sourceFailBd))
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.Error(t, err)
	assert.Equal(t, "limiter", Outcome(err))
	assert.True(t, strings.Contains(err.Error(), "rate limiter"), err.Error())
}

// TestRetryAfterKeepsEveryLimiterWait is issue 24's item 9: 2,000 limiter
// refusals with waits between 100 s and 1 h (a fixed seed), through a
// Client: RetryAfter finds every wait, including those whose nanoseconds
// spell a valid-looking Aadhaar number (234123412346 ns is 3m54s; before,
// 248 of the 2,000 were lost that way); and a limiter's wait is capped at
// MaxRetryAfter like any other (a far-future slot in Redis gave 8,760 h).
func TestRetryAfterKeepsEveryLimiterWait(t *testing.T) {
	var wait atomic.Int64
	c, _ := mockClient(t, WithRateLimiter(limiterFunc(func(context.Context) error {
		return &LimitError{Wait: time.Duration(wait.Load())}
	})))
	refusal := func(d time.Duration) error {
		wait.Store(int64(d))
		_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
		require.ErrorIs(t, err, ErrNotSent)
		return err
	}
	rng := rand.New(rand.NewPCG(24, 9))
	waits := []time.Duration{234123412346, 499181234560}
	for len(waits) < 2000 {
		waits = append(waits, 100*time.Second+time.Duration(rng.Int64N(int64(time.Hour-100*time.Second))))
	}
	lost := 0
	for _, w := range waits {
		err := refusal(w)
		if d, ok := RetryAfter(err); !ok || d != w {
			lost++
		}
		assertNoLeak(t, err)
	}
	t.Logf("limiter waits between 100 s and 1 h: RetryAfter lost %d of %d", lost, len(waits))
	assert.Zero(t, lost)

	d, ok := RetryAfter(refusal(8760 * time.Hour))
	assert.True(t, ok)
	assert.Equal(t, MaxRetryAfter, d, "a limiter's wait is capped too")
	d, ok = RetryAfter(&LimitError{Wait: 8760 * time.Hour})
	assert.True(t, ok)
	assert.Equal(t, MaxRetryAfter, d, "straight from a limiter's Wait")
}
