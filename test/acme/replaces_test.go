package acme_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// refuseReplaces answers a newOrder whose JWS payload names a cert in
// "replaces" with the problem typ (and status), and forwards every other
// newOrder to Pebble unchanged.
func (p *faultProxy) refuseReplaces(t *testing.T, status int, typ, detail string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("proxy: read newOrder: %v", err)
		}
		var jws struct {
			Payload string `json:"payload"`
		}
		_ = json.Unmarshal(body, &jws)
		payload, _ := base64.RawURLEncoding.DecodeString(jws.Payload)
		if bytes.Contains(payload, []byte(`"replaces"`)) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]any{"type": typ, "detail": detail, "status": status})
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		p.rp.ServeHTTP(w, r)
	}
}

// TestProxyReplacesRefused: the CA refuses the renewal's order because
// of replaces, as unauthorized (another account ordered that cert:
// certagent re-registered after losing its account key) or as malformed
// (the CA never issued it: the directory changed, or the CA was reset),
// or as a server error about the replaced certificate (Pebble).
// certagent orders again at once without it, warns once, and the renewal
// succeeds with new files; no failure is reported.
func TestProxyReplacesRefused(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, typ, detail string
		status            int
	}{
		{"unauthorized", "urn:ietf:params:acme:error:unauthorized", "account is not authorized to replace this certificate", http.StatusForbidden},
		{"malformed", "urn:ietf:params:acme:error:malformed", "unable to find the certificate to be replaced", http.StatusBadRequest},
		// Pebble's own answer when it cannot tie the replaced cert to an
		// order (seen once after an account key rollover).
		{"server-internal", "urn:ietf:params:acme:error:serverInternal", "could not find an order for the given certificate: could not find order resulting in the given certificate serial number", http.StatusInternalServerError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newProxyRig(t, "replaces-"+tc.name, true)
			r.px.inject(kindNewOrder, r.px.refuseReplaces(t, tc.status, tc.typ, tc.detail))
			res := certagent(t, "renew", "--force", "--config", r.e.Config)
			if res.code != 0 {
				t.Fatalf("renew --force with replaces refused: exit %d\n%s", res.code, res.stderr)
			}
			if n := len(r.px.times(kindNewOrder)); n != 2 {
				t.Fatalf("%d newOrder requests, want 2 (with replaces, refused; then without)", n)
			}
			entries, _ := parseLog(res.stderr)
			if warned := withField(entries, "@level", "warn"); len(warned) != 1 ||
				!strings.Contains(warned[0].str("@message"), "ordering without replaces") {
				t.Errorf("want one warning about ordering without replaces, got %d:\n%s", len(warned), res.stderr)
			}
			if failed := withField(entries, "event", "renew_failed"); len(failed) != 0 {
				t.Errorf("the retried order was reported as failed:\n%s", res.stderr)
			}
			r.renewedOK(t)
			summary("proxy %d %s on newOrder with replaces (renew --force): ordered again without replaces, 2 newOrder, one warning; issued", tc.status, tc.name)
		})
	}
}
