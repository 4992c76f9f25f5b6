# shellcheck shell=bash
# 40-prometheus.sh: install promtool for the alert-rule tests
# (agent/metrics: `promtool check rules` and `promtool test rules` on
# examples/alerts.yml). promtool ships in Debian's `prometheus` package; it
# is only installed when promtool is missing. Sourced by test/all.sh; also
# runnable on its own. Idempotent and quiet.

_certagent_prometheus_setup() {
	if command -v promtool >/dev/null 2>&1; then
		return 0
	fi
	if [ "$(id -u)" -ne 0 ]; then
		echo "40-prometheus.sh: not root, cannot install prometheus (promtool tests will skip outside CI)" >&2
		return 0
	fi
	local log
	log=$(mktemp) || return 1
	# apt's chatter (debconf notices) only matters when it fails.
	if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; } >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		echo "40-prometheus.sh: apt-get install prometheus failed" >&2
		return 1
	fi
	rm -f "$log"
	# The package enables a Prometheus server; the tests need only promtool,
	# so do not leave a server running on the test machine.
	if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
		systemctl disable --now prometheus.service >/dev/null 2>&1 || true
	fi
	command -v promtool >/dev/null 2>&1 ||
		{ echo "40-prometheus.sh: promtool still missing after installing prometheus" >&2; return 1; }
}

_certagent_prometheus_setup
_certagent_prometheus_rc=$?
unset -f _certagent_prometheus_setup
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	exit "$_certagent_prometheus_rc"
fi
[ "$_certagent_prometheus_rc" -eq 0 ]
