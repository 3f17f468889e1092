package deepvueaudit_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"os"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvueaudit"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
)

// createTables runs Schema's SQL for table as the owner (idempotent).
func createTables(t testing.TB, db *sql.DB, table string) {
	t.Helper()
	ddl, err := deepvueaudit.Schema(table)
	require.NoError(t, err)
	mustExec(t, db, ddl)
}

// testKey returns a fresh Ed25519 signer and its verifier.
func testKey(t testing.TB) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, "deepvue-audit-test")
	require.NoError(t, err)
	s, err := note.NewSigner(skey)
	require.NoError(t, err)
	v, err := note.NewVerifier(vkey)
	require.NoError(t, err)
	return s, v
}

// trail is a Log with checkpoints on a fresh table, its store in a
// temporary folder.
type trail struct {
	*deepvueaudit.Log
	table    string
	db       *sql.DB // the owner's
	store    deepvueaudit.DirStore
	signer   note.Signer
	verifier note.Verifier
}

func newTrail(t testing.TB, pg *pgServer, opts ...deepvueaudit.Option) *trail {
	t.Helper()
	tr := &trail{table: freshTable(), db: pg.db(t), store: deepvueaudit.DirStore(t.TempDir())}
	tr.signer, tr.verifier = testKey(t)
	createTables(t, tr.db, tr.table)
	tr.Log = tr.open(t, tr.db, opts...)
	return tr
}

// open opens another Log on the trail's table and store, through db.
func (tr *trail) open(t testing.TB, db *sql.DB, opts ...deepvueaudit.Option) *deepvueaudit.Log {
	t.Helper()
	l, err := deepvueaudit.Open(context.Background(), db, append([]deepvueaudit.Option{deepvueaudit.WithTable(tr.table),
		deepvueaudit.WithCheckpoints(tr.store, tr.signer, tr.verifier)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	return l
}

// call records one call's consent and outcome rows and returns its id.
func (tr *trail) call(t testing.TB) string {
	t.Helper()
	r := record(t, deepvue.AuditConsent, time.Now())
	r.Evidence = deepvue.ConsentEvidence{NoticeID: "aadhaar-ekyc", NoticeVersion: "3", Language: "en", Channel: "web",
		NoticeSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", AlternativesOffered: true,
		DecidedAt: time.Now().Add(-time.Second), Operator: "onboarding", CustomerRef: "c_" + r.CallID[:12]}
	require.NoError(t, tr.Record(context.Background(), r))
	r.Stage, r.Time, r.Outcome, r.OTPState, r.Attempts = deepvue.AuditOutcome, time.Now(), "ok", deepvue.OTPSent, 1
	r.TransactionID = callID(t)
	require.NoError(t, tr.Record(context.Background(), r))
	return r.CallID
}

// problems returns VerifyFull's problems (nil if it verifies): the edits
// the tests make are to rows a Verify may have checked before.
func problems(t testing.TB, l *deepvueaudit.Log) []*deepvueaudit.ChainError {
	t.Helper()
	err := l.VerifyFull(context.Background())
	if err == nil {
		return nil
	}
	var ve *deepvueaudit.VerifyError
	require.ErrorAs(t, err, &ve, "%v", err)
	require.ErrorIs(t, err, deepvueaudit.ErrChainBroken)
	return ve.Problems
}

// TestSchemaFileIsCurrent: schema.sql, for DBAs to review and run, is
// Schema and Grants of the default table for a role named deepvue_app, and
// both run twice without error (idempotent schema) on PostgreSQL.
func TestSchemaFileIsCurrent(t *testing.T) {
	ddl, err := deepvueaudit.Schema(deepvueaudit.DefaultTable)
	require.NoError(t, err)
	grants, err := deepvueaudit.Grants(deepvueaudit.DefaultTable, "deepvue_app")
	require.NoError(t, err)
	want := ddl + grants
	if os.Getenv("DEEPVUE_UPDATE_SCHEMA") != "" {
		require.NoError(t, os.WriteFile("schema.sql", []byte(want), 0o644))
	}
	got, err := os.ReadFile("schema.sql")
	require.NoError(t, err)
	require.Equal(t, want, string(got), "regenerate with DEEPVUE_UPDATE_SCHEMA=1 go test -run TestSchemaFileIsCurrent")
	_, err = deepvueaudit.Grants(deepvueaudit.DefaultTable, `x"; DROP TABLE y; --`)
	require.Error(t, err)

	pg := postgres(t)
	db := pg.db(t)
	table := freshTable()
	ddl, err = deepvueaudit.Schema(table)
	require.NoError(t, err)
	grants, err = deepvueaudit.Grants(table, "role_"+table)
	require.NoError(t, err)
	mustExec(t, db, `CREATE ROLE "role_`+table+`"`)
	for i := 0; i < 2; i++ {
		mustExec(t, db, ddl)
		mustExec(t, db, grants)
	}
}
