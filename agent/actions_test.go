package agent

import (
	"testing"
	"time"

	"github.com/certagent/certagent/agent/config"
)

// TestActOptionsSettle: the unit's settle time is the longest its certs
// ask for, as written (below 10 s too), and "0s" means the 10 s default.
func TestActOptionsSettle(t *testing.T) {
	cases := []struct {
		name    string
		settles []time.Duration
		want    time.Duration
	}{
		{"shorter than the default", []time.Duration{3 * time.Second}, 3 * time.Second},
		{"zero means the default", []time.Duration{0}, config.DefaultSettle},
		{"longest of several", []time.Duration{3 * time.Second, 20 * time.Second, 0}, 20 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := &Agent{certs: map[string]*certState{}}
			var names []string
			for i, s := range tc.settles {
				name := string(rune('a' + i))
				c := &config.Cert{Name: name}
				c.Settle.Duration = s
				a.certs[name] = &certState{name: name, cfg: c}
				names = append(names, name)
			}
			if got := a.actOptions(names).Settle; got != tc.want {
				t.Errorf("settle %s, want %s", got, tc.want)
			}
		})
	}
}
