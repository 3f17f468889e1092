package deepvue

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSubmodulesRequireThisVersion: every module of the repository
// requires the core (and each other) at Version, the version they build
// against: each replaces the core with this tree (../), so a requirement of
// another version would claim a core they were never built with. .ci/run
// builds each module with GOWORK=off, through those replace lines.
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
