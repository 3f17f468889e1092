package deepvueaudit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Retention by the rules: the Aadhaar (Authentication and Offline
// Verification) Regulations 2021 (reg. 18 and 20) keep authentication logs
// two years, then archived five more, then delete them (or longer, as the
// entity's own laws ask; never while a court order or a dispute holds
// them); RBI's KYC Master Direction keeps KYC records at least five years
// after the relationship ends; the DPDP Rules 2025 (r.8(3)) keep logs at
// least one year. Purge takes the retention, refuses less than a year
// unless told otherwise, keeps held calls, archives each batch before it
// deletes it, and never holds the append path long.

// MinRetention is the shortest Retention.Keep that Purge accepts without
// AllowUnderOneYear: one year (DPDP Rules 2025, r.8(3)).
const MinRetention = 365 * 24 * time.Hour

// DefaultPurgeBatch is the rows of one batch of Purge, without
// Retention.BatchRows.
const DefaultPurgeBatch = 2000

// ErrRetentionTooShort is returned by Purge for a Retention.Keep under
// MinRetention without AllowUnderOneYear.
var ErrRetentionTooShort = errors.New("deepvueaudit: Purge: a retention under one year (the DPDP Rules 2025 keep logs at least a year): " +
	"set Retention.AllowUnderOneYear if a rule asks for less")

// Retention is what Purge keeps.
type Retention struct {
	// Keep is how long rows stay in the live trail: Purge archives and
	// deletes the rows recorded more than Keep ago (two years for the
	// Aadhaar Regulations 2021, whose five archived years are then the
	// ArchiveStore's; at least MinRetention).
	Keep time.Duration
	// Archive receives each purged segment and its signed manifest before
	// the rows are deleted (required).
	Archive ArchiveStore
	// AllowUnderOneYear lets Keep be under MinRetention: the explicit
	// override, for a rule that asks for less (or a test).
	AllowUnderOneYear bool
	// BatchRows is the rows of one batch (one transaction, one segment):
	// default DefaultPurgeBatch, at most 100,000.
	BatchRows int
	// AsOf is the time Keep is counted back from (default: now); never
	// later than now, so it can only make Purge delete less (a job that
	// purges "as of midnight").
	AsOf time.Time
}

// Purged is what Purge did.
type Purged struct {
	// Rows were archived and deleted.
	Rows int64
	// Kept counts the rows of the purged range left in the trail: the
	// rows of held calls, holds, releases and manifests.
	Kept int64
	// Segments are the manifests of the archived segments, one per batch.
	Segments []*Manifest
	// LongestHold is the longest time a batch held the tenant's head (the
	// append path): from locking it to its commit.
	LongestHold time.Duration
}

// Purge archives, then deletes, the rows of the tenant's trail recorded
// more than p.Keep ago, and returns what it did. It refuses a Keep under
// MinRetention unless p.AllowUnderOneYear, and needs p.Archive and
// WithCheckpoints with a signer (the manifests and the new anchor are
// signed).
//
// It deletes a prefix of the trail, up to the first row of a call recorded
// at or after the cut (rows of replicas whose clocks differ may wait for
// the next Purge), and never one row of a call whose other row it keeps.
// It keeps the rows of held calls (Hold), and the holds, releases and
// manifests themselves; rows it kept earlier whose hold was released are
// archived and deleted. It goes in batches of p.BatchRows rows, each in one
// transaction: it checks the batch's rows against the signed checkpoints
// (a *ChainError, and nothing deleted, if they do not verify), writes them
// to p.Archive as a segment with a signed manifest, deletes them, keeps the
// hashes the proofs of the kept rows need, signs a checkpoint stating the
// new anchor, and, holding the tenant's head only for this last step,
// moves the anchor and appends the manifest to the trail. Appends wait for
// a batch only during that step (Purged.LongestHold).
//
// It needs DELETE on the rows and UPDATE of the anchor, which Grants does
// not give the application's role: run it as the tables' owner (a
// maintenance job).
func (l *Log) Purge(ctx context.Context, p Retention) (*Purged, error) {
	switch {
	case p.Keep < 0:
		return nil, errors.New("deepvueaudit: Purge: a negative retention")
	case p.Keep < MinRetention && !p.AllowUnderOneYear:
		return nil, ErrRetentionTooShort
	case p.Archive == nil:
		return nil, errors.New("deepvueaudit: Purge: no ArchiveStore (Retention.Archive): rows are archived before they are deleted")
	case p.AsOf.After(time.Now()):
		return nil, errors.New("deepvueaudit: Purge: Retention.AsOf is in the future")
	case p.BatchRows < 0 || p.BatchRows > 100000:
		return nil, errors.New("deepvueaudit: Purge: Retention.BatchRows: want 1 to 100,000 (0: the default)")
	case l.ck == nil:
		return nil, fmt.Errorf("deepvueaudit: Purge: %w (its manifests and anchors are signed)", ErrNoCheckpoints)
	case l.ck.r.signer == nil:
		return nil, ErrNoSigner
	}
	if p.BatchRows == 0 {
		p.BatchRows = DefaultPurgeBatch
	}
	asOf := p.AsOf
	if asOf.IsZero() {
		asOf = time.Now()
	}
	cutoff := asOf.Add(-p.Keep).UTC()
	res := &Purged{}
	target, err := l.purgeTarget(ctx, cutoff)
	if err != nil || target == 0 {
		return res, err
	}
	// The rows to purge must be signed: Purge checks them against the
	// checkpoints.
	if _, err := l.ck.covering(ctx, target); err != nil {
		return res, fmt.Errorf("deepvueaudit: Purge: signing the rows to purge: %w", err)
	}
	pb := &purgeRun{l: l, p: p, cutoff: cutoff, target: target, res: res}
	for first := true; ; first = false {
		t0 := time.Now()
		done, err := pb.batch(ctx, first)
		if err != nil {
			return res, err
		}
		if done {
			break
		}
		// Leave the disk and the CPU to the appends for a while.
		if pause := time.Duration(float64(time.Since(t0)) * purgePause); pause > 0 {
			t := time.NewTimer(min(pause, time.Second))
			select {
			case <-ctx.Done():
				t.Stop()
				return res, fmt.Errorf("deepvueaudit: Purge: %w", ctx.Err())
			case <-t.C:
			}
		}
	}
	if len(res.Segments) > 0 {
		// Sign the last manifest row too.
		if _, err := l.ck.checkpoint(ctx, -1); err != nil {
			return res, fmt.Errorf("deepvueaudit: Purge: the last checkpoint: %w", err)
		}
	}
	return res, nil
}

// purgeTarget returns the last row a Purge with this cut may delete: the
// row before the first call row recorded at or after cutoff (0: none).
func (l *Log) purgeTarget(ctx context.Context, cutoff time.Time) (int64, error) {
	var size, anchor int64
	if err := l.db.QueryRowContext(ctx, `SELECT size, anchor FROM "`+l.name+`_head" WHERE tenant = $1`, l.tenant).Scan(&size, &anchor); err != nil {
		return 0, fmt.Errorf("deepvueaudit: Purge: reading the head: %w", err)
	}
	var first sql.NullInt64
	if err := l.db.QueryRowContext(ctx, `SELECT seq FROM "`+l.name+`" WHERE tenant = $1 AND seq > $2 AND recorded_at >= $3
		AND stage IN `+callStages+` ORDER BY seq LIMIT 1`, l.tenant, anchor, cutoff).Scan(&first); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("deepvueaudit: Purge: %w", err)
	}
	target := size
	if first.Valid {
		target = first.Int64 - 1
	}
	if target <= anchor {
		return 0, nil
	}
	return target, nil
}

// purgeRun is one Purge.
type purgeRun struct {
	l      *Log
	p      Retention
	cutoff time.Time
	target int64
	res    *Purged
	src    *signedLeaves
}

// purgePause is the pause after a batch, as a share of the time it took:
// a Purge then takes at most 1/(1+purgePause) of the disk and the CPU
// (appends have the rest).
var purgePause = 0.5

// purgeTrace, when set (by the tests), gets the time of each step of a
// batch.
var purgeTrace func(step string, d time.Duration)

// batch purges the next batch; done when the target is reached.
func (pr *purgeRun) batch(ctx context.Context, first bool) (done bool, err error) {
	l := pr.l
	t := time.Now()
	step := func(name string) {
		if purgeTrace != nil {
			purgeTrace(name, time.Since(t))
		}
		t = time.Now()
	}
	fail := func(err error) (bool, error) {
		var ce *ChainError
		if errors.As(err, &ce) {
			return false, err
		}
		return false, fmt.Errorf("deepvueaudit: Purge: %w", err)
	}
	tx, err := l.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	if err := l.purgeLock(ctx, tx); err != nil {
		return fail(err)
	}
	h, err := l.readHead(ctx, tx)
	if err != nil {
		return false, err
	}
	a := h.anchor
	if a >= pr.target {
		return true, nil
	}
	if !h.anchorFrontierOK {
		return false, &ChainError{Seq: a, Kind: Changed, Reason: "the head's anchor frontier is malformed"}
	}
	if pr.src == nil || pr.src.base != a {
		pr.src = &signedLeaves{l: l, base: a, f: h.anchorFrontier.clone()}
	}
	heldList, err := l.holds(ctx, tx)
	if err != nil {
		return false, err
	}
	heldSet := map[string]bool{}
	for _, hh := range heldList {
		heldSet[hh.CallID] = true
	}
	b := min(a+int64(pr.p.BatchRows), pr.target)
	rows, err := l.readRows(ctx, tx, a, b)
	if err != nil {
		return fail(err)
	}
	step("read")
	if b, rows, err = pr.adjust(ctx, tx, a, b, rows, heldSet); err != nil {
		return fail(err)
	}
	if b <= a {
		return true, nil
	}
	if err := pr.src.upTo(ctx, b); err != nil {
		return false, err
	}
	step("plan")

	// The batch's rows, checked against their stored hashes and the signed
	// leaves, growing the anchor's frontier over them.
	f := h.anchorFrontier.clone()
	var newKept, archived []*Row
	for i, r := range rows {
		seq := a + 1 + int64(i)
		if r.Seq != seq {
			return false, &ChainError{Seq: seq, Kind: Deleted, Reason: "missing among the rows to purge"}
		}
		leaf := r.leafHash()
		if sl, _ := r.storedLeaf(); sl != leaf {
			return false, &ChainError{Seq: r.Seq, CallID: shownCallID(r.CallID), Kind: Changed, Reason: "its content no longer matches the hash stored when it was appended"}
		}
		if signed := pr.src.leaf(seq); signed != leaf {
			return false, &ChainError{Seq: r.Seq, CallID: shownCallID(r.CallID), Kind: Changed, Reason: "it differs from the row the checkpoints signed"}
		}
		if stored := f.append(leaf); !bytes.Equal(r.hashes, joinHashes(stored)) {
			return false, &ChainError{Seq: r.Seq, CallID: shownCallID(r.CallID), Kind: Changed, Reason: "its stored hashes were changed"}
		}
		if isKeptStage(r.Stage) || heldSet[r.CallID] {
			newKept = append(newKept, r)
		} else {
			archived = append(archived, r)
		}
	}
	if int64(len(rows)) != b-a {
		return false, &ChainError{Seq: a + 1 + int64(len(rows)), Kind: Deleted, Reason: "missing among the rows to purge"}
	}
	step("read")

	// The rows kept below the anchor; the released ones among them.
	oldKept, err := l.keptBelow(ctx, tx, a)
	if err != nil {
		return fail(err)
	}
	var released []*Row
	if first {
		if released, err = pr.released(ctx, tx, oldKept, heldSet, a); err != nil {
			return fail(err)
		}
	}
	isReleased := map[int64]bool{}
	for _, r := range released {
		isReleased[r.Seq] = true
	}

	// The hashes the kept rows' proofs need once these rows are gone, and
	// the released rows' proofs, read before the delete.
	hr := &hashReader{ctx: ctx, l: l, q: tx, h: h}
	need, err := pr.neededHashes(oldKept, isReleased, newKept, a, b)
	if err != nil {
		return fail(err)
	}
	needHashes, err := hr.ReadHashes(need)
	if err != nil {
		return false, &ChainError{Seq: a + 1, Kind: Deleted, Reason: "the hashes the kept rows' proofs need cannot be read: " + err.Error()}
	}
	relProofs, err := proveAll(b, released, hr)
	if err != nil {
		return false, &ChainError{Seq: a + 1, Kind: Changed, Reason: "a released row cannot be proved: " + err.Error()}
	}
	for i, r := range released {
		if err := tlog.CheckRecord(relProofs[i], b, f.root(), r.Seq-1, r.leafHash()); err != nil {
			return false, &ChainError{Seq: r.Seq, CallID: shownCallID(r.CallID), Kind: Changed, Reason: "a row kept by an earlier Purge is not in the trail's tree"}
		}
	}

	// Delete (PostgreSQL refuses the application's role here, before
	// anything is archived or signed), and keep the hashes.
	keptSeqs := make([]int64, len(newKept))
	for i, r := range newKept {
		keptSeqs[i] = r.Seq
	}
	relSeqs := make([]int64, len(released))
	for i, r := range released {
		relSeqs[i] = r.Seq
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM "`+l.name+`" WHERE tenant = $1 AND
		((seq > $2 AND seq <= $3 AND NOT (seq = ANY($4))) OR seq = ANY($5))`, l.tenant, a, b, keptSeqs, relSeqs)
	if err != nil {
		return fail(err)
	}
	if n, err := res.RowsAffected(); err != nil || n != int64(len(archived)+len(released)) {
		return fail(fmt.Errorf("deleted %d rows, not %d", n, len(archived)+len(released)))
	}
	if len(need) > 0 {
		hb := make([][]byte, len(needHashes))
		for i := range needHashes {
			hb[i] = needHashes[i][:]
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO "`+l.name+`_tree" (tenant, idx, hash)
			SELECT $1, * FROM unnest($2::bigint[], $3::bytea[]) ON CONFLICT DO NOTHING`, l.tenant, need, hb); err != nil {
			return fail(err)
		}
	}

	step("delete")
	// Archive, before the commit deletes the rows.
	m, err := pr.archive(ctx, h.anchorFrontier, f, archived, newKept, released, relProofs, a, b)
	if err != nil {
		return fail(err)
	}

	step("archive")
	// Sign the new anchor before the commit: Verify tells a Purge from an
	// insider's deletion by it.
	if _, err := l.ck.checkpoint(ctx, b); err != nil {
		return fail(fmt.Errorf("the checkpoint stating the new anchor: %w", err))
	}
	step("sign")

	// The append path, briefly: move the anchor, append the manifest.
	heads, now, err := l.lockHeads(ctx, tx, []string{l.tenant})
	if err != nil {
		return fail(err)
	}
	step("lock")
	t0 := time.Now() // the head is locked: appends of the tenant wait from here
	if _, err := tx.ExecContext(ctx, `UPDATE "`+l.name+`_head" SET anchor = $2, anchor_frontier = $3 WHERE tenant = $1`,
		l.tenant, b, f.bytes()); err != nil {
		return fail(fmt.Errorf("moving the anchor: %w", err))
	}
	row := &Row{Tenant: l.tenant, CallID: manifestCallID(m.Note), Stage: stageArchive, RecordedAt: time.Now().UTC().Truncate(time.Microsecond),
		Operation: "archive", Detail: string(m.Note)}
	after, err := l.insertRows(ctx, tx, []*Row{row}, heads, now)
	if err != nil {
		return fail(fmt.Errorf("appending the manifest: %w", err))
	}
	step("append")
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	step("commit")
	if d := time.Since(t0); d > pr.res.LongestHold {
		pr.res.LongestHold = d
	}
	l.ck.appended(after[l.tenant].size, after[l.tenant].ckSize)
	pr.src.drop(b)
	pr.res.Rows += int64(len(archived) + len(released))
	pr.res.Kept += int64(len(newKept))
	pr.res.Segments = append(pr.res.Segments, m)
	return b >= pr.target, nil
}

func isKeptStage(stage string) bool {
	return stage == stageHold || stage == stageRelease || stage == stageArchive
}

// adjust moves the batch's end b so that no call (not held) has rows on
// both sides of it: forward over the call's rows if they are all before
// the target, else back before the call's first row (which then becomes
// the target: that call is not past the retention yet). rows are the rows
// a+1..b, read; it returns those of the new batch. The calls it looks up
// are those with a consent row and no outcome row among rows (usually a
// few near b).
func (pr *purgeRun) adjust(ctx context.Context, tx *sql.Tx, a, b int64, rows []*Row, held map[string]bool) (int64, []*Row, error) {
	l := pr.l
	for i := 0; i < 16; i++ {
		stages := map[string]uint8{}
		first := map[string]int64{}
		for _, r := range rows {
			bit := stageBit[r.Stage]
			if bit == 0 || held[r.CallID] {
				continue
			}
			if _, ok := first[r.CallID]; !ok {
				first[r.CallID] = r.Seq
			}
			stages[r.CallID] |= bit
		}
		var cand []string
		for id, st := range stages {
			if st&stageBit["consent"] != 0 && st&stageBit["outcome"] == 0 {
				cand = append(cand, id)
			}
		}
		if len(cand) == 0 {
			return b, rows, nil
		}
		rs, err := tx.QueryContext(ctx, `SELECT call_id, max(seq) FROM "`+l.name+`" WHERE tenant = $1 AND call_id = ANY($2)
			AND stage IN `+callStages+` GROUP BY call_id`, l.tenant, cand)
		if err != nil {
			return 0, nil, err
		}
		var firstOver int64
		end := b
		for rs.Next() {
			var id string
			var last int64
			if err := rs.Scan(&id, &last); err != nil {
				rs.Close()
				return 0, nil, err
			}
			if last > pr.target && (firstOver == 0 || first[id] < firstOver) {
				firstOver = first[id]
			}
			end = max(end, last)
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return 0, nil, err
		}
		switch {
		case firstOver > 0:
			pr.target = firstOver - 1
			nb := min(b, pr.target)
			kept := rows[:0:0]
			for _, r := range rows {
				if r.Seq <= nb {
					kept = append(kept, r)
				}
			}
			return nb, kept, nil
		case end == b:
			return b, rows, nil
		}
		more, err := l.readRows(ctx, tx, b, end)
		if err != nil {
			return 0, nil, err
		}
		rows, b = append(rows, more...), end
	}
	return 0, nil, errors.New("the batch's calls keep reaching past its end")
}

// readRows reads rows a+1..b, by seq.
func (l *Log) readRows(ctx context.Context, tx *sql.Tx, a, b int64) ([]*Row, error) {
	rs, err := tx.QueryContext(ctx, l.q.rowsFrom, l.tenant, a, b)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	rows := make([]*Row, 0, b-a)
	for rs.Next() {
		r, err := scanRow(rs)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r)
	}
	return rows, rs.Err()
}

// keptRow is a row an earlier Purge kept.
type keptRow struct {
	seq           int64
	callID, stage string
	at            time.Time
}

// keptBelow returns the rows at or below the anchor a (the rows earlier
// Purges kept), by seq.
func (l *Log) keptBelow(ctx context.Context, tx *sql.Tx, a int64) ([]keptRow, error) {
	rs, err := tx.QueryContext(ctx, `SELECT seq, call_id, stage, recorded_at FROM "`+l.name+`" WHERE tenant = $1 AND seq <= $2 ORDER BY seq`, l.tenant, a)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []keptRow
	for rs.Next() {
		var k keptRow
		if err := rs.Scan(&k.seq, &k.callID, &k.stage, &k.at); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rs.Err()
}

// released returns the rows below the anchor of calls no longer held
// whose rows are all there and past the retention: an earlier Purge kept
// them for a hold since released.
func (pr *purgeRun) released(ctx context.Context, tx *sql.Tx, oldKept []keptRow, held map[string]bool, a int64) ([]*Row, error) {
	l := pr.l
	cand := map[string]bool{}
	for _, k := range oldKept {
		if !isKeptStage(k.stage) && !held[k.callID] {
			cand[k.callID] = true
		}
	}
	for _, k := range oldKept {
		if cand[k.callID] && !isKeptStage(k.stage) && !k.at.Before(pr.cutoff) {
			delete(cand, k.callID)
		}
	}
	if len(cand) == 0 {
		return nil, nil
	}
	ids := make([]string, 0, len(cand))
	for id := range cand {
		ids = append(ids, id)
	}
	// A call with a row after the anchor keeps its rows below it.
	rs, err := tx.QueryContext(ctx, `SELECT DISTINCT call_id FROM "`+l.name+`" WHERE tenant = $1 AND seq > $2
		AND call_id = ANY($3) AND stage IN `+callStages, l.tenant, a, ids)
	if err != nil {
		return nil, err
	}
	for rs.Next() {
		var id string
		if err := rs.Scan(&id); err != nil {
			rs.Close()
			return nil, err
		}
		delete(cand, id)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return nil, err
	}
	var seqs []int64
	for _, k := range oldKept {
		if cand[k.callID] && !isKeptStage(k.stage) {
			seqs = append(seqs, k.seq)
		}
	}
	if len(seqs) == 0 {
		return nil, nil
	}
	rs, err = tx.QueryContext(ctx, `SELECT `+columns+` FROM "`+l.name+`" WHERE tenant = $1 AND seq = ANY($2) ORDER BY seq`, l.tenant, seqs)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []*Row
	for rs.Next() {
		r, err := scanRow(rs)
		if err != nil {
			return nil, err
		}
		if sl, ok := r.storedLeaf(); !ok || sl != r.leafHash() {
			return nil, &ChainError{Seq: r.Seq, CallID: shownCallID(r.CallID), Kind: Changed, Reason: "its content no longer matches the hash stored when it was appended"}
		}
		out = append(out, r)
	}
	return out, rs.Err()
}

// neededHashes returns the stored hash indexes that the proofs of the rows
// kept at or below b need once rows a+1..b are deleted (and the anchor's
// frontier moves from a to b), and that rows a+1..b or the anchor's
// frontier at a hold now: for each row newly kept, every hash of its proof
// in the tree of size b; for the rows kept before, the right siblings of
// their paths that end in a+1..b (the others are kept already).
func (pr *purgeRun) neededHashes(oldKept []keptRow, released map[int64]bool, newKept []*Row, a, b int64) ([]int64, error) {
	rec := &recordingReader{}
	for _, r := range newKept {
		if _, err := tlog.ProveRecord(b, r.Seq-1, rec); err != nil {
			return nil, err
		}
	}
	var olds []int64 // 0-based leaf indexes of the rows kept before, still kept
	for _, k := range oldKept {
		if !released[k.seq] {
			olds = append(olds, k.seq-1)
		}
	}
	if len(olds) > 0 && a > 0 {
		// A kept leaf L < a needs the right child R of an ancestor P of
		// leaf a-1 (L in P's left child) when R ends in (a, b].
		for h := 0; h < 62; h++ {
			parent := (a - 1) >> (h + 1)
			leftLo, rightLo := (2*parent)<<h, (2*parent+1)<<h
			end := (2*parent + 2) << h
			if end <= a || end > b {
				continue
			}
			i := sort.Search(len(olds), func(i int) bool { return olds[i] >= leftLo })
			if i < len(olds) && olds[i] < rightLo {
				rec.ReadHashes([]int64{tlog.StoredHashIndex(h, 2*parent+1)}) //nolint:errcheck // records only
			}
		}
	}
	return rec.indexes, nil
}

// archive writes the segment and its signed manifest to the store.
func (pr *purgeRun) archive(ctx context.Context, start, end frontier, archived, kept, released []*Row, relProofs []tlog.RecordProof, a, b int64) (*Manifest, error) {
	l := pr.l
	sf := segmentFile{Format: segmentFormat, Origin: archiveOrigin(l.name, l.tenant), First: a + 1, Last: b,
		Rows: make([]bundleRow, 0, len(archived)), Kept: make([]keptLeaf, 0, len(kept)), Released: []bundleRow{}}
	var segLeaves frontier
	for _, r := range archived {
		sf.Rows = append(sf.Rows, toBundleRow(r, nil))
		segLeaves.append(r.leafHash())
	}
	m := &Manifest{Origin: sf.Origin, First: a + 1, Last: b, Tree: end.root(), Start: start.hashes, Cut: pr.cutoff,
		Time: time.Now().UTC()}
	for _, r := range kept {
		h := r.leafHash()
		sf.Kept = append(sf.Kept, keptLeaf{Seq: r.Seq, Leaf: base64.StdEncoding.EncodeToString(h[:])})
		m.Kept = append(m.Kept, r.Seq)
	}
	for i, r := range released {
		sf.Released = append(sf.Released, toBundleRow(r, relProofs[i]))
		segLeaves.append(r.leafHash())
		m.Released = append(m.Released, r.Seq)
	}
	m.Count = int64(len(archived) + len(released))
	m.Root = segLeaves.root()
	data, err := json.Marshal(&sf)
	if err != nil {
		return nil, err
	}
	m.Data = sha256.Sum256(data)
	msg, err := note.Sign(&note.Note{Text: m.text()}, l.ck.r.signer)
	if err != nil {
		return nil, fmt.Errorf("signing the manifest: %w", err)
	}
	m.Note = msg
	name := l.archivePrefix() + m.Name()
	if err := createOrSame(ctx, pr.p.Archive, name+".rows", data); err != nil {
		return nil, fmt.Errorf("archiving the segment: %w", err)
	}
	if err := pr.p.Archive.Create(ctx, name+".manifest", msg); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("archiving the manifest: %w", err)
		}
		// A Purge that failed after writing it: keep the stored one if it
		// is of the same segment.
		old, rerr := pr.p.Archive.Read(ctx, name+".manifest")
		if rerr != nil {
			return nil, fmt.Errorf("archiving the manifest: %w", rerr)
		}
		om, oerr := openManifest(old, l.ck.r.verifier)
		if oerr != nil || om.Data != m.Data || om.Tree != m.Tree {
			return nil, fmt.Errorf("archiving the manifest: %s holds another manifest", name+".manifest")
		}
		m = om
	}
	return m, nil
}

// createOrSame creates name with data, or finds it already holds data.
func createOrSame(ctx context.Context, s ArchiveStore, name string, data []byte) error {
	err := s.Create(ctx, name, data)
	if err == nil || !errors.Is(err, fs.ErrExist) {
		return err
	}
	old, rerr := s.Read(ctx, name)
	if rerr != nil {
		return rerr
	}
	if !bytes.Equal(old, data) {
		return fmt.Errorf("%s holds other data", name)
	}
	return nil
}

// signedLeaves are the record hashes the checkpoints signed, for rows
// base+1.., read from the checkpoints' leaves files and checked, file by
// file, against each checkpoint's tree hash from the anchor's frontier.
type signedLeaves struct {
	l      *Log
	base   int64
	leaves []tlog.Hash
	f      frontier // at base+len(leaves), checked against a checkpoint
}

// leaf returns the signed record hash of row seq (loaded).
func (s *signedLeaves) leaf(seq int64) tlog.Hash { return s.leaves[seq-s.base-1] }

// drop forgets the leaves of rows up to seq.
func (s *signedLeaves) drop(seq int64) {
	n := seq - s.base
	s.leaves = append([]tlog.Hash(nil), s.leaves[n:]...)
	s.base = seq
}

// upTo loads the signed leaves of rows up to b at least.
func (s *signedLeaves) upTo(ctx context.Context, b int64) error {
	l := s.l
	var keys []ckKey
	for s.base+int64(len(s.leaves)) < b {
		end := s.base + int64(len(s.leaves))
		next := int64(0)
		var key ckKey
		for try := 0; try < 2 && next == 0; try++ {
			if keys == nil || try == 1 {
				var err error
				if keys, err = l.listCheckpoints(ctx, l.ck.r.store); err != nil {
					return err
				}
			}
			for _, k := range keys {
				if k.size > end {
					next, key = k.size, k
					break
				}
			}
		}
		if next == 0 {
			return &ChainError{Seq: end + 1, Kind: BadCheckpoint, Reason: "no checkpoint signs the rows to purge"}
		}
		cp, err := l.readCheckpoint(ctx, l.ck.r.store, l.ck.r.verifier, key)
		if err != nil {
			return &ChainError{Seq: next, Kind: BadCheckpoint, Reason: err.Error()}
		}
		raw, err := l.ck.r.store.Read(ctx, l.ckPrefix()+leavesName(next))
		if err != nil {
			return &ChainError{Seq: next, Kind: BadCheckpoint, Reason: "its leaves file cannot be read (Purge checks the rows against it): " + err.Error()}
		}
		from, hs, err := decodeLeaves(raw)
		if err != nil || from > end || from+int64(len(hs)) != next {
			return &ChainError{Seq: next, Kind: BadCheckpoint, Reason: "its leaves file is malformed"}
		}
		f := s.f.clone()
		for _, h := range hs[end-from:] {
			f.append(h)
		}
		if f.root() != cp.Root {
			return &ChainError{Seq: end + 1, Kind: Changed, Reason: "the signed leaves from the anchor (row " + strconv.FormatInt(s.base, 10) +
				") do not give the tree hash of the checkpoint of size " + strconv.FormatInt(next, 10) + ": the anchor or the checkpoints were changed; run Verify"}
		}
		s.leaves = append(s.leaves, hs[end-from:]...)
		s.f = f
	}
	return nil
}
