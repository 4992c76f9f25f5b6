package watch

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestResolve(t *testing.T) {
	// Resolve the temp dir itself so expectations use the same spelling.
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := func(rel string) string { return filepath.Join(base, rel) }
	mkdir := func(rel string) {
		if err := os.MkdirAll(p(rel), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	file := func(rel string) {
		if err := os.WriteFile(p(rel), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, rel string) {
		if err := os.Symlink(target, p(rel)); err != nil {
			t.Fatal(err)
		}
	}
	mkdir("tls")
	file("tls/cert.pem")
	// certbot: live/web/cert.pem -> ../../archive/web/cert1.pem
	mkdir("archive/web")
	mkdir("live/web")
	file("archive/web/cert1.pem")
	link("../../archive/web/cert1.pem", "live/web/cert.pem")
	// a linked directory: live/x -> ../archive/x1
	mkdir("archive/x1")
	file("archive/x1/cert.pem")
	link("../archive/x1", "live/x")
	// absolute link and a loop
	link(p("tls/cert.pem"), "abs.pem")
	link("loop2", "loop1")
	link("loop1", "loop2")

	tests := []struct {
		path string
		want []string
	}{
		{p("tls/cert.pem"), []string{p("tls/cert.pem")}},
		{p("tls/./../tls/cert.pem"), []string{p("tls/cert.pem")}},
		{p("tls/missing.pem"), []string{p("tls/missing.pem")}},
		{p("gone/deeper/cert.pem"), []string{p("gone")}},
		{p("live/web/cert.pem"), []string{p("live/web/cert.pem"), p("archive/web/cert1.pem")}},
		{p("live/x/cert.pem"), []string{p("live/x"), p("archive/x1/cert.pem")}},
		{p("abs.pem"), []string{p("abs.pem"), p("tls/cert.pem")}},
		{p("tls/cert.pem/sub"), []string{p("tls/cert.pem")}},
	}
	for _, tt := range tests {
		if got := resolve(tt.path); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("resolve(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
	if got := resolve(p("loop1")); len(got) != maxLinks+1 {
		t.Errorf("resolve(symlink loop) returned %d names, want it cut at %d links", len(got), maxLinks+1)
	}
	// A resolver (one sync of many keys) says what resolve says, for each
	// path and again once its directory is memoized.
	var rv resolver
	extra := []string{p("live/x/other.pem"), p("loop1"), p("loop1/x"), p("gone/deeper/b.pem"), p("live/web/chain.pem"), "/"}
	for range 2 {
		for _, tt := range tests {
			extra = append(extra, tt.path)
		}
		for _, path := range extra {
			if got, want := rv.resolve(path), resolve(path); !reflect.DeepEqual(got, want) {
				t.Errorf("resolver.resolve(%q) = %q, resolve says %q", path, got, want)
			}
		}
	}
	if len(rv.dirs) == 0 {
		t.Error("the resolver memoized no directory")
	}
}
