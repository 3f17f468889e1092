package deepvueaudit_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvueaudit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
)

// hasProblem asserts that ps names kind at row seq (and callID, if set).
func hasProblem(t *testing.T, ps []*deepvueaudit.ChainError, kind deepvueaudit.ProblemKind, seq int64, callID string) {
	t.Helper()
	for _, p := range ps {
		if p.Kind == kind && p.Seq == seq && (callID == "" || p.CallID == callID) {
			return
		}
	}
	var got []string
	for _, p := range ps {
		got = append(got, fmt.Sprintf("row %d (%s) %s: %s", p.Seq, p.CallID, p.Kind, p.Reason))
	}
	t.Errorf("want %s at row %d (call %q); Verify named:\n%s", kind, seq, callID, strings.Join(got, "\n"))
}

// renumber moves the rows after row after down by by (an insider closing
// a gap), in two steps that keep the primary key unique.
func renumber(t *testing.T, tr *trail, after, by int64) {
	t.Helper()
	mustExec(t, tr.db, `UPDATE "`+tr.table+`" SET seq = seq + 1000000 WHERE seq > $1`, after)
	mustExec(t, tr.db, `UPDATE "`+tr.table+`" SET seq = seq - 1000000 - $1 WHERE seq > 1000000`, by)
}

func rehash(t *testing.T, tr *trail) {
	t.Helper()
	require.NoError(t, deepvueaudit.Rehash(context.Background(), tr.db, tr.table))
}

// TestVerifyNamesEveryInsiderEdit: the edits of issue 22, each made as the
// tables' owner by plain SQL and again with every hash and the head
// recomputed (Rehash: what an insider who read this package does), on rows
// two signed checkpoints cover (sizes 10 and 20). Verify names each one.
// Before (deepvueaudit at c0605b3), Verify returned nil for all of them.
func TestVerifyNamesEveryInsiderEdit(t *testing.T) {
	pg := postgres(t)
	type edit func(t *testing.T, tr *trail, calls []string)
	type check func(t *testing.T, tr *trail, calls []string, ps []*deepvueaudit.ChainError)
	cases := []struct {
		name         string
		plain, rehas edit
		check        check
	}{{
		name: "a row's purpose rewritten",
		plain: func(t *testing.T, tr *trail, calls []string) {
			mustExec(t, tr.db, `UPDATE "`+tr.table+`" SET purpose = 'marketing' WHERE seq = 5`)
		},
		check: func(t *testing.T, tr *trail, calls []string, ps []*deepvueaudit.ChainError) {
			hasProblem(t, ps, deepvueaudit.Changed, 5, calls[2])
		},
	}, {
		name: "one call's two rows deleted",
		plain: func(t *testing.T, tr *trail, calls []string) {
			mustExec(t, tr.db, `DELETE FROM "`+tr.table+`" WHERE call_id = $1`, calls[3])
		},
		rehas: func(t *testing.T, tr *trail, calls []string) {
			mustExec(t, tr.db, `DELETE FROM "`+tr.table+`" WHERE call_id = $1`, calls[3])
			renumber(t, tr, 8, 2)
		},
		check: func(t *testing.T, tr *trail, calls []string, ps []*deepvueaudit.ChainError) {
			hasProblem(t, ps, deepvueaudit.Deleted, 7, "")
		},
	}, {
		name: "the newest rows deleted and the head moved back",
		plain: func(t *testing.T, tr *trail, calls []string) {
			// No hashing at all: an older row's hash copied into the head.
			mustExec(t, tr.db, `DELETE FROM "`+tr.table+`" WHERE seq > 16`)
			mustExec(t, tr.db, `UPDATE "`+tr.table+`_head" SET size = 16,
				root = (SELECT substring(hashes from 1 for 32) FROM "`+tr.table+`" WHERE seq = 16)`)
		},
		rehas: func(t *testing.T, tr *trail, calls []string) {
			mustExec(t, tr.db, `DELETE FROM "`+tr.table+`" WHERE seq > 16`)
		},
		check: func(t *testing.T, tr *trail, calls []string, ps []*deepvueaudit.ChainError) {
			hasProblem(t, ps, deepvueaudit.Deleted, 17, "")
		},
	}, {
		name: "the oldest rows deleted and the anchor moved",
		plain: func(t *testing.T, tr *trail, calls []string) {
			// The anchor's frontier for 4 rows is row 4's level-2 hash.
			mustExec(t, tr.db, `UPDATE "`+tr.table+`_head" SET anchor = 4,
				anchor_frontier = (SELECT substring(hashes from 65 for 32) FROM "`+tr.table+`" WHERE seq = 4)`)
			mustExec(t, tr.db, `DELETE FROM "`+tr.table+`" WHERE seq <= 4`)
		},
		rehas: func(t *testing.T, tr *trail, calls []string) {
			af, err := deepvueaudit.AnchorFrontier(context.Background(), tr.db, tr.table, 4)
			require.NoError(t, err)
			mustExec(t, tr.db, `UPDATE "`+tr.table+`_head" SET anchor = 4, anchor_frontier = $1`, af)
			mustExec(t, tr.db, `DELETE FROM "`+tr.table+`" WHERE seq <= 4`)
		},
		check: func(t *testing.T, tr *trail, calls []string, ps []*deepvueaudit.ChainError) {
			hasProblem(t, ps, deepvueaudit.AnchorMoved, 1, "")
		},
	}, {
		name: "a consent row back-dated three days",
		plain: func(t *testing.T, tr *trail, calls []string) {
			mustExec(t, tr.db, `UPDATE "`+tr.table+`" SET recorded_at = recorded_at - interval '3 days' WHERE seq = 5`)
		},
		rehas: func(t *testing.T, tr *trail, calls []string) {
			mustExec(t, tr.db, `UPDATE "`+tr.table+`" SET recorded_at = recorded_at - interval '3 days',
				db_time = db_time - interval '3 days', decided_at = decided_at - interval '3 days' WHERE seq = 5`)
		},
		check: func(t *testing.T, tr *trail, calls []string, ps []*deepvueaudit.ChainError) {
			hasProblem(t, ps, deepvueaudit.Changed, 5, calls[2])
			hasProblem(t, ps, deepvueaudit.BackDated, 5, calls[2])
		},
	}, {
		name: "an outcome row left without its consent row",
		plain: func(t *testing.T, tr *trail, calls []string) {
			mustExec(t, tr.db, `DELETE FROM "`+tr.table+`" WHERE seq = 11`)
		},
		rehas: func(t *testing.T, tr *trail, calls []string) {
			mustExec(t, tr.db, `DELETE FROM "`+tr.table+`" WHERE seq = 11`)
			renumber(t, tr, 11, 1)
		},
		check: func(t *testing.T, tr *trail, calls []string, ps []*deepvueaudit.ChainError) {
			hasProblem(t, ps, deepvueaudit.Deleted, 11, "")
			var seq int64
			require.NoError(t, tr.db.QueryRow(`SELECT seq FROM "`+tr.table+`" WHERE call_id = $1`, calls[5]).Scan(&seq))
			hasProblem(t, ps, deepvueaudit.NoConsent, seq, calls[5])
		},
	}, {
		name: "rows inserted at or below the anchor after a signed Purge",
		plain: func(t *testing.T, tr *trail, calls []string) {
			// A legitimate Purge of the first two calls, signed ...
			var cut time.Time
			require.NoError(t, tr.db.QueryRow(`SELECT recorded_at FROM "`+tr.table+`" WHERE seq = 5`).Scan(&cut))
			res, err := tr.Purge(context.Background(), deepvueaudit.Retention{AsOf: cut, AllowUnderOneYear: true,
				Archive: deepvueaudit.DirStore(t.TempDir())})
			require.NoError(t, err)
			require.Equal(t, int64(4), res.Rows)
			// ... then rows slipped in where the purged rows were.
			mustExec(t, tr.db, `INSERT INTO "`+tr.table+`" SELECT tenant, 2, call_id, stage, recorded_at, db_time, operation,
				purpose, consent, masked_number, reference_id, transaction_id, 'ok', otp_state, attempts, notice_id,
				notice_version, notice_sha256, language, channel, alternatives_offered, decided_at, operator, customer_ref,
				detail, hashes FROM "`+tr.table+`" WHERE seq = 6`)
		},
		check: func(t *testing.T, tr *trail, calls []string, ps []*deepvueaudit.ChainError) {
			hasProblem(t, ps, deepvueaudit.Inserted, 2, calls[2])
		},
	}}
	for _, tc := range cases {
		for _, variant := range []string{"plain SQL", "hashes recomputed"} {
			do := tc.plain
			if variant == "hashes recomputed" {
				if tc.name == "rows inserted at or below the anchor after a signed Purge" {
					continue // plain SQL only: there is nothing to recompute
				}
				if tc.rehas != nil {
					do = tc.rehas
				}
			}
			t.Run(tc.name+", "+variant, func(t *testing.T) {
				tr := newTrail(t, pg)
				var calls []string
				for i := 0; i < 10; i++ {
					calls = append(calls, tr.call(t))
					if i == 4 || i == 9 {
						_, err := tr.Checkpoint(context.Background())
						require.NoError(t, err)
					}
				}
				require.Empty(t, problems(t, tr.Log))
				do(t, tr, calls)
				if variant == "hashes recomputed" {
					rehash(t, tr)
				}
				ps := problems(t, tr.Log)
				require.NotEmpty(t, ps, "Verify passed an edited trail")
				tc.check(t, tr, calls, ps)
				// A checkpoint never vouches for the edited trail.
				if _, err := tr.Checkpoint(context.Background()); err == nil {
					assert.NotEmpty(t, problems(t, tr.Log), "still named after a new checkpoint")
				}
				t.Logf("%s", tr.VerifyFull(context.Background()))
			})
		}
	}
}

// TestOutcomeWithoutConsentIsNamedWithoutCheckpoints: an outcome row
// appended through the Log for a call that has no consent row (the
// application's role can do that) is named, signed or not.
func TestOutcomeWithoutConsentIsNamedWithoutCheckpoints(t *testing.T) {
	pg := postgres(t)
	l := newLog(t, pg.db(t), freshTable())
	writeRows(t, l, 3, time.Now())
	r := record(t, deepvue.AuditOutcome, time.Now())
	r.Outcome = "ok"
	require.NoError(t, l.Record(context.Background(), r))
	hasProblem(t, problems(t, l), deepvueaudit.NoConsent, 4, r.CallID)
}

// TestUnsignedRowsAreTheInsidersWindow: what the checkpoints cannot see.
// Rows after the latest checkpoint, rewritten with every hash recomputed,
// verify (the documented limit); the same edit by plain SQL is named; and
// once a checkpoint covers the rows, a rewrite is named.
func TestUnsignedRowsAreTheInsidersWindow(t *testing.T) {
	pg := postgres(t)
	tr := newTrail(t, pg)
	for i := 0; i < 3; i++ {
		tr.call(t)
	}
	_, err := tr.Checkpoint(context.Background())
	require.NoError(t, err)
	tr.call(t) // rows 7 and 8: unsigned
	mustExec(t, tr.db, `UPDATE "`+tr.table+`" SET purpose = 'marketing' WHERE seq = 7`)
	hasProblem(t, problems(t, tr.Log), deepvueaudit.Changed, 7, "")
	rehash(t, tr)
	assert.Empty(t, problems(t, tr.Log), "an unsigned row rewritten with its hashes: unseen, as documented")
	// The checkpoint signs the rewritten row; a later rewrite is named.
	_, err = tr.Checkpoint(context.Background())
	require.NoError(t, err)
	mustExec(t, tr.db, `UPDATE "`+tr.table+`" SET purpose = $1 WHERE seq = 7`, purpose)
	rehash(t, tr)
	hasProblem(t, problems(t, tr.Log), deepvueaudit.Changed, 7, "")
}

// TestCheckpointRefusesAnEditedTrail: Checkpoint signs nothing over rows
// whose content or stored hashes were changed since the latest checkpoint,
// or a head moved back past it.
func TestCheckpointRefusesAnEditedTrail(t *testing.T) {
	pg := postgres(t)
	tr := newTrail(t, pg)
	for i := 0; i < 3; i++ {
		tr.call(t)
	}
	cp, err := tr.Checkpoint(context.Background())
	require.NoError(t, err)
	require.Equal(t, int64(6), cp.Size)
	tr.call(t)
	mustExec(t, tr.db, `UPDATE "`+tr.table+`" SET outcome = 'ErrSourceFailure' WHERE seq = 8`)
	_, err = tr.Checkpoint(context.Background())
	var ce *deepvueaudit.ChainError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, int64(8), ce.Seq)
	assert.ErrorIs(t, err, deepvueaudit.ErrChainBroken)
	// A rewrite of a signed row, hashes and all, stops the next checkpoint too.
	mustExec(t, tr.db, `UPDATE "`+tr.table+`" SET outcome = 'ok' WHERE seq = 8`)
	mustExec(t, tr.db, `UPDATE "`+tr.table+`" SET purpose = 'marketing' WHERE seq = 3`)
	rehash(t, tr)
	_, err = tr.Checkpoint(context.Background())
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, deepvueaudit.Changed, ce.Kind)
	names, err := tr.store.List(context.Background(), tr.table+"/")
	require.NoError(t, err)
	notes := 0
	for _, n := range names {
		if strings.HasSuffix(n, ".note") {
			notes++
		}
	}
	assert.Equal(t, 1, notes, "only the first checkpoint was signed")
}

// TestForeignCheckpointIsNamed: a checkpoint in the store signed by another
// key, or by the right key over another tree (a fork), is named.
func TestForeignCheckpointIsNamed(t *testing.T) {
	pg := postgres(t)
	tr := newTrail(t, pg)
	for i := 0; i < 2; i++ {
		tr.call(t)
	}
	cp, err := tr.Checkpoint(context.Background())
	require.NoError(t, err)
	require.Empty(t, problems(t, tr.Log))
	other, _ := testKey(t)
	text := strings.SplitAfterN(string(cp.Note), "\n\n", 2)[0]
	text = strings.TrimSuffix(text, "\n")
	forged, err := note.Sign(&note.Note{Text: text}, other)
	require.NoError(t, err)
	require.NoError(t, tr.store.Create(context.Background(), fmt.Sprintf("%s/%020d-%020d.note", tr.table, 4, 1), forged))
	hasProblem(t, problems(t, tr.Log), deepvueaudit.BadCheckpoint, 4, "")
}
