package deepvueaudit

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is a signed statement of the trail's tree: its size and hash
// at a time, and how many of its first rows a signed Purge removed. Its
// note is the checkpoint in the signed-note format (golang.org/x/mod/sumdb/
// note), as the Go checksum database and Certificate Transparency publish
// theirs:
//
//	deepvueaudit/deepvue_audit
//	1000
//	<the tree hash in base64>
//	time 2026-01-02T15:04:05.123456789Z
//	anchor 0
//
//	— <key name> <signature>
type Checkpoint struct {
	Origin string    // "deepvueaudit/" and the table
	Size   int64     // the rows appended: the tree's size
	Root   tlog.Hash // the tree hash (RFC 6962, as tlog.TreeHash)
	Time   time.Time // when it was signed (the signer's clock)
	Anchor int64     // rows 1 to Anchor were purged (0: none)
	Note   []byte    // the signed note
}

// formatCheckpoint returns the text of a checkpoint's note.
func formatCheckpoint(origin string, size int64, root tlog.Hash, t time.Time, anchor int64) string {
	return origin + "\n" + strconv.FormatInt(size, 10) + "\n" + base64.StdEncoding.EncodeToString(root[:]) + "\n" +
		"time " + t.UTC().Format(time.RFC3339Nano) + "\n" + "anchor " + strconv.FormatInt(anchor, 10) + "\n"
}

var errMalformedCheckpoint = errors.New("deepvueaudit: malformed checkpoint")

// openCheckpoint checks msg's signature with v (exactly one signature, by
// v, in canonical base64) and parses its text, which must be in the exact
// form formatCheckpoint writes.
func openCheckpoint(msg []byte, v note.Verifier) (*Checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return nil, fmt.Errorf("deepvueaudit: checkpoint signature: %w", err)
	}
	if len(n.Sigs) != 1 || len(n.UnverifiedSigs) != 0 {
		return nil, errors.New("deepvueaudit: checkpoint: want exactly one signature, by the verifier's key")
	}
	sig := n.Sigs[0]
	raw, err := base64.StdEncoding.Strict().DecodeString(sig.Base64)
	if err != nil || base64.StdEncoding.EncodeToString(raw) != sig.Base64 ||
		!bytes.Equal(msg, []byte(n.Text+"\n— "+sig.Name+" "+sig.Base64+"\n")) {
		return nil, errors.New("deepvueaudit: checkpoint: the signature is not in its canonical form")
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 6 || lines[5] != "" || !strings.HasPrefix(lines[0], "deepvueaudit/") {
		return nil, errMalformedCheckpoint
	}
	c := &Checkpoint{Origin: lines[0], Note: msg}
	if c.Size, err = strconv.ParseInt(lines[1], 10, 64); err != nil || c.Size < 0 {
		return nil, errMalformedCheckpoint
	}
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return nil, errMalformedCheckpoint
	}
	copy(c.Root[:], root)
	ts, ok := strings.CutPrefix(lines[3], "time ")
	if !ok {
		return nil, errMalformedCheckpoint
	}
	if c.Time, err = time.Parse(time.RFC3339Nano, ts); err != nil {
		return nil, errMalformedCheckpoint
	}
	as, ok := strings.CutPrefix(lines[4], "anchor ")
	if !ok {
		return nil, errMalformedCheckpoint
	}
	if c.Anchor, err = strconv.ParseInt(as, 10, 64); err != nil || c.Anchor < 0 || c.Anchor > c.Size {
		return nil, errMalformedCheckpoint
	}
	if formatCheckpoint(c.Origin, c.Size, c.Root, c.Time, c.Anchor) != n.Text {
		return nil, errMalformedCheckpoint // not canonical ("+1", "01", a time zone...)
	}
	return c, nil
}

// The checkpoints of table t are stored as t/<size>-<anchor>.note (each
// number in 20 digits), each after t/<size>.leaves: the record hashes of
// the rows it adds to the one before it, which let Verify name the row a
// rewrite changed. A Purge signs a checkpoint of the same size with a new
// anchor. A tenant's are in a folder of its own, t/t-<id>/ (see
// tenantDir).
func (l *Log) ckPrefix() string { return l.name + "/" + tenantDir(l.tenant) }

func noteName(k ckKey) string      { return fmt.Sprintf("%020d-%020d.note", k.size, k.anchor) }
func leavesName(size int64) string { return fmt.Sprintf("%020d.leaves", size) }

// ckKey names a stored checkpoint.
type ckKey struct{ size, anchor int64 }

const leavesFormat = "deepvueaudit leaves v1\n"

func encodeLeaves(from int64, leaves []tlog.Hash) []byte {
	b := []byte(leavesFormat)
	b = binary.BigEndian.AppendUint64(b, uint64(from))
	for _, h := range leaves {
		b = append(b, h[:]...)
	}
	return b
}

func decodeLeaves(b []byte) (from int64, leaves []tlog.Hash, err error) {
	rest, ok := bytes.CutPrefix(b, []byte(leavesFormat))
	if !ok || len(rest) < 8 || (len(rest)-8)%tlog.HashSize != 0 {
		return 0, nil, errors.New("malformed leaves file")
	}
	from = int64(binary.BigEndian.Uint64(rest))
	rest = rest[8:]
	leaves = make([]tlog.Hash, len(rest)/tlog.HashSize)
	for i := range leaves {
		copy(leaves[i][:], rest[i*tlog.HashSize:])
	}
	return from, leaves, nil
}

// listCheckpoints returns the stored checkpoint notes, by size and anchor.
func (l *Log) listCheckpoints(ctx context.Context, store CheckpointStore) ([]ckKey, error) {
	names, err := store.List(ctx, l.ckPrefix())
	if err != nil {
		return nil, fmt.Errorf("deepvueaudit: listing the checkpoints: %w", err)
	}
	var keys []ckKey
	for _, n := range names {
		s, ok := strings.CutSuffix(n, ".note")
		if !ok {
			continue
		}
		a, b, ok := strings.Cut(s, "-")
		if !ok {
			continue
		}
		size, err1 := strconv.ParseInt(a, 10, 64)
		anchor, err2 := strconv.ParseInt(b, 10, 64)
		if err1 != nil || err2 != nil || noteName(ckKey{size, anchor}) != n {
			continue // not ours
		}
		keys = append(keys, ckKey{size, anchor})
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].size != keys[j].size {
			return keys[i].size < keys[j].size
		}
		return keys[i].anchor < keys[j].anchor
	})
	return keys, nil
}

// readCheckpoint reads and opens the stored checkpoint k.
func (l *Log) readCheckpoint(ctx context.Context, store CheckpointStore, v note.Verifier, k ckKey) (*Checkpoint, error) {
	name := l.ckPrefix() + noteName(k)
	b, err := store.Read(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("deepvueaudit: reading checkpoint %s: %w", name, err)
	}
	c, err := openCheckpoint(b, v)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, name)
	}
	if c.Size != k.size || c.Anchor != k.anchor || c.Origin != l.origin {
		return nil, fmt.Errorf("deepvueaudit: checkpoint %s is of %s, size %d, anchor %d", name, c.Origin, c.Size, c.Anchor)
	}
	return c, nil
}

// anchorSigned reports whether a checkpoint stored now states anchor. A
// Purge signs its new anchor before it commits: a snapshot that sees the
// anchor may have begun after a listing that missed that checkpoint (the
// checkpoints are listed before the snapshot: see latest), never before
// one that follows it.
func (l *Log) anchorSigned(ctx context.Context, anchor int64) (bool, error) {
	keys, err := l.listCheckpoints(ctx, l.ck.r.store)
	if err != nil {
		return false, err
	}
	for i := len(keys) - 1; i >= 0; i-- {
		if keys[i].anchor != anchor {
			continue
		}
		if _, err := l.readCheckpoint(ctx, l.ck.r.store, l.ck.r.verifier, keys[i]); err == nil {
			return true, nil
		}
	}
	return false, nil
}

// head is the head row of a tenant.
type head struct {
	size, anchor     int64
	root             tlog.Hash
	frontier         []byte
	anchorFrontier   frontier
	anchorFrontierOK bool
}

func (l *Log) readHead(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (*head, error) {
	h := &head{}
	var root, af []byte
	if err := q.QueryRowContext(ctx, l.q.head, l.tenant).Scan(&h.size, &root, &h.frontier, &h.anchor, &af); err != nil {
		return nil, fmt.Errorf("deepvueaudit: reading the head: %w", err)
	}
	copy(h.root[:], root)
	if f, err := decodeFrontier(h.anchor, af); err == nil {
		h.anchorFrontier, h.anchorFrontierOK = f, true
	}
	return h, nil
}

// hashReader reads stored hashes from the rows (q is the database or a
// transaction), and those of purged rows from the anchor's frontier.
type hashReader struct {
	ctx context.Context
	l   *Log
	q   interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	}
	h *head
}

// ReadHashes implements tlog.HashReader. A stored hash is read from the
// row that completed it; for the rows a Purge deleted, from the anchor's
// frontier or from the hashes the Purge kept (the table's _tree).
func (r *hashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var anchored map[int64]tlog.Hash
	var want []int64
	found := make([]bool, len(indexes))
	for i, idx := range indexes {
		seq, _ := storedAt(idx)
		if seq <= r.h.anchor {
			if anchored == nil {
				anchored = map[int64]tlog.Hash{}
				ids, _ := frontierIndexes(r.h.anchor)
				if r.h.anchorFrontierOK {
					for i, id := range ids {
						anchored[id] = r.h.anchorFrontier.hashes[i]
					}
				}
			}
			if h, ok := anchored[idx]; ok {
				out[i], found[i] = h, true
				continue
			}
		}
		want = append(want, seq)
	}
	got := map[int64][]byte{}
	if len(want) > 0 {
		rows, err := r.q.QueryContext(r.ctx, r.l.q.hashes, r.l.tenant, want)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var seq int64
			var hs []byte
			if err := rows.Scan(&seq, &hs); err != nil {
				return nil, err
			}
			got[seq] = hs
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	var kept []int64 // of purged rows: from _tree
	for i, idx := range indexes {
		if found[i] {
			continue
		}
		seq, pos := storedAt(idx)
		hs, ok := got[seq]
		if !ok {
			if seq <= r.h.anchor {
				kept = append(kept, idx)
				continue
			}
			return nil, fmt.Errorf("row %d is missing", seq)
		}
		h, err := hashAt(hs, pos)
		if err != nil {
			return nil, fmt.Errorf("row %d: %w", seq, err)
		}
		out[i], found[i] = h, true
	}
	if len(kept) > 0 {
		m, err := r.readKept(kept)
		if err != nil {
			return nil, err
		}
		for i, idx := range indexes {
			if found[i] {
				continue
			}
			h, ok := m[idx]
			if !ok {
				seq, _ := storedAt(idx)
				return nil, fmt.Errorf("stored hash %d (of row %d) belongs to purged rows", idx, seq)
			}
			out[i] = h
		}
	}
	return out, nil
}

// readKept reads stored hashes a Purge kept.
func (r *hashReader) readKept(indexes []int64) (map[int64]tlog.Hash, error) {
	rows, err := r.q.QueryContext(r.ctx, r.l.q.kept, r.l.tenant, indexes)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := map[int64]tlog.Hash{}
	for rows.Next() {
		var idx int64
		var b []byte
		if err := rows.Scan(&idx, &b); err != nil {
			return nil, err
		}
		if len(b) != tlog.HashSize {
			return nil, fmt.Errorf("kept hash %d is malformed", idx)
		}
		var h tlog.Hash
		copy(h[:], b)
		m[idx] = h
	}
	return m, rows.Err()
}

// frontierAt reads the frontier of the tree of size n from the stored
// hashes.
func (l *Log) frontierAt(ctx context.Context, hr *hashReader, n int64) (frontier, error) {
	ids, _ := frontierIndexes(n)
	hs, err := hr.ReadHashes(ids)
	if err != nil {
		return frontier{}, err
	}
	return frontier{size: n, hashes: hs}, nil
}

// ckRunner writes the background checkpoints of one Open's tenants, one
// at a time, from one goroutine.
type ckRunner struct {
	store    CheckpointStore
	signer   note.Signer
	verifier note.Verifier
	rows     int64
	interval time.Duration
	logger   *slog.Logger

	mu     sync.Mutex
	due    map[*checkpointer]bool
	kick   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	closed bool
}

func newCkRunner(cfg config) *ckRunner {
	r := &ckRunner{store: cfg.store, signer: cfg.signer, verifier: cfg.verifier, rows: cfg.ckRows,
		interval: cfg.ckInterval, logger: cfg.logger, due: map[*checkpointer]bool{}, kick: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	if r.signer == nil { // verify only
		close(r.done)
		return r
	}
	go r.run()
	return r
}

// signal asks for a checkpoint of c's tenant.
func (r *ckRunner) signal(c *checkpointer) {
	r.mu.Lock()
	r.due[c] = true
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *ckRunner) run() {
	defer close(r.done)
	for {
		select {
		case <-r.stop:
			return
		case <-r.kick:
		}
		r.mu.Lock()
		due := r.due
		r.due = map[*checkpointer]bool{}
		r.mu.Unlock()
		for c := range due {
			select {
			case <-r.stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			_, err := c.checkpoint(ctx, -1)
			cancel()
			c.state.Lock()
			c.err = err
			c.state.Unlock()
			if err != nil && r.logger != nil {
				r.logger.LogAttrs(context.Background(), slog.LevelWarn, "deepvueaudit: the checkpoint was not written",
					slog.String("table", c.l.name), slog.String("tenant", c.l.tenant), slog.String("error", err.Error()))
			}
		}
	}
}

// close stops the goroutine and signs a last checkpoint of every tenant of
// s with unsigned rows.
func (r *ckRunner) close(ctx context.Context, s *shared) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	if r.signer == nil {
		return nil
	}
	close(r.stop)
	<-r.done
	s.mu.Lock()
	var cs []*checkpointer
	for _, l := range s.tenants {
		if l.ck != nil {
			cs = append(cs, l.ck)
		}
	}
	s.mu.Unlock()
	var errs []error
	for _, c := range cs {
		c.state.Lock()
		if c.timer != nil {
			c.timer.Stop()
			c.timer = nil
		}
		c.closed = true
		unsigned := c.newest > c.signed
		c.state.Unlock()
		if !unsigned {
			continue
		}
		if _, err := c.checkpoint(ctx, -1); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkpointer writes the checkpoints of one tenant's trail.
type checkpointer struct {
	l *Log
	r *ckRunner

	mu    sync.Mutex // one checkpoint at a time in this process
	last  *Checkpoint
	lastF *frontier // the frontier at last.Size, checked against last.Root

	state  sync.Mutex
	signed int64 // the size of the newest checkpoint known
	newest int64 // the size after this Log's newest append
	timer  *time.Timer
	err    error // the last background failure
	closed bool
}

func newCheckpointer(l *Log, r *ckRunner) *checkpointer {
	return &checkpointer{l: l, r: r}
}

// appended notes an append that made the tree size rows; ckSize is the
// head's last checkpoint size.
func (c *checkpointer) appended(size, ckSize int64) {
	c.state.Lock()
	defer c.state.Unlock()
	c.signed = max(c.signed, ckSize)
	c.newest = max(c.newest, size)
	switch {
	case c.newest-c.signed >= c.r.rows && c.r.signer != nil && !c.closed:
		c.r.signal(c)
	default:
		c.arm()
	}
}

// arm starts the interval's timer if rows are unsigned and none runs
// (c.state held).
func (c *checkpointer) arm() {
	if c.timer != nil || c.newest <= c.signed || c.closed || c.r.signer == nil {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(c.r.interval, func() {
		c.state.Lock()
		if c.timer == t {
			c.timer = nil
		}
		c.state.Unlock()
		c.r.signal(c)
	})
	c.timer = t
}

// signedUpTo notes a checkpoint of size signed.
func (c *checkpointer) signedUpTo(size int64) {
	c.state.Lock()
	defer c.state.Unlock()
	c.signed = max(c.signed, size)
	if c.timer != nil && c.newest <= c.signed {
		c.timer.Stop()
		c.timer = nil
	}
	c.arm()
}

// Checkpoint signs the trail's current tree and writes the checkpoint to
// the store now, unless the latest stored checkpoint already covers every
// row (then it returns that one). It first checks that the rows since the
// latest checkpoint extend it: their record hashes match their content and
// their stored hashes, the tree they make matches the head, and the older
// rows' stored hashes still give the signed tree hash. If they do not, it
// signs nothing and returns a *ChainError: a checkpoint never vouches for a
// trail that does not verify.
func (l *Log) Checkpoint(ctx context.Context) (*Checkpoint, error) {
	if l.ck == nil {
		return nil, ErrNoCheckpoints
	}
	return l.ck.checkpoint(ctx, -1)
}

// latest returns the newest of the stored checkpoints keys and the frontier
// of its tree, read from the stored hashes and checked against its tree
// hash (nil, and an empty frontier, if none). keys must be listed before
// hr's snapshot begins: a checkpoint is written after its rows commit, so
// the snapshot then sees every row of every listed checkpoint. (Listed
// after it, another replica's checkpoint can sign rows committed since the
// snapshot, which would read as rows deleted.)
func (c *checkpointer) latest(ctx context.Context, hr *hashReader, keys []ckKey) (*Checkpoint, frontier, error) {
	if len(keys) == 0 {
		return nil, frontier{}, nil
	}
	newest := keys[len(keys)-1]
	if c.last != nil && c.last.Size == newest.size && c.last.Anchor == newest.anchor && c.lastF != nil {
		return c.last, c.lastF.clone(), nil
	}
	cp, err := c.l.readCheckpoint(ctx, c.r.store, c.r.verifier, newest)
	if err != nil {
		return nil, frontier{}, err
	}
	f, err := c.l.frontierAt(ctx, hr, cp.Size)
	if err != nil {
		return nil, frontier{}, &ChainError{Seq: cp.Size, Kind: Deleted,
			Reason: "the rows of the latest checkpoint (size " + strconv.FormatInt(cp.Size, 10) + ") cannot be read: " + err.Error()}
	}
	if f.root() != cp.Root {
		return nil, frontier{}, &ChainError{Seq: cp.Size, Kind: Changed,
			Reason: "the stored hashes no longer give the tree hash of the latest checkpoint (size " +
				strconv.FormatInt(cp.Size, 10) + "): rows were rewritten; run Verify"}
	}
	c.last, c.lastF = cp, &f
	return cp, f.clone(), nil
}

// snapshot begins a read-only transaction that sees one state of the
// tables (the rows, the head, the kept hashes), whatever a Purge or an
// append commits meanwhile.
func (l *Log) snapshot(ctx context.Context) (*sql.Tx, error) {
	return l.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
}

// listThenSnapshot lists the stored checkpoints, then begins a snapshot
// and reads the head in it (see latest). A Purge that committed in between
// may have deleted rows the newest listed checkpoint signed (its own
// checkpoints, signed before its commit, not listed): when the head's
// anchor is past that checkpoint, it lists and begins again (twice at
// most: then the anchor was moved by another hand, which the caller
// names).
func (l *Log) listThenSnapshot(ctx context.Context, store CheckpointStore) ([]ckKey, *sql.Tx, *head, error) {
	for try := 0; ; try++ {
		keys, err := l.listCheckpoints(ctx, store)
		if err != nil {
			return nil, nil, nil, err
		}
		tx, err := l.snapshot(ctx)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("deepvueaudit: %w", err)
		}
		h, err := l.readHead(ctx, tx)
		if err != nil {
			_ = tx.Rollback()
			return nil, nil, nil, err
		}
		if try == 2 || len(keys) == 0 || keys[len(keys)-1].size >= h.anchor {
			return keys, tx, h, nil
		}
		_ = tx.Rollback()
	}
}

// covering returns the latest checkpoint if its tree holds row seq, else
// writes one.
func (c *checkpointer) covering(ctx context.Context, seq int64) (*Checkpoint, error) {
	cp, err := c.latestCovering(ctx, seq)
	if err != nil || cp != nil {
		return cp, err
	}
	return c.checkpoint(ctx, -1)
}

func (c *checkpointer) latestCovering(ctx context.Context, seq int64) (*Checkpoint, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys, tx, h, err := c.l.listThenSnapshot(ctx, c.r.store)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	cp, _, err := c.latest(ctx, &hashReader{ctx: ctx, l: c.l, q: tx, h: h}, keys)
	if err != nil {
		return nil, err
	}
	if cp != nil && cp.Size >= seq {
		return cp, nil
	}
	return nil, nil
}

// checkpoint writes a checkpoint of the current tree; anchor, when not -1,
// is the anchor it states (a Purge's, about to commit), else the latest
// checkpoint's. It reads the trail in one snapshot.
func (c *checkpointer) checkpoint(ctx context.Context, anchor int64) (*Checkpoint, error) {
	if c.r.signer == nil {
		return nil, ErrNoSigner
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.l
	keys, tx, h, err := l.listThenSnapshot(ctx, c.r.store)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	hr := &hashReader{ctx: ctx, l: l, q: tx, h: h}
	prev, f, err := c.latest(ctx, hr, keys)
	if err != nil {
		return nil, err
	}
	prevSize, prevAnchor := int64(0), int64(0)
	if prev != nil {
		prevSize, prevAnchor = prev.Size, prev.Anchor
	} else if h.anchor > 0 {
		// Purged before any checkpoint: start from the anchor.
		if !h.anchorFrontierOK {
			return nil, &ChainError{Seq: h.anchor, Kind: Changed, Reason: "the head's anchor frontier is malformed"}
		}
		f = h.anchorFrontier.clone()
		prevSize, prevAnchor = h.anchor, h.anchor
	}
	if anchor < 0 && h.anchor > prevAnchor {
		// A Purge that committed after the listing: its checkpoint, signed
		// before its commit, is stored (listed now). Without it the
		// checkpoint would state the old anchor, and every later one too.
		ok, err := l.anchorSigned(ctx, h.anchor)
		if err != nil {
			return nil, err
		}
		if ok {
			prevAnchor = h.anchor
		}
	}
	if anchor < 0 {
		anchor = prevAnchor
	}
	if h.size < prevSize {
		return nil, &ChainError{Seq: h.size + 1, Kind: Deleted, Reason: fmt.Sprintf(
			"the head holds %d rows but the checkpoint of size %d signed them: rows were deleted and the head moved back",
			h.size, prevSize)}
	}
	if prev != nil && h.size == prevSize && anchor == prevAnchor {
		c.signedUpTo(prev.Size)
		return prev, nil
	}
	// The rows since the latest checkpoint.
	rows, err := tx.QueryContext(ctx, l.q.rowsFrom, l.tenant, prevSize, h.size)
	if err != nil {
		return nil, fmt.Errorf("deepvueaudit: checkpoint: %w", err)
	}
	var leaves []tlog.Hash
	want := prevSize + 1
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("deepvueaudit: checkpoint: %w", err)
		}
		if r.Seq != want {
			rows.Close()
			return nil, &ChainError{Seq: want, Kind: Deleted, Reason: "missing before the checkpoint"}
		}
		leaf := r.leafHash()
		stored := f.append(leaf)
		if sl, _ := r.storedLeaf(); sl != leaf {
			rows.Close()
			return nil, &ChainError{Seq: r.Seq, CallID: shownCallID(r.CallID), Kind: Changed, Reason: "its content no longer matches the hash stored when it was appended"}
		}
		if !bytes.Equal(r.hashes, joinHashes(stored)) {
			rows.Close()
			return nil, &ChainError{Seq: r.Seq, CallID: shownCallID(r.CallID), Kind: Changed, Reason: "its stored hashes were changed"}
		}
		leaves = append(leaves, leaf)
		want++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("deepvueaudit: checkpoint: %w", err)
	}
	if want <= h.size {
		return nil, &ChainError{Seq: want, Kind: Deleted, Reason: "missing before the checkpoint"}
	}
	if f.root() != h.root || !bytes.Equal(f.bytes(), h.frontier) {
		return nil, &ChainError{Seq: h.size, Kind: Changed, Reason: "the head's hash does not match the rows: the head was moved"}
	}
	_ = tx.Rollback()
	store := c.r.store
	prefix := l.ckPrefix()
	if len(leaves) > 0 {
		data := encodeLeaves(prevSize, leaves)
		if err := store.Create(ctx, prefix+leavesName(f.size), data); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("deepvueaudit: checkpoint: %w", err)
		}
	}
	text := formatCheckpoint(l.origin, f.size, f.root(), time.Now(), anchor)
	msg, err := note.Sign(&note.Note{Text: text}, c.r.signer)
	if err != nil {
		return nil, fmt.Errorf("deepvueaudit: signing the checkpoint: %w", err)
	}
	cp, err := openCheckpoint(msg, c.r.verifier)
	if err != nil {
		return nil, err
	}
	if err := store.Create(ctx, prefix+noteName(ckKey{f.size, anchor}), msg); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("deepvueaudit: checkpoint: %w", err)
		}
		// Another Log signed this size first: it must agree.
		other, oerr := l.readCheckpoint(ctx, store, c.r.verifier, ckKey{f.size, anchor})
		if oerr != nil {
			return nil, oerr
		}
		if other.Root != cp.Root || other.Anchor != cp.Anchor {
			return nil, &ChainError{Seq: f.size, Kind: BadCheckpoint, Reason: "another checkpoint of this size has another tree hash or anchor"}
		}
		cp = other
	}
	// Tell the head (other Logs read it when they append), if no append
	// holds its lock (never wait for one while holding c.mu).
	if _, err := l.db.ExecContext(ctx, `UPDATE "`+l.name+`_head" SET checkpoint_size = $2, checkpoint_at = now()
			WHERE tenant IN (SELECT tenant FROM "`+l.name+`_head" WHERE tenant = $1 AND checkpoint_size < $2 FOR UPDATE SKIP LOCKED)`,
		l.tenant, cp.Size); err != nil {
		return nil, fmt.Errorf("deepvueaudit: checkpoint written, but the head not told: %w", err)
	}
	c.last, c.lastF = cp, &f
	c.signedUpTo(cp.Size)
	return cp, nil
}

func joinHashes(hs []tlog.Hash) []byte {
	b := make([]byte, 0, len(hs)*tlog.HashSize)
	for _, h := range hs {
		b = append(b, h[:]...)
	}
	return b
}
