# bench/lib.sh: helpers shared by the bench scripts (sourced, not run).
#
#   bench_init NAME "$@"     strict mode, CX_ROOT, a temp dir ($BENCH_TMP,
#                            removed on exit, under $BENCH_DIR or $TMPDIR),
#                            the script re-run pinned to $BENCH_CPUS CPUs
#                            (default 2) when the machine has more
#   bench_on_exit KEEP       on exit, end the servers whose pids are in
#                            BENCH_PIDS, then remove $BENCH_TMP, or name it
#                            on stderr when KEEP is 1 (--keep)
#   bench_need CMD PKG       make sure CMD exists (apt-get install PKG as root)
#   bench_time ID IN OUT CMD [ARG...]
#                            run CMD <IN >OUT once; sets BENCH_SECS[ID] (wall
#                            seconds) and BENCH_KIB[ID] (peak RSS, KiB)
#   bench_rate COUNT SECS    COUNT/SECS, an integer
#   bench_mib KIB            KiB -> MiB, one decimal
#   bench_row ID LABEL COUNT one row of the results table
#   bench_ratio LABEL A B [MIN]
#                            prints A/B; with MIN, PASS or FAIL for A/B >= MIN
#   bench_check LABEL OK     records a PASS/FAIL line (OK is 1 or 0)
#   bench_verdict            prints the PASS/FAIL lines; returns 1 on a FAIL
#   bench_pick_port          a free TCP port on 127.0.0.1
#   bench_wait_up PORT PID   until PORT accepts connections (10 s) while PID
#                            lives
#   bench_wrk ID URL CONNS   drives URL with wrk and bench/peers/post.lua for
#                            $BENCH_DURATION seconds; sets BENCH_RPS[ID],
#                            BENCH_P50/P99[ID] (microseconds), BENCH_REQS,
#                            BENCH_OK2XX, BENCH_NON2XX and BENCH_ERRS[ID]
#
# Peak RSS comes from GNU time (`/usr/bin/time -f %M`, the child's
# ru_maxrss); without it, from VmHWM in /proc/PID/status, sampled every
# 20 ms while the command runs (a lower bound for very short runs).
# Wall time is taken with $EPOCHREALTIME around the command, so it
# includes the fork/exec of the wrapper (well under a millisecond).

# shellcheck shell=bash

declare -gA BENCH_SECS=() BENCH_KIB=()
declare -gA BENCH_RPS=() BENCH_P50=() BENCH_P99=() BENCH_REQS=() BENCH_OK2XX=() \
    BENCH_NON2XX=() BENCH_ERRS=()
BENCH_CHECKS=()
BENCH_FAILED=0
BENCH_TIME=

bench_init() {
	set -euo pipefail
	export LC_ALL=C
	BENCH_NAME=$1
	shift
	# shellcheck disable=SC2034  # for the bench scripts
	CX_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	# Pin to a fixed number of CPUs so runs on bigger machines compare
	# with the reference (2 cores); re-exec the script under taskset.
	BENCH_CPUS=${BENCH_CPUS:-2}
	if [ -z "${BENCH_PINNED:-}" ] && command -v taskset >/dev/null &&
	    [ "$(nproc --all)" -gt "$BENCH_CPUS" ]; then
		export BENCH_PINNED=1
		exec taskset -c "0-$((BENCH_CPUS - 1))" bash "$0" "$@"
	fi
	BENCH_TMP=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/cx-bench-$BENCH_NAME.XXXXXX")
	trap 'rm -rf "$BENCH_TMP"' EXIT
	trap 'exit 130' INT TERM
	if [ -x /usr/bin/time ] || bench_need /usr/bin/time time 2>/dev/null; then
		BENCH_TIME=/usr/bin/time
	fi
}

# bench_need CMD PKG: CMD on PATH (or an absolute path that exists), else
# install the Debian package PKG when root; fails otherwise.
bench_need() {
	if [ "${1#/}" != "$1" ]; then [ -x "$1" ] && return 0
	else command -v "$1" >/dev/null && return 0
	fi
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "bench: installing $2 for $1" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1 ||
		    { apt-get update -qq >/dev/null 2>&1 &&
		    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1; }
	fi
	if [ "${1#/}" != "$1" ]; then [ -x "$1" ]; else command -v "$1" >/dev/null; fi ||
	    { echo "bench: $1 is missing (Debian package $2)" >&2; return 1; }
}

# Samples VmHWM of PID until it exits; prints the last value seen (KiB).
_bench_hwm() {
	local pid=$1 hwm=0 v
	while kill -0 "$pid" 2>/dev/null; do
		v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || true
		[ -n "$v" ] && hwm=$v
		sleep 0.02
	done
	echo "$hwm"
}

BENCH_PIDS=()

bench_on_exit() {
	BENCH_KEEP=$1
	trap _bench_exit EXIT
}

_bench_exit() {
	local p
	for p in "${BENCH_PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [ "$BENCH_KEEP" = 1 ]; then
		echo "kept: $BENCH_TMP" >&2
	else
		rm -rf "$BENCH_TMP"
	fi
}

bench_time() {
	local id=$1 in=$2 out=$3 t0 t1 rc=0 pid
	shift 3
	if [ -n "$BENCH_TIME" ]; then
		t0=$EPOCHREALTIME
		"$BENCH_TIME" -f %M -o "$BENCH_TMP/.rss" "$@" <"$in" >"$out" || rc=$?
		t1=$EPOCHREALTIME
		BENCH_KIB[$id]=$(tail -n 1 "$BENCH_TMP/.rss")
	else
		t0=$EPOCHREALTIME
		"$@" <"$in" >"$out" &
		pid=$!
		BENCH_KIB[$id]=$(_bench_hwm "$pid")
		wait "$pid" || rc=$?
		t1=$EPOCHREALTIME
	fi
	BENCH_SECS[$id]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	if [ "$rc" != 0 ]; then
		echo "bench: '$*' exited with status $rc" >&2
		return "$rc"
	fi
}

bench_rate() {
	awk -v n="$1" -v s="$2" 'BEGIN { printf "%d", (s > 0 ? n / s : 0) }'
}

bench_mib() {
	awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'
}

bench_header() {
	printf '%-44s %9s %11s %9s\n' tool seconds keys/s 'RSS MiB'
}

bench_row() {
	local id=$1 label=$2 n=$3
	printf '%-44s %9.3f %11d %9s\n' "$label" "${BENCH_SECS[$id]}" \
	    "$(bench_rate "$n" "${BENCH_SECS[$id]}")" "$(bench_mib "${BENCH_KIB[$id]}")"
}

# bench_ratio LABEL A B [MIN]
bench_ratio() {
	local r
	r=$(awk -v a="$2" -v b="$3" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
	if [ $# -ge 4 ]; then
		printf '%-44s %6sx  (target >= %s)\n' "$1" "$r" "$4"
		bench_check "$1 >= $4x" "$(awk -v r="$r" -v m="$4" 'BEGIN { print (r >= m) }')"
	else
		printf '%-44s %6sx\n' "$1" "$r"
	fi
}

bench_check() {
	if [ "$2" = 1 ]; then
		BENCH_CHECKS+=("PASS  $1")
	else
		BENCH_CHECKS+=("FAIL  $1")
		BENCH_FAILED=1
	fi
}

bench_verdict() {
	local c
	for c in "${BENCH_CHECKS[@]}"; do echo "$c"; done
	return "$BENCH_FAILED"
}

bench_port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

bench_pick_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 20000))
		bench_port_free "$p" && { echo "$p"; return; }
	done
}

bench_wait_up() {
	local _
	for _ in $(seq 200); do
		kill -0 "$2" 2>/dev/null || { echo "bench: server (pid $2) died" >&2; return 1; }
		bench_port_free "$1" || return 0
		sleep 0.05
	done
	echo "bench: nothing listens on port $1" >&2
	return 1
}

bench_wrk() {
	local id=$1 url=$2 c=$3 out=$BENCH_TMP/wrk-$1.txt line wrk_req wrk_non
	wrk -t2 -c"$c" -d"${BENCH_DURATION:-10}s" --timeout 10s --latency \
	    -s "$CX_ROOT/bench/peers/post.lua" "$url" >"$out" 2>&1 ||
	    { echo "bench: wrk failed:" >&2; cat "$out" >&2; return 1; }
	line=$(grep '^cx-bench:' "$out") ||
	    { echo "bench: no counts from post.lua:" >&2; cat "$out" >&2; return 1; }
	_bench_kv() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$line"; }
	BENCH_REQS[$id]=$(_bench_kv requests)
	BENCH_OK2XX[$id]=$(_bench_kv ok2xx)
	BENCH_NON2XX[$id]=$(_bench_kv non2xx)
	BENCH_P50[$id]=$(_bench_kv p50)
	BENCH_P99[$id]=$(_bench_kv p99)
	BENCH_ERRS[$id]=$(awk '{ for (i = 2; i <= NF; i++) if ($i ~ /^(connect|read|write|timeout)=/) { split($i, a, "="); n += a[2] } } END { print n + 0 }' <<<"$line")
	BENCH_RPS[$id]=$(awk '/^Requests\/sec:/ { printf "%d", $2 }' "$out")
	# wrk's own lines must agree with the script's counts.
	wrk_req=$(awk '/requests in/ { print $1 }' "$out")
	wrk_non=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
	if [ "$wrk_req" != "${BENCH_REQS[$id]}" ] || [ "${wrk_non:-0}" != "${BENCH_NON2XX[$id]}" ]; then
		echo "bench: $id: wrk says $wrk_req requests, ${wrk_non:-0} non-2xx; post.lua says ${BENCH_REQS[$id]}, ${BENCH_NON2XX[$id]}" >&2
	fi
}
