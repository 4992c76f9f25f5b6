package notify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/internal/safefile/hostiletest"
)

// TestWebhookCABundleTrustedAtUse: the service user who can change a
// ca_bundle (their own file, or one reached through their directory)
// could add the root of a receiver of their own, which would then get the
// headers_file token. Such a ca_bundle is refused where it is read, as at
// load, and nothing is sent.
func TestWebhookCABundleTrustedAtUse(t *testing.T) {
	hostiletest.NeedRoot(t)
	var mu sync.Mutex
	var auth []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
	}))
	defer srv.Close()
	base := t.TempDir()
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	hdr := filepath.Join(base, "ops.headers")
	if err := os.WriteFile(hdr, []byte("Authorization: Bearer s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	user := hostiletest.Dir(t, base, "user")
	inUser := filepath.Join(user, "ca.pem")
	owned := filepath.Join(base, "owned.pem")
	viaLink := filepath.Join(base, "via.pem")
	for _, p := range []string{inUser, owned} {
		if err := os.WriteFile(p, pemCert(srv.Certificate().Raw), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	hostiletest.Own(t, owned)
	if err := os.Symlink(inUser, viaLink); err != nil {
		t.Fatal(err)
	}
	for _, bundle := range []string{inUser, owned, viaLink} {
		tg := webhookTarget(srv.URL)
		tg.CABundle, tg.HeadersFile = bundle, hdr
		if _, err := newWebhook(tg); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
			t.Errorf("ca_bundle %s the service user controls: want a refusal naming uid 65534, got %v", bundle, err)
		}
		n := newTestNotifier(t, filepath.Join(t.TempDir(), "notify"), &clock{now: t0}, &counts{}, map[string]*config.Notify{"ops": tg})
		n.Emit(Event{Kind: "expiring", Cert: "web"})
		n.flush(context.Background())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(auth) != 0 {
		t.Errorf("the receiver trusted through a planted ca_bundle got %d requests, headers %q", len(auth), auth)
	}
}
