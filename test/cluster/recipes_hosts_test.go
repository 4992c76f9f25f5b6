package cluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/internal/testbin"
)

// The CA URL and root fingerprint every examples/*-cluster-*.toml names;
// a test points them at its step-ca.
const (
	exampleCAURL       = "https://ca.cluster.internal:9000"
	exampleFingerprint = "b567c0cbb2e85c295e6ade930e5bb349a4b9bee9489caa7d6b679dd46e82a711"
	// python is Debian's interpreter, which test/setup.d/50-recipes.sh
	// gives grpc and distributed (a pyenv python3 on PATH has neither).
	python = "/usr/bin/python3"
)

var (
	quotedAbsPath = regexp.MustCompile(`"(/[^"]*)"`)
	unitsLine     = regexp.MustCompile(`(?m)^units\s*=.*$`)
)

// roleHost is one host of a recipe's several-hosts example: the example
// file with its absolute paths moved under the host's own root, the CA
// URL and root fingerprint of the test's step-ca, and no units (there is
// no service manager here). Nothing else of the example is changed.
type roleHost struct {
	t                  *testing.T
	root, config, cred string
	cfg                *config.Config
}

// exampleHost lays out examples/file as one host of the cluster of ca.
func exampleHost(t *testing.T, ca *stepCA, file string) *roleHost {
	t.Helper()
	src := readFile(t, "../../examples/"+file)
	for _, want := range []string{exampleCAURL, exampleFingerprint} {
		if !strings.Contains(src, want) {
			t.Fatalf("examples/%s does not name %s", file, want)
		}
	}
	d := t.TempDir()
	h := &roleHost{t: t, root: d, config: filepath.Join(d, "certagent.toml"), cred: filepath.Join(d, "creds")}
	text := quotedAbsPath.ReplaceAllString(src, `"`+d+`$1"`)
	text = strings.ReplaceAll(text, exampleCAURL, ca.URL)
	text = strings.ReplaceAll(text, exampleFingerprint, ca.fingerprint())
	text = unitsLine.ReplaceAllString(text, "")
	if err := os.WriteFile(h.config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(h.config, []byte(text), config.Options{SkipFileChecks: true})
	if err != nil {
		t.Fatalf("examples/%s: %v", file, err)
	}
	h.cfg = cfg
	for _, dir := range []string{h.cred, h.path("/var/lib/certagent/tokens")} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// path is p (an absolute path in the example) on this host.
func (h *roleHost) path(p string) string { return filepath.Join(h.root, p) }

// credential stores a systemd credential as LoadCredentialEncrypted
// hands it to certagent ($CREDENTIALS_DIRECTORY).
func (h *roleHost) credential(name, value string) {
	h.t.Helper()
	if err := os.WriteFile(filepath.Join(h.cred, name), []byte(value+"\n"), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

// run runs certagent on the host's config and fails unless it exits 0.
func (h *roleHost) run(args ...string) string {
	h.t.Helper()
	args = append(args, "--config", h.config)
	r := testbin.Exec(h.t, 2*time.Minute, []string{"CREDENTIALS_DIRECTORY=" + h.cred}, bin, args...)
	if r.Code != 0 {
		h.t.Fatalf("certagent %s: exit %d\n%s%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout + r.Stderr
}

// enroll does what the example's header tells the operator: for every
// cert, a `step ca token` for exactly its names in its issuer's
// token_file, 0600; then `certagent check` and `certagent renew`. Every
// token must be spent and deleted.
func (h *roleHost) enroll(ca *stepCA) {
	h.t.Helper()
	var tokens []string
	for _, name := range h.cfg.CertNames() {
		ct := h.cfg.Certs[name]
		is := h.cfg.Issuers[ct.Issuer]
		if is.Type != "step" || is.TokenFile == "" {
			h.t.Fatalf("cert %s: issuer %s is not a step issuer with a token_file", name, ct.Issuer)
		}
		sans := append(append([]string{}, ct.DNSNames...), ct.IPAddresses...)
		if err := os.WriteFile(is.TokenFile, []byte(ca.token(sans[0], sans...)+"\n"), 0o600); err != nil {
			h.t.Fatal(err)
		}
		tokens = append(tokens, is.TokenFile)
	}
	h.run("check")
	h.run("renew")
	for _, tok := range tokens {
		if _, err := os.Stat(tok); !os.IsNotExist(err) {
			h.t.Errorf("token %s is still there after enrollment (%v)", tok, err)
		}
	}
}

// enrolledExample is exampleHost enrolled; a keyPassword is stored as
// every key_password_credential the example names.
func enrolledExample(t *testing.T, ca *stepCA, file, keyPassword string) *roleHost {
	t.Helper()
	h := exampleHost(t, ca, file)
	for _, name := range h.cfg.CertNames() {
		if cred := h.cfg.Certs[name].KeyPasswordCredential; cred != "" {
			h.credential(cred, keyPassword)
		}
	}
	h.enroll(ca)
	return h
}

// needPython skips (or fails, with CI=true) unless Debian's python3
// imports every module.
func needPython(t *testing.T, modules ...string) {
	t.Helper()
	for _, m := range modules {
		if out, err := exec.Command(python, "-c", "import "+m).CombinedOutput(); err != nil {
			testbin.Missing(t, "%s cannot import %s (test/setup.d/50-recipes.sh): %v %s", python, m, err, out)
		}
	}
}

// peer runs a Python peer script: its exit code, its stdout (what it
// found) and its stdout and stderr (for a failure message).
func peer(t *testing.T, script string, args ...string) (code int, found, all string) {
	t.Helper()
	r := testbin.Exec(t, 2*time.Minute, nil, python, append([]string{script}, args...)...)
	return r.Code, r.Stdout, r.Stdout + r.Stderr
}
