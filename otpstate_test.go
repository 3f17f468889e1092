package deepvue_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvuetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const statePurpose = "KYC for loan account opening"

type stateLimiter func(ctx context.Context) error

func (f stateLimiter) Wait(ctx context.Context) error { return f(ctx) }

func stateEnvelope(status int, subCode, message string) string {
	return fmt.Sprintf(`{"code":%d,"timestamp":1738332826135,"transaction_id":"t%d","sub_code":%q,"message":%q}`,
		status, status, subCode, message)
}

// TestOTPStateOfEveryGenerateOutcome drives every kind of GenerateOTP
// outcome through real sockets (the fake, its Script, or a raw httptest
// server) and checks the one state each falls in.
func TestOTPStateOfEveryGenerateOutcome(t *testing.T) {
	scripted := func(a deepvuetest.Answer) func(*deepvuetest.Server) {
		return func(s *deepvuetest.Server) { s.Script(deepvuetest.PathGenerateOTP, a) }
	}
	tests := []struct {
		name   string
		number string
		script func(*deepvuetest.Server)
		opts   []deepvue.Option
		ctx    time.Duration // a deadline for the call, when set
		want   deepvue.OTPState
	}{
		{name: "success", want: deepvue.OTPSent},

		// Documented answers.
		{name: "400 INVALID_INPUT invalid UID", number: deepvuetest.NumberInvalidUID, want: deepvue.OTPNotSent},
		{name: "422 INVALID_INPUT pattern", script: scripted(deepvuetest.Answer{Status: 422,
			Body: stateEnvelope(422, "INVALID_INPUT", "Invalid Aadhaar Number Pattern.")}), want: deepvue.OTPNotSent},
		{name: "400 AADHAAR_MOBILE_NOT_LINKED", number: deepvuetest.NumberNotLinked, want: deepvue.OTPNotSent},
		{name: "500 SOURCE_FAILURE after retries", number: deepvuetest.NumberSourceFailure, want: deepvue.OTPNotSent},
		{name: "409 VERIFICATION_PENDING", script: func(s *deepvuetest.Server) {
			s.Script(deepvuetest.PathGenerateOTP, deepvuetest.Answer{Status: 409,
				Body: `{"code":409,"sub_code":"VERIFICATION_PENDING","message":"Otp already generated for this aadhaar, please try after some time.","reference_id":""}`})
		}, want: deepvue.OTPPending},
		{name: "409 VERIFICATION_PENDING by the fake's window", script: func(s *deepvuetest.Server) {
			s.Script(deepvuetest.PathGenerateOTP, deepvuetest.Answer{}) // a plain pass: normal behaviour
		}, number: "pending", want: deepvue.OTPPending},

		// Platform answers.
		{name: "429", script: scripted(deepvuetest.RateLimited), want: deepvue.OTPNotSent},
		{name: "503", script: scripted(deepvuetest.Unavailable), want: deepvue.OTPNotSent},
		{name: "401 wrong credentials", script: scripted(deepvuetest.Unauthorized), want: deepvue.OTPNotSent},
		{name: "401 not authenticated", script: scripted(deepvuetest.NotAuthenticated), want: deepvue.OTPNotSent},
		{name: "403 wrong credentials", script: scripted(deepvuetest.Answer{Status: 403,
			Body: `{"detail":"Invalid client_id or client_secret, access Denied"}`}), want: deepvue.OTPNotSent},
		{name: "403 not authenticated", script: scripted(deepvuetest.Answer{Status: 403, Body: `{"detail":"Not authenticated"}`}),
			want: deepvue.OTPNotSent},
		// The IP refusal's body is not documented: it cannot be told from a
		// proxy's 403 after it forwarded the request (issue 24 item 1).
		{name: "403 IP not allow-listed", script: scripted(deepvuetest.Answer{Status: 403, Body: `{"detail":"Forbidden"}`}),
			want: deepvue.OTPMaybeSent},
		{name: "400 Bad Request", script: scripted(deepvuetest.BadRequest), want: deepvue.OTPNotSent},
		{name: "400 Inactive client_id", script: scripted(deepvuetest.InactiveClient), want: deepvue.OTPNotSent},
		{name: "422 string detail", script: scripted(deepvuetest.Answer{Status: 422, Body: `{"detail":"Invalid Pan pattern"}`}),
			want: deepvue.OTPNotSent},
		{name: "422 validation list", script: scripted(deepvuetest.Answer{Status: 422,
			Body: `{"detail":[{"loc":["query","purpose"],"msg":"field required","type":"value_error.missing"}]}`}),
			want: deepvue.OTPNotSent},

		// Refused before sending.
		{name: "validation", number: "234123412347", want: deepvue.OTPNotSent},
		{name: "limiter refusal", opts: []deepvue.Option{deepvue.WithRateLimiter(stateLimiter(func(context.Context) error {
			return errors.New("fleet limit reached")
		}))}, want: deepvue.OTPNotSent},
		{name: "limiter wait past the deadline", ctx: 20 * time.Millisecond, opts: []deepvue.Option{deepvue.WithRateLimiter(
			stateLimiter(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }))}, want: deepvue.OTPNotSent},

		// Answers nobody documents, and a deadline with no answer: maybe sent.
		{name: "502 gateway HTML", script: scripted(deepvuetest.Answer{Status: 502,
			Body: "<html><body><h1>502 Bad Gateway</h1></body></html>"}), want: deepvue.OTPMaybeSent},
		{name: "500 not SOURCE_FAILURE", script: scripted(deepvuetest.Answer{Status: 500, Body: `{"detail":"Internal Server Error"}`}),
			want: deepvue.OTPMaybeSent},
		{name: "200 that cannot be decoded", script: scripted(deepvuetest.Answer{Status: 200, Body: `{"code":200,"sub_code":"SUCC`}),
			want: deepvue.OTPMaybeSent},
		{name: "200 with an odd sub_code", script: scripted(deepvuetest.Answer{Status: 200,
			Body: `{"code":200,"sub_code":"OTP_QUEUED","message":"queued","reference_id":"29756208"}`}), want: deepvue.OTPMaybeSent},
		{name: "200 INVALID_INPUT (documented sub_code, undocumented status)", script: scripted(deepvuetest.Answer{Status: 200,
			Body: stateEnvelope(200, "INVALID_INPUT", "x")}), want: deepvue.OTPMaybeSent},
		{name: "200 without reference_id", script: scripted(deepvuetest.Answer{Status: 200, Body: stateEnvelope(200, "SUCCESS", "sent")}),
			want: deepvue.OTPMaybeSent},
		{name: "409 without sub_code", script: scripted(deepvuetest.Answer{Status: 409, Body: `{"detail":"Conflict"}`}),
			want: deepvue.OTPMaybeSent},
		{name: "502 SOURCE_FAILURE (undocumented status)", script: scripted(deepvuetest.Answer{Status: 502,
			Body: stateEnvelope(502, "SOURCE_FAILURE", "x")}), want: deepvue.OTPMaybeSent},
		{name: "400 undocumented sub_code", script: scripted(deepvuetest.Answer{Status: 400, Body: stateEnvelope(400, "OTP_LIMIT", "x")}),
			want: deepvue.OTPMaybeSent},
		{name: "deadline with no answer", ctx: 100 * time.Millisecond,
			script: scripted(deepvuetest.Answer{Delay: time.Minute}), want: deepvue.OTPMaybeSent},
	}
	// What NextStep advises for each outcome (issue 25: every outcome of
	// OTPStateOf's table has a test).
	steps := map[string]deepvue.Action{
		"success": deepvue.ActionDone, "400 INVALID_INPUT invalid UID": deepvue.ActionFixInput,
		"422 INVALID_INPUT pattern": deepvue.ActionFixInput, "400 AADHAAR_MOBILE_NOT_LINKED": deepvue.ActionNoMobileLinked,
		"500 SOURCE_FAILURE after retries": deepvue.ActionTryAgain, "409 VERIFICATION_PENDING": deepvue.ActionEnterOTP,
		"409 VERIFICATION_PENDING by the fake's window": deepvue.ActionEnterOTP,
		"429": deepvue.ActionTryAgain, "503": deepvue.ActionTryAgain,
		"401 wrong credentials": deepvue.ActionFixConfiguration, "401 not authenticated": deepvue.ActionFixConfiguration,
		"403 wrong credentials": deepvue.ActionFixConfiguration, "403 not authenticated": deepvue.ActionFixConfiguration,
		"403 IP not allow-listed": deepvue.ActionCheckSMS, "400 Bad Request": deepvue.ActionFixInput,
		"400 Inactive client_id": deepvue.ActionFixConfiguration, "422 string detail": deepvue.ActionFixInput,
		"422 validation list": deepvue.ActionFixConfiguration, "validation": deepvue.ActionFixInput,
		"limiter refusal": deepvue.ActionTryAgain, "limiter wait past the deadline": deepvue.ActionTryAgain,
	}
	for _, tt := range tests {
		want, ok := steps[tt.name]
		if !ok && tt.want == deepvue.OTPMaybeSent {
			want, ok = deepvue.ActionCheckSMS, true
		}
		require.True(t, ok, "%s: no expected NextStep", tt.name)
		t.Run(tt.name, func(t *testing.T) {
			clock := deepvuetest.NewClock(time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC))
			srv := deepvuetest.NewServer(deepvuetest.WithClock(clock.Now))
			t.Cleanup(srv.Close)
			c, err := deepvue.NewClient(srv.ClientID, srv.ClientSecret, append([]deepvue.Option{deepvue.WithBaseURL(srv.URL),
				deepvue.WithRetryWait(time.Millisecond, 2*time.Millisecond)}, tt.opts...)...)
			require.NoError(t, err)
			number := tt.number
			if number == "pending" {
				_, err := c.GenerateOTP(context.Background(), deepvuetest.NumberSuccess, deepvue.ConsentYes, statePurpose)
				require.NoError(t, err)
				number = ""
			}
			if number == "" {
				number = deepvuetest.NumberSuccess
			}
			if tt.script != nil {
				tt.script(srv)
			}
			ctx := context.Background()
			if tt.ctx > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctx)
				defer cancel()
			}
			_, err = c.GenerateOTP(ctx, number, deepvue.ConsentYes, statePurpose)
			assert.Equal(t, tt.want.String(), deepvue.OTPStateOf(err).String(), "%v", err)
			assert.Equal(t, want.String(), deepvue.NextStep(err).Action.String(), "%v", err)
		})
	}
}

// TestOTPStateOfTransportFailures: a refused connection is not sent; a
// connection the server closes after reading the request may have sent one.
func TestOTPStateOfTransportFailures(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refused := "http://" + l.Addr().String()
	require.NoError(t, l.Close())
	c, err := deepvue.NewClient("id", "free_tier_secret", deepvue.WithBaseURL(refused))
	require.NoError(t, err)
	_, err = c.GenerateOTP(context.Background(), deepvuetest.NumberSuccess, deepvue.ConsentYes, statePurpose)
	require.Error(t, err)
	assert.Equal(t, deepvue.OTPNotSent, deepvue.OTPStateOf(err), "%v", err)

	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close() // the request was read: Deepvue may have acted on it
		}
	}))
	t.Cleanup(hang.Close)
	c, err = deepvue.NewClient("id", "free_tier_secret", deepvue.WithBaseURL(hang.URL))
	require.NoError(t, err)
	_, err = c.GenerateOTP(context.Background(), deepvuetest.NumberSuccess, deepvue.ConsentYes, statePurpose)
	require.Error(t, err)
	assert.Equal(t, deepvue.OTPMaybeSent, deepvue.OTPStateOf(err), "%v", err)
}

// TestOTPStateOfHandBuilt: an *APIError built by hand is classified from
// its public fields, as one the SDK returns.
func TestOTPStateOfHandBuilt(t *testing.T) {
	tests := []struct {
		err  error
		want deepvue.OTPState
	}{
		{nil, deepvue.OTPSent},
		{&deepvue.APIError{StatusCode: 409, SubCode: "VERIFICATION_PENDING"}, deepvue.OTPPending},
		{fmt.Errorf("onboarding: %w", &deepvue.APIError{StatusCode: 409, SubCode: "verification_pending"}), deepvue.OTPPending},
		{&deepvue.APIError{StatusCode: 400, SubCode: "AADHAAR_MOBILE_NOT_LINKED"}, deepvue.OTPNotSent},
		{&deepvue.APIError{StatusCode: 400, SubCode: "INVALID_INPUT"}, deepvue.OTPNotSent},
		{&deepvue.APIError{StatusCode: 422, SubCode: "INVALID_INPUT"}, deepvue.OTPNotSent},
		{&deepvue.APIError{StatusCode: 500, SubCode: "SOURCE_FAILURE"}, deepvue.OTPNotSent},
		{&deepvue.APIError{StatusCode: 401, Detail: "Not authenticated"}, deepvue.OTPNotSent},
		{&deepvue.APIError{StatusCode: 403, Detail: "Invalid client_id or client_secret, access Denied"}, deepvue.OTPNotSent},
		{&deepvue.APIError{StatusCode: 429, Detail: " rate limit exceeded. please retry after some time. "}, deepvue.OTPNotSent},
		// Not Deepvue's bodies: a proxy's page, an empty body or a gateway's
		// JSON may come after the proxy forwarded the request.
		{&deepvue.APIError{StatusCode: 401}, deepvue.OTPMaybeSent},
		{&deepvue.APIError{StatusCode: 403}, deepvue.OTPMaybeSent},
		{&deepvue.APIError{StatusCode: 429}, deepvue.OTPMaybeSent},
		{&deepvue.APIError{StatusCode: 401, Message: "answer is not a valid JSON object (text/html, 150 bytes)"}, deepvue.OTPMaybeSent},
		{&deepvue.APIError{StatusCode: 429, Detail: "Too Many Requests"}, deepvue.OTPMaybeSent},
		{&deepvue.APIError{StatusCode: 503, Detail: "Source Unavailable"}, deepvue.OTPNotSent},
		// A 503 that is not Deepvue's may be a proxy's after it forwarded the
		// request (Envoy: "upstream connect error or disconnect/reset before
		// headers").
		{&deepvue.APIError{StatusCode: 503}, deepvue.OTPMaybeSent},
		{&deepvue.APIError{StatusCode: 503, Message: "answer is not a valid JSON object (text/plain, 95 bytes)"}, deepvue.OTPMaybeSent},
		// A typed nil is no answer at all: the conservative state, no panic.
		{(*deepvue.APIError)(nil), deepvue.OTPMaybeSent},
		{fmt.Errorf("wrapped: %w", (*deepvue.APIError)(nil)), deepvue.OTPMaybeSent},
		{&deepvue.APIError{StatusCode: 400, Detail: "Bad Request"}, deepvue.OTPNotSent},
		{&deepvue.APIError{StatusCode: 400, Detail: "Inactive client_id"}, deepvue.OTPNotSent},
		{&deepvue.APIError{StatusCode: 422, Detail: "query.purpose: field required"}, deepvue.OTPNotSent},
		{&deepvue.APIError{StatusCode: 400}, deepvue.OTPMaybeSent},
		{&deepvue.APIError{StatusCode: 409}, deepvue.OTPMaybeSent},
		{&deepvue.APIError{StatusCode: 500}, deepvue.OTPMaybeSent},
		{&deepvue.APIError{StatusCode: 502}, deepvue.OTPMaybeSent},
		{&deepvue.APIError{StatusCode: 502, SubCode: "SOURCE_FAILURE"}, deepvue.OTPMaybeSent},
		{&deepvue.APIError{StatusCode: 400, SubCode: "VERIFICATION_PENDING"}, deepvue.OTPMaybeSent},
		{&deepvue.APIError{StatusCode: 404, SubCode: "INVALID_INPUT"}, deepvue.OTPMaybeSent},
		{&deepvue.APIError{StatusCode: 200, SubCode: "FAILED"}, deepvue.OTPMaybeSent},
		{&deepvue.APIError{StatusCode: 200, SubCode: "VERIFICATION_PENDING"}, deepvue.OTPMaybeSent},
		{&deepvue.ValidationError{Field: "aadhaar_number", Reason: "x"}, deepvue.OTPNotSent},
		{fmt.Errorf("x: %w", deepvue.ErrNotSent), deepvue.OTPNotSent},
		{context.DeadlineExceeded, deepvue.OTPMaybeSent},
		{errors.New("connection reset"), deepvue.OTPMaybeSent},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, deepvue.OTPStateOf(tt.err), "%#v", tt.err)
	}
}

func TestOTPStateString(t *testing.T) {
	assert.Equal(t, "maybe_sent", deepvue.OTPMaybeSent.String())
	assert.Equal(t, "not_sent", deepvue.OTPNotSent.String())
	assert.Equal(t, "sent", deepvue.OTPSent.String())
	assert.Equal(t, "pending", deepvue.OTPPending.String())
	assert.Equal(t, "OTPState(invalid)", deepvue.OTPState(9).String())
	var zero deepvue.OTPState
	assert.Equal(t, deepvue.OTPMaybeSent, zero, "the zero value is the conservative answer")
}
