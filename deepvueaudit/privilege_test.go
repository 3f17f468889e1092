package deepvueaudit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvueaudit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sqlState returns err's SQLSTATE ("" if none).
func sqlState(err error) string {
	var s interface{ SQLState() string }
	if errors.As(err, &s) {
		return s.SQLState()
	}
	return ""
}

// TestApplicationRoleCannotRewriteTheTrail: the tables are created by
// their owner (Schema) and the application's role gets only Grants: Open
// (which runs no DDL), Record, Verify, Checkpoint and Proof work for it,
// and PostgreSQL refuses it every UPDATE, DELETE and TRUNCATE of rows and
// every move of the anchor (SQLSTATE 42501, insufficient privilege). A
// head it moves back is named by Verify.
func TestApplicationRoleCannotRewriteTheTrail(t *testing.T) {
	pg := postgres(t)
	tr := newTrail(t, pg) // tables created by the owner
	role := "app_" + tr.table
	mustExec(t, tr.db, `CREATE ROLE "`+role+`" LOGIN`)
	grants, err := deepvueaudit.Grants(tr.table, role)
	require.NoError(t, err)
	mustExec(t, tr.db, grants)

	app := pg.dbWith(t, "user="+role)
	ctx := context.Background()
	l := tr.open(t, app)
	for i := 0; i < 3; i++ {
		r := record(t, deepvue.AuditConsent, time.Now())
		require.NoError(t, l.Record(ctx, r))
	}
	_, err = l.Checkpoint(ctx)
	require.NoError(t, err)
	require.NoError(t, l.Verify(ctx))
	var id string
	require.NoError(t, app.QueryRow(`SELECT call_id FROM "`+tr.table+`" WHERE seq = 2`).Scan(&id))
	b, err := l.Proof(ctx, id)
	require.NoError(t, err)
	_, err = deepvueaudit.VerifyProof(b, tr.verifier)
	require.NoError(t, err)

	t.Run("refused", func(t *testing.T) {
		for _, q := range []string{
			`UPDATE "` + tr.table + `" SET purpose = 'marketing' WHERE seq = 1`,
			`UPDATE "` + tr.table + `" SET hashes = hashes WHERE seq = 1`,
			`DELETE FROM "` + tr.table + `" WHERE seq = 3`,
			`TRUNCATE "` + tr.table + `"`,
			`UPDATE "` + tr.table + `_head" SET anchor = 2`,
			`UPDATE "` + tr.table + `_head" SET anchor_frontier = '\x'`,
			`DELETE FROM "` + tr.table + `_head"`,
			`TRUNCATE "` + tr.table + `_head"`,
			`INSERT INTO "` + tr.table + `_head" (tenant, size, root, frontier, updated_at) VALUES ('x', 0, '\x', '\x', now())`,
			`DROP TABLE "` + tr.table + `"`,
			`ALTER TABLE "` + tr.table + `" DISABLE TRIGGER ALL`,
			`CREATE TABLE "` + tr.table + `_mine" (x int)`,
		} {
			_, err := app.ExecContext(ctx, q)
			require.Error(t, err, q)
			assert.Contains(t, []string{"42501"}, sqlState(err), "%s: %v", q, err)
		}
		// Purge needs DELETE and the anchor: the owner's job. Refused, it
		// signs no checkpoint stating a new anchor.
		archive := deepvueaudit.DirStore(t.TempDir())
		_, err := l.Purge(ctx, deepvueaudit.Retention{AllowUnderOneYear: true, Archive: archive})
		require.Error(t, err)
		assert.Equal(t, "42501", sqlState(err))
		archived, err := archive.List(ctx, tr.table+"/")
		require.NoError(t, err)
		assert.Empty(t, archived, "nothing archived by a refused Purge")
		names, err := tr.store.List(ctx, tr.table+"/")
		require.NoError(t, err)
		for _, n := range names {
			assert.NotContains(t, n, "-00000000000000000003.note", "an anchor signed by a refused Purge")
		}
	})
	require.NoError(t, l.Verify(ctx), "nothing changed")

	// What the role may do to the head (move it back) is named.
	mustExec(t, app, `UPDATE "`+tr.table+`_head" SET size = 1`)
	err = l.Verify(ctx)
	var ce *deepvueaudit.ChainError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, deepvueaudit.Inserted, ce.Kind, "%v", err) // rows after the head
	mustExec(t, tr.db, `UPDATE "`+tr.table+`_head" SET size = 3`)
	require.NoError(t, l.Verify(ctx))

	// Open runs no DDL: on a table that does not exist it fails, and
	// creates nothing.
	_, err = deepvueaudit.Open(ctx, app, deepvueaudit.WithTable(tr.table+"_none"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Schema")
	var n int
	require.NoError(t, tr.db.QueryRow(`SELECT count(*) FROM pg_tables WHERE tablename LIKE $1`, tr.table+"_none%").Scan(&n))
	assert.Zero(t, n)
}
