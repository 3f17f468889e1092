package deepvueaudit

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Purge deletes the rows recorded before before and returns how many it
// deleted. It deletes a prefix of the trail only: up to the first row
// recorded at or after before (rows from replicas whose clocks differ may
// wait for the next Purge), and never one row of a call whose other row it
// keeps. It first checks the rows it deletes (a *ChainError, and nothing
// deleted, if they do not verify), keeps the right edge of their tree in
// the head (the anchor), so the rest still verifies and proves, and, with
// WithCheckpoints, signs a checkpoint stating the new anchor before it
// commits: Verify tells a Purge from an insider's deletion of the oldest
// rows by it. (Should the commit fail after the signing, the rows stay and
// the signed anchor is ahead of the head's: they can then be deleted
// unseen; run Purge again.)
//
// It needs DELETE on the rows and UPDATE of the anchor, which Grants does
// not give the application's role: run it as the tables' owner (a
// maintenance job). Appends wait while it runs (it holds the head's lock).
func (l *Log) Purge(ctx context.Context, before time.Time) (int64, error) {
	tx, err := l.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return 0, fmt.Errorf("deepvueaudit: purging: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	var size, anchor int64
	var af []byte
	if err := tx.QueryRowContext(ctx, `SELECT set_config('synchronous_commit', 'on', true), h.size, h.anchor, h.anchor_frontier
		FROM (SELECT size, anchor, anchor_frontier FROM "`+l.name+`_head" WHERE tenant = $1 FOR UPDATE) h`, l.tenant).
		Scan(new(string), &size, &anchor, &af); err != nil {
		return 0, fmt.Errorf("deepvueaudit: purging: reading the head: %w", err)
	}
	f, err := decodeFrontier(anchor, af)
	if err != nil {
		return 0, &ChainError{Seq: anchor, Kind: Changed, Reason: "the head's anchor frontier is malformed"}
	}
	t := `"` + l.name + `"`
	var firstKept sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT min(seq) FROM `+t+` WHERE tenant = $1 AND seq > $2 AND recorded_at >= $3`,
		l.tenant, anchor, before.UTC()).Scan(&firstKept); err != nil {
		return 0, fmt.Errorf("deepvueaudit: purging: %w", err)
	}
	upTo := size
	if firstKept.Valid {
		upTo = firstKept.Int64 - 1
	}
	// Keep both rows of a call that has a row after the cut.
	var split sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT min(c.seq) FROM `+t+` c WHERE c.tenant = $1 AND c.seq > $2 AND c.seq <= $3
		AND EXISTS (SELECT 1 FROM `+t+` o WHERE o.tenant = $1 AND o.call_id = c.call_id AND o.seq > $3)`,
		l.tenant, anchor, upTo).Scan(&split); err != nil {
		return 0, fmt.Errorf("deepvueaudit: purging: %w", err)
	}
	if split.Valid {
		upTo = split.Int64 - 1
	}
	if upTo <= anchor {
		return 0, nil
	}
	// Check the rows it deletes, and grow the anchor's frontier over them.
	rows, err := tx.QueryContext(ctx, l.q.rowsFrom, l.tenant, anchor, upTo)
	if err != nil {
		return 0, fmt.Errorf("deepvueaudit: purging: %w", err)
	}
	want := anchor + 1
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			rows.Close()
			return 0, fmt.Errorf("deepvueaudit: purging: %w", err)
		}
		if r.Seq != want {
			rows.Close()
			return 0, &ChainError{Seq: want, Kind: Deleted, Reason: "missing among the rows to purge"}
		}
		leaf := r.leafHash()
		stored := f.append(leaf)
		if sl, _ := r.storedLeaf(); sl != leaf {
			rows.Close()
			return 0, &ChainError{Seq: r.Seq, CallID: r.CallID, Kind: Changed, Reason: "its content no longer matches the hash stored when it was appended"}
		}
		if !bytes.Equal(r.hashes, joinHashes(stored)) {
			rows.Close()
			return 0, &ChainError{Seq: r.Seq, CallID: r.CallID, Kind: Changed, Reason: "its stored hashes were changed"}
		}
		want++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("deepvueaudit: purging: %w", err)
	}
	if want <= upTo {
		return 0, &ChainError{Seq: want, Kind: Deleted, Reason: "missing among the rows to purge"}
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM `+t+` WHERE tenant = $1 AND seq <= $2`, l.tenant, upTo)
	if err != nil {
		return 0, fmt.Errorf("deepvueaudit: purging: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("deepvueaudit: purging: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE "`+l.name+`_head" SET anchor = $2, anchor_frontier = $3 WHERE tenant = $1`,
		l.tenant, upTo, f.bytes()); err != nil {
		return 0, fmt.Errorf("deepvueaudit: purging: moving the anchor: %w", err)
	}
	// Signed once the deletion is sure to be allowed (the rows are still
	// there for the checkpoint, which reads outside this transaction).
	if l.ck != nil {
		if _, err := l.ck.checkpoint(ctx, upTo); err != nil {
			return 0, fmt.Errorf("deepvueaudit: purging: the checkpoint stating the new anchor: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("deepvueaudit: purging: %w", err)
	}
	return n, nil
}
