package deepvue

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain makes the test CA a system root (see testPKI), runs the tests,
// and fails the package if any test left a goroutine behind (a blocked
// call, a connection never closed, a timer never stopped). Started with
// DEEPVUE_BENCH_SERVE set, the binary is the benchmarks' out-of-process
// server instead.
func TestMain(m *testing.M) {
	if os.Getenv(benchServeEnv) != "" {
		serveBench()
		return
	}
	cleanup := setupPKI()
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: goroutines left behind by the tests: " + err.Error() + "\n")
			code = 1
		}
	}
	cleanup()
	os.Exit(code)
}
