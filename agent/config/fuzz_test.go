package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// FuzzParse: any input either parses and validates, or yields *Errors
// whose every entry names the file and says what is wrong. Never a
// panic, never an error without a message. Seeds: testdata/fuzz/FuzzParse,
// the bad-config corpus and the full example.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/bad/*.toml")
	seeds = append(seeds, "../../examples/full.toml")
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.toml", data, testOpts)
		lines := bytes.Count(data, []byte("\n")) + 1
		if err != nil {
			var es *Errors
			if !errors.As(err, &es) || len(*es) == 0 {
				t.Fatalf("error is %T (%v), want non-empty *Errors", err, err)
			}
			if !sort.SliceIsSorted(*es, func(i, j int) bool { return (*es)[i].Line < (*es)[j].Line }) {
				t.Errorf("errors not sorted by line:\n%v", err)
			}
			for _, e := range *es {
				if e.File != "fuzz.toml" || e.Msg == "" || e.Line < 0 || e.Line > lines {
					t.Errorf("bad error %#v", e)
				}
			}
			return
		}
		for name, ct := range c.Certs {
			if ct.Name != name || ct.UID < -1 || ct.GID < -1 || len(ct.OutputFiles()) < 2 {
				t.Errorf("cert %q not resolved: %+v", name, ct)
			}
		}
		// A valid config stays valid: Defaults and Validate are idempotent.
		ApplyDefaults(c)
		if err := Validate(c, testOpts); err != nil {
			t.Errorf("valid config fails re-validation: %v", err)
		}
	})
}

// FuzzKeyLines: the position scanner terminates on any input and only
// returns lines that exist.
func FuzzKeyLines(f *testing.F) {
	f.Add([]byte("[a]\nb = '''x\n'''\nc = [\n1]\n"))
	f.Add([]byte("a.\"b.c\" = { d = 1 }\n[[x]]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := bytes.Count(data, []byte("\n")) + 1
		for k, l := range keyLines(data) {
			if l < 1 || l > n {
				t.Fatalf("key %q at line %d of %d", k, l, n)
			}
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30d", "1d12h", "-1d", "1y", "36500d", "9223372036854775807ns", "1d1d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err == nil && (d < 0 || d > maxDays*24*3600e9) {
			t.Fatalf("ParseDuration(%q) = %v", s, d)
		}
	})
}
