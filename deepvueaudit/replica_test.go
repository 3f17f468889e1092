package deepvueaudit_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvueaudit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// afterListStore runs hook once, at the first List after it is armed,
// after listing: what another replica does between a Log's listing of the
// checkpoints and the start of its snapshot.
type afterListStore struct {
	deepvueaudit.CheckpointStore
	armed atomic.Bool
	hook  func()
}

func (s *afterListStore) List(ctx context.Context, prefix string) ([]string, error) {
	names, err := s.CheckpointStore.List(ctx, prefix)
	if s.armed.CompareAndSwap(true, false) {
		s.hook()
	}
	return names, err
}

// TestAnotherReplicasPurgeMeanwhile: another replica's Purge signs its
// anchor and commits between a Log's listing of the checkpoints and the
// start of its snapshot (then appends a row). The snapshot sees the new
// anchor, the listing not the Purge's checkpoint: Verify and VerifyFull see
// no problem (they named "anchor moved without a signed Purge"), and a
// Checkpoint states the Purge's anchor (it stated the old one, and every
// checkpoint after it did too: an incremental Verify from one of them then
// named "anchor moved").
func TestAnotherReplicasPurgeMeanwhile(t *testing.T) {
	pg := postgres(t)
	for _, op := range []string{"Verify", "VerifyFull", "Checkpoint"} {
		t.Run(op, func(t *testing.T) {
			ctx := context.Background()
			tr := newTrail(t, pg)
			archive := newMemStore()
			now := time.Now()
			writeRows(t, tr.Log, 10, now.Add(-3*time.Minute))
			writeRows(t, tr.Log, 6, now.Add(-time.Minute))
			_, err := tr.Checkpoint(ctx)
			require.NoError(t, err)
			other := tr.open(t, pg.db(t))
			hs := &afterListStore{CheckpointStore: tr.store}
			hs.hook = func() {
				res, err := other.Purge(ctx, keepFor(150*time.Second, archive, now))
				assert.NoError(t, err)
				assert.Equal(t, int64(10), res.Rows)
				assert.NoError(t, other.Record(ctx, record(t, deepvue.AuditConsent, time.Now())))
			}
			l, err := deepvueaudit.Open(ctx, pg.db(t), deepvueaudit.WithTable(tr.table),
				deepvueaudit.WithCheckpoints(hs, tr.signer, tr.verifier))
			require.NoError(t, err)
			defer l.Close(ctx)
			hs.armed.Store(true)
			switch op {
			case "Verify":
				assert.NoError(t, l.Verify(ctx))
			case "VerifyFull":
				assert.NoError(t, l.VerifyFull(ctx))
			case "Checkpoint":
				cp, err := l.Checkpoint(ctx)
				require.NoError(t, err)
				assert.Equal(t, int64(18), cp.Size)
				assert.Equal(t, int64(10), cp.Anchor, "the anchor the Purge signed and committed")
			}
			assert.False(t, hs.armed.Load(), "the hook ran")
			// A Log that verifies the whole trail, then from its latest
			// checkpoint.
			v := tr.open(t, pg.db(t))
			require.NoError(t, v.VerifyFull(ctx))
			require.NoError(t, other.Record(ctx, record(t, deepvue.AuditConsent, time.Now())))
			_, err = other.Checkpoint(ctx)
			require.NoError(t, err)
			require.NoError(t, v.Verify(ctx))
			require.NoError(t, l.VerifyFull(ctx))
			_, err = l.VerifyArchive(ctx, archive)
			require.NoError(t, err)
		})
	}
}

// TestVerifyArchiveWhileAnotherReplicaSigns: another replica appends a row
// and signs a checkpoint of it as VerifyArchive lists the checkpoints.
// VerifyArchive sees no problem (its snapshot, begun before, could not read
// the new row that checkpoint signed: "proving rows: row 18 is missing").
func TestVerifyArchiveWhileAnotherReplicaSigns(t *testing.T) {
	pg := postgres(t)
	ctx := context.Background()
	tr := newTrail(t, pg)
	archive := newMemStore()
	now := time.Now()
	writeRows(t, tr.Log, 10, now.Add(-3*time.Minute))
	writeRows(t, tr.Log, 6, now.Add(-time.Minute))
	res, err := tr.Purge(ctx, keepFor(150*time.Second, archive, now))
	require.NoError(t, err)
	require.Len(t, res.Segments, 1)
	other := tr.open(t, pg.db(t))
	hs := &hookStore{CheckpointStore: tr.store}
	hs.hook = func() {
		assert.NoError(t, other.Record(ctx, record(t, deepvue.AuditConsent, time.Now())))
		_, err := other.Checkpoint(ctx)
		assert.NoError(t, err)
	}
	l, err := deepvueaudit.Open(ctx, pg.db(t), deepvueaudit.WithTable(tr.table),
		deepvueaudit.WithCheckpoints(hs, tr.signer, tr.verifier))
	require.NoError(t, err)
	defer l.Close(ctx)
	hs.armed.Store(true)
	rep, err := l.VerifyArchive(ctx, archive)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Segments)
	assert.False(t, hs.armed.Load(), "the hook ran")
	require.NoError(t, l.VerifyFull(ctx))
}

// TestPurgePastTheListedCheckpoints: another replica's Purge, whose rows
// the latest checkpoint a Log listed does not reach, commits between that
// listing and the Log's snapshot. Checkpoint (the background one's code)
// and Proof see no problem: they named "the rows of the latest checkpoint
// (size 4) cannot be read", those rows being purged (and a Log that had
// signed that checkpoint itself named rows 5 to 10 missing).
func TestPurgePastTheListedCheckpoints(t *testing.T) {
	pg := postgres(t)
	for _, op := range []string{"Checkpoint", "CheckpointOfItsSigner", "Proof", "Verify", "VerifyFull"} {
		t.Run(op, func(t *testing.T) {
			ctx := context.Background()
			tr := newTrail(t, pg)
			archive := newMemStore()
			now := time.Now()
			writeRows(t, tr.Log, 4, now.Add(-3*time.Minute))
			other := tr.open(t, pg.db(t))
			hs := &afterListStore{CheckpointStore: tr.store}
			l, err := deepvueaudit.Open(ctx, pg.db(t), deepvueaudit.WithTable(tr.table),
				deepvueaudit.WithCheckpoints(hs, tr.signer, tr.verifier))
			require.NoError(t, err)
			defer l.Close(ctx)
			cp, err := l.Checkpoint(ctx)
			require.NoError(t, err)
			require.Equal(t, int64(4), cp.Size)
			writeRows(t, tr.Log, 6, now.Add(-3*time.Minute))
			ids := writeRows(t, tr.Log, 6, now.Add(-time.Minute))
			hs.hook = func() {
				res, err := other.Purge(ctx, keepFor(150*time.Second, archive, now))
				assert.NoError(t, err)
				assert.Equal(t, int64(10), res.Rows)
				assert.NoError(t, other.Record(ctx, record(t, deepvue.AuditConsent, time.Now())))
			}
			if op != "CheckpointOfItsSigner" {
				// A Log that has not read the checkpoint of size 4 yet.
				l, err = deepvueaudit.Open(ctx, pg.db(t), deepvueaudit.WithTable(tr.table),
					deepvueaudit.WithCheckpoints(hs, tr.signer, tr.verifier))
				require.NoError(t, err)
				defer l.Close(ctx)
			}
			hs.armed.Store(true)
			switch op {
			case "Checkpoint", "CheckpointOfItsSigner":
				cp, err := l.Checkpoint(ctx)
				require.NoError(t, err)
				assert.Equal(t, int64(18), cp.Size)
				assert.Equal(t, int64(10), cp.Anchor)
			case "Proof":
				b, err := l.Proof(ctx, ids[0])
				require.NoError(t, err)
				_, err = deepvueaudit.VerifyProof(b, tr.verifier)
				assert.NoError(t, err)
			case "Verify":
				assert.NoError(t, l.Verify(ctx))
			case "VerifyFull":
				assert.NoError(t, l.VerifyFull(ctx))
			}
			assert.False(t, hs.armed.Load(), "the hook ran")
			require.NoError(t, l.VerifyFull(ctx))
			_, err = l.VerifyArchive(ctx, archive)
			require.NoError(t, err)
		})
	}
}
