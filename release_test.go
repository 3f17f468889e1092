package deepvue

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSubmodulesRequireThisVersion: every module of the repository
// requires the core (and each other) at Version, the version they build
// against: each replaces the core with this tree (../), so a requirement of
// another version would claim a core they were never built with. .ci/run
// builds the library modules with GOWORK=off, through those replace lines.
func TestSubmodulesRequireThisVersion(t *testing.T) {
	req := regexp.MustCompile(`(?m)^\s*(?:require\s+)?(github\.com/deepvue-go/deepvue(?:/\w+)?)\s+(v\S+)`)
	repl := regexp.MustCompile(`(?m)^\s*(?:replace\s+)?github\.com/deepvue-go/deepvue\s+=>\s+\.\./?\s*$`)
	mods, err := filepath.Glob("*/go.mod")
	require.NoError(t, err)
	require.Len(t, mods, 4, "deepvueaudit, deepvueotel, examples, redislimit")
	for _, mod := range mods {
		b, err := os.ReadFile(mod)
		require.NoError(t, err)
		ms := req.FindAllStringSubmatch(string(b), -1)
		require.NotEmpty(t, ms, "%s requires the core", mod)
		for _, m := range ms {
			assert.Equal(t, "v"+Version, m[2], "%s requires %s %s, but builds against %s", mod, m[1], m[2], Version)
		}
		assert.Regexp(t, repl, string(b), "%s builds against this tree", mod)
	}
}

// TestReadmeTestTimeIsTheMeasuredOne: the README's claim of how long its
// test command takes is the figure BENCHMARKS.md records with its
// measurement ("The test suite's time"), rounded: re-measure and change
// both together.
func TestReadmeTestTimeIsTheMeasuredOne(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	bench, err := os.ReadFile("BENCHMARKS.md")
	require.NoError(t, err)
	claim := regexp.MustCompile(`# about (\d+) s built; -short: (\d+) s`).FindStringSubmatch(string(readme))
	require.NotNil(t, claim, "README.md's Development block says how long the tests take")
	measured := regexp.MustCompile(`takes about (\d+) s once built: measured ([\d.]+) s wall`).FindStringSubmatch(string(bench))
	require.NotNil(t, measured, "BENCHMARKS.md records the measurement")
	short := regexp.MustCompile("With `-short`[^:]*: ([\\d.]+) s").FindStringSubmatch(string(bench))
	require.NotNil(t, short)
	atof := func(s string) float64 { f, err := strconv.ParseFloat(s, 64); require.NoError(t, err); return f }
	assert.Equal(t, claim[1], measured[1], "README and BENCHMARKS.md give the same figure")
	assert.InEpsilon(t, atof(measured[2]), atof(claim[1]), 0.1, "the claim is the measurement, rounded")
	assert.InEpsilon(t, atof(short[1]), atof(claim[2]), 0.1, "the -short claim is the measurement, rounded")
}
