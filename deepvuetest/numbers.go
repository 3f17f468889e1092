package deepvuetest

import (
	"crypto/rand"
	"math/big"
	"sync"

	"github.com/deepvue-go/deepvue/internal/uid"
)

var issued = struct {
	sync.Mutex
	seen map[string]bool
}{seen: map[string]bool{}}

// NewNumber returns a fresh valid Aadhaar number (12 digits, first digit 2
// to 8, not a palindrome, Verhoeff check digit): a synthetic test value that
// the fake answers with success, distinct from every magic number (none
// starts with 9) and from every number NewNumber returned before in this
// process. Each call of a test can use its own, so the pending window (409
// VERIFICATION_PENDING for a second OTP within 45 s) never links two tests.
// It is safe for concurrent use.
func NewNumber() string {
	issued.Lock()
	defer issued.Unlock()
	for {
		n := randomNumber()
		if !issued.seen[n] && !isMagic(n) {
			issued.seen[n] = true
			return n
		}
	}
}

// randomNumber draws 11 digits, the first 2 to 8, and appends the check digit.
func randomNumber() string {
	var b [12]byte
	b[0] = '2' + byte(randInt(7))
	for i := 1; i < 11; i++ {
		b[i] = '0' + byte(randInt(10))
	}
	b[11] = uid.CheckDigit(string(b[:11]))
	if _, r := uid.Check(string(b[:])); r != uid.OK {
		return "" // a palindrome: NewNumber draws again
	}
	return string(b[:])
}

func randInt(n int64) int64 {
	v, err := rand.Int(rand.Reader, big.NewInt(n))
	if err != nil {
		panic("deepvuetest: crypto/rand failed: " + err.Error())
	}
	return v.Int64()
}

func isMagic(n string) bool {
	switch n {
	case "", NumberSuccess, NumberNotLinked, NumberInvalidUID, NumberSourceFailure, NumberSourceFailureOnce,
		NumberRateLimited, NumberUnavailable:
		return true
	}
	return false
}
