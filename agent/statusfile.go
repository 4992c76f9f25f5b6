package agent

// state_dir/status.json: written by whichever process last held the state
// dir lock (the daemon, a one-shot `certagent renew`), read back by the
// daemon at start and after a one-shot wrote it, by `certagent renew` for
// a CA's Retry-After, and by `certagent status` without a daemon. All of
// them read it through ReadStatusFile.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// StatusFileName is the status file's name inside state_dir.
const StatusFileName = "status.json"

// ReadStatusFile reads and decodes stateDir/status.json. The error wraps
// fs.ErrNotExist when no process has written it yet, and says which file
// is unreadable when it does not decode.
func ReadStatusFile(stateDir string) (*StatusFile, error) {
	path := filepath.Join(stateDir, StatusFileName)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return decodeStatusFile(path, b)
}

func decodeStatusFile(path string, b []byte) (*StatusFile, error) {
	var sf StatusFile
	if err := json.Unmarshal(b, &sf); err != nil {
		return nil, &statusDecodeError{path: path, err: err}
	}
	return &sf, nil
}

// readFailing returns the rows of stateDir/status.json that record
// failures, by cert name (StatusFile.failing), with ReadStatusFile's
// errors. At 10,000 certs the file is 3 MB and decoding it took 5% of
// the CPU to READY, though usually no row has a failure: a file that is
// valid JSON and has no failures key with a value other than 0
// (mayRecordFailures) is not decoded.
func readFailing(stateDir string) (map[string]CertStatus, error) {
	path := filepath.Join(stateDir, StatusFileName)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if json.Valid(b) && !mayRecordFailures(b) {
		return map[string]CertStatus{}, nil
	}
	sf, err := decodeStatusFile(path, b)
	if err != nil {
		return nil, err
	}
	return sf.failing(), nil
}

// mayRecordFailures reports whether a status file may have a row with
// failures: a "failures" key whose value does not start with 0 (JSON
// numbers have no leading zeros). Inside a JSON string a quote is
// escaped, so the unescaped key with its colon is a key. False positives
// only cost a decode.
func mayRecordFailures(b []byte) bool {
	key := []byte(`"failures":`)
	for {
		i := bytes.Index(b, key)
		if i < 0 {
			return false
		}
		b = bytes.TrimLeft(b[i+len(key):], " \t\r\n")
		if len(b) == 0 || b[0] != '0' {
			return true
		}
	}
}

// statusDecodeError is a status file that exists but does not decode; a
// daemon then starts without the failures it recorded, and says so.
type statusDecodeError struct {
	path string
	err  error
}

func (e *statusDecodeError) Error() string {
	return fmt.Sprintf("status file %s is unreadable: %v", e.path, e.err)
}

func (e *statusDecodeError) Unwrap() error { return e.err }

// byName indexes the recorded rows; a nil file has none.
func (sf *StatusFile) byName() map[string]CertStatus {
	out := map[string]CertStatus{}
	if sf == nil {
		return out
	}
	for _, r := range sf.Certs {
		out[r.Name] = r
	}
	return out
}

// failing returns the recorded rows with failures, by cert name: what a
// restarted daemon carries over (see Agent.seed).
func (sf *StatusFile) failing() map[string]CertStatus {
	out := map[string]CertStatus{}
	for _, r := range sf.Certs {
		if r.Failures > 0 {
			out[r.Name] = r
		}
	}
	return out
}
