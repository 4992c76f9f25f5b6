package agent

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

// TestLeafSummaryRereads: the state keeps a summary of the cert on disk;
// the paths that need the whole certificate read it again, and get it only
// while the file still holds the certificate inspected. A different
// certificate under the same name (another issuance, an outside writer)
// is refused until it is inspected.
func TestLeafSummaryRereads(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	if err := ta.RenewOnce(context.Background(), []string{"a"}, false); err != nil {
		t.Fatal(err)
	}
	st := ta.certs["a"]
	leaf, chain, err := rereadLeaf(st)
	if err != nil {
		t.Fatalf("reread of the cert inspected: %v", err)
	}
	if serialHex(leaf) != st.leaf.Serial() || !leaf.NotAfter.Equal(st.leaf.NotAfter()) || !leaf.NotBefore.Equal(st.leaf.NotBefore()) {
		t.Errorf("summary %+v does not describe the cert on disk (serial %s)", st.leaf, serialHex(leaf))
	}
	if len(chain) != 0 {
		t.Errorf("chain of %d certs, the file holds only the leaf", len(chain))
	}
	old := *st.leaf
	// Another issuance replaces the files; the state still holds the old
	// summary until inspected.
	saved := st.leaf
	if err := ta.RenewOnce(context.Background(), []string{"a"}, true); err != nil {
		t.Fatal(err)
	}
	if st.leaf.Serial() == old.serial {
		t.Fatal("forced renewal kept the serial")
	}
	st.leaf = saved
	if _, _, err := rereadLeaf(st); !errors.Is(err, errLeafChanged) {
		t.Errorf("reread after the file changed: %v, want errLeafChanged", err)
	}
	if err := os.Remove(st.cfg.CertFile); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rereadLeaf(st); err == nil || !strings.Contains(err.Error(), st.cfg.CertFile) {
		t.Errorf("reread of a missing file: %v", err)
	}
	st.leaf = nil
	if _, _, err := rereadLeaf(st); err == nil {
		t.Error("reread with no cert inspected succeeded")
	}
}

// TestLeafSummaryNil: a nil summary is "no certificate".
func TestLeafSummaryNil(t *testing.T) {
	var s *leafSummary
	if s.Serial() != "" || s.is(nil) || summarize(nil) != nil {
		t.Error("nil summary is not empty")
	}
}
