package deepvueaudit_test

import (
	"context"
	"encoding/json"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvueaudit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// BenchmarkRecord measures appends with 1, 4 and 16 concurrent writers
// (each with its own connection pool and Log, as replicas of a service),
// checkpoints on (signed every 1,000 rows or 60 s to a DirStore): rows/s,
// and the p50 and p99 of one Record. The server runs fsync on when
// benchmarks run.
//
//	go test -run '^$' -bench BenchmarkRecord -benchtime 3000x ./deepvueaudit/
func BenchmarkRecord(b *testing.B) {
	for _, writers := range []int{1, 4, 16} {
		b.Run("writers="+strconv.Itoa(writers), func(b *testing.B) {
			pg := postgres(b)
			tr := newTrail(b, pg)
			var fsync string
			require.NoError(b, tr.db.QueryRow(`SHOW fsync`).Scan(&fsync))
			require.Equal(b, "on", fsync, "benchmarks measure PostgreSQL's default durability")
			logs := []*deepvueaudit.Log{tr.Log}
			for w := 1; w < writers; w++ {
				logs = append(logs, tr.open(b, pg.db(b)))
			}
			recs := make([]deepvue.AuditRecord, 256)
			for i := range recs {
				recs[i] = record(b, deepvue.AuditConsent, time.Now())
			}
			lat := make([]time.Duration, b.N)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
						r := recs[i%256]
						r.Time = time.Now()
						t0 := time.Now()
						if err := logs[w].Record(context.Background(), r); err != nil {
							b.Error(err)
							return
						}
						lat[i] = time.Since(t0)
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "rows/s")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// TestMillionRows (DEEPVUE_LONG=1; about two minutes): a trail of 10^6
// rows (500,000 calls, loaded 2,000 rows a transaction, checkpoints on):
// one call's bundle, its size and the time VerifyProof takes offline; a
// full walk (VerifyFull), and a Verify from the last verified checkpoint
// after 1,000 more rows; the table's size.
//
//	DEEPVUE_LONG=1 go test -run TestMillionRows -v -timeout 30m ./deepvueaudit/
func TestMillionRows(t *testing.T) {
	if os.Getenv("DEEPVUE_LONG") == "" {
		t.Skip("DEEPVUE_LONG=1 runs it (about two minutes)")
	}
	const total, batch = 1000000, 2000
	pg := postgres(t)
	tr := newTrail(t, pg)
	ctx := context.Background()
	start := time.Now()
	var probe string
	for n := 0; n < total; n += batch {
		recs := make([]deepvue.AuditRecord, 0, batch)
		for len(recs) < batch {
			r := record(t, deepvue.AuditConsent, time.Now())
			r.Evidence = deepvue.ConsentEvidence{NoticeID: "aadhaar-ekyc", NoticeVersion: "3", Language: "en", Channel: "web",
				NoticeSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", AlternativesOffered: true,
				DecidedAt: time.Now().Add(-time.Second), Operator: "onboarding", CustomerRef: "c_" + r.CallID[:12]}
			o := r
			o.Stage, o.Outcome, o.OTPState, o.Attempts, o.TransactionID = deepvue.AuditOutcome, "ok", deepvue.OTPSent, 1, callID(t)
			recs = append(recs, r, o)
			if n == total/2 && probe == "" {
				probe = r.CallID
			}
		}
		require.NoError(t, deepvueaudit.AppendBatch(ctx, tr.Log, recs))
	}
	load := time.Since(start)
	cp, err := tr.Checkpoint(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(total), cp.Size)

	b, err := tr.Proof(ctx, probe)
	require.NoError(t, err)
	const runs = 2000
	t0 := time.Now()
	for i := 0; i < runs; i++ {
		_, err = deepvueaudit.VerifyProof(b, tr.verifier)
		require.NoError(t, err)
	}
	perVerify := time.Since(t0) / runs
	pc, err := deepvueaudit.VerifyProof(b, tr.verifier)
	require.NoError(t, err)
	require.Len(t, pc.Rows, 2)
	proofLen := proofLengths(t, b)
	for _, n := range proofLen {
		assert.LessOrEqual(t, n, 1024, "one row's inclusion proof, as the bundle holds it (base64)")
	}

	t0 = time.Now()
	require.NoError(t, tr.VerifyFull(ctx))
	verify := time.Since(t0)
	require.NoError(t, tr.Verify(ctx)) // from the checkpoint just verified
	for i := 0; i < 500; i++ {
		tr.call(t)
	}
	_, err = tr.Checkpoint(ctx)
	require.NoError(t, err)
	t0 = time.Now()
	require.NoError(t, tr.Verify(ctx))
	since := time.Since(t0)
	walked := deepvueaudit.Walked(tr.Log)
	var size int64
	require.NoError(t, tr.db.QueryRow(`SELECT pg_total_relation_size($1)`, tr.table).Scan(&size))
	t.Logf("%d rows loaded in %v (%.0f rows/s, %d-row transactions)", total, load.Round(time.Second),
		float64(total)/load.Seconds(), batch)
	t.Logf("bundle of one call (2 rows): %d bytes; each row's inclusion proof %v bytes of base64 (%d hashes)",
		len(b), proofLen, proofLen[0]*3/4/32)
	t.Logf("VerifyProof offline: %v per bundle (mean of %d)", perVerify, runs)
	t.Logf("VerifyFull of all %d rows: %v (%.0f rows/s); %s", total, verify.Round(time.Millisecond), float64(total)/verify.Seconds(), loadAverage())
	t.Logf("Verify after 1,000 more rows, from the last verified checkpoint: %v (%d rows read)", since.Round(time.Millisecond), walked)
	t.Logf("table and indexes: %.1f MiB", float64(size)/(1<<20))
}

// proofLengths returns the length of each row's proof in a bundle.
func proofLengths(t testing.TB, b []byte) []int {
	t.Helper()
	var bd struct {
		Rows []struct {
			Proof string `json:"proof"`
		} `json:"rows"`
	}
	require.NoError(t, json.Unmarshal(b, &bd))
	var out []int
	for _, r := range bd.Rows {
		out = append(out, len(r.Proof))
	}
	return out
}
