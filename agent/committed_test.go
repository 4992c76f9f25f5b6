package agent

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/agent/store"
)

// observeCommitted checks the committed bytes only when they are the
// whole story: a set without every output file of the cert, or with a
// file too large for Inspect, is read back like any other cert.
func TestObserveCommittedFallsBackToReading(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	if err := ta.RenewOnce(context.Background(), nil, false); err != nil {
		t.Fatal(err)
	}
	st := ta.certs["a"]
	now := time.Now()
	re := observeCert(ta.cfg, st.cfg, nil, now)
	if re.leaf == nil || len(re.problems) != 0 {
		t.Fatalf("re-read: %+v", re)
	}
	bogus := []byte("not a certificate\n")
	for name, files := range map[string][]store.File{
		"no key in the set": {{Path: st.cfg.CertFile, Data: bogus}},
		"cert too large":    {{Path: st.cfg.CertFile, Data: make([]byte, pki.MaxFileSize+1)}, {Path: st.cfg.KeyFile, Data: bogus}},
	} {
		got := observeCommitted(ta.cfg, st.cfg, files, nil, nil, nil, now)
		if !sameSummary(got.leaf, re.leaf) || !slices.Equal(got.problems, re.problems) {
			t.Errorf("%s: %+v, want the files read: %+v", name, got, re)
		}
	}
	// A whole set is checked from its bytes, which here are not a cert.
	got := observeCommitted(ta.cfg, st.cfg, []store.File{{Path: st.cfg.KeyFile, Data: bogus}, {Path: st.cfg.CertFile, Data: bogus}}, nil, nil, nil, now)
	if got.leaf != nil || len(got.problems) == 0 {
		t.Fatalf("bogus committed bytes observed as %+v", got)
	}
}

// sameSummary reports whether a and b summarize the same certificate
// (both nil counts).
func sameSummary(a, b *leafSummary) bool {
	return a == b || (a != nil && b != nil && *a == *b)
}
