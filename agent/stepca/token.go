package stepca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/certagent/certagent/agent/pki"
)

// tokenAlgs are the signature algorithms a provisioner token may use;
// the token is only read here, step-ca verifies it.
var tokenAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.ES512, jose.RS256, jose.RS384,
	jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.EdDSA}

// enrollToken is a one-time token as read from token_file: the JWT for
// /1.0/sign and what certagent reads from it before spending it.
type enrollToken struct {
	jwt string
	// root is the root certificate OpenFL appends to its tokens, or nil.
	root *x509.Certificate
	// sha is the root fingerprint step puts in its tokens, or "".
	sha     string
	subject string
	sans    []string
	expiry  time.Time
}

// tokenClaims are the claims of a step JWK provisioner token read here.
type tokenClaims struct {
	jwt.Claims
	SHA  string   `json:"sha"`
	SANs []string `json:"sans"`
}

// parseToken reads both token forms: a bare JWT from `step ca token`, and
// OpenFL's `base64(JWT) + "." + base64(root PEM)` from `fx pki get-token`.
// A JWT has two dots, OpenFL's form one (standard base64 has none).
func parseToken(data []byte) (*enrollToken, error) {
	s := strings.TrimSpace(string(data))
	if s == "" {
		return nil, errors.New("the token file is empty")
	}
	t := &enrollToken{jwt: s}
	if strings.Count(s, ".") == 1 {
		jwtPart, rootPart, _ := strings.Cut(s, ".")
		j, err := base64.StdEncoding.DecodeString(jwtPart)
		if err != nil {
			return nil, fmt.Errorf("not a step token nor an OpenFL token: %w", err)
		}
		rootPEM, err := base64.StdEncoding.DecodeString(rootPart)
		if err != nil {
			return nil, fmt.Errorf("OpenFL token: root certificate: %w", err)
		}
		roots, err := pki.ParseCertsPEM(rootPEM)
		if err != nil {
			return nil, fmt.Errorf("OpenFL token: root certificate: %w", err)
		}
		t.jwt, t.root = strings.TrimSpace(string(j)), roots[0]
	}
	tok, err := jwt.ParseSigned(t.jwt, tokenAlgs)
	if err != nil {
		return nil, fmt.Errorf("not a step one-time token: %w", err)
	}
	var cl tokenClaims
	if err := tok.UnsafeClaimsWithoutVerification(&cl); err != nil {
		return nil, fmt.Errorf("token claims: %w", err)
	}
	t.sha, t.subject, t.sans = strings.ToLower(cl.SHA), cl.Subject, cl.SANs
	if cl.Expiry != nil {
		t.expiry = cl.Expiry.Time()
	}
	return t, nil
}

// fingerprint is the SHA-256 of a certificate's DER, as `step
// certificate fingerprint` prints it.
func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// renewToken is the bearer token /1.0/renew accepts for a cert that has
// expired (when the provisioner sets allowRenewalAfterExpiry): a JWT
// signed by the cert's own key that carries the cert chain in an
// "x5cInsecure" header, with sub = the cert's CN, iss =
// "step-ca-client/1.0" and aud = the renew URL. step-ca checks the chain
// against its roots ignoring the validity period, and that the token is
// used once (jti).
func renewToken(key crypto.Signer, chain []*x509.Certificate, audience string, now time.Time) (string, error) {
	alg, err := signingAlg(key)
	if err != nil {
		return "", err
	}
	x5c := make([]string, len(chain))
	for i, c := range chain {
		x5c[i] = base64.StdEncoding.EncodeToString(c.Raw)
	}
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("x5cInsecure", x5c)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		return "", fmt.Errorf("renew token: %w", err)
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	cl := jwt.Claims{
		Issuer:    "step-ca-client/1.0",
		Subject:   chain[0].Subject.CommonName,
		Audience:  jwt.Audience{audience},
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		Expiry:    jwt.NewNumericDate(now.Add(5 * time.Minute)),
		ID:        hex.EncodeToString(jti),
	}
	return jwt.Signed(signer).Claims(cl).Serialize()
}

// signingAlg is the JWS algorithm for a certagent key type.
func signingAlg(key crypto.Signer) (jose.SignatureAlgorithm, error) {
	switch k := key.Public().(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return jose.ES256, nil
		case elliptic.P384():
			return jose.ES384, nil
		case elliptic.P521():
			return jose.ES512, nil
		}
	case *rsa.PublicKey:
		return jose.RS256, nil
	case ed25519.PublicKey:
		return jose.EdDSA, nil
	}
	return "", fmt.Errorf("renew token: unsupported key %T", key.Public())
}
