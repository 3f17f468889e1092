package deepvueaudit_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvueaudit"
	"github.com/deepvue-go/deepvue/deepvuetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const purpose = "KYC for loan account opening"

// newLog returns a Log without checkpoints on table of the shared server,
// creating the table (as its owner, the superuser) if it is missing.
func newLog(t testing.TB, db *sql.DB, table string, opts ...deepvueaudit.Option) *deepvueaudit.Log {
	t.Helper()
	createTables(t, db, table)
	l, err := deepvueaudit.Open(context.Background(), db, append([]deepvueaudit.Option{deepvueaudit.WithTable(table)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	return l
}

func callID(t testing.TB) string {
	var b [16]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return hex.EncodeToString(b[:])
}

// record returns a record as the SDK makes it.
func record(t testing.TB, stage deepvue.AuditStage, at time.Time) deepvue.AuditRecord {
	return deepvue.AuditRecord{CallID: callID(t), Stage: stage, Time: at, Operation: "generate-otp", Purpose: purpose,
		Consent: deepvue.ConsentYes, MaskedNumber: "XXXX XXXX 2346"}
}

// writeRows appends n records and returns their call ids, by sequence
// number (ids[0] is row 1 on a fresh table).
func writeRows(t testing.TB, l *deepvueaudit.Log, n int, at time.Time) []string {
	t.Helper()
	var ids []string
	for i := 0; i < n; i++ {
		r := record(t, deepvue.AuditConsent, at)
		require.NoError(t, l.Record(context.Background(), r))
		ids = append(ids, r.CallID)
	}
	return ids
}

func mustExec(t testing.TB, db *sql.DB, q string, args ...any) {
	t.Helper()
	_, err := db.ExecContext(context.Background(), q, args...)
	require.NoError(t, err, q)
}

// chainError asserts err's first problem is of kind at row seq.
func chainError(t *testing.T, err error, seq int64, callID string, kind deepvueaudit.ProblemKind) {
	t.Helper()
	require.ErrorIs(t, err, deepvueaudit.ErrChainBroken)
	var ce *deepvueaudit.ChainError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, seq, ce.Seq, "the row named: %v", err)
	assert.Equal(t, callID, ce.CallID)
	assert.Equal(t, kind, ce.Kind, "%v", err)
	assert.Contains(t, err.Error(), fmt.Sprintf("row %d", seq))
}

// TestFourClientsFiftyCalls: four Clients (four replicas, each with its own
// connection pool and Log on one table) make 50 calls each through
// deepvuetest at once: 200 consent and 200 outcome rows, paired by call id,
// and the chain verifies.
func TestFourClientsFiftyCalls(t *testing.T) {
	pg := postgres(t)
	table := freshTable()
	srv := deepvuetest.NewServer(deepvuetest.WithPendingWindow(0))
	defer srv.Close()
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < 4; w++ {
		l := newLog(t, pg.db(t), table)
		c, err := deepvue.NewClient(srv.ClientID, srv.ClientSecret, deepvue.WithBaseURL(srv.URL), deepvue.WithAuditLog(l.Record))
		require.NoError(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for i := 0; i < 25; i++ {
				res, err := c.GenerateOTP(ctx, deepvuetest.NumberSuccess, deepvue.ConsentYes, purpose)
				if !assert.NoError(t, err) {
					return
				}
				_, err = c.VerifyOTP(ctx, deepvue.VerifyOTPRequest{ReferenceID: res.ReferenceID, OTP: deepvuetest.OTPValid,
					Consent: deepvue.ConsentYes, Purpose: purpose})
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	db := pg.db(t)
	rows, err := db.Query(`SELECT call_id, stage, operation, outcome FROM "` + table + `" ORDER BY seq`)
	require.NoError(t, err)
	defer rows.Close()
	stages := map[string][]string{}
	ops := map[string]int{}
	n := 0
	for rows.Next() {
		var id, stage, op, outcome string
		require.NoError(t, rows.Scan(&id, &stage, &op, &outcome))
		stages[id] = append(stages[id], stage)
		if stage == "outcome" {
			ops[op]++
			assert.Equal(t, "ok", outcome)
		}
		n++
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, 400, n)
	assert.Len(t, stages, 200)
	for id, s := range stages {
		assert.Equal(t, []string{"consent", "outcome"}, s, "call %s", id)
	}
	assert.Equal(t, map[string]int{"generate-otp": 100, "verify-otp": 100}, ops)
	assert.Equal(t, 200, srv.Requests(deepvuetest.PathGenerateOTP)+srv.Requests(deepvuetest.PathVerifyOTP))
	l := newLog(t, db, table)
	require.NoError(t, l.Verify(context.Background()))
	t.Logf("4 clients x 50 calls: %d rows in %v (%.0f rows/s, calls included)", n, elapsed.Round(time.Millisecond),
		float64(n)/elapsed.Seconds())
}

// TestVerifyNamesTheChangedRow: without checkpoints, an UPDATE, a DELETE, a
// reordering of a middle row, and rows deleted at the end, by plain SQL,
// are each caught and named from the stored hashes alone.
func TestVerifyNamesTheChangedRow(t *testing.T) {
	pg := postgres(t)
	db := pg.db(t)
	tests := []struct {
		name   string
		tamper func(tb string)
		seq    int64
		named  bool // the error names the row's call id
		kind   deepvueaudit.ProblemKind
	}{
		{"update purpose", func(tb string) { mustExec(t, db, `UPDATE "`+tb+`" SET purpose = 'other' WHERE seq = 10`) }, 10, true, deepvueaudit.Changed},
		{"update outcome", func(tb string) { mustExec(t, db, `UPDATE "`+tb+`" SET outcome = 'ok' WHERE seq = 7`) }, 7, true, deepvueaudit.Changed},
		{"update time", func(tb string) {
			mustExec(t, db, `UPDATE "`+tb+`" SET recorded_at = recorded_at + interval '1 microsecond' WHERE seq = 12`)
		}, 12, true, deepvueaudit.Changed},
		{"delete", func(tb string) { mustExec(t, db, `DELETE FROM "`+tb+`" WHERE seq = 10`) }, 10, false, deepvueaudit.Deleted},
		{"swap two rows", func(tb string) {
			mustExec(t, db, `UPDATE "`+tb+`" SET seq = 1000 WHERE seq = 5`)
			mustExec(t, db, `UPDATE "`+tb+`" SET seq = 5 WHERE seq = 6`)
			mustExec(t, db, `UPDATE "`+tb+`" SET seq = 6 WHERE seq = 1000`)
		}, 5, true, deepvueaudit.Changed},
		{"delete the last rows", func(tb string) { mustExec(t, db, `DELETE FROM "`+tb+`" WHERE seq >= 19`) }, 19, false, deepvueaudit.Deleted},
		{"a stored hash rewritten", func(tb string) {
			mustExec(t, db, `UPDATE "`+tb+`" SET hashes = overlay(hashes placing '\xff' from 40 for 1) WHERE seq = 2`)
		}, 2, true, deepvueaudit.Changed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := freshTable()
			l := newLog(t, db, table)
			ids := writeRows(t, l, 20, time.Now())
			require.NoError(t, l.Verify(context.Background()))
			tt.tamper(table)
			err := l.Verify(context.Background())
			want := ""
			if tt.named {
				var got string
				require.NoError(t, db.QueryRow(`SELECT call_id FROM "`+table+`" WHERE seq = $1`, tt.seq).Scan(&got))
				want = got
				if tt.name != "swap two rows" {
					assert.Equal(t, ids[tt.seq-1], got)
				}
			}
			chainError(t, err, tt.seq, want, tt.kind)
		})
	}
}

// TestServerStoppedMidRun: PostgreSQL stops (an immediate shutdown, as in a
// crash) while four clients make calls: from then on every call is refused
// with ErrAuditFailed and ErrNotSent and nothing reaches Deepvue; after a
// restart every record that was acknowledged is there and the chain
// verifies.
func TestServerStoppedMidRun(t *testing.T) {
	pg := postgres(t)
	table := freshTable()
	srv := deepvuetest.NewServer(deepvuetest.WithPendingWindow(0))
	defer srv.Close()

	type key struct{ id, stage string }
	var mu sync.Mutex
	acked := map[key]bool{}
	var stopped atomic.Bool
	var phase sync.WaitGroup // the callers reach it once they saw the stop
	release := make(chan struct{})
	var afterStop, refused atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		db := pg.db(t)
		db.SetMaxOpenConns(2)
		l := newLog(t, db, table)
		fn := func(ctx context.Context, r deepvue.AuditRecord) error {
			err := l.Record(ctx, r)
			if err == nil {
				mu.Lock()
				acked[key{r.CallID, string(r.Stage)}] = true
				mu.Unlock()
			}
			return err
		}
		c, err := deepvue.NewClient(srv.ClientID, srv.ClientSecret, deepvue.WithBaseURL(srv.URL), deepvue.WithAuditLog(fn))
		require.NoError(t, err)
		wg.Add(1)
		phase.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			call := func() error {
				ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				_, err := c.GenerateOTP(ctx, deepvuetest.NumberSuccess, deepvue.ConsentYes, purpose)
				return err
			}
			for !stopped.Load() {
				_ = call() // before or during the stop: either way
			}
			phase.Done()
			<-release
			for i := 0; i < 5; i++ {
				err := call()
				afterStop.Add(1)
				if errors.Is(err, deepvue.ErrAuditFailed) && errors.Is(err, deepvue.ErrNotSent) {
					refused.Add(1)
				} else {
					t.Errorf("a call after the stop: %v", err)
				}
			}
		}()
	}
	// Let the calls run, then stop the server under them.
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 100 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	pg.stop(syscall.SIGQUIT)
	stopped.Store(true)
	phase.Wait()
	sent := srv.Requests(deepvuetest.PathGenerateOTP)
	close(release)
	wg.Wait()
	assert.Equal(t, int64(20), afterStop.Load())
	assert.Equal(t, int64(20), refused.Load(), "every call after the stop is refused")
	assert.Equal(t, sent, srv.Requests(deepvuetest.PathGenerateOTP), "nothing was sent after the stop")

	require.NoError(t, pg.start())
	db := pg.db(t)
	rows, err := db.Query(`SELECT call_id, stage FROM "` + table + `"`)
	require.NoError(t, err)
	defer rows.Close()
	stored := map[key]bool{}
	for rows.Next() {
		var k key
		require.NoError(t, rows.Scan(&k.id, &k.stage))
		stored[k] = true
	}
	require.NoError(t, rows.Err())
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, acked)
	missing := 0
	for k := range acked {
		if !stored[k] {
			missing++
		}
	}
	assert.Zero(t, missing, "acknowledged records lost")
	assert.GreaterOrEqual(t, len(stored), len(acked))
	require.NoError(t, newLog(t, db, table).Verify(context.Background()))
	t.Logf("%d records acknowledged before the stop, %d stored; %d requests sent", len(acked), len(stored), sent)
}

// TestNoPIIInAnyColumn: calls against a server that echoes everything (the
// Aadhaar number, OTP, mobile, secret, KYC data and photo) in every field
// of every answer leave none of it in any column, in any spelling.
func TestNoPIIInAnyColumn(t *testing.T) {
	pg := postgres(t)
	db := pg.db(t)
	table := freshTable()
	l := newLog(t, db, table)
	const (
		number = "234123412346"
		otp    = "482913"
		mobile = "9123456780"
		secret = "live_s3cr3t_value_never_print"
	)
	kyc := []string{"Mohammed Nihar", "28-06-1999", "S/O H. Nue Mahammed", "MTS LAYOUT J X NAGAR 51TH PHASE", "/9j/4AAQSkZJRgABAQ"}
	var pick atomic.Int64
	var mu sync.Mutex
	last := ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		mu.Lock()
		if n := q.Get("aadhaar_number"); n != "" {
			last = n
		}
		seen := last
		mu.Unlock()
		all := strings.Join(append([]string{seen, q.Get("otp"), q.Get("mobile_number"), r.Header.Get("x-api-key"), r.URL.String()}, kyc...), " ")
		alone := []string{all, seen, "2341-2341-2346", "tx" + seen, q.Get("otp"), q.Get("mobile_number"), r.Header.Get("x-api-key")}
		p := int(pick.Add(1))
		status := []int{200, 200, 400, 409, 500, 502}[(p/3)%6]
		if strings.HasSuffix(r.URL.Path, "verify-otp") && status == 200 {
			// KYC values alone only where the answer carries them as data:
			// elsewhere nothing tells a name from an id.
			alone = append(alone, "Mohammed", "28-06-1999", "NAGAR")
		}
		v := alone[p%len(alone)]
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"code":%d,"sub_code":%q,"message":%q,"detail":%q,"transaction_id":%q,"reference_id":%q,`+
			`"data":{"name":"Mohammed Nihar","dateOfBirth":"28-06-1999","photo":"/9j/4AAQSkZJRgABAQ","maskedNumber":%q,`+
			`"address":{"careOf":"S/O H. Nue Mahammed","locality":"MTS LAYOUT J X NAGAR 51TH PHASE"}}}`,
			status, map[bool]string{true: "SUCCESS", false: "INVALID_INPUT"}[status == 200], all, all, v, v, v)
	}))
	defer srv.Close()
	c, err := deepvue.NewClient("id", secret, deepvue.WithBaseURL(srv.URL), deepvue.WithAuditLog(l.Record), deepvue.WithRetryMax(0))
	require.NoError(t, err)
	for i := 0; i < 30; i++ {
		_, _ = c.GenerateOTP(context.Background(), number, deepvue.ConsentYes, "KYC of 2341 2341 2346")
		_, _ = c.VerifyOTP(context.Background(), deepvue.VerifyOTPRequest{ReferenceID: "29756208", OTP: otp, MobileNumber: mobile,
			Consent: deepvue.ConsentYes, Purpose: "KYC " + mobile + " " + otp})
	}
	spellings := []string{number, "2341 2341 2346", "2341-2341-2346", otp, "482 913", mobile, "91234 56780", secret,
		"Mohammed", "Nihar", "28-06-1999", "Mahammed", "NAGAR", "/9j/4AAQ"}
	// Every text column; the others are numbers, a timestamp and hashes.
	rows, err := db.Query(`SELECT call_id, stage, operation, purpose, consent, masked_number, reference_id, transaction_id,
		outcome, otp_state, notice_id, notice_version, notice_sha256, language, channel, operator, customer_ref FROM "` + table + `"`)
	require.NoError(t, err)
	defer rows.Close()
	n, withTxn := 0, 0
	for rows.Next() {
		cols := make([]string, 17)
		ptrs := make([]any, len(cols))
		for i := range cols {
			ptrs[i] = &cols[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		assert.Regexp(t, `^[0-9a-f]{32}$`, cols[0])
		for _, col := range cols[1:] {
			for _, s := range spellings {
				assert.NotContains(t, strings.ToLower(col), strings.ToLower(s))
			}
		}
		if cols[7] != "" {
			withTxn++
		}
		n++
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, 120, n)
	assert.Positive(t, withTxn, "clean ids are kept (else the check is vacuous)")
}

// TestRecordRefusesWhatTheSDKNeverMakes: a hand-made record with a full
// number in MaskedNumber, without a proper call id, with a Time far from
// the clock (back-dated) or an oversized text, is refused.
func TestRecordRefusesWhatTheSDKNeverMakes(t *testing.T) {
	pg := postgres(t)
	l := newLog(t, pg.db(t), freshTable())
	for _, mutate := range []func(r *deepvue.AuditRecord){
		func(r *deepvue.AuditRecord) { r.MaskedNumber = "234123412346" },
		func(r *deepvue.AuditRecord) { r.MaskedNumber = "2341 2341 2346" },
		func(r *deepvue.AuditRecord) { r.CallID = "1" },
		func(r *deepvue.AuditRecord) { r.Stage = "other" },
		func(r *deepvue.AuditRecord) { r.Time = time.Now().AddDate(0, 0, -3) }, // back-dated
		func(r *deepvue.AuditRecord) { r.Time = time.Now().Add(time.Hour) },
		func(r *deepvue.AuditRecord) { r.Purpose = strings.Repeat("p", 1001) },
	} {
		r := record(t, deepvue.AuditConsent, time.Now())
		mutate(&r)
		assert.Error(t, l.Record(context.Background(), r))
	}
	assert.NoError(t, l.Verify(context.Background()))
}

// TestNewConcurrently: replicas starting at once all create (or find) the
// tables.
func TestNewConcurrently(t *testing.T) {
	pg := postgres(t)
	table := freshTable()
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		db := pg.db(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := deepvueaudit.New(context.Background(), db, deepvueaudit.WithTable(table))
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
}

func TestWithTable(t *testing.T) {
	db, err := sql.Open("pgx", "host=/nonexistent")
	require.NoError(t, err)
	defer db.Close()
	for _, bad := range []string{"", "Audit", `a"; DROP TABLE x; --`, "a.b", "1abc", strings.Repeat("a", 59)} {
		_, err := deepvueaudit.New(context.Background(), db, deepvueaudit.WithTable(bad))
		assert.Error(t, err, bad)
	}
	_, err = deepvueaudit.New(context.Background(), nil)
	assert.Error(t, err)
}
