//go:build race

package deepvue

// raceEnabled reports whether the tests run under the race detector.
const raceEnabled = true
