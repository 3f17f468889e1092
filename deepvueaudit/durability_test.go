package deepvueaudit_test

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNoAcknowledgedRowLostWithAsyncCommitServer: the server's
// configuration says synchronous_commit = off (a commit is acknowledged
// before its WAL is flushed); eight writers append consent rows; the server
// is killed (an immediate shutdown, as a crash) under them. After a
// restart every row Record acknowledged is there: each append pins
// synchronous_commit on for its own transaction. (Without that, a run
// loses the rows acknowledged in the last few hundred milliseconds.)
func TestNoAcknowledgedRowLostWithAsyncCommitServer(t *testing.T) {
	pg := postgres(t)
	owner := pg.db(t)
	mustExec(t, owner, `ALTER SYSTEM SET synchronous_commit = off`)
	mustExec(t, owner, `SELECT pg_reload_conf()`)
	t.Cleanup(func() {
		db := pg.db(t)
		_, _ = db.Exec(`ALTER SYSTEM RESET synchronous_commit`)
		_, _ = db.Exec(`SELECT pg_reload_conf()`)
	})
	table := freshTable()
	createTables(t, owner, table)
	db := pg.db(t)
	var setting string
	require.NoError(t, db.QueryRow(`SHOW synchronous_commit`).Scan(&setting))
	require.Equal(t, "off", setting, "the server's configuration")
	l := newLog(t, db, table)

	var mu sync.Mutex
	acked := map[string]bool{}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				r := record(t, deepvue.AuditConsent, time.Now())
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := l.Record(ctx, r)
				cancel()
				if err == nil {
					mu.Lock()
					acked[r.CallID] = true
					mu.Unlock()
				}
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 300 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	pg.stop(syscall.SIGQUIT) // while the writers append
	stop.Store(true)
	wg.Wait()
	require.NoError(t, pg.start())

	after := pg.db(t)
	stored := map[string]bool{}
	rows, err := after.Query(`SELECT call_id FROM "` + table + `"`)
	require.NoError(t, err)
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		stored[id] = true
	}
	require.NoError(t, rows.Err())
	rows.Close()
	mu.Lock()
	defer mu.Unlock()
	lost := 0
	for id := range acked {
		if !stored[id] {
			lost++
		}
	}
	assert.Zero(t, lost, "acknowledged consent rows lost in the crash (of %d acknowledged)", len(acked))
	require.NoError(t, newLog(t, after, table).Verify(context.Background()))
	t.Logf("%d rows acknowledged before the crash, %d stored, %d lost", len(acked), len(stored), lost)
}

// TestStricterServerIsolationRefusesNoRecord: with the server's default
// isolation at REPEATABLE READ, and at SERIALIZABLE, 200 concurrent records
// are all appended: each append runs READ COMMITTED (before, 138 to 161 of
// 200 failed with SQLSTATE 40001).
func TestStricterServerIsolationRefusesNoRecord(t *testing.T) {
	pg := postgres(t)
	for _, level := range []string{"repeatable read", "serializable"} {
		t.Run(level, func(t *testing.T) {
			table := freshTable()
			createTables(t, pg.db(t), table)
			db := pg.dbWith(t, "default_transaction_isolation='"+level+"'")
			db.SetMaxOpenConns(40)
			var got string
			require.NoError(t, db.QueryRow(`SHOW default_transaction_isolation`).Scan(&got))
			require.Equal(t, level, got)
			l := newLog(t, db, table)
			var failed atomic.Int64
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := 0; i < 200; i++ {
				r := record(t, deepvue.AuditConsent, time.Now())
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					if err := l.Record(context.Background(), r); err != nil {
						failed.Add(1)
						t.Log(err)
					}
				}()
			}
			close(start)
			wg.Wait()
			assert.Zero(t, failed.Load(), "records refused")
			var n int
			require.NoError(t, db.QueryRow(`SELECT count(*) FROM "`+table+`"`).Scan(&n))
			assert.Equal(t, 200, n)
			require.NoError(t, l.Verify(context.Background()))
		})
	}
}
