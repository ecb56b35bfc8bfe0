#!/usr/bin/env bats
# cx-publish: approved items go out once, with their audit rows and
# counters; outcomes (published, failed with a stable code, retried with
# backoff, dead, unknown) from real provider answers; reconciliation of
# unknown X posts; governance (x only from the queue, --direct under three
# conditions, stdin commands only where the policy is none, idempotency
# keys); per-tenant rate limits and circuit breakers; a kill -9 chaos run.
# Providers are mocks on 127.0.0.1 that answer as the real APIs do and
# record every request: tests/mock/x_api.py (X API v2), graph_api.py (Meta
# Graph API) and oauth_server.py (the X token endpoint, for the credential).
# Tests that act as a second Unix user create one in setup_file and need
# root; they skip otherwise.

load helpers

eval "helpers_$(declare -f setup)"

MOCKS=$CX_ROOT/tests/mock
REDIRECT=http://127.0.0.1:8765/callback
ME=$(id -un)
T0=1800000000     # CX_NOW of tests that move time

setup_file() {
	local m
	if [ "$(id -u)" -eq 0 ] && command -v useradd > /dev/null; then
		export CX_MEMBER="cxp$$"
		id "$CX_MEMBER" > /dev/null 2>&1 ||
			useradd --no-create-home --no-user-group --shell /bin/sh "$CX_MEMBER"
	fi
	"$PY" "$MOCKS/x_api.py" 0 --lifetime 900 > "$BATS_FILE_TMPDIR/x.port" \
		2> "$BATS_FILE_TMPDIR/x.err" 3>&- &
	echo $! > "$BATS_FILE_TMPDIR/x.pid"
	"$PY" "$MOCKS/graph_api.py" 0 --lifetime 900 > "$BATS_FILE_TMPDIR/graph.port" \
		2> "$BATS_FILE_TMPDIR/graph.err" 3>&- &
	echo $! > "$BATS_FILE_TMPDIR/graph.pid"
	"$PY" "$MOCKS/oauth_server.py" 0 --record /dev/null --redirect "$REDIRECT" \
		--lifetime 900 > "$BATS_FILE_TMPDIR/oauth.port" 2> "$BATS_FILE_TMPDIR/oauth.err" 3>&- &
	echo $! > "$BATS_FILE_TMPDIR/oauth.pid"
	for m in x graph oauth; do
		for _ in $(seq 400); do [ -s "$BATS_FILE_TMPDIR/$m.port" ] && break; sleep 0.05; done
	done
	export XM=http://127.0.0.1:$(head -n 1 "$BATS_FILE_TMPDIR/x.port")
	export GM=http://127.0.0.1:$(head -n 1 "$BATS_FILE_TMPDIR/graph.port")
	export OM=http://127.0.0.1:$(head -n 1 "$BATS_FILE_TMPDIR/oauth.port")
}

teardown_file() {
	local m
	for m in x graph oauth; do
		kill "$(cat "$BATS_FILE_TMPDIR/$m.pid")" 2> /dev/null || true
	done
	if [ -n "${CX_MEMBER:-}" ] && [ "$CX_MEMBER" = "cxp$$" ]; then
		userdel "$CX_MEMBER" 2> /dev/null || true
	fi
}

setup() {
	helpers_setup
	XREC=$BATS_TEST_TMPDIR/x.jsonl
	GREC=$BATS_TEST_TMPDIR/graph.jsonl
	touch "$XREC" "$GREC"
	control "$XM" "{\"reset\": true, \"record\": \"$XREC\"}"
	control "$GM" "{\"reset\": true, \"record\": \"$GREC\"}"
	control "$OM" '{"reset": true, "expires_in": 100000000}'
	CX_TOKEN_KEY=$(head -c 32 /dev/urandom | base64)
	export CX_TOKEN_KEY CX_HTTP_TIMEOUT_SECONDS=5
	export CX_X_CLIENT_ID=x-client-id CX_X_CLIENT_SECRET=x-client-secret \
		CX_X_REDIRECT_URI=$REDIRECT CX_X_AUTHORIZE_URL=$OM/x/authorize \
		CX_X_TOKEN_URL=$OM/x/2/oauth2/token CX_X_API_BASE=$XM
	export CX_GRAPH_API_BASE=$GM CX_META_ACCESS_TOKEN=meta-system-user-token
	export CX_PUBLISH_RATE_X=1000
	unset CX_PUBLISH_DIRECT_ENABLED CX_PUBLISH_DIRECT_KEY CX_PUBLISH_DIRECT_KEY_FILE \
		CX_APPROVAL_WHATSAPP CX_APPROVAL_X CX_PUBLISH_CONCURRENCY CX_PUBLISH_RATE_WHATSAPP \
		CX_PUBLISH_BACKOFF_BASE_SECONDS CX_PUBLISH_RECONCILE_GRACE_SECONDS
}

teardown() {
	[ -n "${SHARED_DIR:-}" ] && rm -rf "$SHARED_DIR"
	return 0
}

# control URL JSON: programs a mock.
control() {
	curl -sf -X POST -H 'Content-Type: application/json' -d "$2" "$1/_control" > /dev/null
}

# as_owner: the running user owns a new state file.
as_owner() {
	cx-approve operators add "$ME" --role owner 2> /dev/null
}

# connect_x [WORKSPACE]: an X credential for WORKSPACE (acme), through the
# OAuth flow against the mocks.
connect_x() {
	local url redirect
	url=$(cx-oauth authorize --provider x --workspace "${1:-acme}") &&
		redirect=$(curl -s -o /dev/null -w '%{redirect_url}' "$url") &&
		cx-oauth callback --url "$redirect" > /dev/null
}

# xpost TEXT [EXTRA-JQ]: an X post proposal for workspace acme.
xpost() {
	jq -cn --arg t "$1" "{channel:\"x\",kind:\"post\",workspace:\"acme\",text:\$t}${2:+ + $2}"
}

# wa TEXT [EXTRA-JQ]: a WhatsApp text message proposal.
wa() {
	jq -cn --arg t "$1" "{channel:\"whatsapp\",kind:\"text\",workspace:\"acme\",
		phone_number_id:\"1001\",to:\"+5511987654321\",text:\$t}${2:+ + $2}"
}

# approved: enqueues the proposals on stdin and approves them all.
approved() {
	local ids
	ids=$(cx-approve enqueue | jq -r .data.queue_id)
	[ -n "$ids" ] && cx-approve approve $ids > /dev/null
}

# state ID: the state of queue item ID.
state() {
	cx-approve show "$1" --json | jq -r .state
}

# item ID: queue item ID as JSON.
item() {
	cx-approve show "$1" --json
}

# sent REC [FILTER]: how many sends (POSTs to /2/tweets or .../messages or
# .../replies) the mock recorded in REC, optionally those matching FILTER.
sent() {
	jq -c "select(.method == \"POST\" and (.path | test(\"/(tweets|messages|replies)\$\")))${2:+ | select($2)}" "$1" | wc -l
}

# audit_count ACTION: audit rows with that action.
audit_count() {
	cx audit --json | jq -s --arg a "$1" 'map(select(.action == $a)) | length'
}

# metric NAME-AND-LABELS: a counter's value (0 when absent).
metric() {
	cx metrics | awk -v k="$1" '$1 == k { v = $2 } END { print v + 0 }'
}

# need_member: as in 50-cx-approve.bats: a second Unix user and a state file
# it can reach.
need_member() {
	[ -n "${CX_MEMBER:-}" ] || skip "needs root to create a second Unix user"
	SHARED_DIR=$(mktemp -d /tmp/cx-publish-test.XXXXXX)
	chmod 0755 "$SHARED_DIR"
	chown "$CX_MEMBER" "$SHARED_DIR"
	export CX_DB="$SHARED_DIR/cx.db"
	member cx-approve operators list > /dev/null
}

member() {
	runuser -u "$CX_MEMBER" -- "$@"
}

# --- the happy path, audit and metrics ----------------------------------------

@test "enqueue, approve, publish: one post at X, a post.published line, counter == audit rows == posts received" {
	as_owner
	connect_x
	xpost "Hello from cx" | approved
	run --separate-stderr cx-publish
	assert_success
	echo "$output" | jq -e '.type == "post.published" and .dedupe_key == "queue:1:published"
		and .channel == "x" and .data.text == "Hello from cx" and (.data.provider_ref | test("^[0-9]+$"))'
	assert_equal "$(sent "$XREC")" 1
	jq -e 'select(.path == "/2/tweets") | .body == {text: "Hello from cx"} and .auth == "bearer"
		and .status == 201 and .idempotency_key == "queue:1"' "$XREC"
	ref=$(jq -r 'select(.path == "/2/tweets") | .created' "$XREC")
	item 1 | jq -e --arg r "$ref" '.state == "published" and .provider_ref == $r and .attempts == 1'
	assert_equal "$(metric 'cx_publish_total{channel="x",result="published"}')" 1
	assert_equal "$(audit_count post_published)" 1
	assert_equal "$(jq -c 'select(.status == 201)' "$XREC" | wc -l)" 1
	# the token is the credential's, never logged
	token=$(cx-oauth token --provider x --workspace acme)
	jq -e --arg h "$(printf %s "$token" | sha256sum | cut -d' ' -f1)" \
		'select(.path == "/2/tweets") | .token_sha256 == $h' "$XREC"
	[[ $stderr != *"$token"* ]]
	# a second run has nothing to do
	run cx-publish
	assert_success
	assert_output ""
	assert_equal "$(sent "$XREC")" 1
}

@test "cx_publish_latency_seconds: every request of a run, answered or not, in its channel's histogram" {
	as_owner
	connect_x
	{ xpost "timed"; wa "timed one"; wa "timed two"; wa "refused" '{phone_number_id: "3003"}'; } | approved
	# every answer takes at least 60 ms: nothing can land at or below 50 ms
	control "$XM" '{"latency_ms": 60}'
	control "$GM" '{"latency_ms": 60, "script": {"POST /v24.0/3003/messages": [{"graph_error": 100}]}}'
	cx-publish > /dev/null 2>&1 || true
	[ "$(state 4)" = failed ]
	run cx metrics
	assert_line "# TYPE cx_publish_latency_seconds_bucket counter"
	assert_line 'cx_publish_latency_seconds_count{channel="whatsapp"} 3'
	assert_line 'cx_publish_latency_seconds_bucket{channel="whatsapp",le="+Inf"} 3'
	assert_line 'cx_publish_latency_seconds_bucket{channel="whatsapp",le="60"} 3'
	assert_line 'cx_publish_latency_seconds_count{channel="x"} 1'
	assert_line 'cx_publish_latency_seconds_bucket{channel="x",le="+Inf"} 1'
	refute_line --regexp 'le="0\.(005|01|025|05)"'
	echo "$output" | awk '$1 == "cx_publish_latency_milliseconds_total{channel=\"whatsapp\"}" && $2 >= 180 { ok = 1 }
		END { exit !ok }'
	# cumulative: each bucket holds at least the one below it
	echo "$output" | sed -n 's/^cx_publish_latency_seconds_bucket{channel="whatsapp",le="\([0-9.]*\)"} \([0-9]*\)$/\1 \2/p' |
		LC_ALL=C sort -g | awk 'NR > 1 && $2 < last { bad = 1 } { last = $2 } END { exit bad || NR < 2 }'
	# one observation per request sent, as many as the outcomes counted
	assert_equal "$(( $(sent "$GREC") + $(sent "$XREC") ))" 4
	assert_equal "$(metric 'cx_publish_total{channel="whatsapp",result="published"}') $(metric 'cx_publish_total{channel="whatsapp",result="failed"}')" "2 1"
}

@test "the audit trail of an item reads back through its correlation id" {
	as_owner
	connect_x
	xpost "traced" '{correlation_id: "c-from-ingest-7"}' | approved
	cx-publish > /dev/null
	run cx audit --json --correlation-id c-from-ingest-7
	assert_equal "$(echo "$output" | jq -sc 'map(.action)')" \
		'["post_proposed","post_approved","publish_attempt","post_published"]'
	echo "$output" | jq -se 'map(.subject) | unique == ["queue:1"]'
}

@test "a reply is sent with reply.in_reply_to_tweet_id" {
	as_owner
	connect_x
	jq -cn '{channel: "x", kind: "reply", workspace: "acme", text: "thanks!", in_reply_to: "1456012973835788293"}' | approved
	cx-publish > /dev/null
	jq -e 'select(.path == "/2/tweets") | .body == {text: "thanks!", reply: {in_reply_to_tweet_id: "1456012973835788293"}}' "$XREC"
	[ "$(state 1)" = published ]
}

@test "a member cannot approve, approved_by is recorded, and rejected or pending items never publish" {
	need_member
	as_owner
	connect_x
	cx-approve operators add "$CX_MEMBER" --role member
	{ xpost "approve me"; xpost "reject me"; xpost "leave me"; } | member cx-approve enqueue > /dev/null
	run member cx-approve approve 1
	assert_failure 77
	cx-approve approve 1 > /dev/null
	cx-approve reject 2 --reason "off brand" > /dev/null
	run cx-publish
	assert_success
	assert_equal "$(sent "$XREC")" 1
	jq -e 'select(.path == "/2/tweets") | .body.text == "approve me"' "$XREC"
	item 1 | jq -e --arg me "$ME" --arg m "$CX_MEMBER" '.state == "published" and .approved_by == $me and .proposed_by == $m'
	[ "$(state 2)" = rejected ]
	[ "$(state 3)" = pending ]
}

# --- governance ----------------------------------------------------------------

@test "a line on stdin for channel x is refused (77), audited as bypass_blocked, and nothing is sent" {
	as_owner
	connect_x
	export CX_APPROVAL_X=none    # no setting turns approval off for x
	run --separate-stderr cx-publish <<< "$(xpost "sneaky" '{idempotency_key: "k1"}')"
	assert_failure 77
	[[ $stderr == *'"error_code":"approval_required"'* ]]
	assert_equal "$(sent "$XREC")" 0
	run cx audit --json
	echo "$output" | jq -se 'map(select(.action == "bypass_blocked")) | length == 1 and
		.[0].subject == "channel:x" and .[0].detail.reason == "approval_required" and
		(.[0].detail.text_sha256 | length == 64) and (tostring | contains("sneaky") | not)'
	assert_equal "$(sql 'SELECT count(*) FROM queue') $(sql 'SELECT count(*) FROM publish_commands')" "0 0"
}

@test "stdin commands for a channel that requires approval (the default) are refused too" {
	run cx-publish <<< "$(wa "hi" '{idempotency_key: "k1"}')"
	assert_failure 77
	assert_equal "$(sent "$GREC")" 0
	assert_equal "$(audit_count bypass_blocked)" 1
}

@test "--direct is refused without CX_PUBLISH_DIRECT_ENABLED, without --key, with a wrong key; each refusal audited" {
	as_owner
	connect_x
	export CX_PUBLISH_DIRECT_KEY=s3cret-direct-key
	run cx-publish --direct --key s3cret-direct-key <<< "$(xpost "direct 1")"
	assert_failure 77
	export CX_PUBLISH_DIRECT_ENABLED=true
	run cx-publish --direct <<< "$(xpost "direct 2")"
	assert_failure 77
	run cx-publish --direct --key wrong-key <<< "$(xpost "direct 3")"
	assert_failure 77
	run cx-publish --direct --key s3cret-direct-key-and-more <<< "$(xpost "direct 4")"
	assert_failure 77
	assert_equal "$(sent "$XREC")" 0
	run cx audit --json
	assert_equal "$(echo "$output" | jq -sc '[.[] | select(.action == "direct_publish_denied") | .detail.reason]')" \
		'["direct_disabled","missing_key","bad_key","bad_key"]'
	refute_output --partial s3cret
	refute_output --partial "direct 1"
}

@test "--direct is refused for a member and for a user who is not an operator, even with the key" {
	need_member
	connect_x
	as_owner
	export CX_PUBLISH_DIRECT_ENABLED=true CX_PUBLISH_DIRECT_KEY=s3cret-direct-key
	cx-approve operators add "$CX_MEMBER" --role member
	run member cx-publish --direct --key s3cret-direct-key <<< "$(xpost "from a member")"
	assert_failure 77
	cx-approve operators remove "$CX_MEMBER"
	run member cx-publish --direct --key s3cret-direct-key <<< "$(xpost "from a stranger")"
	assert_failure 77
	assert_equal "$(sent "$XREC")" 0
	run cx audit --json
	echo "$output" | jq -se --arg m "$CX_MEMBER" '[.[] | select(.action == "direct_publish_denied")]
		| length == 2 and all(.actor == $m) and .[0].detail.role == "member" and .[1].detail.role == "none"'
}

@test "--direct with all three conditions publishes at once and is audited; the same idempotency key is not sent again" {
	as_owner
	connect_x
	export CX_PUBLISH_DIRECT_ENABLED=true CX_PUBLISH_DIRECT_KEY=s3cret-direct-key
	run --separate-stderr cx-publish --direct --key s3cret-direct-key <<< "$(xpost "urgent notice" '{idempotency_key: "notice-1"}')"
	assert_success
	echo "$output" | jq -e '.type == "post.published" and .dedupe_key == "command:1:published"
		and .data.origin == "direct" and .data.idempotency_key == "notice-1"'
	assert_equal "$(sent "$XREC")" 1
	run cx-publish --direct --key s3cret-direct-key <<< "$(xpost "urgent notice" '{idempotency_key: "notice-1"}')"
	assert_success
	assert_equal "$(sent "$XREC")" 1
	run cx audit --json
	echo "$output" | jq -se --arg me "$ME" '[.[] | select(.action == "direct_publish")]
		| length == 2 and all(.actor == $me) and .[0].detail.origin == "direct"
		and .[1].detail.result == "idempotency_key_seen"'
	refute_output --partial s3cret
	# the key may come from a file instead of argv
	printf 's3cret-direct-key\n' > key
	run cx-publish --direct --key-file key <<< "$(xpost "second notice")"
	assert_success
	assert_equal "$(sent "$XREC")" 2
	assert_equal "$(metric 'cx_publish_total{channel="x",result="published"}')" 2
}

@test "during a key rotation --direct accepts CX_PUBLISH_DIRECT_KEY_PREVIOUS" {
	as_owner
	connect_x
	export CX_PUBLISH_DIRECT_ENABLED=true CX_PUBLISH_DIRECT_KEY=new-key CX_PUBLISH_DIRECT_KEY_PREVIOUS=old-key
	run cx-publish --direct --key old-key <<< "$(xpost "rotated")"
	assert_success
	assert_equal "$(sent "$XREC")" 1
}

@test "with CX_APPROVAL_WHATSAPP=none a stdin command is sent once per idempotency key" {
	export CX_APPROVAL_WHATSAPP=none
	run --separate-stderr cx-publish <<< "$(wa "your code is 1234" '{idempotency_key: "otp-77"}')"
	assert_success
	echo "$output" | jq -e '.type == "post.published" and .data.idempotency_key == "otp-77"
		and (.data.provider_ref | startswith("wamid."))'
	run --separate-stderr cx-publish <<< "$(wa "your code is 1234" '{idempotency_key: "otp-77"}')"
	assert_success
	assert_output ""
	[[ $stderr == *"idempotency key seen before"* ]]
	assert_equal "$(sent "$GREC")" 1
	jq -e 'select(.path == "/v24.0/1001/messages") | .idempotency_key == "otp-77" and
		.body == {messaging_product: "whatsapp", recipient_type: "individual", to: "+5511987654321",
			type: "text", text: {preview_url: false, body: "your code is 1234"},
			biz_opaque_callback_data: "otp-77"} and .token_sha256 != null' "$GREC"
	assert_equal "$(audit_count command_accepted)" 1
}

@test "stdin commands need an idempotency key; events pass through unchanged" {
	export CX_APPROVAL_WHATSAPP=none
	run --separate-stderr cx-publish <<< "$(printf '%s\n%s\n' '{"v":1,"type":"message","data":{}}' "$(wa "no key")")"
	assert_failure 65
	assert_output '{"v":1,"type":"message","data":{}}'
	[[ $stderr == *"missing_idempotency_key"* ]]
	assert_equal "$(sent "$GREC")" 0
}

# --- outcomes ------------------------------------------------------------------

@test "429 with x-rate-limit-reset: back to approved until the reset, then published once" {
	as_owner
	connect_x
	xpost "patience" | approved
	control "$XM" "{\"script\": {\"POST /2/tweets\": [{\"x_error\": 429, \"reset\": $((T0 + 900))}]}}"
	CX_NOW=$T0 run --separate-stderr cx-publish
	assert_success
	assert_output ""
	item 1 | jq -e '.state == "approved" and .error_code == "RATE_LIMITED" and
		.next_attempt_at == "2027-01-15T08:15:00Z"'
	CX_NOW=$((T0 + 899)) cx-publish > /dev/null
	assert_equal "$(sent "$XREC")" 1
	CX_NOW=$((T0 + 900)) run cx-publish
	assert_success
	echo "$output" | jq -e '.type == "post.published"'
	assert_equal "$(sent "$XREC")" 2
	assert_equal "$(sent "$XREC" '.status == 201')" 1
	assert_equal "$(metric 'cx_publish_total{channel="x",result="retried"}')" 1
	assert_equal "$(metric 'cx_publish_total{channel="x",result="published"}')" 1
}

@test "Retry-After is honoured as given" {
	as_owner
	connect_x
	xpost "later" | approved
	control "$XM" '{"script": {"POST /2/tweets": [{"x_error": 503, "retry_after": 120}]}}'
	CX_NOW=$T0 cx-publish
	item 1 | jq -e '.state == "approved" and .error_code == "UPSTREAM_ERROR" and
		.next_attempt_at == "2027-01-15T08:02:00Z"'
}

@test "500 twice then 201: published once, after exponential backoff" {
	as_owner
	connect_x
	xpost "third time lucky" | approved
	control "$XM" '{"script": {"POST /2/tweets": [{"x_error": 500, "times": 2}]}}'
	CX_NOW=$T0 cx-publish
	item 1 | jq -e '.state == "approved" and .error_code == "UPSTREAM_ERROR" and .attempts == 1'
	# base 30 s: the first wait is 15 to 30 s, the second 30 to 60 s
	next=$(item 1 | jq -r .next_attempt_at)
	[[ $next > "2027-01-15T08:00:14Z" && $next < "2027-01-15T08:00:31Z" ]]
	CX_NOW=$((T0 + 31)) cx-publish
	next=$(item 1 | jq -r .next_attempt_at)
	[[ $next > "2027-01-15T08:01:00Z" && $next < "2027-01-15T08:01:32Z" ]]
	CX_NOW=$((T0 + 100)) run cx-publish
	assert_success
	[ "$(state 1)" = published ]
	assert_equal "$(sent "$XREC")" 3
	assert_equal "$(sent "$XREC" '.status == 201')" 1
	assert_equal "$(audit_count publish_retry)" 2
}

@test "400 fails the item with VALIDATION_FAILED and a post.failed line" {
	as_owner
	connect_x
	xpost "bad request" | approved
	control "$XM" '{"script": {"POST /2/tweets": [{"x_error": 400}]}}'
	run --separate-stderr cx-publish
	assert_failure 1
	echo "$output" | jq -e '.type == "post.failed" and .data.error_code == "VALIDATION_FAILED"'
	item 1 | jq -e '.state == "failed" and .error_code == "VALIDATION_FAILED" and (.error_detail | startswith("HTTP 400"))'
	assert_equal "$(metric 'cx_publish_total{channel="x",result="failed"}')" 1
	run cx-publish
	assert_success
	assert_equal "$(sent "$XREC")" 1
}

@test "403 duplicate content fails the item with DUPLICATE; 401 with AUTH_FAILED" {
	as_owner
	connect_x
	control "$XM" '{"posts": [{"text": "said it before"}]}'
	{ xpost "said it before"; xpost "no entry"; } | approved
	cx-publish --max 1 || true
	item 1 | jq -e '.state == "failed" and .error_code == "DUPLICATE"'
	jq -e 'select(.status == 403) | .response.detail == "You are not allowed to create a Tweet with duplicate content."' "$XREC"
	control "$XM" '{"script": {"POST /2/tweets": [{"x_error": 401}]}}'
	run cx-publish
	assert_failure 1
	item 2 | jq -e '.state == "failed" and .error_code == "AUTH_FAILED"'
}

@test "retryable failures go dead after --max-attempts; retry ID brings the item back" {
	as_owner
	connect_x
	xpost "doomed for now" | approved
	control "$XM" '{"script": {"POST /2/tweets": [{"x_error": 503, "times": 3}]}}'
	for i in 0 1 2; do CX_NOW=$((T0 + i * 10000)) cx-publish --max-attempts 3 || true; done
	run cx-approve show 1 --json
	echo "$output" | jq -e '.state == "dead" and .error_code == "UPSTREAM_ERROR" and .attempts == 3'
	assert_equal "$(metric 'cx_publish_total{channel="x",result="dead"}')" 1
	run cx-publish retry 1
	assert_success
	item 1 | jq -e '.state == "approved" and .attempts == 0'
	CX_NOW=$((T0 + 40000)) run cx-publish --max-attempts 3
	assert_success
	[ "$(state 1)" = published ]
	run cx-publish retry 1
	assert_failure 1
	assert_output --partial "only dead or unknown items"
	assert_equal "$(audit_count post_revived)" 1
}

@test "retry is for owners and admins" {
	run cx-publish retry 1
	assert_failure 77
	assert_equal "$(audit_count retry_denied)" 1
}

@test "a timeout after the request went out: unknown, never resent; reconcile finds the post and settles it published" {
	as_owner
	connect_x
	xpost "did it go out?" | approved
	control "$XM" '{"script": {"POST /2/tweets": [{"hang_ms": 2500}]}}'
	CX_HTTP_TIMEOUT_SECONDS=1 CX_NOW=$T0 run --separate-stderr cx-publish
	assert_failure 1
	echo "$output" | jq -e '.type == "post.unknown" and .data.error_code == "TIMEOUT"'
	item 1 | jq -e '.state == "unknown" and .error_code == "TIMEOUT"'
	CX_NOW=$((T0 + 5)) cx-publish
	assert_equal "$(sent "$XREC")" 1
	CX_NOW=$((T0 + 5)) run --separate-stderr cx-publish reconcile
	assert_success
	ref=$(jq -r 'select(.path == "/2/tweets") | .created' "$XREC")
	echo "$output" | jq -e --arg r "$ref" '.type == "post.published" and .data.provider_ref == $r'
	item 1 | jq -e --arg r "$ref" '.state == "published" and .provider_ref == $r'
	assert_equal "$(sent "$XREC")" 1
	jq -e 'select(.method == "GET") | .path == "/2/users/1072250532645998596/tweets" and .query.max_results == "100"' "$XREC"
}

@test "a connection lost after sending is unknown too; not on the timeline, after the grace period it is sent again" {
	as_owner
	connect_x
	xpost "lost in transit" | approved
	control "$XM" '{"script": {"POST /2/tweets": [{"drop": true, "create": false}]}}'
	CX_NOW=$T0 cx-publish || true
	item 1 | jq -e '.state == "unknown" and .error_code == "CONNECTION_LOST"'
	CX_NOW=$((T0 + 10)) cx-publish reconcile
	[ "$(state 1)" = unknown ]
	CX_NOW=$((T0 + 61)) run cx-publish
	assert_success
	[ "$(state 1)" = published ]
	assert_equal "$(sent "$XREC")" 2
	assert_equal "$(sent "$XREC" '.status == 201')" 1
	assert_equal "$(audit_count publish_retry)" 1
}

@test "a process killed mid-publish leaves the item publishing; once the lease runs out it is unknown and reconciled, never resent" {
	as_owner
	connect_x
	xpost "killed in flight" | approved
	control "$XM" '{"script": {"POST /2/tweets": [{"hang_ms": 20000}]}}'
	CX_NOW=$T0 cx-publish > /dev/null 2>&1 &
	pid=$!
	for _ in $(seq 100); do [ "$(sent "$XREC")" -eq 1 ] && break; sleep 0.05; done
	kill -9 "$pid"
	wait "$pid" || true
	[ "$(state 1)" = publishing ]
	CX_NOW=$((T0 + 100)) cx-publish
	[ "$(state 1)" = publishing ]
	CX_NOW=$((T0 + 301)) run --separate-stderr cx-publish
	assert_success
	[[ $stderr == *"now unknown, to be reconciled"* ]]
	[ "$(state 1)" = published ]
	assert_equal "$(sent "$XREC")" 1
	assert_equal "$(audit_count post_unknown)" 1
}

@test "chaos: 200 items, kill -9 at random moments until the queue settles; each item reached X at most once" {
	as_owner
	connect_x
	for i in $(seq 200); do xpost "chaos post number $i"; done | approved
	control "$XM" '{"latency_ms": 30}'
	export CX_PUBLISH_CONCURRENCY=4
	n=0
	# each run starts CX_NOW 1000 s after the last, so the leases of the
	# killed one have run out; 20 runs are killed, the next ones may finish
	while [ "$(sql "SELECT count(*) FROM queue WHERE state NOT IN ('published', 'failed', 'dead')")" -gt 0 ] && [ $n -lt 30 ]; do
		n=$((n + 1))
		CX_NOW=$((T0 + n * 1000)) cx-publish > /dev/null 2>> chaos.log &
		pid=$!
		if [ $n -le 20 ]; then
			sleep "0.$((RANDOM % 5 + 1))$((RANDOM % 10))"
			kill -9 "$pid" 2> /dev/null || true
		fi
		wait "$pid" || true
		sleep 0.2    # what was already on the wire reaches the mock
	done
	echo "# chaos: $n runs, $(audit_count post_unknown) items found unknown and reconciled" >&3
	run sql "SELECT state, count(*) FROM queue GROUP BY state"
	assert_output "published|200"
	# at most once: no text was ever POSTed twice
	assert_equal "$(jq -r 'select(.path == "/2/tweets") | .body.text' "$XREC" | sort | uniq -d | wc -l)" 0
	assert_equal "$(sent "$XREC" '.status == 201') $(jq -c 'select(.created != null)' "$XREC" | wc -l)" "$(sent "$XREC") $(sent "$XREC")"
	assert_equal "$(metric 'cx_publish_total{channel="x",result="published"}')" 200
	assert_equal "$(audit_count post_published)" 200
}

@test "a run that settles its outcomes in batches publishes each of 60 items exactly once; audit rows, counters and histogram agree" {
	as_owner
	cx accounts add --channel whatsapp --account 2002 --tenant shop-b 2> /dev/null
	for i in $(seq 60); do wa "batch $i" "{phone_number_id: \"$((1001 + i % 2 * 1001))\"}"; done | approved
	control "$GM" '{"latency_ms": 20}'
	export CX_PUBLISH_CONCURRENCY=16 CX_PUBLISH_RATE_WHATSAPP=1000
	run --separate-stderr cx-publish
	assert_success
	# the mock got 60 sends, one per item, and each item keeps the id it answered
	assert_equal "$(sent "$GREC")" 60
	assert_equal "$(jq -r .idempotency_key "$GREC" | sort -u | wc -l)" 60
	assert_equal "$(jq -r '"\(.idempotency_key) \(.response.messages[0].id)"' "$GREC" | sort)" \
		"$(sql "SELECT 'queue:' || id || ' ' || provider_ref FROM queue WHERE state = 'published'" | sort)"
	assert_equal "$(echo "$output" | jq -r 'select(.type == "post.published") | .data.queue_id' | sort -u | wc -l)" 60
	assert_equal "$(audit_count publish_attempt) $(audit_count post_published)" "60 60"
	assert_equal "$(metric 'cx_publish_total{channel="whatsapp",result="published"}')" 60
	assert_equal "$(metric 'cx_publish_latency_seconds_count{channel="whatsapp"}')" 60
	assert_equal "$(metric 'cx_publish_latency_seconds_bucket{channel="whatsapp",le="+Inf"}')" 60
	# a second run has nothing to send
	run cx-publish
	assert_success
	assert_equal "$(sent "$GREC")" 60
}

@test "kill -9 with outcomes waiting for their batch: nothing is lost, nothing is sent twice" {
	as_owner
	for i in $(seq 80); do wa "in flight $i"; done | approved
	control "$GM" '{"latency_ms": 300}'
	export CX_PUBLISH_CONCURRENCY=16 CX_PUBLISH_RATE_WHATSAPP=1000
	CX_NOW=$T0 cx-publish > /dev/null 2>&1 &
	pid=$!
	for _ in $(seq 200); do [ "$(sent "$GREC")" -ge 20 ] && break; sleep 0.05; done
	kill -9 "$pid"
	wait "$pid" || true
	sleep 0.5    # what was on the wire reaches the mock
	before=$(sent "$GREC")
	[ "$before" -ge 20 ] && [ "$before" -lt 80 ]
	# claimed items stay publishing until their lease runs out, then are
	# unknown for a person (Meta cannot be asked); the rest go out once
	control "$GM" '{"latency_ms": 0}'
	CX_NOW=$((T0 + 1000)) cx-publish > /dev/null 2>&1 || true
	run sql "SELECT count(*) FROM queue WHERE state NOT IN ('published', 'unknown')"
	assert_output 0
	assert_equal "$(jq -r .idempotency_key "$GREC" | sort | uniq -d | wc -l)" 0
	# every item the mock never saw was published by the second run or is
	# unknown; every published item reached the mock exactly once
	assert_equal "$(sql "SELECT 'queue:' || id FROM queue WHERE state = 'published'" | sort)" \
		"$(jq -r .idempotency_key "$GREC" | sort | comm -12 - <(sql "SELECT 'queue:' || id FROM queue WHERE state = 'published'" | sort))"
	unknown=$(sql "SELECT count(*) FROM queue WHERE state = 'unknown'")
	[ "$unknown" -ge 1 ]
	assert_equal "$(audit_count post_unknown)" "$unknown"
	assert_equal "$(metric 'cx_publish_total{channel="whatsapp",result="published"}')" \
		"$(sql "SELECT count(*) FROM queue WHERE state = 'published'")"
	assert_equal "$(audit_count post_published)" "$(sql "SELECT count(*) FROM queue WHERE state = 'published'")"
}

# --- WhatsApp, Instagram, Messenger --------------------------------------------

@test "WhatsApp text and template messages, Instagram comment replies and DMs, Messenger messages go to their Graph endpoints" {
	as_owner
	{
		wa "hello"
		jq -cn '{channel: "whatsapp", kind: "template", workspace: "acme", phone_number_id: "1001",
			to: "+5511987654321", template: {name: "order_update", language: "pt_BR"}}'
		jq -cn '{channel: "instagram", kind: "comment_reply", workspace: "acme", comment_id: "17858893269000001", text: "thanks!"}'
		jq -cn '{channel: "instagram", kind: "dm", workspace: "acme", account: "17841400000000001", to: "5599887766", text: "hi there"}'
		jq -cn '{channel: "messenger", kind: "message", workspace: "acme", to: "24680", text: "on its way"}'
	} | approved
	run cx-publish
	assert_success
	assert_equal "$(echo "$output" | jq -s 'map(select(.type == "post.published")) | length')" 5
	jq -se 'map({path, body}) | sort == ([
		{path: "/v24.0/1001/messages", body: {messaging_product: "whatsapp", recipient_type: "individual",
			to: "+5511987654321", type: "text", text: {preview_url: false, body: "hello"},
			biz_opaque_callback_data: "queue:1"}},
		{path: "/v24.0/1001/messages", body: {messaging_product: "whatsapp", recipient_type: "individual",
			to: "+5511987654321", type: "template", template: {name: "order_update", language: {code: "pt_BR"}},
			biz_opaque_callback_data: "queue:2"}},
		{path: "/v24.0/17858893269000001/replies", body: {message: "thanks!"}},
		{path: "/v24.0/17841400000000001/messages", body: {recipient: {id: "5599887766"}, message: {text: "hi there"}}},
		{path: "/v24.0/me/messages", body: {recipient: {id: "24680"}, messaging_type: "RESPONSE", message: {text: "on its way"}}}
	] | sort)' "$GREC"
	item 3 | jq -e '.provider_ref | test("^[0-9]+$")'
	item 4 | jq -e '.provider_ref | startswith("m_")'
}

@test "Graph errors: 130429 rate limit goes back for a retry, 131047 re-engagement fails for good" {
	as_owner
	{ wa "too fast"; wa "too late"; } | approved
	control "$GM" '{"script": {"*": [{"graph_error": 130429}, {"graph_error": 131047}]}}'
	export CX_PUBLISH_CONCURRENCY=1
	CX_NOW=$T0 run cx-publish
	assert_failure 1
	item 1 | jq -e '.state == "approved" and .error_code == "RATE_LIMITED" and (.error_detail | contains("130429"))'
	item 2 | jq -e '.state == "failed" and .error_code == "FORBIDDEN" and (.error_detail | contains("131047"))'
	CX_NOW=$((T0 + 3600)) run cx-publish
	assert_success
	[ "$(state 1)" = published ]
	assert_equal "$(sent "$GREC")" 3
}

@test "Graph errors: 190 is AUTH_FAILED, 100 VALIDATION_FAILED, 803 NOT_FOUND, code 2 a retry" {
	as_owner
	for t in a b c d; do wa "msg $t"; done | approved
	control "$GM" '{"script": {"*": [{"graph_error": 190}, {"graph_error": 100}, {"graph_error": 803}, {"graph_error": 2}]}}'
	export CX_PUBLISH_CONCURRENCY=1
	CX_NOW=$T0 cx-publish || true
	assert_equal "$(sql "SELECT group_concat(state || ':' || error_code, ' ') FROM (SELECT * FROM queue ORDER BY id)")" \
		"failed:AUTH_FAILED failed:VALIDATION_FAILED failed:NOT_FOUND approved:UPSTREAM_ERROR"
}

@test "a WhatsApp item whose fate is unknown is left for a person: reconcile says so, retry sends it again" {
	as_owner
	wa "maybe" | approved
	control "$GM" '{"script": {"*": [{"drop": true}]}}'
	cx-publish || true
	[ "$(state 1)" = unknown ]
	run --separate-stderr cx-publish reconcile
	assert_failure 1
	[[ $stderr == *"cx-publish retry 1"* ]]
	[ "$(state 1)" = unknown ]
	cx-publish retry 1
	cx-publish
	[ "$(state 1)" = published ]
	assert_equal "$(sent "$GREC")" 2
}

@test "resolve --published settles an unknown WhatsApp item a person found sent, without sending it; only unknown items" {
	as_owner
	{ wa "went out"; wa "still approved"; } | approved
	control "$GM" '{"script": {"*": [{"drop": true}]}}'
	cx-publish --max 1 || true
	[ "$(state 1)" = unknown ]
	run --separate-stderr cx-publish reconcile
	assert_failure 1
	[[ $stderr == *"cx-publish resolve --published 1"* ]]
	run --separate-stderr cx-publish resolve 1
	assert_failure 64
	[[ $stderr == *"--published"* ]]
	run --separate-stderr cx-publish resolve --published --ref wamid.A 1 2
	assert_failure 64
	[[ $stderr == *"--ref goes with one item"* ]]
	run --separate-stderr cx-publish resolve --published 2
	assert_failure 1
	[[ $stderr == *"queue item 2 is approved: only unknown items are resolved; nothing changed"* ]]
	run --separate-stderr cx-publish resolve --published --ref wamid.HBgLNTUxMTk4NzY1NDMyMRUCABIYFjNFQjA 1
	assert_success
	echo "$output" | jq -e '.type == "post.published" and .data.queue_id == 1
		and .data.provider_ref == "wamid.HBgLNTUxMTk4NzY1NDMyMRUCABIYFjNFQjA"'
	item 1 | jq -e '.state == "published" and .provider_ref == "wamid.HBgLNTUxMTk4NzY1NDMyMRUCABIYFjNFQjA"'
	cx audit --json | jq -se --arg me "$ME" 'map(select(.action == "post_published" and .subject == "queue:1"))
		| length == 1 and .[0].actor == $me and .[0].detail.from == "unknown"'
	assert_equal "$(metric 'cx_publish_total{channel="whatsapp",result="published"}')" 1
	# sent once, before it was lost; resolving sent nothing
	assert_equal "$(sent "$GREC")" 1
	[ "$(state 2)" = approved ]
}

@test "resolve is for owners and admins" {
	run cx-publish resolve --published 1
	assert_failure 77
	assert_equal "$(audit_count resolve_denied)" 1
}

# --- rate limits, breakers, dry runs ---------------------------------------------

@test "a tenant's rate limit paces its sends across the run" {
	as_owner
	for i in $(seq 12); do wa "paced $i"; done | approved
	export CX_PUBLISH_RATE_WHATSAPP=5/1
	start=$EPOCHREALTIME
	run cx-publish
	assert_success
	elapsed=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')
	assert_equal "$(sent "$GREC")" 12
	# burst 5, then one every 200 ms: the 12th no earlier than 1.4 s after the first
	jq -s 'map(.ts) | sort | (.[11] - .[0]) >= 1.3' "$GREC" | grep -qx true
	awk -v e="$elapsed" 'BEGIN { exit !(e < 10) }'
}

@test "items of a tenant whose bucket stays empty go back for later; other tenants are not held up" {
	as_owner
	cx accounts add --channel whatsapp --account 2002 --tenant other 2> /dev/null
	for i in 1 2 3; do wa "slow lane $i"; done | approved
	wa "fast lane" '{phone_number_id: "2002"}' | approved
	export CX_PUBLISH_RATE_WHATSAPP=1/60 CX_PUBLISH_MAX_WAIT_SECONDS=0
	run --separate-stderr cx-publish
	assert_success
	assert_equal "$(sql "SELECT group_concat(state, ' ') FROM (SELECT state FROM queue ORDER BY id)")" \
		"published approved approved published"
	item 2 | jq -e '.error_code == "RATE_LIMITED"'
	assert_equal "$(sent "$GREC")" 2
}

@test "a circuit breaker opens after repeated upstream failures and holds that tenant's items; other tenants still go" {
	as_owner
	cx accounts add --channel whatsapp --account 2002 --tenant healthy 2> /dev/null
	for i in $(seq 6); do wa "failing $i"; done | approved
	export CX_PUBLISH_CONCURRENCY=1 CX_PUBLISH_BREAKER_THRESHOLD=3
	control "$GM" '{"script": {"POST /v24.0/1001/messages": [{"status": 502, "body": {}, "times": 10}]}}'
	CX_NOW=$T0 cx-publish || true
	assert_equal "$(sent "$GREC")" 3
	assert_equal "$(sql "SELECT count(*) FROM queue WHERE error_code = 'CIRCUIT_OPEN'")" 3
	wa "other tenant" '{phone_number_id: "2002"}' | approved
	CX_NOW=$((T0 + 10)) cx-publish
	[ "$(state 7)" = published ]
	assert_equal "$(sent "$GREC")" 4
	# after the cool-down one probe goes; its success closes the breaker
	control "$GM" '{"reset": true}'
	CX_NOW=$((T0 + 4000)) cx-publish
	assert_equal "$(sql "SELECT count(*) FROM queue WHERE state = 'published'")" 7
}

@test "--dry-run shows what would be sent and claims and sends nothing" {
	as_owner
	connect_x
	{ xpost "planned"; wa "planned too"; } | approved
	run --separate-stderr cx-publish --dry-run
	assert_success
	echo "$output" | jq -se --arg x "$XM" 'length == 2 and .[0].queue_id == 1 and .[0].url == "\($x)/2/tweets"
		and .[0].body == {text: "planned"} and .[0].token == "x" and (.[1].url | endswith("/v24.0/1001/messages"))'
	refute_output --partial "meta-system-user-token"
	assert_equal "$(sent "$XREC") $(sent "$GREC")" "0 0"
	[ "$(state 1)" = approved ]
	assert_equal "$(audit_count publish_attempt)" 0
}

@test "--channel and --max limit what one run claims" {
	as_owner
	connect_x
	{ xpost "x one"; wa "wa one"; wa "wa two"; } | approved
	cx-publish --channel whatsapp --max 1 > /dev/null
	assert_equal "$(sent "$XREC") $(sent "$GREC")" "0 1"
	cx-publish --channel x > /dev/null
	assert_equal "$(sent "$XREC") $(sent "$GREC")" "1 1"
}

@test "usage errors exit 64; a malformed setting exits 78" {
	run --separate-stderr cx-publish --max-attempts 0
	assert_failure 64
	[[ $stderr == *'"--max-attempts wants an integer from 1 up, not '"'0'"' (see cx-publish --help)"'* ]]
	run --separate-stderr cx-publish --max-line 0
	assert_failure 64
	[[ $stderr == *'"--max-line wants an integer from 1 up, not '"'0'"' (see cx-publish --help)"'* ]]
	run cx-publish --key k
	assert_failure 64
	run cx-publish frobnicate
	assert_failure 64
	CX_PUBLISH_RATE_WHATSAPP=fast run cx-publish
	assert_failure 78
	CX_APPROVAL_MESSENGER=maybe run cx-publish
	assert_failure 78
	CX_PUBLISH_CONCURRENCY=lots run cx-publish
	assert_failure 78
}

@test "an unexpected operand is named, as the other tools name it, and nothing runs" {
	as_owner
	wa "not sent" | approved
	run --separate-stderr cx-publish --max 1 extra
	assert_failure 64
	[[ $stderr == *'"unexpected argument '"'extra'"' (see cx-publish --help)"'* ]]
	run --separate-stderr cx-publish reconcile --channel whatsapp later
	assert_failure 64
	[[ $stderr == *'"unexpected argument '"'later'"' (see cx-publish reconcile --help)"'* ]]
	[ "$(state 1)" = approved ]
	assert_equal "$(sent "$GREC")" 0
}

@test "an idempotency key must be visible ASCII (it travels as a header)" {
	export CX_APPROVAL_WHATSAPP=none
	run --separate-stderr cx-publish <<< "$(wa "hi" '{idempotency_key: "a\r\nX-Evil: 1"}')"
	assert_failure 65
	[[ $stderr == *"invalid_idempotency_key"* ]]
	assert_equal "$(sent "$GREC")" 0
}
