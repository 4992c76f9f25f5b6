package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRevokeRefusesAnotherCertsCertificate: the service user who owns
// web's output directory copies api's certificate (public, and issued
// by the same CA) over web's cert_file. An operator then revokes web,
// say after web's key leaked. certagent must not revoke api's serial,
// leaving web's leaked cert valid: a cert on disk that does not match
// web's key or names is refused, naming why, and nothing is revoked.
func TestRevokeRefusesAnotherCertsCertificate(t *testing.T) {
	ta, ri, ctx := issuedWithRevoker(t)
	web, api := filepath.Join(ta.dir, "out", "web.pem"), filepath.Join(ta.dir, "out", "api.pem")
	apiSerial := serialOf(t, api)
	copyFile(t, api, web)
	err := ta.RevokeOnce(ctx, "web", RevokeOptions{Reason: ReasonKeyCompromise, NoReissue: true})
	ri.mu.Lock()
	defer ri.mu.Unlock()
	for _, s := range ri.revoked {
		if fmt.Sprintf("%x", s) == apiSerial {
			t.Fatalf("revoking web revoked api's serial %s, found in web's cert_file", apiSerial)
		}
	}
	if err == nil || !strings.Contains(err.Error(), "does not match") || !strings.Contains(err.Error(), "not revoking") {
		t.Errorf("revoke of a cert_file holding another cert: want a refusal saying nothing was revoked, got %v", err)
	}
	// With api's key copied too, the pair matches, but not web's names.
	ri.mu.Unlock()
	copyFile(t, filepath.Join(ta.dir, "out", "api.key"), filepath.Join(ta.dir, "out", "web.key"))
	err = ta.RevokeOnce(ctx, "web", RevokeOptions{Reason: ReasonKeyCompromise, NoReissue: true})
	ri.mu.Lock()
	if len(ri.revoked) != 0 {
		t.Errorf("revoked %v through web's files holding api's pair", ri.revoked)
	}
	if err == nil || !strings.Contains(err.Error(), "holds a certificate for dns:api.example.com, not for dns:web.example.com; not revoking") {
		t.Errorf("revoke of web's files holding api's pair: want a refusal naming both, got %v", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
