package agent

import (
	"context"
	"strings"
	"testing"
)

// TestReuseKeyHonoursCompromise: a key fit for reuse is refused once the
// cert on disk was revoked for keyCompromise; another reason, or the
// revocation of another serial, does not stop reuse.
func TestReuseKeyHonoursCompromise(t *testing.T) {
	ta := newTestAgent(t, strings.Replace(threeCertsOneUnit, `dns_names = ["a.example.com"]`,
		`dns_names = ["a.example.com"]`+"\nreuse_key = true", 1))
	if err := ta.RenewOnce(context.Background(), []string{"a"}, false); err != nil {
		t.Fatal(err)
	}
	st := ta.certs["a"]
	if key, why := ta.reusableKey(st); key == nil {
		t.Fatalf("fresh key not reusable: %s", why)
	}
	st.revoked = &revocationRecord{Serial: st.leaf.Serial(), Reason: "superseded"}
	if key, why := ta.reusableKey(st); key == nil {
		t.Fatalf("revoked as superseded: not reusable (%s)", why)
	}
	st.revoked.Reason = "keyCompromise"
	if key, why := ta.reusableKey(st); key != nil || !strings.Contains(why, "compromised") {
		t.Fatalf("compromised key reusable (%q)", why)
	}
	if ta.keyToReuse(st) != nil || !strings.Contains(ta.logs(), `event=key_rotated reason="the key was reported compromised"`) {
		t.Fatalf("no key_rotated log:\n%s", ta.logs())
	}
	st.revoked.Serial = "another serial"
	if key, _ := ta.reusableKey(st); key == nil {
		t.Fatal("the revocation of another cert blocks reuse")
	}
}
