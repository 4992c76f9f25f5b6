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
	if ! "$tools/nfpm" --version 2>/dev/null | grep -q 'v\?2\.45\.2'; then
		GOBIN="$tools" go install github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2 ||
			{ echo "30-systemd.sh: go install nfpm@v2.45.2 failed" >&2; return 1; }
	fi
}

_certagent_systemd_setup
