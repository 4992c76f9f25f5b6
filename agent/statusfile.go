package agent

// state_dir/status.json: written by whichever process last held the state
// dir lock (the daemon, a one-shot `certagent renew`), read back by the
// daemon at start and after a one-shot wrote it, by `certagent renew` for
// a CA's Retry-After, and by `certagent status` without a daemon. All of
// them read it through ReadStatusFile.

import (
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
	var sf StatusFile
	if err := json.Unmarshal(b, &sf); err != nil {
		return nil, &statusDecodeError{path: path, err: err}
	}
	return &sf, nil
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
