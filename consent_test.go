package deepvue

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue/internal/redact"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// successBody is a generate-otp success answer.
const successBody = `{"code":200,"timestamp":1738332826135,"transaction_id":"12815fb81c084fb7a35eedc0ef1c5a84",` +
	`"sub_code":"SUCCESS","message":"OTP sent","reference_id":"29756208"}`

// noticeSHA is the SHA-256 of a notice text, as an application computes it.
const noticeSHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func completeEvidence() ConsentEvidence {
	return ConsentEvidence{
		NoticeID: "aadhaar-ekyc-notice", NoticeVersion: "v3", NoticeSHA256: noticeSHA, Language: "hi",
		Channel: "web", AlternativesOffered: true, DecidedAt: time.Now().Add(-time.Minute).Truncate(time.Second),
		Operator: "onboarding-service", CustomerRef: "c_7f3a9e2b41d04c8e",
	}
}

// TestRequireConsentEvidence: without evidence, or with evidence missing
// its notice hash or decision time, or deciding in the future, or with a
// customer reference that is personal data, the call fails with a
// *ValidationError on consent_evidence that matches ErrNotSent: nothing is
// sent, no audit record is written. Complete evidence goes through, into
// both records.
func TestRequireConsentEvidence(t *testing.T) {
	sink := &auditSink{}
	c, mt := mockClient(t, WithAuditLog(sink.fn), RequireConsentEvidence())
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(200, successBody))
	mt.RegisterResponder(http.MethodPost, verURL, jsonResponder(200, verifySuccessBody("")))
	with := func(mutate func(e *ConsentEvidence)) context.Context {
		e := completeEvidence()
		mutate(&e)
		return WithConsentEvidence(context.Background(), e)
	}
	for name, ctx := range map[string]context.Context{
		"no evidence":         context.Background(),
		"no notice hash":      with(func(e *ConsentEvidence) { e.NoticeSHA256 = "" }),
		"no decision time":    with(func(e *ConsentEvidence) { e.DecidedAt = time.Time{} }),
		"decided in a minute": with(func(e *ConsentEvidence) { e.DecidedAt = time.Now().Add(time.Minute) }),
		"hash not hex":        with(func(e *ConsentEvidence) { e.NoticeSHA256 = strings.Repeat("g", 64) }),
		"hash too short":      with(func(e *ConsentEvidence) { e.NoticeSHA256 = noticeSHA[:40] }),
		"ref is the number":   with(func(e *ConsentEvidence) { e.CustomerRef = validNumber }),
		"ref is an e-mail":    with(func(e *ConsentEvidence) { e.CustomerRef = "priya@example.com" }),
		"ref is a mobile":     with(func(e *ConsentEvidence) { e.CustomerRef = "cust-" + testMobile }),
		"control character":   with(func(e *ConsentEvidence) { e.Operator = "agent\n7" }),
		"text too long":       with(func(e *ConsentEvidence) { e.NoticeID = strings.Repeat("n", 201) }),
	} {
		_, err := c.GenerateOTP(ctx, validNumber, ConsentYes, testPurpose)
		var ve *ValidationError
		require.ErrorAs(t, err, &ve, name)
		assert.Equal(t, FieldConsentEvidence, ve.Field, name)
		assert.ErrorIs(t, err, ErrNotSent, name)
		assert.ErrorIs(t, err, ErrInvalidInput, name)
		assertNoLeak(t, err)
		req := validVerifyRequest()
		_, err = c.VerifyOTP(ctx, req)
		require.ErrorAs(t, err, &ve, name)
		assert.Equal(t, FieldConsentEvidence, ve.Field, name)
	}
	assert.Zero(t, mt.GetTotalCallCount(), "nothing sent")
	assert.Empty(t, sink.records(), "no record written")

	e := completeEvidence()
	e.NoticeSHA256 = strings.ToUpper(e.NoticeSHA256)
	_, err := c.GenerateOTP(WithConsentEvidence(context.Background(), e), validNumber, ConsentYes, testPurpose)
	require.NoError(t, err)
	_, err = c.VerifyOTP(WithConsentEvidence(context.Background(), e), validVerifyRequest())
	require.NoError(t, err)
	recs := sink.records()
	require.Len(t, recs, 4)
	want := completeEvidence() // the hash in lower case
	for _, r := range recs {
		assert.Equal(t, want, r.Evidence, "%s %s", r.Operation, r.Stage)
	}
}

// TestEvidenceWithoutRequirement: without RequireConsentEvidence a call
// needs no evidence, but evidence it carries is still checked, and kept.
func TestEvidenceWithoutRequirement(t *testing.T) {
	sink := &auditSink{}
	c, mt := mockClient(t, WithAuditLog(sink.fn))
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(200, successBody))
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.NoError(t, err)
	// A version that is a timestamp is no Aadhaar number, even when 12 of
	// its 14 digits pass the checks.
	partial := ConsentEvidence{NoticeID: "n1", NoticeVersion: "20251130000400", Channel: "assisted", Operator: "desk 3, 2025-11-30"}
	_, err = c.GenerateOTP(WithConsentEvidence(context.Background(), partial), validNumber, ConsentYes, testPurpose)
	require.NoError(t, err)
	bad := ConsentEvidence{CustomerRef: "2341 2341 2346"}
	_, err = c.GenerateOTP(WithConsentEvidence(context.Background(), bad), validNumber, ConsentYes, testPurpose)
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, FieldConsentEvidence, ve.Field)
	assert.Equal(t, 2, mt.GetTotalCallCount())
	recs := sink.records()
	require.Len(t, recs, 4)
	assert.Equal(t, ConsentEvidence{}, recs[0].Evidence)
	assert.Equal(t, partial, recs[2].Evidence)
	assert.Equal(t, partial, recs[3].Evidence)
}

// TestConsentNoStillSendsNothing: ConsentNo with complete evidence is still
// refused before anything is sent.
func TestConsentNoStillSendsNothing(t *testing.T) {
	sink := &auditSink{}
	c, mt := mockClient(t, WithAuditLog(sink.fn), RequireConsentEvidence())
	ctx := WithConsentEvidence(context.Background(), completeEvidence())
	_, err := c.GenerateOTP(ctx, validNumber, ConsentNo, testPurpose)
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, FieldConsent, ve.Field)
	assert.ErrorIs(t, err, ErrNotSent)
	assert.Zero(t, mt.GetTotalCallCount())
	assert.Empty(t, sink.records())
}

// TestWithPurposes: a declared purpose goes through; any other is refused
// before anything is sent; the option refuses purposes that hold customer
// data.
func TestWithPurposes(t *testing.T) {
	const other = "KYC for a credit card"
	sink := &auditSink{}
	c, mt := mockClient(t, WithAuditLog(sink.fn), WithPurposes(testPurpose, other))
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(200, successBody))
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, other)
	require.NoError(t, err)
	for _, p := range []string{testPurpose + " ", "KYC of Priya Sharma, PAN ABCDE1234F", "kyc for a credit card"} {
		_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, p)
		var ve *ValidationError
		require.ErrorAs(t, err, &ve, p)
		assert.Equal(t, FieldPurpose, ve.Field)
		assert.ErrorIs(t, err, ErrNotSent)
		assert.NotContains(t, err.Error(), "Priya")
		req := validVerifyRequest()
		req.Purpose = p
		_, err = c.VerifyOTP(context.Background(), req)
		require.ErrorAs(t, err, &ve, p)
		assert.Equal(t, FieldPurpose, ve.Field)
	}
	assert.Equal(t, 1, mt.GetTotalCallCount())
	assert.Len(t, sink.records(), 2)

	for _, bad := range [][]string{
		nil, {""}, {"   "}, {"KYC of 2341 2341 2346"}, {"KYC, call 98765 43210"}, {"KYC for priya@example.com"},
		{testPurpose, "bad\x00"},
	} {
		_, err := NewClient(testID, testSecret, WithPurposes(bad...))
		var ve *ValidationError
		require.ErrorAs(t, err, &ve, "%q", bad)
		assert.Equal(t, FieldPurposes, ve.Field)
		assertNoLeak(t, err, "98765", "priya")
	}
}

// TestCustomerRefRules: what a pseudonymous reference may be, and what
// looks like an Aadhaar number, a mobile number or an e-mail address.
func TestCustomerRefRules(t *testing.T) {
	sec := &secrets{Number: validNumber, OTP: testOTP, Mobile: testMobile, Secret: testSecret}
	for ref, want := range map[string]string{
		"":                                     "",
		"c_7f3a9e2b41d04c8e":                   "",
		"12815fb81c084fb7a35eedc0ef1c5a84":     "",
		"a1b2c3d4-9876-5432-1234-499181234560": "", // a UUID: its digits belong to it
		"CUST-000123":                          "",
		"lead 2025/000017":                     "",
		"x499181234560y":                       "looks like an Aadhaar number", // a run inside a word
		"cust9876543210":                       "looks like a mobile number",
		"5f1c9e0d2b7a4c3e8d6f0a1b2c3d4e5f499181234560": "", // a hex digest: its digits are random
		"x234123412346y":         "holds a value the call sends",
		validNumber:              "holds a value the call sends",
		otherNumber:              "looks like an Aadhaar number",
		"4991 8123 4560":         "looks like an Aadhaar number",
		"cust-4991-8123-4560":    "looks like an Aadhaar number",
		"9876543210":             "looks like a mobile number",
		"+91 98765 43210":        "looks like a mobile number",
		"(0)98765-43210":         "looks like a mobile number",
		"919876543210":           "looks like a mobile number",
		"priya@example.com":      "looks like an e-mail address",
		"ref@":                   "looks like an e-mail address",
		"कस्टमर":                 "must be printable ASCII",
		strings.Repeat("r", 129): "is longer than 128 bytes",
	} {
		assert.Equal(t, want, customerRefProblem(ref, sec), "%q", ref)
	}
	// Random identifiers of the usual forms are never refused.
	var b [16]byte
	for i := 0; i < 5000; i++ {
		_, _ = rand.Read(b[:])
		h := hex.EncodeToString(b[:])
		if strings.Trim(h, "0123456789") == "" {
			// All 32 hex digits came out decimal (about once in 3.4
			// million): that is a 32-digit number, which may hold an
			// Aadhaar number and is refused, as it should be.
			continue
		}
		uuid := h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
		for _, ref := range []string{h, strings.ToUpper(h), uuid, "cust_" + h, "cust-" + uuid} {
			require.Empty(t, customerRefProblem(ref, nil), ref)
		}
	}
}

// TestEvidenceNeverLeaks: evidence whose texts hold the call's Aadhaar
// number, OTP or mobile number (in several spellings), another Aadhaar or
// mobile number, or an e-mail address is refused before anything is sent,
// by an error that shows none of it; texts that pass (the number glued
// into an identifier, the secret) reach the records scrubbed of every value
// the call knows, in any fmt verb and slog, and never the log. Printing the
// evidence itself shows no number that could be an Aadhaar number, an OTP
// or a mobile number, and no e-mail address.
func TestEvidenceNeverLeaks(t *testing.T) {
	logs := &logBuffer{}
	sink := &auditSink{}
	c, mt := mockClient(t, WithAuditLog(sink.fn), WithLogger(logs.logger()), WithRetryMax(0))
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(500, `{"code":500,"sub_code":"SOURCE_FAILURE","message":"x"}`))
	mt.RegisterResponder(http.MethodPost, verURL, jsonResponder(400, `{"code":400,"sub_code":"INVALID_INPUT","message":"x"}`))
	spell := []string{validNumber, "2341 2341 2346", "2341-2341-2346", testOTP, "482 913", testMobile, "91234 56780",
		testSecret, otherNumber, "4991 8123 4560", "+91 98765 43210", "priya@example.com", "२३४१२३४१२३४६"}
	evidence := func(text string) ConsentEvidence {
		return ConsentEvidence{NoticeID: text, NoticeVersion: text, Language: text, Channel: text, Operator: text,
			NoticeSHA256: noticeSHA, DecidedAt: time.Now().Truncate(time.Second)} // no nanoseconds to spell an OTP by chance
	}
	refused, passed := 0, 0
	for _, v := range append(spell, "v"+validNumber+"x", "v"+testOTP+"x", "v"+testMobile+"x") {
		for _, field := range []func(e *ConsentEvidence) *string{
			func(e *ConsentEvidence) *string { return &e.NoticeID }, func(e *ConsentEvidence) *string { return &e.NoticeVersion },
			func(e *ConsentEvidence) *string { return &e.Language }, func(e *ConsentEvidence) *string { return &e.Channel },
			func(e *ConsentEvidence) *string { return &e.Operator }, func(e *ConsentEvidence) *string { return &e.CustomerRef },
		} {
			e := evidence("notice-1")
			*field(&e) = "notice " + v
			if field(&e) == &e.CustomerRef {
				*field(&e) = v
			}
			ctx := WithConsentEvidence(context.Background(), e)
			_, gerr := c.GenerateOTP(ctx, validNumber, ConsentYes, testPurpose)
			require.Error(t, gerr)
			assertNoLeak(t, gerr, spell...)
			req := validVerifyRequest()
			req.MobileNumber = testMobile
			_, verr := c.VerifyOTP(ctx, req)
			require.Error(t, verr)
			assertNoLeak(t, verr, spell...)
			for _, err := range []error{gerr, verr} {
				var ve *ValidationError
				if errors.As(err, &ve) {
					assert.Equal(t, FieldConsentEvidence, ve.Field)
					refused++
				} else {
					passed++
				}
			}
			if !strings.Contains(v, "s3cr3t") {
				// The evidence alone knows no secret, but hides every number.
				assertNoLeak(t, e, spell[:7]...)
				assertNoLeak(t, e, spell[8:]...)
			}
		}
	}
	assert.Positive(t, refused)
	assert.Positive(t, passed, "some evidence passed the checks (else the record checks are vacuous)")
	recs := sink.records()
	require.Len(t, recs, 2*passed)
	for _, r := range recs {
		// The call id (random hex) and the record's time (the SDK's clock)
		// can spell a test value by chance (a time's nanoseconds held the
		// test OTP once): fixed here, their form checked.
		require.Regexp(t, `^[0-9a-f]{32}$`, r.CallID)
		r.CallID, r.Time = "c0ffee00c0ffee00c0ffee00c0ffee00", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		if r.Operation == opGenerate {
			// No OTP exists yet when generate-otp runs: "482913" is just a
			// number there (and an evidence text may hold one).
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, testHandlerOptions)).Debug("x", "value", r)
			for _, text := range []string{fmt.Sprintf("%v", r), fmt.Sprintf("%+v", r), fmt.Sprintf("%#v", r), buf.String()} {
				for _, s := range append(append([]string{}, spell[:3]...), spell[5:]...) {
					assert.NotContains(t, text, s)
				}
			}
			continue
		}
		assertNoLeak(t, r, spell...)
	}
	for _, s := range spell {
		assert.NotContains(t, logs.String(), s)
	}
	// A text of the evidence that holds no personal number prints as is.
	out := fmt.Sprint(completeEvidence())
	for _, s := range []string{`"aadhaar-ekyc-notice"`, `"v3"`, noticeSHA, `"hi"`, `"web"`, `"onboarding-service"`, `"c_7f3a9e2b41d04c8e"`} {
		assert.Contains(t, out, s)
	}
}

// TestAuditKeepsEveryHexTransactionID: 100,000 random 32-hex transaction
// ids pass the audit path's id rule unchanged, and as many (5,000 under
// -race or -short), half in success answers and half in error answers, reach
// the outcome record exact through a Client, as they reach the result and
// the *APIError (before the fix about 0.6 % were dropped: a 12-digit run
// among their digits passed the Aadhaar checks).
func TestAuditKeepsEveryHexTransactionID(t *testing.T) {
	// Parallel: it runs beside the long rate tests, which mostly wait.
	t.Parallel()
	// The id rule itself, with the secrets of a generate call and of a
	// verify call: 100,000 ids, always.
	var b [16]byte
	gen := &secrets{Number: validNumber, Secret: testSecret}
	ver := &secrets{OTP: testOTP, Mobile: testMobile, Secret: testSecret}
	dropped, before := 0, 0
	for i := 0; i < 100000; i++ {
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		if strings.Contains(id, validNumber) || strings.Contains(id, testOTP) || strings.Contains(id, testMobile) {
			continue // holds a value the call knows: dropped, rightly
		}
		if auditID(id, gen) != id || auditID(id, ver) != id {
			dropped++
		}
		if auditIDBefore(id) == "" {
			before++
		}
	}
	assert.Zero(t, dropped, "ids the audit path drops")
	assert.Positive(t, before, "ids the old rule dropped were among them (else the test is vacuous)")
	t.Logf("100000 ids: the old rule dropped %d, the audit path none", before)

	// The whole path, through a Client: answers carrying the ids, in
	// results and in *APIErrors, to the outcome records (fewer under the
	// race detector, whose cost per call is 10 times).
	n := 100000
	if testing.Short() || raceEnabled {
		n = 5000
	}
	var ids []string
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		id := ids[len(ids)-1]
		status, sub := 200, "SUCCESS"
		if len(ids)%2 == 0 {
			status, sub = 409, "VERIFICATION_PENDING"
		}
		body := `{"code":` + fmt.Sprint(status) + `,"sub_code":"` + sub + `","message":"m","transaction_id":"` + id + `","reference_id":"29756208"}`
		return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: r}, nil
	})
	var got string
	c, err := NewClient(testID, testSecret, WithHTTPClient(&http.Client{Transport: rt}), WithBaseURL(testBase),
		WithRetryMax(0), WithAuditLog(func(_ context.Context, r AuditRecord) error {
			if r.Stage == AuditOutcome {
				got = r.TransactionID
			}
			return nil
		}))
	require.NoError(t, err)
	lost, withRun := 0, 0
	for i := 0; i < n; i++ {
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		ids = append(ids[:0], id)
		res, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
		var ae *APIError
		switch {
		case err == nil:
			require.Equal(t, id, res.TransactionID)
		case errors.As(err, &ae):
			require.Equal(t, id, ae.TransactionID)
		default:
			require.NoError(t, err)
		}
		if got != id {
			lost++
		}
		if auditIDBefore(id) == "" {
			withRun++
		}
	}
	assert.Zero(t, lost, "transaction ids lost from the outcome records")
	assert.Positive(t, withRun, "ids the old rule dropped were among them (else the test is vacuous)")
	t.Logf("%d ids, %d of which the old rule dropped, all kept", n, withRun)
}

// auditIDBefore is the old rule for ids, kept here to show what the test
// exercises: an id holding a Verhoeff-valid 12-digit run was dropped.
func auditIDBefore(s string) string {
	digits := ""
	for i := 0; i <= len(s); i++ {
		if i < len(s) && isDigit(s[i]) {
			digits += s[i : i+1]
			continue
		}
		for j := 0; j+12 <= len(digits); j++ {
			v := make([]byte, 12)
			for k := range v {
				v[k] = digits[j+k] - '0'
			}
			if redact.AadhaarLike(v) {
				return ""
			}
		}
		digits = ""
	}
	return s
}

// TestRecordDecision: a refusal and a withdrawal go into the same trail as
// the calls, with their evidence, through the Client's audit log; nothing
// is sent.
func TestRecordDecision(t *testing.T) {
	sink := &auditSink{}
	c, mt := mockClient(t, WithAuditLog(sink.fn), WithPurposes(testPurpose))
	ctx := WithConsentEvidence(context.Background(), completeEvidence())
	require.NoError(t, c.RecordDecision(ctx, ConsentRefused, testPurpose))
	require.NoError(t, c.RecordDecision(ctx, ConsentWithdrawn, testPurpose))
	recs := sink.records()
	require.Len(t, recs, 2)
	for i, d := range []ConsentDecision{ConsentRefused, ConsentWithdrawn} {
		r := recs[i]
		assert.Equal(t, AuditDecision, r.Stage)
		assert.Equal(t, ConsentNo, r.Consent)
		assert.Equal(t, string(d), r.Outcome)
		assert.Equal(t, testPurpose, r.Purpose)
		assert.Equal(t, completeEvidence(), r.Evidence)
		assert.Regexp(t, callIDPattern, r.CallID)
		assert.WithinDuration(t, time.Now(), r.Time, time.Minute)
	}
	assert.NotEqual(t, recs[0].CallID, recs[1].CallID)
	assert.Zero(t, mt.GetTotalCallCount())

	var ve *ValidationError
	require.ErrorAs(t, c.RecordDecision(context.Background(), ConsentRefused, testPurpose), &ve)
	assert.Equal(t, FieldConsentEvidence, ve.Field, "no evidence")
	incomplete := completeEvidence()
	incomplete.DecidedAt = time.Time{}
	require.ErrorAs(t, c.RecordDecision(WithConsentEvidence(ctx, incomplete), ConsentRefused, testPurpose), &ve)
	assert.Equal(t, FieldConsentEvidence, ve.Field, "incomplete evidence")
	require.ErrorAs(t, c.RecordDecision(ctx, ConsentRefused, "another purpose"), &ve)
	assert.Equal(t, FieldPurpose, ve.Field)
	require.ErrorAs(t, c.RecordDecision(ctx, "maybe", testPurpose), &ve)
	assert.Equal(t, FieldConsent, ve.Field)
	assert.Len(t, sink.records(), 2)

	failing, _ := mockClient(t, WithAuditLog(func(context.Context, AuditRecord) error { return errors.New("db down") }))
	err := failing.RecordDecision(ctx, ConsentRefused, testPurpose)
	assert.ErrorIs(t, err, ErrAuditFailed)
	noLog, _ := mockClient(t)
	require.ErrorAs(t, noLog.RecordDecision(ctx, ConsentRefused, testPurpose), &ve)
	assert.Equal(t, FieldAuditLog, ve.Field)

	// A tenant's Client records its decisions in the tenant's trail, as its
	// calls' records.
	tsink := &auditSink{}
	tc, _ := mockClient(t, WithAuditLog(tsink.fn), WithTenant("merchant-42"))
	require.NoError(t, tc.RecordDecision(ctx, ConsentRefused, testPurpose))
	require.Len(t, tsink.records(), 1)
	assert.Equal(t, "merchant-42", tsink.records()[0].Tenant)
}

// TestConsentEvidenceRandomTexts: 30,000 texts drawn from a hostile
// alphabet (digits of several scripts and forms, separators, letters, '@',
// pieces of the call's values), put in every field of the evidence: the
// checks never panic; evidence they accept reaches a record without the
// call's number, OTP, mobile number or secret; and a text printing shows
// (shown, which String, Format and LogValue use for every text) holds no
// number of six digits or more, in any spelling, and no '@' (a hex SHA-256
// aside). (A randomized test rather than a fuzz target, to keep CI's fuzz
// step, 50,000 inputs a target, within its budget.)
func TestConsentEvidenceRandomTexts(t *testing.T) {
	alphabet := []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", " ", "-", ".", "(", ")", "+", "/", "\u00a0",
		"\u00a0", "\t", "a", "x", "Z", "@", "१", "२", "४", "①", "²", "\u3164", "_", ":", validNumber[:4], validNumber[4:8],
		validNumber[8:], testOTP[:3], testOTP[3:], testMobile[:5], testMobile[5:], "live_", "s3cr3t", "e", "f"}
	for i := range alphabet {
		if u, err := strconv.Unquote(`"` + alphabet[i] + `"`); err == nil {
			alphabet[i] = u
		}
	}
	rng := mrand.New(mrand.NewPCG(22, 2))
	seeds := []string{"", "aadhaar-ekyc-notice", validNumber, "2341 2341 2346", testOTP, "482\u00a0913", testMobile,
		"+91 98765 43210", "priya@example.com", testSecret, noticeSHA, "c_7f3a9e2b41d04c8e", "x499181234560y",
		"१२३४५६", "②③④①", "v3 (2024-06-01)", "a1b2c3d4-9876-5432-1234-499181234560"}
	sec := &secrets{Number: validNumber, OTP: testOTP, Mobile: testMobile, Secret: testSecret}
	now := time.Now()
	for n := 0; n < 30000; n++ {
		var s string
		if n < len(seeds) {
			s, _ = strconv.Unquote(`"` + seeds[n] + `"`)
		} else {
			var b strings.Builder
			for k := rng.IntN(24); k >= 0; k-- {
				b.WriteString(alphabet[rng.IntN(len(alphabet))])
			}
			s = b.String()
		}
		e := ConsentEvidence{NoticeID: s, NoticeVersion: s, Language: s, Channel: s, Operator: s, DecidedAt: now.Add(-time.Second)}
		if n%2 == 1 { // the reference and the hash alone (their own checks)
			e = ConsentEvidence{NoticeSHA256: s, CustomerRef: s}
		}
		if err := checkEvidence(&e, false, now, sec); err == nil {
			r := e.forRecord(sec)
			for _, v := range []string{r.NoticeID, r.NoticeVersion, r.NoticeSHA256, r.Language, r.Channel, r.Operator, r.CustomerRef} {
				for _, k := range []string{validNumber, testOTP, testMobile, testSecret} {
					if strings.Contains(v, k) {
						t.Fatalf("accepted evidence %q reaches the record holding %q: %q", s, k, v)
					}
				}
			}
		}
		if isHex(s, 64) {
			continue // a SHA-256 shows
		}
		out := shown(s)
		if out != "[REDACTED]" && out != `""` {
			v, err := strconv.Unquote(out)
			if err != nil || v != s {
				t.Fatalf("shown(%q) = %s", s, out)
			}
			if n := longestNumber(s); n >= redact.MinKnownDigits || strings.Contains(s, "@") || !asciiDigitsOnly(s) {
				t.Fatalf("printing shows %q (a number of %d digits, or an '@')", s, n)
			}
			for _, k := range []string{validNumber, testOTP, testMobile} {
				if strings.Contains(s, k) {
					t.Fatalf("printing shows %q", s)
				}
			}
		}
	}
}

// TestEvidenceRefusesPersonalDataInAnySpelling: another customer's Aadhaar
// number, a mobile number or an e-mail address in the evidence, spelled
// with any separator (an underscore, a comma, a colon, a no-break or
// zero-width space), percent-encoded or as HTML character references
// (encoded twice too), or after a 0091 prefix, is refused in every text and
// in CustomerRef before anything is sent, and printing the evidence shows
// none of it. Before, each of these passed the checks and reached the
// audit record in clear (a mobile number or e-mail in any text; any of them
// in CustomerRef), and "4991&nbsp;8123&nbsp;4560" printed as it is.
func TestEvidenceRefusesPersonalDataInAnySpelling(t *testing.T) {
	spellings := []string{
		// another customer's Aadhaar number
		"4991_8123_4560", "4991,8123,4560", "4991:8123:4560", "4991|8123|4560", "4991~8123~4560",
		"4991%208123%204560", "4991%25208123%25204560", "4991&nbsp;8123&nbsp;4560", "4991&amp;nbsp;8123&amp;nbsp;4560",
		"&#52;&#57;&#57;&#49;81234560", "%34%39%39%3181234560", "&#x34;991 8123 4560",
		// a mobile number
		"9876_543_210", "cust_9876_543_210", "98765,43210", "98765:43210", "+91_98765_43210", "0091 98765 43210",
		"98765%2043210", "98765&#32;43210", "98765&nbsp;43210", "%39876543210", "&#57;876543210",
		// an e-mail address
		"priya%40example.com", "priya&#64;example.com", "priya&#x40;example.com", "priya%2540example.com",
	}
	nonASCII := []string{"4991\u00a08123\u00a04560", "98765\u200b43210", "98765\u00a043210", "98765\u2060432\u00ad10"}
	sec := &secrets{Number: validNumber, Secret: testSecret}
	for _, v := range append(spellings, nonASCII...) {
		if !strings.ContainsAny(v, "\u00a0\u200b\u2060\u00ad") {
			assert.NotEmpty(t, customerRefProblem(v, sec), "CustomerRef %q accepted", v)
		}
		assert.NotEmpty(t, evidenceTextProblem("notice "+v, sec), "evidence text %q accepted", v)
		e := ConsentEvidence{NoticeID: v, Operator: "by " + v, CustomerRef: v}
		for _, out := range []string{fmt.Sprint(e), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e)} {
			assert.NotContains(t, out, v, "printing the evidence shows %q", v)
		}
	}

	// Through a Client: refused, nothing sent, nothing recorded.
	sink := &auditSink{}
	c, mt := mockClient(t, WithAuditLog(sink.fn), WithRetryMax(0))
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(200, successBody))
	for _, v := range spellings {
		for _, set := range []func(e *ConsentEvidence){
			func(e *ConsentEvidence) { e.Operator = "agent " + v },
			func(e *ConsentEvidence) { e.CustomerRef = v },
		} {
			e := completeEvidence()
			set(&e)
			_, err := c.GenerateOTP(WithConsentEvidence(context.Background(), e), validNumber, ConsentYes, testPurpose)
			var ve *ValidationError
			require.ErrorAs(t, err, &ve, "%q", v)
			assert.Equal(t, FieldConsentEvidence, ve.Field)
			assert.ErrorIs(t, err, ErrNotSent)
		}
	}
	assert.Zero(t, mt.GetTotalCallCount())
	assert.Empty(t, sink.records())
}

// TestPurposeInTheRecordHoldsNoMobileOrEmail: a purpose is sent to Deepvue
// as the caller gives it, but the audit trail never holds a mobile number
// or an e-mail address (AuditRecord's promise): a purpose carrying one, in
// any spelling, reaches the consent, outcome and decision records with its
// digits masked and its e-mail address replaced. Before, each went into
// the record in clear (only Aadhaar-like numbers and the call's own values
// were masked).
func TestPurposeInTheRecordHoldsNoMobileOrEmail(t *testing.T) {
	sink := &auditSink{}
	c, mt := mockClient(t, WithAuditLog(sink.fn), WithRetryMax(0))
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(200, successBody))
	leaks := map[string][]string{
		"KYC for 9876543210":                   {"9876543210"},
		"KYC for +91 98765 43210":              {"98765 43210"},
		"KYC for 98765_43210":                  {"98765_43210"},
		"KYC for 98765%2043210":                {"98765%2043210"},
		"KYC for 0091-98765-43210":             {"98765-43210"},
		"KYC for priya@example.com":            {"priya@example.com", "priya"},
		"KYC, contact priya%40example.com":     {"priya%40example.com", "priya"},
		"KYC, contact priya&#64;example.com x": {"priya&#64;example.com", "priya"},
	}
	for purpose, clear := range leaks {
		n := len(sink.records())
		_, err := c.GenerateOTP(WithConsentEvidence(context.Background(), completeEvidence()), validNumber, ConsentYes, purpose)
		require.NoError(t, err, purpose)
		dec, err := DecisionRecord(ConsentWithdrawn, purpose, completeEvidence())
		require.NoError(t, err, purpose)
		recs := append(sink.records()[n:], dec)
		require.Len(t, recs, 3)
		for _, r := range recs {
			for _, v := range clear {
				assert.NotContains(t, r.Purpose, v, "%s record of purpose %q", r.Stage, purpose)
			}
			assert.True(t, strings.HasPrefix(r.Purpose, "KYC"), "the purpose's words stay: %q", r.Purpose)
		}
	}
	// A purpose without customer data is kept as given.
	n := len(sink.records())
	_, err := c.GenerateOTP(WithConsentEvidence(context.Background(), completeEvidence()), validNumber, ConsentYes, "KYC for loan 2025/17, v3")
	require.NoError(t, err)
	for _, r := range sink.records()[n:] {
		assert.Equal(t, "KYC for loan 2025/17, v3", r.Purpose)
	}
}

// TestPlainPurposeIsKeptByTheSlowPath: a purpose plainPurpose lets through
// as it is is one the full check would keep too (no personal number, nothing
// to read as an e-mail), over 50,000 random purposes of digits, separators,
// letters, escapes and other scripts' digits.
func TestPlainPurposeIsKeptByTheSlowPath(t *testing.T) {
	alphabet := []string{"0", "1", "6", "7", "9", " ", "-", ".", "_", "+", "a", "K", "@", "%", "&", "#", ";",
		"\u0966", "\u096f", "\uff10", "\u200b"}
	rng := mrand.New(mrand.NewPCG(1, 2))
	plain := 0
	for i := 0; i < 50000; i++ {
		var b strings.Builder
		for n := rng.IntN(24); n > 0; n-- {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		p := b.String()
		if !plainPurpose(p) {
			continue
		}
		plain++
		require.Empty(t, personalNumber(p, false), "plainPurpose(%q) but the full check finds a number", p)
		require.False(t, strings.ContainsAny(p, "@%&"), p)
	}
	t.Logf("%d of 50,000 plain", plain)
	assert.Greater(t, plain, 1000)
}
