package deepvueaudit_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os/exec"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvueaudit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
)

// TestRecordsAndBundlesOf040StillVerify: a call's row hashes as it did in
// deepvueaudit 0.4.0 (its leaf layout is kept; only rows with a Detail, new
// stages, take layout v2), and a bundle of a call is byte for byte 0.4.0's
// (golden values computed with 0.4.0's code): trails and bundles made
// before issue 23 still verify.
func TestRecordsAndBundlesOf040StillVerify(t *testing.T) {
	at := time.Date(2026, 12, 6, 10, 11, 12, 345678000, time.UTC)
	r := &deepvueaudit.Row{Tenant: "merchant-0042", Seq: 7, CallID: "0123456789abcdef0123456789abcdef", Stage: "outcome", RecordedAt: at,
		DBTime: at.Add(time.Millisecond), Operation: "generate-otp", Purpose: "KYC for loan account opening", Consent: "Y",
		MaskedNumber: "XXXX XXXX 2346", ReferenceID: "29756208", TransactionID: "12815fb81c084fb7a35eedc0ef1c5a84",
		Outcome: "ok", OTPState: "sent", Attempts: 1,
		Evidence: deepvue.ConsentEvidence{NoticeID: "ekyc-notice", NoticeVersion: "3", NoticeSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
			Language: "hi", Channel: "web", AlternativesOffered: true, DecidedAt: at.Add(-time.Minute), Operator: "onboarding-web", CustomerRef: "c_51f0a2"}}
	h := deepvueaudit.LeafHash(r)
	assert.Equal(t, "6d205ab8e8cadeb7cdd0717fe392d54d8a927a19af253c5a56a3d52c4cfa2d61", hex.EncodeToString(h[:]))
	r.Detail = "CS(COMM) 41/2026"
	assert.NotEqual(t, h, deepvueaudit.LeafHash(r), "the detail is in the leaf")

	skey, _, err := note.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{7}, 64)), "golden")
	require.NoError(t, err)
	s, err := note.NewSigner(skey)
	require.NoError(t, err)
	b, err := deepvueaudit.MemoryBundle(s, 10, 2)
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	assert.Equal(t, "ffb502af34432bc060e724a08492d80994bf58e54e7436182e6bc2ac2d1c1843", hex.EncodeToString(sum[:]))
	assert.NotContains(t, string(b), `"detail"`)
}

// TestSchemaUpgradesA040Table: the tables of deepvueaudit 0.4.0
// (testdata/schema_0.4.0.sql) with rows in them take Schema's SQL, keep
// their rows (which verify), and take the records, tenants and purges of
// now.
func TestSchemaUpgradesA040Table(t *testing.T) {
	pg := postgres(t)
	db := pg.db(t)
	ctx := context.Background()
	table := freshTable()
	old, err := exec.Command("sed", "s/deepvue_audit/"+table+"/g; /GRANT/d", "testdata/schema_0.4.0.sql").Output()
	require.NoError(t, err)
	mustExec(t, db, string(old))
	// A row as 0.4.0 wrote it (a call's rows keep 0.4.0's leaf layout).
	mustExec(t, db, `INSERT INTO "`+table+`" (tenant, seq, call_id, stage, recorded_at, db_time, operation, purpose, consent,
		masked_number, reference_id, transaction_id, outcome, otp_state, attempts, notice_id, notice_version, notice_sha256,
		language, channel, alternatives_offered, decided_at, operator, customer_ref, hashes)
		VALUES ('', 1, '0123456789abcdef0123456789abcdef', 'consent', now(), now(), 'generate-otp', 'p', 'Y', '', '', '', '', '', 0,
		'', '', '', '', '', false, NULL, '', '', '\x00')`)
	ddl, err := deepvueaudit.Schema(table)
	require.NoError(t, err)
	mustExec(t, db, ddl)
	// Its hashes, as 0.4.0 computed them (a call's row keeps 0.4.0's leaf:
	// TestRecordsAndBundlesOf040StillVerify).
	require.NoError(t, deepvueaudit.Rehash(ctx, db, table))
	tr := &trail{table: table, db: db, store: deepvueaudit.DirStore(t.TempDir())}
	tr.signer, tr.verifier = testKey(t)
	tr.Log = tr.open(t, db)
	require.NoError(t, tr.VerifyFull(ctx))
	tr.call(t)
	m, err := tr.ForTenant("merchant-7")
	require.NoError(t, err)
	callAt(t, m, time.Now())
	require.NoError(t, tr.Hold(ctx, "0123456789abcdef0123456789abcdef", "dispute 4"))
	_, err = tr.Checkpoint(ctx)
	require.NoError(t, err)
	require.NoError(t, tr.VerifyFull(ctx))
	res, err := tr.Purge(ctx, deepvueaudit.Retention{AllowUnderOneYear: true, Archive: newMemStore()})
	require.NoError(t, err)
	assert.Equal(t, int64(2), res.Rows)
	require.NoError(t, tr.VerifyFull(ctx))
}
