package deepvueaudit_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue/deepvueaudit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// assertNoNumberIn fails if the Aadhaar test vector 234123412346 shows in
// any rendering of err (every fmt verb, JSON of its problems, a slog JSON
// record), spelled with any separators.
func assertNoNumberIn(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Error("verify", "err", err)
	texts := []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err),
		fmt.Sprintf("%s", err), fmt.Sprintf("%q", err), buf.String()}
	var ve *deepvueaudit.VerifyError
	if errors.As(err, &ve) {
		j, jerr := json.Marshal(ve)
		require.NoError(t, jerr)
		texts = append(texts, string(j))
		for _, p := range ve.Problems {
			texts = append(texts, fmt.Sprintf("%#v", p), p.Error())
		}
	}
	var ce *deepvueaudit.ChainError
	if errors.As(err, &ce) {
		texts = append(texts, fmt.Sprintf("%#v", ce))
	}
	for _, s := range texts {
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			if r >= '०' && r <= '९' { // Devanagari
				return '0' + r - '०'
			}
			return -1
		}, s)
		assert.NotContains(t, digits, "234123412346", "the number an insider wrote shows in %s", s)
	}
}

// TestInsiderRowContentNeverReachesErrorTexts: an insider who writes an
// Aadhaar number into a row's call id (plainly, spaced) or into an archive
// manifest's origin line must not get it printed by Verify, VerifyFull,
// Checkpoint or Proof: their errors name rows by sequence number, and a
// call id only when it is one (32 hex digits).
func TestInsiderRowContentNeverReachesErrorTexts(t *testing.T) {
	pg := postgres(t)
	ctx := context.Background()

	t.Run("call id", func(t *testing.T) {
		tr := newTrail(t, pg)
		calls := []string{tr.call(t), tr.call(t), tr.call(t)}
		_, err := tr.Checkpoint(ctx)
		require.NoError(t, err)
		mustExec(t, tr.db, `UPDATE "`+tr.table+`" SET call_id = '234123412346' WHERE seq = 3`)
		mustExec(t, tr.db, `UPDATE "`+tr.table+`" SET call_id = '2341 2341 2346' WHERE seq = 5`)
		tr.call(t) // rows 7 and 8, after the checkpoint
		mustExec(t, tr.db, `UPDATE "`+tr.table+`" SET call_id = '२३४१२३४१२३४६' WHERE seq = 7`)
		assertNoNumberIn(t, tr.Verify(ctx)) // the Log's first Verify walks the whole trail
		assertNoNumberIn(t, tr.VerifyFull(ctx))
		_, err = tr.Checkpoint(ctx) // refuses: row 7 changed
		assertNoNumberIn(t, err)
		_, err = tr.Proof(ctx, calls[1])
		if err != nil {
			assertNoNumberIn(t, err)
		}
		rehash(t, tr) // the insider recomputes every hash
		assertNoNumberIn(t, tr.VerifyFull(ctx))
		_, err = tr.Checkpoint(ctx)
		assertNoNumberIn(t, err)
	})

	t.Run("archive manifest origin, no checkpoints", func(t *testing.T) {
		db := pg.db(t)
		table := freshTable()
		l := newLog(t, db, table)
		writeRows(t, l, 3, time.Now())
		h := base64.StdEncoding.EncodeToString(make([]byte, 32))
		manifest := "deepvueaudit-archive/234123412346\nsegment 1 1\ncount 1\nroot " + h + "\ntree " + h +
			"\nstart -\nkept -\nreleased -\ncut 2026-01-01T00:00:00Z\ndata " + strings.Repeat("00", 32) +
			"\ntime 2026-01-01T00:00:00Z\n\n— k x\n"
		mustExec(t, db, `INSERT INTO "`+table+`" SELECT tenant, 4, call_id, 'archive', recorded_at, db_time, operation,
			purpose, consent, masked_number, reference_id, transaction_id, outcome, otp_state, attempts, notice_id,
			notice_version, notice_sha256, language, channel, alternatives_offered, decided_at, operator, customer_ref,
			$1, hashes FROM "`+table+`" WHERE seq = 3`, manifest)
		assertNoNumberIn(t, l.VerifyFull(ctx))
	})
}

// TestVerifyProofNeverQuotesTheBundle: a bundle crafted with an Aadhaar
// number as a key or as a number too large for its field (an auditor is
// handed it, and logs what VerifyProof says) does not get the number into
// the error text: encoding/json quotes both.
func TestVerifyProofNeverQuotesTheBundle(t *testing.T) {
	_, v := testKey(t)
	for _, b := range []string{
		`{"234123412346":1}`,
		`{"format":"x","call_id":"00000000000000000000000000000000","rows":[{"seq":234123412346234123412346}]}`,
		`{"format":"x","rows":[{"2341 2341 2346":0}]}`,
	} {
		_, err := deepvueaudit.VerifyProof([]byte(b), v)
		assertNoNumberIn(t, err)
	}
}
