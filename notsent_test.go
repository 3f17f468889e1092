package deepvue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ---- ErrNotSent is the SDK's decision alone ----

// waitFunc is a Limiter made of a function.
type waitFunc func(ctx context.Context) error

func (f waitFunc) Wait(ctx context.Context) error { return f(ctx) }

// errRedisDown is what a fail-closed distributed limiter returns when its
// store dies: it says, rightly from its own point of view, that its refusal
// sent nothing.
var errRedisDown = fmt.Errorf("redislimit: redis unreachable: %w", ErrNotSent)

// sentRecorder is an Observer that keeps every AttemptResult and CallResult.
type sentRecorder struct {
	mu       sync.Mutex
	attempts []AttemptResult
	calls    []CallResult
}

func (r *sentRecorder) observer() *Observer {
	return &Observer{
		EndAttempt: func(_ context.Context, _ AttemptInfo, res AttemptResult) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.attempts = append(r.attempts, res)
		},
		EndCall: func(_ context.Context, _ CallInfo, res CallResult) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.calls = append(r.calls, res)
		},
	}
}

// debugNotSent returns the negation of the request_maybe_sent field of the
// last "call finished" Debug record (false when the record has none, as
// for a success).
func debugNotSent(t *testing.T, logs *logBuffer) bool {
	t.Helper()
	var notSent *bool
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec struct {
			Msg       string `json:"msg"`
			MaybeSent *bool  `json:"request_maybe_sent"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		if rec.Msg == "deepvue: call finished" {
			notSent = new(bool)
			if rec.MaybeSent != nil {
				*notSent = !*rec.MaybeSent
			}
		}
	}
	require.NotNil(t, notSent, "a call finished record")
	return *notSent
}

// afterWriting is a caller transport that sends the request, then returns
// an error that wraps ErrNotSent (a buggy or over-confident middleware).
type afterWriting struct{ rt http.RoundTripper }

func (a afterWriting) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, _ := a.rt.RoundTrip(r)
	if resp != nil {
		resp.Body.Close()
	}
	return nil, fmt.Errorf("middleware: circuit open: %w", ErrNotSent)
}

// TestErrNotSentIsTheSDKsDecision covers issue 14's second case and the
// agreement of every report: whatever an inner error wraps, a call one of
// whose attempts may have been sent never matches ErrNotSent; and
// errors.Is, the Observer's MaybeSent (call and attempts) and the Debug
// record's request_maybe_sent agree in every case.
func TestErrNotSentIsTheSDKsDecision(t *testing.T) {
	type scenario struct {
		name        string
		handler     http.HandlerFunc // nil: a closed port
		opts        func(rt http.RoundTripper) []Option
		wantReqs    int32
		wantNotSent bool
	}
	sourceFailure := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(500)
		_, _ = io.WriteString(w, sourceFailBd)
	}
	ok := func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, successOTP) }
	scenarios := []scenario{
		{
			name:    "500 SOURCE_FAILURE, then the limiter refuses the retry with an error wrapping ErrNotSent",
			handler: sourceFailure,
			opts: func(http.RoundTripper) []Option {
				var n atomic.Int32
				return []Option{WithRateLimiter(waitFunc(func(context.Context) error {
					if n.Add(1) == 1 {
						return nil
					}
					return errRedisDown
				}))}
			},
			wantReqs: 1, wantNotSent: false,
		},
		{
			name:    "the limiter refuses the first attempt",
			handler: ok,
			opts: func(http.RoundTripper) []Option {
				return []Option{WithRateLimiter(waitFunc(func(context.Context) error { return errRedisDown }))}
			},
			wantReqs: 0, wantNotSent: true,
		},
		{
			name:    "a transport returns an error wrapping ErrNotSent after writing",
			handler: ok,
			opts: func(rt http.RoundTripper) []Option {
				return []Option{WithHTTPClient(&http.Client{Transport: afterWriting{rt}})}
			},
			wantReqs: 1, wantNotSent: false,
		},
		{
			name:    "a transport with no trace events returns an error wrapping ErrNotSent",
			handler: ok,
			opts: func(http.RoundTripper) []Option {
				return []Option{WithHTTPClient(&http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
					return nil, fmt.Errorf("proxy: %w", ErrNotSent)
				})})}
			},
			wantReqs: 0, wantNotSent: false, // the SDK cannot know: possibly sent
		},
		{
			name:     "connection refused",
			opts:     func(http.RoundTripper) []Option { return nil },
			wantReqs: 0, wantNotSent: true,
		},
		{
			name:     "success",
			handler:  ok,
			opts:     func(http.RoundTripper) []Option { return nil },
			wantReqs: 1, wantNotSent: false,
		},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			var reqs atomic.Int32
			base := ""
			if sc.handler != nil {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					reqs.Add(1)
					sc.handler(w, r)
				}))
				defer srv.Close()
				base = srv.URL
			} else {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				require.NoError(t, err)
				base = "http://" + ln.Addr().String()
				ln.Close()
			}
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			rec := &sentRecorder{}
			logs := &logBuffer{}
			opts := append([]Option{WithBaseURL(base), WithRetryWait(0, 0), WithObserver(rec.observer()),
				WithLogger(logs.logger()), WithHTTPClient(&http.Client{Transport: tr})}, sc.opts(tr)...)
			c, err := NewClient(testID, testSecret, opts...)
			require.NoError(t, err)
			_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
			if sc.name == "success" {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
			assert.Equal(t, sc.wantReqs, reqs.Load(), "requests the server saw")
			notSent := errors.Is(err, ErrNotSent)
			assert.Equal(t, sc.wantNotSent, notSent, "errors.Is(err, ErrNotSent): %v", err)
			assert.Equal(t, notSent, OTPStateOf(err) == OTPNotSent && err != nil && !errors.As(err, new(*APIError)),
				"OTPStateOf agrees")
			if reqs.Load() > 0 {
				assert.False(t, notSent, "the server saw a request")
			}

			require.Len(t, rec.calls, 1)
			assert.Equal(t, !notSent, rec.calls[0].MaybeSent, "CallResult.MaybeSent")
			anyAttempt := false
			for _, a := range rec.attempts {
				anyAttempt = anyAttempt || a.MaybeSent
			}
			assert.Equal(t, !notSent, anyAttempt, "some AttemptResult.MaybeSent exactly when the call may have been sent: %+v", rec.attempts)
			if err != nil {
				assert.Equal(t, notSent, debugNotSent(t, logs), "the Debug record's request_maybe_sent")
			}
			assertNoLeak(t, err)
		})
	}
}

// roundTripFunc is a RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestSafeErrorNeverAnswersErrNotSent: only transportError.notSent
// decides; an inner error wrapping ErrNotSent does not pass through.
func TestSafeErrorNeverAnswersErrNotSent(t *testing.T) {
	sec := &secrets{}
	inner := fmt.Errorf("limiter: %w (%w)", ErrNotSent, context.DeadlineExceeded)
	assert.NotErrorIs(t, newSafeError(inner, sec), ErrNotSent)
	assert.ErrorIs(t, newSafeError(inner, sec), context.DeadlineExceeded, "other matches still pass through")
	u := mustParseURL(t, genURL)
	assert.NotErrorIs(t, newTransportError(opGenerate, u, "sending the request", inner, false, sec), ErrNotSent)
	assert.ErrorIs(t, newTransportError(opGenerate, u, "waiting for the rate limiter", inner, true, sec), ErrNotSent)
}

// ---- ErrResendBlocked ----

func TestErrResendBlockedIsExported(t *testing.T) {
	for _, e := range []error{errResendBlocked, errResendNotStopped} {
		te := newTransportError(opGenerate, mustParseURL(t, genURL), "sending the request", e, false, &secrets{})
		assert.ErrorIs(t, te, ErrResendBlocked)
		assert.NotErrorIs(t, te, ErrNotSent)
		assert.Equal(t, "ErrResendBlocked", Outcome(te))
		assert.Equal(t, OTPMaybeSent, OTPStateOf(te))
	}
	assert.NotErrorIs(t, context.DeadlineExceeded, ErrResendBlocked)
}

// ---- transports that resend below the SDK ----
