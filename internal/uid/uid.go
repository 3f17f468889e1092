// Package uid implements the Aadhaar number rules shared by the SDK and its
// fake server: compaction, format checks, the Verhoeff check digit and masking.
//
// The rules follow python-stdnum's stdnum.in_.aadhaar exactly: spaces and
// hyphens are removed and surrounding whitespace is trimmed (compact), then
// the number must be 12 ASCII digits, must not start with 0 or 1, must not be
// a palindrome, and its last digit must be a valid Verhoeff check digit.
//
// Nothing in this package allocates for valid input, and nothing returns or
// formats the number itself.
package uid

import (
	"strings"
	"unicode/utf8"
)

// Reason says why a number is not a valid Aadhaar number. The zero value, OK,
// means the number is valid.
type Reason uint8

// The reasons, in the order python-stdnum checks them.
const (
	OK            Reason = iota
	BadCharacter         // a character other than an ASCII digit, space or hyphen
	BadLength            // not 12 digits
	BadFirstDigit        // starts with 0 or 1
	Palindrome           // reads the same both ways
	BadChecksum          // the Verhoeff check digit does not match
)

// String returns a short English description that never contains the number.
func (r Reason) String() string {
	switch r {
	case OK:
		return "valid"
	case BadCharacter:
		return "must contain only digits, spaces and hyphens"
	case BadLength:
		return "must have 12 digits"
	case BadFirstDigit:
		return "must not start with 0 or 1"
	case Palindrome:
		return "must not be a palindrome"
	case BadChecksum:
		return "has a wrong check digit (probably a typo)"
	}
	return "is invalid"
}

// Number is a compacted 12-digit Aadhaar number held as ASCII digits.
type Number [12]byte

// Last4 returns the last four digits.
func (n *Number) Last4() string { return string(n[8:]) }

// isPySpace reports whether r is whitespace for Python's str.strip(), which
// python-stdnum's compact uses. It differs from unicode.IsSpace by also
// treating the ASCII separators U+001C..U+001F as whitespace.
func isPySpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0x1c, 0x1d, 0x1e, 0x1f, 0x85, 0xa0, 0x1680,
		0x2028, 0x2029, 0x202f, 0x205f, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

// trim removes from both ends what python-stdnum's compact removes there:
// spaces, hyphens and (after those are gone) any Python whitespace.
func trim(s string) string {
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		if r != '-' && !isPySpace(r) {
			break
		}
		s = s[size:]
	}
	for len(s) > 0 {
		r, size := utf8.DecodeLastRuneInString(s)
		if r != '-' && !isPySpace(r) {
			break
		}
		s = s[:len(s)-size]
	}
	return s
}

// Compact removes spaces and hyphens and trims surrounding whitespace, then
// reports whether what is left is 12 ASCII digits. It does not check the
// first digit, palindromes or the checksum; see Check.
func Compact(s string) (n Number, r Reason) {
	if len(s) == len(n) && copyDigits(&n, s) {
		return n, OK // the common case: 12 ASCII digits, nothing to remove
	}
	n = Number{}
	if needsClean(s) {
		// Removing a space or hyphen can join the bytes around it into a
		// multi-byte whitespace rune that strip() then removes; follow
		// python-stdnum's order literally (this path allocates; it is only
		// taken for non-ASCII input).
		s = strings.NewReplacer(" ", "", "-", "").Replace(s)
	}
	s = trim(s)
	count := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '-':
			continue
		case c < '0' || c > '9':
			return n, BadCharacter
		}
		if count < len(n) {
			n[count] = c
		}
		count++
	}
	if count != len(n) {
		return n, BadLength
	}
	return n, OK
}

// copyDigits copies s into n if s is only ASCII digits.
func copyDigits(n *Number, s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return false
		}
		n[i] = c
	}
	return true
}

// needsClean reports whether s has a non-ASCII byte and a space or hyphen.
func needsClean(s string) bool {
	nonASCII, sep := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 0x80:
			nonASCII = true
		case c == ' ' || c == '-':
			sep = true
		}
	}
	return nonASCII && sep
}

// Check compacts s and applies every rule. It returns the bare 12 digits and
// OK, or the first rule that failed.
func Check(s string) (Number, Reason) {
	n, r := Compact(s)
	if r != OK {
		return n, r
	}
	return n, n.Valid()
}

// Valid applies the rules that follow compaction to n, which holds 12
// ASCII digits: the first digit, palindromes, the check digit. It returns
// OK or the first rule that failed.
func (n *Number) Valid() Reason {
	switch {
	case n[0] < '2':
		return BadFirstDigit
	case isPalindrome(n):
		return Palindrome
	case !verhoeffValid(n[:]):
		return BadChecksum
	}
	return OK
}

func isPalindrome(n *Number) bool {
	for i, j := 0, len(n)-1; i < j; i, j = i+1, j-1 {
		if n[i] != n[j] {
			return false
		}
	}
	return true
}

// Verhoeff tables: multiplication in the dihedral group D5 and the position
// permutation.
var (
	verhoeffD = [10][10]byte{
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
		{1, 2, 3, 4, 0, 6, 7, 8, 9, 5},
		{2, 3, 4, 0, 1, 7, 8, 9, 5, 6},
		{3, 4, 0, 1, 2, 8, 9, 5, 6, 7},
		{4, 0, 1, 2, 3, 9, 5, 6, 7, 8},
		{5, 9, 8, 7, 6, 0, 4, 3, 2, 1},
		{6, 5, 9, 8, 7, 1, 0, 4, 3, 2},
		{7, 6, 5, 9, 8, 2, 1, 0, 4, 3},
		{8, 7, 6, 5, 9, 3, 2, 1, 0, 4},
		{9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
	}
	verhoeffP = [8][10]byte{
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
		{1, 5, 7, 6, 2, 8, 3, 0, 9, 4},
		{5, 8, 0, 3, 7, 9, 6, 1, 4, 2},
		{8, 9, 1, 6, 0, 4, 3, 5, 2, 7},
		{9, 4, 5, 3, 1, 2, 6, 8, 7, 0},
		{4, 2, 8, 6, 5, 7, 3, 9, 0, 1},
		{2, 7, 9, 3, 8, 0, 6, 4, 1, 5},
		{7, 0, 4, 6, 9, 1, 3, 2, 5, 8},
	}
	verhoeffInv = [10]byte{0, 4, 3, 2, 1, 5, 6, 7, 8, 9}
)

func verhoeffChecksum(digits []byte) byte {
	var c byte
	for i := range digits {
		d := digits[len(digits)-1-i] - '0'
		c = verhoeffD[c][verhoeffP[i%8][d]]
	}
	return c
}

func verhoeffValid(digits []byte) bool { return verhoeffChecksum(digits) == 0 }

// CheckDigit returns the Verhoeff check digit ('0'..'9') to append to the
// ASCII digits in body.
func CheckDigit(body string) byte {
	buf := make([]byte, len(body)+1)
	copy(buf, body)
	buf[len(body)] = '0'
	return '0' + verhoeffInv[verhoeffChecksum(buf)]
}

// Mask returns "XXXX XXXX 1234" for anything that compacts to 12 digits, and
// "XXXX XXXX XXXX" for anything else, so that no digit of a malformed input is
// ever shown.
func Mask(s string) string {
	n, r := Compact(s)
	if r != OK {
		return "XXXX XXXX XXXX"
	}
	var b = [14]byte{'X', 'X', 'X', 'X', ' ', 'X', 'X', 'X', 'X', ' '}
	copy(b[10:], n[8:])
	return string(b[:])
}
