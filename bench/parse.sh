#!/usr/bin/env bash
# bench/parse.sh: cx-parse against `jq -c` running the same mapping (SPEC §9),
# on one generated stream of webhook.received lines.
#
#   bench/parse.sh [--lines N] [--runs N] [--keep]
#
# Input: N webhook.received lines (default 200,000), as `cx-ingest drain`
# prints them, inbox_id and correlation_id c-<inbox_id> counting up. Bodies
# are the WhatsApp fixture bodies (tests/fixtures/whatsapp/INPUTS, in turn),
# every message/status id (and reaction/context target) suffixed with
# .<inbox_id> so no two lines carry the same ids.
#
# Timed, each on the same input, with wall time and peak RSS:
#   1. cx-parse (libjq mapping, C envelope), on a fresh state file
#   2. jq -c -f P, one process: P is share/cx/parsers/whatsapp.jq and
#      tests/fixtures/envelope.jq wrapped as functions, in front of
#      bench/peers/parse-peer.jq (`.body | parse | envelope` per line)
# The peer is first checked against the golden files; then both must print
# the same events (cx-parse's delivery.done markers left out) on the first
# 1000 lines, and on the whole run.
# Wall time is what the target is on; CPU seconds (user + system) are shown
# too, as they move less when other work shares the host. --runs N (default
# 1) runs each N times, interleaved, and keeps the fastest wall time.
# Targets: cx / jq lines/s >= 1.0; cx peak RSS <= 64 MiB.
# Exits 1 when a target or a check fails, or when bin/cx-parse is missing
# (the jq side is still run and reported).
#
# Environment: BENCH_DIR (temp dir), BENCH_CPUS (2).

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

usage() {
	sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
	exit "${1:-0}"
}

lines=200000
runs=1
keep=0
sample=1000
args=("$@")
while [ $# -gt 0 ]; do
	case $1 in
	--lines) [ $# -ge 2 ] || usage 2; lines=$2; shift ;;
	--lines=*) lines=${1#--lines=} ;;
	--runs) [ $# -ge 2 ] || usage 2; runs=$2; shift ;;
	--runs=*) runs=${1#--runs=} ;;
	--keep) keep=1 ;;
	-h | --help) usage 0 ;;
	*) echo "parse.sh: unknown argument '$1'" >&2; usage 2 ;;
	esac
	shift
done
case $lines in '' | *[!0-9]* | 0) echo "parse.sh: --lines needs a positive integer" >&2; exit 2 ;; esac
case $runs in '' | *[!0-9]* | 0) echo "parse.sh: --runs needs a positive integer" >&2; exit 2 ;; esac
[ "$sample" -le "$lines" ] || sample=$lines

bench_init parse "${args[@]}"
load0=$(cut -d" " -f1-3 /proc/loadavg)
bench_need jq jq
bench_need awk mawk

cx=$CX_ROOT/bin/cx-parse
if [ ! -x "$cx" ] && { [ -e "$CX_ROOT/src/cx-parse.c" ] || [ -d "$CX_ROOT/src/cx-parse" ]; }; then
	make -C "$CX_ROOT" -s bin/cx-parse >&2 || true
fi
have_cx=0
[ -x "$cx" ] && have_cx=1
# The defaults, not whatever the caller's shell says.
unset CX_CONFIG CX_DB CX_DB_SYNC CX_NOW CX_BUSY_TIMEOUT_MS CX_SHARE_DIR
export CX_LOG=json

T=$BENCH_TMP
in=$T/input.ndjson
rss_limit_mib=64
provider=whatsapp
fx=$CX_ROOT/tests/fixtures/$provider
[ "$keep" = 1 ] && trap 'echo "kept $T" >&2' EXIT

# --- the jq peer ---------------------------------------------------------------
peer=$T/peer.jq
{
	echo 'def parse:'
	cat "$CX_ROOT/share/cx/parsers/$provider.jq"
	echo ';'
	# shellcheck disable=SC2016 # jq variables, not shell ones
	echo 'def envelope($ARGS; $provider):'
	cat "$CX_ROOT/tests/fixtures/envelope.jq"
	echo ';'
	cat "$CX_ROOT/bench/peers/parse-peer.jq"
} >"$peer"

# The peer must print the golden events for every fixture body.
golden_ok=1
golden_n=0
while read -r f; do
	c=${f%.json}
	c=${c%.body}
	jq -c '{v: 1, type: "webhook.received", inbox_id: 1, provider: "'"$provider"'",
	    correlation_id: "c-fixture", received_at: "2026-11-23T10:00:00Z", body: .}' "$fx/$f" |
	    jq -c -f "$peer" >"$T/golden.out"
	if ! cmp -s "$T/golden.out" "$fx/$c.expected.ndjson"; then
		echo "parse.sh: the jq peer differs from $fx/$c.expected.ndjson" >&2
		golden_ok=0
	fi
	golden_n=$((golden_n + 1))
done <"$fx/INPUTS"

# --- input -----------------------------------------------------------------------
# One template per fixture body, compact, with "@N@" where the inbox id goes.
echo "generating $lines lines..." >&2
while read -r f; do
	jq -c '
	def tag: if type == "string" then . + ".@N@" else . end;
	if (.entry | type) == "array" then
		.entry[]?.changes[]?.value |= (
		    if type == "object" then
			(if (.messages | type) == "array" then .messages[] |= (
			    if type == "object" then
				(if has("id") then .id |= tag else . end)
				| (if (.context | type) == "object" and (.context | has("id")) then .context.id |= tag else . end)
				| (if (.reaction | type) == "object" and (.reaction | has("message_id")) then .reaction.message_id |= tag else . end)
			    else . end) else . end)
			| (if (.statuses | type) == "array" then .statuses[] |= (
			    if type == "object" and has("id") then .id |= tag else . end) else . end)
		    else . end)
	else . end' "$fx/$f"
done <"$fx/INPUTS" >"$T/templates"
awk -v n="$lines" '
{ t[k++] = $0 }
END {
	for (i = 1; i <= n; i++) {
		b = t[(i - 1) % k]
		gsub(/@N@/, i, b)
		printf "{\"v\":1,\"type\":\"webhook.received\",\"inbox_id\":%d,\"provider\":\"whatsapp\",\"correlation_id\":\"c-%d\",\"received_at\":\"2026-11-23T10:00:00Z\",\"body\":%s}\n", i, i, b
	}
}' "$T/templates" >"$in"
bytes=$(wc -c <"$in")
# Mapping errors the input holds: the fixtures' .errors.ndjson, line by line.
while read -r f; do
	c=${f%.json}
	c=${c%.body}
	wc -l <"$fx/$c.errors.ndjson"
done <"$fx/INPUTS" | awk -v n="$lines" '{ e[k++] = $1 } END { for (i = 0; i < n; i++) s += e[i % k]; print s }' >"$T/errors.expected"
errors_expected=$(cat "$T/errors.expected")
head -n "$sample" "$in" >"$T/sample.ndjson"

# --- equality on the sample ----------------------------------------------------------
not_done() { jq -c 'select(.type != "delivery.done")'; }
jq -c -f "$peer" <"$T/sample.ndjson" >"$T/sample.jq.out"
sample_events=$(wc -l <"$T/sample.jq.out")
if [ "$have_cx" = 1 ]; then
	rc=0
	CX_DB=$T/sample.db "$cx" <"$T/sample.ndjson" >"$T/sample.cx.raw" 2>"$T/sample.cx.err" || rc=$?
	# 65 (data error): some items were refused, as the fixtures mean them to be.
	case $rc in 0 | 65) ;; *) echo "parse.sh: cx-parse exited with status $rc on the sample" >&2 ;; esac
	not_done <"$T/sample.cx.raw" >"$T/sample.cx.out"
	sample_done=$(grep -c '"delivery.done"' "$T/sample.cx.raw" || true)
	if cmp -s "$T/sample.cx.out" "$T/sample.jq.out"; then
		sample_match=1
	else
		sample_match=0
		echo "parse.sh: first difference on the sample (< cx-parse, > jq):" >&2
		diff "$T/sample.cx.out" "$T/sample.jq.out" | head -n 6 >&2 || true
	fi
fi

# --- runs -------------------------------------------------------------------------
# run ID IN OUT CMD...: bench_time, plus the CPU seconds (user + system) the
# command used, from the shell's children times (less swayed than wall time
# by other work on the host). With --runs N, the fastest wall time is kept.
declare -A CPU=()
# (times must run in this shell, not in a $(...) subshell: hence the file)
children_cpu() {
	times >"$T/.times"
	awk 'END {
		s = 0
		for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] }
		printf "%.3f", s
	}' "$T/.times"
}
run() {
	local id=$1 c0 c1 rc=0 prev_secs=${BENCH_SECS[$1]:-} prev_kib=${BENCH_KIB[$1]:-} prev_cpu=${CPU[$1]:-}
	sync
	children_cpu >"$T/.c0"
	bench_time "$@" || rc=$?
	children_cpu >"$T/.c1"
	c0=$(cat "$T/.c0")
	c1=$(cat "$T/.c1")
	CPU[$id]=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.3f", b - a }')
	if [ -n "$prev_secs" ] && awk -v a="$prev_secs" -v b="${BENCH_SECS[$id]}" 'BEGIN { exit !(a <= b) }'; then
		BENCH_SECS[$id]=$prev_secs
		CPU[$id]=$prev_cpu
	fi
	# peak RSS: the largest of the runs
	if [ -n "$prev_kib" ] && [ "$prev_kib" -gt "${BENCH_KIB[$id]}" ]; then
		BENCH_KIB[$id]=$prev_kib
	fi
	return "$rc"
}
cx_rc=0
for r in $(seq "$runs"); do
	if [ "$have_cx" = 1 ]; then
		echo "running cx-parse ($r/$runs)..." >&2
		# bench_time's note of a non-zero status lands in cx.err with the rest.
		rm -f "$T"/cx.db "$T"/cx.db-*
		rc=0
		CX_DB=$T/cx.db run cx "$in" "$T/cx.raw" "$cx" 2>"$T/cx.err" || rc=$?
		[ "$rc" = 0 ] || cx_rc=$rc
	fi
	echo "running jq ($r/$runs)..." >&2
	run jq "$in" "$T/jq.out" jq -c -f "$peer"
done

# --- report ---------------------------------------------------------------------------
echo
echo "cx-parse benchmark: $lines webhook.received lines ($((bytes / 1048576)) MiB, $(wc -l <"$fx/INPUTS") WhatsApp fixture bodies in turn, distinct ids)"
echo "host: $(nproc) CPU(s) ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)); $(jq --version); peak RSS via ${BENCH_TIME:-/proc VmHWM sampling}"
echo "load average before the runs: $load0 (other work on the host skews the numbers)"
echo
row() {
	printf '%-40s %9.3f %11d %9.3f %11d %8s\n' "$2" "${BENCH_SECS[$1]}" \
	    "$(bench_rate "$lines" "${BENCH_SECS[$1]}")" "${CPU[$1]}" \
	    "$(bench_rate "$lines" "${CPU[$1]}")" "$(bench_mib "${BENCH_KIB[$1]}")"
}
printf '%-40s %9s %11s %9s %11s %8s\n' "tool ($([ "$runs" = 1 ] && echo "1 run" || echo "best of $runs"))" \
    'wall s' lines/s 'CPU s' 'lines/CPU s' 'RSS MiB'
if [ "$have_cx" = 1 ]; then row cx "cx-parse"; fi
row jq "jq -c (parser + envelope, one process)"
echo

jq_events=$(wc -l <"$T/jq.out")
echo "jq peer vs golden files: $([ "$golden_ok" = 1 ] && echo match || echo DIFFER) ($golden_n fixture bodies)"
bench_check "jq peer prints the golden events of the $golden_n fixture bodies" "$golden_ok"
if [ "$have_cx" = 1 ]; then
	grep -v '"type":"delivery.done"' "$T/cx.raw" >"$T/cx.out" || true
	cx_done=$(grep -c '"type":"delivery.done"' "$T/cx.raw" || true)
	cx_events=$(wc -l <"$T/cx.out")
	full_match=$(cmp -s "$T/cx.out" "$T/jq.out" && echo 1 || echo 0)
	echo "sample of $sample lines: cx-parse and jq $([ "$sample_match" = 1 ] && echo match || echo DIFFER) ($sample_events events; cx-parse also printed $sample_done delivery.done)"
	echo "whole run: events cx-parse $cx_events (+ $cx_done delivery.done), jq $jq_events: $([ "$full_match" = 1 ] && echo match || echo DIFFER)"
	cx_errors=$(grep -c '"error_code":"parse_error"' "$T/cx.err" || true)
	echo "cx-parse exit status $cx_rc; parse errors logged $cx_errors (the fixtures hold $errors_expected); stderr $(wc -l <"$T/cx.err") lines"
	echo
	r_cx=$(bench_rate "$lines" "${BENCH_SECS[cx]}")
	r_jq=$(bench_rate "$lines" "${BENCH_SECS[jq]}")
	bench_ratio "lines/s: cx-parse / jq" "$r_cx" "$r_jq" 1.0
	bench_ratio "lines per CPU second: cx-parse / jq" \
	    "$(bench_rate "$lines" "${CPU[cx]}")" "$(bench_rate "$lines" "${CPU[jq]}")"
	echo
	bench_check "cx-parse peak RSS $(bench_mib "${BENCH_KIB[cx]}") MiB <= $rss_limit_mib MiB at $lines lines" \
	    "$(awk -v k="${BENCH_KIB[cx]}" -v m="$rss_limit_mib" 'BEGIN { print (k <= m * 1024) }')"
	bench_check "cx-parse events == jq events on the first $sample lines" "$sample_match"
	bench_check "cx-parse events == jq events on all $lines lines" "$full_match"
	bench_check "cx-parse logs the $errors_expected mapping errors, exits 0 or 65 (data error)" \
	    "$([ "$cx_errors" = "$errors_expected" ] && { [ "$cx_rc" = 0 ] || [ "$cx_rc" = 65 ]; } && echo 1 || echo 0)"
else
	echo "jq: $jq_events events"
	echo
	bench_check "bin/cx-parse exists (not built yet: nothing to compare)" 0
fi
bench_verdict
