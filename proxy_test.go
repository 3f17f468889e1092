package deepvue

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Issue 24 item 1: a 401, 403 or 429 means "no OTP went out" only with the
// body Deepvue documents. A middlebox that forwards the request (the OTP
// goes out) and then answers one of those statuses itself, with its own
// page, an empty body or its own JSON, leaves the phone "maybe sent"; and
// every report of the call (errors.Is, OTPStateOf, the audit record, the
// Observer, the Debug record, NextStep) says the same.

// callReports is what every report of one GenerateOTP says.
type callReports struct {
	err        error
	notSent    bool     // errors.Is(err, ErrNotSent)
	state      OTPState // OTPStateOf(err)
	audit      OTPState // the outcome audit record's
	obsMaybe   bool     // CallResult.MaybeSent
	obsState   OTPState // CallResult.OTPState
	debugMaybe bool     // the Debug record's request_maybe_sent
	debugState string   // the Debug record's otp_state
	next       Action   // NextStep(err).Action
}

// reportedCall makes one GenerateOTP with an Observer, an audit log and a
// Debug logger, and returns what each of them says.
func reportedCall(t *testing.T, opts ...Option) callReports {
	t.Helper()
	rec := &sentRecorder{}
	sink := &auditSink{}
	logs := &logBuffer{}
	c, err := NewClient(testID, testSecret, append([]Option{WithRetryWait(0, 0), WithObserver(rec.observer()),
		WithAuditLog(sink.fn), WithLogger(logs.logger())}, opts...)...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = c.GenerateOTP(ctx, validNumber, ConsentYes, testPurpose)
	require.Error(t, err)
	assertNoLeak(t, err)
	r := callReports{err: err, notSent: errors.Is(err, ErrNotSent), state: OTPStateOf(err), next: NextStep(err).Action}
	recs := sink.records()
	require.Len(t, recs, 2, "consent and outcome records")
	r.audit = recs[1].OTPState
	require.Len(t, rec.calls, 1)
	r.obsMaybe, r.obsState = rec.calls[0].MaybeSent, rec.calls[0].OTPState
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var d struct {
			Msg      string `json:"msg"`
			Maybe    bool   `json:"request_maybe_sent"`
			OTPState string `json:"otp_state"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &d), line)
		if d.Msg == "deepvue: call finished" {
			r.debugMaybe, r.debugState = d.Maybe, d.OTPState
		}
	}
	require.NotEmpty(t, r.debugState, "the Debug record: %s", logs.String())
	return r
}

// assertAgree checks that every report of the call says the same: the
// state (OTPStateOf, audit, Observer, Debug), whether the request may have
// been sent (errors.Is, Observer, Debug), and NextStep's action for that
// state.
func (r callReports) assertAgree(t *testing.T) {
	t.Helper()
	assert.Equal(t, r.state, r.audit, "the audit record's OTPState")
	assert.Equal(t, r.state, r.obsState, "CallResult.OTPState")
	assert.Equal(t, r.state.String(), r.debugState, "the Debug record's otp_state")
	assert.Equal(t, !r.notSent, r.obsMaybe, "CallResult.MaybeSent")
	assert.Equal(t, !r.notSent, r.debugMaybe, "the Debug record's request_maybe_sent")
	if r.notSent {
		assert.Equal(t, OTPNotSent, r.state, "ErrNotSent: no OTP")
	}
	if r.state == OTPMaybeSent {
		assert.Equal(t, ActionCheckSMS, r.next, "NextStep never invites a second SMS")
	}
}

// proxyAnswers are what a middlebox (an nginx auth_request, an API
// gateway, a WAF) answers after it forwarded the request.
var proxyAnswers = []struct {
	name, ctype, body string
}{
	{"HTML page", "text/html", "<html><head><title>%d</title></head><body><center><h1>%d</h1></center><hr><center>nginx</center></body></html>"},
	{"empty body", "", ""},
	{"gateway JSON", "application/json", `{"message":"%d from the gateway"}`},
}

// deepvueBodies are Deepvue's documented bodies for the same statuses:
// these, and only these, leave OTPNotSent.
var deepvueBodies = map[int]string{
	401: `{"detail":"Invalid client_id or client_secret, access Denied"}`,
	403: `{"detail":"Not authenticated"}`,
	429: `{"detail":"Rate limit exceeded. Please retry after some time."}`,
}

// TestProxyAnswersAreMaybeSent: over HTTP/1.1 and HTTP/2 (TLS), a
// middlebox forwards each GenerateOTP to the origin (which counts it: an
// SMS) and answers 401, 403 or 429 with its own page, an empty body or its
// own JSON: 18 cases, each "maybe sent" in every report (before issue 24:
// 18 of 18 OTPNotSent, with the Observer and errors.Is saying sent). Deepvue's
// own bodies through the same middlebox stay OTPNotSent.
func TestProxyAnswersAreMaybeSent(t *testing.T) {
	var sms atomic.Int32
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sms.Add(1)
		_, _ = io.WriteString(w, successOTP)
	}))
	t.Cleanup(origin.Close)
	type answer struct {
		status      int
		ctype, body string
	}
	var current atomic.Pointer[answer]
	middlebox := func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Post(origin.URL+r.URL.RequestURI(), "application/json", nil) // forwarded: the OTP goes out
		if err == nil {
			resp.Body.Close()
		}
		a := current.Load()
		if a.ctype != "" {
			w.Header().Set("Content-Type", a.ctype)
		}
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}
	proxyCases, notSent := 0, 0
	for _, h2 := range []bool{false, true} {
		srv, tr := newTLSServerH2(t, h2, http.HandlerFunc(middlebox))
		for _, status := range []int{401, 403, 429} {
			for _, pa := range proxyAnswers {
				body := pa.body
				if strings.Contains(body, "%d") {
					body = strings.ReplaceAll(body, "%d", http.StatusText(status))
				}
				current.Store(&answer{status, pa.ctype, body})
				before := sms.Load()
				r := reportedCall(t, WithBaseURL(srv.URL), WithHTTPClient(&http.Client{Transport: tr}))
				require.Equal(t, before+1, sms.Load(), "the middlebox forwarded the request")
				proxyCases++
				if r.state == OTPNotSent || r.notSent {
					notSent++
				}
				assert.Equal(t, OTPMaybeSent, r.state, "h2=%v %d %s: %v", h2, status, pa.name, r.err)
				assert.False(t, r.notSent)
				r.assertAgree(t)
				var ae *APIError
				require.ErrorAs(t, r.err, &ae)
				assert.False(t, ae.Temporary(), "never Temporary when an SMS may have gone out")
				_, known := RetryAfter(r.err)
				assert.False(t, known)
			}
			// Deepvue's own body: no OTP went out.
			current.Store(&answer{status, "application/json", deepvueBodies[status]})
			r := reportedCall(t, WithBaseURL(srv.URL), WithHTTPClient(&http.Client{Transport: tr}))
			assert.Equal(t, OTPNotSent, r.state, "h2=%v %d Deepvue's body: %v", h2, status, r.err)
			assert.False(t, r.notSent, "an answer came: the request was sent")
			r.assertAgree(t)
			if status == 429 {
				assert.Equal(t, ActionTryAgain, r.next)
			} else {
				assert.Equal(t, ActionFixConfiguration, r.next)
			}
		}
	}
	t.Logf("proxy answers reported OTPNotSent: %d of %d", notSent, proxyCases)
	assert.Zero(t, notSent)
}
