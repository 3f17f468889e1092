package deepvueaudit

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/deepvue-go/deepvue"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Rehash is the insider's tool: it recomputes every row's stored hashes
// from its content, in seq order, and moves the head to match, as someone
// who read this package's code and owns the tables would after editing
// rows. Rows must be numbered from the anchor up without gaps (renumber
// them first).
func Rehash(ctx context.Context, db *sql.DB, table string) error {
	var anchor int64
	var af []byte
	if err := db.QueryRowContext(ctx, `SELECT anchor, anchor_frontier FROM "`+table+`_head" WHERE tenant = ''`).Scan(&anchor, &af); err != nil {
		return err
	}
	f, err := decodeFrontier(anchor, af)
	if err != nil {
		return err
	}
	rows, err := db.QueryContext(ctx, `SELECT `+columns+` FROM "`+table+`" WHERE tenant = '' AND seq > $1 ORDER BY seq`, anchor)
	if err != nil {
		return err
	}
	var all []*Row
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			rows.Close()
			return err
		}
		all = append(all, r)
	}
	rows.Close()
	for _, r := range all {
		if r.Seq != f.size+1 {
			return fmt.Errorf("Rehash: row %d follows %d", r.Seq, f.size)
		}
		stored := f.append(r.leafHash())
		if _, err := db.ExecContext(ctx, `UPDATE "`+table+`" SET hashes = $1 WHERE tenant = '' AND seq = $2`, joinHashes(stored), r.Seq); err != nil {
			return err
		}
	}
	root := f.root()
	_, err = db.ExecContext(ctx, `UPDATE "`+table+`_head" SET size = $1, root = $2, frontier = $3 WHERE tenant = ''`,
		f.size, root[:], f.bytes())
	return err
}

// AnchorFrontier returns the frontier a Purge up to row upTo would keep,
// computed from the rows: what an insider who deletes the oldest rows sets
// as the anchor.
func AnchorFrontier(ctx context.Context, db *sql.DB, table string, upTo int64) ([]byte, error) {
	rows, err := db.QueryContext(ctx, `SELECT `+columns+` FROM "`+table+`" WHERE tenant = '' AND seq <= $1 ORDER BY seq`, upTo)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var f frontier
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return nil, err
		}
		f.append(r.leafHash())
	}
	return f.bytes(), rows.Err()
}

// AppendBatch appends records in one transaction (to load a large trail
// fast in the long tests).
func AppendBatch(ctx context.Context, l *Log, recs []deepvue.AuditRecord) error {
	rows := make([]*Row, len(recs))
	now := time.Now()
	for i, r := range recs {
		row, err := l.rowOf(r, now)
		if err != nil {
			return err
		}
		rows[i] = row
	}
	heads, err := l.appendRows(ctx, rows)
	if err != nil {
		return err
	}
	for tenant, h := range heads {
		if t := l.tenantLog(tenant); t.ck != nil {
			t.ck.appended(h.size, h.ckSize)
		}
	}
	return nil
}

// MemoryBundle builds, without a database, a trail of n rows (calls of two
// rows each) in memory, signs a checkpoint of it with signer, and returns
// the bundle of call i (for fuzzing VerifyProof).
func MemoryBundle(signer note.Signer, n, i int) ([]byte, error) {
	var f frontier
	var stored []tlog.Hash // by stored hash index
	var rows []*Row
	base := time.Date(2026, 1, 2, 3, 4, 5, 678000, time.UTC)
	for k := 0; k < n; k++ {
		call := fmt.Sprintf("%032x", k/2+1)
		r := &Row{Seq: int64(k + 1), CallID: call, Stage: []string{"consent", "outcome"}[k%2],
			RecordedAt: base.Add(time.Duration(k) * time.Second), DBTime: base.Add(time.Duration(k)*time.Second + time.Millisecond),
			Operation: "generate-otp", Purpose: "KYC for loan account opening", Consent: "Y", MaskedNumber: "XXXX XXXX 2346",
			Evidence: deepvue.ConsentEvidence{NoticeID: "n", NoticeSHA256: fmt.Sprintf("%064x", 7), DecidedAt: base, Language: "hi"}}
		if k%2 == 1 {
			r.Outcome, r.OTPState, r.Attempts, r.TransactionID = "ok", "sent", 1, fmt.Sprintf("%032x", k)
		}
		stored = append(stored, f.append(r.leafHash())...)
		rows = append(rows, r)
	}
	hr := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for j, x := range idx {
			out[j] = stored[x]
		}
		return out, nil
	})
	msg, err := note.Sign(&note.Note{Text: formatCheckpoint("deepvueaudit/t", f.size, f.root(), base.Add(time.Hour), 0)}, signer)
	if err != nil {
		return nil, err
	}
	b := bundle{Format: proofFormat, CallID: rows[2*i].CallID, Checkpoint: string(msg)}
	for _, r := range rows[2*i : 2*i+2] {
		p, err := tlog.ProveRecord(f.size, r.Seq-1, hr)
		if err != nil {
			return nil, err
		}
		b.Rows = append(b.Rows, toBundleRow(r, p))
	}
	return b.encode(), nil
}

// Walked returns the rows l's last Verify read after its start.
func Walked(l *Log) int64 {
	l.vmu.Lock()
	defer l.vmu.Unlock()
	return l.walked
}

// AppendStats returns the batches and rows l's appender appended.
func AppendStats(l *Log) (batches, rows int64) { return l.app.batches.Load(), l.app.rows.Load() }

// TracePurge makes Purge report the time of each step of its batches.
func TracePurge(f func(step string, d time.Duration)) { purgeTrace = f }

// SetPurgePause sets the pause after each batch of a Purge, as a share of
// the batch's time, and returns the previous one.
func SetPurgePause(f float64) float64 { old := purgePause; purgePause = f; return old }

// LeafHash returns the record hash of r (its leaf in the tree).
func LeafHash(r *Row) [32]byte { return r.leafHash() }

// Queued is the number of rows waiting for the next batch of l's Open.
func Queued(l *Log) int {
	l.app.mu.Lock()
	defer l.app.mu.Unlock()
	return len(l.app.queue)
}
