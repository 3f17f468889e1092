package deepvueaudit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math/bits"
	mrand "math/rand/v2"
	"strings"
	"testing"

	"github.com/deepvue-go/deepvue/deepvueaudit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestProofVerifiesOffline: a call's bundle holds its two rows exactly as
// the trail does, each with an inclusion proof of at most log2(size)+1
// hashes, and the signed checkpoint; it verifies with the public key alone,
// and not with another key. A call after the latest checkpoint gets one.
func TestProofVerifiesOffline(t *testing.T) {
	pg := postgres(t)
	tr := newTrail(t, pg)
	ctx := context.Background()
	var calls []string
	for i := 0; i < 25; i++ {
		calls = append(calls, tr.call(t))
	}
	cp, err := tr.Checkpoint(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(50), cp.Size)
	b, err := tr.Proof(ctx, calls[7])
	require.NoError(t, err)
	got, err := deepvueaudit.VerifyProof(b, tr.verifier)
	require.NoError(t, err)
	assert.Equal(t, calls[7], got.CallID)
	assert.Equal(t, cp.Size, got.Checkpoint.Size)
	assert.Equal(t, cp.Root, got.Checkpoint.Root)
	require.Len(t, got.Rows, 2)
	assert.Equal(t, []int64{15, 16}, []int64{got.Rows[0].Seq, got.Rows[1].Seq})
	assert.Equal(t, "consent", got.Rows[0].Stage)
	assert.Equal(t, "outcome", got.Rows[1].Stage)
	assert.Equal(t, "aadhaar-ekyc", got.Rows[0].Evidence.NoticeID)
	assert.True(t, got.Rows[1].Evidence.AlternativesOffered)
	var bd struct {
		Rows []struct {
			Proof string `json:"proof"`
		} `json:"rows"`
	}
	require.NoError(t, json.Unmarshal(b, &bd))
	for _, r := range bd.Rows {
		// base64 of 32-byte hashes: at most ceil(log2(50)) = 6 of them.
		assert.LessOrEqual(t, len(r.Proof), (bits.Len64(uint64(cp.Size))*32+2)/3*4)
	}

	_, other := testKey(t)
	_, err = deepvueaudit.VerifyProof(b, other)
	assert.Error(t, err, "another key")

	// A call not yet in a checkpoint: Proof signs one.
	late := tr.call(t)
	b2, err := tr.Proof(ctx, late)
	require.NoError(t, err)
	got2, err := deepvueaudit.VerifyProof(b2, tr.verifier)
	require.NoError(t, err)
	assert.Equal(t, int64(52), got2.Checkpoint.Size)

	_, err = tr.Proof(ctx, strings.Repeat("0", 32))
	assert.ErrorIs(t, err, deepvueaudit.ErrNoSuchCall)
	// Without checkpoints there is nothing to prove against.
	_, err = newLog(t, tr.db, tr.table).Proof(ctx, calls[0])
	assert.ErrorIs(t, err, deepvueaudit.ErrNoCheckpoints)
}

// TestBundleFailsAfterAnyByteChanges: changing any one byte of a bundle,
// or cutting it short, makes VerifyProof
// fail: the rows and times are hashed, the proofs checked, the checkpoint
// signed, and every other spelling of the same JSON (spaces, escapes, key
// case, base64 padding bits) refused as not canonical.
func TestBundleFailsAfterAnyByteChanges(t *testing.T) {
	pg := postgres(t)
	tr := newTrail(t, pg)
	ctx := context.Background()
	var id string
	for i := 0; i < 6; i++ {
		id = tr.call(t)
	}
	b, err := tr.Proof(ctx, id)
	require.NoError(t, err)
	_, err = deepvueaudit.VerifyProof(b, tr.verifier)
	require.NoError(t, err)
	passed := 0
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 0x01 // a digit to another, a letter to another, '"' to '#'...
		if _, err := deepvueaudit.VerifyProof(c, tr.verifier); err == nil {
			passed++
			t.Errorf("byte %d (%q -> %q) changed, and the bundle still verifies", i, b[i], c[i])
		}
	}
	for _, n := range []int{0, 1, len(b) / 2, len(b) - 1} {
		_, err := deepvueaudit.VerifyProof(b[:n], tr.verifier)
		assert.Error(t, err)
	}
	// The same content spelled otherwise.
	for _, alt := range [][]byte{
		append(bytes.Clone(b), '\n'),
		bytes.Replace(b, []byte(`{"format":`), []byte(`{ "format":`), 1),
		bytes.Replace(b, []byte(`"format"`), []byte(`"Format"`), 1),
		bytes.Replace(b, []byte(`"purpose":"K`), []byte(`"purpose":"\u004b`), 1),
	} {
		require.NotEqual(t, b, alt)
		_, err := deepvueaudit.VerifyProof(alt, tr.verifier)
		assert.Error(t, err, "%s", alt[:40])
	}
	assert.Zero(t, passed)
	t.Logf("%d bytes, each changed: all refused", len(b))
}

// TestVerifyProofRandomMutations: 3,000 random edits of a valid bundle (a
// byte changed, inserted or deleted, two bytes swapped, a span duplicated),
// none of which verifies. (It found that a time spelled "T3:04:05" or with
// nanoseconds verified; 900,000 edits with other seeds found nothing more. A
// randomized test rather than a fuzz target: the fuzzing build of this
// module, pgx and all, would cost CI half a minute.)
func TestVerifyProofRandomMutations(t *testing.T) {
	signer, verifier := testKey(t)
	valid, err := deepvueaudit.MemoryBundle(signer, 10, 2)
	require.NoError(t, err)
	_, err = deepvueaudit.VerifyProof(valid, verifier)
	require.NoError(t, err)
	rng := mrand.New(mrand.NewPCG(22, 1))
	for i := 0; i < 3000; i++ {
		b := bytes.Clone(valid)
		p := rng.IntN(len(b))
		switch rng.IntN(5) {
		case 0:
			b[p] = byte(rng.IntN(256))
		case 1:
			b = append(b[:p], append([]byte{byte(rng.IntN(256))}, b[p:]...)...)
		case 2:
			b = append(b[:p], b[p+1:]...)
		case 3:
			q := rng.IntN(len(b))
			b[p], b[q] = b[q], b[p]
		case 4:
			q := min(len(b), p+1+rng.IntN(16))
			b = append(b[:q], append(bytes.Clone(b[p:q]), b[q:]...)...)
		}
		if _, err := deepvueaudit.VerifyProof(b, verifier); err == nil && !bytes.Equal(b, valid) {
			d := 0
			for d < len(b) && d < len(valid) && b[d] == valid[d] {
				d++
			}
			t.Fatalf("an edited bundle verifies (edit %d at %d): %q != %q", i, d, b[max(0, d-20):min(len(b), d+40)], valid[max(0, d-20):min(len(valid), d+40)])
		}
	}
}
