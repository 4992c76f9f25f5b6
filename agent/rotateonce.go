package agent

import (
	"context"
	"fmt"
)

// RotateCA is `certagent ca rotate ISSUER`: it starts a rotation of the
// local CA named issuer (or finds the one under way), then runs one pass,
// which gives every ca_file of the issuer both roots. The daemon, or the
// next `certagent renew`, carries the rotation on from there. started
// is false when a rotation was already under way.
func (a *Agent) RotateCA(ctx context.Context, issuer string) (rec *CARotation, started bool, err error) {
	rot, ok := a.issuers[issuer].(CARotator)
	if !ok {
		if a.cfg.Issuers[issuer] == nil {
			return nil, false, fmt.Errorf("no issuer named %q in the configuration", issuer)
		}
		return nil, false, fmt.Errorf("issuer %q is not a local CA: certagent rotates only its own CAs", issuer)
	}
	if err := a.recover(ctx); err != nil {
		return nil, false, err
	}
	release, err := a.store.Lock(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("lock state dir: %w", err)
	}
	rec, err = rot.Rotation(ctx)
	if err == nil && rec == nil {
		rec, err = a.startRotation(ctx, issuer, rot, RotationByOperator)
		started = err == nil
	}
	release()
	if err != nil {
		return nil, false, err
	}
	a.pass(ctx, passOptions{})
	if cur, err := rot.Rotation(ctx); err == nil && cur != nil {
		rec = cur
	}
	if rs := a.rotations[issuer]; rs != nil && rs.err != "" {
		return rec, started, fmt.Errorf("ca rotation of %q: %s", issuer, rs.err)
	}
	return rec, started, nil
}
