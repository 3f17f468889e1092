package deepvue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// retrying5xx is a caller transport that retries a 5xx answer up to twice,
// building each retry's request with newCtx.
type retrying5xx struct {
	rt     http.RoundTripper
	newCtx func(r *http.Request) (context.Context, context.CancelFunc)
}

func (t retrying5xx) RoundTrip(r *http.Request) (*http.Response, error) {
	for try := 0; ; try++ {
		ctx, cancel := t.newCtx(r)
		resp, err := t.rt.RoundTrip(r.Clone(ctx))
		if err != nil {
			cancel()
			return nil, err
		}
		if resp.StatusCode < 500 || try == 2 {
			resp.Body = cancelOnClose{resp.Body, cancel}
			return resp, nil
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		cancel()
	}
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error { c.cancel(); return c.ReadCloser.Close() }

// resendingTransports are the caller transports of issue 14's third case.
// seen is what the SDK can see of their resends: "hidden" (no trace
// events), "unstoppable" (a second write seen after the guard's cancel,
// HTTP/2 only: over HTTP/1.1 the guard closes the connection first), or
// "blocked" (the guard stopped it).
func resendingTransports() []struct {
	name string
	wrap func(http.RoundTripper) http.RoundTripper
	seen map[bool]string // by HTTP/2
} {
	noCancel := func() {}
	return []struct {
		name string
		wrap func(http.RoundTripper) http.RoundTripper
		seen map[bool]string
	}{
		{"req.Clone(context.Background())", func(rt http.RoundTripper) http.RoundTripper {
			return retrying5xx{rt, func(*http.Request) (context.Context, context.CancelFunc) { return context.Background(), noCancel }}
		}, map[bool]string{false: "hidden", true: "hidden"}},
		{"context.WithTimeout(context.Background())", func(rt http.RoundTripper) http.RoundTripper {
			return retrying5xx{rt, func(*http.Request) (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 10*time.Second)
			}}
		}, map[bool]string{false: "hidden", true: "hidden"}},
		{"context.WithoutCancel(req.Context())", func(rt http.RoundTripper) http.RoundTripper {
			return retrying5xx{rt, func(r *http.Request) (context.Context, context.CancelFunc) {
				return context.WithoutCancel(r.Context()), noCancel
			}}
		}, map[bool]string{false: "blocked", true: "unstoppable"}},
		{"hand-written, keeps req.Context()", func(rt http.RoundTripper) http.RoundTripper {
			return retrying5xx{rt, func(r *http.Request) (context.Context, context.CancelFunc) { return r.Context(), noCancel }}
		}, map[bool]string{false: "blocked", true: "blocked"}},
		{"go-retryablehttp RoundTripper", func(rt http.RoundTripper) http.RoundTripper {
			return &retryablehttp.RoundTripper{Client: &retryablehttp.Client{
				HTTPClient: &http.Client{Transport: rt}, RetryMax: 2, Logger: nil,
				CheckRetry: retryablehttp.DefaultRetryPolicy, Backoff: func(_, _ time.Duration, _ int, _ *http.Response) time.Duration { return 0 },
			}}
		}, map[bool]string{false: "blocked", true: "blocked"}},
	}
}

// TestTransportsThatResendBelowTheSDK is issue 14's third case: caller
// transports that retry a 502 on their own, over HTTP/1.1 and HTTP/2. The
// server counts the requests of one GenerateOTP. A resend the guard can
// stop is stopped (1 request, ErrResendBlocked); one it cannot see
// (a transport that drops the request's context) or cannot stop (one that
// drops its cancel) is named: the error says the request may have been
// sent more than once, and the Client logs one Warn, once.
func TestTransportsThatResendBelowTheSDK(t *testing.T) {
	for _, tt := range resendingTransports() {
		for _, h2 := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/http2=%v", tt.name, h2), func(t *testing.T) {
				var reqs atomic.Int32
				srv, tr := newTLSServerH2(t, h2, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					reqs.Add(1)
					w.Header().Set("Content-Type", "text/html")
					w.WriteHeader(http.StatusBadGateway)
					_, _ = io.WriteString(w, "<html>bad gateway</html>")
				}))
				logs := &logBuffer{}
				c, err := NewClient(testID, testSecret, WithBaseURL(srv.URL), WithLogger(logs.logger()),
					WithHTTPClient(&http.Client{Transport: tt.wrap(tr)}))
				require.NoError(t, err)

				var perCall []int32
				for i := 0; i < 2; i++ {
					before := reqs.Load()
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					_, err = c.GenerateOTP(ctx, validNumber, ConsentYes, testPurpose)
					cancel()
					perCall = append(perCall, reqs.Load()-before)
					require.Error(t, err)
					assert.NotErrorIs(t, err, ErrNotSent)
					assertNoLeak(t, err)
					switch tt.seen[h2] {
					case "hidden":
						assert.Equal(t, int32(3), perCall[i], "requests at the server: the transport's resends")
						assert.Contains(t, err.Error(), "may have been sent more than once")
						assert.ErrorIs(t, err, ErrMaybeSentMoreThanOnce)
						assert.NotErrorIs(t, err, ErrResendBlocked, "the guard saw no second write")
						var ae *APIError
						require.ErrorAs(t, err, &ae)
						assert.Equal(t, http.StatusBadGateway, ae.StatusCode)
					case "unstoppable":
						assert.Greater(t, perCall[i], int32(1), "requests at the server: the resends went out")
						assert.ErrorIs(t, err, ErrResendBlocked)
						assert.ErrorIs(t, err, ErrMaybeSentMoreThanOnce)
						assert.Contains(t, err.Error(), "sent the request more than once")
					case "blocked":
						assert.Equal(t, int32(1), perCall[i], "requests at the server: the guard stopped the resends")
						assert.ErrorIs(t, err, ErrResendBlocked)
						assert.NotErrorIs(t, err, ErrMaybeSentMoreThanOnce, "the guard stopped the second write")
						assert.NotContains(t, err.Error(), "more than once")
					}
				}
				for _, s := range append(sensitive, "aadhaar_number=2") {
					assert.NotContains(t, logs.String(), s, "log records")
				}
				// Every one of them is named once: a transport that is neither
				// net/http's nor declared single-attempt is one the SDK cannot
				// see below, even when this time the guard stopped its resend.
				warns := strings.Count(logs.String(), `"msg":"deepvue: the send-once guard cannot see below this transport`)
				assert.Equal(t, 1, warns, "one Warn per Client: %s", logs.String())
				assert.Contains(t, logs.String(), `"level":"WARN"`)
				t.Logf("%s over HTTP/%d: requests at the server per call %v (%s): %v", tt.name, map[bool]int{false: 1, true: 2}[h2],
					perCall, tt.seen[h2], err)
			})
		}
	}
}

// TestUntracedTransportMarksEveryAnswer: through a transport with no trace
// events (httpmock, not declared), every error, whatever the final answer,
// says the request may have been sent more than once and matches
// ErrMaybeSentMoreThanOnce, and the state is OTPMaybeSent (issue 24 item
// 2: a transport that retried a 502 on its own returns the 409, 401 or 400
// that followed); the Warn is logged once per Client. Declared with
// WithSingleAttemptTransport, the same answers get production's states.
func TestUntracedTransportMarksEveryAnswer(t *testing.T) {
	answers := map[int]string{
		409: `{"sub_code":"VERIFICATION_PENDING","message":"x"}`,
		401: `{"detail":"Not authenticated"}`,
		400: `{"detail":"Bad Request"}`,
		429: `{"detail":"Rate limit exceeded. Please retry after some time."}`,
		502: `{"detail":"x"}`,
		503: `{"detail":"Source Unavailable"}`,
		0:   "",
	}
	for _, declared := range []bool{false, true} {
		logs := &logBuffer{}
		mt := httpmock.NewMockTransport()
		opts := []Option{WithHTTPClient(&http.Client{Transport: mt}), WithBaseURL(testBase), WithRetryWait(0, 0), WithLogger(logs.logger())}
		if declared {
			opts = append(opts, WithSingleAttemptTransport())
		}
		c, err := NewClient(testID, testSecret, opts...)
		require.NoError(t, err)
		for status, body := range answers {
			mt.Reset()
			if status == 0 {
				mt.RegisterResponder(http.MethodPost, genURL, func(*http.Request) (*http.Response, error) {
					return nil, errors.New("connection reset by peer")
				})
			} else {
				mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(status, body))
			}
			_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
			require.Error(t, err)
			assert.NotErrorIs(t, err, ErrNotSent)
			if !declared {
				assert.Contains(t, err.Error(), "may have been sent more than once", "HTTP %d", status)
				assert.ErrorIs(t, err, ErrMaybeSentMoreThanOnce, "HTTP %d", status)
				assert.Equal(t, OTPMaybeSent, OTPStateOf(err), "HTTP %d", status)
				continue
			}
			assert.NotErrorIs(t, err, ErrMaybeSentMoreThanOnce, "HTTP %d", status)
			var ae *APIError
			if status == 0 {
				assert.Equal(t, OTPMaybeSent, OTPStateOf(err), "no answer, no trace events: the SDK saw nothing")
			} else if assert.ErrorAs(t, err, &ae) {
				assert.Equal(t, apiOTPState(ae), OTPStateOf(err), "HTTP %d: the answer's own state", status)
			}
		}
		want := 1
		if declared {
			want = 0
		}
		assert.Equal(t, want, strings.Count(logs.String(), "the send-once guard cannot see below this transport"), "declared %v", declared)
	}
}

// ---- a nil or zero Client ----

func TestNilAndZeroClientReturnErrors(t *testing.T) {
	for name, c := range map[string]*Client{"nil": nil, "zero": {}} {
		t.Run(name, func(t *testing.T) {
			assert.NotPanics(t, func() {
				res, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
				assert.Nil(t, res)
				var ve *ValidationError
				require.ErrorAs(t, err, &ve)
				assert.Equal(t, "client", ve.Field)
				assert.ErrorIs(t, err, ErrNotSent)

				d, err := c.VerifyOTP(context.Background(), VerifyOTPRequest{ReferenceID: "1", OTP: testOTP, Consent: ConsentYes, Purpose: testPurpose})
				assert.Nil(t, d)
				require.ErrorAs(t, err, &ve)
				assert.ErrorIs(t, err, ErrNotSent)
				assert.Equal(t, OTPNotSent, OTPStateOf(err))

				c.CloseIdleConnections()
				for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
					assert.Contains(t, fmt.Sprintf(verb, c), "NewClient")
				}
				assert.Contains(t, c.String(), "NewClient")
				assert.Equal(t, slog.KindString, c.LogValue().Kind())
			})
		})
	}
}

func mustParseURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

// TestCancelCauseWrappingErrNotSentAfterWriting: net/http returns the
// context's cause; a caller that cancels with a cause wrapping ErrNotSent
// once the request reached the server must not get ErrNotSent.
func TestCancelCauseWrappingErrNotSentAfterWriting(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var reqs atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs.Add(1)
		cancel(fmt.Errorf("draining: %w", ErrNotSent))
		<-release
	}))
	defer srv.Close()
	defer close(release)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c, err := NewClient(testID, testSecret, WithBaseURL(srv.URL), WithHTTPClient(&http.Client{Transport: tr}))
	require.NoError(t, err)
	_, err = c.GenerateOTP(ctx, validNumber, ConsentYes, testPurpose)
	require.Error(t, err)
	assert.Equal(t, int32(1), reqs.Load())
	assert.NotErrorIs(t, err, ErrNotSent, "the server saw the request: %v", err)
	assert.Equal(t, OTPMaybeSent, OTPStateOf(err))
}
