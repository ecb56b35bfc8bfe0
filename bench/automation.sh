#!/usr/bin/env bash
# bench/automation.sh: the automation endpoints of issue 14, each against
# the peer named in the issue, in one run.
#
#   bench/automation.sh [--duration SECS] [--events N] [--subscriptions S]
#
# 1. Actions in: `POST /actions/create_lead` on `cx-ingest serve` (API key
#    check, schema validation, a fresh Idempotency-Key per request, the
#    action stored in the inbox before the 202) against a signed WhatsApp
#    POST (a batch of 4 messages) to the same server, both driven by
#    `wrk -t2 -c64 -dSECS` one after the other, each on a fresh state file.
#    CX_ACTIONS_RATE and CX_ACTIONS_DAILY_QUOTA are raised so the limits
#    are checked on every request but never refuse one.
#    Target: actions req/s >= 0.5x the WhatsApp req/s.
# 2. Triggers out: N message events (default 100) to S subscriptions
#    (default 20) = N*S signed deliveries by `cx-publish triggers` to a
#    receiver answering every request after 20 ms (tests/peer/swh, which
#    verifies each signature with the npm standardwebhooks package), against
#    a sequential loop of curl POSTs of the same bodies, signed beforehand.
#    Target: cx >= 10x the curl loop; each subscription's rate
#    (CX_PUBLISH_RATE_TRIGGERS, default 50 a second, burst 50) kept: no
#    sliding second holds more than rate + burst deliveries of one
#    subscription; every delivery verified, each event once per subscription.
# Exits 1 when a target or a check fails.
#
# Environment: BENCH_DIR (temp dir), BENCH_CPUS (2), CX_DB_SYNC.

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

usage() {
	sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
	exit "${1:-0}"
}

duration=10
events=100
subs=20
args=("$@")
while [ $# -gt 0 ]; do
	case $1 in
	--duration) [ $# -ge 2 ] || usage 2; duration=$2; shift ;;
	--events) [ $# -ge 2 ] || usage 2; events=$2; shift ;;
	--subscriptions) [ $# -ge 2 ] || usage 2; subs=$2; shift ;;
	-h | --help) usage 0 ;;
	*) echo "automation.sh: unknown argument '$1'" >&2; usage 2 ;;
	esac
	shift
done
for v in "$duration" "$events" "$subs"; do
	case $v in '' | *[!0-9]* | 0) echo "automation.sh: numbers must be positive integers" >&2; exit 2 ;; esac
done

bench_init automation "${args[@]}"
BENCH_DURATION=$duration
load0=$(cut -d" " -f1-3 /proc/loadavg)
bench_need wrk wrk
bench_need sqlite3 sqlite3
bench_need jq jq
bench_need openssl openssl
bench_need curl curl
bench_need node nodejs

for t in cx cx-ingest cx-publish cx-integrations cx-parse; do
	[ -x "$CX_ROOT/bin/$t" ] || make -C "$CX_ROOT" -s all >&2
done
[ -f "$CX_ROOT/tests/peer/swh/node_modules/.package-lock.json" ] ||
	make -C "$CX_ROOT" -s tests/peer/swh/node_modules/.package-lock.json >&2
export PATH=$CX_ROOT/bin:$PATH
unset CX_CONFIG CX_DB CX_NOW CX_META_APP_SECRET_FILE CX_META_APP_SECRET_PREVIOUS
export CX_LOG=json CX_LOG_LEVEL=warn
export CX_TOKEN_KEY=$(head -c 32 /dev/urandom | base64)

T=$BENCH_TMP
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT

stop() {
	kill "-${2:-TERM}" "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# --- 1. actions in -------------------------------------------------------------
secret=bench-secret-6d1f0b5c9a
export CX_META_APP_SECRET=$secret
jq -c -j '.entry[0].changes[0].value.messages |= [range(0; 4) as $i | .[0]
    | .id = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0\($i)RgA="]' \
    "$CX_ROOT/tests/fixtures/whatsapp/meta_inbound_text.json" >"$T/whatsapp.json"
wa_sig=sha256=$(openssl dgst -sha256 -hmac "$secret" -hex <"$T/whatsapp.json" | sed 's/^.*= //')
printf '%s' '{"name":"Ada Lovelace","email":"ada@example.com","phone":"+44 20 7946 0000","source":"bench","notes":"Asked for a demo of the analytical engine."}' >"$T/lead.json"

# serve_on DB: cx-ingest serve on a fresh state file; sets port and pid.
serve_on() {
	port=$(bench_pick_port)
	CX_ACTIONS_RATE=1000000 CX_ACTIONS_DAILY_QUOTA=1000000000 \
	    cx-ingest serve --listen "127.0.0.1:$port" --db "$1" 2>>"$T/serve.log" &
	pid=$!
	PIDS+=("$pid")
	bench_wait_up "$port" "$pid"
}

echo "driving POST /webhooks/whatsapp, 64 connections..." >&2
serve_on "$T/whatsapp.db"
CX_BENCH_BODY=$T/whatsapp.json CX_BENCH_SIG=$wa_sig \
    bench_wrk whatsapp "http://127.0.0.1:$port/webhooks/whatsapp" 64
stop "$pid" KILL

db=$T/actions.db
key=$(cx integrations create --db "$db" --tenant bench --kind zapier --name bench \
    --scopes "action:create_lead" | jq -r .api_key)
serve_on "$db"
code=$(curl -s -o "$T/probe.out" -w '%{http_code}' -H "X-Api-Key: $key" \
    -H 'Content-Type: application/json' --data-binary "@$T/lead.json" \
    "http://127.0.0.1:$port/actions/create_lead")
[ "$code" = 202 ] || { echo "automation.sh: the probe action answered $code: $(cat "$T/probe.out")" >&2; exit 1; }
echo "driving POST /actions/create_lead, 64 connections..." >&2
CX_BENCH_BODY=$T/lead.json CX_BENCH_API_KEY=$key CX_BENCH_IDEM=bench-$$ \
    bench_wrk actions "http://127.0.0.1:$port/actions/create_lead" 64
stop "$pid" KILL
stored=$(sqlite3 -batch "$db" "SELECT count(*) FROM inbox WHERE provider = 'action'")

# --- 2. triggers out -----------------------------------------------------------
tdb=$T/triggers.db
int=$(cx integrations create --db "$tdb" --tenant bench --kind generic --name bench \
    --scopes "trigger:message" | jq -r .integration_id)
rport=$(bench_pick_port)
: >"$T/secrets"
for s in $(seq "$subs"); do
	cx integrations subscribe "$int" --db "$tdb" --event message \
	    --url "http://127.0.0.1:$rport/s$s" >>"$T/subs.ndjson"
done
jq -r .secret "$T/subs.ndjson" >"$T/secrets"
echo '{"default":200,"delay_ms":20}' >"$T/rules.json"
SWH_PORT=$rport SWH_SECRETS="$(tr '\n' ' ' <"$T/secrets")" SWH_RECORD=$T/received.ndjson \
    SWH_RULES=$T/rules.json node "$CX_ROOT/tests/peer/swh/receiver.mjs" \
    >"$T/receiver.log" 2>&1 &
rpid=$!
PIDS+=("$rpid")
bench_wait_up "$rport" "$rpid"

jq -c -n --argjson n "$events" 'range(0; $n) as $i | {v: 1, type: "message",
    dedupe_key: "bench:msg:\($i)", channel: "whatsapp", provider: "whatsapp",
    tenant: "bench", account: "1234", occurred_at: "2026-12-06T10:00:00Z",
    received_at: "2026-12-06T10:00:01Z", correlation_id: "c-bench\($i)",
    source: {inbox_id: $i}, data: {direction: "inbound",
    conversation_id: "15551234567", message_id: "wamid.bench\($i)",
    from: {id: "15551234567", name: "Bench"}, to: {id: "1234"},
    text: "hello number \($i)"}}' >"$T/events.ndjson"

echo "cx-publish triggers: $((events * subs)) deliveries..." >&2
bench_time cx "$T/events.ndjson" "$T/triggers.out" cx-publish triggers --db "$tdb"
cx_n=$(wc -l <"$T/received.ndjson")
cx_ok=$(jq -s '[.[] | select(.verified)] | length' "$T/received.ndjson")
cx_uniq=$(jq -r '"\(.path) \(.body | fromjson | .data.message_id)"' "$T/received.ndjson" | sort -u | wc -l)
# The most deliveries of one subscription within any second.
peak=$(jq -r '"\(.path) \(.received_ms)"' "$T/received.ndjson" | sort -k1,1 -k2,2n | awk '
	{ p[NR] = $1; t[NR] = $2 }
	END { j = 1; for (i = 1; i <= NR; i++) { while (p[j] != p[i] || t[i] - t[j] >= 1000) j++;
	    if (i - j + 1 > m) m = i - j + 1 } print m + 0 }')

# The peer: the same bodies, signed beforehand, one curl after the other.
mapfile -t sec <"$T/secrets"
jq -c '.body' -r "$T/received.ndjson" | head -n "$((events * subs))" >"$T/bodies"
: >"$T/received.ndjson"
{
	echo 'set -e'
	n=0
	while IFS= read -r body; do
		n=$((n + 1))
		id=msg_curl$n
		ts=$(date +%s)
		s=${sec[$(((n - 1) % subs))]#whsec_}
		sig=$(printf '%s' "$id.$ts.$body" | openssl dgst -sha256 -mac HMAC \
		    -macopt "hexkey:$(printf '%s' "$s" | base64 -d | od -An -tx1 | tr -d ' \n')" -binary | base64)
		printf 'curl -sf -o /dev/null -H %q -H %q -H %q -H %q --data-binary %q %q\n' \
		    "Content-Type: application/json" "webhook-id: $id" "webhook-timestamp: $ts" \
		    "webhook-signature: v1,$sig" "$body" "http://127.0.0.1:$rport/s$(((n - 1) % subs + 1))"
	done <"$T/bodies"
} >"$T/curl-loop.sh"
echo "sequential curl loop: $((events * subs)) POSTs..." >&2
bench_time curl /dev/null /dev/null bash "$T/curl-loop.sh"
curl_ok=$(jq -s '[.[] | select(.verified)] | length' "$T/received.ndjson")

# --- report ------------------------------------------------------------------
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
echo
echo "automation benchmark; host: $(nproc) CPU(s), load average before: $load0"
echo
printf '%-34s %10s %10s %10s %9s %9s\n' "actions in (wrk -c64 -d${duration}s)" req/s 'p50 ms' 'p99 ms' requests non-2xx
for id in whatsapp actions; do
	printf '%-34s %10d %10s %10s %9d %9d\n' "$([ $id = whatsapp ] && echo 'POST /webhooks/whatsapp (signed)' || echo 'POST /actions/create_lead')" \
	    "${BENCH_RPS[$id]}" "$(ms "${BENCH_P50[$id]}")" "$(ms "${BENCH_P99[$id]}")" \
	    "${BENCH_REQS[$id]}" "${BENCH_NON2XX[$id]}"
done
echo "actions stored in the inbox: $stored (2xx answers: $((BENCH_OK2XX[actions] + 1)), the probe included)"
echo
printf '%-34s %9s %11s %9s\n' "triggers out ($((events * subs)) deliveries, 20 ms)" seconds deliveries/s 'RSS MiB'
printf '%-34s %9.3f %11d %9s\n' "cx-publish triggers" "${BENCH_SECS[cx]}" \
    "$(bench_rate $((events * subs)) "${BENCH_SECS[cx]}")" "$(bench_mib "${BENCH_KIB[cx]}")"
printf '%-34s %9.3f %11d %9s\n' "sequential curl loop" "${BENCH_SECS[curl]}" \
    "$(bench_rate $((events * subs)) "${BENCH_SECS[curl]}")" "-"
echo "peak deliveries of one subscription in one second: $peak (rate 50 + burst 50 allowed)"
echo

bench_ratio "actions req/s / whatsapp req/s" "${BENCH_RPS[actions]}" "${BENCH_RPS[whatsapp]}" 0.5
bench_check "actions: no non-2xx, no socket errors" \
    "$([ "${BENCH_NON2XX[actions]}" = 0 ] && [ "${BENCH_ERRS[actions]}" = 0 ] && echo 1 || echo 0)"
bench_check "actions: every 2xx is an inbox row ($stored >= $((BENCH_OK2XX[actions] + 1)))" \
    "$([ "$stored" -ge $((BENCH_OK2XX[actions] + 1)) ] && echo 1 || echo 0)"
bench_ratio "triggers: cx / sequential curl (speed)" "${BENCH_SECS[curl]}" "${BENCH_SECS[cx]}" 10
bench_check "triggers: $cx_n deliveries, all verified ($cx_ok), each event once per subscription ($cx_uniq)" \
    "$([ "$cx_n" = $((events * subs)) ] && [ "$cx_ok" = "$cx_n" ] && [ "$cx_uniq" = "$cx_n" ] && echo 1 || echo 0)"
bench_check "triggers: per-subscription rate kept (peak $peak <= 100 in a second)" \
    "$([ "$peak" -le 100 ] && echo 1 || echo 0)"
bench_check "curl loop: every request verified ($curl_ok)" \
    "$([ "$curl_ok" = $((events * subs)) ] && echo 1 || echo 0)"
echo
bench_verdict
