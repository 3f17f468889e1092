package deepvueaudit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/deepvue-go/deepvue"
	"golang.org/x/mod/sumdb/tlog"
)

// The trail as a Merkle tree, kept as the Go checksum database keeps its
// log (golang.org/x/mod/sumdb/tlog, RFC 6962): row seq is leaf seq-1, its
// record hash tlog.RecordHash(row.leaf()); appending it completes the
// stored hashes tlog.StoredHashesForRecordHash names (the leaf's, then one
// more for each subtree it completes), which the row keeps in its hashes
// column. Tree hashes, inclusion proofs (tlog.ProveRecord) and consistency
// proofs (tlog.ProveTree) are read from them.

// Row is one row of the trail, as Proof's bundle and VerifyProof give it.
type Row struct {
	// Tenant is the trail's tenant ("" for a trail of one tenant).
	Tenant string
	// Seq is the row's place in the trail (1, 2, 3...): leaf Seq-1 of
	// the tree.
	Seq int64
	// The fields of the deepvue.AuditRecord it keeps.
	CallID, Stage               string
	RecordedAt                  time.Time // the record's Time (the SDK's clock)
	DBTime                      time.Time // when the database appended it (the database's clock)
	Operation, Purpose, Consent string
	MaskedNumber                string
	ReferenceID, TransactionID  string
	Outcome, OTPState           string
	Attempts                    int64
	Evidence                    deepvue.ConsentEvidence
	// Detail is a hold's or a release's reason, or an archive row's signed
	// manifest ("" in a call's rows).
	Detail string
	hashes []byte // the stored hashes this row completed, leaf hash first
}

// recordFormat starts every leaf's data: a change of layout changes it. A
// row with a Detail (a hold, a release, a manifest) is of layout v2: v1's
// fields, then the detail; a call's row (no Detail) keeps layout v1, so
// the rows of a 0.4.0 trail verify unchanged.
const (
	recordFormat   = "deepvueaudit record v1\n"
	recordFormatV2 = "deepvueaudit record v2\n"
)

// leaf returns the row's record: the data its leaf hash is taken over.
// Every field but Seq (the leaf's index, which the proofs bind) is in it,
// each length-prefixed (strings) or fixed-size (numbers, times in
// microseconds since 1970).
func (r *Row) leaf() []byte {
	b := make([]byte, 0, 512)
	if r.Detail == "" {
		b = append(b, recordFormat...)
	} else {
		b = append(b, recordFormatV2...)
	}
	str := func(s string) {
		b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
		b = append(b, s...)
	}
	num := func(n int64) { b = binary.BigEndian.AppendUint64(b, uint64(n)) }
	tm := func(t time.Time) {
		if t.IsZero() {
			b = append(b, 0)
			return
		}
		b = append(b, 1)
		num(t.UnixMicro())
	}
	str(r.Tenant)
	str(r.CallID)
	str(r.Stage)
	tm(r.RecordedAt)
	tm(r.DBTime)
	for _, s := range []string{r.Operation, r.Purpose, r.Consent, r.MaskedNumber, r.ReferenceID, r.TransactionID, r.Outcome, r.OTPState} {
		str(s)
	}
	num(r.Attempts)
	e := &r.Evidence
	for _, s := range []string{e.NoticeID, e.NoticeVersion, e.NoticeSHA256, e.Language, e.Channel} {
		str(s)
	}
	if e.AlternativesOffered {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	tm(e.DecidedAt)
	str(e.Operator)
	str(e.CustomerRef)
	if r.Detail != "" {
		str(r.Detail)
	}
	return b
}

// leafHash is the row's record hash.
func (r *Row) leafHash() tlog.Hash { return tlog.RecordHash(r.leaf()) }

// storedLeaf returns the leaf hash the row stores (its hashes' first).
func (r *Row) storedLeaf() (tlog.Hash, bool) {
	var h tlog.Hash
	if len(r.hashes) < tlog.HashSize {
		return h, false
	}
	copy(h[:], r.hashes)
	return h, true
}

// frontier is the right edge of a tree of size leaves: the hashes of its
// complete subtrees, largest (leftmost) first, one for each bit set in
// size. It is all an append needs: the head keeps it, so an append reads
// no earlier row.
type frontier struct {
	size   int64
	hashes []tlog.Hash
}

// emptyRoot is the tree hash of the empty tree.
var emptyRoot, _ = tlog.TreeHash(0, nil)

// root returns the tree hash, as tlog.TreeHash computes it.
func (f *frontier) root() tlog.Hash {
	if len(f.hashes) == 0 {
		return emptyRoot
	}
	h := f.hashes[len(f.hashes)-1]
	for i := len(f.hashes) - 2; i >= 0; i-- {
		h = tlog.NodeHash(f.hashes[i], h)
	}
	return h
}

// append adds leaf n = f.size and returns the stored hashes it completes,
// in tlog.StoredHashesForRecordHash's order (the leaf hash first).
func (f *frontier) append(leaf tlog.Hash) []tlog.Hash {
	stored := []tlog.Hash{leaf}
	h := leaf
	for n := f.size; n&1 == 1; n >>= 1 {
		left := f.hashes[len(f.hashes)-1]
		f.hashes = f.hashes[:len(f.hashes)-1]
		h = tlog.NodeHash(left, h)
		stored = append(stored, h)
	}
	f.hashes = append(f.hashes, h)
	f.size++
	return stored
}

func (f *frontier) clone() frontier {
	return frontier{size: f.size, hashes: append([]tlog.Hash(nil), f.hashes...)}
}

// bytes encodes the hashes (the size is kept beside them).
func (f *frontier) bytes() []byte {
	b := make([]byte, 0, len(f.hashes)*tlog.HashSize)
	for _, h := range f.hashes {
		b = append(b, h[:]...)
	}
	return b
}

// decodeFrontier decodes the hashes of a tree of size leaves.
func decodeFrontier(size int64, b []byte) (frontier, error) {
	want := 0
	for n := size; n > 0; n &= n - 1 {
		want++
	}
	if size < 0 || len(b) != want*tlog.HashSize {
		return frontier{}, errors.New("malformed frontier")
	}
	f := frontier{size: size, hashes: make([]tlog.Hash, want)}
	for i := range f.hashes {
		copy(f.hashes[i][:], b[i*tlog.HashSize:])
	}
	return f, nil
}

// frontierIndexes returns the stored hash indexes of the frontier of a
// tree of size n, largest subtree first, and the seq of the row that stores
// each (the subtree's last leaf).
func frontierIndexes(n int64) (indexes, seqs []int64) {
	for level := 62; level >= 0; level-- {
		if n&(1<<level) == 0 {
			continue
		}
		k := n>>level - 1 // the subtree's index at its level
		indexes = append(indexes, tlog.StoredHashIndex(level, k))
		seqs = append(seqs, (k+1)<<level)
	}
	return indexes, seqs
}

// storedAt returns, for a stored hash index, the seq of the row that keeps
// it and its position in the row's hashes.
func storedAt(index int64) (seq int64, pos int) {
	level, n := tlog.SplitStoredHashIndex(index)
	return (n + 1) << level, level
}

// hashAt returns the hash at position pos of a row's hashes.
func hashAt(hashes []byte, pos int) (tlog.Hash, error) {
	var h tlog.Hash
	if len(hashes) < (pos+1)*tlog.HashSize {
		return h, fmt.Errorf("a row keeps %d stored hashes, not %d", len(hashes)/tlog.HashSize, pos+1)
	}
	copy(h[:], hashes[pos*tlog.HashSize:])
	return h, nil
}
