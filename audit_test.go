package deepvue

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// auditSink records every audit record it is given; fail, when set, decides
// an error per record.
type auditSink struct {
	mu   sync.Mutex
	recs []AuditRecord
	// sentAt is the number of requests the transport had seen when each
	// record was written.
	sentAt []int
	sent   func() int
	fail   func(ctx context.Context, r AuditRecord) error
}

func (s *auditSink) fn(ctx context.Context, r AuditRecord) error {
	if s.fail != nil {
		if err := s.fail(ctx, r); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, r)
	n := -1
	if s.sent != nil {
		n = s.sent()
	}
	s.sentAt = append(s.sentAt, n)
	return nil
}

func (s *auditSink) records() []AuditRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]AuditRecord(nil), s.recs...)
}

var callIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestAuditRecordsGenerateOTP: the consent record is written before the
// request is sent, the outcome record after, with the same CallID and the
// fields the issue names.
func TestAuditRecordsGenerateOTP(t *testing.T) {
	sink := &auditSink{}
	rec := &recorder{}
	c, mt := mockClient(t, WithAuditLog(sink.fn), WithObserver(rec.observer()))
	sink.sent = mt.GetTotalCallCount
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(200, successOTP))

	res, err := c.GenerateOTP(context.Background(), "2341 2341 2346", ConsentYes, testPurpose)
	require.NoError(t, err)
	recs := sink.records()
	require.Len(t, recs, 2)
	assert.Equal(t, []int{0, 1}, sink.sentAt, "consent before the request, outcome after")

	consent, outcome := recs[0], recs[1]
	assert.Regexp(t, callIDPattern, consent.CallID)
	assert.Equal(t, consent.CallID, outcome.CallID)
	assert.Equal(t, AuditConsent, consent.Stage)
	assert.Equal(t, AuditOutcome, outcome.Stage)
	for _, r := range recs {
		assert.Equal(t, "generate-otp", r.Operation)
		assert.Equal(t, testPurpose, r.Purpose)
		assert.Equal(t, ConsentYes, r.Consent)
		assert.Equal(t, "XXXX XXXX 2346", r.MaskedNumber)
		assert.False(t, r.Time.IsZero())
	}
	assert.Equal(t, "", consent.Outcome)
	assert.Equal(t, "", consent.ReferenceID)
	assert.Equal(t, "", consent.TransactionID)
	assert.Equal(t, 0, consent.Attempts)
	assert.Equal(t, "ok", outcome.Outcome)
	assert.Equal(t, OTPSent, outcome.OTPState)
	assert.Equal(t, res.ReferenceID, outcome.ReferenceID)
	assert.Equal(t, res.TransactionID, outcome.TransactionID)
	assert.Equal(t, 1, outcome.Attempts)
	assert.False(t, outcome.Time.Before(consent.Time))

	require.Len(t, rec.calls, 1)
	assert.False(t, rec.calls[0].AuditFailed)

	// A second call has a new CallID.
	_, err = c.GenerateOTP(context.Background(), otherNumber, ConsentYes, testPurpose)
	require.NoError(t, err)
	recs = sink.records()
	require.Len(t, recs, 4)
	assert.NotEqual(t, recs[0].CallID, recs[2].CallID)
	assert.Equal(t, recs[2].CallID, recs[3].CallID)
}

// TestAuditRecordsFailures: an outcome record follows every call that wrote
// a consent record, failures included, with Outcome and OTPState as the
// Observer and OTPStateOf give them.
func TestAuditRecordsFailures(t *testing.T) {
	tests := []struct {
		name      string
		responder httpmock.Responder
		outcome   string
		state     OTPState
		attempts  int
		ref, txn  string
	}{
		{"pending", jsonResponder(409, `{"code":409,"transaction_id":"tx409","sub_code":"VERIFICATION_PENDING","message":"Otp already generated","reference_id":""}`),
			"ErrVerificationPending", OTPPending, 1, "", "tx409"},
		{"not linked", jsonResponder(400, `{"code":400,"transaction_id":"tx400","sub_code":"AADHAAR_MOBILE_NOT_LINKED","message":"no mobile","reference_id":"555"}`),
			"ErrMobileNotLinked", OTPNotSent, 1, "555", "tx400"},
		// httpmock declared single-attempt (mockClient): production's state.
		{"source failure", jsonResponder(500, sourceFailBd), "ErrSourceFailure", OTPNotSent, 3, "", "tx-source"},
		{"transport", func(*http.Request) (*http.Response, error) { return nil, errors.New("connection reset") },
			"transport", OTPMaybeSent, 1, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &auditSink{}
			c, mt := mockClient(t, WithAuditLog(sink.fn))
			mt.RegisterResponder(http.MethodPost, genURL, tt.responder)
			_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
			require.Error(t, err)
			recs := sink.records()
			require.Len(t, recs, 2)
			o := recs[1]
			assert.Equal(t, recs[0].CallID, o.CallID)
			assert.Equal(t, AuditOutcome, o.Stage)
			assert.Equal(t, tt.outcome, o.Outcome)
			assert.Equal(t, Outcome(err), o.Outcome)
			assert.Equal(t, tt.state, o.OTPState)
			assert.Equal(t, OTPStateOf(err), o.OTPState)
			assert.Equal(t, tt.attempts, o.Attempts)
			assert.Equal(t, tt.ref, o.ReferenceID)
			assert.Equal(t, tt.txn, o.TransactionID)
		})
	}
}

func TestAuditRecordsVerifyOTP(t *testing.T) {
	sink := &auditSink{}
	c, mt := mockClient(t, WithAuditLog(sink.fn))
	sink.sent = mt.GetTotalCallCount
	mt.RegisterResponder(http.MethodPost, verURL, jsonResponder(200, verifySuccessBody("")))
	req := validVerifyRequest()
	req.MobileNumber = testMobile
	d, err := c.VerifyOTP(context.Background(), req)
	require.NoError(t, err)
	recs := sink.records()
	require.Len(t, recs, 2)
	assert.Equal(t, []int{0, 1}, sink.sentAt)
	for _, r := range recs {
		assert.Equal(t, "verify-otp", r.Operation)
		assert.Equal(t, "", r.MaskedNumber)
		assert.Equal(t, "29756208", r.ReferenceID)
		assert.Equal(t, recs[0].CallID, r.CallID)
	}
	assert.Equal(t, "ok", recs[1].Outcome)
	assert.Equal(t, d.TransactionID, recs[1].TransactionID)
	assert.NotEmpty(t, recs[1].TransactionID)
	assert.Equal(t, 1, recs[1].Attempts)
}

// TestAuditConsentFailureSendsNothing: when the consent record cannot be
// written, the call fails with ErrAuditFailed and ErrNotSent, nothing is
// sent, and no outcome record follows.
func TestAuditConsentFailureSendsNothing(t *testing.T) {
	dbDown := errors.New("database is down (" + testSecret + " " + validNumber + ")")
	tests := []struct {
		name string
		fail func(ctx context.Context, cancel context.CancelFunc) error
		is   error
	}{
		{"fn fails", func(context.Context, context.CancelFunc) error { return dbDown }, dbDown},
		{"fn honours the context", func(ctx context.Context, cancel context.CancelFunc) error { cancel(); <-ctx.Done(); return ctx.Err() }, context.Canceled},
	}
	for _, tt := range tests {
		for _, op := range []string{"generate", "verify"} {
			t.Run(tt.name+"/"+op, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				sink := &auditSink{fail: func(ctx context.Context, r AuditRecord) error {
					if r.Stage == AuditConsent {
						return tt.fail(ctx, cancel)
					}
					return nil
				}}
				rec := &recorder{}
				logs := &logBuffer{}
				c, mt := mockClient(t, WithAuditLog(sink.fn), WithObserver(rec.observer()), WithLogger(logs.logger()))
				mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(200, successOTP))
				mt.RegisterResponder(http.MethodPost, verURL, jsonResponder(200, verifySuccessBody("")))
				var err error
				if op == "generate" {
					_, err = c.GenerateOTP(ctx, validNumber, ConsentYes, testPurpose)
				} else {
					req := validVerifyRequest()
					req.MobileNumber = testMobile
					_, err = c.VerifyOTP(ctx, req)
				}
				require.Error(t, err)
				assert.ErrorIs(t, err, ErrAuditFailed)
				assert.ErrorIs(t, err, ErrNotSent)
				assert.ErrorIs(t, err, tt.is)
				assert.Equal(t, 0, mt.GetTotalCallCount(), "nothing is sent")
				assert.Empty(t, sink.records(), "no outcome record without a consent record")
				assert.Equal(t, OTPNotSent, OTPStateOf(err))
				require.Len(t, rec.calls, 1)
				assert.Equal(t, "ErrAuditFailed", rec.calls[0].Outcome)
				assert.False(t, rec.calls[0].MaybeSent)
				assertNoLeak(t, err)
				assertNoLeak(t, logs.String())
			})
		}
	}
}

// TestAuditConsentStoredThenCanceled: a consent record stored while the
// context ended: the call stops before sending (ErrNotSent, not
// ErrAuditFailed), and its outcome record says so.
func TestAuditConsentStoredThenCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sink := &auditSink{fail: func(_ context.Context, r AuditRecord) error {
		if r.Stage == AuditConsent {
			cancel()
		}
		return nil
	}}
	c, mt := mockClient(t, WithAuditLog(sink.fn))
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(200, successOTP))
	_, err := c.GenerateOTP(ctx, validNumber, ConsentYes, testPurpose)
	assert.ErrorIs(t, err, ErrNotSent)
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, ErrAuditFailed)
	assert.Equal(t, 0, mt.GetTotalCallCount())
	recs := sink.records()
	require.Len(t, recs, 2)
	assert.Equal(t, "canceled", recs[1].Outcome)
	assert.Equal(t, OTPNotSent, recs[1].OTPState)
	assert.Equal(t, 0, recs[1].Attempts)
}

// TestAuditConsentContextAlreadyDone: a context that ended before the call
// writes nothing and sends nothing.
func TestAuditConsentContextAlreadyDone(t *testing.T) {
	sink := &auditSink{}
	c, mt := mockClient(t, WithAuditLog(sink.fn))
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(200, successOTP))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.GenerateOTP(ctx, validNumber, ConsentYes, testPurpose)
	assert.ErrorIs(t, err, ErrAuditFailed)
	assert.ErrorIs(t, err, ErrNotSent)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 0, mt.GetTotalCallCount())
	assert.Empty(t, sink.records())
}

// TestAuditValidationWritesNothing: a call refused by the input checks
// never proceeds, so it writes no record.
func TestAuditValidationWritesNothing(t *testing.T) {
	sink := &auditSink{}
	c, _ := mockClient(t, WithAuditLog(sink.fn))
	_, err := c.GenerateOTP(context.Background(), "234123412347", ConsentYes, testPurpose)
	assert.ErrorIs(t, err, ErrInvalidInput)
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentNo, testPurpose)
	assert.ErrorIs(t, err, ErrInvalidInput)
	_, err = c.VerifyOTP(context.Background(), VerifyOTPRequest{ReferenceID: "1", OTP: "12", Consent: ConsentYes, Purpose: "p"})
	assert.ErrorIs(t, err, ErrInvalidInput)
	//lint:ignore SA1012 a nil context is what is tested
	_, err = c.GenerateOTP(nil, validNumber, ConsentYes, testPurpose) //nolint:staticcheck
	assert.Error(t, err)
	assert.Empty(t, sink.records())
}

// TestAuditOutcomeFailure: an outcome record that cannot be written leaves
// the call's result as it was, logs a Warn and tells the Observer.
func TestAuditOutcomeFailure(t *testing.T) {
	sink := &auditSink{fail: func(_ context.Context, r AuditRecord) error {
		if r.Stage == AuditOutcome {
			return errors.New("disk full near " + testSecret)
		}
		return nil
	}}
	rec := &recorder{}
	logs := &logBuffer{}
	c, mt := mockClient(t, WithAuditLog(sink.fn), WithObserver(rec.observer()), WithLogger(logs.logger()))
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(200, successOTP))
	res, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.NoError(t, err, "the call's own result stands")
	assert.Equal(t, "29756208", res.ReferenceID)
	assert.Len(t, sink.records(), 1, "the consent record only")
	require.Len(t, rec.calls, 1)
	assert.True(t, rec.calls[0].AuditFailed)
	assert.Equal(t, "ok", rec.calls[0].Outcome)
	out := logs.String()
	assert.Contains(t, out, `"level":"WARN"`)
	assert.Contains(t, out, "the outcome audit record was not written")
	assert.Contains(t, out, sink.records()[0].CallID)
	assertNoLeak(t, out)
}

// TestAuditOutcomeOutlivesCancel: a caller that cancels during the call
// still gets its outcome record, written on a context not canceled.
func TestAuditOutcomeOutlivesCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var outcomeCtxErr error = errors.New("not called")
	sink := &auditSink{fail: func(ctx context.Context, r AuditRecord) error {
		if r.Stage == AuditOutcome {
			outcomeCtxErr = ctx.Err()
			_, has := ctx.Deadline()
			assert.True(t, has, "the outcome write is bounded")
		}
		return nil
	}}
	c, mt := mockClient(t, WithAuditLog(sink.fn))
	mt.RegisterResponder(http.MethodPost, genURL, func(r *http.Request) (*http.Response, error) {
		cancel()
		return nil, r.Context().Err()
	})
	_, err := c.GenerateOTP(ctx, validNumber, ConsentYes, testPurpose)
	require.Error(t, err)
	recs := sink.records()
	require.Len(t, recs, 2)
	assert.NoError(t, outcomeCtxErr)
	assert.Equal(t, AuditOutcome, recs[1].Stage)
	assert.Equal(t, Outcome(err), recs[1].Outcome)
}

// TestAuditOutcomeContextHidesTheCallsCause: the outcome record's context
// tells nothing of why the caller's context ended (context.WithoutCancel
// hid it before the Client's timer): a caller that cancels with a cause
// during the call leaves no cause on it while the record is written, and
// once the write returned its cause (and that of a context the sink
// derived from it) is its own end, context.Canceled, not the caller's.
func TestAuditOutcomeContextHidesTheCallsCause(t *testing.T) {
	errLeft := errors.New("the customer closed the page")
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var kept, derived context.Context
	causeDuring := errors.New("not called")
	sink := &auditSink{fail: func(ctx context.Context, r AuditRecord) error {
		if r.Stage == AuditOutcome {
			causeDuring = context.Cause(ctx)
			kept = ctx
			d, stop := context.WithCancel(ctx)
			t.Cleanup(stop)
			derived = d
		}
		return nil
	}}
	c, mt := mockClient(t, WithAuditLog(sink.fn))
	mt.RegisterResponder(http.MethodPost, genURL, func(r *http.Request) (*http.Response, error) {
		cancel(errLeft)
		return nil, r.Context().Err()
	})
	_, err := c.GenerateOTP(ctx, validNumber, ConsentYes, testPurpose)
	require.Error(t, err)
	require.Len(t, sink.records(), 2)
	assert.NoError(t, causeDuring, "the record is being written: no cause")
	require.NotNil(t, kept)
	assert.Equal(t, context.Canceled, context.Cause(kept), "the write returned, not the customer's cause")
	select {
	case <-derived.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a context derived from the outcome context did not end with it")
	}
	assert.Equal(t, context.Canceled, context.Cause(derived), "the write returned, not the customer's cause")
}
