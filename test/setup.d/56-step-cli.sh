# shellcheck shell=bash
# 56-step-cli.sh: install the step CLI, pinned, for the step issuer tests
# (test/cluster): they init the PKI with `step ca init`, mint one-time
# tokens with `step ca token` and revoke with `step ca revoke`, as an
# operator would. Sourced or run by test/all.sh; idempotent and quiet: a
# binary that already reports the pinned module version is left alone.
#
# v0.30.2 is the CLI released with step-ca v0.30.2 (55-stepca.sh), so the
# ca.json and tokens it writes are what that step-ca expects.
# CGO_ENABLED=0 for the same reason as step-ca: the cgo build needs
# libpcsclite for YubiKey support, which the tests do not use.

_certagent_stepcli_setup() {
	local mod=github.com/smallstep/cli version=v0.30.2
	local here root tools out
	here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd) || return 1
	root=$(cd "$here/../.." && pwd) || return 1
	tools=${CERTAGENT_TOOLS:-$root/.cache/bin}
	mkdir -p "$tools" || return 1
	if [ -x "$tools/step" ] &&
		go version -m "$tools/step" 2>/dev/null |
		grep -Eq "^[[:space:]]+mod[[:space:]]+$mod[[:space:]]+$version([[:space:]]|$)"; then
		return 0
	fi
	echo "setup: go install $mod/cmd/step@$version (CGO_ENABLED=0; a cold build takes minutes)"
	if ! out=$(cd / && CGO_ENABLED=0 GOBIN="$tools" GOFLAGS=-buildvcs=false \
		go install "$mod/cmd/step@$version" 2>&1); then
		printf '%s\n56-step-cli.sh: go install step@%s failed\n' "$out" "$version" >&2
		return 1
	fi
}

_certagent_stepcli_setup
_certagent_stepcli_rc=$?
unset -f _certagent_stepcli_setup
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	exit "$_certagent_stepcli_rc"
fi
[ "$_certagent_stepcli_rc" -eq 0 ]
