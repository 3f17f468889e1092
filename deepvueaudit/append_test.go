package deepvueaudit_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvueaudit"
	"github.com/jackc/pgx/v5/stdlib"
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

// lostCommitConnector opens pgx connections whose COMMITs can be held
// (each waits on hold while it is not nil) and whose loseNth-th applied
// COMMIT is reported as a connection lost: what a client sees when the
// COMMIT's answer never arrives.
type lostCommitConnector struct {
	driver.Connector
	hold    atomic.Pointer[chan struct{}]
	holding atomic.Int32 // COMMITs waiting on hold
	loseNth atomic.Int32
	seen    atomic.Int32 // COMMITs applied
}

func (c *lostCommitConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &lostCommitConn{Conn: conn.(*stdlib.Conn), c: c}, nil
}

type lostCommitConn struct {
	*stdlib.Conn
	c *lostCommitConnector
}

func (c *lostCommitConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.Conn.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &lostCommitTx{Tx: tx, c: c.c}, nil
}

type lostCommitTx struct {
	driver.Tx
	c *lostCommitConnector
}

func (t *lostCommitTx) Commit() error {
	if h := t.c.hold.Load(); h != nil {
		t.c.holding.Add(1)
		<-*h
	}
	err := t.Tx.Commit()
	if err == nil && t.c.seen.Add(1) == t.c.loseNth.Load() {
		return errors.New("read tcp 127.0.0.1:5432: connection reset by peer")
	}
	return err
}

// TestLostCommitAnswerNeverRecordsTwice: a batch of two tenants' rows whose
// COMMIT the server applied but whose answer was lost is not tried again
// tenant by tenant (that recorded every row twice, each acknowledged): its
// callers get an error saying the rows may have been recorded, and each row
// is in the trail once.
func TestLostCommitAnswerNeverRecordsTwice(t *testing.T) {
	pg := postgres(t)
	tr := newTrail(t, pg)
	ctx := context.Background()
	base, err := stdlib.GetDefaultDriver().(driver.DriverContext).OpenConnector(pg.dsn())
	require.NoError(t, err)
	conn := &lostCommitConnector{Connector: base}
	db := sql.OpenDB(conn)
	t.Cleanup(func() { _ = db.Close() })
	a := tr.open(t, db)
	b, err := a.ForTenant("shop-b")
	require.NoError(t, err)
	writeRows(t, a, 1, time.Now()) // the heads made
	writeRows(t, b, 1, time.Now())

	// A lone writer's COMMIT held; two rows of two tenants queue behind it
	// and make the next batch, whose COMMIT's answer is lost.
	conn.loseNth.Store(conn.seen.Load() + 2) // the held COMMIT is the next, the batch's the one after
	hold := make(chan struct{})
	conn.hold.Store(&hold)
	first := make(chan error, 1)
	go func() { first <- a.Record(ctx, record(t, deepvue.AuditConsent, time.Now())) }()
	require.Eventually(t, func() bool { return conn.holding.Load() == 1 }, 10*time.Second, time.Millisecond)
	conn.hold.Store(nil)
	errs := make(chan error, 2)
	ra, rb := record(t, deepvue.AuditConsent, time.Now()), record(t, deepvue.AuditConsent, time.Now())
	go func() { errs <- a.Record(ctx, ra) }()
	go func() { errs <- b.Record(ctx, rb) }()
	require.Eventually(t, func() bool { return deepvueaudit.Queued(a) == 2 }, 10*time.Second, time.Millisecond,
		"both rows queued behind the held COMMIT")
	close(hold)
	require.NoError(t, <-first)
	for i := 0; i < 2; i++ {
		err := <-errs
		require.Error(t, err, "a COMMIT without an answer is not an acknowledgement")
		assert.Contains(t, err.Error(), "may have been recorded")
	}
	assert.Equal(t, 1, count(t, tr, `call_id = $1`, ra.CallID), "the row of shop-b's neighbour, once")
	assert.Equal(t, 1, count(t, tr, `call_id = $1`, rb.CallID), "shop-b's row, once")
	require.NoError(t, a.VerifyFull(ctx))
	require.NoError(t, b.VerifyFull(ctx))
}
