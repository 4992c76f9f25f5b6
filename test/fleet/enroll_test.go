package fleet

import (
	"crypto/x509"
	"encoding/base64"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/internal/fleetrig"
	"github.com/certagent/certagent/internal/testbin"
)

// fleet is the test's view of the rig: the N hosts that share one
// config, and the extra host enrolled with an OpenFL-form token.
type fleet struct {
	t     *testing.T
	rig   *fleetrig.Rig
	hosts []*fleetrig.Host
	extra *fleetrig.Host
	// acmeHost renews an IP-only cert from step-ca's ACME provisioner.
	acmeHost *fleetrig.Host
	// acme runs the hosts on step-ca's ACME provisioner instead of the
	// step issuer (CERTAGENT_FLEET_ISSUER=acme: a debugging aid for the
	// rig; the token, mTLS and rotation checks are then skipped).
	acme  bool
	root2 *x509.Certificate
}

// enroll writes the shared config and a fresh token on every host and
// starts the daemons at once, then waits until each has issued.
func (f *fleet) enroll() {
	t := f.t
	f.acme = os.Getenv("CERTAGENT_FLEET_ISSUER") == "acme"
	fp, err := f.rig.CA.Fingerprint()
	if err != nil {
		t.Fatal(err)
	}
	shared := fleetrig.StepConfig(f.rig.Mount, f.rig.CA.URL, fp)
	for _, h := range f.hosts {
		cfg := shared
		if f.acme {
			cfg = fleetrig.ACMEConfig(f.rig.Mount, f.rig.ACMEDirectory(), h.IP)
			if err := f.rig.CopyRoot(h); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.WriteConfig(cfg); err != nil {
			t.Fatal(err)
		}
		if !f.acme {
			tok, err := f.rig.CA.Token(sub, sub)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.PutToken(tok); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, h := range f.hosts {
		if err := h.Start(bin); err != nil {
			t.Fatal(err)
		}
	}
	f.await("every host issued", 2*time.Minute, func(h *fleetrig.Host) bool {
		return len(f.events(h, "issued")) >= 1
	})
}

// startACMEHost starts the host that orders an IP-only cert for its own
// address from step-ca's ACME provisioner.
func (f *fleet) startACMEHost() {
	h := f.acmeHost
	if err := f.rig.CopyRoot(h); err != nil {
		f.t.Fatal(err)
	}
	if err := h.WriteConfig(fleetrig.ACMEConfig(f.rig.Mount, f.rig.ACMEDirectory(), h.IP)); err != nil {
		f.t.Fatal(err)
	}
	if err := h.Start(bin); err != nil {
		f.t.Fatal(err)
	}
}

// acmeIPOnly: the ACME host was issued and renewed its IP-only cert, and
// the subject openssl prints names no IP (the order carried no CN).
func (f *fleet) acmeIPOnly() {
	h := f.acmeHost
	if n := len(f.events(h, "renewed")); n < 1 {
		f.t.Errorf("ACME host: %d renewals from step-ca's ACME provisioner, want >= 1", n)
	}
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		testbin.Missing(f.t, "openssl not installed")
		return
	}
	out, err := exec.Command(openssl, "x509", "-in", h.CertFile(), "-noout", "-subject", "-ext", "subjectAltName").CombinedOutput()
	if err != nil {
		f.t.Fatalf("openssl x509: %v\n%s", err, out)
	}
	subject, _, _ := strings.Cut(string(out), "\n")
	if !strings.HasPrefix(subject, "subject=") || strings.Contains(subject, h.IP) || !strings.Contains(string(out), "IP Address:"+h.IP) {
		f.t.Errorf("ACME IP-only cert: openssl prints %q; want a subject without the IP and the IP in the SAN", out)
	}
	f.t.Logf("ACME IP-only cert from step-ca: %s", strings.Join(strings.Fields(string(out)), " "))
}

// tokensDeleted: each host's one-time token is gone once used.
func (f *fleet) tokensDeleted() {
	if f.acme {
		return
	}
	for _, h := range f.hosts {
		if _, err := os.Lstat(h.TokenFile()); !os.IsNotExist(err) {
			f.t.Errorf("host %d: token %s still there after enrollment (%v)", h.I, h.TokenFile(), err)
		}
	}
}

// openFLToken enrolls the extra host with OpenFL's token form (base64 of
// the JWT, ".", base64 of the root PEM) and no root_fingerprint; the
// token is minted after step-ca's restart, as step-ca requires.
func (f *fleet) openFLToken() {
	if f.acme {
		return
	}
	t, h := f.t, f.extra
	jwt, err := f.rig.CA.Token(sub, sub)
	if err != nil {
		t.Fatal(err)
	}
	rootPEM, err := os.ReadFile(f.rig.CA.Root)
	if err != nil {
		t.Fatal(err)
	}
	tok := base64.StdEncoding.EncodeToString([]byte(jwt)) + "." + base64.StdEncoding.EncodeToString(rootPEM)
	if err := h.WriteConfig(fleetrig.StepConfig(f.rig.Mount, f.rig.CA.URL, "")); err != nil {
		t.Fatal(err)
	}
	if err := h.PutToken(tok); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(bin); err != nil {
		t.Fatal(err)
	}
	testbin.Eventually(t, time.Minute, "the OpenFL-token host issued", func() bool {
		return len(f.events(h, "issued")) >= 1
	})
	if _, err := os.Lstat(h.TokenFile()); !os.IsNotExist(err) {
		t.Errorf("OpenFL-form token still there after enrollment (%v)", err)
	}
	root := readCerts(t, f.rig.CA.Root)[0]
	leaf := readCerts(t, h.CertFile())[0]
	pool := x509.NewCertPool()
	pool.AddCert(root)
	inter := x509.NewCertPool()
	for _, c := range readCerts(t, h.CertFile())[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, DNSName: sub,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("OpenFL-token host's cert does not verify against the root in its token: %v", err)
	}
	if !containsCert(readCerts(t, h.CAFile()), root) {
		t.Error("OpenFL-token host's ca_file lacks step-ca's root")
	}
}

// rotated: the federated second root reaches every host's ca_file, next
// to the first.
func (f *fleet) rotated() {
	if f.acme {
		return
	}
	root := readCerts(f.t, f.rig.CA.Root)[0]
	f.await("root2 in every ca_file", 2*certLife, func(h *fleetrig.Host) bool {
		cs, err := readCertsErr(h.CAFile())
		return err == nil && containsCert(cs, f.root2) && containsCert(cs, root)
	})
}
