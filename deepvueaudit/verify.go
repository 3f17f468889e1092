package deepvueaudit

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// ErrChainBroken is matched by the errors Verify, Checkpoint and Purge
// return when the trail was changed.
var ErrChainBroken = errors.New("deepvueaudit: the audit trail does not verify")

// ProblemKind says what an insider's edit did to the trail.
type ProblemKind string

// The kinds of problem Verify names.
const (
	// Changed: a row's content differs from what was appended (its stored
	// hash) or from what a checkpoint signed, or the head's or a row's
	// stored hashes were rewritten.
	Changed ProblemKind = "changed"
	// Deleted: rows are missing (in the middle, at the end, or signed by a
	// checkpoint and gone).
	Deleted ProblemKind = "deleted"
	// Inserted: rows that were never appended in their place (below the
	// anchor, after the head, a second consent row of a call).
	Inserted ProblemKind = "inserted"
	// BackDated: a row's time runs backwards, or differs from the
	// database's own time, by more than the stated skew (WithMaxSkew).
	BackDated ProblemKind = "back-dated"
	// NoConsent: an outcome row without an earlier consent row of its call.
	NoConsent ProblemKind = "no consent"
	// AnchorMoved: the oldest rows were deleted and the anchor moved
	// without a signed Purge.
	AnchorMoved ProblemKind = "anchor moved"
	// BadCheckpoint: a stored checkpoint does not verify with the public
	// key, or disagrees with another.
	BadCheckpoint ProblemKind = "bad checkpoint"
)

// ChainError is one problem Verify found: the row (its sequence number, and
// its call id when the row is there) and what is wrong.
type ChainError struct {
	// Seq is the row's sequence number (for deleted rows, the first one
	// missing).
	Seq int64
	// CallID is the row's call id: "" for a deleted row, and for a row
	// whose stored call id is not one (32 lowercase hex digits): what an
	// insider wrote there is never shown.
	CallID string
	// Kind is what the edit did.
	Kind ProblemKind
	// Reason says it in words.
	Reason string
}

// Error returns e.g. "deepvueaudit: the audit trail does not verify: row 17
// (call 3f...) changed: it differs from the row the checkpoint of size
// 1000 signed".
func (e *ChainError) Error() string {
	s := "deepvueaudit: the audit trail does not verify: row " + strconv.FormatInt(e.Seq, 10)
	if id := shownCallID(e.CallID); id != "" {
		s += " (call " + id + ")"
	}
	return s + " " + string(e.Kind) + ": " + e.Reason
}

// shownCallID is a row's call id as a ChainError shows it: the id when it
// is one (32 lowercase hex digits, as Record accepts), else "". A row's
// call id is what an insider may have rewritten, with anything in it (an
// Aadhaar number), and error texts are logged.
func shownCallID(id string) string {
	if !callIDPattern.MatchString(id) {
		return ""
	}
	return id
}

// Unwrap returns ErrChainBroken.
func (e *ChainError) Unwrap() error { return ErrChainBroken }

// VerifyError is what Verify returns when the trail does not verify: every
// problem it found, by row (errors.As finds the first *ChainError).
type VerifyError struct {
	Problems []*ChainError
	// More counts the problems left out past the first 100.
	More int
}

// Error lists the problems (the first five).
func (e *VerifyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "deepvueaudit: the audit trail does not verify: %d problem(s)", len(e.Problems)+e.More)
	for i, p := range e.Problems {
		if i == 5 {
			b.WriteString("; ...")
			break
		}
		b.WriteString("; row ")
		b.WriteString(strconv.FormatInt(p.Seq, 10))
		if id := shownCallID(p.CallID); id != "" {
			b.WriteString(" (call " + id + ")")
		}
		b.WriteString(" " + string(p.Kind) + ": " + p.Reason)
	}
	return b.String()
}

// Unwrap returns the problems.
func (e *VerifyError) Unwrap() []error {
	out := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		out[i] = p
	}
	return out
}

// maxProblems bounds what Verify reports.
const maxProblems = 100

// Verify checks the tenant's trail, in one consistent snapshot, and returns
// a *VerifyError (matching ErrChainBroken; errors.As gives its first
// *ChainError) naming every row an insider changed, deleted, inserted,
// moved or back-dated, and every outcome without an earlier consent row of
// its call; nil if the trail verifies.
//
// With WithCheckpoints it reads the stored checkpoints, checks each with
// the public key, and checks that the rows give each checkpoint's tree
// hash: so the rows verify against the latest checkpoint and consistently
// with every earlier one. A rewrite of a signed row is named whether or not
// its hashes were recomputed (the checkpoints' leaves files tell which row
// changed); rows deleted from the end, or from the start with the anchor
// moved, are named when a checkpoint signed them. Only the rows after the
// latest checkpoint are checked against the database alone: an insider who
// recomputes their hashes can change them unseen.
//
// By default it starts from the last checkpoint this Log verified (its
// first Verify walks the whole trail): it checks that the stored hashes
// still give that checkpoint's tree hash and prove the latest checkpoint
// consistent with it (a consistency proof), then walks the rows after it.
// An insider who recomputed hashes over older rows is caught there; one who
// changed an older row's content by plain SQL, leaving its hashes, is not:
// VerifyFull, run from time to time (a nightly or weekly job), and Proof,
// which checks a call's rows against their hashes, catch that. Whenever
// the first steps fail, it walks the whole trail to name the rows.
//
// It also checks that each row's times run forwards and stay within the
// stated skew (WithMaxSkew) of the database's own time, that the head
// matches the rows, and that the rows a Purge kept below the anchor (held
// calls, holds, manifests) are the ones its signed manifests list, in the
// tree, and that the manifests follow one another up to the anchor.
func (l *Log) Verify(ctx context.Context) error { return l.verify(ctx, false) }

// VerifyFull is Verify walking every row of the tenant's trail, whatever
// this Log verified before (at least 100,000 rows a second on this
// project's machine: BENCHMARKS.md).
func (l *Log) VerifyFull(ctx context.Context) error { return l.verify(ctx, true) }

func (l *Log) verify(ctx context.Context, full bool) error {
	l.vmu.Lock()
	defer l.vmu.Unlock()
	// The checkpoints are listed before the snapshot begins, as every
	// reader of both does (listThenSnapshot): listed after it, a checkpoint
	// another replica wrote meanwhile signs rows the snapshot cannot see,
	// a false "deleted".
	var keys []ckKey
	var tx *sql.Tx
	var err error
	if l.ck != nil {
		if keys, tx, _, err = l.listThenSnapshot(ctx, l.ck.r.store); err != nil {
			return err
		}
	} else if tx, err = l.snapshot(ctx); err != nil {
		return fmt.Errorf("deepvueaudit: verifying: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	var from *Checkpoint
	if !full && l.ck != nil {
		from = l.verified
	}
	v := newVerifier(l, ctx, tx, keys)
	ok, err := v.runFrom(from)
	if err != nil {
		return err
	}
	if !ok { // the incremental steps failed: walk it all to name the rows
		v = newVerifier(l, ctx, tx, keys)
		if _, err := v.runFrom(nil); err != nil {
			return err
		}
	}
	l.walked = v.walked
	if len(v.problems) == 0 {
		if v.latest != nil {
			l.verified = v.latest
		}
		return nil
	}
	l.verified = nil
	return &VerifyError{Problems: v.problems, More: v.more}
}

func newVerifier(l *Log, ctx context.Context, tx *sql.Tx, keys []ckKey) *verifier {
	return &verifier{l: l, ctx: ctx, tx: tx, keys: keys, calls: map[string]uint8{}}
}

// verifier is one run of Verify.
type verifier struct {
	l        *Log
	ctx      context.Context
	tx       *sql.Tx
	problems []*ChainError
	more     int
	keys     []ckKey // the stored checkpoints, listed before the snapshot began

	h      *head
	cps    map[int64]*Checkpoint // by size, from the walk's start
	latest *Checkpoint           // the newest checkpoint the rows were checked against

	f        frontier // the tree so far
	fOK      bool     // f is the signed tree's, as far as the checkpoints tell
	gaveUp   bool     // a checkpoint did not match and nothing could resync
	segStart int64    // the size at the start of the current segment
	segEnd   int64    // the next checkpoint's size (0: none)
	hints    []tlog.Hash
	hintsOK  bool // hints are the signed leaves of the segment
	segBad   bool // a problem was named in the segment

	calls          map[string]uint8 // call id -> the stages seen (stageBit)
	orphans        []*Row           // outcome rows whose consent row is before the walk's start
	prevAt, prevDB time.Time
	deletedFrom    int64 // the first of a run of missing rows (0: none)
	deletedCount   int64
	lastRowSeq     int64
	shift          int64       // rows after a deletion were renumbered by this much (reported once)
	bad            [][2]int64  // leaf ranges [from, to) named changed, deleted or moved
	lookahead      []tlog.Hash // the next segment's leaves, to name a row moved across a checkpoint
	start          int64       // the walk starts after this row
	walked         int64       // the rows read after start
}

// markBad notes that leaves [from, to) were named: stored hashes over
// them, and the head, differ as a consequence.
func (v *verifier) markBad(from, to int64) {
	if n := len(v.bad); n > 0 && v.bad[n-1][1] == from {
		v.bad[n-1][1] = to
		return
	}
	v.bad = append(v.bad, [2]int64{from, to})
}

// explained reports whether leaves [from, to) hold a leaf already named.
func (v *verifier) explained(from, to int64) bool {
	for _, b := range v.bad {
		if b[0] < to && from < b[1] {
			return true
		}
	}
	return false
}

func (v *verifier) add(p *ChainError) {
	if len(v.problems) >= maxProblems {
		v.more++
		return
	}
	v.problems = append(v.problems, p)
}

// runFrom walks the rows after checkpoint from (nil: after the anchor,
// the whole trail). It returns false when from cannot be the start: the
// caller then walks the whole trail.
func (v *verifier) runFrom(from *Checkpoint) (bool, error) {
	l, ctx, tx := v.l, v.ctx, v.tx
	h, err := l.readHead(ctx, tx)
	if err != nil {
		return false, err
	}
	v.h = h
	v.start = h.anchor
	if from != nil {
		if from.Size < h.anchor || from.Size > h.size {
			return false, nil
		}
		v.start = from.Size
	}
	if err := v.loadCheckpoints(); err != nil {
		return false, err
	}
	if !h.anchorFrontierOK {
		v.add(&ChainError{Seq: h.anchor, Kind: Changed, Reason: "the head's anchor frontier is malformed"})
		h.anchorFrontier = frontier{size: h.anchor, hashes: make([]tlog.Hash, len(mustIndexes(h.anchor)))}
	}
	if from != nil {
		ok, err := v.resume(from)
		if err != nil || !ok {
			return false, err
		}
	} else {
		v.f, v.fOK = h.anchorFrontier.clone(), true
		if cp := v.cps[h.anchor]; cp != nil && h.anchor > 0 && v.f.root() != cp.Root {
			v.add(&ChainError{Seq: h.anchor, Kind: Changed, Reason: "the anchor's frontier does not give the tree hash the checkpoint of its size signed"})
			v.fOK = false
		}
	}
	if err := v.checkKept(); err != nil {
		return false, err
	}
	v.startSegment(v.start)

	rows, err := tx.QueryContext(ctx, l.q.rowsFrom, l.tenant, v.start, int64(math.MaxInt64))
	if err != nil {
		return false, fmt.Errorf("deepvueaudit: verifying: %w", err)
	}
	defer rows.Close()
	next := v.start + 1
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return false, fmt.Errorf("deepvueaudit: verifying: %w", err)
		}
		for ; next < r.Seq; next++ {
			v.step(next, nil)
		}
		v.step(r.Seq, r)
		next = r.Seq + 1
		v.lastRowSeq = r.Seq
		v.walked++
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("deepvueaudit: verifying: %w", err)
	}
	// Rows missing at the end, up to the head and the latest checkpoint.
	end := h.size
	for size := range v.cps {
		end = max(end, size)
	}
	for ; next <= end; next++ {
		v.step(next, nil)
	}
	v.flushDeleted()
	switch {
	case v.lastRowSeq > h.size:
		v.add(&ChainError{Seq: h.size + 1, Kind: Inserted, Reason: fmt.Sprintf(
			"rows after the head (it holds %d rows; the last is row %d): appended without moving the head, or the head moved back",
			h.size, v.lastRowSeq)})
	case v.f.size == h.size && v.f.root() != h.root && len(v.bad) == 0:
		v.add(&ChainError{Seq: h.size, Kind: Changed, Reason: "the head's tree hash does not match the rows: the head was moved"})
	}
	if err := v.checkOrphans(); err != nil {
		return false, err
	}
	return true, nil
}

// resume starts the walk at checkpoint from, verified before: it must
// still be stored, the stored hashes must still give its tree hash, and
// the latest checkpoint must be consistent with it (a consistency proof
// from the stored hashes). The walk's times start from its last row.
func (v *verifier) resume(from *Checkpoint) (bool, error) {
	cp := v.cps[from.Size]
	if cp == nil || cp.Root != from.Root {
		return false, nil
	}
	hr := &hashReader{ctx: v.ctx, l: v.l, q: v.tx, h: v.h}
	f, err := v.l.frontierAt(v.ctx, hr, from.Size)
	if err != nil || f.root() != from.Root {
		return false, nil
	}
	var latest *Checkpoint
	for _, c := range v.cps {
		if latest == nil || c.Size > latest.Size {
			latest = c
		}
	}
	if latest.Size > from.Size {
		p, err := tlog.ProveTree(latest.Size, from.Size, hr)
		if err != nil || tlog.CheckTree(p, latest.Size, latest.Root, from.Size, from.Root) != nil {
			return false, nil
		}
	}
	v.f, v.fOK = f, true
	var at, db time.Time
	err = v.tx.QueryRowContext(v.ctx, `SELECT recorded_at, db_time FROM "`+v.l.name+`" WHERE tenant = $1 AND seq = $2`,
		v.l.tenant, from.Size).Scan(&at, &db)
	if err == nil {
		v.prevAt, v.prevDB = at.UTC(), db.UTC()
	} else if !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("deepvueaudit: verifying: %w", err)
	}
	return true, nil
}

// checkOrphans looks up, before the walk's start, the consent rows of the
// outcome rows the walk found without one.
func (v *verifier) checkOrphans() error {
	if len(v.orphans) == 0 {
		return nil
	}
	ids := make([]string, len(v.orphans))
	for i, r := range v.orphans {
		ids[i] = r.CallID
	}
	rs, err := v.tx.QueryContext(v.ctx, `SELECT DISTINCT call_id FROM "`+v.l.name+`" WHERE tenant = $1 AND seq <= $2
		AND stage = 'consent' AND call_id = ANY($3)`, v.l.tenant, v.start, ids)
	if err != nil {
		return fmt.Errorf("deepvueaudit: verifying: %w", err)
	}
	defer rs.Close()
	found := map[string]bool{}
	for rs.Next() {
		var id string
		if err := rs.Scan(&id); err != nil {
			return fmt.Errorf("deepvueaudit: verifying: %w", err)
		}
		found[id] = true
	}
	if err := rs.Err(); err != nil {
		return fmt.Errorf("deepvueaudit: verifying: %w", err)
	}
	for _, r := range v.orphans {
		if !found[r.CallID] {
			v.add(&ChainError{Seq: r.Seq, CallID: shownCallID(r.CallID), Kind: NoConsent, Reason: "an outcome row without an earlier consent row of its call"})
		}
	}
	return nil
}

// checkKept checks the rows at or below the anchor and the archive
// manifests: each such row is one a signed manifest kept (and none it
// kept is missing), is in the tree at the anchor (an inclusion proof from
// the kept hashes), and the manifests follow one another from row 1 to
// the anchor.
func (v *verifier) checkKept() error {
	l, h := v.l, v.h
	// Two scans an index serves: the rows below the anchor (the primary
	// key), and the manifests (the partial index of the kept stages).
	rs, err := v.tx.QueryContext(v.ctx, `SELECT `+columns+` FROM "`+l.name+`" WHERE tenant = $1 AND seq <= $2
		UNION ALL SELECT `+columns+` FROM "`+l.name+`" WHERE tenant = $1 AND seq > $2 AND stage = 'archive' ORDER BY seq`,
		l.tenant, h.anchor)
	if err != nil {
		return fmt.Errorf("deepvueaudit: verifying: %w", err)
	}
	var below, manifests []*Row
	for rs.Next() {
		r, err := scanRow(rs)
		if err != nil {
			rs.Close()
			return fmt.Errorf("deepvueaudit: verifying: %w", err)
		}
		if r.Seq <= h.anchor {
			below = append(below, r)
		}
		if r.Stage == stageArchive {
			manifests = append(manifests, r)
		}
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return fmt.Errorf("deepvueaudit: verifying: %w", err)
	}
	// The manifests, in the order of their segments.
	type man struct {
		row *Row
		m   *Manifest
	}
	var ms []man
	for _, r := range manifests {
		var m *Manifest
		var err error
		if l.ck != nil {
			m, err = openManifest([]byte(r.Detail), l.ck.r.verifier)
		} else {
			m, err = manifestUnsigned([]byte(r.Detail))
		}
		if err == nil && m.Origin != archiveOrigin(l.name, l.tenant) {
			err = errOtherOrigin
		}
		if err != nil {
			v.add(&ChainError{Seq: r.Seq, CallID: shownCallID(r.CallID), Kind: BadCheckpoint, Reason: "its archive manifest does not verify: " + err.Error()})
			continue
		}
		ms = append(ms, man{r, m})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].m.First < ms[j].m.First })
	kept := map[int64]bool{}
	next := int64(1)
	var prev *Manifest
	for _, x := range ms {
		m := x.m
		switch {
		case m.First > next:
			v.add(&ChainError{Seq: next, Kind: AnchorMoved, Reason: fmt.Sprintf(
				"rows %d to %d were deleted with no archive manifest in the trail", next, m.First-1)})
		case m.First < next:
			v.add(&ChainError{Seq: x.row.Seq, CallID: shownCallID(x.row.CallID), Kind: Inserted, Reason: fmt.Sprintf(
				"an archive manifest of rows %d to %d, which another one covers", m.First, m.Last)})
			continue
		case prev != nil && (&frontier{size: m.First - 1, hashes: m.Start}).root() != prev.Tree:
			v.add(&ChainError{Seq: x.row.Seq, CallID: shownCallID(x.row.CallID), Kind: Changed, Reason: fmt.Sprintf(
				"its archive manifest does not start from the tree the one of rows %d to %d signed", prev.First, prev.Last)})
		}
		for _, s := range m.Kept {
			kept[s] = true
		}
		for _, s := range m.Released {
			delete(kept, s)
		}
		next, prev = m.Last+1, m
	}
	switch {
	case prev == nil && h.anchor > 0:
		v.add(&ChainError{Seq: 1, Kind: AnchorMoved, Reason: fmt.Sprintf(
			"rows 1 to %d were deleted and the anchor moved to %d with no archive manifest in the trail", h.anchor, h.anchor)})
	case prev != nil && prev.Last != h.anchor:
		v.add(&ChainError{Seq: min(prev.Last, h.anchor) + 1, Kind: AnchorMoved, Reason: fmt.Sprintf(
			"the anchor is at row %d but the archive manifests end at row %d", h.anchor, prev.Last)})
	case prev != nil && prev.Tree != h.anchorFrontier.root():
		v.add(&ChainError{Seq: h.anchor, Kind: Changed, Reason: "the anchor's frontier does not give the tree hash the last archive manifest signed"})
	}
	// The rows below the anchor.
	var prove []*Row
	present := map[int64]bool{}
	for _, r := range below {
		present[r.Seq] = true
		if !kept[r.Seq] {
			v.add(&ChainError{Seq: r.Seq, CallID: shownCallID(r.CallID), Kind: Inserted, Reason: "at or below the anchor (" +
				strconv.FormatInt(h.anchor, 10) + "): rows there were purged, and no archive manifest kept this one"})
			continue
		}
		if sl, ok := r.storedLeaf(); !ok || sl != r.leafHash() {
			v.add(&ChainError{Seq: r.Seq, CallID: shownCallID(r.CallID), Kind: Changed, Reason: "its content no longer matches the hash stored when it was appended"})
			continue
		}
		v.checkCall(r)
		prove = append(prove, r)
	}
	var missing []int64
	for s := range kept {
		if !present[s] && s <= h.anchor {
			missing = append(missing, s)
		}
	}
	sort.Slice(missing, func(i, j int) bool { return missing[i] < missing[j] })
	for _, s := range missing {
		v.add(&ChainError{Seq: s, Kind: Deleted, Reason: "a row a Purge kept (a held call's, a hold, a release or an archive manifest) is missing"})
	}
	if len(prove) > 0 && h.anchorFrontierOK {
		hr := &hashReader{ctx: v.ctx, l: l, q: v.tx, h: h}
		proofs, err := proveAll(h.anchor, prove, hr)
		root := h.anchorFrontier.root()
		for i, r := range prove {
			if err != nil || tlog.CheckRecord(proofs[i], h.anchor, root, r.Seq-1, r.leafHash()) != nil {
				v.add(&ChainError{Seq: r.Seq, CallID: shownCallID(r.CallID), Kind: Changed, Reason: "a row a Purge kept is not in the tree at the anchor (or the hashes kept for its proof were changed)"})
			}
		}
	}
	return nil
}

func mustIndexes(n int64) []int64 { ids, _ := frontierIndexes(n); return ids }

// loadCheckpoints reads every stored checkpoint, names those that do not
// verify or disagree, and the anchor moved without a signed Purge.
func (v *verifier) loadCheckpoints() error {
	l, h := v.l, v.h
	v.cps = map[int64]*Checkpoint{}
	if l.ck == nil {
		return nil
	}
	keys := v.keys
	var prev *Checkpoint
	signedAnchor := int64(0)
	for _, k := range keys {
		if k.size < v.start && v.start > h.anchor {
			continue // verified before (Verify from a checkpoint)
		}
		cp, err := l.readCheckpoint(v.ctx, l.ck.r.store, l.ck.r.verifier, k)
		if err != nil {
			v.add(&ChainError{Seq: k.size, Kind: BadCheckpoint, Reason: err.Error()})
			continue
		}
		if prev != nil {
			switch {
			case cp.Time.Before(prev.Time.Add(-l.maxSkew)):
				v.add(&ChainError{Seq: cp.Size, Kind: BadCheckpoint, Reason: "signed " + prev.Time.Sub(cp.Time).Round(time.Second).String() +
					" before the checkpoint of size " + strconv.FormatInt(prev.Size, 10) + ": its time runs backwards"})
			case cp.Size == prev.Size && cp.Root != prev.Root:
				v.add(&ChainError{Seq: cp.Size, Kind: BadCheckpoint, Reason: "two checkpoints of this size sign different trees"})
			}
		}
		prev = cp
		signedAnchor = max(signedAnchor, cp.Anchor)
		if cp.Size >= v.start {
			v.cps[cp.Size] = cp
			if v.latest == nil || cp.Size > v.latest.Size {
				v.latest = cp
			}
		}
	}
	if h.anchor > signedAnchor {
		// A Purge that committed between the listing and the snapshot.
		ok, err := l.anchorSigned(v.ctx, h.anchor)
		if err != nil {
			return err
		}
		if ok {
			signedAnchor = h.anchor
		}
	}
	if h.anchor > signedAnchor {
		v.add(&ChainError{Seq: signedAnchor + 1, Kind: AnchorMoved, Reason: fmt.Sprintf(
			"rows %d to %d were deleted and the anchor moved to %d without a signed Purge (the checkpoints' anchor is %d)",
			signedAnchor+1, h.anchor, h.anchor, signedAnchor)})
	}
	return nil
}

// startSegment begins the rows after size: up to the next checkpoint,
// with its leaves file when it holds the signed leaves.
func (v *verifier) startSegment(size int64) {
	v.segStart, v.segEnd, v.hints, v.hintsOK, v.segBad = size, 0, nil, false, false
	for s := range v.cps {
		if s > size && (v.segEnd == 0 || s < v.segEnd) {
			v.segEnd = s
		}
	}
	if v.segEnd == 0 || !v.fOK {
		return
	}
	b, err := v.l.ck.r.store.Read(v.ctx, v.l.ckPrefix()+leavesName(v.segEnd))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			v.add(&ChainError{Seq: v.segEnd, Kind: BadCheckpoint, Reason: "its leaves file cannot be read: " + err.Error()})
		}
		return
	}
	from, leaves, err := decodeLeaves(b)
	if err != nil || from > size || from+int64(len(leaves)) != v.segEnd {
		v.add(&ChainError{Seq: v.segEnd, Kind: BadCheckpoint, Reason: "its leaves file is malformed"})
		return
	}
	hints := leaves[size-from:]
	f := v.f.clone()
	for _, h := range hints {
		f.append(h)
	}
	if f.root() != v.cps[v.segEnd].Root {
		v.add(&ChainError{Seq: v.segEnd, Kind: BadCheckpoint, Reason: "its leaves file does not give the signed tree hash"})
		return
	}
	v.hints, v.hintsOK = hints, true
	// The leaves after, to name rows moved across this checkpoint.
	v.lookahead = nil
	next := int64(0)
	for s := range v.cps {
		if s > v.segEnd && (next == 0 || s < next) {
			next = s
		}
	}
	if next > 0 {
		if b, err := v.l.ck.r.store.Read(v.ctx, v.l.ckPrefix()+leavesName(next)); err == nil {
			if from, leaves, err := decodeLeaves(b); err == nil && from <= v.segEnd && from+int64(len(leaves)) == next {
				v.lookahead = leaves[v.segEnd-from:]
			}
		}
	}
}

// endSegment checks the tree at the segment's checkpoint.
func (v *verifier) endSegment() {
	cp := v.cps[v.segEnd]
	if v.f.root() != cp.Root && !v.gaveUp {
		if !v.segBad {
			v.add(&ChainError{Seq: v.segStart + 1, Kind: Changed, Reason: fmt.Sprintf(
				"rows %d to %d do not give the tree hash the checkpoint of size %d signed (its leaves file, which would name the row, is missing)",
				v.segStart+1, v.segEnd, v.segEnd)})
		}
		// Resync from the stored hashes, if they still give the signed hash.
		hr := &hashReader{ctx: v.ctx, l: v.l, q: v.tx, h: v.h}
		if f, err := v.l.frontierAt(v.ctx, hr, cp.Size); err == nil && f.root() == cp.Root {
			v.f, v.fOK = f, true
		} else {
			v.fOK, v.gaveUp = false, true
		}
	}
	v.startSegment(v.segEnd)
}

// step checks row seq (r nil: missing) and adds its leaf to the tree.
func (v *verifier) step(seq int64, r *Row) {
	i := seq - v.segStart - 1
	var hint *tlog.Hash
	if v.hintsOK && i < int64(len(v.hints)) {
		hint = &v.hints[i]
	}
	if r == nil {
		v.markBad(seq-1, seq)
		if v.deletedFrom == 0 {
			v.deletedFrom = seq
		}
		v.deletedCount++
		v.segBad = true
		if hint != nil {
			v.f.append(*hint)
		} else {
			v.f.append(tlog.Hash{}) // unknown: the checkpoint will not match
		}
	} else {
		v.flushDeleted()
		v.checkRow(r, hint)
	}
	if v.segEnd > 0 && v.f.size == v.segEnd {
		v.flushDeleted()
		v.endSegment()
	}
}

func (v *verifier) flushDeleted() {
	if v.deletedFrom == 0 {
		return
	}
	from, n := v.deletedFrom, v.deletedCount
	v.deletedFrom, v.deletedCount = 0, 0
	what := "this row is missing"
	if n > 1 {
		what = fmt.Sprintf("rows %d to %d are missing", from, from+n-1)
	}
	signed := int64(0) // the first checkpoint that signed them
	for size := range v.cps {
		if size >= from && (signed == 0 || size < signed) {
			signed = size
		}
	}
	switch {
	case signed > 0:
		what += " (the checkpoint of size " + strconv.FormatInt(signed, 10) + " signed " + map[bool]string{true: "it", false: "them"}[n == 1] + ")"
	case from > v.h.size:
		return // past the head and unsigned: nothing is missing
	case from+n-1 >= v.h.size:
		what += " at the end (the head holds " + strconv.FormatInt(v.h.size, 10) + " rows)"
	}
	v.add(&ChainError{Seq: from, Kind: Deleted, Reason: what})
}

// checkRow checks one row against its stored hashes, the signed leaf
// (hint) and the rules of calls and times, and adds it to the tree.
func (v *verifier) checkRow(r *Row, hint *tlog.Hash) {
	leaf := r.leafHash()
	named := false
	if sl, ok := r.storedLeaf(); !ok || sl != leaf {
		v.add(&ChainError{Seq: r.Seq, CallID: shownCallID(r.CallID), Kind: Changed, Reason: "its content no longer matches the hash stored when it was appended"})
		named = true
	}
	use := leaf
	if hint != nil && *hint != leaf {
		if !named {
			v.nameMismatch(r, leaf)
			named = true
		}
		use = *hint
	}
	if named {
		v.segBad = true
		v.markBad(r.Seq-1, r.Seq)
	}
	stored := v.f.append(use)
	if !named && !bytes.Equal(r.hashes, joinHashes(stored)) && !v.storedExplained(r, stored) {
		v.add(&ChainError{Seq: r.Seq, CallID: shownCallID(r.CallID), Kind: Changed, Reason: "its stored hashes were changed (proofs through it would fail)"})
		v.segBad = true
	}
	v.checkCall(r)
	v.checkTimes(r)
}

// storedExplained reports whether each stored hash of r that differs
// from the tree's covers a leaf already named (an insider who recomputed
// the hashes after that edit changed these too).
func (v *verifier) storedExplained(r *Row, stored []tlog.Hash) bool {
	leaf := r.Seq - 1
	for level, h := range stored {
		got, err := hashAt(r.hashes, level)
		if err == nil && got == h && len(r.hashes) == len(stored)*tlog.HashSize {
			continue
		}
		if err != nil || len(r.hashes) != len(stored)*tlog.HashSize {
			return false
		}
		span := int64(1) << level
		if !v.explained(leaf+1-span, leaf+1) {
			return false
		}
	}
	return true
}

// nameMismatch names a row that differs from the signed leaf of its place:
// a row moved there (rows before it deleted, or inserted, and the rest
// renumbered), or a row changed.
func (v *verifier) nameMismatch(r *Row, leaf tlog.Hash) {
	i := r.Seq - v.segStart - 1
	for j, h := range append(v.hints[:len(v.hints):len(v.hints)], v.lookahead...) {
		if h != leaf {
			continue
		}
		d := int64(j) - i
		if d == v.shift {
			return // the same renumbering, named already
		}
		v.shift = d
		if d > 0 {
			which := fmt.Sprintf("rows %d to %d", r.Seq, r.Seq+d-1)
			if d == 1 {
				which = "row " + strconv.FormatInt(r.Seq, 10)
			}
			v.add(&ChainError{Seq: r.Seq, Kind: Deleted, Reason: fmt.Sprintf(
				"%s of the checkpoint of size %d deleted and the rows after renumbered (this row was row %d); hashes recomputed",
				which, v.segEnd, r.Seq+d)})
		} else {
			v.add(&ChainError{Seq: r.Seq, CallID: shownCallID(r.CallID), Kind: Inserted, Reason: fmt.Sprintf(
				"rows were inserted before it and the rows after them renumbered (this row was row %d); hashes recomputed", r.Seq+d)})
		}
		return
	}
	v.add(&ChainError{Seq: r.Seq, CallID: shownCallID(r.CallID), Kind: Changed, Reason: "it differs from the row the checkpoint of size " +
		strconv.FormatInt(v.segEnd, 10) + " signed; its hashes were recomputed"})
}

// stageBit is a stage's bit in verifier.calls.
var stageBit = map[string]uint8{"consent": 1, "outcome": 2, "decision": 4}

// checkCall: one consent row per call, before its outcome row.
func (v *verifier) checkCall(r *Row) {
	bit := stageBit[r.Stage]
	seen := v.calls[r.CallID]
	if bit != 0 && seen&bit != 0 {
		v.add(&ChainError{Seq: r.Seq, CallID: shownCallID(r.CallID), Kind: Inserted, Reason: "a second " + r.Stage + " row of its call"})
	}
	v.calls[r.CallID] = seen | bit
	if r.Stage == "outcome" && seen&stageBit["consent"] == 0 {
		if v.start > v.h.anchor && r.Seq > v.start {
			v.orphans = append(v.orphans, r) // its consent may be before the walk
			return
		}
		v.add(&ChainError{Seq: r.Seq, CallID: shownCallID(r.CallID), Kind: NoConsent, Reason: "an outcome row without an earlier consent row of its call"})
	}
}

// checkTimes: times run forwards, within the skew of the database's.
func (v *verifier) checkTimes(r *Row) {
	skew := v.l.maxSkew
	switch {
	case !v.prevDB.IsZero() && r.DBTime.Before(v.prevDB.Add(-skew)):
		v.add(&ChainError{Seq: r.Seq, CallID: shownCallID(r.CallID), Kind: BackDated, Reason: "its database time runs backwards by " +
			v.prevDB.Sub(r.DBTime).Round(time.Second).String()})
	case !v.prevAt.IsZero() && r.RecordedAt.Before(v.prevAt.Add(-skew)):
		v.add(&ChainError{Seq: r.Seq, CallID: shownCallID(r.CallID), Kind: BackDated, Reason: "its time runs backwards by " +
			v.prevAt.Sub(r.RecordedAt).Round(time.Second).String()})
	case r.RecordedAt.Sub(r.DBTime) > skew || r.DBTime.Sub(r.RecordedAt) > skew:
		v.add(&ChainError{Seq: r.Seq, CallID: shownCallID(r.CallID), Kind: BackDated, Reason: "its time is " +
			r.DBTime.Sub(r.RecordedAt).Round(time.Second).String() + " from the database's when it was appended"})
	case !r.Evidence.DecidedAt.IsZero() && r.Evidence.DecidedAt.After(r.RecordedAt.Add(skew)):
		v.add(&ChainError{Seq: r.Seq, CallID: shownCallID(r.CallID), Kind: BackDated, Reason: "the customer decided after the record was made"})
	}
	if r.DBTime.After(v.prevDB) {
		v.prevDB = r.DBTime
	}
	if r.RecordedAt.After(v.prevAt) {
		v.prevAt = r.RecordedAt
	}
}
