package agent

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/internal/safefile"
)

// revokedDir holds one record per cert that `certagent revoke` revoked:
// state_dir/revoked/NAME. It is written right after the CA accepted the
// revocation and before anything is re-issued, so a crash in between
// still re-issues: the next pass (daemon or `certagent renew`) finds the
// record naming the serial on disk and renews it at once.
const revokedDir = "revoked"

// revocationRecord is the content of a record.
type revocationRecord struct {
	Serial    string    `json:"serial"`
	Reason    string    `json:"reason"`
	RevokedAt time.Time `json:"revoked_at"`
	// Reissue is false after --no-reissue: the revoked files stay and the
	// cert shows state revoked until an operator renews it.
	Reissue bool `json:"reissue"`
	// Pending: the CA has not revoked Serial yet. An issuer that revokes
	// after re-issuing (ReissueFirstRevoker) gets the record before the
	// new pair is made; every pass retries it once that pair is deployed.
	Pending bool `json:"pending,omitempty"`
	// Cert is the DER of the certificate to revoke, kept while Pending:
	// the files on disk hold its replacement by then.
	Cert []byte `json:"cert,omitempty"`
}

// RevocationStatus is the last revocation of a cert, as shown by status.
type RevocationStatus struct {
	Serial    string    `json:"serial"`
	Reason    string    `json:"reason"`
	RevokedAt time.Time `json:"revoked_at"`
	// Pending: the CA has not accepted the revocation yet (step, after the
	// replacement was deployed); the state is revoke_pending and Error
	// says why the last attempt failed.
	Pending bool      `json:"pending,omitempty"`
	Error   string    `json:"error,omitempty"`
	RetryAt time.Time `json:"retry_at,omitzero"`
}

// writeRevocation stores the record atomically (safefile: temp, fsync,
// rename, fsync dir) in a root-only directory.
func writeRevocation(stateDir, cert string, r revocationRecord) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	d, err := safefile.OpenDir(filepath.Join(stateDir, revokedDir), true, 0o700)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Replace(cert, append(b, '\n'), safefile.Private, nil)
}

// removeRevocation deletes cert's record (a pending one whose
// replacement failed, so nothing was revoked).
func removeRevocation(stateDir, cert string) error {
	err := os.Remove(filepath.Join(stateDir, revokedDir, cert))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// readRevocation returns cert's record, or nil when there is none or it
// cannot be read (a damaged record must not block renewals).
func readRevocation(stateDir, cert string) *revocationRecord {
	b, err := pki.ReadFileLimited(filepath.Join(stateDir, revokedDir, cert), 1<<16)
	if err != nil {
		return nil
	}
	var r revocationRecord
	if json.Unmarshal(b, &r) != nil || r.Serial == "" {
		return nil
	}
	return &r
}
