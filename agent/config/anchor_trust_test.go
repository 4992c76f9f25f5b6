package config

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// TestTrustAnchorFiles: a file that says which CA root certagent trusts
// (a notify target's ca_bundle, a step issuer's root_file, an ACME
// issuer's ca_bundle) follows the trust rule like a config file. The
// service user who could change one could put their own root there: a
// step issuer would then send its one-time token, and a webhook its
// headers, to whoever answers with a cert from that root.
func TestTrustAnchorFiles(t *testing.T) {
	dir, user := userTree(t)
	good := filepath.Join(dir, "root.pem")
	must(t, os.WriteFile(good, []byte("x"), 0o644))
	owned := filepath.Join(dir, "owned.pem")
	must(t, os.WriteFile(owned, []byte("x"), 0o644))
	must(t, os.Chown(owned, 65534, 65534))
	inUser := filepath.Join(user, "root.pem")
	must(t, os.WriteFile(inUser, []byte("x"), 0o644))
	viaLink := filepath.Join(dir, "via.pem") // root's link into the user's directory
	must(t, os.Symlink(inUser, viaLink))

	configs := map[string]func(string) string{
		"ca_bundle (notify)": func(p string) string {
			return certTOML() + "\n[notify.hook]\ntype = \"webhook\"\nurl = \"https://hooks.example.com/x\"\nca_bundle = \"" + p + "\"\n"
		},
		"root_file": func(p string) string {
			return stepTOML("ca_url = \"https://ca.example.com:9000\"\nroot_file = \""+p+"\"", "")
		},
		"ca_bundle (acme)": func(p string) string {
			return certTOML() + "\n[issuers.le]\ntype = \"acme\"\ndirectory = \"https://acme.example.com/dir\"\nemail = \"a@example.com\"\nca_bundle = \"" + p + "\"\n"
		},
	}
	for name, text := range configs {
		key := strings.Fields(name)[0]
		if got := parseLines(t, text(good), dir); got != nil {
			t.Errorf("%s: a root-owned file in a trusted directory is refused: %v", name, got)
		}
		for p, want := range map[string]string{
			owned:   "DIR/owned.pem is owned by uid 65534",
			inUser:  "directory DIR/user is owned by uid 65534",
			viaLink: "directory DIR/user is owned by uid 65534",
		} {
			got := parseLines(t, text(p), dir)
			if len(got) != 1 || !strings.Contains(got[0], `key "`+key+`"`) || !strings.Contains(got[0], want) {
				t.Errorf("%s = %s: want one error for key %q saying %q, got %q", name, p, key, want, got)
			}
		}
	}
}

// TestControlSocketDirTrusted: root binds and chmods the control socket
// by name, so its directory must be one no other user can change: a
// service user's directory, or a link into one, is a config error.
func TestControlSocketDirTrusted(t *testing.T) {
	dir, user := userTree(t)
	link := filepath.Join(dir, "run")
	must(t, os.Symlink(user, link))
	sock := func(p string) string { return "[agent]\ncontrol_socket = \"" + p + "\"\n\n" + certTOML() }
	if got := parseLines(t, sock(filepath.Join(dir, "new", "control.sock")), dir); got != nil {
		t.Errorf("a socket in a directory root will create is refused: %v", got)
	}
	for _, p := range []string{filepath.Join(user, "control.sock"), filepath.Join(link, "control.sock")} {
		got := parseLines(t, sock(p), dir)
		if len(got) != 1 || !strings.Contains(got[0], `key "control_socket"`) || !strings.Contains(got[0], "directory DIR/user is owned by uid 65534") {
			t.Errorf("control_socket = %s: want one error naming DIR/user, got %q", p, got)
		}
	}
}

// TestHeadersFileNotReadUnlessTrusted: validation parses a webhook's
// headers_file only once it passed the trust rule. A FIFO the service
// user made there (in their directory) must be reported, not opened: an
// open for reading would block check, the daemon's start and its reload
// until the user writes to it.
func TestHeadersFileNotReadUnlessTrusted(t *testing.T) {
	dir, user := userTree(t)
	fifo := filepath.Join(user, "ops.headers")
	must(t, syscall.Mkfifo(fifo, 0o600))
	must(t, os.Chown(fifo, 65534, 65534))
	text := certTOML() + "\n[notify.hook]\ntype = \"webhook\"\nurl = \"https://hooks.example.com/x\"\nheaders_file = \"" + fifo + "\"\n"
	done := make(chan []string, 1)
	go func() { done <- parseLines(t, text, dir) }()
	for {
		select {
		case got := <-done:
			if len(got) == 0 || !strings.Contains(strings.Join(got, "\n"), `key "headers_file"`) {
				t.Errorf("headers_file FIFO in the service user's directory: want an error for it, got %q", got)
			}
			return
		default:
		}
		// Succeeds only while a reader has the FIFO open: validation is
		// blocked in it. Unblock it and fail.
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
			<-done
			t.Fatal("validation opened the service user's FIFO headers_file for reading and blocked on it")
		}
		runtime.Gosched()
	}
}
