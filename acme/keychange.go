package acme

// Account key rollover (RFC 8555 section 7.3.5).
//
// lego v4.35.2 parses the directory's keyChange URL but offers no call
// for it, and its JWS signer lives in an internal package. So this file
// builds the nested JWS with go-jose/v4 (the library lego itself signs
// with, already in the module graph) and fetches the replay nonce itself.
//
// Crash safety: the new key is written to account.key.new before the CA
// hears of it, and replaces account.key only after the CA accepted it.
// A crash (or a lost answer) in between leaves both files; the next use
// of the account asks the CA which of the two it knows (resolveStaged),
// so the account is never lost, whichever instant the process died.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	legoacme "github.com/go-acme/lego/v4/acme"
	"github.com/go-acme/lego/v4/lego"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/certagent/certagent/internal/failpoint"
	"github.com/certagent/certagent/internal/safefile"
)

// stagedKeyFile holds a new account key until the CA has accepted it.
const stagedKeyFile = "account.key.new"

// maxNonceRetries bounds retries of the keyChange POST after badNonce.
const maxNonceRetries = 3

// RolloverAccountKey replaces the ACME account key: it registers the
// account if need be, generates a new P-256 key, has the CA bind the
// account to it and stores it in place of the old one. Afterwards the
// CA refuses the old key. It is safe to call while orders run in other
// processes: their next request with the old key fails as unauthorized
// and they reload the key from disk.
func (i *Issuer) RolloverAccountKey(ctx context.Context) (accountURI string, err error) {
	if err := i.ensureStateDir(); err != nil {
		return "", err
	}
	hc, _ := i.clients.forContext(ctx)
	i.acctMu.Lock()
	defer i.acctMu.Unlock()
	acct, err := i.ensureAccount(hc)
	if err != nil {
		return "", err
	}
	newKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	staged := filepath.Join(i.stateDir, stagedKeyFile)
	pemKey, err := encodeAccountKey(newKey)
	if err != nil {
		return "", err
	}
	if err := writeAtomic(staged, pemKey); err != nil {
		return "", fmt.Errorf("stage new account key: %w", err)
	}
	failpoint.Hit("acme-keychange-staged")
	if err := i.postKeyChange(hc, acct, newKey); err != nil {
		var pe *ProblemError
		if errors.As(err, &pe) {
			// The CA answered and refused: the old key stays the account's.
			_ = safefile.RemoveFile(staged, false)
		} else {
			i.acct = nil // unknown outcome: resolveStaged decides at next use
		}
		return "", err
	}
	failpoint.Hit("acme-keychange-accepted")
	if err := promoteStaged(i.stateDir, pemKey); err != nil {
		i.acct = nil
		return "", err
	}
	acct.key = newKey
	i.log.Info("ACME account key rolled over", "account", acct.Registration.URI)
	return acct.Registration.URI, nil
}

// promoteStaged makes the staged key the account key, then drops the
// staged copy. A crash between the two leaves equal files, which
// resolveStaged settles without asking the CA.
func promoteStaged(dir string, pemKey []byte) error {
	if err := writeAtomic(filepath.Join(dir, accountKeyFile), pemKey); err != nil {
		return fmt.Errorf("store new account key (the CA accepted it; it is kept in %s): %w",
			filepath.Join(dir, stagedKeyFile), err)
	}
	return safefile.RemoveFile(filepath.Join(dir, stagedKeyFile), false)
}

// keyReplacedOnDisk reports whether account.key no longer holds the key
// acct signs with, as after a rollover by another process (the CA then
// refuses the cached key, with a problem that does not say so clearly).
func keyReplacedOnDisk(dir string, acct *account) bool {
	data, err := os.ReadFile(filepath.Join(dir, accountKeyFile))
	if err != nil {
		return false
	}
	k, err := parseAccountKey(data, accountKeyFile)
	if err != nil {
		return false
	}
	pub, ok := k.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && !pub.Equal(acct.key.Public())
}

// resolveStaged settles an interrupted rollover: when account.key.new
// exists, the key the CA knows becomes account.key and the other one is
// removed. When the CA cannot say (unreachable), it returns an error and
// keeps both files: ordering with a guess could register a new account.
// It is called with i.acctMu held, before the stored account is used.
func (i *Issuer) resolveStaged(hc *http.Client) error {
	staged := filepath.Join(i.stateDir, stagedKeyFile)
	stagedPEM, err := os.ReadFile(staged)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read staged account key: %w", err)
	}
	current, err := os.ReadFile(filepath.Join(i.stateDir, accountKeyFile))
	if err == nil && bytes.Equal(current, stagedPEM) {
		return safefile.RemoveFile(staged, false)
	}
	key, err := parseAccountKey(stagedPEM, staged)
	if err != nil {
		// A torn staged key never reached the CA: the write is atomic,
		// so this is damage, not our crash; keep the old key.
		i.log.Warn("unusable staged account key removed", "path", staged, "error", err)
		return safefile.RemoveFile(staged, false)
	}
	client, err := lego.NewClient(i.legoConfig(hc, &account{Directory: i.cfg.Directory, key: key}))
	if err != nil {
		return mapError("connect to ACME directory", err)
	}
	_, err = client.Registration.ResolveAccountByKey()
	var prob *legoacme.ProblemDetails
	switch {
	case err == nil:
		i.log.Warn("completing an interrupted account key rollover: the CA knows the new key")
		return promoteStaged(i.stateDir, stagedPEM)
	case errors.As(err, &prob) && strings.HasSuffix(prob.Type, ":accountDoesNotExist"):
		i.log.Warn("discarding the key of an interrupted account key rollover: the CA never accepted it")
		return safefile.RemoveFile(staged, false)
	default:
		return mapError("resolve interrupted account key rollover", err)
	}
}

// postKeyChange sends the keyChange request: an inner JWS signed by the
// new key (jwk header) naming the account and the old key, wrapped in
// an outer JWS signed by the old key (kid header) like any other request.
func (i *Issuer) postKeyChange(hc *http.Client, acct *account, newKey crypto.Signer) error {
	dir, err := fetchDirectory(hc, i.cfg.Directory)
	if err != nil {
		return err
	}
	if dir.KeyChangeURL == "" {
		return errors.New("account key rollover: the CA's directory has no keyChange URL")
	}
	inner, err := innerKeyChange(dir.KeyChangeURL, acct, newKey)
	if err != nil {
		return err
	}
	nonce, err := fetchNonce(hc, dir.NewNonceURL)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		body, err := signJWS(acct.key, dir.KeyChangeURL, acct.Registration.URI, nonce, false, []byte(inner))
		if err != nil {
			return err
		}
		next, err := postJOSE(hc, dir.KeyChangeURL, body)
		var pe *ProblemError
		if errors.As(err, &pe) && strings.HasSuffix(pe.Type, ":badNonce") && next != "" && attempt < maxNonceRetries {
			nonce = next
			continue
		}
		return err
	}
}

// innerKeyChange is the inner JWS of RFC 8555 section 7.3.5: no nonce,
// the same url as the outer JWS, the new key embedded as jwk.
func innerKeyChange(url string, acct *account, newKey crypto.Signer) (string, error) {
	oldJWK := jose.JSONWebKey{Key: acct.key.Public()}
	payload, err := json.Marshal(struct {
		Account string          `json:"account"`
		OldKey  jose.JSONWebKey `json:"oldKey"`
	}{acct.Registration.URI, oldJWK})
	if err != nil {
		return "", err
	}
	return signJWS(newKey, url, "", "", true, payload)
}

// signJWS signs payload in the flattened JSON serialization ACME uses.
// With embed the public key goes in a jwk header, else kid names it.
func signJWS(key crypto.Signer, url, kid, nonce string, embed bool, payload []byte) (string, error) {
	alg, err := jwsAlgorithm(key)
	if err != nil {
		return "", err
	}
	jwk := jose.JSONWebKey{Key: key}
	if !embed {
		jwk.KeyID = kid
	}
	headers := map[jose.HeaderKey]any{"url": url}
	if nonce != "" {
		headers[jose.HeaderKey("nonce")] = nonce
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jwk},
		&jose.SignerOptions{EmbedJWK: embed, ExtraHeaders: headers})
	if err != nil {
		return "", fmt.Errorf("jws signer: %w", err)
	}
	sig, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("jws sign: %w", err)
	}
	return sig.FullSerialize(), nil
}

// jwsAlgorithm is the JWS algorithm for an account key.
func jwsAlgorithm(key crypto.Signer) (jose.SignatureAlgorithm, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return jose.RS256, nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return jose.ES256, nil
		case elliptic.P384():
			return jose.ES384, nil
		}
	}
	return "", fmt.Errorf("account key of type %T is not supported for signing", key)
}

// fetchDirectory reads the CA's ACME directory.
func fetchDirectory(hc *http.Client, url string) (*legoacme.Directory, error) {
	resp, err := hc.Get(url)
	if err != nil {
		return nil, fmt.Errorf("fetch ACME directory: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch ACME directory: HTTP %d", resp.StatusCode)
	}
	var dir legoacme.Directory
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&dir); err != nil {
		return nil, fmt.Errorf("fetch ACME directory: %w", err)
	}
	return &dir, nil
}

// fetchNonce gets a fresh replay nonce (RFC 8555 section 7.2).
func fetchNonce(hc *http.Client, url string) (string, error) {
	resp, err := hc.Head(url)
	if err != nil {
		return "", fmt.Errorf("fetch ACME nonce: %w", err)
	}
	resp.Body.Close()
	n := resp.Header.Get("Replay-Nonce")
	if n == "" {
		return "", fmt.Errorf("fetch ACME nonce: HTTP %d without Replay-Nonce", resp.StatusCode)
	}
	return n, nil
}

// postJOSE posts a JWS. A problem answer becomes *ProblemError; the
// returned nonce is the answer's Replay-Nonce, for a badNonce retry.
func postJOSE(hc *http.Client, url, body string) (nonce string, err error) {
	resp, err := hc.Post(url, "application/jose+json", strings.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("account key rollover: %w", err)
	}
	defer resp.Body.Close()
	nonce = resp.Header.Get("Replay-Nonce")
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 300 {
		return nonce, nil
	}
	var prob legoacme.ProblemDetails
	if json.Unmarshal(data, &prob) != nil || prob.Type == "" {
		return nonce, fmt.Errorf("account key rollover: HTTP %d", resp.StatusCode)
	}
	return nonce, &ProblemError{Op: "account key rollover", Type: prob.Type, Detail: prob.Detail,
		Status: resp.StatusCode, Err: &prob}
}

// encodeAccountKey is the PKCS#8 PEM form account.key holds.
func encodeAccountKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// parseAccountKey parses account.key's PEM form; path is for messages.
func parseAccountKey(data []byte, path string) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("account key %s: no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("account key %s: %w", path, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("account key %s: unsupported key", path)
	}
	return signer, nil
}
