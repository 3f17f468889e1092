package deepvue

import (
	"crypto/sha256"
	"encoding"
	"hash"
	"sync"
)

// keyedHash is HMAC-SHA256 (RFC 2104) under a secret key: what the SDK keys
// the PendingStore by, instead of an Aadhaar number. Without the key, a hash
// says nothing of the number (12 digits are few enough to try them all
// against a plain hash); with it, the same number gives the same hash, in
// every replica that shares the key.
//
// The two blocks of the key (its inner and outer pads) are hashed once, in
// newKeyedHash, and their SHA-256 states kept: a message that fits a block
// with its padding then costs two compressions instead of four, as crypto/hmac
// does with its marshalled states. The digests come from a pool (no
// allocation per sum).
type keyedHash struct {
	inner, outer []byte // SHA-256 states after the inner and outer pads (MarshalBinary)
	pool         sync.Pool
}

// hmacScratch is a pooled digest, the bytes its sums are written into, and
// a buffer the message is copied through (a slice handed to the digest's
// Write, an interface method, would escape: the caller's stack buffer with
// it).
type hmacScratch struct {
	d   hash.Hash
	sum [sha256.Size]byte
	buf [256]byte
}

// newKeyedHash returns the HMAC-SHA256 of key (a key longer than a block is
// hashed first, as RFC 2104 says).
func newKeyedHash(key []byte) *keyedHash {
	if len(key) > sha256.BlockSize {
		k := sha256.Sum256(key)
		key = k[:]
	}
	var ipad, opad [sha256.BlockSize]byte
	copy(ipad[:], key)
	copy(opad[:], key)
	for i := range ipad {
		ipad[i] ^= 0x36
		opad[i] ^= 0x5c
	}
	state := func(pad []byte) []byte {
		d := sha256.New()
		d.Write(pad)
		b, err := d.(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			panic("deepvue: sha256 cannot marshal its state: " + err.Error()) // never: crypto/sha256 can
		}
		return b
	}
	h := &keyedHash{inner: state(ipad[:]), outer: state(opad[:])}
	h.pool.New = func() any { return &hmacScratch{d: sha256.New()} }
	return h
}

// sum returns HMAC-SHA256(key, msg).
func (h *keyedHash) sum(msg []byte) [sha256.Size]byte {
	s := h.pool.Get().(*hmacScratch)
	u := s.d.(encoding.BinaryUnmarshaler)
	_ = u.UnmarshalBinary(h.inner) // a state MarshalBinary made: never fails
	for len(msg) > 0 {
		n := copy(s.buf[:], msg)
		s.d.Write(s.buf[:n])
		msg = msg[n:]
	}
	inner := s.d.Sum(s.sum[:0])
	_ = u.UnmarshalBinary(h.outer)
	s.d.Write(inner)
	out := [sha256.Size]byte(s.d.Sum(s.sum[:0]))
	h.pool.Put(s)
	return out
}
