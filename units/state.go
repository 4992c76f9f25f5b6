package units

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	sddbus "github.com/coreos/go-systemd/v22/dbus"

	"github.com/certagent/certagent/agent"
)

// unitState is the part of a unit's D-Bus properties a verdict needs.
type unitState struct {
	LoadState    string
	ActiveState  string
	SubState     string
	Result       string
	InvocationID string // hex, as systemctl shows it; "" before the first start
}

// running reports whether the unit counts as "active" for the decision to
// act: an activating unit (e.g. in a Restart= back-off) or one that is
// reloading has not been stopped by an operator.
func (s unitState) running() bool {
	switch s.ActiveState {
	case "active", "activating", "reloading":
		return true
	}
	return false
}

func (s unitState) verdict() agent.Verdict {
	return agent.Verdict{ActiveState: s.ActiveState, Result: s.Result, InvocationID: s.InvocationID}
}

// describe renders the state for error messages.
func (s unitState) describe() string {
	res := s.Result
	if res == "" {
		res = "unknown"
	}
	return fmt.Sprintf("ActiveState=%s SubState=%s Result=%s", orUnknown(s.ActiveState), orUnknown(s.SubState), res)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// readState fetches the unit's state in two calls: the generic Unit
// properties and the type-specific Result (Service.Result etc.).
func readState(ctx context.Context, c *sddbus.Conn, unit string) (unitState, error) {
	props, err := c.GetUnitPropertiesContext(ctx, unit)
	if err != nil {
		return unitState{}, fmt.Errorf("unit %s: read properties: %w", unit, err)
	}
	var s unitState
	s.LoadState, _ = props["LoadState"].(string)
	s.ActiveState, _ = props["ActiveState"].(string)
	s.SubState, _ = props["SubState"].(string)
	if id, ok := props["InvocationID"].([]byte); ok && len(id) > 0 {
		s.InvocationID = hex.EncodeToString(id)
	}
	if s.ActiveState == "" {
		return s, fmt.Errorf("unit %s: ActiveState %w", unit, errNoProperty)
	}
	// Targets, slices and devices have no Result; leave it empty then.
	if p, err := c.GetUnitTypePropertyContext(ctx, unit, unitType(unit), "Result"); err == nil {
		if v, ok := p.Value.Value().(string); ok {
			s.Result = v
		}
	}
	return s, nil
}

// unitType derives the D-Bus interface suffix from the unit name:
// "web.service" → "Service".
func unitType(unit string) string {
	i := strings.LastIndexByte(unit, '.')
	if i < 0 || i == len(unit)-1 {
		return "Service"
	}
	t := unit[i+1:]
	if t == "automount" {
		return "Automount"
	}
	return strings.ToUpper(t[:1]) + t[1:]
}
