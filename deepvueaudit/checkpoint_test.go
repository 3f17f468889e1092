package deepvueaudit_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvueaudit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDirStoreNeverOverwrites: a second Create of a name fails with
// fs.ErrExist and leaves the first content; names that could leave the
// folder are refused; files are read-only; List shows what Create made.
func TestDirStoreNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	s := deepvueaudit.DirStore(dir)
	ctx := context.Background()
	require.NoError(t, s.Create(ctx, "t/a.note", []byte("first")))
	err := s.Create(ctx, "t/a.note", []byte("second"))
	require.ErrorIs(t, err, fs.ErrExist)
	got, err := s.Read(ctx, "t/a.note")
	require.NoError(t, err)
	assert.Equal(t, "first", string(got))
	fi, err := os.Stat(filepath.Join(dir, "t", "a.note"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o444), fi.Mode().Perm())
	for _, bad := range []string{"../x", "/etc/x", "t/../../x", "t//x", "", "t/a b", `t\x`} {
		assert.Error(t, s.Create(ctx, bad, []byte("x")), bad)
	}
	require.NoError(t, s.Create(ctx, "t/b.leaves", []byte("b")))
	names, err := s.List(ctx, "t/")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"a.note", "b.leaves"}, names)
	_, err = s.Read(ctx, "t/none")
	assert.ErrorIs(t, err, fs.ErrNotExist)
	// Racing writers of one name: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s.Create(ctx, "t/race.note", []byte{byte(i)}) == nil {
				mu.Lock()
				won++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 1, won)
}

// TestBackgroundCheckpoints: the Log signs a checkpoint once the rows set
// by WithCheckpointEvery are unsigned, and another the interval after an
// unsigned row; Close signs the rest. Every checkpoint verifies, and the
// trail with them.
func TestBackgroundCheckpoints(t *testing.T) {
	pg := postgres(t)
	tr := newTrail(t, pg, deepvueaudit.WithCheckpointEvery(4, 300*time.Millisecond))
	ctx := context.Background()
	latest := func() int64 {
		names, err := tr.store.List(ctx, tr.table+"/")
		require.NoError(t, err)
		best := int64(-1)
		for _, n := range names {
			if s, ok := strings.CutSuffix(n, ".note"); ok {
				var size int64
				for _, c := range s[:20] {
					size = size*10 + int64(c-'0')
				}
				best = max(best, size)
			}
		}
		return best
	}
	waitFor := func(size int64) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for latest() < size {
			require.True(t, time.Now().Before(deadline), "no checkpoint of size %d (latest %d)", size, latest())
			time.Sleep(10 * time.Millisecond)
		}
	}
	for i := 0; i < 2; i++ {
		tr.call(t) // 4 rows
	}
	waitFor(4)
	tr.call(t) // rows 5 and 6: under the row count, signed after the interval
	waitFor(6)
	r := record(t, deepvue.AuditConsent, time.Now())
	require.NoError(t, tr.Record(ctx, r))
	require.NoError(t, tr.Close(ctx))
	assert.Equal(t, int64(7), latest(), "Close signed the last row")
	require.NoError(t, tr.Verify(ctx))
}

// TestReplicasShareCheckpoints: four Logs on one table and one store (four
// replicas) append and checkpoint at once; every checkpoint any of them
// wrote agrees, and the trail verifies against them.
func TestReplicasShareCheckpoints(t *testing.T) {
	pg := postgres(t)
	tr := newTrail(t, pg, deepvueaudit.WithCheckpointEvery(7, time.Second))
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		l := tr.open(t, pg.db(t), deepvueaudit.WithCheckpointEvery(7, time.Second))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 15; i++ {
				r := record(t, deepvue.AuditConsent, time.Now())
				assert.NoError(t, l.Record(context.Background(), r))
				if i%5 == 4 {
					_, err := l.Checkpoint(context.Background())
					assert.NoError(t, err)
				}
			}
		}()
	}
	wg.Wait()
	cp, err := tr.Checkpoint(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(60), cp.Size)
	require.NoError(t, tr.Verify(context.Background()))
}

// TestVerifyOnlyLog: an audit job holding the public key alone (a nil
// signer) verifies the trail and proves signed calls, signs nothing, and
// still names an edit.
func TestVerifyOnlyLog(t *testing.T) {
	pg := postgres(t)
	tr := newTrail(t, pg)
	ctx := context.Background()
	var calls []string
	for i := 0; i < 3; i++ {
		calls = append(calls, tr.call(t))
	}
	_, err := tr.Checkpoint(ctx)
	require.NoError(t, err)
	audit, err := deepvueaudit.Open(ctx, pg.db(t), deepvueaudit.WithTable(tr.table), deepvueaudit.WithCheckpoints(tr.store, nil, tr.verifier))
	require.NoError(t, err)
	defer audit.Close(ctx)
	require.NoError(t, audit.Verify(ctx))
	b, err := audit.Proof(ctx, calls[1])
	require.NoError(t, err)
	_, err = deepvueaudit.VerifyProof(b, tr.verifier)
	require.NoError(t, err)
	_, err = audit.Checkpoint(ctx)
	assert.ErrorIs(t, err, deepvueaudit.ErrNoSigner)
	late := tr.call(t)
	_, err = audit.Proof(ctx, late)
	assert.ErrorIs(t, err, deepvueaudit.ErrNoSigner, "an unsigned call needs a signer")
	mustExec(t, tr.db, `UPDATE "`+tr.table+`" SET purpose = 'marketing' WHERE seq = 3`)
	rehash(t, &trail{table: tr.table, db: tr.db})
	hasProblem(t, problems(t, audit), deepvueaudit.Changed, 3, calls[1])
}

// hookStore runs hook once, at the first List after it is armed, before
// listing.
type hookStore struct {
	deepvueaudit.CheckpointStore
	armed atomic.Bool
	hook  func()
}

func (s *hookStore) List(ctx context.Context, prefix string) ([]string, error) {
	if s.armed.CompareAndSwap(true, false) {
		s.hook()
	}
	return s.CheckpointStore.List(ctx, prefix)
}

// TestAnotherReplicasCheckpointMeanwhile: while one Log verifies or signs,
// another replica appends a row and signs a checkpoint of it, just as the
// first lists the store. Verify, VerifyFull and Checkpoint see no problem
// (listed after the snapshot began, that checkpoint signed a row the
// snapshot could not see: "row 56 deleted" in a run of
// TestReplicasShareCheckpoints).
func TestAnotherReplicasCheckpointMeanwhile(t *testing.T) {
	pg := postgres(t)
	for _, op := range []string{"Verify", "VerifyFull", "Checkpoint", "Proof"} {
		t.Run(op, func(t *testing.T) {
			ctx := context.Background()
			tr := newTrail(t, pg)
			id := tr.call(t)
			tr.call(t)
			_, err := tr.Checkpoint(ctx)
			require.NoError(t, err)
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
			switch op {
			case "Verify":
				assert.NoError(t, l.Verify(ctx))
			case "VerifyFull":
				assert.NoError(t, l.VerifyFull(ctx))
			case "Checkpoint":
				cp, err := l.Checkpoint(ctx)
				require.NoError(t, err)
				assert.Equal(t, int64(5), cp.Size, "the other replica's row signed too")
			case "Proof":
				b, err := l.Proof(ctx, id)
				require.NoError(t, err)
				_, err = deepvueaudit.VerifyProof(b, tr.verifier)
				assert.NoError(t, err)
			}
			assert.False(t, hs.armed.Load(), "the hook ran")
			require.NoError(t, l.VerifyFull(ctx))
		})
	}
}
