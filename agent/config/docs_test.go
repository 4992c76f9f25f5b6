package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestDocsListEveryKey: docs/configuration.md has a table row for every
// key of every table, so a new field cannot ship undocumented.
func TestDocsListEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{Agent{}, Issuer{}, Cert{}, Watch{}, Notify{}} {
		typ := reflect.TypeOf(v)
		for key := range tagIndex(typ) {
			if !strings.Contains(string(doc), "| `"+key+"` |") {
				t.Errorf("docs/configuration.md has no row for %s key %q", typ.Name(), key)
			}
		}
	}
}
