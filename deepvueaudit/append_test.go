package deepvueaudit_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvueaudit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nextXID is the next transaction id PostgreSQL will assign: the count of
// write transactions between two reads.
func nextXID(t testing.TB, tr *trail) int64 {
	t.Helper()
	var x int64
	require.NoError(t, tr.db.QueryRow(`SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint`).Scan(&x))
	return x
}

// TestGroupCommit: 64 goroutines Record 640 rows of 8 tenants at once
// through one Log; PostgreSQL assigns far fewer transactions than rows
// (one per batch: without group commit, one per row), every row is there
// once, and each tenant's trail verifies.
func TestGroupCommit(t *testing.T) {
	pg := postgres(t)
	tr := newTrail(t, pg)
	ctx := context.Background()
	var logs []*deepvueaudit.Log
	for i := 0; i < 8; i++ {
		l, err := tr.ForTenant(fmt.Sprintf("shop-%d", i))
		require.NoError(t, err)
		logs = append(logs, l)
		writeRows(t, l, 1, time.Now()) // its head made
	}
	before := nextXID(t, tr)
	var wg sync.WaitGroup
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				r := record(t, deepvue.AuditConsent, time.Now())
				assert.NoError(t, logs[(w+i)%8].Record(ctx, r))
			}
		}()
	}
	wg.Wait()
	xids := nextXID(t, tr) - before
	t.Logf("640 rows of 8 tenants by 64 goroutines: %d transactions", xids)
	// Without group commit every row is a transaction of its own (640 or
	// more); a loaded machine that runs the goroutines one by one still
	// leaves at least two rows a transaction (181 were seen under -race
	// beside other jobs, 20-40 on a quiet machine).
	assert.Less(t, xids, int64(640/2), "rows share transactions")
	for _, l := range logs {
		assert.Equal(t, 81, count(t, tr, `tenant = $1`, l.Tenant()))
		require.NoError(t, l.VerifyFull(ctx))
	}
}

// TestRecordAfterContextEnds: a Record whose context has ended returns at
// once with its error and appends nothing.
func TestRecordAfterContextEnds(t *testing.T) {
	pg := postgres(t)
	tr := newTrail(t, pg)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := tr.Record(ctx, record(t, deepvue.AuditConsent, time.Now()))
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, count(t, tr, `true`))
}

// blockingArchive is an ArchiveStore that blocks its first Create until
// released.
type blockingArchive struct {
	*memStore
	once    sync.Once
	reached chan struct{}
	release chan struct{}
}

func (b *blockingArchive) Create(ctx context.Context, name string, data []byte) error {
	b.once.Do(func() {
		close(b.reached)
		<-b.release
	})
	return b.memStore.Create(ctx, name, data)
}

// TestAppendsGoOnDuringAPurgeBatch: while a Purge batch is in progress
// (stopped as it archives its segment, its rows already deleted in its
// transaction), appends to the same tenant complete: the batch holds the
// append path only to move the anchor at its end. (Before, a Purge held
// the head's lock from its start to its commit: these appends waited.)
func TestAppendsGoOnDuringAPurgeBatch(t *testing.T) {
	pg := postgres(t)
	tr := newTrail(t, pg)
	ctx := context.Background()
	start := time.Now()
	for i := 0; i < 5; i++ {
		callAt(t, tr.Log, start.Add(-time.Minute))
	}
	archive := &blockingArchive{memStore: newMemStore(), reached: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := tr.Purge(ctx, keepFor(0, archive, start))
		done <- err
	}()
	<-archive.reached
	for i := 0; i < 3; i++ {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := tr.Record(rctx, record(t, deepvue.AuditConsent, time.Now()))
		cancel()
		require.NoError(t, err, "an append while the batch archives")
	}
	_, err := tr.Checkpoint(ctx)
	require.NoError(t, err, "a checkpoint while the batch archives")
	close(archive.release)
	require.NoError(t, <-done)
	require.NoError(t, tr.VerifyFull(ctx))
	_, err = tr.VerifyArchive(ctx, archive)
	require.NoError(t, err)
}
