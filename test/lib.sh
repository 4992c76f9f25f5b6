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

# need_go_tool BIN MODULE@VERSION: go install a pinned tool into CERTAGENT_TOOLS.
need_go_tool() {
	local bin=$1 mod=$2 stamp="$CERTAGENT_TOOLS/.$1.version"
	if [ -x "$CERTAGENT_TOOLS/$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$mod" ]; then
		return 0
	fi
	echo "setup: go install $mod"
	GOBIN="$CERTAGENT_TOOLS" go install "$mod" && echo "$mod" >"$stamp"
}
