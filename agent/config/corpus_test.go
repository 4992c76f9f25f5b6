package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the # want: lines of testdata/bad/*.toml from the current output")

// corpusOpts validates like the real daemon (real users, real files),
// except that the DNS provider list is fixed.
var corpusOpts = Options{
	KnownDNSProvider: func(n string) bool { return n == "cloudflare" || n == "exec" || n == "rfc2136" },
}

const wantPrefix = "# want: "

// splitWant separates the leading "# want: " lines from the body.
func splitWant(data []byte) (want []string, body []byte) {
	for bytes.HasPrefix(data, []byte(wantPrefix)) {
		line, rest, _ := bytes.Cut(data, []byte("\n"))
		want = append(want, string(line[len(wantPrefix):]))
		data = rest
	}
	return want, data
}

// TestBadConfigCorpus runs every file in testdata/bad through Parse. Each
// file starts with one "# want: " line per expected error, exactly as
// `certagent check` prints it. Every case must fail, every error must name
// the file and a line, and the config must be reported as a whole.
func TestBadConfigCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.toml")
	if err != nil || len(files) < 60 {
		t.Fatalf("corpus has %d files (%v), want at least 60", len(files), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want, body := splitWant(data)
			if *update {
				want = rewriteWant(t, f, body)
				data, _ = os.ReadFile(f)
			}
			_, perr := Parse(f, data, corpusOpts)
			if perr == nil {
				t.Fatal("bad config accepted")
			}
			var es *Errors
			if !errors.As(perr, &es) {
				t.Fatalf("error is %T, want *Errors", perr)
			}
			for _, e := range *es {
				if e.File != f || e.Line <= 0 || e.Msg == "" || e.Fix == "" {
					t.Errorf("error lacks file, line, message or fix: %#v", e)
				}
			}
			sameLines(t, errLines(t, perr, true), want)
		})
	}
}

// rewriteWant regenerates a corpus file's "# want:" header. The header's
// length shifts the body's line numbers, so iterate until it is stable.
func rewriteWant(t *testing.T, f string, body []byte) []string {
	var got []string
	n := -1
	for n != len(got) {
		n = len(got)
		header := strings.Repeat(wantPrefix+"x\n", n)
		_, err := Parse(f, append([]byte(header), body...), corpusOpts)
		got = errLines(t, err, true)
	}
	var b bytes.Buffer
	for _, w := range got {
		b.WriteString(wantPrefix + w + "\n")
	}
	b.Write(body)
	if err := os.WriteFile(f, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestCorpusNoPanic feeds every testdata file, and every prefix of the
// full example, through Parse: truncated input is the most common way to
// reach odd parser and scanner states.
func TestCorpusNoPanic(t *testing.T) {
	files, _ := filepath.Glob("testdata/*/*.toml")
	files = append(files, "../../examples/full.toml")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = Parse(f, data, corpusOpts)
	}
	full, err := os.ReadFile("../../examples/full.toml")
	if err != nil {
		t.Fatal(err)
	}
	for i := range full {
		_, _ = Parse("full.toml", full[:i], testOpts)
	}
}
