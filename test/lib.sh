# Shared helpers for test/setup.d fragments. Source it; it sets nothing
# else than these functions and CERTAGENT_TOOLS.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CERTAGENT_TOOLS=${CERTAGENT_TOOLS:-$ROOT/.cache/bin}
mkdir -p "$CERTAGENT_TOOLS"

# need_pkgs PKG...: apt-get install the Debian packages that are missing.
need_pkgs() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "setup: missing packages ${missing[*]} (run as root to install them)" >&2
		return 0
	fi
	if [ ! -f /var/lib/apt/lists/.certagent-updated ] || [ -z "$(find /var/lib/apt/lists/.certagent-updated -mmin -600 2>/dev/null)" ]; then
		apt-get update -qq >/dev/null && touch /var/lib/apt/lists/.certagent-updated
	fi
	echo "setup: installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# need_go_tool BIN MODULE VERSION [PKG]: go install the pinned tool BIN
# (PKG is its package path, by default MODULE/cmd/BIN) into CERTAGENT_TOOLS, unless
# the binary there already names MODULE at VERSION in its build info (a
# go-installed tool reports "dev" to --version, so that is no test).
# Built with CGO_ENABLED=0 (step-ca's and step's cgo builds need
# libpcsclite) and from / so that the product's go.mod is not consulted.
need_go_tool() {
	local bin=$1 mod=$2 version=$3 pkg=${4:-$2/cmd/$1} out
	if go version -m "$CERTAGENT_TOOLS/$bin" 2>/dev/null |
		grep -Eq "^[[:space:]]+mod[[:space:]]+$mod[[:space:]]+$version([[:space:]]|\$)"; then
		return 0
	fi
	echo "setup: go install $pkg@$version (CGO_ENABLED=0; a cold build can take minutes)"
	if ! out=$(cd / && CGO_ENABLED=0 GOBIN="$CERTAGENT_TOOLS" GOFLAGS=-buildvcs=false \
		go install "$pkg@$version" 2>&1); then
		printf '%s\nsetup: go install %s@%s failed\n' "$out" "$pkg" "$version" >&2
		return 1
	fi
}
