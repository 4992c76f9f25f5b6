package agent

// Which issuer issued each cert, kept in the state dir so that status and
// metrics can say it after a restart, and the roots an ACME issuer issued
// under, so that ca_file can hold them when another issuer of the list
// issues.

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io/fs"
	"path/filepath"

	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/internal/safefile"
)

// State dir entries: issued-by/CERT (JSON: serial → issuer, the last few
// certs) and issuer-roots/ISSUER.pem.
const (
	issuedByDir    = "issued-by"
	issuerRootsDir = "issuer-roots"
	// keepRecords bounds issued-by/CERT: enough for a cert issued whose
	// commit failed, next to the one still on disk.
	keepRecords = 4
)

// issuedRecord maps serials (hex) to the issuer name, with the order of
// issuance to drop the oldest.
type issuedRecord struct {
	Serials map[string]string `json:"serials"`
	Order   []string          `json:"order"`
}

// recordIssuer notes which issuer issued b, before b is committed: a
// record whose serial never reaches the disk is never shown. A write
// failure only costs status its issued_by, so it is logged, not fatal.
//
// Both writes are fsynced twice (file and directory), so they are only
// made when they tell something: the issued-by record only for a cert
// with an issuer list (a one-issuer cert's issuer is its issuer, see
// issuedByFor, whatever the record says), and the roots only when they
// differ from the ones kept (a pass of N certs from one CA would
// otherwise rewrite the same file N times).
func (a *Agent) recordIssuer(st *certState, b *Bundle) {
	if b.issuer == "" {
		return
	}
	dir := a.cfg.Agent.StateDir
	if len(issuerNames(st)) > 1 {
		if err := addIssuedRecord(dir, st.name, serialHex(b.Leaf), b.issuer); err != nil {
			a.log.Warn("cannot record which issuer issued the cert", "cert", st.name, "error", err)
		}
	}
	if len(b.Roots) == 0 {
		return
	}
	data := pki.EncodeCertsPEM(b.Roots...)
	a.rootsMu.Lock()
	defer a.rootsMu.Unlock()
	if bytes.Equal(a.rootsKept[b.issuer], data) {
		return
	}
	if err := writeLearnedRoots(dir, b.issuer, data); err != nil {
		a.log.Warn("cannot record the issuer's roots", "issuer", b.issuer, "error", err)
		return
	}
	if a.rootsKept == nil {
		a.rootsKept = map[string][]byte{}
	}
	a.rootsKept[b.issuer] = data
}

func addIssuedRecord(stateDir, cert, serial, issuer string) error {
	rec := readIssuedRecord(stateDir, cert)
	if _, ok := rec.Serials[serial]; !ok {
		rec.Order = append(rec.Order, serial)
	}
	rec.Serials[serial] = issuer
	for len(rec.Order) > keepRecords {
		delete(rec.Serials, rec.Order[0])
		rec.Order = rec.Order[1:]
	}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	d, err := safefile.OpenDir(filepath.Join(stateDir, issuedByDir), true, 0o700)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Replace(cert, append(data, '\n'), safefile.Private, nil)
}

// readIssuedRecord returns cert's record, empty when there is none or it
// is damaged (it is informational only).
func readIssuedRecord(stateDir, cert string) issuedRecord {
	rec := issuedRecord{Serials: map[string]string{}}
	data, err := pki.ReadFileLimited(filepath.Join(stateDir, issuedByDir, cert), 1<<16)
	if err != nil || json.Unmarshal(data, &rec) != nil || rec.Serials == nil {
		return issuedRecord{Serials: map[string]string{}}
	}
	return rec
}

// issuedBy names the issuer of the cert on disk: the only issuer of a
// one-issuer list (without reading a record: status asks for every cert
// after each pass), else the recorded one when it is still in the cert's
// list, else "" (unknown: issued before certagent recorded it).
func (a *Agent) issuedBy(st *certState) string {
	return issuedByFor(a.cfg.Agent.StateDir, st)
}

// issuedByFor is issuedBy for a state dir, without an Agent (status from
// disk).
func issuedByFor(stateDir string, st *certState) string {
	serial := st.leaf.Serial()
	if serial == "" {
		return ""
	}
	names := issuerNames(st)
	if len(names) == 1 {
		return names[0] // whatever a record says; and recordIssuer keeps none
	}
	if st.issuedBySerial != serial {
		st.issuedBySerial = serial
		st.issuedBy = readIssuedRecord(stateDir, st.name).Serials[serial]
	}
	for _, n := range names {
		if n == st.issuedBy {
			return n
		}
	}
	return ""
}

// ariIssuer is the issuer to ask for renewal information: the one that
// issued the cert on disk, else the primary.
func (a *Agent) ariIssuer(st *certState) string {
	if n := a.issuedBy(st); n != "" {
		return n
	}
	return st.cfg.Issuer
}

// writeLearnedRoots keeps the roots an issuer issued under (data, PEM);
// a file that already holds exactly them is left as it is.
func writeLearnedRoots(stateDir, issuer string, data []byte) error {
	path := filepath.Join(stateDir, issuerRootsDir, issuer+".pem")
	if old, err := pki.ReadFileLimited(path, pki.MaxFileSize); err == nil && bytes.Equal(old, data) {
		return nil
	}
	d, err := safefile.OpenDir(filepath.Dir(path), true, 0o700)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Replace(filepath.Base(path), data, safefile.Private, nil)
}

// readLearnedRoots returns the roots writeLearnedRoots kept; none when
// the issuer has not issued yet.
func readLearnedRoots(stateDir, issuer string) ([]*x509.Certificate, error) {
	data, err := pki.ReadFileLimited(filepath.Join(stateDir, issuerRootsDir, issuer+".pem"), pki.MaxFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return pki.ParseCertsPEM(data)
}

// IssuerMetrics is implemented by a Metrics that shows which issuer
// issued each cert (agent/metrics: certagent_cert_issuer).
type IssuerMetrics interface {
	SetCertIssuer(cert, issuer string)
}

// setIssuerMetric publishes r's issuer when m supports it; watch-only
// rows ("-") and unknown issuers publish nothing.
func setIssuerMetric(m Metrics, r CertStatus) {
	im, ok := m.(IssuerMetrics)
	if !ok || r.Issuer == "-" {
		return
	}
	im.SetCertIssuer(r.Name, r.IssuedBy)
}
