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
	a, err := randomKeyedHash()
	assert.NoError(t, err)
	b, err := randomKeyedHash()
	assert.NoError(t, err)
	assert.NotEqual(t, a.sum([]byte(validNumber)), b.sum([]byte(validNumber)), "random keys")
}
