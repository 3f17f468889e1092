package deepvueaudit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math/bits"
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
