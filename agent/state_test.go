package agent

import (
	"crypto/x509"
	"math/big"
	"testing"
	"time"

	"github.com/certagent/certagent/agent/pki"
)

// TestDueNotYetValid: a cert ahead of the system clock is re-issued when
// it came from elsewhere, but not when it is the one this process just
// issued (the clock is wrong; a new cert would be dated the same way and
// the renewal would loop). Then it shows as not_yet_valid and the next
// renewal stays the policy's time.
func TestDueNotYetValid(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(0xabc), NotBefore: now.Add(23 * time.Hour), NotAfter: now.Add(90 * 24 * time.Hour)}
	nyv := pki.Problem{Kind: pki.ProblemNotYetValid, Detail: "certificate is not valid before tomorrow"}
	other := pki.Problem{Kind: pki.ProblemMismatch, Detail: "key does not match"}
	renewAt := now.Add(60 * 24 * time.Hour)
	cases := []struct {
		name      string
		issued    string
		problems  []pki.Problem
		wantDue   bool
		wantState string
	}{
		{"own cert, clock behind", "abc", []pki.Problem{nyv}, false, StateNotYetValid},
		{"cert from elsewhere", "", []pki.Problem{nyv}, true, StateNotYetValid},
		{"an older own cert", "def", []pki.Problem{nyv}, true, StateNotYetValid},
		{"own cert, also damaged", "abc", []pki.Problem{nyv, other}, true, StateNotYetValid},
		{"not inspected since the clock step", "abc", nil, false, StateNotYetValid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &certState{leaf: summarize(leaf), problems: tc.problems, issuedSerial: tc.issued, renewAt: renewAt}
			if due, why := s.due(now); due != tc.wantDue {
				t.Errorf("due = %v (%q), want %v", due, why, tc.wantDue)
			}
			if got := s.state(now, 14*24*time.Hour); got != tc.wantState {
				t.Errorf("state = %q, want %q", got, tc.wantState)
			}
			if !tc.wantDue && !s.nextRenewal().Equal(renewAt) {
				t.Errorf("next renewal %s, want the policy's %s (a zero or past time would wake the loop at once)", s.nextRenewal(), renewAt)
			}
		})
	}
}
