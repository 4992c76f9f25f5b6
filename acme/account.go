package acme

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/certagent/certagent/internal/safefile"
	legoacme "github.com/go-acme/lego/v4/acme"
	"github.com/go-acme/lego/v4/lego"
	"github.com/go-acme/lego/v4/registration"
)

// Files in the issuer's state directory.
const (
	accountKeyFile  = "account.key"
	accountJSONFile = "account.json"
)

// account is the persisted ACME account; it implements registration.User.
type account struct {
	Directory    string                 `json:"directory"`
	Email        string                 `json:"email,omitempty"`
	Registration *registration.Resource `json:"registration"`
	key          crypto.Signer
}

func (a *account) GetEmail() string                        { return a.Email }
func (a *account) GetRegistration() *registration.Resource { return a.Registration }
func (a *account) GetPrivateKey() crypto.PrivateKey        { return a.key }

// loadAccount reads the account key and registration from dir. A missing
// registration (or one for another directory) yields a nil Registration;
// a missing key yields a nil account.
func loadAccount(dir, directory string) (*account, error) {
	keyPEM, err := os.ReadFile(filepath.Join(dir, accountKeyFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read account key: %w", err)
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, fmt.Errorf("account key %s: no PEM block", filepath.Join(dir, accountKeyFile))
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("account key %s: %w", filepath.Join(dir, accountKeyFile), err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("account key %s: unsupported key", filepath.Join(dir, accountKeyFile))
	}
	acct := &account{Directory: directory, key: signer}
	data, err := os.ReadFile(filepath.Join(dir, accountJSONFile))
	if errors.Is(err, os.ErrNotExist) {
		return acct, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read account: %w", err)
	}
	var stored account
	if err := json.Unmarshal(data, &stored); err != nil {
		return nil, fmt.Errorf("account %s: %w", filepath.Join(dir, accountJSONFile), err)
	}
	if stored.Directory == directory && stored.Registration != nil && stored.Registration.URI != "" {
		acct.Registration = stored.Registration
	}
	return acct, nil
}

// newAccountKey generates a P-256 account key and stores it in dir.
func newAccountKey(dir, directory string) (*account, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := writeAtomic(filepath.Join(dir, accountKeyFile), data); err != nil {
		return nil, fmt.Errorf("store account key: %w", err)
	}
	// A new key invalidates any stored registration.
	if err := safefile.RemoveFile(filepath.Join(dir, accountJSONFile), false); err != nil {
		return nil, err
	}
	return &account{Directory: directory, key: k}, nil
}

// save stores the registration next to the key.
func (a *account) save(dir string) error {
	data, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, accountJSONFile), append(data, '\n'))
}

// ensureAccount returns a registered account, registering (or, when the
// CA no longer knows the stored one, re-registering with a fresh key) as
// needed. It is called with i.acctMu held.
func (i *Issuer) ensureAccount(hc *http.Client) (*account, error) {
	if i.acct != nil {
		return i.acct, nil
	}
	acct, err := loadAccount(i.stateDir, i.cfg.Directory)
	if err != nil {
		return nil, err
	}
	if acct != nil && acct.Registration != nil {
		usable, err := i.checkAccount(hc, acct)
		if err != nil {
			return nil, err
		}
		if usable {
			i.acct = acct
			return acct, nil
		}
		i.log.Warn("ACME account unknown or no longer valid at the CA; registering a new one",
			"account", acct.Registration.URI)
		acct = nil
	}
	if acct == nil {
		if acct, err = newAccountKey(i.stateDir, i.cfg.Directory); err != nil {
			return nil, err
		}
	}
	acct.Email = i.cfg.Email
	if err := i.register(hc, acct); err != nil {
		return nil, err
	}
	if err := acct.save(i.stateDir); err != nil {
		return nil, fmt.Errorf("store account: %w", err)
	}
	i.log.Info("registered ACME account", "account", acct.Registration.URI)
	i.acct = acct
	return acct, nil
}

// checkAccount asks the CA whether the stored account is still valid.
// It returns false (not an error) when the CA says it is unknown,
// deactivated or revoked.
func (i *Issuer) checkAccount(hc *http.Client, acct *account) (bool, error) {
	client, err := lego.NewClient(i.legoConfig(hc, acct))
	if err != nil {
		return false, mapError("connect to ACME directory", err)
	}
	res, err := client.Registration.QueryRegistration()
	if err != nil {
		var prob *legoacme.ProblemDetails
		if errors.As(err, &prob) && (strings.HasSuffix(prob.Type, ":accountDoesNotExist") ||
			strings.HasSuffix(prob.Type, ":unauthorized")) {
			return false, nil
		}
		return false, mapError("query ACME account", err)
	}
	return res.Body.Status == "" || res.Body.Status == legoacme.StatusValid, nil
}

// register creates the account at the CA, with EAB when configured.
func (i *Issuer) register(hc *http.Client, acct *account) error {
	acct.Registration = nil
	client, err := lego.NewClient(i.legoConfig(hc, acct))
	if err != nil {
		return mapError("connect to ACME directory", err)
	}
	var res *registration.Resource
	if i.cfg.EABKID != "" {
		hmac, err := readSecret(i.cfg.EABHMACFile)
		if err != nil {
			return fmt.Errorf("eab_hmac_file: %w", err)
		}
		res, err = client.Registration.RegisterWithExternalAccountBinding(registration.RegisterEABOptions{
			TermsOfServiceAgreed: true, Kid: i.cfg.EABKID, HmacEncoded: hmac,
		})
		if err != nil {
			return mapError("register ACME account with external account binding (eab_kid "+i.cfg.EABKID+")", err)
		}
	} else {
		res, err = client.Registration.Register(registration.RegisterOptions{TermsOfServiceAgreed: true})
		if err != nil {
			return mapError("register ACME account", err)
		}
	}
	// The binding is a one-time proof; keep nothing derived from the HMAC.
	res.Body.ExternalAccountBinding = nil
	acct.Registration = res
	return nil
}

// readSecret reads a one-line secret file, trimming surrounding space.
func readSecret(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

// writeAtomic writes data to path with mode 0600 (safefile.WriteFile:
// mode before the first byte, fsync, rename, fsync dir, and a temp name
// the store's Recover sweeps after a crash).
func writeAtomic(path string, data []byte) error {
	return safefile.WriteFile(path, data, safefile.Private)
}
