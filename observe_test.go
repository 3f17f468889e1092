package deepvue

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder is an Observer that keeps every event as text and value.
type recorder struct {
	mu       sync.Mutex
	events   []string
	attempts []AttemptResult
	infos    []AttemptInfo
	calls    []CallResult
	inject   http.Header
}

type ctxMark struct{}

func (r *recorder) observer() *Observer {
	return &Observer{
		StartCall: func(ctx context.Context, c CallInfo) context.Context {
			r.add(fmt.Sprintf("start %+v", c))
			return context.WithValue(ctx, ctxMark{}, "call")
		},
		StartAttempt: func(ctx context.Context, a AttemptInfo, h http.Header) context.Context {
			if ctx.Value(ctxMark{}) != "call" {
				panic("StartAttempt did not get the call's context")
			}
			for k, v := range r.inject {
				h[k] = v
			}
			r.add(fmt.Sprintf("attempt %+v", a))
			return context.WithValue(ctx, ctxMark{}, "attempt")
		},
		EndAttempt: func(ctx context.Context, a AttemptInfo, res AttemptResult) {
			if ctx.Value(ctxMark{}) != "attempt" {
				panic("EndAttempt did not get the attempt's context")
			}
			r.mu.Lock()
			r.attempts = append(r.attempts, res)
			r.infos = append(r.infos, a)
			r.mu.Unlock()
			r.add(fmt.Sprintf("end attempt %d %+v", a.Attempt, res))
		},
		EndCall: func(ctx context.Context, c CallInfo, res CallResult) {
			if ctx.Value(ctxMark{}) != "call" {
				panic("EndCall did not get the call's context")
			}
			r.mu.Lock()
			r.calls = append(r.calls, res)
			r.mu.Unlock()
			r.add(fmt.Sprintf("end call %+v", res))
		},
	}
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, s)
}

func (r *recorder) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, strings.Join(strings.Fields(e)[:1], ""))
	}
	return out
}

func TestObserverSeesCallsAndAttempts(t *testing.T) {
	rec := &recorder{inject: http.Header{"Traceparent": {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
		"X-Api-Key": {"stolen"}, "client-id": {"evil"}}}
	c, mt := mockClient(t, WithObserver(rec.observer()))
	var seen []http.Header
	mt.RegisterResponder(http.MethodPost, genURL, func(r *http.Request) (*http.Response, error) {
		seen = append(seen, r.Header.Clone())
		if len(seen) == 1 {
			return jsonResponder(500, sourceFailBd)(r)
		}
		return jsonResponder(200, successOTP)(r)
	})
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.NoError(t, err)

	assert.Equal(t, []string{"start", "attempt", "end", "attempt", "end", "end"}, rec.kinds())
	require.Len(t, rec.infos, 2)
	assert.Equal(t, 1, rec.infos[0].Attempt)
	assert.Equal(t, 2, rec.infos[1].Attempt)
	assert.Equal(t, "POST", rec.infos[0].Method)
	assert.Equal(t, CallInfo{Operation: "generate-otp", ServerAddress: "api.deepvue.test", ServerPort: 443}, rec.infos[0].CallInfo)
	assert.Equal(t, genURL+"?aadhaar_number=REDACTED&consent=REDACTED&purpose=REDACTED", rec.infos[0].URL)
	assert.Equal(t, AttemptResult{StatusCode: 500, SubCode: "SOURCE_FAILURE", TransactionID: "tx-source", Outcome: "ErrSourceFailure",
		MaybeSent: true, ResponseBytes: int64(len(sourceFailBd)), Duration: rec.attempts[0].Duration}, rec.attempts[0])
	assert.Equal(t, 200, rec.attempts[1].StatusCode)
	assert.Equal(t, "SUCCESS", rec.attempts[1].SubCode)
	assert.Equal(t, "12815fb81c084fb7a35eedc0ef1c5a84", rec.attempts[1].TransactionID)
	assert.Equal(t, "ok", rec.attempts[1].Outcome)
	assert.Equal(t, int64(len(successOTP)), rec.attempts[1].ResponseBytes)
	require.Len(t, rec.calls, 1)
	call := rec.calls[0]
	assert.Equal(t, "ok", call.Outcome)
	assert.Equal(t, 2, call.Attempts)
	assert.True(t, call.MaybeSent)
	assert.Greater(t, call.Duration, rec.attempts[1].Duration)

	for _, h := range seen {
		assert.Equal(t, rec.inject.Get("Traceparent"), h.Get("Traceparent"), "the observer's header reaches the server")
		assert.Equal(t, testSecret, h.Get("X-Api-Key"), "an observer cannot override the credentials")
		assert.Equal(t, testID, h.Get("Client-Id"))
	}
}

// TestObserverEveryOutcome drives every kind of outcome and checks what the
// observer is told, and that nothing it is told holds a sensitive value,
// from a server that echoes everything.
func TestObserverEveryOutcome(t *testing.T) {
	echo := func(status int, subCode string) func(r *http.Request) (*http.Response, error) {
		return func(r *http.Request) (*http.Response, error) {
			all := r.URL.String() + " " + r.Header.Get("x-api-key")
			body := fmt.Sprintf(`{"sub_code":%q,"message":%q,"transaction_id":%q,"reference_id":%q,"detail":%q}`,
				subCode, all, "tx "+all, all, all)
			if subCode == "SUCCESS" {
				body = fmt.Sprintf(`{"sub_code":"SUCCESS","message":%q,"transaction_id":%q,"reference_id":"29756208","data":{"name":%q}}`,
					all, "tx "+all, all)
			}
			return jsonResponder(status, body)(r)
		}
	}
	refusedURL := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		return "http://" + ln.Addr().String()
	}()
	tests := []struct {
		name      string
		opts      []Option
		responder func(r *http.Request) (*http.Response, error)
		call      func(c *Client) error
		outcome   string
		attempts  int
		maybeSent bool
	}{
		{"success", nil, echo(200, "SUCCESS"), nil, "ok", 1, true},
		{"pending", nil, echo(409, "VERIFICATION_PENDING"), nil, "ErrVerificationPending", 1, true},
		{"not linked", nil, echo(400, "AADHAAR_MOBILE_NOT_LINKED"), nil, "ErrMobileNotLinked", 1, true},
		{"invalid input", nil, echo(422, "INVALID_INPUT"), nil, "ErrInvalidInput", 1, true},
		{"source failure", nil, echo(500, "SOURCE_FAILURE"), nil, "ErrSourceFailure", 3, true},
		{"unauthorized", nil, echo(401, ""), nil, "ErrUnauthorized", 1, true},
		{"rate limited", nil, echo(429, ""), nil, "ErrRateLimited", 1, true},
		{"unavailable", nil, echo(503, ""), nil, "ErrServiceUnavailable", 1, true},
		{"undocumented", nil, echo(502, "BAD_GATEWAY"), nil, "http_502", 1, true},
		{"unusable 2xx", nil, echo(200, "FAILED"), nil, "ErrUnexpectedResponse", 1, true},
		{"transport error", nil, func(r *http.Request) (*http.Response, error) {
			return nil, errors.New("reset by " + r.URL.String())
		}, nil, "transport", 1, true},
		{"local validation", nil, nil, func(c *Client) error {
			_, err := c.GenerateOTP(context.Background(), "234123412347", ConsentYes, testPurpose)
			return err
		}, "ErrInvalidInput", 0, false},
		{"limiter refusal", []Option{WithRateLimiter(limiterFunc(func(context.Context) error { return errors.New("no " + testOTP) }))},
			nil, nil, "limiter", 0, false},
		{"refused connection", []Option{WithBaseURL(refusedURL), WithHTTPClient(&http.Client{Transport: &http.Transport{}})},
			nil, nil, "not_sent", 1, false},
	}
	for _, tt := range tests {
		for _, op := range []string{"generate", "verify"} {
			t.Run(tt.name+"/"+op, func(t *testing.T) {
				rec := &recorder{}
				c, mt := mockClient(t, append(tt.opts, WithObserver(rec.observer()))...)
				if tt.responder != nil {
					mt.RegisterResponder(http.MethodPost, genURL, tt.responder)
					mt.RegisterResponder(http.MethodPost, verURL, tt.responder)
				}
				call := tt.call
				if call == nil {
					call = func(c *Client) error {
						if op == "generate" {
							_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
							return err
						}
						req := validVerifyRequest()
						req.MobileNumber = testMobile
						_, err := c.VerifyOTP(context.Background(), req)
						return err
					}
				}
				err := call(c)
				require.Len(t, rec.calls, 1)
				res := rec.calls[0]
				assert.Equal(t, tt.outcome, res.Outcome, "%v", err)
				assert.Equal(t, Outcome(err), res.Outcome)
				assert.Equal(t, tt.attempts, res.Attempts)
				assert.Len(t, rec.attempts, tt.attempts)
				assert.Equal(t, tt.maybeSent, res.MaybeSent)
				assert.Equal(t, !tt.maybeSent, errors.Is(err, ErrNotSent))
				for _, e := range rec.events {
					for _, s := range append(sensitive, "aadhaar_number=2", "otp=4") {
						assert.NotContains(t, e, s, "observer event")
					}
				}
			})
		}
	}
}

func TestOutcomeNames(t *testing.T) {
	assert.Equal(t, "ok", Outcome(nil))
	assert.Equal(t, "ErrVerificationPending", Outcome(&APIError{StatusCode: 409, SubCode: "VERIFICATION_PENDING"}))
	assert.Equal(t, "http_418", Outcome(&APIError{StatusCode: 418}))
	assert.Equal(t, "ErrInvalidInput", Outcome(invalid("otp", "must be 6 digits")))
	assert.Equal(t, "nil_context", Outcome(errNilContext))
	assert.Equal(t, "timeout", Outcome(fmt.Errorf("x: %w", context.DeadlineExceeded)))
	assert.Equal(t, "canceled", Outcome(context.Canceled))
	assert.Equal(t, "ErrResendBlocked", Outcome(&transportError{err: errResendBlocked}))
	assert.Equal(t, "not_sent", Outcome(&transportError{err: errors.New("refused"), notSent: true}))
	assert.Equal(t, "transport", Outcome(errors.New("reset "+validNumber)), "never the error's text")
}

func TestNilObserverIsNoObserver(t *testing.T) {
	c, mt := mockClient(t, WithObserver(nil))
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(200, successOTP))
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	assert.NoError(t, err)
	assert.Nil(t, c.observer)
	c, mt = mockClient(t, WithObserver(&Observer{}))
	assert.Nil(t, c.observer, "an Observer with no function set is no Observer")
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(200, successOTP))
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	assert.NoError(t, err)
	//lint:ignore SA1012 a nil context is observed with Background, then refused
	_, err = c.GenerateOTP(nil, validNumber, ConsentYes, testPurpose) //nolint:staticcheck
	assert.Equal(t, errNilContext, err)
}

// TestAttemptURLOfEveryQueryForm: the redacted URL an Observer is given,
// made once per form of query and Client, is each call's own: for every
// form of verify-otp's query (with and without mobile_number and
// generate_pdf) and generate-otp's, in any order, every value REDACTED.
func TestAttemptURLOfEveryQueryForm(t *testing.T) {
	rec := &recorder{}
	c, mt := mockClient(t, WithObserver(rec.observer()))
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(200, successOTP))
	mt.RegisterResponder(http.MethodPost, verURL, jsonResponder(200, verifySuccessBody(`,"aadhaar_linked_mobile_match":"Yes"`)))
	base := verURL + "?otp=REDACTED&reference_id=REDACTED&consent=REDACTED&purpose=REDACTED"
	var want []string
	for round := 0; round < 2; round++ {
		for _, form := range []struct {
			mobile string
			pdf    bool
			query  string
		}{{"", true, "&generate_pdf=REDACTED"}, {testMobile, false, "&mobile_number=REDACTED"},
			{"", false, ""}, {testMobile, true, "&mobile_number=REDACTED&generate_pdf=REDACTED"}} {
			req := validVerifyRequest()
			req.MobileNumber, req.GeneratePDF = form.mobile, form.pdf
			req.Purpose += fmt.Sprint(" ", round) // its own call
			_, err := c.VerifyOTP(context.Background(), req)
			require.NoError(t, err)
			want = append(want, base+form.query)
		}
		_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
		require.NoError(t, err)
		want = append(want, genURL+"?aadhaar_number=REDACTED&consent=REDACTED&purpose=REDACTED")
	}
	var got []string
	for _, a := range rec.infos {
		got = append(got, a.URL)
	}
	assert.Equal(t, want, got)
}

// TestObserverHeaderMapIsReusedEmpty: StartAttempt's header map is reused
// from call to call, always empty when handed over: a header one attempt
// sets reaches that attempt's request only, even after a panic in
// StartAttempt (it reaches the caller) left the map half written.
func TestObserverHeaderMapIsReusedEmpty(t *testing.T) {
	var n atomic.Int32
	obs := &Observer{StartAttempt: func(ctx context.Context, _ AttemptInfo, h http.Header) context.Context {
		assert.Empty(t, h, "the map handed to StartAttempt is empty")
		switch n.Add(1) {
		case 1:
			h.Set("X-Only-First", "1")
		case 2:
			h.Set("X-Half-Written", "1")
			panic("observer bug")
		}
		return ctx
	}}
	c, mt := mockClient(t, WithObserver(obs))
	var seen []http.Header
	mt.RegisterResponder(http.MethodPost, genURL, func(r *http.Request) (*http.Response, error) {
		seen = append(seen, r.Header.Clone())
		return httpmock.NewStringResponse(200, successOTP), nil
	})
	for i := 0; i < 3; i++ {
		func() {
			defer func() { _ = recover() }()
			_, _ = c.GenerateOTP(context.Background(), benchNumbers[i], ConsentYes, testPurpose)
		}()
	}
	require.Len(t, seen, 2, "the call whose StartAttempt panicked sends nothing")
	require.NotEmpty(t, seen)
	assert.Equal(t, "1", seen[0].Get("X-Only-First"))
	for _, h := range seen[1:] {
		assert.Empty(t, h.Get("X-Only-First"), "a header of an earlier attempt")
		assert.Empty(t, h.Get("X-Half-Written"), "a header of a StartAttempt that panicked")
	}
}
