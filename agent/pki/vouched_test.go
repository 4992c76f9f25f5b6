package pki

import (
	"crypto/x509"
	"testing"
	"time"
)

// A vouched-for leaf is spared its signature check only where Verify
// would find it issued by the vouched CA: whenever provesIssuer says so,
// Verify agrees, and each departure from the plain case falls back.
func TestVouchedProvesOnlyWhatVerifyWould(t *testing.T) {
	rootKey := testKey(t, KeyEC256, "root")
	root := mkCert(t, certOpts{cn: "test root", key: rootKey, isCA: true}, nil, nil)
	leafKey := testKey(t, KeyEC256, "leaf")
	leaf := mkCert(t, certOpts{cn: "web.example.com", dns: []string{"web.example.com"}, key: leafKey}, root, rootKey)
	// Signed by another key under the same issuer name: Verify refuses it.
	otherKey := testKey(t, KeyEC384, "otherroot")
	forgedParent := mkCert(t, certOpts{cn: "test root", key: otherKey, isCA: true}, nil, nil)
	forged := mkCert(t, certOpts{cn: "web.example.com", dns: []string{"web.example.com"}, key: leafKey}, forgedParent, otherKey)
	notCA := mkCert(t, certOpts{cn: "test root", key: rootKey}, nil, nil)
	constrained := *root
	constrained.PermittedDNSDomains = []string{"other.example"}
	roots := []*x509.Certificate{root}

	cases := []struct {
		name  string
		v     *Vouched
		leaf  *x509.Certificate
		roots []*x509.Certificate
		at    time.Time
		want  bool
	}{
		{"plain", &Vouched{Leaf: leaf.Raw, CA: root}, leaf, roots, testNow, true},
		{"no vouch", nil, leaf, roots, testNow, false},
		{"another leaf", &Vouched{Leaf: leaf.Raw, CA: root}, forged, roots, testNow, false},
		{"ca not a root", &Vouched{Leaf: leaf.Raw, CA: root}, leaf, []*x509.Certificate{forgedParent}, testNow, false},
		{"expired leaf", &Vouched{Leaf: leaf.Raw, CA: root}, leaf, roots, leaf.NotAfter.Add(time.Second), false},
		{"not yet valid", &Vouched{Leaf: leaf.Raw, CA: root}, leaf, roots, leaf.NotBefore.Add(-time.Second), false},
		{"not a ca", &Vouched{Leaf: leaf.Raw, CA: notCA}, leaf, []*x509.Certificate{notCA}, testNow, false},
		{"name constraints", &Vouched{Leaf: leaf.Raw, CA: &constrained}, leaf, []*x509.Certificate{&constrained}, testNow, false},
	}
	for _, c := range cases {
		got := c.v.provesIssuer(c.leaf, c.roots, c.at)
		if got != c.want {
			t.Errorf("%s: provesIssuer = %v, want %v", c.name, got, c.want)
		}
		pool := x509.NewCertPool()
		for _, r := range c.roots {
			pool.AddCert(r)
		}
		_, err := c.leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: c.at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		if got && err != nil {
			t.Errorf("%s: proved, but Verify says %v", c.name, err)
		}
	}

	// Through InspectData: a vouch for another leaf does not hide a
	// forgery, and the vouched plain case reads as the unvouched one.
	kp := keyPEM(t, leafKey)
	exp := Expect{DNSNames: []string{"web.example.com"}, Roots: roots, Vouched: &Vouched{Leaf: leaf.Raw, CA: root}}
	if r := InspectData("c.pem", EncodeCertsPEM(forged), "k.pem", kp, exp, testNow); !r.Has(ProblemIssuer) {
		t.Errorf("forged leaf with another leaf's vouch: problems %q, want issuer", kinds(r))
	}
	if r := InspectData("c.pem", EncodeCertsPEM(leaf), "k.pem", kp, exp, testNow); len(r.Problems) != 0 {
		t.Errorf("vouched leaf: problems %q", kinds(r))
	}
}
