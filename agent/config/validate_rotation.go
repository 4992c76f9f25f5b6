package config

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Fraction is a share between 0 and 1, written as a quoted "67%", "2/3"
// or "0.67" (rotate_at).
type Fraction struct {
	Value float64
	Set   bool // false when the key was absent
}

// UnmarshalText parses "N%", "A/B" or a decimal number.
func (f *Fraction) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	var v float64
	var err error
	switch {
	case strings.HasSuffix(s, "%"):
		v, err = strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		v /= 100
	case strings.Contains(s, "/"):
		a, bs, _ := strings.Cut(s, "/")
		var x, y float64
		if x, err = strconv.ParseFloat(a, 64); err == nil {
			if y, err = strconv.ParseFloat(bs, 64); err == nil && y == 0 {
				err = errors.New("division by zero")
			}
		}
		if err == nil {
			v = x / y
		}
	default:
		v, err = strconv.ParseFloat(s, 64)
	}
	if err != nil {
		return errors.New(`write a share such as "2/3", "67%" or "0.67"`)
	}
	f.Value, f.Set = v, true
	return nil
}

// Rotation settings of a local issuer (docs/local-ca.md, "Rotating the CA").
const (
	// DefaultRotateAt is the share of the CA certificate's life after
	// which its rotation starts on its own.
	DefaultRotateAt = 2.0 / 3.0
	// CAKeyDelete and CAKeyKeep are the values of ca_key_after_rotation.
	CAKeyDelete = "delete"
	CAKeyKeep   = "keep"
	// minOverlap: both roots must be seen by every client; less than a
	// second is a typo, not a plan.
	minOverlap = time.Second
)

// rotationDefaults fills rotate_at and ca_key_after_rotation; overlap
// stays unset when absent, since its default (the longest leaf validity
// among the issuer's certs) is known only with the certs.
func rotationDefaults(is *Issuer) {
	if !is.RotateAt.Set {
		is.RotateAt.Value = DefaultRotateAt
	}
	defStr(&is.CAKeyAfterRotation, CAKeyDelete)
}

// rotationIssuer checks a local issuer's rotation keys.
func rotationIssuer(is *Issuer, at func(string, *valueError)) {
	if r := is.RotateAt.Value; r <= 0 || r >= 1 {
		at("rotate_at", badValue(`use a share of the CA's life between 0 and 1, e.g. "2/3" (the default) or "80%"`, "rotate_at %g is not between 0 and 1", r))
	}
	switch {
	case is.Overlap.Set && is.Overlap.Duration < minOverlap:
		at("overlap", badValue(`use a duration such as "90d" (the default is the longest leaf validity)`, "overlap %s is shorter than 1s", is.Overlap.Duration))
	case is.Overlap.Set && is.Overlap.Duration >= is.Validity.Duration:
		at("overlap", badValue("use an overlap well inside the CA's validity", "overlap %s is not shorter than the CA's validity %s", is.Overlap.Duration, is.Validity.Duration))
	}
	at("ca_key_after_rotation", oneOf(is.CAKeyAfterRotation, "ca_key_after_rotation", []string{CAKeyDelete, CAKeyKeep}))
}

// onlyLocalRotation flags the rotation keys in an acme or step issuer:
// only the local CA's own certificate is rotated by certagent.
func onlyLocalRotation(is *Issuer, at func(string, *valueError)) {
	for key, set := range map[string]bool{"rotate_at": is.RotateAt.Set, "overlap": is.Overlap.Set, "ca_key_after_rotation": is.CAKeyAfterRotation != ""} {
		if set {
			at(key, badValue(`remove it, or use type = "local"`, "%s only applies to local issuers", key))
		}
	}
}
