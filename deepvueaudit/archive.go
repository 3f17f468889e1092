package deepvueaudit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Archive, then delete. Each batch of a Purge writes the rows it deletes
// to an ArchiveStore as a segment (<first>-<last>-<id>.rows: the rows, the
// record hashes of the rows it keeps, and the rows of released holds with
// their inclusion proofs), then a manifest signed with the checkpoints' key
// (<first>-<last>-<id>.manifest): the segment's first and last sequence
// numbers, its count of rows, the Merkle root of its rows, the trail's tree
// hash at its last row, the trail's frontier before its first row, the rows
// it left in the trail, and the SHA-256 of the segment. The manifest is
// also appended to the live trail as a row of stage "archive" (its Detail),
// in the transaction that deletes the rows, and Purge never deletes such a
// row: every anchor is kept. VerifySegment checks a segment against its
// manifest offline; (*Log).VerifyArchive checks every segment of a tenant
// against the live trail, years later: the manifests are in its signed
// tree, chained one to the next up to the current anchor.

// ArchiveStore keeps the segments Purge archives, outside the database. It
// has the contract of CheckpointStore (Create never replaces what a name
// holds); DirStore is one, in a directory (put it on storage that keeps
// files for the archive period and refuses their deletion before: S3
// Object Lock with a retention period, a WORM volume). An archive store may
// be the checkpoints' store: names do not collide.
type ArchiveStore interface {
	// Create stores data under name. If name exists it stores nothing and
	// returns an error matching fs.ErrExist.
	Create(ctx context.Context, name string, data []byte) error
	// Read returns what name holds (an error matching fs.ErrNotExist if
	// nothing).
	Read(ctx context.Context, name string) ([]byte, error)
	// List returns the names in the folder prefix (which ends in "/"), in
	// any order, without the prefix.
	List(ctx context.Context, prefix string) ([]string, error)
}

// Manifest is the signed statement of one archived segment.
type Manifest struct {
	// Origin is "deepvueaudit-archive/" and the table (and "/" and the
	// tenant, for a tenant's trail).
	Origin string
	// First and Last are the sequence numbers of the trail's rows the
	// segment covers: the Purge moved the anchor from First-1 to Last.
	First, Last int64
	// Count is the number of rows archived: the rows of First..Last not
	// Kept, and the Released ones.
	Count int64
	// Root is the Merkle tree hash (RFC 6962, as tlog.TreeHash) of the
	// archived rows' record hashes, in the segment's order.
	Root tlog.Hash
	// Tree is the trail's tree hash at size Last.
	Tree tlog.Hash
	// Start is the frontier of the trail's tree at size First-1: the
	// hashes of its complete subtrees, largest first.
	Start []tlog.Hash
	// Kept are the rows of First..Last left in the live trail: a held
	// call's rows, holds, releases and manifests.
	Kept []int64
	// Released are rows before First that an earlier Purge kept (their
	// call was held) and that this one archived (the hold released).
	Released []int64
	// Cut is the retention's cut: the segment's rows were recorded before
	// it (Retention.AsOf, or the time of the Purge, less Keep).
	Cut time.Time
	// Data is the SHA-256 of the segment's file.
	Data [sha256.Size]byte
	// Time is when the segment was archived (the signer's clock).
	Time time.Time
	// Note is the signed manifest.
	Note []byte
}

// Name returns the segment's name in the store, without its folder and
// extension: <first>-<last>-<the first 8 bytes of Data in hex>.
func (m *Manifest) Name() string {
	return fmt.Sprintf("%020d-%020d-%s", m.First, m.Last, hex.EncodeToString(m.Data[:8]))
}

const manifestOriginPrefix = "deepvueaudit-archive/"

func archiveOrigin(table, tenant string) string {
	if tenant == "" {
		return manifestOriginPrefix + table
	}
	return manifestOriginPrefix + table + "/" + tenant
}

func formatSeqs(s []int64) string {
	if len(s) == 0 {
		return "-"
	}
	parts := make([]string, len(s))
	for i, n := range s {
		parts[i] = strconv.FormatInt(n, 10)
	}
	return strings.Join(parts, ",")
}

func parseSeqs(s string) ([]int64, error) {
	if s == "-" {
		return nil, nil
	}
	var out []int64
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n <= 0 || strconv.FormatInt(n, 10) != p || (len(out) > 0 && n <= out[len(out)-1]) {
			return nil, errMalformedManifest
		}
		out = append(out, n)
	}
	return out, nil
}

// text returns the manifest's text (what is signed).
func (m *Manifest) text() string {
	start := "-"
	if len(m.Start) > 0 {
		start = base64.StdEncoding.EncodeToString(joinHashes(m.Start))
	}
	return m.Origin + "\n" +
		"segment " + strconv.FormatInt(m.First, 10) + " " + strconv.FormatInt(m.Last, 10) + "\n" +
		"count " + strconv.FormatInt(m.Count, 10) + "\n" +
		"root " + base64.StdEncoding.EncodeToString(m.Root[:]) + "\n" +
		"tree " + base64.StdEncoding.EncodeToString(m.Tree[:]) + "\n" +
		"start " + start + "\n" +
		"kept " + formatSeqs(m.Kept) + "\n" +
		"released " + formatSeqs(m.Released) + "\n" +
		"cut " + m.Cut.UTC().Format(time.RFC3339Nano) + "\n" +
		"data " + hex.EncodeToString(m.Data[:]) + "\n" +
		"time " + m.Time.UTC().Format(time.RFC3339Nano) + "\n"
}

var errMalformedManifest = errors.New("deepvueaudit: malformed archive manifest")

// errOtherOrigin: a manifest whose origin line names another table or
// tenant. The line is not quoted: without a verifier it is whatever an
// insider wrote into the row.
var errOtherOrigin = errors.New("a manifest of another table or tenant (its origin line is not this trail's)")

// parseManifestText parses a manifest's text, which must be in the exact
// form text writes.
func parseManifestText(text string) (*Manifest, error) {
	lines := strings.Split(text, "\n")
	if len(lines) != 12 || lines[11] != "" || !strings.HasPrefix(lines[0], manifestOriginPrefix) {
		return nil, errMalformedManifest
	}
	m := &Manifest{Origin: lines[0]}
	field := func(i int, key string) (string, error) {
		v, ok := strings.CutPrefix(lines[i], key+" ")
		if !ok {
			return "", errMalformedManifest
		}
		return v, nil
	}
	hash := func(s string) (tlog.Hash, error) {
		var h tlog.Hash
		b, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil || len(b) != tlog.HashSize {
			return h, errMalformedManifest
		}
		copy(h[:], b)
		return h, nil
	}
	seg, err := field(1, "segment")
	if err != nil {
		return nil, err
	}
	a, b, ok := strings.Cut(seg, " ")
	if !ok {
		return nil, errMalformedManifest
	}
	if m.First, err = strconv.ParseInt(a, 10, 64); err != nil {
		return nil, errMalformedManifest
	}
	if m.Last, err = strconv.ParseInt(b, 10, 64); err != nil || m.First < 1 || m.Last < m.First {
		return nil, errMalformedManifest
	}
	v, err := field(2, "count")
	if err != nil {
		return nil, err
	}
	if m.Count, err = strconv.ParseInt(v, 10, 64); err != nil || m.Count < 0 {
		return nil, errMalformedManifest
	}
	if v, err = field(3, "root"); err != nil {
		return nil, err
	}
	if m.Root, err = hash(v); err != nil {
		return nil, err
	}
	if v, err = field(4, "tree"); err != nil {
		return nil, err
	}
	if m.Tree, err = hash(v); err != nil {
		return nil, err
	}
	if v, err = field(5, "start"); err != nil {
		return nil, err
	}
	if v != "-" {
		raw, err := base64.StdEncoding.Strict().DecodeString(v)
		if err != nil {
			return nil, errMalformedManifest
		}
		f, err := decodeFrontier(m.First-1, raw)
		if err != nil {
			return nil, errMalformedManifest
		}
		m.Start = f.hashes
	} else if m.First != 1 {
		return nil, errMalformedManifest
	}
	if v, err = field(6, "kept"); err != nil {
		return nil, err
	}
	if m.Kept, err = parseSeqs(v); err != nil {
		return nil, err
	}
	if v, err = field(7, "released"); err != nil {
		return nil, err
	}
	if m.Released, err = parseSeqs(v); err != nil {
		return nil, err
	}
	if v, err = field(8, "cut"); err != nil {
		return nil, err
	}
	if m.Cut, err = time.Parse(time.RFC3339Nano, v); err != nil {
		return nil, errMalformedManifest
	}
	if v, err = field(9, "data"); err != nil {
		return nil, err
	}
	d, err := hex.DecodeString(v)
	if err != nil || len(d) != sha256.Size {
		return nil, errMalformedManifest
	}
	copy(m.Data[:], d)
	if v, err = field(10, "time"); err != nil {
		return nil, err
	}
	if m.Time, err = time.Parse(time.RFC3339Nano, v); err != nil {
		return nil, errMalformedManifest
	}
	if m.text() != text {
		return nil, errMalformedManifest // not canonical
	}
	return m, nil
}

// openManifest checks a signed manifest with v (exactly one signature, by
// v) and parses it.
func openManifest(msg []byte, v note.Verifier) (*Manifest, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return nil, fmt.Errorf("deepvueaudit: archive manifest signature: %w", err)
	}
	if len(n.Sigs) != 1 || len(n.UnverifiedSigs) != 0 || !bytes.Equal(msg, []byte(n.Text+"\n— "+n.Sigs[0].Name+" "+n.Sigs[0].Base64+"\n")) {
		return nil, errors.New("deepvueaudit: archive manifest: want exactly one signature, by the verifier's key, in its canonical form")
	}
	m, err := parseManifestText(n.Text)
	if err != nil {
		return nil, err
	}
	m.Note = msg
	return m, nil
}

// manifestUnsigned parses a signed manifest without checking its
// signature (a Log without a verifier reads which rows a Purge kept).
func manifestUnsigned(msg []byte) (*Manifest, error) {
	text, _, ok := strings.Cut(string(msg), "\n\n")
	if !ok {
		return nil, errMalformedManifest
	}
	m, err := parseManifestText(text + "\n")
	if err != nil {
		return nil, err
	}
	m.Note = msg
	return m, nil
}

// manifestCallID is the call id of a manifest's row: the first 16 bytes of
// the SHA-256 of the signed manifest, in hex.
func manifestCallID(msg []byte) string {
	s := sha256.Sum256(msg)
	return hex.EncodeToString(s[:16])
}

const segmentFormat = "deepvueaudit-segment-v1"

// segmentFile is a segment's file.
type segmentFile struct {
	Format   string      `json:"format"`
	Origin   string      `json:"origin"`
	First    int64       `json:"first"`
	Last     int64       `json:"last"`
	Rows     []bundleRow `json:"rows"`     // the archived rows of First..Last, by seq
	Kept     []keptLeaf  `json:"kept"`     // the record hashes of the rows left in the trail
	Released []bundleRow `json:"released"` // earlier kept rows archived now, with their proofs in the tree of size Last
}

type keptLeaf struct {
	Seq  int64  `json:"seq"`
	Leaf string `json:"leaf"`
}

// Segment is an archived segment that verified against its manifest.
type Segment struct {
	Manifest *Manifest
	// Rows are the archived rows, by sequence number (Released ones
	// included).
	Rows []Row
}

// maxSegment bounds a segment VerifySegment reads.
const maxSegment = 1 << 30

// VerifySegment checks an archived segment offline, with the checkpoints'
// public key alone: the manifest's signature, that data is the file it
// names (SHA-256), and that its rows, with the record hashes of the rows
// it left in the trail and the frontier the manifest states, make the
// trail's tree hash at the manifest's last row; that the released rows are
// in that tree; and that the count and the Merkle root of the archived rows
// are the manifest's. VerifyArchive also ties the manifest to the live
// trail.
func VerifySegment(manifest, data []byte, verifier note.Verifier) (*Segment, error) {
	if verifier == nil {
		return nil, errors.New("deepvueaudit: VerifySegment: nil verifier")
	}
	m, err := openManifest(manifest, verifier)
	if err != nil {
		return nil, err
	}
	if len(data) > maxSegment || sha256.Sum256(data) != m.Data {
		return nil, fmt.Errorf("deepvueaudit: segment %s: its file is not the one the manifest signed (SHA-256)", m.Name())
	}
	var sf segmentFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sf); err != nil {
		return nil, fmt.Errorf("deepvueaudit: segment %s: not a segment file: %s", m.Name(), jsonFault(err))
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("deepvueaudit: segment %s: "+format, append([]any{m.Name()}, args...)...)
	}
	if sf.Format != segmentFormat || sf.Origin != m.Origin || sf.First != m.First || sf.Last != m.Last {
		return nil, bad("its header is not the manifest's")
	}
	if len(sf.Kept) != len(m.Kept) {
		return nil, bad("its kept rows are not the manifest's")
	}
	kept := make(map[int64]tlog.Hash, len(sf.Kept))
	for i, k := range sf.Kept {
		raw, err := base64.StdEncoding.Strict().DecodeString(k.Leaf)
		if err != nil || len(raw) != tlog.HashSize || k.Seq != m.Kept[i] || k.Seq < m.First || k.Seq > m.Last {
			return nil, bad("kept row %d is malformed", k.Seq)
		}
		var h tlog.Hash
		copy(h[:], raw)
		kept[k.Seq] = h
	}
	f := frontier{size: m.First - 1, hashes: append([]tlog.Hash(nil), m.Start...)}
	if len(m.Start) != len(mustIndexes(m.First-1)) {
		return nil, bad("its start frontier is malformed")
	}
	seg := &Segment{Manifest: m}
	var segLeaves frontier // the archived rows' own tree
	next := 0
	for seq := m.First; seq <= m.Last; seq++ {
		if h, ok := kept[seq]; ok {
			f.append(h)
			continue
		}
		if next >= len(sf.Rows) || sf.Rows[next].Seq != seq {
			return nil, bad("row %d is missing", seq)
		}
		r, err := sf.Rows[next].row()
		if err != nil {
			return nil, bad("row %d: %v", seq, err)
		}
		next++
		leaf := r.leafHash()
		f.append(leaf)
		segLeaves.append(leaf)
		seg.Rows = append(seg.Rows, *r)
	}
	if next != len(sf.Rows) {
		return nil, bad("rows after its last")
	}
	if f.root() != m.Tree {
		return nil, bad("its rows do not give the trail's tree hash at row %d that the manifest signed", m.Last)
	}
	if len(sf.Released) != len(m.Released) {
		return nil, bad("its released rows are not the manifest's")
	}
	for i := range sf.Released {
		br := &sf.Released[i]
		r, err := br.row()
		if err != nil || br.Seq != m.Released[i] || br.Seq >= m.First {
			return nil, bad("released row %d is malformed", br.Seq)
		}
		raw, err := base64.StdEncoding.Strict().DecodeString(br.Proof)
		if err != nil || len(raw)%tlog.HashSize != 0 || len(raw) > 64*tlog.HashSize {
			return nil, bad("released row %d: malformed proof", br.Seq)
		}
		p := make(tlog.RecordProof, len(raw)/tlog.HashSize)
		for j := range p {
			copy(p[j][:], raw[j*tlog.HashSize:])
		}
		leaf := r.leafHash()
		if err := tlog.CheckRecord(p, m.Last, m.Tree, br.Seq-1, leaf); err != nil {
			return nil, bad("released row %d is not in the trail's tree: %v", br.Seq, err)
		}
		segLeaves.append(leaf)
		seg.Rows = append(seg.Rows, *r)
	}
	if int64(len(seg.Rows)) != m.Count || segLeaves.root() != m.Root {
		return nil, bad("its count or Merkle root is not the manifest's")
	}
	sort.Slice(seg.Rows, func(i, j int) bool { return seg.Rows[i].Seq < seg.Rows[j].Seq })
	return seg, nil
}

// ArchiveReport is what VerifyArchive found.
type ArchiveReport struct {
	// Segments and Rows count the segments, and their rows, that verified.
	Segments int
	Rows     int64
	// Unreferenced are files of the tenant's folder in the store that no
	// manifest of the trail names: a Purge that failed after writing them
	// (its rows are still in the trail, or in a later segment), or files
	// someone else put there.
	Unreferenced []string
}

func (l *Log) archivePrefix() string { return l.name + "/" + tenantDir(l.tenant) }

// VerifyArchive checks every segment a Purge archived from the tenant's
// trail against the live trail: each manifest row of the trail is in the
// latest signed checkpoint (an inclusion proof), its segment is in store
// and verifies against it (VerifySegment), the segments follow one another
// from row 1 with no gap (each one's start frontier gives the tree hash the
// previous one signed), and the last one ends at the trail's anchor with
// its tree hash. It returns an error for the first segment that does not
// verify; files no manifest names are listed in the report.
func (l *Log) VerifyArchive(ctx context.Context, store ArchiveStore) (*ArchiveReport, error) {
	if l.ck == nil {
		return nil, ErrNoCheckpoints
	}
	if store == nil {
		return nil, errors.New("deepvueaudit: VerifyArchive: nil store")
	}
	// The checkpoint the manifests are proved in is found before the
	// snapshot begins, so that the snapshot sees every row it signed (one
	// another replica signs meanwhile can sign rows the snapshot cannot
	// see); a Purge that commits a manifest in between makes it try again.
	var (
		tx   *sql.Tx
		h    *head
		rows []*Row
		cp   *Checkpoint
		err  error
	)
	for try := 0; ; try++ {
		var last sql.NullInt64
		if err := l.db.QueryRowContext(ctx, `SELECT max(seq) FROM "`+l.name+`" WHERE tenant = $1 AND stage = 'archive'`,
			l.tenant).Scan(&last); err != nil {
			return nil, fmt.Errorf("deepvueaudit: VerifyArchive: %w", err)
		}
		cp = nil
		if last.Valid {
			if cp, err = l.ck.covering(ctx, last.Int64); err != nil {
				return nil, fmt.Errorf("deepvueaudit: VerifyArchive: a checkpoint covering the manifests: %w", err)
			}
		}
		if tx, err = l.snapshot(ctx); err != nil {
			return nil, fmt.Errorf("deepvueaudit: VerifyArchive: %w", err)
		}
		defer tx.Rollback() //nolint:errcheck // read-only
		if h, err = l.readHead(ctx, tx); err != nil {
			return nil, err
		}
		if rows, err = l.manifestRows(ctx, tx); err != nil {
			return nil, err
		}
		if len(rows) == 0 || (cp != nil && rows[len(rows)-1].Seq <= cp.Size) || try == 2 {
			break
		}
		_ = tx.Rollback()
	}
	rep := &ArchiveReport{}
	if len(rows) == 0 {
		if h.anchor > 0 {
			return nil, &ChainError{Seq: 1, Kind: AnchorMoved, Reason: "the anchor is at row " + strconv.FormatInt(h.anchor, 10) +
				" but no archive manifest is in the trail"}
		}
		rep.Unreferenced, err = l.unreferenced(ctx, store, nil)
		return rep, err
	}
	if cp == nil || rows[len(rows)-1].Seq > cp.Size {
		return nil, fmt.Errorf("deepvueaudit: VerifyArchive: the manifest row %d is past the checkpoint signed for it (run Verify; "+
			"if it verifies, a Purge committed meanwhile: try again)", rows[len(rows)-1].Seq)
	}
	// The manifests' rows are in the signed tree.
	hr := &hashReader{ctx: ctx, l: l, q: tx, h: h}
	if err := proveRows(cp, hr, rows); err != nil {
		return nil, err
	}
	names := map[string]bool{}
	var prev *Manifest
	for _, r := range rows {
		m, err := openManifest([]byte(r.Detail), l.ck.r.verifier)
		if err != nil {
			return nil, &ChainError{Seq: r.Seq, CallID: shownCallID(r.CallID), Kind: BadCheckpoint, Reason: err.Error()}
		}
		if m.Origin != archiveOrigin(l.name, l.tenant) {
			return nil, &ChainError{Seq: r.Seq, CallID: shownCallID(r.CallID), Kind: BadCheckpoint, Reason: errOtherOrigin.Error()}
		}
		name := l.archivePrefix() + m.Name()
		names[m.Name()+".rows"], names[m.Name()+".manifest"] = true, true
		stored, err := store.Read(ctx, name+".manifest")
		if err != nil {
			return nil, fmt.Errorf("deepvueaudit: VerifyArchive: segment %s: %w", m.Name(), err)
		}
		if !bytes.Equal(stored, m.Note) {
			return nil, fmt.Errorf("deepvueaudit: VerifyArchive: segment %s: the stored manifest is not the trail's", m.Name())
		}
		data, err := store.Read(ctx, name+".rows")
		if err != nil {
			return nil, fmt.Errorf("deepvueaudit: VerifyArchive: segment %s: %w", m.Name(), err)
		}
		seg, err := VerifySegment(m.Note, data, l.ck.r.verifier)
		if err != nil {
			return nil, err
		}
		switch {
		case prev == nil && m.First != 1:
			return nil, fmt.Errorf("deepvueaudit: VerifyArchive: the first segment starts at row %d, not 1", m.First)
		case prev != nil && m.First != prev.Last+1:
			return nil, fmt.Errorf("deepvueaudit: VerifyArchive: segment %s does not follow %s", m.Name(), prev.Name())
		case prev != nil && (&frontier{size: m.First - 1, hashes: m.Start}).root() != prev.Tree:
			return nil, fmt.Errorf("deepvueaudit: VerifyArchive: segment %s does not start from the tree segment %s signed", m.Name(), prev.Name())
		}
		prev = m
		rep.Segments++
		rep.Rows += int64(len(seg.Rows))
	}
	if prev.Last != h.anchor || !h.anchorFrontierOK || h.anchorFrontier.root() != prev.Tree {
		return nil, &ChainError{Seq: h.anchor, Kind: AnchorMoved, Reason: fmt.Sprintf(
			"the anchor (row %d) is not where the last archived segment ends (row %d) with its tree hash", h.anchor, prev.Last)}
	}
	rep.Unreferenced, err = l.unreferenced(ctx, store, names)
	return rep, err
}

// unreferenced lists the tenant's files in store not in names.
func (l *Log) unreferenced(ctx context.Context, store ArchiveStore, names map[string]bool) ([]string, error) {
	list, err := store.List(ctx, l.archivePrefix())
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("deepvueaudit: VerifyArchive: listing the store: %w", err)
	}
	var out []string
	for _, n := range list {
		if (strings.HasSuffix(n, ".rows") || strings.HasSuffix(n, ".manifest")) && !names[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

// manifestRows returns the trail's archive rows (every manifest), by seq,
// each checked against its stored hash.
func (l *Log) manifestRows(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) ([]*Row, error) {
	rs, err := q.QueryContext(ctx, `SELECT `+columns+` FROM "`+l.name+`" WHERE tenant = $1 AND stage = 'archive' ORDER BY seq`, l.tenant)
	if err != nil {
		return nil, fmt.Errorf("deepvueaudit: reading the manifests: %w", err)
	}
	defer rs.Close()
	var out []*Row
	for rs.Next() {
		r, err := scanRow(rs)
		if err != nil {
			return nil, fmt.Errorf("deepvueaudit: reading the manifests: %w", err)
		}
		if sl, ok := r.storedLeaf(); !ok || sl != r.leafHash() {
			return nil, &ChainError{Seq: r.Seq, CallID: shownCallID(r.CallID), Kind: Changed, Reason: "its content no longer matches the hash stored when it was appended"}
		}
		out = append(out, r)
	}
	return out, rs.Err()
}

// proveRows checks each row's inclusion in cp's tree, reading the hashes
// of all the proofs at once.
func proveRows(cp *Checkpoint, hr tlog.HashReader, rows []*Row) error {
	proofs, err := proveAll(cp.Size, rows, hr)
	if err != nil {
		return fmt.Errorf("deepvueaudit: proving rows: %w", err)
	}
	for i, r := range rows {
		if err := tlog.CheckRecord(proofs[i], cp.Size, cp.Root, r.Seq-1, r.leafHash()); err != nil {
			return &ChainError{Seq: r.Seq, CallID: shownCallID(r.CallID), Kind: Changed, Reason: "it is not the row the checkpoint of size " +
				strconv.FormatInt(cp.Size, 10) + " signed"}
		}
	}
	return nil
}

// proveAll returns the inclusion proofs of rows in the tree of size size,
// reading the hashes they need with one ReadHashes.
func proveAll(size int64, rows []*Row, hr tlog.HashReader) ([]tlog.RecordProof, error) {
	rec := &recordingReader{}
	for _, r := range rows {
		if _, err := tlog.ProveRecord(size, r.Seq-1, rec); err != nil {
			return nil, err
		}
	}
	hs, err := hr.ReadHashes(rec.indexes)
	if err != nil {
		return nil, err
	}
	m := make(mapReader, len(hs))
	for i, idx := range rec.indexes {
		m[idx] = hs[i]
	}
	out := make([]tlog.RecordProof, len(rows))
	for i, r := range rows {
		if out[i], err = tlog.ProveRecord(size, r.Seq-1, m); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// recordingReader records the stored hash indexes asked of it (and
// answers zero hashes).
type recordingReader struct {
	indexes []int64
	seen    map[int64]bool
}

func (r *recordingReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	if r.seen == nil {
		r.seen = map[int64]bool{}
	}
	for _, i := range indexes {
		if !r.seen[i] {
			r.seen[i] = true
			r.indexes = append(r.indexes, i)
		}
	}
	return make([]tlog.Hash, len(indexes)), nil
}

// mapReader answers stored hashes from a map.
type mapReader map[int64]tlog.Hash

func (m mapReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		h, ok := m[idx]
		if !ok {
			return nil, fmt.Errorf("stored hash %d not read", idx)
		}
		out[i] = h
	}
	return out, nil
}
