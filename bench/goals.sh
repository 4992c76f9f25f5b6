# shellcheck shell=bash
# bench/goals.sh: section 8 of docs/benchmarks.md, the issue 17 goals,
# from the values the measured sections embed in the page (sourced by
# bench/run and bench/scale; each calls write_goals after writing its own
# part, so whichever ran last leaves a table true to the whole page).
#
# A section embeds its values as an HTML comment, one k=v per line:
#
#   <!-- values bench/run (read by bench/goals.sh)
#   rss_1000=27.1
#   -->
#
# bench/run's keys are plain, bench/scale's start with scale_. Prose that
# people write lives in bench/notes/*.md; {{key}} in it is replaced by the
# value (or "(not measured)"), so it states no figure this run did not
# measure.

# values_block WHO: the opening line of WHO's values comment.
values_block() { printf '<!-- values %s (read by bench/goals.sh)\n' "$1"; }

# page_values PAGE WHO: the k=v lines of WHO's values block in PAGE.
page_values() {
	[ -f "$1" ] || return 0
	awk -v open="<!-- values $2 (read by bench/goals.sh)" '$0 == open { on = 1; next } on && /^-->/ { exit } on { print }' "$1"
}

# fill_notes NOTES VALUES: NOTES with every {{key}} replaced from the k=v
# file VALUES; an unknown or empty key reads "(not measured)".
fill_notes() {
	awk -v vf="$2" 'BEGIN { while ((getline l < vf) > 0) { i = index(l, "="); if (i > 1) v[substr(l, 1, i - 1)] = substr(l, i + 1) } }
		{ out = ""; s = $0
		  while (match(s, /\{\{[a-z0-9_]+\}\}/)) {
			k = substr(s, RSTART + 2, RLENGTH - 4)
			out = out substr(s, 1, RSTART - 1) ((k in v && v[k] != "" && v[k] != "-") ? v[k] : "(not measured)")
			s = substr(s, RSTART + RLENGTH) }
		  print out s }' "$1"
}

# goal_at_most V GOAL UNIT / goal_at_least V GOAL UNIT / goal_below V GOAL
# UNIT: "met", "**missed** by D UNIT", or "not measured".
goal_cmp() {
	awk -v v="$2" -v g="$3" -v u="$4" -v op="$1" 'BEGIN {
		if (v == "" || v == "-" || v == "–") { print "not measured"; exit }
		ok = (op == "le") ? (v + 0 <= g + 0) : (op == "lt") ? (v + 0 < g + 0) : (v + 0 >= g + 0)
		d = (op == "ge") ? g - v : v - g
		if (ok) { print "met"; exit }
		printf "**missed** by %s%s\n", (d >= 100 ? sprintf("%.0f", d) : sprintf("%.3g", d)), u }'
}
goal_at_most() { goal_cmp le "$@"; }
goal_below() { goal_cmp lt "$@"; }
goal_at_least() { goal_cmp ge "$@"; }

# or_dash V: V, or a dash when V is empty.
or_dash() { [ -n "$1" ] && [ "$1" != "-" ] && echo "$1" || echo "–"; }

# goals_section PAGE: section 8 from PAGE's values blocks.
goals_section() {
	local page=$1 vf k v
	vf=$(mktemp)
	{ page_values "$page" bench/run; page_values "$page" bench/scale; } >"$vf"
	declare -A V=()
	while IFS= read -r k; do
		[[ $k == *=* ]] || continue
		V[${k%%=*}]=${k#*=}
	done <"$vf"
	g() { echo "${V[$1]:-}"; }
	local run_src scale_src n_ec scale_n n_idle idle_secs
	n_ec=$(g n_ec)
	scale_n=$(g scale_n)
	n_idle=$(g n_idle) idle_secs=$(g idle_secs)
	n_idle=${n_idle:-1000} idle_secs=${idle_secs:-600}
	if [ -n "$(g run_date)" ]; then
		run_src="sections 1–6: \`bench/run$( [ "$(g run_mode)" = quick ] && echo " --quick")\`, $(g run_date), commit $(g run_commit)"
	else
		run_src="sections 1–6: no values (the page was not written by this version of bench/run)"
	fi
	if [ -n "$(g scale_date)" ]; then
		scale_src="section 7: \`bench/scale$( [ "$(g scale_mode)" = quick ] && echo " --quick")\`, $(g scale_date), commit $(g scale_commit)"
	else
		scale_src="section 7: not run with this version of bench/scale (run \`bench/scale\`)"
	fi
	cat <<EOT
<!-- issue 17 goals: begin (written by bench/goals.sh from the values of sections 1-7; bench/run and bench/scale rewrite it) -->
## 8. Issue 17 goals: where each stands

Every figure below is taken from this page, so each comes from the run
its section names: $run_src; $scale_src.
Each goal is judged on one run's figures, or on a ratio within one run;
on a loaded machine the absolute figures are slow and noisy.
$( [ "$(g run_mode)" = quick ] && echo "bench/run ran in quick mode (N = $n_ec for the local CA, a $idle_secs s idle window): not the goals' conditions; run \`bench/run\` for the real figures.")
$( [ -n "$scale_n" ] && [ "$scale_n" != 10000 ] && echo "bench/scale ran with N = $scale_n, not 10,000: run \`bench/scale\` for the real figures.")

| figure | from | this run | goal | |
|---|---|---|---|---|
| local CA EC P-256, N = ${n_ec:-200}, certs/s as % of the raw limit (all CPUs, same file layout) | section 3 | $(or_dash "$(g lca_pct)") % ($(or_dash "$(g lca_ec256)") of $(or_dash "$(g lca_raw_par)") certs/s, medians) | ≥ 80 % | $(goal_at_least "$(g lca_pct)" 80 " points") |
| idle RSS, $n_idle certs, same window as certmonger | section 1 | $(or_dash "$(g rss_1000)") MiB (PSS $(or_dash "$(g pss_1000)")); certmonger $(or_dash "$(g rss_cm)") MiB (PSS $(or_dash "$(g pss_cm)")) | ≤ certmonger's | $( [ -n "$(g rss_cm)" ] && [ "$(g rss_cm)" != - ] && goal_at_most "$(g rss_1000)" "$(g rss_cm)" " MiB" || echo "not measured (no certmonger figure)") |
| idle RSS, 100 certs | section 1 | $(or_dash "$(g rss_100)") MiB (PSS $(or_dash "$(g pss_100)"); RssFile $(or_dash "$(g rssfile_100)") / RssAnon $(or_dash "$(g rssanon_100)")) | ≤ 12 MiB | $(goal_at_most "$(g rss_100)" 12 " MiB") |
| idle CPU, $n_idle certs, no watchdog, ms per 10 min (whole $idle_secs s window) | section 1 | $(or_dash "$(g cpu10_1000)") (certmonger $(or_dash "$(g cpu10_cm)")) | 0 (below 0.05) | $(goal_below "$(g cpu10_1000)" 0.05 " ms") |
| idle wake-ups per s, $n_idle certs, no watchdog (whole window) | section 1 | $(or_dash "$(g wake_1000)") (certmonger $(or_dash "$(g wake_cm)")) | ≤ 0.01 | $(goal_at_most "$(g wake_1000)" 0.01 " per s") |
| idle with the watchdog (\`WATCHDOG_USEC\` of \`WatchdogSec=60s\`): wake-ups per s beyond its pings (whole window) | section 1 | $(or_dash "$(g wd_extra)") ($(or_dash "$(g wake_wd)") wake-ups, $(or_dash "$(g pings_wd)") pings per s; CPU $(or_dash "$(g cpu10_wd)") ms per 10 min) | nothing beyond the pings (≤ 0.01, the bound without a watchdog) | $(goal_at_most "$(g wd_extra)" 0.01 " per s") |
| heap per managed cert (\`BenchmarkHeapPerCert\`, 100 vs 1,000 certs; KB = 1,000 bytes) | section 1 | $(or_dash "$(g heap_kb)") KB | ≤ 2 KB | $(goal_at_most "$(g heap_kb)" 2 " KB") |
| the same over settled files (\`BenchmarkHeapPerCertSettled\`, inspection cache entries included) | section 1 | $(or_dash "$(g heap_kb_settled)") KB | ≤ 2 KB | $(goal_at_most "$(g heap_kb_settled)" 2 " KB") |
| ${scale_n:-10,000} certs issued by the local CA, EC: % of the raw limit per run, pairs correct | section 7 | $( [ -n "$(g scale_date)" ] && echo "$(or_dash "$(g scale_pct)") % ($(or_dash "$(g scale_pct_min)")–$(or_dash "$(g scale_pct_max)"), n=$(or_dash "$(g scale_runs)")); pairs wrong: $(or_dash "$(g scale_pairs_bad_max)")" || echo "not measured: run \`bench/scale\`") | ≥ 80 %, all pairs correct | ratio $(goal_at_least "$(g scale_pct)" 80 " points"); pairs $(goal_at_most "$(g scale_pairs_bad_max)" 0 "") |
| exec → READY, ${scale_n:-10,000} valid certs | section 7 | $(or_dash "$(g scale_ready_ms)") ms; peak RSS $(or_dash "$(g scale_ready_hwm)") MiB, PSS $(or_dash "$(g scale_ready_pss)") MiB | < 1,000 ms, peak RSS reported | $(goal_below "$(g scale_ready_ms)" 1000 " ms") |
| \`certagent renew\` with nothing due, ${scale_n:-10,000} certs | section 7 | $(or_dash "$(g scale_noop_s)") s | < 1 s | $(goal_below "$(g scale_noop_s)" 1 " s") |
| \`bench/run\` wall time, $(or_dash "$(g nproc)") CPUs, installs and builds included | sections 1–6 | $(or_dash "$(g run_secs)") s ($(g run_mode) mode) | < 1,800 s in full mode | $( [ "$(g run_mode)" = full ] && goal_below "$(g run_secs)" 1800 " s" || echo "not judged (not a full run)") |
| \`bench/scale\` wall time, builds included | section 7 | $(or_dash "$(g scale_secs)") s ($(or_dash "$(g scale_mode)") mode) | < 1,800 s in full mode | $( [ "$(g scale_mode)" = full ] && goal_below "$(g scale_secs)" 1800 " s" || echo "not judged (not a full run)") |
| stripped binary, default providers | section 6 | $(or_dash "$(g size_default_mb)") MB | (reported) | |
| RssFile at idle, 100 certs | section 1 | $(or_dash "$(g rssfile_100)") MiB | (reported) | |

EOT
	if [ -s "$ROOT/bench/notes/goals.md" ]; then
		echo "Why each miss, and what it would take (hand-written in \`bench/notes/goals.md\`; every figure in it is filled in from the table above, so the text may lag the code but not the numbers):"
		echo
		fill_notes "$ROOT/bench/notes/goals.md" "$vf"
		echo
	fi
	echo "<!-- issue 17 goals: end -->"
	rm -f "$vf"
}

# write_goals: replaces section 8 of docs/benchmarks.md (the hand-written
# "issue 17" section of old, or the generated one), at the end of the page.
write_goals() {
	local page=$ROOT/docs/benchmarks.md new
	[ -f "$page" ] || return 0
	new=$(mktemp)
	goals_section "$page" | cat -s >"$new"
	awk '/^<!-- issue 17( goals)?: begin/ { skip = 1; next }
		skip && /^<!-- issue 17( goals)?: end/ { skip = 0; next }
		!skip { print }' "$page" | cat -s >"$page.new"
	# No blank line left at the end before the section.
	sed -i -e :a -e '/^\n*$/{$d;N;ba' -e '}' "$page.new"
	{ cat "$page.new"; echo; cat "$new"; } >"$page"
	rm -f "$new" "$page.new"
	log "wrote section 8 (issue 17 goals) of $page"
}
