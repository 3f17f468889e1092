package uid

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind (a
// blocked call, a connection never closed, a timer never stopped).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
