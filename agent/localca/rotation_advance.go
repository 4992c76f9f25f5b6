package localca

import (
	"context"
	"fmt"
	"time"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/internal/failpoint"
	"github.com/certagent/certagent/internal/safefile"
)

// swapFiles are copied from the new generation over the old one at the
// end of a rotation; the key and certificate must be there, the list
// and CRL exist only once the new CA has signed one.
var swapFiles = []struct {
	src, dst string
	must     bool
}{
	{NextKeyFile, KeyFile, true},
	{NextCertFile, CertFile, true},
	{nextRevokedFile, RevokedFile, false},
	{nextCRLFile, CRLFile, false},
}

// AdvanceRotation leaves phase from at now (see agent.CARotator). A
// record already past from is left alone: another process moved it on.
// From retire on it runs to the end; every step is idempotent, so a kill
// anywhere resumes from the phase recorded.
func (c *CA) AdvanceRotation(ctx context.Context, from string, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.key, c.cert = nil, nil
	rec, err := c.readRecord()
	if err != nil || rec == nil || rec.Phase != from {
		return err
	}
	for {
		next, err := c.step(rec, now)
		if err != nil {
			return err
		}
		failpoint.Hit("rotation-after-" + rec.Phase)
		if next == "" {
			return nil
		}
		if next == agent.PhaseReissue || next == agent.PhaseRetire {
			return nil // the agent decides when the next phase is due
		}
	}
}

// step does the work of leaving rec.Phase and records the next phase;
// "" when the rotation is over (no record left).
func (c *CA) step(rec *agent.CARotation, now time.Time) (string, error) {
	switch rec.Phase {
	case agent.PhasePublish:
		rec.Phase, rec.ReissueFrom = agent.PhaseReissue, now.UTC().Truncate(time.Second)
	case agent.PhaseReissue:
		rec.Phase = agent.PhaseRetire
	case agent.PhaseRetire:
		if rec.KeepOldKey {
			if err := c.keepOld(rec.OldSerial); err != nil {
				return "", err
			}
		}
		rec.Phase = agent.PhaseSwap
	case agent.PhaseSwap:
		if err := c.swap(); err != nil {
			return "", err
		}
		rec.Phase = agent.PhaseCleanup
	case agent.PhaseCleanup:
		err := c.inDir(func(d *safefile.Dir) error {
			for _, f := range swapFiles {
				if err := d.Remove(f.src); err != nil {
					return err
				}
			}
			failpoint.Hit("rotation-before-record-removed")
			return d.Remove(agent.CARotationFile)
		})
		return "", err
	default:
		return "", fmt.Errorf("local ca %q: unknown rotation phase %q", c.name, rec.Phase)
	}
	return rec.Phase, c.writeRecord(rec)
}

// keepOld copies the old key and certificate aside as
// old-<serial>.key/.crt (ca_key_after_rotation = "keep"). In the retire
// phase ca.* is still the old generation.
func (c *CA) keepOld(serial string) error {
	return c.inDir(func(d *safefile.Dir) error {
		for _, f := range []struct{ src, dst string }{{KeyFile, "old-" + serial + ".key"}, {CertFile, "old-" + serial + ".crt"}} {
			b, ok, err := c.readIn(f.src)
			if err != nil || !ok {
				return fmt.Errorf("keep the old ca: %s: missing or unreadable: %v", f.src, err)
			}
			if err := d.Replace(f.dst, b, safefile.Private, nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// swap makes the new generation ca.*: each file is replaced atomically;
// replacing ca.key unlinks the old key (ca_key_after_rotation =
// "delete"). Until the record says cleanup, readers use next.*, so the
// moment between two replacements is never seen as a mismatched pair.
func (c *CA) swap() error {
	return c.inDir(func(d *safefile.Dir) error {
		for i, f := range swapFiles {
			b, ok, err := c.readIn(f.src)
			if err != nil {
				return err
			}
			switch {
			case !ok && f.must:
				return fmt.Errorf("%s is missing in the middle of a rotation; restore it", f.src)
			case !ok:
				err = d.Remove(f.dst) // the old CA's list and CRL go with its key
			default:
				err = d.Replace(f.dst, b, safefile.Private, nil)
			}
			if err != nil {
				return err
			}
			if i == 0 {
				failpoint.Hit("rotation-mid-swap")
			}
		}
		return nil
	})
}
