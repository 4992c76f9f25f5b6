# shellcheck shell=bash
# bench/lib.sh: helpers for bench/run (sourced). Recording, statistics,
# config generation, and the daemons (Pebble, challtestsrv, certmonger),
# each started on loopback and registered for the exit trap.

# ---------- bookkeeping ----------

PIDS=()      # background processes to stop on exit
CLEANUPS=()  # commands to run on exit

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

now_ns() { date +%s%N; }

# secs T0 T1: seconds between two now_ns stamps.
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }

# rec METRIC TOOL VALUE: append one run's value.
rec() { mkdir -p "$RES/v"; printf '%s\n' "$3" >>"$RES/v/$1.$2"; }

has() { [ -s "$RES/v/$1.$2" ]; }

# stat_of METRIC TOOL FIELD: median|min|max|p50|p99|n of the recorded values.
stat_of() {
	has "$1" "$2" || { echo "-"; return; }
	"$BT" stats <"$RES/v/$1.$2" | tr ' ' '\n' | awk -F= -v k="$3" '$1 == k { print $2 }'
}

# cell METRIC TOOL: "median (min–max, n=R)" or a dash.
cell() {
	has "$1" "$2" || { echo "not run"; return; }
	local line
	line=$("$BT" stats <"$RES/v/$1.$2")
	awk -v l="$line" 'BEGIN { n = split(l, f, " "); for (i = 1; i <= n; i++) { split(f[i], kv, "="); v[kv[1]] = kv[2] }
		if (v["n"] == 1) printf "%s (1 run)", v["median"]; else printf "%s (%s–%s, n=%s)", v["median"], v["min"], v["max"], v["n"] }'
}

# ratio METRIC A B: median(A)/median(B), or a dash.
ratio() {
	has "$1" "$2" && has "$1" "$3" || { echo "–"; return; }
	awk -v a="$(stat_of "$1" "$2" median)" -v b="$(stat_of "$1" "$3" median)" \
		'BEGIN { if (b == 0) print "–"; else printf "%.2f", a / b }'
}

# note TEXT: a line for the "what could not be run" list on the page.
note() { printf -- '- %s\n' "$*" >>"$RES/notes.md"; log "NOTE: $*"; }

# cmdlog TEXT: record an exact command for the page.
cmdlog() { printf '%s\n' "$*" >>"$RES/commands.txt"; }

stop_pid() {
	local pid=$1
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

cleanup_all() {
	local pid c
	for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
	for c in "${CLEANUPS[@]}"; do eval "$c" || true; done
	PIDS=()
	CLEANUPS=()
}

# wait_for SECONDS CMD...: poll CMD every 0.1 s until it succeeds.
wait_for() {
	local limit=$1 i
	shift
	for ((i = 0; i < limit * 10; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# ---------- certagent configs ----------

# agent_header STATE_DIR
agent_header() {
	# A private control socket: with the default one, every daemon a
	# bench starts (and any other certagent on the host) shares
	# /run/certagent/control.sock, and one's `certagent status` traffic
	# would wake another in its idle window.
	cat <<EOF
[agent]
state_dir = "$1"
control_socket = "$1.sock"
log_level = "warn"
log_format = "text"

EOF
}

# local_issuer NAME
local_issuer() {
	cat <<EOF
[issuers.$1]
type = "local"
key_type = "ec256"
common_name = "bench CA"

EOF
}

# local_certs ISSUER OUTDIR N KEYTYPE [PREFIX]: N managed certs.
local_certs() {
	local iss=$1 out=$2 n=$3 kt=$4 p=${5:-c} i
	for ((i = 1; i <= n; i++)); do
		printf '[certs.%s%d]\nissuer = "%s"\ndns_names = ["%s%d.bench.example"]\nkey_type = "%s"\nvalidity = "90d"\ncert_file = "%s/%s%d.crt"\nkey_file = "%s/%s%d.key"\n\n' \
			"$p" "$i" "$iss" "$p" "$i" "$kt" "$out" "$p" "$i" "$out" "$p" "$i"
	done
}

# acme_certs ISSUER OUTDIR FROM TO: certs aFROM..aTO from an ACME issuer.
acme_certs() {
	local iss=$1 out=$2 from=$3 to=$4 i
	for ((i = from; i <= to; i++)); do
		printf '[certs.a%d]\nissuer = "%s"\ndns_names = ["a%d.bench.example"]\nkey_type = "ec256"\ncert_file = "%s/a%d.crt"\nkey_file = "%s/a%d.key"\nfullchain_file = "%s/a%d.fullchain.pem"\n\n' \
			"$i" "$iss" "$i" "$out" "$i" "$out" "$i" "$out" "$i"
	done
}

# child_cpu: sets CHILD_CPU to the CPU seconds (user + system) of this
# shell's reaped children so far, from bash's times builtin. It must not
# run in a pipe or $(...): a subshell has no children of ours.
child_cpu() {
	local f=${TMPDIR:-/tmp}/times.$BASHPID
	times >"$f"
	CHILD_CPU=$(awk 'NR == 2 { s = 0; for (i = 1; i <= 2; i++) { split($i, p, /[ms]/); s += p[1] * 60 + p[2] } printf "%.3f\n", s }' "$f")
	rm -f "$f"
}

# cpu_busy_snapshot: "busy total" jiffies of all CPUs from /proc/stat.
cpu_busy_snapshot() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat; }

# bg SECTION...: run a section in a background subshell with its own
# daemon list, so its exit trap stops only what it started. Sets BG_PID.
bg() {
	(
		PIDS=()
		CLEANUPS=()
		trap cleanup_all EXIT
		trap 'exit 130' INT TERM
		"$@"
	) &
	BG_PID=$!
}

# ---------- Pebble ----------

# pebble_start DIR: a fresh Pebble + challtestsrv on free loopback ports,
# one profile only ("default", 90 days) so every tool gets the same
# lifetime. Sets PEB_DIR PEB_CA PEB_HTTP PEB_DNS PEB_CHALL.
pebble_start() {
	local d=$1 td="$ROOT/internal/pebbletest/testdata" ports
	mkdir -p "$d"
	cp "$td/pebble.minica.pem" "$td/localhost-cert.pem" "$td/localhost-key.pem" "$d/"
	mapfile -t ports < <("$BT" ports 5)
	PEB_HTTP=${ports[0]}
	PEB_DNS=127.0.0.1:${ports[1]}
	PEB_CHALL=http://127.0.0.1:${ports[2]}
	local listen=127.0.0.1:${ports[3]} mgmt=127.0.0.1:${ports[4]}
	PEB_DIR=https://$listen/dir
	PEB_CA=$d/pebble.minica.pem
	cat >"$d/pebble.json" <<EOF
{"pebble": {
  "listenAddress": "$listen", "managementListenAddress": "$mgmt",
  "certificate": "$d/localhost-cert.pem", "privateKey": "$d/localhost-key.pem",
  "httpPort": $PEB_HTTP, "tlsPort": 5001, "ocspResponderURL": "",
  "externalAccountBindingRequired": false,
  "retryAfter": {"authz": 1, "order": 1},
  "keyAlgorithm": "ecdsa",
  "profiles": {"default": {"description": "90 days", "validityPeriod": 7776000}}
}}
EOF
	"$TOOLS/pebble-challtestsrv" -http01 "" -https01 "" -tlsalpn01 "" -doh "" \
		-dnsserver "$PEB_DNS" -management "${PEB_CHALL#http://}" -defaultIPv6 "" >"$d/challtestsrv.log" 2>&1 &
	PIDS+=($!)
	PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
		"$TOOLS/pebble" -config "$d/pebble.json" -dnsserver "$PEB_DNS" >"$d/pebble.log" 2>&1 &
	PIDS+=($!)
	wait_for 30 curl -fsS --cacert "$PEB_CA" "$PEB_DIR" || { cat "$d/pebble.log" >&2; return 1; }
	# challtestsrv's management root answers 404: any HTTP answer will do.
	wait_for 30 curl -sS -o /dev/null "$PEB_CHALL/" || { cat "$d/challtestsrv.log" >&2; return 1; }
	# The DNS-01 hook every tool shares: lego's exec provider protocol
	# ("present|cleanup FQDN VALUE"), setting TXT records in challtestsrv.
	cat >"$d/dns-hook" <<EOF
#!/bin/sh
set -e
case "\$1" in
present) curl -fsS -d "{\"host\":\"\$2\",\"value\":\"\$3\"}" $PEB_CHALL/set-txt ;;
cleanup) curl -fsS -d "{\"host\":\"\$2\"}" $PEB_CHALL/clear-txt ;;
esac
EOF
	# certbot's manual hooks get the domain and value in the environment.
	cat >"$d/certbot-auth" <<EOF
#!/bin/sh
exec $d/dns-hook present "_acme-challenge.\$CERTBOT_DOMAIN." "\$CERTBOT_VALIDATION"
EOF
	cat >"$d/certbot-cleanup" <<EOF
#!/bin/sh
exec $d/dns-hook cleanup "_acme-challenge.\$CERTBOT_DOMAIN." "\$CERTBOT_VALIDATION"
EOF
	chmod 0755 "$d/dns-hook" "$d/certbot-auth" "$d/certbot-cleanup"
}

pebble_stop() { cleanup_all; }

# ---------- certmonger ----------

# certmonger_start DIR: certmonger on a private session bus, with every
# state directory redirected into DIR (the CERTMONGER_*_DIR overrides).
# Sets CM_PID (certmonger) and exports DBUS_SESSION_BUS_ADDRESS.
certmonger_start() {
	local d=$1
	mkdir -p "$d"/{req,cas,local,tmp}
	# A bus of our own without service directories: nothing can be
	# bus-activated, so the only certmonger on it is the one started below
	# with the overrides (an activated one would use ~/.config/certmonger).
	cat >"$d/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$d/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOF
	dbus-daemon --config-file="$d/bus.conf" --nofork --nopidfile >"$d/dbus.log" 2>&1 &
	PIDS+=($!)
	export DBUS_SESSION_BUS_ADDRESS=unix:path=$d/bus
	wait_for 10 test -S "$d/bus" || return 1
	CERTMONGER_REQUESTS_DIR=$d/req CERTMONGER_CAS_DIR=$d/cas CERTMONGER_LOCAL_CA_DIR=$d/local \
		CERTMONGER_TMPDIR=$d/tmp CERTMONGER_SYSTEM_LOCK_FILE=$d/lock CERTMONGER_CONFIG_DIR=$d \
		certmonger -s -n -p "$d/pid" >"$d/certmonger.log" 2>&1 &
	CM_PID=$!
	PIDS+=($CM_PID)
	# With many tracking requests it answers only after loading them all.
	wait_for 180 getcert list-cas -s || return 1
	kill -0 "$CM_PID" 2>/dev/null || return 1
}

# certmonger_request OUTDIR NAME KEYTYPE: one tracking request (no wait).
certmonger_request() {
	local out=$1 name=$2 kt=$3 args=()
	case $kt in
	ec256) args=(-G ec -g 256) ;;
	rsa3072) args=(-G rsa -g 3072) ;;
	esac
	getcert request -s -c local -k "$out/$name.key" -f "$out/$name.crt" \
		-N "CN=$name.bench.example" -D "$name.bench.example" "${args[@]}" >/dev/null
}
