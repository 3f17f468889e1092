package oracle

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestDigitOraclesReadEveryScript: the oracles the leak tests and fuzz
// targets judge by read each digit script and escape they generate, so a
// broken oracle cannot pass every leak test by seeing nothing.
func TestDigitOraclesReadEveryScript(t *testing.T) {
	for _, zero := range Scripts {
		var s strings.Builder
		for _, d := range "234123412346" {
			s.WriteRune(zero + d - '0')
			s.WriteString(" - ")
		}
		assert.Equal(t, "234123412346", ScriptDigits(s.String()), "script %U", zero)
		assert.Equal(t, "234123412346", ReadDigits(s.String()), "script %U", zero)
	}
	assert.Equal(t, "2341", ReadDigits(`2\u0033\x34¹`))
	assert.Equal(t, "12", ReadDigits("①②"))
}
