package metrics

// newIssuerFamily is certagent_cert_issuer: 1 for the issuer that issued
// the cert on disk (with an issuer list, the primary or a fallback).
func newIssuerFamily() *family {
	return newFamily(typeGauge, "certagent_cert_issuer",
		"The issuer that issued the certificate on disk: 1 for that issuer (one of the cert's issuer list).", "cert", "issuer")
}

// SetCertIssuer records which issuer issued cert; "" (unknown, or no
// cert on disk) removes the series.
func (m *Metrics) SetCertIssuer(cert, issuer string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if prev, ok := m.issuers[cert]; ok && prev != issuer {
		m.issuer.delete(cert, prev)
	}
	if issuer == "" {
		delete(m.issuers, cert)
		return
	}
	m.issuers[cert] = issuer
	m.issuer.set(1, cert, issuer)
}
