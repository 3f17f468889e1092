package deepvueaudit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvueaudit"
	"github.com/deepvue-go/deepvue/deepvuetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEvidenceAndDecisionsInTheTrail: a Client that requires consent
// evidence and declared purposes, writing to the trail: a call carries its
// evidence into both rows (every field stored); a call without evidence or
// with another purpose writes nothing and sends nothing; a refusal and a
// withdrawal are rows of the same trail with their evidence; a refusal's
// bundle verifies offline; the trail verifies.
func TestEvidenceAndDecisionsInTheTrail(t *testing.T) {
	pg := postgres(t)
	tr := newTrail(t, pg)
	srv := deepvuetest.NewServer(deepvuetest.WithPendingWindow(0))
	defer srv.Close()
	c, err := deepvue.NewClient(srv.ClientID, srv.ClientSecret, deepvue.WithBaseURL(srv.URL),
		deepvue.WithAuditLog(tr.Record), deepvue.RequireConsentEvidence(), deepvue.WithPurposes(purpose))
	require.NoError(t, err)
	ctx := context.Background()
	decided := time.Now().Add(-30 * time.Second).Truncate(time.Microsecond)
	e := deepvue.ConsentEvidence{NoticeID: "aadhaar-ekyc-notice", NoticeVersion: "2025-11", Language: "hi", Channel: "assisted",
		NoticeSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", AlternativesOffered: true,
		DecidedAt: decided, Operator: "branch-042/agent-17", CustomerRef: "c_51f0a2"}
	res, err := c.GenerateOTP(deepvue.WithConsentEvidence(ctx, e), deepvuetest.NumberSuccess, deepvue.ConsentYes, purpose)
	require.NoError(t, err)
	_, err = c.GenerateOTP(ctx, deepvuetest.NumberSuccess, deepvue.ConsentYes, purpose)
	require.ErrorIs(t, err, deepvue.ErrNotSent, "no evidence")
	_, err = c.GenerateOTP(deepvue.WithConsentEvidence(ctx, e), deepvuetest.NumberSuccess, deepvue.ConsentYes, "marketing")
	require.ErrorIs(t, err, deepvue.ErrNotSent, "undeclared purpose")
	assert.Equal(t, 1, srv.Requests(deepvuetest.PathGenerateOTP))

	refusal, err := tr.RecordDecision(ctx, deepvue.ConsentRefused, purpose, e)
	require.NoError(t, err)
	require.NoError(t, c.RecordDecision(deepvue.WithConsentEvidence(ctx, e), deepvue.ConsentWithdrawn, purpose))
	_, err = tr.RecordDecision(ctx, deepvue.ConsentRefused, purpose, deepvue.ConsentEvidence{NoticeID: "n"})
	require.Error(t, err, "a decision needs complete evidence")

	rows, err := tr.db.Query(`SELECT stage, consent, outcome, transaction_id, notice_id, notice_version, notice_sha256, language,
		channel, alternatives_offered, decided_at, operator, customer_ref FROM "` + tr.table + `" ORDER BY seq`)
	require.NoError(t, err)
	defer rows.Close()
	var got []string
	for rows.Next() {
		var stage, consent, outcome, txn, id, version, sha, lang, channel, op, ref string
		var alt bool
		var at time.Time
		require.NoError(t, rows.Scan(&stage, &consent, &outcome, &txn, &id, &version, &sha, &lang, &channel, &alt, &at, &op, &ref))
		assert.Equal(t, []any{e.NoticeID, e.NoticeVersion, e.NoticeSHA256, e.Language, e.Channel, true, e.DecidedAt.UTC(), e.Operator, e.CustomerRef},
			[]any{id, version, sha, lang, channel, alt, at.UTC(), op, ref}, stage)
		got = append(got, stage+"/"+consent+"/"+outcome)
		if stage == "outcome" {
			assert.Equal(t, res.TransactionID, txn)
		}
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []string{"consent/Y/", "outcome/Y/ok", "decision/N/refused", "decision/N/withdrawn"}, got)

	b, err := tr.Proof(ctx, refusal)
	require.NoError(t, err)
	pc, err := deepvueaudit.VerifyProof(b, tr.verifier)
	require.NoError(t, err)
	require.Len(t, pc.Rows, 1)
	assert.Equal(t, "refused", pc.Rows[0].Outcome)
	assert.Equal(t, e.CustomerRef, pc.Rows[0].Evidence.CustomerRef)
	require.NoError(t, tr.Verify(ctx))
}

// hasAadhaarRun reports whether id has 12 consecutive digits that pass the
// Aadhaar checks (the ids the audit path used to drop).
func hasAadhaarRun(id string) bool {
	for i := 0; i+12 <= len(id); i++ {
		if deepvue.ValidateAadhaar(id[i:i+12]) == nil {
			return true
		}
	}
	return false
}

// TestTransactionIDsIntactInTheTrail: Deepvue's 32-hex transaction ids
// reach the outcome rows exact, those holding a 12-digit run that passes
// the Aadhaar checks (40 of them, in success and error answers) as the
// others.
func TestTransactionIDsIntactInTheTrail(t *testing.T) {
	pg := postgres(t)
	l := newLog(t, pg.db(t), freshTable())
	var ids []string
	for len(ids) < 40 {
		if id := callID(t); hasAadhaarRun(id) {
			ids = append(ids, id)
		}
	}
	for i := 0; i < 20; i++ {
		ids = append(ids, callID(t))
	}
	var mu sync.Mutex
	next := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		i := next
		next++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if i%2 == 0 {
			fmt.Fprintf(w, `{"code":200,"sub_code":"SUCCESS","message":"OTP sent","transaction_id":%q,"reference_id":"29756208"}`, ids[i])
			return
		}
		w.WriteHeader(http.StatusConflict)
		fmt.Fprintf(w, `{"code":409,"sub_code":"VERIFICATION_PENDING","message":"wait","transaction_id":%q,"reference_id":""}`, ids[i])
	}))
	defer srv.Close()
	c, err := deepvue.NewClient("id", "live_secret", deepvue.WithBaseURL(srv.URL), deepvue.WithAuditLog(l.Record), deepvue.WithRetryMax(0))
	require.NoError(t, err)
	for range ids {
		_, _ = c.GenerateOTP(context.Background(), deepvuetest.NumberSuccess, deepvue.ConsentYes, purpose)
	}
	rows, err := pg.db(t).Query(`SELECT transaction_id FROM "` + l.Table() + `" WHERE stage = 'outcome' ORDER BY seq`)
	require.NoError(t, err)
	defer rows.Close()
	var got []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		got = append(got, s)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, ids, got)
}
