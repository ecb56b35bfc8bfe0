#!/usr/bin/env bats
# cx-publish triggers and dlq: canonical events from the real cx-parse are
# passed through, sanitized, enqueued once per subscription and dedupe key
# and delivered to tests/peer/swh/receiver.mjs, which verifies every
# request with npm's standardwebhooks and records it; retries follow the
# schedule as CX_NOW moves, 410 disables, dead deliveries are replayed.

load helpers
load lib/parse

eval "helpers_$(declare -f setup)"

PEER=$CX_ROOT/tests/peer/swh
T0=1900000000
WA_PHONES='16505551234|16505559876|972521234521|972521234511'

setup_file() {
	[ -f "$PEER/node_modules/standardwebhooks/package.json" ] ||
		{ echo "standardwebhooks is not installed: make check, or npm ci --prefix tests/peer/swh" >&2; return 1; }
}

setup() {
	helpers_setup
	CX_TOKEN_KEY=$(head -c 32 /dev/urandom | base64)
	export CX_TOKEN_KEY CX_NOW=$T0
	unset CX_TOKEN_KEY_FILE CX_TOKEN_KEY_PREVIOUS CX_PUBLISH_RATE_TRIGGERS
	cx-approve operators add "$(id -un)" --role owner 2> /dev/null
	ID=$(cx integrations create --tenant default --kind make --name scenario \
		--scopes "trigger:message trigger:email.received" 2> /dev/null | jq -r .integration_id)
	webhook whatsapp < "$FIXTURES/whatsapp/batch_mixed.body.json" | cx-parse > events.ndjson 2> /dev/null
	N=$(jq -s '[.[] | select(.type == "message")] | length' events.ndjson)
}

teardown() {
	local p

	for p in "$BATS_TEST_TMPDIR"/*.pid; do
		[ -f "$p" ] && kill "$(cat "$p")" 2> /dev/null
	done
	return 0
}

# free_port: a TCP port nothing listens on now.
free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# subscribe NAME [EVENT]: a subscription of ID to EVENT (message) at a
# receiver NAME to be started on a port of its own; sets SUB_<NAME>,
# SECRET_<NAME> and PORT_<NAME>.
subscribe() {
	local port out

	port=$(free_port)
	out=$(cx integrations subscribe "$ID" --event "${2:-message}" \
		--url "http://127.0.0.1:$port/hook" 2> /dev/null) || return 1
	printf -v "SUB_$1" %s "$(jq -r .subscription_id <<< "$out")"
	printf -v "SECRET_$1" %s "$(jq -r .secret <<< "$out")"
	printf -v "PORT_$1" %s "$port"
}

# rules NAME JSON: the receiver's rules, judging timestamps at CX_NOW.
rules() {
	jq -c --argjson now "$CX_NOW" '. + {now: $now}' <<< "$2" > "$1.rules.json"
}

# receiver NAME SECRETS...: starts receiver NAME on its port, recording in
# NAME.jsonl, verifying with SECRETS.
receiver() {
	local name=$1 port

	shift
	port=PORT_$name
	[ -f "$name.rules.json" ] || rules "$name" '{}'
	SWH_PORT=${!port} SWH_SECRETS="$*" SWH_RECORD=$PWD/$name.jsonl \
		SWH_RULES=$PWD/$name.rules.json node "$PEER/receiver.mjs" > "$name.port" \
		2> "$name.err" 3>&- &
	echo $! > "$name.pid"
	for _ in $(seq 600); do [ -s "$name.port" ] && return 0; sleep 0.05; done
	cat "$name.err" >&2
	return 1
}

# at T NAME...: CX_NOW becomes T, and the receivers judge timestamps by it.
at() {
	local t=$1 name

	export CX_NOW=$t
	shift
	for name in "$@"; do
		jq -c --argjson now "$t" '.now = $now' "$name.rules.json" > rules.tmp &&
			mv rules.tmp "$name.rules.json"
	done
}

# first_message: the first message event of the fixture.
first_message() {
	jq -c 'select(.type == "message")' events.ndjson | head -n 1
}

# delivered NAME: the message ids the receiver took (2xx and verified), sorted.
delivered() {
	jq -r 'select(.verified and .status < 300) | .body | fromjson | .data.message_id' "$1.jsonl" | sort
}

# delivered_ids NAME: the same, each once (a delivery whose outcome was
# lost is sent again, under its webhook-id).
delivered_ids() {
	delivered "$1" | sort -u
}

# message_ids: the message ids of the fixture's message events, sorted.
message_ids() {
	jq -r 'select(.type == "message") | .data.message_id' events.ndjson | sort
}

# audit_detail ACTION: the detail of each audit row of ACTION, with its
# correlation id.
audit_detail() {
	cx audit 2> /dev/null | jq -c --arg a "$1" 'select(.action == $a) |
		.detail + {correlation_id}'
}

@test "every message event is delivered once, signed and verified, its line passed through" {
	subscribe a
	receiver a "$SECRET_a"
	run --separate-stderr cx-publish triggers < events.ndjson
	assert_success
	assert_output "$(cat events.ndjson)"
	[ "$(wc -l < a.jsonl)" -eq "$N" ]
	run jq -r '[.method, .path, .verified, .status,
		(.webhook_id | test("^msg_[0-9a-f]{24}$"))] | @tsv' a.jsonl
	assert_output "$(for _ in $(seq "$N"); do printf 'POST\t/hook\ttrue\t200\ttrue\n'; done)"
	run delivered a
	assert_output "$(message_ids)"
	# the body is the stored payload; the webhook-id is the delivery's
	run diff <(jq -r '[.webhook_id, .body] | @tsv' a.jsonl | sort) \
		<(sql "SELECT webhook_id || char(9) || payload FROM trigger_deliveries" | sort)
	assert_success
	run sql "SELECT state, provider_ref, attempts, subscription_id, count(*) FROM trigger_deliveries GROUP BY 1, 2, 3, 4"
	assert_output "published|200|1|$SUB_a|$N"
	run sh -c "cx metrics | grep '^cx_trigger_deliveries_total'"
	assert_output "cx_trigger_deliveries_total{channel=\"triggers\",result=\"published\"} $N"
}

@test "the same events fed twice are delivered once each" {
	subscribe a
	receiver a "$SECRET_a"
	cx-publish triggers < events.ndjson > /dev/null 2>&1
	run cx-publish triggers < events.ndjson
	assert_success
	[ "$(wc -l < a.jsonl)" -eq "$N" ]
	run delivered a
	assert_output "$(message_ids)"
	[ "$(sql 'SELECT count(*) FROM trigger_deliveries')" -eq "$N" ]
}

@test "the latest sanitized events are kept as samples of their tenant and type" {
	subscribe a
	receiver a "$SECRET_a"
	cx-publish triggers < events.ndjson > /dev/null 2>&1
	run sql "SELECT tenant, event_type, count(*) FROM trigger_samples GROUP BY 1, 2 ORDER BY 2"
	assert_output - <<-EOF
	default|message|$N
	default|message.status|$(jq -s '[.[] | select(.type == "message.status")] | length' events.ndjson)
	default|reaction.added|1
	default|reaction.removed|1
	EOF
	run diff <(jq -r .body a.jsonl | sort) \
		<(sql "SELECT payload FROM trigger_samples WHERE event_type = 'message'" | sort)
	assert_success
}

@test "a dry run enqueues and sends nothing and still passes every line" {
	subscribe a
	receiver a "$SECRET_a"
	run --separate-stderr cx-publish triggers --dry-run < events.ndjson
	assert_success
	assert_output "$(cat events.ndjson)"
	[ "$(sql 'SELECT count(*) FROM trigger_deliveries')" -eq 0 ]
	[ ! -e a.jsonl ]
	[ "$(jq -s '[.[] | select(.msg | startswith("would enqueue message"))] | length' <<< "$stderr")" -eq "$N" ]
	# deliveries due for a retry are shown, not sent
	rules a '{"default": 503}'
	cx-publish triggers < events.ndjson > /dev/null 2>&1
	at $((T0 + 3600)) a
	run --separate-stderr cx-publish triggers --dry-run < /dev/null
	assert_success
	[ "$(jq -s '[.[] | select(.msg | test("^would deliver message \\(delivery [0-9]+, msg_[0-9a-f]{24}\\) to sub_"))] | length' <<< "$stderr")" -eq "$N" ]
	[ "$(wc -l < a.jsonl)" -eq "$N" ]
	run sql "SELECT DISTINCT state, attempts FROM trigger_deliveries"
	assert_output "approved|1"
}

@test "during a secret rotation both secrets sign, and the receiver verifies with either" {
	local new
	subscribe a
	new=$(cx integrations rotate-secret "$SUB_a" --grace 3600 2> /dev/null | jq -r .secret)
	receiver a "$SECRET_a" "$new"
	first_message | cx-publish triggers > /dev/null 2>&1
	run jq -c '[.verified_by, .status, (.webhook_signature | split(" ") | map(startswith("v1,")))]' a.jsonl
	assert_output '[[1,2],200,[true,true]]'
	# after the grace only the new secret signs
	at $((T0 + 3601)) a
	jq -c 'select(.type == "message")' events.ndjson | sed -n 2p | cx-publish triggers > /dev/null 2>&1
	run jq -c '[.verified_by, (.webhook_signature | split(" ") | length)]' a.jsonl
	assert_output - <<-'EOF'
	[[1,2],2]
	[[2],1]
	EOF
}

@test "410 Gone disables the subscription, audited, and the delivery is not retried" {
	subscribe a
	rules a '{"default": 410}'
	receiver a "$SECRET_a"
	first_message > one.ndjson
	run cx-publish triggers < one.ndjson
	assert_failure 1
	run sql "SELECT state, error_code, attempts FROM trigger_deliveries"
	assert_output "failed|GONE|1"
	run sh -c "cx integrations subscriptions --json | jq -r '[.state, .state_reason] | @tsv'"
	assert_output "$(printf 'disabled\tthe receiver answered 410 Gone')"
	run audit_detail subscription_disabled
	assert_output --partial "\"subscription_id\":\"$SUB_a\""
	assert_output --partial "\"integration_id\":\"$ID\""
	assert_output --partial "\"correlation_id\":\"$(jq -r .correlation_id one.ndjson)\""
	run audit_detail post_failed
	assert_output --partial "\"webhook_id\":\"$(jq -r .webhook_id a.jsonl)\""
	at $((T0 + 86400)) a
	cx-publish triggers < /dev/null
	jq -c 'select(.type == "message")' events.ndjson | sed -n 2p | cx-publish triggers > /dev/null 2>&1
	[ "$(wc -l < a.jsonl)" -eq 1 ]
}

@test "a receiver answering 503 gets the delivery again at each step of the schedule, once it takes it" {
	local waits=(5 300 1800) t=$T0 next i
	subscribe a
	rules a '{"sequence": [503, 503, 503, 200]}'
	receiver a "$SECRET_a"
	first_message | cx-publish triggers > /dev/null 2>&1 || true
	for i in 0 1 2; do
		next=$(sql "SELECT next_attempt_at FROM trigger_deliveries")
		# ±20% of the step
		[ $((next - t)) -ge $((waits[i] * 4 / 5)) ] && [ $((next - t)) -le $((waits[i] * 6 / 5)) ]
		# nothing is sent before it is due
		at $((next - 1)) a
		cx-publish triggers < /dev/null 2> /dev/null
		[ "$(wc -l < a.jsonl)" -eq $((i + 1)) ]
		t=$next
		at "$t" a
		cx-publish triggers < /dev/null 2> /dev/null || true
	done
	run jq -r '[.status, .webhook_id] | @tsv' a.jsonl
	[ "$(cut -f1 <<< "$output" | tr '\n' ' ')" = "503 503 503 200 " ]
	[ "$(cut -f2 <<< "$output" | sort -u | wc -l)" -eq 1 ]
	run sql "SELECT state, attempts, provider_ref FROM trigger_deliveries"
	assert_output "published|4|200"
}

@test "a Retry-After later than the schedule is honoured" {
	subscribe a
	rules a '{"default": 503, "retry_after": "900"}'
	receiver a "$SECRET_a"
	first_message | cx-publish triggers > /dev/null 2>&1 || true
	run sql "SELECT state, error_code, next_attempt_at - $T0 FROM trigger_deliveries"
	assert_output "approved|UPSTREAM_ERROR|900"
}

@test "a delivery is dead after the whole schedule, listed in the dlq, and a replay delivers it once with its webhook-id" {
	local i wid did cid
	subscribe a
	rules a '{"default": 503}'
	receiver a "$SECRET_a"
	first_message > one.ndjson
	cx-publish triggers < one.ndjson > /dev/null 2>&1 || true
	for i in $(seq 7); do
		at "$(sql 'SELECT next_attempt_at FROM trigger_deliveries')" a
		cx-publish triggers < /dev/null 2> /dev/null || true
	done
	[ "$(wc -l < a.jsonl)" -eq 8 ]
	did=$(sql "SELECT id FROM trigger_deliveries")
	wid=$(sql "SELECT webhook_id FROM trigger_deliveries")
	cid=$(jq -r .correlation_id one.ndjson)
	run sh -c "cx-publish dlq list | jq -c '{id, state, webhook_id, subscription_id, event_type, error_code, attempts, payload}'"
	assert_output "{\"id\":$did,\"state\":\"dead\",\"webhook_id\":\"$wid\",\"subscription_id\":\"$SUB_a\",\"event_type\":\"message\",\"error_code\":\"UPSTREAM_ERROR\",\"attempts\":8,\"payload\":null}"
	run cx-publish dlq list --subscription sub_0000000000000000
	assert_output ""
	run sh -c "cx audit | jq -c 'select(.action == \"post_dead\") | [.correlation_id, .detail.delivery_id, .detail.webhook_id, .detail.subscription_id, .detail.integration_id]'"
	assert_output "[\"$cid\",$did,\"$wid\",\"$SUB_a\",\"$ID\"]"
	# nothing more is sent on its own
	at $((CX_NOW + 86400)) a
	cx-publish triggers < /dev/null 2> /dev/null
	[ "$(wc -l < a.jsonl)" -eq 8 ]
	rules a '{}'
	at "$CX_NOW" a
	run cx-publish dlq replay "$did"
	assert_success
	run sh -c "cx audit | jq -c 'select(.action == \"trigger_replayed\") | [.correlation_id, .detail.delivery_id, .detail.webhook_id, .detail.subscription_id, .detail.integration_id, .detail.from]'"
	assert_output "[\"$cid\",$did,\"$wid\",\"$SUB_a\",\"$ID\",\"dead\"]"
	cx-publish triggers < /dev/null 2> /dev/null
	cx-publish triggers < /dev/null 2> /dev/null
	run jq -r '[.status, .webhook_id] | @tsv' a.jsonl
	[ "$(grep -c '^200' <<< "$output")" -eq 1 ]
	[ "$(tail -n 1 <<< "$output")" = "$(printf '200\t%s' "$wid")" ]
	run cx-publish dlq list
	assert_output ""
}

@test "dlq replay --subscription brings back every dead delivery of it; bad calls change nothing" {
	subscribe a
	rules a '{"default": 400}'
	receiver a "$SECRET_a"
	cx-publish triggers < events.ndjson > /dev/null 2>&1 || true
	[ "$(cx-publish dlq list | jq -s 'map(select(.state == "dead" and .error_code == "REJECTED" and .attempts == 1)) | length')" -eq "$N" ]
	run cx-publish dlq
	assert_failure 64
	run cx-publish dlq replay
	assert_failure 64
	run cx-publish dlq replay 1 --subscription "$SUB_a"
	assert_failure 64
	run cx-publish dlq replay nine
	assert_failure 64
	run cx-publish dlq replay 999
	assert_failure 1
	assert_output --partial "no trigger delivery 999"
	[ "$(cx-publish dlq list | wc -l)" -eq "$N" ]
	rules a '{}'
	run cx-publish dlq replay --subscription "$SUB_a"
	assert_success
	run cx-publish dlq replay 1
	assert_failure 1
	assert_output --partial "trigger delivery 1 is approved: only dead or failed deliveries are replayed"
	cx-publish triggers < /dev/null 2> /dev/null
	run delivered a
	assert_output "$(message_ids)"
}

@test "a receiver down for an hour gets the backlog once it is back, each event once" {
	local out
	subscribe a
	rules a '{}'
	# nothing listens: every try is refused, and the breaker opens
	run cx-publish triggers < events.ndjson
	run sql "SELECT DISTINCT state, error_code, attempts FROM trigger_deliveries"
	assert_output "approved|CONNECT_FAILED|1"
	at $((T0 + 10))
	run cx-publish triggers < /dev/null
	assert_output --partial "circuit breaker open"
	run sql "SELECT DISTINCT attempts FROM trigger_deliveries"
	assert_output 1
	at $((T0 + 3600)) a
	receiver a "$SECRET_a"
	cx-publish triggers < /dev/null 2> /dev/null
	run delivered a
	assert_output "$(message_ids)"
	[ "$(wc -l < a.jsonl)" -eq "$N" ]
	run sql "SELECT DISTINCT state, attempts FROM trigger_deliveries"
	assert_output "published|2"
}

@test "kill -9 at random points: every event is delivered, none under two webhook-ids" {
	local n=0 pid
	subscribe a
	rules a '{"delay_ms": 40}'
	receiver a "$SECRET_a"
	export CX_PUBLISH_CONCURRENCY=2
	# each run starts CX_NOW 400 s after the last, so the leases of the
	# killed one have run out; 20 runs are killed, the next ones may finish
	while [ $n -lt 20 ] || { [ "$(sql "SELECT count(*) FROM trigger_deliveries WHERE state <> 'published'")" -gt 0 ] && [ $n -lt 30 ]; }; do
		n=$((n + 1))
		at $((T0 + n * 400)) a
		cx-publish triggers < events.ndjson > /dev/null 2>> chaos.log &
		pid=$!
		if [ $n -le 20 ]; then
			sleep "0.$((RANDOM % 5))$((RANDOM % 10))"
			kill -9 "$pid" 2> /dev/null || true
		fi
		wait "$pid" || true
	done
	run sql "SELECT state, count(*) FROM trigger_deliveries GROUP BY 1"
	assert_output "published|$N"
	run delivered_ids a
	assert_output "$(message_ids)"
	# one webhook-id per event, however often it came
	run sh -c "jq -r '(.body | fromjson | .data.message_id) + \" \" + .webhook_id' a.jsonl | sort -u | cut -d' ' -f1 | uniq -d"
	assert_output ""
}

@test "no delivered body holds an unmasked phone number or e-mail address" {
	subscribe a
	subscribe m email.received
	receiver a "$SECRET_a"
	receiver m "$SECRET_m"
	webhook mailgun-inbound < "$FIXTURES/mailgun-inbound/anymail_inbound_basics.body.json" |
		cx-parse 2> /dev/null >> events.ndjson
	cx-publish triggers < events.ndjson > /dev/null 2>&1
	[ "$(wc -l < a.jsonl)" -eq "$N" ]
	[ "$(jq -s '[.[] | select(.status == 200)] | length' m.jsonl)" -ge 1 ]
	# the fixtures do hold them
	jq -r 'select(.type == "email.received") | .data | .from, .to[], .cc[]' events.ndjson |
		sort -u > addresses
	[ "$(wc -l < addresses)" -eq 4 ]
	grep -Eq "$WA_PHONES" events.ndjson
	run grep -E "$WA_PHONES" a.jsonl m.jsonl
	assert_failure 1
	run grep -F -f addresses a.jsonl m.jsonl
	assert_failure 1
	# what is left of an address is masked before the @
	run sh -c "jq -r '.body | fromjson | .data | .from, .to[], .cc[]' m.jsonl | sort -u"
	assert_output - <<-'EOF'
	c***@example.com
	f***@example.org
	o***@example.com
	t***@inbound.example.com
	EOF
}

@test "two subscriptions, one slow: the other's deliveries all arrive" {
	subscribe fast
	subscribe slow
	rules slow '{"delay_ms": 4000}'
	receiver fast "$SECRET_fast"
	receiver slow "$SECRET_slow"
	CX_HTTP_TIMEOUT_SECONDS=1 CX_PUBLISH_LEASE_SECONDS=5 \
		run cx-publish triggers --concurrency 2 < events.ndjson
	run delivered fast
	assert_output "$(message_ids)"
	run sql "SELECT state, count(*) FROM trigger_deliveries WHERE subscription_id = '$SUB_fast' GROUP BY 1"
	assert_output "published|$N"
	run sql "SELECT DISTINCT state, error_code, attempts FROM trigger_deliveries WHERE subscription_id = '$SUB_slow'"
	assert_output "approved|CONNECT_FAILED|1"
}

@test "each subscription has its own rate: CX_PUBLISH_RATE_TRIGGERS paces it, a bad value is refused" {
	subscribe a
	receiver a "$SECRET_a"
	CX_PUBLISH_RATE_TRIGGERS=nonsense run cx-publish triggers < /dev/null
	assert_failure 78
	assert_output --partial CX_PUBLISH_RATE_TRIGGERS
	CX_PUBLISH_RATE_TRIGGERS=20 run cx-publish triggers < events.ndjson
	assert_success
	run delivered a
	assert_output "$(message_ids)"
	[ "$(sql "SELECT count(*) FROM rate_buckets WHERE key = 'triggers:$SUB_a'")" -eq 1 ]
}

@test "a subscription whose receiver has been failing for 5 days is disabled, audited" {
	subscribe a
	rules a '{"default": 503}'
	receiver a "$SECRET_a"
	jq -c 'select(.type == "message")' events.ndjson | sed -n 1p | cx-publish triggers > /dev/null 2>&1 || true
	at $((T0 + 5 * 86400 - 1)) a
	jq -c 'select(.type == "message")' events.ndjson | sed -n 2p | cx-publish triggers > /dev/null 2>&1 || true
	run sh -c "cx integrations subscriptions --json | jq -r .state"
	assert_output active
	at $((T0 + 5 * 86400)) a
	jq -c 'select(.type == "message")' events.ndjson | sed -n 3p > third.ndjson
	cx-publish triggers < third.ndjson > /dev/null 2>&1 || true
	run sh -c "cx integrations subscriptions --json | jq -r '[.state, .state_reason] | @tsv'"
	assert_output "$(printf 'disabled\tfailing for 5 days')"
	run sh -c "cx audit | jq -c 'select(.action == \"subscription_disabled\") | [.correlation_id, .detail.subscription_id, .detail.integration_id]'"
	assert_output "[\"$(jq -r .correlation_id third.ndjson)\",\"$SUB_a\",\"$ID\"]"
	[ "$(sql "SELECT failing_since FROM trigger_subscriptions")" -eq "$T0" ]
}

@test "a success clears a subscription's failing time" {
	subscribe a
	rules a '{"sequence": [503, 200]}'
	receiver a "$SECRET_a"
	first_message | cx-publish triggers > /dev/null 2>&1 || true
	[ "$(sql "SELECT failing_since FROM trigger_subscriptions")" -eq "$T0" ]
	at "$(sql 'SELECT next_attempt_at FROM trigger_deliveries')" a
	cx-publish triggers < /dev/null 2> /dev/null
	run sql "SELECT failing_since IS NULL FROM trigger_subscriptions"
	assert_output 1
}

@test "only owners and admins replay; a refusal is audited and changes nothing" {
	subscribe a
	rules a '{"default": 400}'
	receiver a "$SECRET_a"
	first_message | cx-publish triggers > /dev/null 2>&1 || true
	cx-approve operators add someone-else --role owner 2> /dev/null
	cx-approve operators add "$(id -un)" --role member 2> /dev/null
	run cx-publish dlq replay 1
	assert_failure 77
	run sh -c "cx audit | jq -r 'select(.action == \"replay_denied\") | .action'"
	assert_output replay_denied
	run sql "SELECT state FROM trigger_deliveries"
	assert_output dead
}
