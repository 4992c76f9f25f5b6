package metrics

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestStatesAreTheAgentStates: the state label values are exactly the
// State* constants of package agent, read from its source, so a state
// added there cannot be missing from certagent_cert_state (where it
// would show as a series that never resets to 0), nor a label value
// published that the agent never sets.
func TestStatesAreTheAgentStates(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var agentStates []string
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		agentStates = append(agentStates, stateConsts(t, file)...)
	}
	if len(agentStates) == 0 {
		t.Fatal("found no State* constants in package agent")
	}
	got, want := slices.Sorted(slices.Values(States)), slices.Sorted(slices.Values(agentStates))
	if !slices.Equal(got, want) {
		t.Fatalf("metrics.States = %q, the agent's State* constants are %q", got, want)
	}
}

// stateConsts returns the values of the string constants named State*.
func stateConsts(t *testing.T, file *ast.File) []string {
	var out []string
	for _, decl := range file.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "State") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Fatalf("agent constant %s is not a string literal", name.Name)
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, v)
			}
		}
	}
	return out
}
