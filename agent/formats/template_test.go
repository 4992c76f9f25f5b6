package formats

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTemplateUnboundedRefused: what could loop without bound is refused
// at parse time, before Execute (which Go cannot stop) runs; issue 12
// item 5. Without the bound, the first case spins for hours.
func TestTemplateUnboundedRefused(t *testing.T) {
	d := TemplateData{Name: "web", DNSNames: []string{"a"}, Certs: map[string]Paths{"web": {}}}
	var chain strings.Builder
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&chain, `{{define "t%d"}}{{template "t%d"}}{{template "t%d"}}{{end}}`, i, i-1, i-1)
	}
	cases := []struct{ name, src, want string }{
		{"integer range", `{{range 1000000000000}}{{end}}`, "loop:1:8: range over 1000000000000: a template may range only over .DNSNames"},
		{"integer range with vars", `x{{range $i, $v := 1000000000000}}{{end}}`, "range over $i, $v := 1000000000000"},
		{"method result", `{{range .NotAfter.UnixNano}}{{end}}`, "range over .NotAfter.UnixNano"},
		{"variable", `{{$n := 5}}{{range $n}}{{end}}`, "range over $n"},
		{"dot", `{{with .DNSNames}}{{range .}}{{end}}{{end}}`, "range over ."},
		{"inner field", `{{range .Certs}}{{range .CertFile}}{{end}}{{end}}`, "range over .CertFile"},
		{"recursion", `{{define "a"}}{{template "a" .}}{{end}}{{template "a" .}}`, `template "a" calls itself`},
		{"mutual recursion", `{{define "a"}}{{template "b"}}{{end}}{{define "b"}}{{template "a"}}{{end}}{{template "a"}}`, `calls itself`},
		{"exponential calls", `{{define "t0"}}x{{end}}` + chain.String() + `{{template "t40"}}`, "too much work"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := RenderTemplate("loop", []byte(tc.src), d)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestTemplateWorkBoundedByData: nested ranges are fine for a small
// config and refused, before running, when the config's lists make them
// too long.
func TestTemplateWorkBoundedByData(t *testing.T) {
	src := []byte(`{{range .Certs}}{{range $.Certs}}{{end}}{{end}}`)
	small := TemplateData{Certs: map[string]Paths{"a": {}, "b": {}}}
	if _, err := RenderTemplate("n", src, small); err != nil {
		t.Fatalf("small config: %v", err)
	}
	big := TemplateData{Certs: map[string]Paths{}}
	for i := range 2000 {
		big.Certs[fmt.Sprint(i)] = Paths{}
	}
	_, err := RenderTemplate("n", src, big)
	if err == nil || !strings.Contains(err.Error(), "too much work with this config's names and certs") {
		t.Fatalf("2000×2000 iterations: %v", err)
	}
}

// TestTemplateAllowedRanges: ranges over the agent's lists, with
// variables and else branches, still work.
func TestTemplateAllowedRanges(t *testing.T) {
	d := TemplateData{Name: "web", DNSNames: []string{"a.example", "b.example"},
		Certs: map[string]Paths{"web": {CertFile: "/w.pem"}, "db": {CertFile: "/d.pem"}}}
	src := `{{range $i, $n := .DNSNames}}{{$i}}={{$n}} {{end}}{{range .IPAddresses}}x{{else}}no-ip {{end}}` +
		`{{range $k, $p := $.Certs}}{{$k}}:{{$p.CertFile}} {{end}}{{define "x"}}[{{.}}]{{end}}{{template "x" .Name}}`
	out, err := RenderTemplate("ok", []byte(src), d)
	if err != nil || string(out) != "0=a.example 1=b.example no-ip db:/d.pem web:/w.pem [web]" {
		t.Fatalf("%q %v", out, err)
	}
}

// TestRecipeTemplatesRender: every template shipped in
// docs/recipes/templates passes the bound and renders.
func TestRecipeTemplatesRender(t *testing.T) {
	files, err := filepath.Glob("../../docs/recipes/templates/*.tmpl")
	if err != nil || len(files) < 5 {
		t.Fatalf("recipe templates: %v %v", files, err)
	}
	p := Paths{CertFile: "/etc/x/cert.pem", KeyFile: "/etc/x/key.pem", CAFile: "/etc/x/ca.pem"}
	d := TemplateData{Name: "x", Paths: p, DNSNames: []string{"x.example"}, IPAddresses: []string{"10.0.0.5"},
		NotAfter: time.Unix(0, 0).UTC(), Certs: map[string]Paths{"x": p, "dask-client": p}}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out, err := RenderTemplate(filepath.Base(f), src, d)
		if err != nil || !strings.Contains(string(out), "/etc/x/") {
			t.Errorf("%s: %v\n%s", f, err, out)
		}
	}
}
