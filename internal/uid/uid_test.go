package uid

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCheckDigitAndCheck(t *testing.T) {
	for _, body := range []string{"23412341234", "23456789012", "49918123456", "99994105705"} {
		n := body + string(CheckDigit(body))
		_, r := Check(n)
		assert.Equal(t, OK, r, n)
	}
	assert.Equal(t, byte('6'), CheckDigit("23412341234"))
}

func TestReasons(t *testing.T) {
	cases := map[string]Reason{
		"234123412346": OK, "234123412347": BadChecksum, "123412341234": BadFirstDigit,
		"222222222222": Palindrome, "643343121": BadLength, "23412341234x": BadCharacter,
	}
	for in, want := range cases {
		_, r := Check(in)
		assert.Equal(t, want, r, in)
		assert.NotContains(t, r.String(), in)
	}
	assert.Equal(t, "is invalid", Reason(99).String())
}

func TestMaskNeverShowsMoreThanFour(t *testing.T) {
	assert.Equal(t, "XXXX XXXX 2346", Mask("2341-2341-2346"))
	assert.Equal(t, "XXXX XXXX XXXX", Mask("2341234123461"))
	n, _ := Compact("234123412346")
	assert.Equal(t, "2346", n.Last4())
}

// TestCompactFastPathMatchesTheFullPath: 12 ASCII digits, taken by the fast
// path, compact exactly as they do with separators around them (the full
// path), and a 12-byte input with anything else falls through to it.
func TestCompactFastPathMatchesTheFullPath(t *testing.T) {
	for _, s := range []string{"234123412346", "000000000000", "999941057058", "123456789012"} {
		fast, r1 := Compact(s)
		full, r2 := Compact(" " + s + " ")
		if fast != full || r1 != r2 || r1 != OK {
			t.Errorf("Compact(%q) = %q, %v; with spaces around it: %q, %v", s, fast, r1, full, r2)
		}
	}
	for _, s := range []string{"2341 2341 23", "23412341234a", "2341-2341-23", "२३४१२३४१२३४६"[:12]} {
		if _, r := Compact(s); r == OK {
			t.Errorf("Compact(%q) = OK, want a failure", s)
		}
	}
}
