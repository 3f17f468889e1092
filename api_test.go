package deepvue

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The public API of each release is listed in testdata/api/v<version>.txt:
// one exported name a line ("NewClient", "Client.Shutdown",
// "AuditRecord.Tenant", "deepvuetest.NewServer"), marked "deprecated" when
// its doc comment says "Deprecated:". Two tests hold the release policy of
// CHANGELOG.md to it: the code's API is the listing of Version (so Version
// moves with every change of the API), and a name that one release lists
// and the next does not was marked deprecated in the first.
//
// After changing the API on purpose, with Version already the coming
// release's:
//
//	DEEPVUE_UPDATE_API=1 go test -run TestWriteAPIListing .

// apiPackages are the packages of the core module whose API is listed, by
// directory, and the prefix of their names.
var apiPackages = []struct{ dir, prefix string }{{".", ""}, {"deepvuetest", "deepvuetest."}}

// apiListing returns the exported names of the packages under root, with
// whether each is deprecated.
func apiListing(t testing.TB, root string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	deprecated := func(groups ...*ast.CommentGroup) bool {
		for _, g := range groups {
			if g != nil && strings.Contains(g.Text(), "Deprecated:") {
				return true
			}
		}
		return false
	}
	for _, p := range apiPackages {
		fset := token.NewFileSet()
		pkgs, err := parser.ParseDir(fset, filepath.Join(root, p.dir), func(fi os.FileInfo) bool {
			return !strings.HasSuffix(fi.Name(), "_test.go")
		}, parser.ParseComments)
		require.NoError(t, err)
		for name, pkg := range pkgs {
			if name == "main" {
				continue
			}
			for _, f := range pkg.Files {
				for _, d := range f.Decls {
					switch d := d.(type) {
					case *ast.FuncDecl:
						if !d.Name.IsExported() {
							continue
						}
						if d.Recv == nil {
							out[p.prefix+d.Name.Name] = deprecated(d.Doc)
						} else if r := recvName(d.Recv.List[0].Type); ast.IsExported(r) {
							out[p.prefix+r+"."+d.Name.Name] = deprecated(d.Doc)
						}
					case *ast.GenDecl:
						for _, s := range d.Specs {
							switch s := s.(type) {
							case *ast.TypeSpec:
								if !s.Name.IsExported() {
									continue
								}
								out[p.prefix+s.Name.Name] = deprecated(d.Doc, s.Doc)
								var fields []*ast.Field
								switch tt := s.Type.(type) {
								case *ast.StructType:
									fields = tt.Fields.List
								case *ast.InterfaceType:
									fields = tt.Methods.List
								}
								for _, fl := range fields {
									names := fl.Names
									if len(names) == 0 { // embedded
										names = []*ast.Ident{ast.NewIdent(recvName(fl.Type))}
									}
									for _, n := range names {
										if n.IsExported() {
											out[p.prefix+s.Name.Name+"."+n.Name] = deprecated(fl.Doc)
										}
									}
								}
							case *ast.ValueSpec:
								for _, n := range s.Names {
									if n.IsExported() {
										out[p.prefix+n.Name] = deprecated(d.Doc, s.Doc)
									}
								}
							}
						}
					}
				}
			}
		}
	}
	return out
}

func recvName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return recvName(t.X)
	case *ast.Ident:
		return t.Name
	case *ast.IndexExpr:
		return recvName(t.X)
	case *ast.SelectorExpr:
		return t.Sel.Name
	}
	return "?"
}

func formatListing(version string, api map[string]bool) string {
	names := make([]string, 0, len(api))
	for n := range api {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("# The exported API of github.com/deepvue-go/deepvue " + version + " (api_test.go)\n")
	for _, n := range names {
		b.WriteString(n)
		if api[n] {
			b.WriteString(" deprecated")
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func parseListing(t testing.TB, text string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, mark, _ := strings.Cut(line, " ")
		out[name] = mark == "deprecated"
	}
	return out
}

// TestWriteAPIListing writes testdata/api/v<Version>.txt from the code
// (or, with DEEPVUE_API_DIR and DEEPVUE_API_VERSION, from another checkout).
func TestWriteAPIListing(t *testing.T) {
	if os.Getenv("DEEPVUE_UPDATE_API") == "" {
		t.Skip("set DEEPVUE_UPDATE_API=1 to write testdata/api/v" + Version + ".txt")
	}
	dir, version := os.Getenv("DEEPVUE_API_DIR"), os.Getenv("DEEPVUE_API_VERSION")
	if dir == "" {
		dir = "."
	}
	if version == "" {
		version = Version
	}
	require.NoError(t, os.MkdirAll(filepath.Join("testdata", "api"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join("testdata", "api", "v"+version+".txt"),
		[]byte(formatListing(version, apiListing(t, dir))), 0o644))
}

// TestAPIIsTheListingOfVersion: the exported API is exactly what
// testdata/api/v<Version>.txt lists. A change of the API therefore changes
// that listing; when Version's release is out (CHANGELOG.md dates it), the
// change belongs to the next release: move Version first.
func TestAPIIsTheListingOfVersion(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "api", "v"+Version+".txt"))
	require.NoError(t, err, "no listing for Version %s: DEEPVUE_UPDATE_API=1 go test -run TestWriteAPIListing .", Version)
	want := parseListing(t, string(b))
	got := apiListing(t, ".")
	var added, gone, marks []string
	for n, dep := range got {
		if d, ok := want[n]; !ok {
			added = append(added, n)
		} else if d != dep {
			marks = append(marks, n)
		}
	}
	for n := range want {
		if _, ok := got[n]; !ok {
			gone = append(gone, n)
		}
	}
	sort.Strings(added)
	sort.Strings(gone)
	sort.Strings(marks)
	assert.True(t, len(added)+len(gone)+len(marks) == 0,
		"the API is not the listing of Version %s (added %v, gone %v, deprecation changed %v): record the change "+
			"in CHANGELOG.md under the coming release, make Version that release, then "+
			"DEEPVUE_UPDATE_API=1 go test -run TestWriteAPIListing .", Version, added, gone, marks)
}

// TestRemovedNamesWereDeprecated: between two consecutive releases listed in
// testdata/api, every name the older lists and the newer does not was
// marked deprecated in the older (the CHANGELOG's policy: a Deprecated
// release first).
func TestRemovedNamesWereDeprecated(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "api", "v*.txt"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 2)
	type release struct {
		v   [3]int
		api map[string]bool
	}
	var rs []release
	for _, f := range files {
		var r release
		parts := strings.Split(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "v"), ".txt"), ".")
		require.Len(t, parts, 3, f)
		for i, p := range parts {
			r.v[i], err = strconv.Atoi(p)
			require.NoError(t, err, f)
		}
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		r.api = parseListing(t, string(b))
		rs = append(rs, r)
	}
	sort.Slice(rs, func(i, j int) bool {
		a, b := rs[i].v, rs[j].v
		return a[0] < b[0] || a[0] == b[0] && (a[1] < b[1] || a[1] == b[1] && a[2] < b[2])
	})
	for i := 1; i < len(rs); i++ {
		older, newer := rs[i-1], rs[i]
		for name, dep := range older.api {
			if _, ok := newer.api[name]; !ok {
				assert.True(t, dep, "%s is gone in %v, but %v did not mark it deprecated", name, newer.v, older.v)
			}
		}
	}
}
