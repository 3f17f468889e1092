package deepvue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Issue 24 item 2: below a transport the SDK did not build, "not sent"
// holds only where the SDK itself saw that nothing could have been written.
// A transport that is neither net/http's *http.Transport nor declared with
// WithSingleAttemptTransport may have sent the request whatever it returns.

// failover is a caller transport that tries a primary whose dial fails,
// then sends the request to a backup with a context of its own, and
// returns the backup's error joined to the primary's.
type failover struct{ primary, backup http.RoundTripper }

func (f failover) RoundTrip(r *http.Request) (*http.Response, error) {
	_, perr := f.primary.RoundTrip(r)
	resp, berr := f.backup.RoundTrip(r.Clone(context.Background()))
	if berr != nil {
		return nil, fmt.Errorf("failover: primary: %v; backup: %w", perr, berr)
	}
	return resp, nil
}

// answersItself is a caller transport that sends the request, then returns
// an *APIError of its own making instead of the answer.
type answersItself struct {
	rt  http.RoundTripper
	err *APIError
}

func (a answersItself) RoundTrip(r *http.Request) (*http.Response, error) {
	if resp, err := a.rt.RoundTrip(r); err == nil {
		resp.Body.Close()
	}
	return nil, a.err
}

// TestCallerTransportsNeverGiveAFalseNotSent: each of issue 24's caller
// transports puts the request at the server, and each call is "maybe sent"
// in every report: (a) a failover transport whose first dial fails and
// which then sends with its own context; (b) a transport that returns an
// *APIError of its own (documented 401, 429, 400 INVALID_INPUT), declared
// single-attempt or not; (c) a transport that retries a 502 on its own and
// returns the documented 401, 403 or 400 that followed, over HTTP/1.1 and
// HTTP/2. Before issue 24: 13 of 13 reported OTPNotSent (the declaration
// did not exist: 10 distinct cases).
// Controls: a declared header-adding wrapper of an *http.Transport gets
// production's states (a documented 401 is not sent; a refused connection
// matches ErrNotSent).
func TestCallerTransportsNeverGiveAFalseNotSent(t *testing.T) {
	cases, falseNotSent := 0, 0
	check := func(t *testing.T, name string, reqs int32, r callReports) {
		t.Helper()
		cases++
		if r.state == OTPNotSent || r.notSent {
			falseNotSent++
		}
		assert.Positive(t, reqs, "%s: the request reached the server", name)
		assert.False(t, r.notSent, "%s: %v", name, r.err)
		assert.Equal(t, OTPMaybeSent, r.state, "%s: %v", name, r.err)
		assert.Equal(t, ActionCheckSMS, r.next, name)
		r.assertAgree(t)
	}

	// (a) failover.
	var reqs atomic.Int32
	closer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs.Add(1)
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close() // the request was read: an SMS may be on its way
		}
	}))
	t.Cleanup(closer.Close)
	deadPrimary := &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("dial tcp 10.0.0.1:443: connect: connection refused")
	}}
	backup := &http.Transport{}
	t.Cleanup(backup.CloseIdleConnections)
	r := reportedCall(t, WithBaseURL(closer.URL), WithHTTPClient(&http.Client{Transport: failover{deadPrimary, backup}}))
	check(t, "failover", reqs.Load(), r)
	assert.Equal(t, int32(1), reqs.Load())

	// (b) an *APIError from inside a transport.
	var okReqs atomic.Int32
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		okReqs.Add(1)
		_, _ = io.WriteString(w, successOTP)
	}))
	t.Cleanup(ok.Close)
	plain := &http.Transport{}
	t.Cleanup(plain.CloseIdleConnections)
	for _, ae := range []*APIError{
		{StatusCode: 401, Detail: "Not authenticated", Operation: opGenerate},
		{StatusCode: 429, Detail: "Rate limit exceeded. Please retry after some time.", Operation: opGenerate},
		{StatusCode: 400, SubCode: SubCodeInvalidInput, Operation: opGenerate},
	} {
		for _, declared := range []bool{false, true} {
			before := okReqs.Load()
			opts := []Option{WithBaseURL(ok.URL), WithHTTPClient(&http.Client{Transport: answersItself{plain, ae}})}
			if declared {
				opts = append(opts, WithSingleAttemptTransport()) // declared or not, an error is never an answer
			}
			r := reportedCall(t, opts...)
			check(t, fmt.Sprintf("transport's own %d (declared %v)", ae.StatusCode, declared), okReqs.Load()-before, r)
			var got *APIError
			assert.False(t, errors.As(r.err, &got), "an *APIError from below is never handed out")
			assert.NotErrorIs(t, r.err, classify(ae.StatusCode, ae.SubCode, ae.Detail), "nor its sentinel")
		}
	}

	// (c) a transport that retries a 502 on its own with a context of its own.
	for _, h2 := range []bool{false, true} {
		for _, final := range []struct {
			status int
			body   string
		}{{401, `{"detail":"Not authenticated"}`}, {403, `{"detail":"Invalid client_id or client_secret, access Denied"}`}, {400, `{"detail":"Bad Request"}`}} {
			var n atomic.Int32
			srv, tr := newTLSServerH2(t, h2, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if n.Add(1) == 1 {
					w.WriteHeader(http.StatusBadGateway)
					return
				}
				w.WriteHeader(final.status)
				_, _ = io.WriteString(w, final.body)
			}))
			retrier := retrying5xx{tr, func(*http.Request) (context.Context, context.CancelFunc) { return context.Background(), func() {} }}
			r := reportedCall(t, WithBaseURL(srv.URL), WithHTTPClient(&http.Client{Transport: retrier}))
			check(t, fmt.Sprintf("retrier h2=%v 502 then %d", h2, final.status), n.Load(), r)
			assert.Equal(t, int32(2), n.Load(), "two requests at the server")
			assert.ErrorIs(t, r.err, ErrMaybeSentMoreThanOnce)
			var ae *APIError
			require.ErrorAs(t, r.err, &ae, "the last answer stays readable")
			assert.Equal(t, final.status, ae.StatusCode)
		}
	}
	t.Logf("caller-transport cases reported OTPNotSent: %d of %d", falseNotSent, cases)
	assert.Zero(t, falseNotSent)

	// Controls: a declared wrapper that keeps the request's context.
	wrap := func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			r = r.Clone(r.Context())
			r.Header.Set("X-Trace", "1")
			return rt.RoundTrip(r)
		})
	}
	unauth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(401)
		_, _ = io.WriteString(w, `{"detail":"Not authenticated"}`)
	}))
	t.Cleanup(unauth.Close)
	r = reportedCall(t, WithBaseURL(unauth.URL), WithHTTPClient(&http.Client{Transport: wrap(plain)}), WithSingleAttemptTransport())
	assert.Equal(t, OTPNotSent, r.state, "declared: the answer is the answer to the one request")
	assert.NotErrorIs(t, r.err, ErrMaybeSentMoreThanOnce)
	assert.Equal(t, ActionFixConfiguration, r.next)
	r.assertAgree(t)
	r = reportedCall(t, WithBaseURL(unauth.URL), WithHTTPClient(&http.Client{Transport: wrap(plain)}))
	assert.Equal(t, OTPMaybeSent, r.state, "undeclared: the same answer may follow a resend")
	assert.ErrorIs(t, r.err, ErrMaybeSentMoreThanOnce)
	r.assertAgree(t)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refused := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	r = reportedCall(t, WithBaseURL(refused), WithHTTPClient(&http.Client{Transport: wrap(plain)}), WithSingleAttemptTransport())
	assert.True(t, r.notSent, "declared, traced: a refused dial sent nothing: %v", r.err)
	r.assertAgree(t)
	r = reportedCall(t, WithBaseURL(refused), WithHTTPClient(&http.Client{Transport: wrap(plain)}))
	assert.False(t, r.notSent, "undeclared: the SDK cannot know what the wrapper did: %v", r.err)
	r.assertAgree(t)
	r = reportedCall(t, WithBaseURL(refused), WithHTTPClient(&http.Client{Transport: plain}))
	assert.True(t, r.notSent, "net/http's own transport, shared by the caller: %v", r.err)
	r.assertAgree(t)
}
