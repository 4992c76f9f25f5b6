package recipes

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/agent/formats"
	"github.com/certagent/certagent/internal/testbin"
)

// mindioExample is examples/mindio.toml moved under h.dir, without the
// unit (no service manager here) and what depends on it.
func mindioExample(t *testing.T, h *host) string {
	t.Helper()
	src, err := os.ReadFile(repoFile("examples/mindio.toml"))
	if err != nil {
		t.Fatal(err)
	}
	text := absPath.ReplaceAllString(string(src), `"`+h.dir+`$1"`)
	return regexp.MustCompile(`(?m)^(units|remove_key_after_start)\s*=.*$`).ReplaceAllString(text, "")
}

// TestMindIOExampleCRL runs the recipe's own example: the tls_info it
// ends with names, in tlsCrlPath and tlsCrlFile, a real CRL that is
// fresh, signed by the CA of tlsCaPath+tlsCaFile, and that openssl
// verify -crl_check accepts the cert with.
func TestMindIOExampleCRL(t *testing.T) {
	openssl := testbin.OpenSSL(t)
	h := newHost(t)
	h.credential(t, "mindio-key-password", "Mind10-Key!pw")
	h.write(t, mindioExample(t, h))
	h.renew(t)
	raw, err := os.ReadFile(h.path("etc/mindio/tls/tls_info"))
	if err != nil {
		t.Fatal(err)
	}
	ti, err := formats.ParseTLSInfo(string(raw))
	if err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	if ti.CRLPath != h.path("etc/mindio/tls/crl")+"/" || len(ti.CRLFiles) != 1 || ti.CRLFiles[0] != "mindio.crl" {
		t.Fatalf("tls_info CRL fields %q %q, want crl_file's directory and name", ti.CRLPath, ti.CRLFiles)
	}
	crlFile := filepath.Join(ti.CRLPath, ti.CRLFiles[0])
	b, err := os.ReadFile(crlFile)
	if err != nil {
		t.Fatalf("tlsCrlFile: %v", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "X509 CRL" {
		t.Fatalf("tlsCrlFile is not a PEM CRL: %q", b)
	}
	crl, err := x509.ParseRevocationList(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(ti.CAPath, ti.CAFiles[0])
	if err := crl.CheckSignatureFrom(readCerts(t, caFile)[0]); err != nil {
		t.Fatalf("the CRL is not signed by tlsCaFile: %v", err)
	}
	if now := time.Now(); now.Before(crl.ThisUpdate) || !now.Before(crl.NextUpdate) || crl.NextUpdate.Sub(crl.ThisUpdate) < 6*24*time.Hour {
		t.Fatalf("CRL not fresh: thisUpdate %s nextUpdate %s", crl.ThisUpdate, crl.NextUpdate)
	}
	testbin.Run(t, openssl, "verify", "-crl_check", "-CRLfile", crlFile, "-CAfile", caFile, ti.Cert)
}

// An explicit tls_info_crl_files wins over crl_file.
func TestMindIOExplicitCRLFilesWin(t *testing.T) {
	h := newHost(t)
	h.credential(t, "mindio-key-password", "Mind10-Key!pw")
	text := strings.Replace(mindioExample(t, h), "crl_file = ", `tls_info_crl_files = ["/srv/crl/crl_1.pem"]`+"\ncrl_file = ", 1)
	h.write(t, text)
	h.renew(t)
	raw, err := os.ReadFile(h.path("etc/mindio/tls/tls_info"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "tlsCrlPath: /srv/crl/; tlsCrlFile: crl_1.pem;") {
		t.Fatalf("tls_info_crl_files did not win: %s", raw)
	}
	if _, err := os.Stat(h.path("etc/mindio/tls/crl/mindio.crl")); err != nil {
		t.Fatalf("crl_file is still written: %v", err)
	}
}
