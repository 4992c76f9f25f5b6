package main

import (
	"bytes"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// poll is the harness's tight stat loop interval: it bounds the
// measurement error of every latency below.
const poll = time.Millisecond

// cmdReactWatch replaces a watch-only pair N times (alternating between
// two pre-made pairs, each replaced key first, then cert, by atomic
// rename) and measures until the exec hook wrote its timestamp.
func cmdReactWatch(args []string) error {
	fs := flag.NewFlagSet("react-watch", flag.ContinueOnError)
	certF := fs.String("cert", "", "watch-only cert path")
	keyF := fs.String("key", "", "watch-only key path")
	pairs := fs.String("pairs", "", "dir with pair0.crt pair0.key pair1.crt pair1.key")
	stamp := fs.String("stamp", "", "file the hook writes `date +%s%N` into")
	n := fs.Int("n", 100, "events")
	gap := fs.Duration("gap", 300*time.Millisecond, "pause between events (longer than the debounce)")
	out := fs.String("out", "", "write one latency in ms per line here")
	df := addDaemonFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	d, _, err := df.startReady(fs.Args())
	if err != nil {
		return err
	}
	defer d.stop()
	time.Sleep(*gap)
	var lat []float64
	for i := 0; i < *n; i++ {
		old, _ := os.ReadFile(*stamp)
		p := filepath.Join(*pairs, fmt.Sprintf("pair%d", i%2))
		if err := replace(p+".key", *keyF); err != nil {
			return err
		}
		if err := replace(p+".crt", *certF); err != nil {
			return err
		}
		t0 := time.Now()
		ns, err := waitStamp(*stamp, old, 15*time.Second)
		if err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
		lat = append(lat, float64(ns-t0.UnixNano())/1e6)
		time.Sleep(*gap)
	}
	return report(lat, *out)
}

// replace copies src over dst the way certbot and config management do:
// a temp file in dst's directory renamed over it.
func replace(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	tmp := dst + ".bench-tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// waitStamp polls until the stamp file holds a new nanosecond time.
func waitStamp(path string, old []byte, timeout time.Duration) (int64, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(path)
		if err == nil && len(b) > 0 && !bytes.Equal(b, old) {
			ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			if err == nil {
				return ns, nil
			}
		}
		time.Sleep(poll)
	}
	return 0, fmt.Errorf("hook did not run within %s", timeout)
}

// cmdReactKey deletes a managed key N times and measures until a new,
// matching key and cert are in place.
func cmdReactKey(args []string) error {
	fs := flag.NewFlagSet("react-key", flag.ContinueOnError)
	certF := fs.String("cert", "", "managed cert path")
	keyF := fs.String("key", "", "managed key path")
	n := fs.Int("n", 100, "events")
	gap := fs.Duration("gap", 300*time.Millisecond, "pause between events")
	out := fs.String("out", "", "write one latency in ms per line here")
	df := addDaemonFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	d, _, err := df.startReady(fs.Args())
	if err != nil {
		return err
	}
	defer d.stop()
	time.Sleep(*gap)
	var lat []float64
	for i := 0; i < *n; i++ {
		ino, err := inode(*certF)
		if err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
		if err := os.Remove(*keyF); err != nil {
			return err
		}
		t0 := time.Now()
		if err := waitReissued(*certF, *keyF, ino, 30*time.Second); err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
		lat = append(lat, float64(time.Since(t0).Microseconds())/1000)
		time.Sleep(*gap)
	}
	return report(lat, *out)
}

func inode(path string) (uint64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, errors.New("no inode")
	}
	return st.Ino, nil
}

// waitReissued polls until the key exists, the cert is a new file and
// the two match.
func waitReissued(certF, keyF string, oldIno uint64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(keyF); err == nil {
			if ino, err := inode(certF); err == nil && ino != oldIno {
				if _, err := tls.LoadX509KeyPair(certF, keyF); err == nil {
					return nil
				}
			}
		}
		time.Sleep(poll)
	}
	return fmt.Errorf("no matching re-issued pair within %s", timeout)
}

func report(lat []float64, out string) error {
	if out != "" {
		var b strings.Builder
		for _, v := range lat {
			fmt.Fprintf(&b, "%.2f\n", v)
		}
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	s := summarize(lat)
	fmt.Printf("n=%d\np50_ms=%.1f\np99_ms=%.1f\nmin_ms=%.1f\nmax_ms=%.1f\n", s.n, s.p50, s.p99, s.min, s.max)
	return nil
}

// cmdWaitFiles blocks until dir holds n non-empty files ending in suffix.
func cmdWaitFiles(args []string) error {
	fs := flag.NewFlagSet("wait-files", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory")
	suffix := fs.String("suffix", "", "file name suffix")
	n := fs.Int("n", 1, "files to wait for")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after")
	if err := fs.Parse(args); err != nil {
		return err
	}
	deadline := time.Now().Add(*timeout)
	got := 0
	for time.Now().Before(deadline) {
		got = 0
		ents, _ := os.ReadDir(*dir)
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), *suffix) {
				continue
			}
			if fi, err := e.Info(); err == nil && fi.Size() > 0 {
				got++
			}
		}
		if got >= *n {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%d of %d *%s files in %s after %s", got, *n, *suffix, *dir, *timeout)
}
