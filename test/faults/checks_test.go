package faults

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/certagent/certagent/agent/pki"
)

// certSpec is what a managed cert's files must look like on disk.
type certSpec struct {
	name                         string
	cert, key, fullchain, caFile string
	keyMode, certMode            os.FileMode
	uid, gid                     int // -1: not checked
}

// checkSet verifies one cert's set: every file parses, the key matches
// the cert, the fullchain starts with the same leaf, and modes and owners
// are as configured. It returns the first problem.
func checkSet(s certSpec) error {
	cb, err := os.ReadFile(s.cert)
	if err != nil {
		return err
	}
	certs, err := pki.ParseCertsPEM(cb)
	if err != nil {
		return fmt.Errorf("%s: %w", s.cert, err)
	}
	kb, err := os.ReadFile(s.key)
	if err != nil {
		return err
	}
	key, err := pki.ParseKeyPEM(kb)
	if err != nil {
		return fmt.Errorf("%s: %w", s.key, err)
	}
	if !pki.KeyMatches(certs[0], key) {
		return fmt.Errorf("torn pair: %s does not match %s (serial %x)", s.key, s.cert, certs[0].SerialNumber)
	}
	if s.fullchain != "" {
		fb, err := os.ReadFile(s.fullchain)
		if err != nil {
			return err
		}
		full, err := pki.ParseCertsPEM(fb)
		if err != nil {
			return fmt.Errorf("%s: %w", s.fullchain, err)
		}
		if !bytes.Equal(full[0].Raw, certs[0].Raw) {
			return fmt.Errorf("torn set: %s starts with serial %x, %s is serial %x", s.fullchain, full[0].SerialNumber, s.cert, certs[0].SerialNumber)
		}
	}
	if s.caFile != "" {
		b, err := os.ReadFile(s.caFile)
		if err != nil {
			return err
		}
		if _, err := pki.ParseCertsPEM(b); err != nil {
			return fmt.Errorf("%s: %w", s.caFile, err)
		}
	}
	if err := checkMeta(s.key, s.keyMode, s.uid, s.gid); err != nil {
		return err
	}
	for _, p := range []string{s.cert, s.fullchain, s.caFile} {
		if p == "" {
			continue
		}
		if err := checkMeta(p, s.certMode, s.uid, s.gid); err != nil {
			return err
		}
	}
	return nil
}

func checkMeta(p string, mode os.FileMode, uid, gid int) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file (%s)", p, fi.Mode().Type())
	}
	if mode != 0 && fi.Mode().Perm() != mode {
		return fmt.Errorf("%s has mode %04o, want %04o", p, fi.Mode().Perm(), mode)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if (uid >= 0 && int(st.Uid) != uid) || (gid >= 0 && int(st.Gid) != gid) {
		return fmt.Errorf("%s is owned by %d:%d, want %d:%d", p, st.Uid, st.Gid, uid, gid)
	}
	return nil
}

// pairMatches is checkSet for a bare cert+key.
func pairMatches(cert, key string) error {
	return checkSet(certSpec{cert: cert, key: key, uid: -1, gid: -1})
}

// tempFiles lists certagent temp files (.NAME.certagent-HEX.tmp) under dir.
func tempFiles(dir string) []string {
	var out []string
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && strings.Contains(info.Name(), ".certagent-") && strings.HasSuffix(info.Name(), ".tmp") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// stagingLeft lists what is left in state/staging.
func stagingLeft(state string) []string {
	ents, _ := os.ReadDir(filepath.Join(state, "staging"))
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func fileHash(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return "missing"
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// snapshot records every path under dir with its mode, size, mtime and
// content hash, for "nothing was touched" checks.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() {
			// A failed write creates and deletes temps, which moves the
			// directory's mtime; its entries are compared one by one.
			out[p] = info.Mode().String()
			return nil
		}
		sig := fmt.Sprintf("%v %d %d", info.Mode(), info.Size(), info.ModTime().UnixNano())
		if info.Mode().IsRegular() && info.Size() < 4<<20 {
			sig += " " + fileHash(p)
		}
		out[p] = sig
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameSnapshot reports the differences between two snapshots.
func diffSnapshot(before, after map[string]string) []string {
	var d []string
	for p, s := range before {
		if a, ok := after[p]; !ok {
			d = append(d, "removed "+p)
		} else if a != s {
			d = append(d, "changed "+p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			d = append(d, "created "+p)
		}
	}
	return d
}
