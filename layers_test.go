package deepvue

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// floors is how the package's files stand, bottom first: a file uses only
// what is declared on its own floor or below. The exceptions are the two
// records every step works on, the Client and the call, which the top floors
// declare (composing the lower floors' state) and the steps receive. Below
// every floor stand the internal packages (the scrubber, internal/redact;
// the Aadhaar rules, internal/uid; ...): the compiler keeps them there, as
// none of them can import this package.
var floors = [][]string{
	{"format.go", "decode.go", "retryafter.go", "idleconn.go"},                                // text, wire
	{"read.go", "hashkey.go"},                                                                 // a bounded answer, keyed hashes
	{"action.go", "errors.go", "apierror.go", "transporterr.go", "outcome.go", "otpstate.go"}, // what an answer means
	{"input.go", "kyc.go", "verify_decode.go", "consent.go", "personal.go", "nextstep.go"},    // input rules, results, the advice
	{"observe.go", "audit.go", "ratelimit.go", "request.go", "misuse.go", "deadline.go"},      // the steps around the send, their timer
	{"guard.go", "retry.go"}, // each attempt
	{"transport.go", "options.go", "singleattempt.go", "pending.go"}, // what a Client is made of
	{"tenant.go", "flight.go"},                                       // the tenant label, double submits
	{"client.go", "consent_client.go"},                               // the Client
	{"call.go"},                                                      // the story of a call
	{"aadhaar.go", "verify.go"},                                      // the two operations
	{"deprecated.go"},                                                // names kept for one release
}

// records may be used from any floor.
var records = map[string]bool{"Client": true, "call": true}

// TestLayers holds the package to its floors: no file reaches up for a
// top-level name (function, type, variable or constant) declared on a
// higher floor. Methods and fields are not checked here (that needs type
// information); the floors keep the helpers where a reader looks for them.
func TestLayers(t *testing.T) {
	floorOf := map[string]int{}
	for i, fl := range floors {
		for _, f := range fl {
			floorOf[f] = i
		}
	}
	paths, err := filepath.Glob("*.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	declared := map[string]string{} // top-level name -> file
	files := map[string]*ast.File{}
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		src, err := os.ReadFile(p)
		require.NoError(t, err)
		f, err := parser.ParseFile(fset, p, src, 0)
		require.NoError(t, err)
		files[p] = f
		_, ok := floorOf[p]
		assert.True(t, ok, "%s stands on no floor: add it to floors", p)
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					declared[d.Name.Name] = p
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						declared[s.Name.Name] = p
					case *ast.ValueSpec:
						for _, n := range s.Names {
							declared[n.Name] = p
						}
					}
				}
			}
		}
	}
	var up []string
	for p, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				// n.Sel is a method, a field or a package member: not checked.
				ast.Walk(identVisitor(func(id *ast.Ident) { up = check(up, p, id, declared, floorOf) }), n.X)
				return false
			case *ast.Ident:
				up = check(up, p, n, declared, floorOf)
			}
			return true
		})
	}
	sort.Strings(up)
	assert.Empty(t, up, "references that reach up a floor (move the helper down, or the file up)")
}

func check(up []string, file string, id *ast.Ident, declared map[string]string, floorOf map[string]int) []string {
	if id.Obj != nil && id.Obj.Kind != ast.Bad { // resolved within its own file (a local or a same-file name)
		return up
	}
	decl, ok := declared[id.Name]
	if !ok || decl == file || records[id.Name] {
		return up
	}
	if floorOf[decl] > floorOf[file] {
		return append(up, file+" -> "+decl+": "+id.Name)
	}
	return up
}

type identVisitor func(*ast.Ident)

func (v identVisitor) Visit(n ast.Node) ast.Visitor {
	switch n := n.(type) {
	case *ast.SelectorExpr:
		ast.Walk(v, n.X)
		return nil
	case *ast.Ident:
		v(n)
	}
	return v
}
