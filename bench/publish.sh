#!/usr/bin/env bash
# bench/publish.sh: cx-publish against a mock Graph API with a fixed latency
# per request (SPEC §9), compared with a sequential curl loop over the same
# requests and with what the latency and the concurrency allow.
#
#   bench/publish.sh [--items N] [--curl N] [--latency MS] [--rate R] [--keep]
#
# Input: N approved WhatsApp text items (default 2,000) in one state file,
# split over two tenants (two phone_number_ids mapped with cx accounts
# add). The mock is tests/mock/graph_api.py answering every send after
# --latency ms (default 20).
#
# Timed:
#   1. curl: a shell loop running `curl` once per request, one after the
#      other, over the first --curl of the same requests (default 200; the
#      rate is what is compared), each with its body, token and
#      Idempotency-Key exactly as cx-publish sends them.
#   2. curl --parallel: one curl process sending all N requests with
#      CX_PUBLISH_CONCURRENCY transfers at once and no state at all: what
#      this machine and the mock allow at that concurrency (a reference).
#   3. cx-publish on a copy of the state file, CX_DB_SYNC=full (the default:
#      every commit is fsynced).
#   4. cx-publish on another copy, CX_DB_SYNC=normal (WAL without an fsync
#      per commit: safe against crashes, not against power loss).
# Both cx runs keep a per-tenant rate limit (CX_PUBLISH_RATE_WHATSAPP, --rate,
# default 400 a second, burst 400) and CX_PUBLISH_CONCURRENCY (default 16).
# Targets, for the full run: sends/s >= 20x the curl loop's, and >= 0.75 of
# CX_PUBLISH_CONCURRENCY / latency (the most that many requests in flight
# can make of the mock's latency); both are printed, with the fraction of
# the curl --parallel reference for information.
# Checks: every item published once (the mock saw each idempotency key
# exactly once, the queue holds N published items, the published counter
# and the latency histogram's count are N), and for each tenant the k-th
# request arrived no earlier than the bucket allows (k <= burst + rate *
# elapsed, 5% slack).
# Exits 1 when a target or a check fails.
#
# Environment: BENCH_DIR (temp dir; the state file lives there, so its file
# system decides what fsync costs), BENCH_CPUS (2), CX_PUBLISH_CONCURRENCY.

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

usage() {
	sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
	exit "${1:-0}"
}

items=2000
curl_n=200
latency=20
rate=400
keep=0
args=("$@")
while [ $# -gt 0 ]; do
	case $1 in
	--items) [ $# -ge 2 ] || usage 2; items=$2; shift ;;
	--curl) [ $# -ge 2 ] || usage 2; curl_n=$2; shift ;;
	--latency) [ $# -ge 2 ] || usage 2; latency=$2; shift ;;
	--rate) [ $# -ge 2 ] || usage 2; rate=$2; shift ;;
	--keep) keep=1 ;;
	-h | --help) usage 0 ;;
	*) echo "publish.sh: unknown argument '$1'" >&2; usage 2 ;;
	esac
	shift
done
for v in "$items" "$curl_n" "$latency" "$rate"; do
	case $v in '' | *[!0-9]*) echo "publish.sh: numbers must be non-negative integers" >&2; exit 2 ;; esac
done
[ "$curl_n" -le "$items" ] || curl_n=$items

bench_init publish "${args[@]}"
bench_need curl curl
bench_need jq jq
bench_need python3 python3
bench_need sqlite3 sqlite3

for t in cx cx-approve cx-publish; do
	[ -x "$CX_ROOT/bin/$t" ] || make -C "$CX_ROOT" -s "bin/$t" >&2
done
export PATH="$CX_ROOT/bin:$PATH"
unset CX_CONFIG CX_NOW CX_DB_SYNC CX_PUBLISH_DIRECT_ENABLED CX_META_ACCESS_TOKEN_FILE
export CX_LOG=json CX_LOG_LEVEL=warn
export CX_PUBLISH_CONCURRENCY=${CX_PUBLISH_CONCURRENCY:-16}
export CX_PUBLISH_RATE_WHATSAPP=$rate
export CX_META_ACCESS_TOKEN=bench-system-user-token

T=$BENCH_TMP
MOCK_PID=
cleanup() {
	if [ -n "$MOCK_PID" ]; then
		kill "$MOCK_PID" 2>/dev/null || true
		wait "$MOCK_PID" 2>/dev/null || true
	fi
	if [ "$keep" = 1 ]; then
		echo "kept: $T" >&2
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT

python3 "$CX_ROOT/tests/mock/graph_api.py" 0 --latency-ms "$latency" --lifetime 1800 \
	> "$T/mock.port" 2> "$T/mock.err" &
MOCK_PID=$!
for _ in $(seq 200); do [ -s "$T/mock.port" ] && break; sleep 0.05; done
G=http://127.0.0.1:$(head -n 1 "$T/mock.port")
export CX_GRAPH_API_BASE=$G
control() {
	curl -sf -X POST -H 'Content-Type: application/json' -d "$1" "$G/_control" > /dev/null
}

# --- the state file: N approved items over two tenants ----------------------
export CX_DB=$T/template.db
echo "preparing $items approved items..." >&2
CX_DB_SYNC=normal cx-approve operators add "$(id -un)" --role owner 2> /dev/null
CX_DB_SYNC=normal cx accounts add --channel whatsapp --account 1001 --tenant shop-a 2> /dev/null
CX_DB_SYNC=normal cx accounts add --channel whatsapp --account 1002 --tenant shop-b 2> /dev/null
awk -v n="$items" 'BEGIN { for (i = 1; i <= n; i++)
	printf "{\"channel\":\"whatsapp\",\"kind\":\"text\",\"workspace\":\"bench\",\"phone_number_id\":\"%d\",\"to\":\"+5511900%06d\",\"text\":\"Order %d is on its way\"}\n",
		1001 + i % 2, i, i }' > "$T/proposals.ndjson"
CX_DB_SYNC=normal cx-approve enqueue < "$T/proposals.ndjson" > /dev/null
seq 1 "$items" | xargs -n 500 env CX_DB_SYNC=normal cx-approve approve > /dev/null
sqlite3 "$CX_DB" 'PRAGMA wal_checkpoint(TRUNCATE);' > /dev/null

# The requests cx-publish will send, for the curl loop.
CX_DB=$T/template.db cx-publish --dry-run < /dev/null > "$T/plan.ndjson"
[ "$(wc -l < "$T/plan.ndjson")" -eq "$items" ] || { echo "publish.sh: dry run planned $(wc -l < "$T/plan.ndjson") of $items" >&2; exit 1; }
mkdir "$T/bodies"
jq -r '[.idempotency_key, .url, (.body | tojson)] | @tsv' "$T/plan.ndjson" |
	awk -F '\t' -v d="$T/bodies" '{ f = sprintf("%s/%06d", d, NR); print $3 > (f ".json"); close(f ".json");
		print $1 "\t" $2 "\t" f ".json" }' > "$T/all.tsv"
head -n "$curl_n" "$T/all.tsv" > "$T/curl.tsv"
# the same requests as one curl config, for curl --parallel
awk -F '\t' -v tok="$CX_META_ACCESS_TOKEN" '{ printf "%surl = \"%s\"\nrequest = \"POST\"\n", (NR > 1 ? "next\n" : ""), $2
	printf "header = \"Authorization: Bearer %s\"\nheader = \"Content-Type: application/json\"\n", tok
	printf "header = \"Idempotency-Key: %s\"\ndata-binary = \"@%s\"\noutput = \"/dev/null\"\nsilent\n", $1, $3 }' \
	"$T/all.tsv" > "$T/parallel.curlrc"

# --- 1. the curl loop ----------------------------------------------------------
control "{\"reset\": true, \"record\": \"$T/curl.jsonl\"}"
curl_loop() {
	local key url body
	while IFS=$'\t' read -r key url body; do
		curl -s -o /dev/null -X POST -H "Authorization: Bearer $CX_META_ACCESS_TOKEN" \
			-H 'Content-Type: application/json' -H "Idempotency-Key: $key" \
			--data-binary "@$body" "$url"
	done < "$T/curl.tsv"
}
export -f curl_loop
export T
bench_time curl /dev/null /dev/null bash -c curl_loop

# --- 2. curl --parallel ---------------------------------------------------------
control "{\"reset\": true, \"record\": \"$T/parallel.jsonl\"}"
bench_time parallel /dev/null /dev/null curl -s --stderr /dev/null --parallel --parallel-max "$CX_PUBLISH_CONCURRENCY" \
	--config "$T/parallel.curlrc"

# --- 3 and 4. cx-publish ---------------------------------------------------------
run_cx() {
	local id=$1 sync=$2
	cp "$T/template.db" "$T/$id.db"
	control "{\"reset\": true, \"record\": \"$T/$id.jsonl\"}"
	CX_DB=$T/$id.db CX_DB_SYNC=$sync bench_time "$id" /dev/null "$T/$id.out" \
		cx-publish 2> "$T/$id.err" || true
}
run_cx cx_full full
run_cx cx_normal normal

# --- results -------------------------------------------------------------------
echo
echo "cx-publish: $items WhatsApp sends, mock latency ${latency} ms, 2 tenants at ${rate}/s each," \
	"CX_PUBLISH_CONCURRENCY=$CX_PUBLISH_CONCURRENCY, $BENCH_CPUS CPUs"
printf '%-44s %9s %11s %9s\n' tool seconds sends/s 'RSS MiB'
bench_row curl "curl loop (sequential, $curl_n requests)" "$curl_n"
bench_row parallel "curl --parallel (no state; reference)" "$items"
bench_row cx_full "cx-publish (CX_DB_SYNC=full)" "$items"
bench_row cx_normal "cx-publish (CX_DB_SYNC=normal)" "$items"
echo
curl_rate=$(bench_rate "$curl_n" "${BENCH_SECS[curl]}")
full_rate=$(bench_rate "$items" "${BENCH_SECS[cx_full]}")
normal_rate=$(bench_rate "$items" "${BENCH_SECS[cx_normal]}")
# what CX_PUBLISH_CONCURRENCY requests in flight make of the latency
allowed=$(awk -v c="$CX_PUBLISH_CONCURRENCY" -v l="$latency" 'BEGIN { printf "%d", (l > 0 ? c * 1000 / l : 0) }')
bench_ratio "cx-publish (full) vs curl loop" "$full_rate" "$curl_rate" 20
bench_ratio "cx-publish (normal) vs curl loop" "$normal_rate" "$curl_rate"
bench_ratio "cx-publish (full) of concurrency/latency ($allowed/s)" "$full_rate" "$allowed" 0.75
bench_ratio "cx-publish (normal) of concurrency/latency" "$normal_rate" "$allowed"
bench_ratio "cx-publish (full) of curl --parallel" "$full_rate" "$(bench_rate "$items" "${BENCH_SECS[parallel]}")"

# --- checks --------------------------------------------------------------------
check_run() {
	local id=$1 ok sends keys pub counter timed
	sends=$(jq -c 'select(.path | endswith("/messages"))' "$T/$id.jsonl" | wc -l)
	keys=$(jq -r 'select(.path | endswith("/messages")) | .idempotency_key' "$T/$id.jsonl" | sort -u | wc -l)
	pub=$(sqlite3 "$T/$id.db" "SELECT count(*) FROM queue WHERE state = 'published'")
	counter=$(CX_DB=$T/$id.db cx metrics | awk '/^cx_publish_total\{channel="whatsapp",result="published"\}/ { print $2 }')
	timed=$(CX_DB=$T/$id.db cx metrics | awk '/^cx_publish_latency_seconds_count\{channel="whatsapp"\}/ { print $2 }')
	ok=$([ "$sends" -eq "$items" ] && [ "$keys" -eq "$items" ] && [ "$pub" -eq "$items" ] &&
		[ "${counter:-0}" -eq "$items" ] && [ "${timed:-0}" -eq "$items" ] && echo 1 || echo 0)
	bench_check "$id: mock got $sends sends, $keys keys; $pub published; counter ${counter:-0}, latency count ${timed:-0} (want $items each)" "$ok"
	ok=$(python3 - "$T/$id.jsonl" "$rate" <<'EOF'
import json, sys
rate = float(sys.argv[2])
by = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["path"].endswith("/messages"):
        by.setdefault(r["path"], []).append(r["ts"])
ok = 1
for path, ts in by.items():
    ts.sort()
    for k, t in enumerate(ts, 1):
        if k > (rate + rate * (t - ts[0])) * 1.05 + 2:
            ok = 0
            break
print(ok)
EOF
)
	bench_check "$id: every tenant stayed within ${rate}/s (burst $rate)" "$ok"
}
check_run cx_full
check_run cx_normal
bench_verdict
