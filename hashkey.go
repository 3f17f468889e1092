package deepvue

import (
	"crypto/rand"
	"crypto/sha256"
)

// keyedHash is HMAC-SHA256 (RFC 2104) under a secret key: what the SDK keys
// its maps and the PendingStore by, instead of an Aadhaar number or an OTP.
// Without the key, a hash says nothing of the number (12 digits are few
// enough to try them all against a plain hash); with it, the same number
// gives the same hash, in every replica that shares the key. It computes
// with sha256.Sum256 over a stack buffer: no allocation for a message of up
// to 768 bytes.
type keyedHash struct {
	ipad, opad [sha256.BlockSize]byte
}

// newKeyedHash returns the HMAC-SHA256 of key (a key longer than a block is
// hashed first, as RFC 2104 says).
func newKeyedHash(key []byte) *keyedHash {
	if len(key) > sha256.BlockSize {
		k := sha256.Sum256(key)
		key = k[:]
	}
	h := &keyedHash{}
	copy(h.ipad[:], key)
	copy(h.opad[:], key)
	for i := range h.ipad {
		h.ipad[i] ^= 0x36
		h.opad[i] ^= 0x5c
	}
	return h
}

// randomKeyedHash returns a keyedHash under 32 random bytes, known to this
// process only.
func randomKeyedHash() (*keyedHash, error) {
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, err
	}
	return newKeyedHash(key[:]), nil
}

// sum returns HMAC-SHA256(key, msg).
func (h *keyedHash) sum(msg []byte) [sha256.Size]byte {
	var buf [sha256.BlockSize + 768]byte
	inner := sha256.Sum256(append(append(buf[:0], h.ipad[:]...), msg...))
	var outer [sha256.BlockSize + sha256.Size]byte
	copy(outer[:], h.opad[:])
	copy(outer[sha256.BlockSize:], inner[:])
	return sha256.Sum256(outer[:])
}
