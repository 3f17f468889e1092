package deepvue

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDocsAgreeWithVersion: every User-Agent version the docs show is
// Version, the CHANGELOG dates every release and lists Version, and every
// submodule requires a core version the CHANGELOG lists.
func TestDocsAgreeWithVersion(t *testing.T) {
	ua := regexp.MustCompile(`deepvue-go/v?[0-9]+\.[0-9]+\.[0-9]+`)
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	files = append(files, "README.md", "SECURITY.md", "BENCHMARKS.md")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range ua.FindAllString(string(b), -1) {
			assert.Equal(t, "deepvue-go/"+Version, m, "%s shows a User-Agent of another version", f)
		}
	}

	b, err := os.ReadFile("CHANGELOG.md")
	require.NoError(t, err)
	changelog := string(b)
	heading := regexp.MustCompile(`(?m)^## \[([^\]]+)\](.*)$`)
	dated := regexp.MustCompile(`^ - \d{4}-\d{2}-\d{2}$`)
	released := map[string]bool{}
	for _, m := range heading.FindAllStringSubmatch(changelog, -1) {
		if m[1] == "Unreleased" {
			assert.Empty(t, m[2], "the Unreleased heading carries no date")
			continue
		}
		assert.Regexp(t, dated, m[2], "release %s has a date (## [x.y.z] - YYYY-MM-DD)", m[1])
		released[m[1]] = true
	}
	assert.True(t, released[Version], "CHANGELOG.md dates a release of Version %s", Version)

	req := regexp.MustCompile(`(?m)^\s*(?:require\s+)?github\.com/deepvue-go/deepvue(?:/\w+)?\s+v(\S+)`)
	mods, err := filepath.Glob("*/go.mod")
	require.NoError(t, err)
	require.NotEmpty(t, mods)
	for _, mod := range mods {
		b, err := os.ReadFile(mod)
		require.NoError(t, err)
		ms := req.FindAllStringSubmatch(string(b), -1)
		require.NotEmpty(t, ms, "%s requires the core", mod)
		for _, m := range ms {
			assert.True(t, released[m[1]], "%s requires %s, a version CHANGELOG.md does not list", mod, m[0])
		}
	}
}
