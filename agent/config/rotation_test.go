package config

import (
	"math"
	"strings"
	"testing"
)

// Rotation keys of a local issuer: defaults, the three ways to write
// rotate_at, and clear errors for bad values or a non-local issuer.
func TestRotationKeys(t *testing.T) {
	cfgWith := func(issuer string) string {
		return issuer + `
[certs.web]
issuer = "ca"
dns_names = ["web.example.com"]
cert_file = "/srv/web/cert.pem"
key_file = "/srv/web/key.pem"
`
	}
	cfg, err := Parse("t.toml", []byte(cfgWith("[issuers.ca]\ntype = \"local\"\n")), testOpts)
	if err != nil {
		t.Fatal(err)
	}
	is := cfg.Issuers["ca"]
	if math.Abs(is.RotateAt.Value-2.0/3.0) > 1e-9 || is.Overlap.Set || is.CAKeyAfterRotation != CAKeyDelete {
		t.Errorf("defaults: rotate_at %v, overlap %+v, ca_key_after_rotation %q", is.RotateAt, is.Overlap, is.CAKeyAfterRotation)
	}
	for in, want := range map[string]float64{`"80%"`: 0.8, `"3/4"`: 0.75, `"0.5"`: 0.5} {
		cfg, err := Parse("t.toml", []byte(cfgWith("[issuers.ca]\ntype = \"local\"\nrotate_at = "+in+"\noverlap = \"30d\"\nca_key_after_rotation = \"keep\"\n")), testOpts)
		if err != nil {
			t.Fatalf("rotate_at = %s: %v", in, err)
		}
		if is := cfg.Issuers["ca"]; math.Abs(is.RotateAt.Value-want) > 1e-9 || is.Overlap.Duration.Hours() != 720 || is.CAKeyAfterRotation != CAKeyKeep {
			t.Errorf("rotate_at = %s: %+v", in, is)
		}
	}
	bad := []struct{ kv, want string }{
		{`rotate_at = "150%"`, "rotate_at 1.5 is not between 0 and 1"},
		{`rotate_at = "0"`, "rotate_at 0 is not between 0 and 1"},
		{`rotate_at = "soon"`, `write a share such as "2/3"`},
		{`overlap = "0s"`, "overlap 0s is shorter than 1s"},
		{`overlap = "3650d"`, "overlap 87600h0m0s is not shorter than the CA's validity 87600h0m0s"},
		{`ca_key_after_rotation = "shred"`, `unknown ca_key_after_rotation "shred"`},
	}
	for _, b := range bad {
		_, err := Parse("t.toml", []byte(cfgWith("[issuers.ca]\ntype = \"local\"\n"+b.kv+"\n")), testOpts)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: got %v, want %q", b.kv, err, b.want)
		}
	}
	acme := "[issuers.ca]\ntype = \"acme\"\ndirectory = \"https://acme.example.com/dir\"\noverlap = \"30d\"\n"
	if _, err := Parse("t.toml", []byte(cfgWith(acme)), testOpts); err == nil || !strings.Contains(err.Error(), "overlap only applies to local issuers") {
		t.Errorf("overlap on an acme issuer: %v", err)
	}
}
