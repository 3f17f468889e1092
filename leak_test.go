package deepvue

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind (a
// blocked call, a connection never closed, a timer never stopped).
// Started with DEEPVUE_BENCH_SERVE set, the binary is the benchmarks'
// out-of-process server instead.
func TestMain(m *testing.M) {
	if os.Getenv(benchServeEnv) != "" {
		serveBench()
		return
	}
	goleak.VerifyTestMain(m)
}
