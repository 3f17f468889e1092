package deepvueaudit_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvueaudit"
	"github.com/stretchr/testify/require"
)

// BenchmarkChainVsPlain measures the trail's appends against the disk's
// practical ceiling, in one run: W writers (goroutines of one process, as
// a service's concurrent calls) Record consent rows into one Log
// (checkpoints on, signed every 1,000 rows to a DirStore), then the same W
// writers INSERT the same rows, one statement and one commit each, into a
// table of the same columns and indexes with no chain. The two alternate,
// three rounds each of b.N rows, so that both see the same load. fsync and
// synchronous_commit are on (the server runs fsync on when benchmarks run).
//
//	go test -run '^$' -bench BenchmarkChainVsPlain -benchtime 3000x ./deepvueaudit/
//
// It reports rows/s and the p99 of one append for each; the rounds are
// logged with -v.
func BenchmarkChainVsPlain(b *testing.B) {
	rounds := 3
	if s := os.Getenv("DEEPVUE_BENCH_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	for _, writers := range []int{1, 4, 16, 64} {
		b.Run("writers="+strconv.Itoa(writers), func(b *testing.B) {
			pg := postgres(b)
			db := pg.db(b)
			// A pool that keeps a connection per writer (database/sql keeps
			// 2 idle by default: 64 writers would reconnect all the time).
			db.SetMaxIdleConns(writers + 8)
			var fsync string
			require.NoError(b, db.QueryRow(`SHOW fsync`).Scan(&fsync))
			require.Equal(b, "on", fsync, "benchmarks measure PostgreSQL's default durability")
			chain := freshTable()
			createTables(b, db, chain)
			signer, verifier := testKey(b)
			l, err := deepvueaudit.Open(context.Background(), db, deepvueaudit.WithTable(chain),
				deepvueaudit.WithCheckpoints(deepvueaudit.DirStore(b.TempDir()), signer, verifier))
			require.NoError(b, err)
			defer l.Close(context.Background())
			plain := chain + "_plain"
			mustExec(b, db, `CREATE TABLE "`+plain+`" (LIKE "`+chain+`" INCLUDING ALL)`)
			mustExec(b, db, `CREATE SEQUENCE "`+plain+`_seq"`)
			mustExec(b, db, `ALTER TABLE "`+plain+`" ALTER seq SET DEFAULT nextval('"`+plain+`_seq"')`)
			insert := `INSERT INTO "` + plain + `" (tenant, call_id, stage, recorded_at, db_time, operation, purpose,
				consent, masked_number, reference_id, transaction_id, outcome, otp_state, attempts, notice_id, notice_version,
				notice_sha256, language, channel, alternatives_offered, decided_at, operator, customer_ref, hashes)
				VALUES ('', $1, $2, $3, now(), $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`
			recs := make([]deepvue.AuditRecord, 256)
			for i := range recs {
				recs[i] = record(b, deepvue.AuditConsent, time.Now())
				recs[i].Evidence = deepvue.ConsentEvidence{NoticeID: "aadhaar-ekyc", NoticeVersion: "3", Language: "en",
					Channel: "web", NoticeSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
					AlternativesOffered: true, Operator: "onboarding", CustomerRef: "c_" + recs[i].CallID[:12]}
			}
			hashes := make([]byte, 64)
			_, _ = rand.Read(hashes)
			chainRow := func(ctx context.Context, i int64) error {
				r := recs[i%256]
				r.Time = time.Now()
				r.Evidence.DecidedAt = r.Time.Add(-time.Second)
				return l.Record(ctx, r)
			}
			plainRow := func(ctx context.Context, i int64) error {
				r := recs[i%256]
				now := time.Now()
				e := r.Evidence
				_, err := db.ExecContext(ctx, insert, r.CallID, string(r.Stage), now, r.Operation, r.Purpose,
					string(r.Consent), r.MaskedNumber, r.ReferenceID, r.TransactionID, r.Outcome, "", int64(r.Attempts),
					e.NoticeID, e.NoticeVersion, e.NoticeSHA256, e.Language, e.Channel, e.AlternativesOffered,
					now.Add(-time.Second), e.Operator, e.CustomerRef, hashes)
				return err
			}
			var chainRes, plainRes []phase
			// Warm up the connections of both.
			runPhase(b, writers, int64(min(b.N, 200)), chainRow)
			runPhase(b, writers, int64(min(b.N, 200)), plainRow)
			b.ResetTimer()
			for r := 0; r < rounds; r++ {
				chainRes = append(chainRes, runPhase(b, writers, int64(b.N), chainRow))
				plainRes = append(plainRes, runPhase(b, writers, int64(b.N), plainRow))
			}
			b.StopTimer()
			batches, rows := deepvueaudit.AppendStats(l)
			b.ReportMetric(float64(rows)/float64(max(batches, 1)), "rows/batch")
			c, p := merge(chainRes), merge(plainRes)
			b.ReportMetric(c.rowsPerSec(), "chain-rows/s")
			b.ReportMetric(c.p(99), "chain-p99-ms")
			b.ReportMetric(p.rowsPerSec(), "plain-rows/s")
			b.ReportMetric(p.p(99), "plain-p99-ms")
			for r := range chainRes {
				b.Logf("writers=%d round %d: chain %.0f rows/s p50 %.1f ms p99 %.1f ms | plain %.0f rows/s p50 %.1f ms p99 %.1f ms",
					writers, r+1, chainRes[r].rowsPerSec(), chainRes[r].p(50), chainRes[r].p(99),
					plainRes[r].rowsPerSec(), plainRes[r].p(50), plainRes[r].p(99))
			}
			b.Logf("writers=%d all rounds: chain %.0f rows/s p99 %.1f ms | plain %.0f rows/s p99 %.1f ms | chain/plain %.2f | %s",
				writers, c.rowsPerSec(), c.p(99), p.rowsPerSec(), p.p(99), c.rowsPerSec()/p.rowsPerSec(), loadAverage())
		})
	}
}

// phase is one timed run of n appends.
type phase struct {
	elapsed time.Duration
	lat     []time.Duration // sorted
}

func (p phase) rowsPerSec() float64 { return float64(len(p.lat)) / p.elapsed.Seconds() }

// p returns the q-th percentile latency in milliseconds.
func (p phase) p(q int) float64 {
	if len(p.lat) == 0 {
		return 0
	}
	return float64(p.lat[(len(p.lat)-1)*q/100].Microseconds()) / 1000
}

func merge(ps []phase) phase {
	var m phase
	for _, p := range ps {
		m.elapsed += p.elapsed
		m.lat = append(m.lat, p.lat...)
	}
	sort.Slice(m.lat, func(i, j int) bool { return m.lat[i] < m.lat[j] })
	return m
}

// runPhase runs n calls of fn spread over writers goroutines and returns
// the time and each call's latency.
func runPhase(tb testing.TB, writers int, n int64, fn func(ctx context.Context, i int64) error) phase {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < n && !failed.Load(); i = next.Add(1) - 1 {
				t0 := time.Now()
				if err := fn(context.Background(), i); err != nil {
					if failed.CompareAndSwap(false, true) {
						tb.Error(err)
					}
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	p := phase{elapsed: time.Since(start), lat: lat}
	sort.Slice(p.lat, func(i, j int) bool { return p.lat[i] < p.lat[j] })
	return p
}

// loadAverage returns the machine's load average, for the log.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "load average unknown"
	}
	var a, c, d float64
	if _, err := fmt.Sscan(string(b), &a, &c, &d); err != nil {
		return "load average unknown"
	}
	return fmt.Sprintf("load average %.2f %.2f %.2f", a, c, d)
}

// BenchmarkVerifyFull measures a full walk of a trail of 200,000 rows
// (100,000 calls, checkpoints every 1,000 rows): rows/s.
//
//	go test -run '^$' -bench BenchmarkVerifyFull -benchtime 3x ./deepvueaudit/
func BenchmarkVerifyFull(b *testing.B) {
	const total = 200000
	pg := postgres(b)
	tr := newTrail(b, pg)
	loadCalls(b, tr, total, time.Now())
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		require.NoError(b, tr.VerifyFull(ctx))
	}
	b.ReportMetric(float64(total)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// loadCalls appends total rows (calls of two rows, with evidence) at time
// at, 2,000 rows a transaction, with a checkpoint every 1,000 rows.
func loadCalls(tb testing.TB, tr *trail, total int, at time.Time) {
	ctx := context.Background()
	for n := 0; n < total; n += 1000 {
		recs := make([]deepvue.AuditRecord, 0, 1000)
		for len(recs) < min(1000, total-n) {
			r := record(tb, deepvue.AuditConsent, at)
			r.Evidence = deepvue.ConsentEvidence{NoticeID: "aadhaar-ekyc", NoticeVersion: "3", Language: "en", Channel: "web",
				NoticeSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", AlternativesOffered: true,
				DecidedAt: at.Add(-time.Second), Operator: "onboarding", CustomerRef: "c_" + r.CallID[:12]}
			o := r
			o.Stage, o.Outcome, o.OTPState, o.Attempts, o.TransactionID = deepvue.AuditOutcome, "ok", deepvue.OTPSent, 1, callID(tb)
			recs = append(recs, r, o)
		}
		require.NoError(tb, deepvueaudit.AppendBatch(ctx, tr.Log, recs))
		_, err := tr.Checkpoint(ctx)
		require.NoError(tb, err)
	}
}

// BenchmarkThousandTenants: 64 writers Record b.N consent rows, each for
// one of 1,000 tenants in turn, into one table (checkpoints on, in
// memory): rows/s, the p99 of one Record, and the size of the table (rows,
// heads, kept hashes, indexes) after.
//
//	go test -run '^$' -bench BenchmarkThousandTenants -benchtime 20000x ./deepvueaudit/
func BenchmarkThousandTenants(b *testing.B) {
	pg := postgres(b)
	db := pg.db(b)
	db.SetMaxIdleConns(16)
	table := freshTable()
	createTables(b, db, table)
	signer, verifier := testKey(b)
	root, err := deepvueaudit.Open(context.Background(), db, deepvueaudit.WithTable(table),
		deepvueaudit.WithCheckpoints(newMemStore(), signer, verifier))
	require.NoError(b, err)
	defer root.Close(context.Background())
	logs := make([]*deepvueaudit.Log, 1000)
	for i := range logs {
		logs[i], err = root.ForTenant(fmt.Sprintf("merchant-%04d", i))
		require.NoError(b, err)
	}
	recs := make([]deepvue.AuditRecord, 256)
	for i := range recs {
		recs[i] = record(b, deepvue.AuditConsent, time.Now())
	}
	// Every tenant's head made first.
	runPhase(b, 64, 1000, func(ctx context.Context, i int64) error {
		r := recs[i%256]
		r.Time = time.Now()
		return logs[i].Record(ctx, r)
	})
	b.ResetTimer()
	p := runPhase(b, 64, int64(b.N), func(ctx context.Context, i int64) error {
		r := recs[i%256]
		r.Time = time.Now()
		return logs[i%1000].Record(ctx, r)
	})
	b.StopTimer()
	var size int64
	require.NoError(b, db.QueryRow(`SELECT pg_total_relation_size($1) + pg_total_relation_size($2) + pg_total_relation_size($3)`,
		table, table+"_head", table+"_tree").Scan(&size))
	batches, rows := deepvueaudit.AppendStats(root)
	b.ReportMetric(p.rowsPerSec(), "rows/s")
	b.ReportMetric(p.p(99), "p99-ms")
	b.ReportMetric(float64(size)/(1<<20), "MiB")
	b.ReportMetric(float64(rows)/float64(max(batches, 1)), "rows/batch")
	b.Logf("1,000 tenants, 64 writers, %d rows: %.0f rows/s, p50 %.1f ms, p99 %.1f ms; table %.1f MiB; %s",
		b.N+1000, p.rowsPerSec(), p.p(50), p.p(99), float64(size)/(1<<20), loadAverage())
}
