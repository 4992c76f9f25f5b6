# shellcheck shell=bash
# Sourced by test/all.sh. Installs what the systemd end-to-end suite and the
# packaging tests need: systemd-nspawn, debootstrap and zstd for the
# container rootfs, dbus, lintian and rpm to inspect the packages, openssl
# for the TLS checks, and nfpm (pinned) to build them. Idempotent and quiet.

_certagent_systemd_setup() {
	local repo tools pkgs missing p
	repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
	tools="${CERTAGENT_TOOLS:-$repo/.cache/bin}"
	mkdir -p "$tools"

	pkgs="systemd-container debootstrap zstd dbus lintian rpm openssl"
	missing=""
	for p in $pkgs; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		if [ "$(id -u)" -ne 0 ]; then
			echo "30-systemd.sh: not root, cannot install:$missing (systemd tests will skip)" >&2
		else
			DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
				DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
				{ echo "30-systemd.sh: apt-get install$missing failed" >&2; return 1; }
		fi
	fi

	# nfpm v2.45.2 is the newest release installable from the module proxy.
	# A go-installed nfpm reports version "dev"; its build info names the
	# module version.
	if ! go version -m "$tools/nfpm" 2>/dev/null |
		grep -Eq '^[[:space:]]+mod[[:space:]]+github.com/goreleaser/nfpm/v2[[:space:]]+v2\.45\.2([[:space:]]|$)'; then
		GOBIN="$tools" go install github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2 ||
			{ echo "30-systemd.sh: go install nfpm@v2.45.2 failed" >&2; return 1; }
	fi
}

_certagent_systemd_setup
