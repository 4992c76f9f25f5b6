# shellcheck shell=bash
# 55-stepca.sh: install step-ca, pinned, for the real step-ca ACME issuance
# in test/recipes/stepca_test.go (OpenFL recipe, issue 6). Sourced or run
# by test/all.sh; idempotent and quiet: a binary that already reports the
# pinned module version is left alone.
#
# CGO_ENABLED=0 because the default cgo build needs libpcsclite (go-piv's
# YubiKey support, which the test does not use); the pure-Go build has
# everything the test needs (soft keys, badger DB, ACME). The step CLI is
# not needed: the test writes ca.json and the PKI itself.

_certagent_stepca_setup() {
	local mod=github.com/smallstep/certificates version=v0.30.2
	local here root tools out
	here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd) || return 1
	root=$(cd "$here/../.." && pwd) || return 1
	tools=${CERTAGENT_TOOLS:-$root/.cache/bin}
	mkdir -p "$tools" || return 1
	# `go version -m` prints the main module's version; match it exactly.
	if [ -x "$tools/step-ca" ] &&
		go version -m "$tools/step-ca" 2>/dev/null |
		grep -Eq "^[[:space:]]+mod[[:space:]]+$mod[[:space:]]+$version([[:space:]]|$)"; then
		return 0
	fi
	echo "setup: go install $mod/cmd/step-ca@$version (CGO_ENABLED=0; a cold build takes minutes)"
	# Outside the repo so the product's go.mod is not consulted; the env
	# prefix keeps CGO_ENABLED=0 out of the caller's environment.
	if ! out=$(cd / && CGO_ENABLED=0 GOBIN="$tools" GOFLAGS=-buildvcs=false \
		go install "$mod/cmd/step-ca@$version" 2>&1); then
		printf '%s\n55-stepca.sh: go install step-ca@%s failed\n' "$out" "$version" >&2
		return 1
	fi
}

_certagent_stepca_setup
_certagent_stepca_rc=$?
unset -f _certagent_stepca_setup
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	exit "$_certagent_stepca_rc"
fi
[ "$_certagent_stepca_rc" -eq 0 ]
