package fleetrig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Options describe a rig.
type Options struct {
	// Hosts is how many host namespaces to make (the fleet plus any
	// extra host a test runs with its own config).
	Hosts int
	// Dir holds every file of the rig (PKI, host dirs, logs).
	Dir string
	// Certagent, StepCA and Step are the binaries.
	Certagent, StepCA, Step string
	// CertLife is what step-ca's provisioners issue.
	CertLife time.Duration
}

// Rig is a step-ca in its namespace and Hosts host namespaces with
// their directories. Close undoes everything, in any state.
type Rig struct {
	opts    Options
	Net     *Net
	CA      *StepCA
	Hosts   []*Host
	Mount   string // where every daemon sees its own host directory
	restore func() error
}

// New makes the namespaces, inits and starts step-ca and prepares the
// host directories (no daemon runs yet). On error it cleans up.
func New(opts Options) (_ *Rig, err error) {
	r := &Rig{opts: opts, Mount: filepath.Join(opts.Dir, "mnt")}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	// Each daemon takes inotify instances from root's one budget
	// (128 by default): raise it for the run, restore it in Close.
	if r.restore, err = RaiseInotify(8 * (opts.Hosts + 16)); err != nil {
		return nil, fmt.Errorf("raise fs.inotify.max_user_instances: %w", err)
	}
	if err := os.MkdirAll(r.Mount, 0o700); err != nil {
		return nil, err
	}
	if r.Net, err = NewNet(opts.Hosts); err != nil {
		return nil, err
	}
	if r.CA, err = NewStepCA(r.Net.CA, r.Net.CAIP(), opts.Dir, opts.Step, opts.StepCA, opts.CertLife); err != nil {
		return nil, err
	}
	for i, ns := range r.Net.Hosts {
		h := &Host{I: i, NS: ns, IP: r.Net.HostIP(i), Dir: filepath.Join(opts.Dir, fmt.Sprintf("h%03d", i)), mnt: r.Mount}
		h.log = filepath.Join(h.Dir, "certagent.log")
		if err := os.MkdirAll(h.Dir, 0o700); err != nil {
			return nil, err
		}
		r.Hosts = append(r.Hosts, h)
	}
	return r, nil
}

// ACMEDirectory is the directory URL of step-ca's ACME provisioner.
func (r *Rig) ACMEDirectory() string { return r.CA.URL + "/acme/acme/directory" }

// CopyRoot puts step-ca's root into host h's directory as root_ca.crt
// (the ca_bundle of the ACME config).
func (r *Rig) CopyRoot(h *Host) error {
	b, err := os.ReadFile(r.CA.Root)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(h.Dir, "root_ca.crt"), b, 0o644)
}

// Close stops every daemon and step-ca, deletes the namespaces and
// restores the inotify limit. It is safe to call more than once.
func (r *Rig) Close() error {
	var wg sync.WaitGroup
	for _, h := range r.Hosts {
		wg.Add(1)
		go func() { defer wg.Done(); h.Stop() }()
	}
	wg.Wait()
	if r.CA != nil {
		r.CA.Kill()
	}
	var errs []error
	if r.Net != nil {
		errs = append(errs, r.Net.Close())
		r.Net = nil
	}
	if r.restore != nil {
		errs = append(errs, r.restore())
		r.restore = nil
	}
	return errors.Join(errs...)
}
