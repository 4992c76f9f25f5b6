package agent

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certagent/certagent/agent/pki"
)

// revokingIssuer is fakeIssuer with a CA that may sign CRLs, a revocation
// list and a CRL it signs on demand; crl, when set, is served instead.
type revokingIssuer struct {
	*fakeIssuer
	mu        sync.Mutex
	revoked   []*big.Int
	reasons   []RevocationReason
	revokeErr error
	crl       func() ([]byte, error)
	number    int64
}

func newCRLCA(t *testing.T, cn string) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key, err := pki.GenerateKey(pki.KeyEC256)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	return ca, key
}

func newRevokingIssuer(t *testing.T, ta *testAgent) *revokingIssuer {
	ri := &revokingIssuer{fakeIssuer: ta.iss}
	ri.ca, ri.caKey = newCRLCA(t, "revoking CA")
	ta.issuers["ca"] = ri
	return ri
}

func (r *revokingIssuer) Revoke(_ context.Context, req RevokeRequest) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.revokeErr != nil {
		return r.revokeErr
	}
	r.revoked = append(r.revoked, req.Cert.SerialNumber)
	r.reasons = append(r.reasons, req.Reason)
	return nil
}

func (r *revokingIssuer) CRL(context.Context, *x509.Certificate, []*x509.Certificate) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.crl != nil {
		return r.crl()
	}
	return signCRL(r.ca, r.caKey, &r.number, r.revoked)
}

func signCRL(ca *x509.Certificate, key crypto.Signer, number *int64, serials []*big.Int) ([]byte, error) {
	*number++
	tmpl := &x509.RevocationList{Number: big.NewInt(*number), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour)}
	for _, s := range serials {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: time.Now()})
	}
	return x509.CreateRevocationList(rand.Reader, tmpl, ca, key)
}

const revokeConfig = `
[agent]
state_dir = "{{dir}}/state"
[issuers.ca]
type = "local"
[certs.web]
issuer = "ca"
dns_names = ["web.example.com"]
cert_file = "{{dir}}/out/web.pem"
key_file = "{{dir}}/out/web.key"
crl_file = "{{dir}}/out/ca.crl"
units = ["web.service"]
action = "reload"
[certs.api]
issuer = "ca"
dns_names = ["api.example.com"]
cert_file = "{{dir}}/out/api.pem"
key_file = "{{dir}}/out/api.key"
crl_file = "{{dir}}/out/ca.crl"
units = ["api.service"]
`

func crlSerials(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(pemBody(t, b))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range crl.RevokedCertificateEntries {
		out = append(out, e.SerialNumber.Text(16))
	}
	return out
}

func pemBody(t *testing.T, b []byte) []byte {
	t.Helper()
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "X509 CRL" {
		t.Fatalf("not a PEM CRL: %q", b)
	}
	return blk.Bytes
}

// issuedWithRevoker is an agent over revokeConfig whose issuer revokes
// and signs CRLs, after a first issuance of every cert.
func issuedWithRevoker(t *testing.T) (*testAgent, *revokingIssuer, context.Context) {
	t.Helper()
	ta := newTestAgent(t, revokeConfig)
	ri := newRevokingIssuer(t, ta)
	ctx := context.Background()
	if err := ta.RenewOnce(ctx, nil, false); err != nil {
		t.Fatal(err)
	}
	return ta, ri, ctx
}

func rowNamed(a *Agent, name string) CertStatus {
	for _, r := range a.Snapshot() {
		if r.Name == name {
			return r
		}
	}
	return CertStatus{}
}

// revoke replaces the pair at once (with the cert's unit action), writes
// the revoked serial into every crl_file of the issuer, records it and
// logs event=revoked with the reason.
func TestRevokeReissues(t *testing.T) {
	ta, ri, ctx := issuedWithRevoker(t)
	crlPath := filepath.Join(ta.dir, "out", "ca.crl")
	if got := crlSerials(t, crlPath); len(got) != 0 {
		t.Fatalf("fresh CRL lists %v", got)
	}
	old := serialOf(t, filepath.Join(ta.dir, "out", "web.pem"))
	before := len(ta.rs.Calls())
	if err := ta.RevokeOnce(ctx, "web", RevokeOptions{Reason: ReasonKeyCompromise}); err != nil {
		t.Fatal(err)
	}
	if len(ri.revoked) != 1 || ri.revoked[0].Text(16) != old || ri.reasons[0] != ReasonKeyCompromise {
		t.Fatalf("issuer revoked %v %v, want %s keyCompromise", ri.revoked, ri.reasons, old)
	}
	if now := serialOf(t, filepath.Join(ta.dir, "out", "web.pem")); now == old {
		t.Fatal("the revoked cert is still deployed")
	}
	if got := crlSerials(t, crlPath); len(got) != 1 || got[0] != old {
		t.Fatalf("crl_file lists %v, want [%s]", got, old)
	}
	calls := strings.Join(ta.rs.Calls()[before:], ",")
	if !strings.Contains(calls, "web.service:reload") || strings.Contains(calls, "api.service") {
		t.Fatalf("unit actions after revoke: %s (api's crl_action defaults to none: its action is restart)", calls)
	}
	logs := ta.logs()
	if !strings.Contains(logs, "event=revoked") || !strings.Contains(logs, "reason=keyCompromise") || !strings.Contains(logs, "serial="+old) {
		t.Fatalf("no revoked log line:\n%s", logs)
	}
	row := rowNamed(ta.Agent, "web")
	if row.State != StateOK || row.Revocation == nil || row.Revocation.Serial != old || row.Revocation.Reason != "keyCompromise" {
		t.Fatalf("status row %+v", row)
	}
	var rec revocationRecord
	b, err := os.ReadFile(filepath.Join(ta.dir, "state", revokedDir, "web"))
	if err != nil || json.Unmarshal(b, &rec) != nil || rec.Serial != old || !rec.Reissue {
		t.Fatalf("record %s %v", b, err)
	}
}

// --no-reissue keeps the files, shows state revoked (status.json too) and
// does not renew; a record left by a crash before the reissue is
// acted on by the next pass.
func TestRevokeNoReissueAndCrashResume(t *testing.T) {
	ta, _, ctx := issuedWithRevoker(t)
	web := filepath.Join(ta.dir, "out", "web.pem")
	old := serialOf(t, web)
	if err := ta.RevokeOnce(ctx, "web", RevokeOptions{Reason: ReasonCessationOfOperation, NoReissue: true}); err != nil {
		t.Fatal(err)
	}
	if serialOf(t, web) != old {
		t.Fatal("--no-reissue replaced the cert")
	}
	if got := rowNamed(ta.Agent, "web").State; got != StateRevoked {
		t.Fatalf("state %q, want revoked", got)
	}
	sf, _ := os.ReadFile(filepath.Join(ta.dir, "state", "status.json"))
	if !strings.Contains(string(sf), `"state": "revoked"`) {
		t.Fatalf("status.json:\n%s", sf)
	}
	if err := ta.RenewOnce(ctx, nil, false); err != nil || serialOf(t, web) != old {
		t.Fatalf("a plain renew replaced a --no-reissue cert (err %v)", err)
	}
	// As if the process died after the CA revoked and the record was
	// written, before the new pair: the next pass re-issues.
	if err := writeRevocation(filepath.Join(ta.dir, "state"), "web", revocationRecord{Serial: old, Reason: "keyCompromise", Reissue: true}); err != nil {
		t.Fatal(err)
	}
	fresh := newTestAgentShared(t, ta)
	if err := fresh.RenewOnce(ctx, nil, false); err != nil {
		t.Fatal(err)
	}
	if serialOf(t, web) == old {
		t.Fatal("the revoked cert was not replaced after the interrupted revoke")
	}
}

// newTestAgentShared is a second agent (a restarted process) over ta's
// directories and issuer.
func newTestAgentShared(t *testing.T, ta *testAgent) *Agent {
	t.Helper()
	a, err := New(Options{Config: ta.cfg, Issuers: ta.issuers, Store: ta.st, Restarter: ta.rs, Logger: ta.log})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// A revoke the CA refuses exits with its text and changes nothing.
func TestRevokeFailureChangesNothing(t *testing.T) {
	ta, ri, ctx := issuedWithRevoker(t)
	web := filepath.Join(ta.dir, "out", "web.pem")
	old := serialOf(t, web)
	issued := ri.count("web")
	ri.revokeErr = errors.New("revoke serial x: unauthorized: account does not own this certificate (problem urn:ietf:params:acme:error:unauthorized, HTTP 403)")
	err := ta.RevokeOnce(ctx, "web", RevokeOptions{Reason: ReasonKeyCompromise})
	if err == nil || !strings.Contains(err.Error(), "account does not own this certificate") {
		t.Fatalf("err = %v", err)
	}
	if serialOf(t, web) != old || ri.count("web") != issued {
		t.Fatal("a failed revoke re-issued")
	}
	if _, err := os.Stat(filepath.Join(ta.dir, "state", revokedDir, "web")); !os.IsNotExist(err) {
		t.Fatalf("a failed revoke left a record: %v", err)
	}
	if !strings.Contains(ta.logs(), "event=revoke_failed") {
		t.Fatal("no revoke_failed log line")
	}
}

// A CRL that is missing, truncated or signed by another CA is not
// written: the old one stays, status says why and is not ok.
func TestBadCRLKeepsOld(t *testing.T) {
	ta, ri, ctx := issuedWithRevoker(t)
	crlPath := filepath.Join(ta.dir, "out", "ca.crl")
	good, _ := os.ReadFile(crlPath)
	goodDER, _ := signCRL(ri.ca, ri.caKey, &ri.number, nil)
	otherCA, otherKey := newCRLCA(t, "revoking CA") // same name, other key
	var n int64
	wrong, _ := signCRL(otherCA, otherKey, &n, nil)
	for _, tc := range []struct {
		name string
		crl  func() ([]byte, error)
		want string
	}{
		{"missing", func() ([]byte, error) { return nil, errors.New("fetch crl http://ca/crl: HTTP 404 Not Found") }, "404"},
		{"truncated", func() ([]byte, error) { return goodDER[:len(goodDER)/2], nil }, "not a valid X.509 CRL"},
		{"wrong CA", func() ([]byte, error) { return wrong, nil }, "not signed by the CA that issued"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ri.mu.Lock()
			ri.crl = tc.crl
			ri.mu.Unlock()
			ta.pass(ctx, passOptions{crlIssuers: map[string]bool{"ca": true}})
			if b, _ := os.ReadFile(crlPath); !bytes.Equal(b, good) {
				t.Fatal("the old CRL was replaced")
			}
			row := rowNamed(ta.Agent, "web")
			if row.State == StateOK || !strings.Contains(row.CRLError, tc.want) || !strings.Contains(row.CRLError, "old CRL is kept") {
				t.Fatalf("row state %q crl_error %q, want %q", row.State, row.CRLError, tc.want)
			}
		})
	}
	ri.mu.Lock()
	ri.crl = nil
	ri.mu.Unlock()
	ta.pass(ctx, passOptions{crlIssuers: map[string]bool{"ca": true}})
	if row := rowNamed(ta.Agent, "web"); row.State != StateOK || row.CRLError != "" {
		t.Fatalf("after a good CRL: %+v", row)
	}
}

// A daemon that fetched the CRL before a one-shot revoke beside it wrote
// a newer one keeps the newer one: writing its own back would un-revoke.
func TestOlderCRLNeverOverwritesNewer(t *testing.T) {
	daemon, ri, ctx := issuedWithRevoker(t)
	oneShot := newTestAgentShared(t, daemon)
	crlPath := filepath.Join(daemon.dir, "out", "ca.crl")
	old := serialOf(t, filepath.Join(daemon.dir, "out", "web.pem"))
	if err := oneShot.RevokeOnce(ctx, "web", RevokeOptions{Reason: ReasonKeyCompromise, NoReissue: true}); err != nil {
		t.Fatal(err)
	}
	ri.mu.Lock()
	ri.crl = func() ([]byte, error) { return nil, errors.New("CA down") }
	ri.mu.Unlock()
	for i := 0; i < 2; i++ {
		daemon.pass(ctx, passOptions{})
		if got := crlSerials(t, crlPath); len(got) != 1 || got[0] != old {
			t.Fatalf("pass %d: crl_file lists %v, want the revoked %s", i, got, old)
		}
	}
	if st := rowNamed(daemon.Agent, "web").State; st != StateRevoked {
		t.Fatalf("daemon shows %q, want revoked", st)
	}
}

// The daemon wakes to refresh crl_file at half the CRL's validity, well
// before its nextUpdate.
func TestCRLRefreshPlannedBeforeNextUpdate(t *testing.T) {
	ta, _, _ := issuedWithRevoker(t)
	st := ta.certs["web"]
	crl, err := x509.ParseRevocationList(pemBody(t, st.crl.data))
	if err != nil {
		t.Fatal(err)
	}
	half := crl.ThisUpdate.Add(crl.NextUpdate.Sub(crl.ThisUpdate) / 2)
	if st.crl.next.IsZero() || st.crl.next.After(half) || !st.crl.next.Before(crl.NextUpdate) {
		t.Fatalf("next CRL fetch %s; CRL half-life %s, nextUpdate %s", st.crl.next, half, crl.NextUpdate)
	}
	if wake := ta.nextWake(); wake.After(st.crl.next) {
		t.Fatalf("next wake %s is after the CRL refresh %s", wake, st.crl.next)
	}
}
