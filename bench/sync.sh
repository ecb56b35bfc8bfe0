#!/usr/bin/env bash
# bench/sync.sh: cx-sync google-calendar on a mocked 20,000-event calendar:
# the first (full) sync, a run with nothing new, and an incremental run with
# 100 changes.
#
#   bench/sync.sh [--events N] [--changes N] [--keep]
#
# The calendar is tests/mock/google_calendar.py with N generated events
# (default 20,000; organizer, three attendees and a time zone each, about
# 1 KiB of JSON) listed 250 per page, as Google's maxResults default for
# cx-sync; the token comes from tests/mock/oauth_server.py through the same
# credential store as in production. The mock is Python: its own time is in
# the numbers (see the requests column).
#
# Timed, with wall time and peak RSS:
#   1. the first run: every page, every event created (full)
#   2. a second run: the sync token, nothing changed
#   3. after N changes at the mock (default 100: 60 updated, 20 cancelled,
#      20 new): the incremental run
# Targets: the incremental run costs <= 5% of the full one, and emits exactly
# the changes; peak RSS <= 64 MiB.
# Exits 1 when a target or a correctness check fails.
#
# Environment: BENCH_DIR (where the temp dir goes), BENCH_CPUS (2).

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

usage() {
	sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
	exit "${1:-0}"
}

events=20000
changes=100
keep=0
args=("$@")
while [ $# -gt 0 ]; do
	case $1 in
	--events) [ $# -ge 2 ] || usage 2; events=$2; shift ;;
	--changes) [ $# -ge 2 ] || usage 2; changes=$2; shift ;;
	--keep) keep=1 ;;
	-h | --help) usage 0 ;;
	*) echo "sync.sh: unknown argument '$1'" >&2; usage 2 ;;
	esac
	shift
done
case $events$changes in *[!0-9]*) echo "sync.sh: numbers only" >&2; exit 2 ;; esac
[ "$changes" -ge 5 ] && [ "$events" -ge "$changes" ] ||
	{ echo "sync.sh: --changes wants 5 to --events" >&2; exit 2; }

bench_init sync "${args[@]}"
bench_need python3 python3
bench_need curl curl
bench_need jq jq

cx=$CX_ROOT/bin/cx-sync
[ -x "$cx" ] || make -C "$CX_ROOT" -s bin/cx-sync bin/cx-oauth >&2
unset CX_CONFIG CX_DB_SYNC CX_NOW CX_BUSY_TIMEOUT_MS
T=$BENCH_TMP
export CX_DB=$T/cx.db CX_LOG=json PATH=$CX_ROOT/bin:$PATH
CX_TOKEN_KEY=$(head -c 32 /dev/urandom | base64)
export CX_TOKEN_KEY
load0=$(cut -d' ' -f1-3 /proc/loadavg)
rss_limit_mib=64

# --- the mocks and the credential -------------------------------------------
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
redirect=http://127.0.0.1:8765/callback
"$py" "$CX_ROOT/tests/mock/oauth_server.py" 0 --record /dev/null --redirect "$redirect" \
	--lifetime 3600 > "$T/oauth.port" 2> "$T/oauth.err" &
oauth_pid=$!
"$py" "$CX_ROOT/tests/mock/google_calendar.py" 0 --record "$T/gcal.jsonl" \
	--lifetime 3600 > "$T/gcal.port" 2> "$T/gcal.err" &
gcal_pid=$!
cleanup() {
	kill "$oauth_pid" "$gcal_pid" 2> /dev/null
	if [ "$keep" = 1 ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
for _ in $(seq 200); do [ -s "$T/oauth.port" ] && [ -s "$T/gcal.port" ] && break; sleep 0.05; done
M=http://127.0.0.1:$(head -n 1 "$T/oauth.port")
G=http://127.0.0.1:$(head -n 1 "$T/gcal.port")
export CX_GOOGLE_CLIENT_ID=google-client-id.apps.googleusercontent.com \
	CX_GOOGLE_CLIENT_SECRET=google-client-secret CX_GOOGLE_REDIRECT_URI=$redirect \
	CX_GOOGLE_AUTHORIZE_URL=$M/google/authorize CX_GOOGLE_TOKEN_URL=$M/google/token
url=$(CX_GOOGLE_API_BASE=$M/google cx-oauth authorize --provider google --workspace bench)
CX_GOOGLE_API_BASE=$M/google cx-oauth callback \
	--url "$(curl -s -o /dev/null -w '%{redirect_url}' "$url")" > /dev/null
export CX_GOOGLE_API_BASE=$G

ctl() {
	curl -sf -X POST -H 'Content-Type: application/json' --data-binary "@$1" "$G/_control" > /dev/null
}
echo "{\"calendar\": \"primary\", \"generate\": $events}" > "$T/gen.json"
ctl "$T/gen.json"

requests() {
	if [ -f "$T/gcal.jsonl" ]; then wc -l < "$T/gcal.jsonl"; else echo 0; fi
}

# --- runs ----------------------------------------------------------------------
run() {
	local id=$1 before
	before=$(requests)
	sync
	bench_time "$id" /dev/null "$T/$id.out" "$cx" google-calendar --workspace bench \
		--calendar primary 2>> "$T/sync.log"
	REQS[$id]=$(( $(requests) - before ))
}
declare -A REQS=()
echo "running the first sync of $events events..." >&2
run full
echo "running a sync with nothing new..." >&2
run none
# changes: 60% updated, 20% cancelled, 20% new
up=$((changes * 6 / 10))
cancel=$((changes / 5))
new=$((changes - up - cancel))
jq -n --argjson up "$up" --argjson cancel "$cancel" --argjson new "$new" --argjson n "$events" '
	{calendar: "primary",
	 upsert: ([range(0; $up) | (. * 97 % $n) as $i | {id: "gen\($i)", summary: "Moved \($i)",
		start: {dateTime: "2026-03-01T09:00:00-06:00", timeZone: "America/Chicago"},
		end: {dateTime: "2026-03-01T10:00:00-06:00", timeZone: "America/Chicago"},
		organizer: {email: "owner@example.com"}}]
		+ [range(0; $new) | {id: "new\(.)", summary: "New \(.)",
		start: {date: "2026-04-01"}, end: {date: "2026-04-02"}}]),
	 cancel: [range(0; $cancel) | "gen\((. * 97 + 13) % $n)"]}' > "$T/changes.json"
ctl "$T/changes.json"
echo "running the incremental sync of $changes changes..." >&2
run incr

# --- checks ----------------------------------------------------------------------
count() { jq -r .type "$T/$1.out" | sort | uniq -c | awk '{ printf "%s %s ", $2, $1 }'; }
full_n=$(wc -l < "$T/full.out")
none_n=$(wc -l < "$T/none.out")
incr_n=$(wc -l < "$T/incr.out")
bench_check "first run: $events created" "$([ "$full_n" = "$events" ] &&
	[ "$(jq -c 'select(.type != "calendar.event.created")' "$T/full.out" | wc -l)" = 0 ] && echo 1 || echo 0)"
bench_check "second run: nothing" "$([ "$none_n" = 0 ] && echo 1 || echo 0)"
bench_check "incremental run: exactly the $changes changes" "$([ "$incr_n" = "$changes" ] &&
	[ "$(jq -c 'select(.type == "calendar.event.updated")' "$T/incr.out" | wc -l)" = "$up" ] &&
	[ "$(jq -c 'select(.type == "calendar.event.deleted")' "$T/incr.out" | wc -l)" = "$cancel" ] &&
	[ "$(jq -c 'select(.type == "calendar.event.created")' "$T/incr.out" | wc -l)" = "$new" ] &&
	echo 1 || echo 0)"

echo
echo "cx-sync google-calendar, $events events, 250 per page (load before: $load0)"
printf '%-44s %9s %9s %11s %9s\n' run seconds requests events/s 'RSS MiB'
for id in full none incr; do
	case $id in
	full) label="first sync (full, $full_n created)"; n=$full_n ;;
	none) label="nothing new (incremental)"; n=$none_n ;;
	incr) label="$changes changes (incremental)"; n=$incr_n ;;
	esac
	printf '%-44s %9.3f %9d %11d %9s\n' "$label" "${BENCH_SECS[$id]}" "${REQS[$id]}" \
		"$(bench_rate "$n" "${BENCH_SECS[$id]}")" "$(bench_mib "${BENCH_KIB[$id]}")"
done
echo "changes: $(count incr)"
pct=$(awk -v a="${BENCH_SECS[incr]}" -v b="${BENCH_SECS[full]}" 'BEGIN { printf "%.2f", 100 * a / b }')
echo "incremental / full time: $pct%  (target <= 5%)"
bench_check "incremental <= 5% of the full run's time" \
	"$(awk -v p="$pct" 'BEGIN { print (p <= 5) }')"
max_kib=0
for id in full none incr; do [ "${BENCH_KIB[$id]}" -gt "$max_kib" ] && max_kib=${BENCH_KIB[$id]}; done
bench_check "peak RSS <= $rss_limit_mib MiB ($(bench_mib "$max_kib") MiB)" \
	"$(awk -v k="$max_kib" -v l="$rss_limit_mib" 'BEGIN { print (k <= l * 1024) }')"
echo
bench_verdict
