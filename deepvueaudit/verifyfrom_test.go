package deepvueaudit_test

import (
	"context"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvueaudit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVerifyFromTheLastCheckpoint: a Log's first Verify walks the whole
// trail; the next ones start from the checkpoint it verified (a
// consistency proof, then the rows after it); an outcome after that
// checkpoint whose consent row is before it is not taken for one without
// consent. An older row rewritten with its hashes recomputed fails the
// consistency proof, and the whole trail is walked to name it; one
// changed by plain SQL (its hashes left) is the documented limit:
// VerifyFull and Proof name it.
func TestVerifyFromTheLastCheckpoint(t *testing.T) {
	pg := postgres(t)
	tr := newTrail(t, pg)
	ctx := context.Background()
	var calls []string
	for i := 0; i < 20; i++ {
		calls = append(calls, tr.call(t))
	}
	_, err := tr.Checkpoint(ctx)
	require.NoError(t, err)
	require.NoError(t, tr.Verify(ctx))
	assert.Equal(t, int64(40), deepvueaudit.Walked(tr.Log), "the first Verify walks it all")
	for i := 0; i < 5; i++ {
		tr.call(t)
	}
	_, err = tr.Checkpoint(ctx)
	require.NoError(t, err)
	require.NoError(t, tr.Verify(ctx))
	assert.Equal(t, int64(10), deepvueaudit.Walked(tr.Log), "the rows after the checkpoint verified before")
	require.NoError(t, tr.Verify(ctx))
	assert.Zero(t, deepvueaudit.Walked(tr.Log))

	// The consent before the verified checkpoint, the outcome after it.
	r := record(t, deepvue.AuditConsent, time.Now())
	require.NoError(t, tr.Record(ctx, r))
	_, err = tr.Checkpoint(ctx)
	require.NoError(t, err)
	require.NoError(t, tr.Verify(ctx))
	r.Stage, r.Time, r.Outcome = deepvue.AuditOutcome, time.Now(), "ok"
	require.NoError(t, tr.Record(ctx, r))
	require.NoError(t, tr.Verify(ctx))
	assert.Equal(t, int64(1), deepvueaudit.Walked(tr.Log))
	// An outcome whose consent row is nowhere is still named.
	o := record(t, deepvue.AuditOutcome, time.Now())
	o.Outcome = "ok"
	require.NoError(t, tr.Record(ctx, o))
	ps := problemsOf(t, tr.Verify(ctx))
	hasProblem(t, ps, deepvueaudit.NoConsent, 53, o.CallID)
	mustExec(t, tr.db, `DELETE FROM "`+tr.table+`" WHERE seq = 53`)
	mustExec(t, tr.db, `UPDATE "`+tr.table+`_head" SET size = 52`)
	rehash(t, tr)
	require.NoError(t, tr.Verify(ctx))

	// A signed row rewritten, hashes and all: the consistency check fails
	// and the whole trail is walked.
	mustExec(t, tr.db, `UPDATE "`+tr.table+`" SET purpose = 'marketing' WHERE seq = 5`)
	rehash(t, tr)
	ps = problemsOf(t, tr.Verify(ctx))
	hasProblem(t, ps, deepvueaudit.Changed, 5, calls[2])
	assert.Equal(t, int64(52), deepvueaudit.Walked(tr.Log))
	mustExec(t, tr.db, `UPDATE "`+tr.table+`" SET purpose = $1 WHERE seq = 5`, purpose)
	rehash(t, tr)
	require.NoError(t, tr.Verify(ctx))

	// The limit: a verified row changed by plain SQL is not read again.
	mustExec(t, tr.db, `UPDATE "`+tr.table+`" SET purpose = 'marketing' WHERE seq = 7`)
	require.NoError(t, tr.Verify(ctx), "not re-read: the documented limit of the default")
	hasProblem(t, problems(t, tr.Log), deepvueaudit.Changed, 7, calls[3])
	_, err = tr.Proof(ctx, calls[3])
	var ce *deepvueaudit.ChainError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, int64(7), ce.Seq)
}

// problemsOf returns a Verify error's problems.
func problemsOf(t *testing.T, err error) []*deepvueaudit.ChainError {
	t.Helper()
	var ve *deepvueaudit.VerifyError
	require.ErrorAs(t, err, &ve, "%v", err)
	return ve.Problems
}
