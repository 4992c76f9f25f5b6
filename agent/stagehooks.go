package agent

// Hooks at the stages around a deployment: pre_exec, before a new pair
// replaces the files, and on_failure, after a failed renewal or a
// rollback. The post-change exec hook is in actions.go. Both follow the
// hook trust rule at load (agent/config) and right before each run.

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/agent/store"
	"github.com/certagent/certagent/internal/capped"
	"github.com/certagent/certagent/internal/safefile"
	"github.com/certagent/certagent/internal/trust"
)

// preExecDir is the subdirectory of a cert's staging dir where pre_exec
// finds the new pair.
const preExecDir = "pre_exec"

// preExec runs the cert's pre_exec hook, if any, on the new pair staged
// in staging/pre_exec/. A non-nil error aborts the deploy: the caller
// returns it as the renewal's failure, so the old files stay as they
// are and the cert backs off like any failed renewal.
func (a *Agent) preExec(ctx context.Context, st *certState, staging string, b *Bundle, files []store.File) error {
	c := st.cfg
	if len(c.PreExec) == 0 {
		return nil
	}
	if err := trust.CheckCommand(c.PreExec); err != nil {
		return fmt.Errorf("pre_exec not run: its files fail the trust check: %w", err)
	}
	dir := filepath.Join(staging, preExecDir)
	d, err := safefile.OpenDir(dir, true, 0o700)
	if err != nil {
		return fmt.Errorf("pre_exec staging: %w", err)
	}
	defer d.Close()
	certPath, keyPath, fullPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "fullchain.pem")
	full := append([]*x509.Certificate{b.Leaf}, b.Chain...)
	for name, data := range map[string][]byte{
		"cert.pem":      pki.EncodeCertsPEM(b.Leaf),
		"key.pem":       files[0].Data, // outputFiles puts the key first, in its configured format
		"fullchain.pem": pki.EncodeCertsPEM(full...),
	} {
		if err := d.WriteNew(name, data, safefile.Private, nil); err != nil {
			return fmt.Errorf("pre_exec staging: %w", err)
		}
	}
	reason := "renewal"
	if st.leaf == nil {
		reason = "issue"
	}
	env := append(stageEnv(st, "pre_exec", reason, ""),
		"CERTAGENT_STAGING_DIR="+dir,
		"CERTAGENT_NEW_CERT_FILE="+certPath,
		"CERTAGENT_NEW_KEY_FILE="+keyPath,
		"CERTAGENT_NEW_FULLCHAIN_FILE="+fullPath,
		"CERTAGENT_NEW_SERIAL="+serialHex(b.Leaf),
		"CERTAGENT_NEW_NOT_AFTER="+stamp(b.Leaf.NotAfter),
	)
	out, _, err := runHookCommand(ctx, c.PreExec, c.ExecTimeout.Duration, env)
	log := a.log.With("cert", st.name, "event", "pre_exec", "command", c.PreExec[0], "output", out)
	if err != nil {
		log.Error("pre_exec refused the new certificate; old files left in place", "error", err)
		return fmt.Errorf("pre_exec refused the new certificate: %w", err)
	}
	log.Info("pre_exec accepted the new certificate", "new_serial", serialHex(b.Leaf))
	return nil
}

// afterFailures runs on_failure and emits renewal_failed for each failed
// issuance of a pass, after applyOutcome recorded it.
func (a *Agent) afterFailures(ctx context.Context, outs []outcome) {
	now := a.clock.Now()
	for _, o := range outs {
		if o.err == nil {
			continue
		}
		st := o.st
		a.emit(certEvent(eventRenewalFailed, st, now,
			fmt.Sprintf("renewal failed %d time(s) in a row; the old files are in place", st.failures), st.lastErr))
		a.onFailure(ctx, st, "renewal_failed")
	}
}

// afterRollback runs on_failure and emits rolled_back for a cert whose
// previous files were just restored.
func (a *Agent) afterRollback(ctx context.Context, st *certState) {
	a.emit(certEvent(eventRolledBack, st, a.clock.Now(), "previous certificate restored after a failed unit action", st.lastErr))
	a.onFailure(ctx, st, "rolled_back")
}

// onFailure runs the cert's on_failure hook; reason is renewal_failed or
// rolled_back. Its verdict is logged only: the failure is recorded
// already. A hook that fails the trust check now is not run.
func (a *Agent) onFailure(ctx context.Context, st *certState, reason string) {
	argv := st.cfg.OnFailure
	if len(argv) == 0 {
		return
	}
	log := a.log.With("cert", st.name, "event", "on_failure", "command", argv[0], "reason", reason)
	if err := trust.CheckCommand(argv); err != nil {
		log.Error("on_failure not run: its files fail the trust check", "error", err)
		return
	}
	out, _, err := runHookCommand(ctx, argv, st.cfg.ExecTimeout.Duration, stageEnv(st, "on_failure", reason, st.lastErr))
	if err != nil {
		log.Error("on_failure hook failed", "error", err, "output", out)
		return
	}
	log.Info("on_failure hook done", "output", out)
}

// stageEnv extends the exec hook's environment (hookEnv) with what a
// stage hook needs: the stage, the serial on disk, the reason and the
// last error.
func stageEnv(st *certState, stage, reason, errText string) []string {
	return append(hookEnv(st.cfg),
		"CERTAGENT_STAGE="+stage,
		"CERTAGENT_REASON="+reason,
		"CERTAGENT_SERIAL="+st.leaf.Serial(),
		"CERTAGENT_FAILURES="+strconv.Itoa(st.failures),
		"CERTAGENT_ERROR="+strings.NewReplacer("\n", " ", "\x00", "").Replace(errText),
	)
}

// runHookCommand runs argv without a shell, bounded by timeout, and
// returns its output (capped), its exit code and an error for a non-zero
// exit, a timeout or a program that could not start. Every hook uses it.
func runHookCommand(ctx context.Context, argv []string, timeout time.Duration, env []string) (string, int, error) {
	if timeout <= 0 {
		timeout = time.Minute
	}
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(hctx, argv[0], argv[1:]...)
	cmd.Env = env
	// Only the logged part is kept: a hook printing without end must not
	// grow the daemon's memory until its timeout.
	out := capped.New(8192)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	text := strings.TrimSpace(out.String())
	var ee *exec.ExitError
	if errors.As(err, &ee) && hctx.Err() == nil {
		return text, ee.ExitCode(), fmt.Errorf("exit code %d", ee.ExitCode())
	}
	if err != nil && hctx.Err() != nil && ctx.Err() == nil {
		return text, -1, fmt.Errorf("killed after %s", timeout)
	}
	return text, cmd.ProcessState.ExitCode(), err
}
