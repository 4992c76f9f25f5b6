package agent

import (
	"crypto"

	"github.com/certagent/certagent/agent/formats"
	"github.com/certagent/certagent/agent/pki"
)

// refusesReuse lists the problems of a pair on disk after which its key
// is not certified again: the key is unreadable, not the cert's, not of
// the configured type or strength, or the cert is not from the issuer
// (someone else may have put the key there). Expiry, changed names and
// chain defects say nothing about the key and do not stop reuse.
var refusesReuse = map[pki.ProblemKind]bool{
	pki.ProblemMissing:    true,
	pki.ProblemUnreadable: true,
	pki.ProblemUnparsable: true,
	pki.ProblemMismatch:   true,
	pki.ProblemKeyType:    true,
	pki.ProblemWeakKey:    true,
	pki.ProblemIssuer:     true,
}

// applyReuse sets req.ReuseKey, with req.CurrentKey the key to certify
// again, when reuse_key applies to the key on disk; otherwise ReuseKey is
// false and the issuer makes a new key (a step issuer: /1.0/rekey).
func (a *Agent) applyReuse(st *certState, req *Request) {
	req.ReuseKey = false
	if key := a.keyToReuse(st); key != nil {
		req.ReuseKey, req.CurrentKey = true, key
	}
}

// keyToReuse returns the key on disk to certify again when reuse_key is
// set and the key is still fit, else nil (the issuer makes a fresh key).
// It logs why a configured reuse does not happen.
func (a *Agent) keyToReuse(st *certState) crypto.Signer {
	c := st.cfg
	if !c.ReuseKey || st.leaf == nil {
		return nil
	}
	log := a.log.With("cert", st.name)
	key, why := a.reusableKey(st)
	if key == nil {
		log.Info("reuse_key: issuing with a new key", "event", "key_rotated", "reason", why)
		return nil
	}
	log.Debug("reuse_key: certifying the key on disk again")
	return key
}

// reusableKey reads and checks the key on disk; on refusal it says why.
func (a *Agent) reusableKey(st *certState) (crypto.Signer, string) {
	c := st.cfg
	if keyCompromised(st) {
		return nil, "the key was reported compromised"
	}
	if st.keyRemoved {
		return nil, "the key was removed after start (remove_key_after_start)"
	}
	for _, p := range st.problems {
		if refusesReuse[p.Kind] {
			return nil, "the files on disk have a problem: " + string(p.Kind)
		}
	}
	data, err := pki.ReadFileLimited(c.KeyFile, pki.MaxFileSize)
	if err != nil {
		return nil, "cannot read the key: " + err.Error()
	}
	pw, err := readPassword(c, c.KeyPassword(), "key")
	if err != nil {
		return nil, err.Error()
	}
	key, err := formats.DecodeKey(data, pw)
	if err != nil {
		return nil, "cannot decode the key: " + err.Error()
	}
	kt, err := pki.KeyTypeOf(key)
	switch {
	case err != nil:
		return nil, err.Error()
	case kt != pki.KeyType(c.KeyType):
		return nil, "the key is " + string(kt) + ", key_type is " + c.KeyType
	case kt.RSABits() > 0 && kt.RSABits() < a.cfg.Agent.MinRSABits:
		return nil, "the key is weaker than min_rsa_bits"
	}
	if leaf, _, err := rereadLeaf(st); err != nil || !pki.KeyMatches(leaf, key) {
		return nil, "the key does not match the certificate"
	}
	return key, ""
}

// keyCompromised reports whether the cert on disk was revoked for
// keyCompromise (`certagent revoke --reason keyCompromise`, recorded in
// state_dir/revoked/): its key must never be certified again.
func keyCompromised(st *certState) bool {
	return st.revokedOnDisk() && st.revoked.Reason == ReasonKeyCompromise.String()
}
