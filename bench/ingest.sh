#!/usr/bin/env bash
# bench/ingest.sh: `cx-ingest serve` against the servers a user would
# otherwise put in front of a WhatsApp webhook (SPEC §9), driven by wrk
# with one signed body.
#
#   bench/ingest.sh [--duration SECS] [--keep]
#
# Servers, each on 127.0.0.1, each answering POSTs of the same ~1.5 KB
# WhatsApp batch signed with X-Hub-Signature-256 (HMAC-SHA256, one secret):
#   1. cx-ingest serve: checks the signature, stores the delivery in the
#      SQLite inbox and answers 200 only after the commit (group commit;
#      synchronous=FULL unless CX_DB_SYNC says otherwise).
#   2. webhook (Debian's adnanh/webhook): a payload-hmac-sha256 trigger rule
#      on the same header and secret, executing /bin/true (bench/peers/hooks.json).
#      Not durable: it answers before the command has even run.
#   3. nginx `return 200` (bench/peers/nginx.conf): the HTTP floor; checks
#      nothing, stores nothing.
# Each is driven with `wrk -t2 -cC -dSECS --latency` for C = 16 and 64
# (bench/peers/post.lua sends the body and counts statuses exactly).
# Targets, at 64 connections: cx >= 3x webhook's req/s; cx p99 < webhook p99.
# Durability: after each cx run the server is killed with SIGKILL and the
# inbox rows are counted; every 2xx wrk saw must be a row (rows >= 2xx). Rows
# beyond the 2xx count are requests committed whose answer wrk did not wait
# for when its clock ran out (at most one per connection).
# Exits 1 when a target or a check fails.
#
# Environment: BENCH_DIR (temp dir; the cx state file lives there, so its
# file system decides what fsync costs), BENCH_CPUS (2), CX_DB_SYNC.

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

usage() {
	sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
	exit "${1:-0}"
}

duration=10
keep=0
args=("$@")
while [ $# -gt 0 ]; do
	case $1 in
	--duration) [ $# -ge 2 ] || usage 2; duration=$2; shift ;;
	--duration=*) duration=${1#--duration=} ;;
	--keep) keep=1 ;;
	-h | --help) usage 0 ;;
	*) echo "ingest.sh: unknown argument '$1'" >&2; usage 2 ;;
	esac
	shift
done
case $duration in '' | *[!0-9]* | 0) echo "ingest.sh: --duration needs a positive integer" >&2; exit 2 ;; esac

bench_init ingest "${args[@]}"
BENCH_DURATION=$duration
load0=$(cut -d" " -f1-3 /proc/loadavg)
bench_need wrk wrk
bench_need webhook webhook
bench_need nginx nginx-light || bench_need nginx nginx
bench_need sqlite3 sqlite3
bench_need jq jq
bench_need openssl openssl
bench_need curl curl

cx=$CX_ROOT/bin/cx-ingest
if [ ! -x "$cx" ]; then
	make -C "$CX_ROOT" -s bin/cx-ingest >&2
fi
unset CX_CONFIG CX_DB CX_NOW CX_META_APP_SECRET_FILE CX_META_APP_SECRET_PREVIOUS
export CX_LOG=json CX_LOG_LEVEL=warn

T=$BENCH_TMP
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	if [ "$keep" = 1 ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT

secret=bench-secret-6d1f0b5c9a
export CX_META_APP_SECRET=$secret

# --- the body ----------------------------------------------------------------
# meta_inbound_text.json made a batch of 4 text messages with distinct ids,
# the last text padded so the compact body is 1536 bytes.
target=1536
fx=$CX_ROOT/tests/fixtures/whatsapp/meta_inbound_text.json
mkbody() {
	jq -c -j --arg pad "$1" '
	.entry[0].changes[0].value.messages |= [range(0; 4) as $i | .[0]
	    | .id = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0\($i)RgA="
	    | .timestamp = (1749416383 + $i | tostring)
	    | .text.body = "Does it come in another color? (\($i + 1)/4)\(if $i == 3 then $pad else "" end)"]' "$fx"
}
mkbody "" >"$T/body.json"
pad=$((target - $(wc -c <"$T/body.json")))
[ "$pad" -ge 0 ] || pad=0
mkbody " $(printf '%*s' $((pad > 0 ? pad - 1 : 0)) '' | tr ' ' 'x')" >"$T/body.json"
body_bytes=$(wc -c <"$T/body.json")
sig=sha256=$(openssl dgst -sha256 -hmac "$secret" -hex <"$T/body.json" | sed 's/^.*= //')
export CX_BENCH_BODY=$T/body.json CX_BENCH_SIG=$sig

# --- helpers -----------------------------------------------------------------
stop() {
	kill "-${2:-TERM}" "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	local p keep_pids=()
	for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep_pids+=("$p"); done
	PIDS=("${keep_pids[@]}")
}

# One probe request before the clock runs: the server must say 2xx.
probe() {
	local code
	code=$(curl -s -o "$T/probe.out" -w '%{http_code}' -X POST \
	    -H 'Content-Type: application/json' -H "X-Hub-Signature-256: $sig" \
	    --data-binary "@$T/body.json" "$1") || true
	case $code in
	2??) ;;
	*) echo "ingest.sh: probe of $1 answered '$code': $(head -c 200 "$T/probe.out")" >&2; return 1 ;;
	esac
}

declare -A ROWS
run_cx() {
	local c=$1 id=cx-$1 port pid db=$T/cx-$1.db
	port=$(bench_pick_port)
	"$cx" serve --listen "127.0.0.1:$port" --db "$db" 2>"$T/cx-$c.log" &
	pid=$!
	PIDS+=("$pid")
	bench_wait_up "$port" "$pid"
	probe "http://127.0.0.1:$port/webhooks/whatsapp"
	local before
	before=$(sqlite3 -batch "$db" 'SELECT count(*) FROM inbox')
	echo "driving cx-ingest serve, $c connections..." >&2
	bench_wrk "$id" "http://127.0.0.1:$port/webhooks/whatsapp" "$c"
	# SIGKILL: a 2xx must already be on disk, nothing may wait in memory.
	stop "$pid" KILL
	ROWS[$id]=$(($(sqlite3 -batch "$db" 'SELECT count(*) FROM inbox') - before))
	DBSIZE[$id]=$(stat -c %s "$db")
}
declare -A DBSIZE

run_webhook() {
	local c=$1 port pid
	port=$(bench_pick_port)
	webhook -hooks "$CX_ROOT/bench/peers/hooks.json" -template -ip 127.0.0.1 \
	    -port "$port" >"$T/webhook-$c.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	bench_wait_up "$port" "$pid"
	probe "http://127.0.0.1:$port/hooks/whatsapp"
	echo "driving webhook, $c connections..." >&2
	bench_wrk "webhook-$c" "http://127.0.0.1:$port/hooks/whatsapp" "$c"
	stop "$pid"
}

run_nginx() {
	local c=$1 port pid d=$T/nginx-$1
	port=$(bench_pick_port)
	mkdir -p "$d"
	sed -e "s|@PORT@|$port|g" -e "s|@DIR@|$d|g" "$CX_ROOT/bench/peers/nginx.conf" >"$d/nginx.conf"
	nginx -p "$d" -c "$d/nginx.conf" -e "$d/nginx-error.log" >"$d/stdout.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	bench_wait_up "$port" "$pid"
	probe "http://127.0.0.1:$port/webhooks/whatsapp"
	echo "driving nginx, $c connections..." >&2
	bench_wrk "nginx-$c" "http://127.0.0.1:$port/webhooks/whatsapp" "$c"
	stop "$pid" QUIT
}

# --- runs --------------------------------------------------------------------
for c in 16 64; do
	run_cx "$c"
	run_webhook "$c"
	run_nginx "$c"
done

# --- report ------------------------------------------------------------------
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }

echo
echo "cx-ingest serve benchmark: POST of one ${body_bytes}-byte signed WhatsApp batch (4 messages), wrk -t2 -d${duration}s --latency"
echo "host: $(nproc) CPU(s) ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), cx state file on $(df -T "$T" | awk 'NR == 2 { print $2 }'), CX_DB_SYNC=${CX_DB_SYNC:-full}"
echo "$(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2); webhook $(webhook -version | awk '{ print $NF }'); $(nginx -v 2>&1 | sed 's/.*: //'); wrk and the servers share the CPUs"
echo "load average before the runs: $load0 (other work on the host skews the numbers)"
echo
printf '%-18s %5s %10s %10s %10s %9s %9s %7s\n' server conns req/s 'p50 ms' 'p99 ms' requests non-2xx errors
for c in 16 64; do
	for s in cx webhook nginx; do
		id=$s-$c
		case $s in
		cx) label="cx-ingest serve" ;;
		webhook) label="webhook (HMAC)" ;;
		nginx) label="nginx return 200" ;;
		esac
		printf '%-18s %5d %10d %10s %10s %9d %9d %7d\n' "$label" "$c" "${BENCH_RPS[$id]}" \
		    "$(ms "${BENCH_P50[$id]}")" "$(ms "${BENCH_P99[$id]}")" "${BENCH_REQS[$id]}" "${BENCH_NON2XX[$id]}" "${BENCH_ERRS[$id]}"
	done
done
echo

bench_ratio "req/s at 64 conns: cx / webhook" "${BENCH_RPS[cx-64]}" "${BENCH_RPS[webhook-64]}" 3
bench_ratio "req/s at 64 conns: cx / nginx (fraction)" "${BENCH_RPS[cx-64]}" "${BENCH_RPS[nginx-64]}"
bench_ratio "req/s at 16 conns: cx / webhook" "${BENCH_RPS[cx-16]}" "${BENCH_RPS[webhook-16]}"
bench_ratio "p99 at 64 conns: cx / webhook" "${BENCH_P99[cx-64]}" "${BENCH_P99[webhook-64]}"
bench_check "p99 at 64 conns: cx $(ms "${BENCH_P99[cx-64]}") ms < webhook $(ms "${BENCH_P99[webhook-64]}") ms" \
    "$([ "${BENCH_P99[cx-64]}" -lt "${BENCH_P99[webhook-64]}" ] && echo 1 || echo 0)"
echo

echo "durability (cx killed with SIGKILL right after wrk, then the inbox counted):"
for c in 16 64; do
	id=cx-$c
	rows=${ROWS[$id]} ok=${BENCH_OK2XX[$id]}
	diff=$((rows - ok))
	printf '  %2d conns: inbox rows %d, 2xx answers %d (of %d responses, %d non-2xx): difference %+d' \
	    "$c" "$rows" "$ok" "${BENCH_REQS[$id]}" "${BENCH_NON2XX[$id]}" "$diff"
	if [ "$diff" -gt 0 ]; then
		printf ' (committed, answer not counted when wrk stopped)'
	fi
	printf '; state file %s MiB\n' "$(awk -v b="${DBSIZE[$id]}" 'BEGIN { printf "%.1f", b / 1048576 }')"
	bench_check "cx $c conns: every 2xx is an inbox row ($rows rows >= $ok 2xx, excess <= $c in flight)" \
	    "$([ "$rows" -ge "$ok" ] && [ "$diff" -le "$c" ] && echo 1 || echo 0)"
	bench_check "cx $c conns: no non-2xx, no socket errors" \
	    "$([ "${BENCH_NON2XX[$id]}" = 0 ] && [ "${BENCH_ERRS[$id]}" = 0 ] && echo 1 || echo 0)"
done
echo
bench_verdict
