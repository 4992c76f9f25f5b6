package agent

import (
	"context"
	"strings"
	"testing"
)

// TestReuseKeyHonoursCompromise: a key fit for reuse is refused once the
// cert on disk is marked compromised (the keyCompromise revocation hook),
// and the mark lapses with that cert.
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
	st.compromisedSerial = serialHex(st.leaf)
	if key, why := ta.reusableKey(st); key != nil || !strings.Contains(why, "compromised") {
		t.Fatalf("compromised key reusable (%q)", why)
	}
	if ta.keyToReuse(st) != nil || !strings.Contains(ta.logs(), `event=key_rotated reason="the key was reported compromised"`) {
		t.Fatalf("no key_rotated log:\n%s", ta.logs())
	}
	st.compromisedSerial = "another serial"
	if key, _ := ta.reusableKey(st); key == nil {
		t.Fatal("the mark of another cert blocks reuse")
	}
}
