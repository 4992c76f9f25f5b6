package metrics

import "github.com/prometheus/client_golang/prometheus"

// newIssuerGauge is certagent_cert_issuer: 1 for the issuer that issued
// the cert on disk (with an issuer list, the primary or a fallback).
func newIssuerGauge() *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "certagent_cert_issuer",
		Help: "The issuer that issued the certificate on disk: 1 for that issuer (one of the cert's issuer list).",
	}, []string{"cert", "issuer"})
}

// SetCertIssuer records which issuer issued cert; "" (unknown, or no
// cert on disk) removes the series.
func (m *Metrics) SetCertIssuer(cert, issuer string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if prev, ok := m.issuers[cert]; ok && prev != issuer {
		m.issuer.DeleteLabelValues(cert, prev)
	}
	if issuer == "" {
		delete(m.issuers, cert)
		return
	}
	m.issuers[cert] = issuer
	m.issuer.WithLabelValues(cert, issuer).Set(1)
}
