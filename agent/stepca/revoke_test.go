package stepca

import (
	"errors"
	"fmt"
	"testing"
)

// alreadyRevoked recognises step-ca v0.30's answer to a second revocation
// of a serial (so a repeated revoke converges), and nothing else.
func TestAlreadyRevoked(t *testing.T) {
	again := &apiError{Path: "/1.0/revoke", Status: 400,
		Message: "certificate with serial number '140413866859558876858908033718730243267' is already revoked"}
	cases := []struct {
		err  error
		want bool
	}{
		{again, true},
		{fmt.Errorf("wrapped: %w", again), true},
		{&apiError{Path: "/1.0/revoke", Status: 401, Message: "unauthorized"}, false},
		{&apiError{Path: "/1.0/revoke", Status: 400, Message: "serial number in client certificate different than body"}, false},
		{errors.New("/1.0/revoke: dial tcp 127.0.0.1:1: connect: connection refused"), false},
		{nil, false},
	}
	for _, c := range cases {
		if got := alreadyRevoked(c.err); got != c.want {
			t.Errorf("alreadyRevoked(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
