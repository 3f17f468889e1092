package deepvueaudit_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvueaudit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// callAt records one call's consent and outcome rows at time at through l
// and returns its id.
func callAt(t testing.TB, l *deepvueaudit.Log, at time.Time) string {
	t.Helper()
	r := record(t, deepvue.AuditConsent, at)
	require.NoError(t, l.Record(context.Background(), r))
	r.Stage, r.Outcome, r.OTPState, r.Attempts, r.TransactionID = deepvue.AuditOutcome, "ok", deepvue.OTPSent, 1, callID(t)
	r.Time = at.Add(time.Millisecond)
	require.NoError(t, l.Record(context.Background(), r))
	return r.CallID
}

// keepFor is a Retention of d (under a year: the tests' rows are minutes
// old) into archive, counted back from asOf.
func keepFor(d time.Duration, archive deepvueaudit.ArchiveStore, asOf time.Time) deepvueaudit.Retention {
	return deepvueaudit.Retention{Keep: d, AllowUnderOneYear: true, Archive: archive, AsOf: asOf}
}

func count(t testing.TB, tr *trail, where string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, tr.db.QueryRow(`SELECT count(*) FROM "`+tr.table+`" WHERE `+where, args...).Scan(&n))
	return n
}

// TestPurge: the rows recorded before the retention are archived then
// deleted; the rest verifies; a Purge refuses rows that do not verify
// (nothing deleted, nothing archived); a second Purge deletes nothing;
// appends go on; a call is never split; every manifest stays in the trail.
func TestPurge(t *testing.T) {
	pg := postgres(t)
	tr := newTrail(t, pg)
	ctx := context.Background()
	archive := deepvueaudit.DirStore(t.TempDir())
	now := time.Now()
	writeRows(t, tr.Log, 10, now.Add(-3*time.Minute))
	mid := writeRows(t, tr.Log, 5, now.Add(-2*time.Minute))
	kept := writeRows(t, tr.Log, 10, now.Add(-time.Minute))

	res, err := tr.Purge(ctx, keepFor(150*time.Second, archive, now))
	require.NoError(t, err)
	assert.Equal(t, int64(10), res.Rows)
	require.Len(t, res.Segments, 1)
	assert.Equal(t, int64(1), res.Segments[0].First)
	assert.Equal(t, int64(10), res.Segments[0].Last)
	require.NoError(t, tr.Verify(ctx))
	require.Empty(t, problems(t, tr.Log))

	// Tampering with a row due for purging stops the purge.
	mustExec(t, tr.db, `UPDATE "`+tr.table+`" SET purpose = 'x' WHERE seq = 12`)
	res, err = tr.Purge(ctx, keepFor(90*time.Second, archive, now))
	require.Error(t, err)
	assert.Zero(t, res.Rows)
	chainError(t, err, 12, mid[1], deepvueaudit.Changed)
	assert.Equal(t, 16, count(t, tr, `true`), "nothing deleted (15 rows and the manifest)")
	files, err := archive.List(ctx, tr.table+"/")
	require.NoError(t, err)
	assert.Len(t, files, 2, "nothing archived: the first segment and its manifest only")
	mustExec(t, tr.db, `UPDATE "`+tr.table+`" SET purpose = $1 WHERE seq = 12`, purpose)

	res, err = tr.Purge(ctx, keepFor(90*time.Second, archive, now))
	require.NoError(t, err)
	assert.Equal(t, int64(5), res.Rows)
	res, err = tr.Purge(ctx, keepFor(90*time.Second, archive, now))
	require.NoError(t, err)
	assert.Zero(t, res.Rows)
	assert.Empty(t, res.Segments)
	require.NoError(t, tr.VerifyFull(ctx))
	var first string
	require.NoError(t, tr.db.QueryRow(`SELECT call_id FROM "`+tr.table+`" WHERE stage = 'consent' ORDER BY seq LIMIT 1`).Scan(&first))
	assert.Equal(t, kept[0], first)
	assert.Equal(t, 2, count(t, tr, `stage = 'archive'`), "every manifest stays in the trail")

	// A call whose consent row is before the cut and outcome after it keeps
	// both.
	r := record(t, deepvue.AuditConsent, time.Now())
	require.NoError(t, tr.Record(ctx, r))
	cut := time.Now()
	time.Sleep(2 * time.Millisecond)
	r.Stage, r.Time, r.Outcome = deepvue.AuditOutcome, time.Now(), "ok"
	require.NoError(t, tr.Record(ctx, r))
	res, err = tr.Purge(ctx, keepFor(0, archive, cut))
	require.NoError(t, err)
	assert.Equal(t, int64(10), res.Rows, "the 10 kept rows, not the call's consent row")
	assert.Equal(t, 2, count(t, tr, `call_id = $1`, r.CallID))

	writeRows(t, tr.Log, 3, time.Now())
	require.NoError(t, tr.VerifyFull(ctx))
	rep, err := tr.VerifyArchive(ctx, archive)
	require.NoError(t, err)
	assert.Equal(t, 3, rep.Segments)
	assert.Equal(t, int64(25), rep.Rows)
	assert.Empty(t, rep.Unreferenced)

	// The first row after the anchor is still checked against it.
	var after int64
	require.NoError(t, tr.db.QueryRow(`SELECT min(seq) FROM "`+tr.table+`" WHERE seq > (SELECT anchor FROM "`+tr.table+`_head")`).Scan(&after))
	mustExec(t, tr.db, `DELETE FROM "`+tr.table+`" WHERE seq = $1`, after)
	hasProblem(t, problems(t, tr.Log), deepvueaudit.Deleted, after, "")
}

// TestRetentionRefusesUnderOneYear: Purge takes a policy, not a date, and
// refuses to keep less than a year without the explicit override; it
// needs an archive and a signer, and an AsOf in the past.
func TestRetentionRefusesUnderOneYear(t *testing.T) {
	pg := postgres(t)
	tr := newTrail(t, pg)
	ctx := context.Background()
	archive := deepvueaudit.DirStore(t.TempDir())
	writeRows(t, tr.Log, 4, time.Now().Add(-time.Minute))
	for _, keep := range []time.Duration{0, time.Hour, 364 * 24 * time.Hour, deepvueaudit.MinRetention - time.Nanosecond} {
		_, err := tr.Purge(ctx, deepvueaudit.Retention{Keep: keep, Archive: archive})
		assert.ErrorIs(t, err, deepvueaudit.ErrRetentionTooShort, "%v", keep)
	}
	res, err := tr.Purge(ctx, deepvueaudit.Retention{Keep: 7 * 365 * 24 * time.Hour, Archive: archive})
	require.NoError(t, err)
	assert.Zero(t, res.Rows, "nothing is seven years old")
	_, err = tr.Purge(ctx, deepvueaudit.Retention{Keep: deepvueaudit.MinRetention})
	assert.ErrorContains(t, err, "ArchiveStore")
	_, err = tr.Purge(ctx, deepvueaudit.Retention{Keep: -time.Hour, AllowUnderOneYear: true, Archive: archive})
	assert.Error(t, err)
	_, err = tr.Purge(ctx, deepvueaudit.Retention{AllowUnderOneYear: true, Archive: archive, AsOf: time.Now().Add(time.Hour)})
	assert.ErrorContains(t, err, "future")
	plain := newLog(t, pg.db(t), freshTable())
	_, err = plain.Purge(ctx, deepvueaudit.Retention{AllowUnderOneYear: true, Archive: archive})
	assert.ErrorIs(t, err, deepvueaudit.ErrNoCheckpoints)
	assert.Equal(t, 4, count(t, tr, `true`), "nothing deleted")
	res, err = tr.Purge(ctx, deepvueaudit.Retention{AllowUnderOneYear: true, Archive: archive})
	require.NoError(t, err)
	assert.Equal(t, int64(4), res.Rows, "with the override")
}

// TestLegalHold: a held call's rows survive every Purge past their
// retention, and its bundle still verifies after the anchor moved past
// them (twice); the hold and the release are rows of the trail; after the
// release the next Purge archives and deletes them. An insider who deletes
// a kept row, or slips one in below the anchor, is named.
func TestLegalHold(t *testing.T) {
	pg := postgres(t)
	tr := newTrail(t, pg)
	ctx := context.Background()
	archive := deepvueaudit.DirStore(t.TempDir())
	start := time.Now()
	var calls []string
	for i := 0; i < 6; i++ {
		calls = append(calls, callAt(t, tr.Log, start.Add(-3*time.Minute)))
	}
	held := calls[2]

	// What a hold refuses.
	assert.ErrorIs(t, tr.Hold(ctx, callID(t), "CS(COMM) 41/2026"), deepvueaudit.ErrNoSuchCall)
	assert.ErrorIs(t, tr.Release(ctx, held, "order vacated"), deepvueaudit.ErrNotHeld)
	for _, reason := range []string{"", "customer 2341 2341 2346", "mobile 98765-43210", "ask ravi@example.in", strings.Repeat("x", 1001)} {
		assert.Error(t, tr.Hold(ctx, held, reason), "%q", reason)
	}
	assert.Error(t, tr.Hold(ctx, "not a call id", "CS(COMM) 41/2026"))

	require.NoError(t, tr.Hold(ctx, held, "CS(COMM) 41/2026, Delhi High Court"))
	hs, err := tr.Holds(ctx)
	require.NoError(t, err)
	require.Len(t, hs, 1)
	assert.Equal(t, held, hs[0].CallID)
	assert.Equal(t, "CS(COMM) 41/2026, Delhi High Court", hs[0].Reason)

	res, err := tr.Purge(ctx, keepFor(2*time.Minute, archive, start))
	require.NoError(t, err)
	assert.Equal(t, int64(10), res.Rows, "the five other calls")
	assert.Equal(t, int64(3), res.Kept, "the held call's two rows and the hold")
	assert.Equal(t, 3, count(t, tr, `call_id = $1`, held), "its consent, outcome and hold rows")
	require.NoError(t, tr.VerifyFull(ctx))
	proveCall := func(id string, rows int) {
		t.Helper()
		b, err := tr.Proof(ctx, id)
		require.NoError(t, err)
		pc, err := deepvueaudit.VerifyProof(b, tr.verifier)
		require.NoError(t, err)
		assert.Len(t, pc.Rows, rows)
	}
	proveCall(held, 3)

	// The anchor moves past them again: still kept, still provable.
	for i := 0; i < 4; i++ {
		callAt(t, tr.Log, start.Add(-2*time.Minute))
	}
	_, err = tr.Checkpoint(ctx)
	require.NoError(t, err)
	res, err = tr.Purge(ctx, keepFor(time.Minute, archive, start))
	require.NoError(t, err)
	assert.Equal(t, int64(8), res.Rows)
	assert.Equal(t, 3, count(t, tr, `call_id = $1`, held))
	require.NoError(t, tr.VerifyFull(ctx))
	proveCall(held, 3)
	rep, err := tr.VerifyArchive(ctx, archive)
	require.NoError(t, err)
	assert.Equal(t, int64(18), rep.Rows)

	// An insider's edits below the anchor are named.
	t.Run("insider", func(t *testing.T) {
		var seq int64
		require.NoError(t, tr.db.QueryRow(`SELECT seq FROM "`+tr.table+`" WHERE call_id = $1 AND stage = 'consent'`, held).Scan(&seq))
		mustExec(t, tr.db, `UPDATE "`+tr.table+`" SET tenant = 'hidden' WHERE seq = $1`, seq)
		hasProblem(t, problems(t, tr.Log), deepvueaudit.Deleted, seq, "")
		mustExec(t, tr.db, `UPDATE "`+tr.table+`" SET tenant = '' WHERE seq = $1`, seq)
		mustExec(t, tr.db, `INSERT INTO "`+tr.table+`" SELECT tenant, 1, call_id, stage, recorded_at, db_time, operation,
			purpose, consent, masked_number, reference_id, transaction_id, outcome, otp_state, attempts, notice_id,
			notice_version, notice_sha256, language, channel, alternatives_offered, decided_at, operator, customer_ref,
			detail, hashes FROM "`+tr.table+`" WHERE seq = $1`, seq)
		hasProblem(t, problems(t, tr.Log), deepvueaudit.Inserted, 1, held)
		mustExec(t, tr.db, `DELETE FROM "`+tr.table+`" WHERE seq = 1`)
		mustExec(t, tr.db, `UPDATE "`+tr.table+`" SET purpose = 'marketing' WHERE seq = $1`, seq)
		hasProblem(t, problems(t, tr.Log), deepvueaudit.Changed, seq, held)
		mustExec(t, tr.db, `UPDATE "`+tr.table+`" SET purpose = $2 WHERE seq = $1`, seq, purpose)
		require.Empty(t, problems(t, tr.Log))
	})

	// Released: the next Purge archives and deletes them; the hold and the
	// release stay in the trail.
	require.NoError(t, tr.Release(ctx, held, "CS(COMM) 41/2026 disposed of"))
	hs, err = tr.Holds(ctx)
	require.NoError(t, err)
	assert.Empty(t, hs)
	res, err = tr.Purge(ctx, keepFor(time.Minute, archive, start))
	require.NoError(t, err)
	assert.Equal(t, int64(2), res.Rows)
	require.Len(t, res.Segments, 1)
	assert.Len(t, res.Segments[0].Released, 2)
	var stages []string
	rows, err := tr.db.Query(`SELECT stage FROM "`+tr.table+`" WHERE call_id = $1 ORDER BY seq`, held)
	require.NoError(t, err)
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		stages = append(stages, s)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []string{"hold", "release"}, stages)
	require.NoError(t, tr.VerifyFull(ctx))
	rep, err = tr.VerifyArchive(ctx, archive)
	require.NoError(t, err)
	assert.Equal(t, int64(20), rep.Rows, "all 10 calls archived, the released one included")
}

// TestHoldDuringPurge: a Hold made while a Purge runs (in batches of two
// rows) either comes before the batch of its call, whose rows are then
// kept, or after it, and then fails with ErrNoSuchCall: a Hold that
// succeeded never loses its call's rows.
func TestHoldDuringPurge(t *testing.T) {
	pg := postgres(t)
	tr := newTrail(t, pg)
	ctx := context.Background()
	archive := deepvueaudit.DirStore(t.TempDir())
	start := time.Now()
	var calls []string
	for i := 0; i < 18; i++ {
		calls = append(calls, callAt(t, tr.Log, start.Add(-time.Minute)))
	}
	defer deepvueaudit.SetPurgePause(deepvueaudit.SetPurgePause(0))
	var wg sync.WaitGroup
	wg.Add(1)
	var purgeErr error
	go func() {
		defer wg.Done()
		p := keepFor(0, archive, start)
		p.BatchRows = 2
		_, purgeErr = tr.Purge(ctx, p)
	}()
	heldOK := map[string]bool{}
	for i := len(calls) - 1; i >= 0; i -= 3 {
		err := tr.Hold(ctx, calls[i], "dispute 17")
		if err == nil {
			heldOK[calls[i]] = true
		} else {
			require.ErrorIs(t, err, deepvueaudit.ErrNoSuchCall)
		}
	}
	// Once the Purge is past the first call, holding it fails.
	for {
		var anchor int64
		require.NoError(t, tr.db.QueryRow(`SELECT anchor FROM "`+tr.table+`_head"`).Scan(&anchor))
		if anchor >= 2 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	require.ErrorIs(t, tr.Hold(ctx, calls[0], "dispute 17"), deepvueaudit.ErrNoSuchCall)
	wg.Wait()
	require.NoError(t, purgeErr)
	assert.NotEmpty(t, heldOK)
	for id := range heldOK {
		assert.Equal(t, 3, count(t, tr, `call_id = $1`, id), "a held call's rows are all there")
	}
	require.NoError(t, tr.VerifyFull(ctx))
	_, err := tr.VerifyArchive(ctx, archive)
	require.NoError(t, err)
	t.Logf("%d of 6 holds came before their call's batch", len(heldOK))
}

// TestArchivedSegmentVerifiesLater: each batch is a segment with a signed
// manifest; the segments verify against the live trail after later
// appends, checkpoints and purges (the anchor moved on), and offline with
// the public key; a changed byte of a segment, a manifest signed by
// another key, a missing segment or a manifest row deleted from the trail
// are caught.
func TestArchivedSegmentVerifiesLater(t *testing.T) {
	pg := postgres(t)
	tr := newTrail(t, pg)
	ctx := context.Background()
	dir := t.TempDir()
	archive := deepvueaudit.DirStore(dir)
	start := time.Now()
	for i := 0; i < 6; i++ {
		callAt(t, tr.Log, start.Add(-3*time.Minute))
	}
	p := keepFor(2*time.Minute, archive, start)
	p.BatchRows = 4
	res, err := tr.Purge(ctx, p)
	require.NoError(t, err)
	require.Len(t, res.Segments, 3)
	first := res.Segments[0]
	for i := 0; i < 5; i++ {
		callAt(t, tr.Log, start.Add(-time.Minute))
		_, err := tr.Checkpoint(ctx)
		require.NoError(t, err)
	}
	res, err = tr.Purge(ctx, keepFor(30*time.Second, archive, start))
	require.NoError(t, err)
	require.Len(t, res.Segments, 1)
	for i := 0; i < 3; i++ {
		tr.call(t)
	}
	require.NoError(t, tr.VerifyFull(ctx))
	rep, err := tr.VerifyArchive(ctx, archive)
	require.NoError(t, err)
	assert.Equal(t, 4, rep.Segments)
	assert.Equal(t, int64(22), rep.Rows)

	// Offline, with the public key alone.
	path := filepath.Join(dir, tr.table, first.Name())
	manifest, err := os.ReadFile(path + ".manifest")
	require.NoError(t, err)
	data, err := os.ReadFile(path + ".rows")
	require.NoError(t, err)
	seg, err := deepvueaudit.VerifySegment(manifest, data, tr.verifier)
	require.NoError(t, err)
	assert.Len(t, seg.Rows, 4)
	assert.Equal(t, int64(1), seg.Manifest.First)
	assert.Equal(t, int64(4), seg.Manifest.Last)

	// Any byte of the segment changed fails.
	for _, i := range []int{0, len(data) / 3, len(data) / 2, len(data) - 2} {
		bad := append([]byte(nil), data...)
		bad[i] ^= 1
		_, err := deepvueaudit.VerifySegment(manifest, bad, tr.verifier)
		assert.Error(t, err, "byte %d", i)
	}
	// A manifest signed by another key, or changed, fails.
	other, otherV := testKey(t)
	_ = other
	_, err = deepvueaudit.VerifySegment(manifest, data, otherV)
	assert.Error(t, err)
	badManifest := []byte(strings.Replace(string(manifest), "count 4", "count 3", 1))
	_, err = deepvueaudit.VerifySegment(badManifest, data, tr.verifier)
	assert.Error(t, err)

	// In the store: a rewritten segment, then a missing one.
	require.NoError(t, os.Chmod(path+".rows", 0o644))
	bad := append([]byte(nil), data...)
	bad[len(bad)/2] ^= 1
	require.NoError(t, os.WriteFile(path+".rows", bad, 0o644))
	_, err = tr.VerifyArchive(ctx, archive)
	assert.ErrorContains(t, err, first.Name())
	require.NoError(t, os.Remove(path+".rows"))
	_, err = tr.VerifyArchive(ctx, archive)
	assert.ErrorIs(t, err, os.ErrNotExist)
	require.NoError(t, os.WriteFile(path+".rows", data, 0o444))
	require.NoError(t, os.WriteFile(filepath.Join(dir, tr.table, "stray.rows"), []byte("x"), 0o444))
	rep, err = tr.VerifyArchive(ctx, archive)
	require.NoError(t, err)
	assert.Equal(t, []string{"stray.rows"}, rep.Unreferenced)

	// Every anchor is kept: a manifest row deleted from the trail is named.
	var seq int64
	require.NoError(t, tr.db.QueryRow(`SELECT min(seq) FROM "`+tr.table+`" WHERE stage = 'archive'`).Scan(&seq))
	mustExec(t, tr.db, `DELETE FROM "`+tr.table+`" WHERE seq = $1`, seq)
	ps := problems(t, tr.Log)
	hasProblem(t, ps, deepvueaudit.Deleted, seq, "")
	_, err = tr.VerifyArchive(ctx, archive)
	assert.Error(t, err)
}

// TestPurgeUnderConcurrentAppends: a Purge of 1,200 rows in batches of 300
// while 4 writers append: every append succeeds, the trail and the archive
// verify after, and the longest append wait and the longest hold of the
// append path are logged (measured on the 10^6-row run of
// TestMillionRowPurge).
func TestPurgeUnderConcurrentAppends(t *testing.T) {
	purgeUnderAppends(t, 1200, 300, 4)
}

func purgeUnderAppends(t *testing.T, rows, batch, writers int) {
	pg := postgres(t)
	tr := newTrail(t, pg)
	ctx := context.Background()
	archive := deepvueaudit.DirStore(t.TempDir())
	old := time.Now().Add(-3 * time.Minute)
	t0 := time.Now()
	for n := 0; n < rows; n += 2000 {
		var recs []deepvue.AuditRecord
		for i := 0; i < min(2000, rows-n); i += 2 {
			r := record(t, deepvue.AuditConsent, old)
			o := r
			o.Stage, o.Outcome, o.OTPState, o.Attempts = deepvue.AuditOutcome, "ok", deepvue.OTPSent, 1
			recs = append(recs, r, o)
		}
		require.NoError(t, deepvueaudit.AppendBatch(ctx, tr.Log, recs))
	}
	_, err := tr.Checkpoint(ctx)
	require.NoError(t, err)
	load := time.Since(t0)
	asOf := time.Now()

	// Without a Purge first (the machine's own waits: for the long runs),
	// then during one.
	var baseline waits
	if rows >= 100000 {
		baseline = appendWhile(t, tr, writers, func() { time.Sleep(min(time.Duration(rows)*20*time.Microsecond, 10*time.Second)) })
	}
	steps := map[string][]time.Duration{}
	var smu sync.Mutex
	deepvueaudit.TracePurge(func(step string, d time.Duration) {
		smu.Lock()
		steps[step] = append(steps[step], d)
		smu.Unlock()
	})
	defer deepvueaudit.TracePurge(nil)
	var res *deepvueaudit.Purged
	var took time.Duration
	during := appendWhile(t, tr, writers, func() {
		t1 := time.Now()
		p := keepFor(time.Minute, archive, asOf)
		p.BatchRows = batch
		res, err = tr.Purge(ctx, p)
		took = time.Since(t1)
	})
	require.NoError(t, err)
	assert.Equal(t, int64(rows), res.Rows)
	t0 = time.Now()
	require.NoError(t, tr.VerifyFull(ctx))
	verify := time.Since(t0)
	rep, err := tr.VerifyArchive(ctx, archive)
	require.NoError(t, err)
	assert.Equal(t, int64(rows), rep.Rows)
	t.Logf("%d rows loaded in %v; purged in %v (%d batches of %d) while %d writers appended; longest hold of the append path %v; "+
		"VerifyFull of the %d rows left after %v; %s", rows, load.Round(time.Millisecond), took.Round(time.Millisecond),
		len(res.Segments), batch, writers, res.LongestHold.Round(time.Microsecond), baseline.n+during.n,
		verify.Round(time.Millisecond), loadAverage())
	t.Logf("append waits without a Purge: %s", baseline)
	t.Logf("append waits during the Purge: %s", during)
	for _, s := range []string{"plan", "read", "delete", "archive", "sign", "lock", "append", "commit"} {
		ds := steps[s]
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		if len(ds) > 0 {
			t.Logf("batch step %-8s median %v max %v", s, ds[len(ds)/2].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
		}
	}
	if os.Getenv("DEEPVUE_LONG") != "" {
		assert.LessOrEqual(t, during.max, 200*time.Millisecond, "the longest append wait during the purge")
		assert.LessOrEqual(t, res.LongestHold, 100*time.Millisecond, "the longest hold of the append path")
	}
}

// waits are the latencies of a run of appends.
type waits struct {
	n   int
	lat []time.Duration // sorted
	max time.Duration
}

func (w waits) String() string {
	if w.n == 0 {
		return "none"
	}
	q := func(f float64) time.Duration { return w.lat[int(float64(len(w.lat)-1)*f)].Round(time.Millisecond) }
	return fmt.Sprintf("%d appends, p50 %v p99 %v p99.9 %v max %v", w.n, q(0.5), q(0.99), q(0.999), w.max.Round(time.Millisecond))
}

// appendWhile runs writers goroutines that Record consent rows until run
// returns, and returns their waits; an append that fails fails t.
func appendWhile(t *testing.T, tr *trail, writers int, run func()) waits {
	var wg sync.WaitGroup
	done := make(chan struct{})
	var mu sync.Mutex
	var w waits
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				r := record(t, deepvue.AuditConsent, time.Now())
				t1 := time.Now()
				err := tr.Record(context.Background(), r)
				d := time.Since(t1)
				assert.NoError(t, err)
				mu.Lock()
				w.n++
				w.max = max(w.max, d)
				w.lat = append(w.lat, d)
				mu.Unlock()
			}
		}()
	}
	run()
	close(done)
	wg.Wait()
	sort.Slice(w.lat, func(i, j int) bool { return w.lat[i] < w.lat[j] })
	return w
}

// TestMillionRowPurge (DEEPVUE_LONG=1): 1,000,000 rows purged, in batches
// of 2,000, while 16 writers append; the longest append wait must stay
// under 200 ms and no batch may hold the append path over 100 ms.
//
//	DEEPVUE_LONG=1 go test -run TestMillionRowPurge -v -timeout 30m ./deepvueaudit/
func TestMillionRowPurge(t *testing.T) {
	if os.Getenv("DEEPVUE_LONG") == "" {
		t.Skip("DEEPVUE_LONG=1 runs it (a few minutes)")
	}
	purgeUnderAppends(t, 1000000, deepvueaudit.DefaultPurgeBatch, 16)
}

// TestPurgeMeasure (DEEPVUE_PURGE_ROWS=n): purgeUnderAppends with n rows
// (DEEPVUE_PURGE_BATCH rows a batch), for tuning.
func TestPurgeMeasure(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("DEEPVUE_PURGE_ROWS"))
	if n == 0 {
		t.Skip("DEEPVUE_PURGE_ROWS=n runs it")
	}
	if s := os.Getenv("DEEPVUE_PURGE_PAUSE"); s != "" {
		f, _ := strconv.ParseFloat(s, 64)
		defer deepvueaudit.SetPurgePause(deepvueaudit.SetPurgePause(f))
	}
	batch, _ := strconv.Atoi(os.Getenv("DEEPVUE_PURGE_BATCH"))
	if batch == 0 {
		batch = deepvueaudit.DefaultPurgeBatch
	}
	purgeUnderAppends(t, n, batch, 16)
}

// TestPurgeNeverSplitsACall: calls whose rows interleave (three consents,
// then their three outcomes) are never cut in two by a batch's end: a
// batch of 2 rows grows over the calls it starts, and the cut of the
// retention stops before a call with a row after it.
func TestPurgeNeverSplitsACall(t *testing.T) {
	pg := postgres(t)
	tr := newTrail(t, pg)
	ctx := context.Background()
	old := time.Now().Add(-time.Minute)
	interleaved := func(n int, at time.Time) []deepvue.AuditRecord {
		var cs, os []deepvue.AuditRecord
		for i := 0; i < n; i++ {
			c := record(t, deepvue.AuditConsent, at)
			o := c
			o.Stage, o.Outcome = deepvue.AuditOutcome, "ok"
			cs, os = append(cs, c), append(os, o)
		}
		return append(cs, os...)
	}
	for _, r := range append(interleaved(3, old), interleaved(2, old)...) {
		require.NoError(t, tr.Record(ctx, r))
	}
	// A call across the cut: its consent old, its outcome new.
	late := record(t, deepvue.AuditConsent, old)
	require.NoError(t, tr.Record(ctx, late))
	cut := time.Now()
	time.Sleep(2 * time.Millisecond)
	late.Stage, late.Outcome, late.Time = deepvue.AuditOutcome, "ok", time.Now()
	require.NoError(t, tr.Record(ctx, late))

	p := keepFor(0, newMemStore(), cut)
	p.BatchRows = 2
	res, err := tr.Purge(ctx, p)
	require.NoError(t, err)
	var bounds [][2]int64
	for _, m := range res.Segments {
		bounds = append(bounds, [2]int64{m.First, m.Last})
	}
	assert.Equal(t, [][2]int64{{1, 6}, {7, 10}}, bounds, "each batch grown over the calls it starts")
	assert.Equal(t, int64(10), res.Rows)
	assert.Equal(t, 2, count(t, tr, `call_id = $1`, late.CallID), "the call across the cut keeps both rows")
	require.NoError(t, tr.VerifyFull(ctx))
}

// createHookStore runs hook after it stores a checkpoint note.
type createHookStore struct {
	deepvueaudit.CheckpointStore
	hook func(name string)
}

func (s *createHookStore) Create(ctx context.Context, name string, data []byte) error {
	err := s.CheckpointStore.Create(ctx, name, data)
	if err == nil && strings.HasSuffix(name, ".note") {
		s.hook(name)
	}
	return err
}

// TestVerifyWhilePurgeCommits: a Purge signs the checkpoint stating its
// new anchor before it commits; another replica verifying between the two
// (the checkpoint stored, the rows not yet deleted) sees no problem, nor
// after the commit.
func TestVerifyWhilePurgeCommits(t *testing.T) {
	pg := postgres(t)
	tr := newTrail(t, pg)
	ctx := context.Background()
	archive := deepvueaudit.DirStore(t.TempDir())
	now := time.Now()
	writeRows(t, tr.Log, 10, now.Add(-3*time.Minute))
	writeRows(t, tr.Log, 6, now.Add(-time.Minute))
	_, err := tr.Checkpoint(ctx)
	require.NoError(t, err)
	other := tr.open(t, pg.db(t))
	var during int
	hs := &createHookStore{CheckpointStore: tr.store, hook: func(name string) {
		if strings.HasSuffix(name, "-0.note") {
			return // not the Purge's
		}
		during++
		assert.NoError(t, other.Verify(ctx), "Verify between the Purge's checkpoint and its commit")
		assert.NoError(t, other.VerifyFull(ctx), "VerifyFull between the Purge's checkpoint and its commit")
	}}
	purger, err := deepvueaudit.Open(ctx, pg.db(t), deepvueaudit.WithTable(tr.table),
		deepvueaudit.WithCheckpoints(hs, tr.signer, tr.verifier))
	require.NoError(t, err)
	defer purger.Close(ctx)
	res, err := purger.Purge(ctx, keepFor(150*time.Second, archive, now))
	require.NoError(t, err)
	assert.Equal(t, int64(10), res.Rows)
	assert.Positive(t, during, "the hook ran between the Purge's checkpoint and its commit")
	require.NoError(t, other.Verify(ctx))
	require.NoError(t, other.VerifyFull(ctx))
}
