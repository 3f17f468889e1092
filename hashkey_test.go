package deepvue

import (
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestKeyedHashIsHMACSHA256: keyedHash agrees with crypto/hmac for keys
// shorter than, as long as and longer than a block, and for messages that
// fit its stack buffer and that do not.
func TestKeyedHashIsHMACSHA256(t *testing.T) {
	for _, key := range []string{"k", strings.Repeat("k", 32), strings.Repeat("k", 64), strings.Repeat("k", 100)} {
		for _, msg := range []string{"", "generate-otp\x00234123412346\x00Y\x00KYC", strings.Repeat("m", 300)} {
			m := hmac.New(sha256.New, []byte(key))
			m.Write([]byte(msg))
			got := newKeyedHash([]byte(key)).sum([]byte(msg))
			assert.Equal(t, m.Sum(nil), got[:], "key %d bytes, message %d bytes", len(key), len(msg))
		}
	}
	a, b := newKeyedHash([]byte("one key")), newKeyedHash([]byte("another key"))
	assert.NotEqual(t, a.sum([]byte(validNumber)), b.sum([]byte(validNumber)), "keys")
}

// TestDefaultPendingKeys: the process's default store is keyed by a
// 128-bit keyed hash in hex (32 digits) of the client id and the number:
// no number in it, one key per client id and number, the same each time.
func TestDefaultPendingKeys(t *testing.T) {
	d, err := defaultPending()
	assert.NoError(t, err)
	n1, n2 := []byte(validNumber), []byte(otherNumber)
	k := d.key(testID, "", n1)
	assert.Regexp(t, `^[0-9a-f]{32}$`, k)
	assert.NotContains(t, k, validNumber)
	assert.Equal(t, k, d.key(testID, "", n1))
	assert.NotEqual(t, k, d.key(testID, "", n2))
	assert.NotEqual(t, k, d.key(testID+"2", "", n1))
}
