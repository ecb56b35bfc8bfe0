#!/usr/bin/env bats
# cx-ingest serve's automation API: actions called by Zapier and Make with
# an API key (POST /actions/<action>, POST /make/hooks/<id>/<action>), their
# idempotency, limits and refusals, and GET /integrations/me, POST /hooks,
# DELETE /hooks/<id>, GET /triggers/<event>.

load helpers
load lib/serve

eval "helpers_$(declare -f setup)"
setup() {
	helpers_setup
	export CX_META_APP_SECRET=test-app-secret
	export CX_META_VERIFY_TOKEN=test-verify-token
	unset CX_TOKEN_KEY CX_TOKEN_KEY_FILE CX_ACTIONS_RATE CX_ACTIONS_DAILY_QUOTA \
		CX_ACTIONS_DISABLE_AFTER CX_ACTIONS_DISABLE_WINDOW CX_IDEMPOTENCY_TTL_SECONDS
	LEAD='{"name":"Ada","email":"ada@example.com"}'
}

teardown() {
	kill_started
}

# integration TENANT SCOPES [KIND]: creates one; sets ID and KEY.
integration() {
	local out
	out=$(cx integrations create --tenant "$1" --kind "${3:-zapier}" --name "n-$1" \
		--scopes "$2" 2> /dev/null) || return 1
	ID=$(jq -r .integration_id <<< "$out")
	KEY=$(jq -r .api_key <<< "$out")
}

# act ACTION BODY [CURL OPTION...]: POSTs BODY to /actions/ACTION with $KEY;
# prints the status, the body goes to ./resp and the headers to ./hdrs.
act() {
	local action=$1 body=$2
	shift 2
	http POST "/actions/$action" -D hdrs -H "X-Api-Key: $KEY" \
		-H 'Content-Type: application/json' --data-binary "$body" "$@"
}

# refused STATUS CODE [MESSAGE]: the last answer was STATUS with that error
# code (and message).
refused() {
	[ "$status" -eq 0 ] && [ "$output" = "$1" ] ||
		{ echo "status $output, not $1: $(cat resp)" >&2; return 1; }
	[ "$(jq -r .error.code resp)" = "$2" ] || { cat resp >&2; return 1; }
	[ "$(jq -r .ok resp)" = false ]
	[ -z "${3:-}" ] || [ "$(jq -r .error.message resp)" = "$3" ]
}

# header NAME: the value of header NAME in ./hdrs (no CR).
header() {
	grep -i "^$1:" hdrs | cut -d' ' -f2- | tr -d '\r'
}

stored() {
	sql "SELECT count(*) FROM inbox WHERE provider = 'action'"
}

# nothing_stored: no inbox row and no idempotency record.
nothing_stored() {
	[ "$(inbox_count)" -eq 0 ] && [ "$(sql 'SELECT count(*) FROM action_idempotency')" -eq 0 ]
}

# events: the action.requested events of the stored actions.
events() {
	cx-ingest drain --consumer t | cx-parse | jq -c 'select(.type == "action.requested")'
}

# ---------------------------------------------------------------- accepted

@test "an accepted action is stored, audited and counted before its 202, and written with --stdout" {
	integration acme "action:create_lead"
	start_server --stdout
	run act create_lead "$LEAD"
	assert_output 202
	run jq -r 'keys_unsorted | join(",")' resp
	assert_output ok,action_id,correlation_id,status
	[[ $(jq -r .action_id resp) =~ ^act_[0-9a-f]{24}$ ]]
	[[ $(jq -r .correlation_id resp) =~ ^c-[0-9a-f]{32}$ ]]
	[ "$(jq -r .status resp)" = accepted ]
	[ "$(stored)" -eq 1 ]
	run sql "SELECT body FROM inbox"
	run jq -c --arg id "$ID" --arg act "$(jq -r .action_id resp)" \
		'. == {integration_id: $id, tenant: "acme", action: "create_lead", action_id: $act,
		       idempotency_key: .idempotency_key, requested_at: .requested_at,
		       input: {name: "Ada", email: "ada@example.com"}}' <<< "$output"
	assert_output true
	run sql "SELECT actor, correlation_id, json_extract(detail, '\$.integration_id'),
		json_extract(detail, '\$.action'), json_extract(detail, '\$.action_id')
		FROM audit WHERE action = 'action_accepted'"
	assert_output "integration:$ID|$(jq -r .correlation_id resp)|$ID|create_lead|$(jq -r .action_id resp)"
	wait_for 5 grep -q action_id server.out
	run jq -r '[.provider, .correlation_id, .body.action_id] | join(" ")' server.out
	assert_output "action $(jq -r '[.correlation_id, .action_id] | join(" ")' resp)"
	curl -sS "$BASE/metrics" > metrics
	grep -qx 'cx_actions_total{action="create_lead",result="accepted"} 1' metrics
	grep -qx 'cx_inbox_deliveries_total{provider="action"} 1' metrics
}

@test "the Make route runs the same action for the key's own integration, and answers 401 for another's" {
	integration acme "action:create_lead" make
	local own=$ID
	integration acme "action:create_lead" make
	start_server
	run http POST "/make/hooks/$ID/create_lead" -H "X-Api-Key: $KEY" --data-binary "$LEAD"
	assert_output 202
	run http POST "/make/hooks/$own/create_lead" -H "X-Api-Key: $KEY" \
		--data-binary '{"name":"Bob","email":"bob@example.com"}'
	refused 401 UNAUTHORIZED "missing or invalid API key"
	[ "$(stored)" -eq 1 ]
}

# ---------------------------------------------------------------- keys

@test "no key, a wrong key and a malformed key are 401 and nothing is stored; the answer never echoes key or input" {
	integration acme "action:create_lead"
	start_server
	run http POST /actions/create_lead --data-binary "$LEAD"
	refused 401 UNAUTHORIZED
	assert_equal "$(cat resp)" '{"ok":false,"error":{"code":"UNAUTHORIZED","message":"missing or invalid API key"}}'
	local wrong=${KEY%?}A
	[ "$wrong" != "$KEY" ] || wrong=${KEY%?}B
	for k in "$wrong" cxk_0000000000000000_AAAA garbage; do
		KEY=$k run act create_lead "$LEAD"
		refused 401 UNAUTHORIZED
		run http POST /actions/create_lead -H "Authorization: Bearer $k" --data-binary "$LEAD"
		refused 401 UNAUTHORIZED
		refute grep -q -e "$k" -e Ada resp
	done
	nothing_stored
}

@test "the key is taken from Authorization: Bearer too" {
	integration acme "action:create_lead"
	start_server
	run http POST /actions/create_lead -H "Authorization: Bearer $KEY" --data-binary "$LEAD"
	assert_output 202
}

@test "a revoked integration's key is 401 at once" {
	integration acme "action:create_lead"
	start_server
	run act create_lead "$LEAD"
	assert_output 202
	cx integrations revoke "$ID" 2> /dev/null
	run act create_lead '{"name":"Bob","email":"bob@example.com"}'
	refused 401 UNAUTHORIZED
	[ "$(stored)" -eq 1 ]
}

@test "a rotated key works until its grace ends, then 401; the new key works" {
	integration acme "action:create_lead"
	local old=$KEY t=1800000000
	CX_NOW=$t cx integrations rotate "$ID" --grace 600 > rotated 2> /dev/null
	local new
	new=$(jq -r .api_key rotated)
	CX_NOW=$((t + 599)) start_server
	KEY=$old run act create_lead '{"name":"A","email":"a@example.com"}'
	assert_output 202
	KEY=$new run act create_lead '{"name":"B","email":"b@example.com"}'
	assert_output 202
	stop_server
	CX_NOW=$((t + 601)) start_server
	KEY=$old run act create_lead '{"name":"C","email":"c@example.com"}'
	refused 401 UNAUTHORIZED
	KEY=$new run act create_lead '{"name":"D","email":"d@example.com"}'
	assert_output 202
	[ "$(stored)" -eq 3 ]
}

# ---------------------------------------------------------------- refusals

@test "an action outside the integration's scopes is 403 FORBIDDEN and nothing is stored" {
	integration acme "action:create_task trigger:message"
	start_server
	run act create_lead "$LEAD"
	refused 403 FORBIDDEN "the integration's scopes do not allow this action"
	nothing_stored
}

@test "a workspace of another tenant is 403; one mapped or listed for the integration's tenant is accepted" {
	integration acme "action:enqueue_post action:send_message"
	cx accounts add --channel x --account brand-x --tenant acme 2> /dev/null
	cx tenants set acme 2> /dev/null
	cx tenants set globex 2> /dev/null
	start_server
	post_to() {
		act enqueue_post "{\"channel\":\"x\",\"kind\":\"post\",\"text\":\"hi $2\",\"workspace\":\"$1\"}"
	}
	for ws in globex unknown-workspace; do
		run post_to "$ws" 1
		refused 403 FORBIDDEN "the workspace belongs to another tenant"
	done
	nothing_stored
	run post_to brand-x 2
	assert_output 202
	run post_to acme 3
	assert_output 202
	run act send_message '{"channel":"whatsapp","to":"+15550100","text":"t","workspace":"brand-x"}'
	refused 403 FORBIDDEN
	[ "$(stored)" -eq 2 ]
}

@test "an unknown action is 404 UNKNOWN_ACTION and a body over the limit 413 PAYLOAD_TOO_LARGE" {
	integration acme "action:create_lead"
	start_server --max-body 100
	for a in delete_everything Create_Lead 'create_lead%2F..' x; do
		run act "$a" "$LEAD"
		refused 404 UNKNOWN_ACTION "no such action in the catalogue"
	done
	local big
	big="{\"name\":\"$(head -c 200 /dev/zero | tr '\0' a)\",\"email\":\"a@example.com\"}"
	run act create_lead "$big"
	refused 413 PAYLOAD_TOO_LARGE
	run act create_lead "$big" -H 'Transfer-Encoding: chunked'
	refused 413 PAYLOAD_TOO_LARGE
	nothing_stored
	curl -sS "$BASE/metrics" > metrics
	grep -qx 'cx_actions_total{action="create_lead",result="payload_too_large"} 2' metrics
	grep -qx 'cx_actions_total{action="unknown",result="unknown_action"} 4' metrics
}

@test "input failing its schema is 422 VALIDATION_FAILED with the JSON Pointer of the value; a body that is not JSON has no path" {
	integration acme "action:create_lead action:create_task"
	start_server
	run act create_lead '{"name":"Ada"}'
	refused 422 VALIDATION_FAILED
	assert_equal "$(cat resp)" '{"ok":false,"error":{"code":"VALIDATION_FAILED","message":"is required","path":"/email"}}'
	run act create_lead '{"name":"Ada","email":"not-an-address"}'
	refused 422 VALIDATION_FAILED
	[ "$(jq -r .error.path resp)" = /email ]
	refute grep -q not-an-address resp
	run act create_task '{"title":"t","due_at":"tomorrow"}'
	refused 422 VALIDATION_FAILED
	[ "$(jq -r .error.path resp)" = /due_at ]
	run act create_lead '[1,2]'
	refused 422 VALIDATION_FAILED
	[ "$(jq -r .error.path resp)" = "" ]
	for body in '{"name":' 'name=Ada' ''; do
		run act create_lead "$body"
		refused 422 VALIDATION_FAILED "the body is not JSON"
		[ "$(jq -r '.error | has("path")' resp)" = false ]
	done
	nothing_stored
}

# ---------------------------------------------------------------- idempotency

@test "three retries of one action are one execution, replayed byte for byte, and one action.requested" {
	integration acme "action:create_lead"
	start_server
	run act create_lead "$LEAD" -H 'Idempotency-Key: lead-42'
	assert_output 202
	cp resp first
	refute [ -n "$(header Idempotent-Replayed)" ]
	for i in 1 2 3; do
		run act create_lead "$LEAD" -H 'Idempotency-Key: lead-42'
		assert_output 202
		cmp resp first
		[ "$(header Idempotent-Replayed)" = true ]
	done
	[ "$(stored)" -eq 1 ]
	run events
	[ "${#lines[@]}" -eq 1 ]
	run jq -c --arg id "$ID" --arg cid "$(jq -r .correlation_id first)" \
		--arg act "$(jq -r .action_id first)" \
		'[.dedupe_key == "action:\($id):lead-42", .tenant == "acme", .correlation_id == $cid,
		  .data == {integration_id: $id, tenant: "acme", action: "create_lead",
		            input: {name: "Ada", email: "ada@example.com"}, idempotency_key: "lead-42",
		            action_id: $act, actor: "integration:\($id)"}] | all' <<< "$output"
	assert_output true
	grep -qx 'cx_actions_total{action="create_lead",result="replayed"} 3' <(curl -sS "$BASE/metrics")
}

@test "the key is the body's idempotency_key, else the body's SHA-256; keys are per integration" {
	integration acme "action:create_lead"
	start_server
	run act create_lead '{"name":"A","email":"a@example.com","idempotency_key":"k1"}'
	assert_output 202
	run act create_lead '{"name":"A","email":"a@example.com","idempotency_key":"k1"}'
	[ "$(header Idempotent-Replayed)" = true ]
	run act create_lead "$LEAD"
	assert_output 202
	run act create_lead "$LEAD"
	[ "$(header Idempotent-Replayed)" = true ]
	run sql "SELECT key FROM action_idempotency ORDER BY created_at, key"
	assert_output --partial k1
	assert_output --partial "$(printf %s "$LEAD" | sha256sum | cut -d' ' -f1)"
	integration acme "action:create_lead"
	run act create_lead "$LEAD"
	assert_output 202
	refute [ -n "$(header Idempotent-Replayed)" ]
	[ "$(stored)" -eq 3 ]
	run events
	[ "$(jq -r .data.input | jq -s 'map(has("idempotency_key")) | any' <<< "$output")" = false ]
}

@test "the same key with another body is 422 IDEMPOTENCY_KEY_REUSED and stores nothing more" {
	integration acme "action:create_lead action:create_task"
	start_server
	run act create_lead "$LEAD" -H 'Idempotency-Key: k'
	assert_output 202
	run act create_lead '{"name":"Eve","email":"eve@example.com"}' -H 'Idempotency-Key: k'
	refused 422 IDEMPOTENCY_KEY_REUSED "this idempotency key was used for another request"
	run act create_task '{"title":"t"}' -H 'Idempotency-Key: k'
	refused 422 IDEMPOTENCY_KEY_REUSED
	[ "$(stored)" -eq 1 ]
}

@test "ten concurrent requests with one key execute once and get ten byte-identical answers" {
	integration acme "action:create_lead"
	start_server --threads 4
	local i pids=()
	for i in $(seq 10); do
		curl -sS -o "resp.$i" --max-time 10 -H "X-Api-Key: $KEY" -H 'Idempotency-Key: same' \
			--data-binary "$LEAD" "$BASE/actions/create_lead" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i"; done
	for i in $(seq 2 10); do cmp resp.1 "resp.$i"; done
	[ "$(jq -r .status resp.1)" = accepted ]
	[ "$(stored)" -eq 1 ]
	[ "$(sql "SELECT count(*) FROM audit WHERE action = 'action_accepted'")" -eq 1 ]
}

@test "serve killed with -9 right after a 202 leaves the action in the inbox" {
	integration acme "action:create_lead"
	start_server
	run act create_lead "$LEAD"
	assert_output 202
	kill -9 "$SERVER_PID"
	wait "$SERVER_PID" || true
	run cx-ingest drain --consumer after-crash
	assert_success
	[ "$(jq -r '[.provider, .correlation_id, .body.action_id] | join(" ")' <<< "$output")" = \
		"action $(jq -r '[.correlation_id, .action_id] | join(" ")' resp)" ]
}

# ---------------------------------------------------------------- limits

@test "a flood of bad calls from one integration gets 429 and disables it (audited), while another tenant's calls are all accepted" {
	export CX_ACTIONS_RATE=1/3600,burst=8 CX_ACTIONS_DISABLE_AFTER=20
	integration acme "action:create_lead"
	local bad_key=$KEY bad_id=$ID
	integration globex "action:create_lead"
	start_server
	local i codes=() good=()
	for i in $(seq 24); do
		KEY=$bad_key run act create_lead '{"name":"no address"}'
		codes+=("$output:$(jq -r .error.code resp)")
		if [ "$output" = 429 ]; then
			[[ $(header Retry-After) =~ ^[0-9]+$ ]]
			[ "$(header Retry-After)" -ge 1 ] && [ "$(header Retry-After)" -le 3600 ]
		fi
		if [ "$i" -le 8 ]; then
			run act create_lead "{\"name\":\"n$i\",\"email\":\"n$i@example.com\"}"
			good+=("$output")
		fi
	done
	assert_equal "${codes[*]}" "$(printf '422:VALIDATION_FAILED %.0s' $(seq 8))$(printf '429:RATE_LIMITED %.0s' $(seq 12))$(printf '403:FORBIDDEN %.0s' $(seq 4) | sed 's/ $//')"
	assert_equal "${good[*]}" "$(printf '202 %.0s' $(seq 8) | sed 's/ $//')"
	KEY=$bad_key run act create_lead "$LEAD"
	refused 403 FORBIDDEN "the integration is disabled"
	[ "$(sql "SELECT state FROM integrations WHERE id = '$bad_id'")" = disabled ]
	[ "$(sql "SELECT count(*) FROM audit WHERE action = 'integration_disabled' AND json_extract(detail, '\$.integration_id') = '$bad_id'")" -eq 1 ]
	[ "$(sql "SELECT group_concat(DISTINCT json_extract(body, '\$.tenant')) FROM inbox")" = globex ]
	[ "$(stored)" -eq 8 ]
}

@test "the tenant's daily quota answers 429 with Retry-After until the next UTC day" {
	export CX_ACTIONS_DAILY_QUOTA=2
	local day=1800057600    # a UTC midnight
	integration acme "action:create_lead"
	CX_NOW=$((day + 86400 - 100)) start_server
	run act create_lead '{"name":"A","email":"a@example.com"}'
	assert_output 202
	run act create_lead '{"name":"B","email":"b@example.com"}'
	assert_output 202
	run act create_lead '{"name":"C","email":"c@example.com"}'
	refused 429 RATE_LIMITED "the tenant's daily quota of actions is used up"
	[ "$(header Retry-After)" = 100 ]
	stop_server
	CX_NOW=$((day + 86400)) start_server
	run act create_lead '{"name":"C","email":"c@example.com"}'
	assert_output 202
	[ "$(stored)" -eq 3 ]
}

# ---------------------------------------------------------------- other routes

@test "GET /integrations/me answers the key's integration id, tenant, kind and scopes" {
	integration acme "action:create_lead trigger:message" make
	start_server
	run http GET /integrations/me -H "X-Api-Key: $KEY"
	assert_output 200
	assert_equal "$(cat resp)" "{\"integration_id\":\"$ID\",\"tenant\":\"acme\",\"kind\":\"make\",\"scopes\":[\"action:create_lead\",\"trigger:message\"]}"
	run http GET /integrations/me
	refused 401 UNAUTHORIZED
	run http POST /integrations/me -H "X-Api-Key: $KEY"
	refused 405 METHOD_NOT_ALLOWED
}

@test "POST /hooks subscribes within the trigger scopes, DELETE /hooks/<id> unsubscribes, another's hook is 404" {
	CX_TOKEN_KEY=$(head -c 32 /dev/urandom | base64)
	export CX_TOKEN_KEY
	integration acme "trigger:message"
	local other_key=$KEY
	integration acme "trigger:message trigger:lead"
	start_server
	run http POST /hooks -H "X-Api-Key: $KEY" \
		--data-binary '{"event":"message","target_url":"https://hooks.zapier.com/h/1"}'
	assert_output 201
	local sub
	sub=$(jq -r .id resp)
	[[ $sub =~ ^sub_[0-9a-f]{16}$ ]]
	assert_equal "$(cat resp)" "{\"id\":\"$sub\"}"
	run sql "SELECT integration_id, tenant, event, target_url, origin, state FROM trigger_subscriptions"
	assert_output "$ID|acme|message|https://hooks.zapier.com/h/1|hook|active"
	run http POST /hooks -H "X-Api-Key: $KEY" \
		--data-binary '{"event":"comment","target_url":"https://hooks.zapier.com/h/2"}'
	refused 403 FORBIDDEN
	run http POST /hooks -H "X-Api-Key: $KEY" --data-binary '{"event":"message","target_url":"ftp://x"}'
	refused 422 VALIDATION_FAILED
	[ "$(jq -r .error.path resp)" = /target_url ]
	run http DELETE "/hooks/$sub" -H "X-Api-Key: $other_key"
	refused 404 NOT_FOUND
	run http DELETE "/hooks/$sub" -H "X-Api-Key: $KEY"
	assert_output 200
	assert_equal "$(cat resp)" '{"ok":true}'
	[ "$(sql 'SELECT state FROM trigger_subscriptions')" = deleted ]
	run http DELETE "/hooks/$sub" -H "X-Api-Key: $KEY"
	refused 404 NOT_FOUND
}

@test "POST /hooks without CX_TOKEN_KEY is 503 UNAVAILABLE and says why in the log" {
	integration acme "trigger:message"
	start_server
	run http POST /hooks -H "X-Api-Key: $KEY" \
		--data-binary '{"event":"message","target_url":"https://hooks.zapier.com/h/1"}'
	refused 503 UNAVAILABLE
	grep -q 'needs CX_TOKEN_KEY' server.err
	[ "$(sql 'SELECT count(*) FROM trigger_subscriptions')" -eq 0 ]
}

@test "GET /triggers/<event> answers the tenant's latest samples, newest first, at most limit" {
	integration acme "trigger:message"
	local i
	for i in 1 2 3 4; do
		sql "INSERT INTO trigger_samples VALUES ('acme', 'message', 'k$i',
			'{\"type\":\"message\",\"data\":{\"n\":$i}}', 0, $i)"
	done
	sql "INSERT INTO trigger_samples VALUES ('globex', 'message', 'g', '{\"type\":\"message\",\"data\":{\"n\":9}}', 0, 9)"
	sql "INSERT INTO trigger_samples VALUES ('acme', 'lead', 'l', '{\"type\":\"lead\",\"data\":{\"n\":8}}', 0, 8)"
	start_server
	run http GET /triggers/message -H "X-Api-Key: $KEY"
	assert_output 200
	[ "$(jq -c 'map(.data.n)' resp)" = '[4,3,2,1]' ]
	run http GET '/triggers/message?limit=2' -H "X-Api-Key: $KEY"
	assert_output 200
	[ "$(jq -c 'map(.data.n)' resp)" = '[4,3]' ]
	for l in 0 101 x ''; do
		run http GET "/triggers/message?limit=$l" -H "X-Api-Key: $KEY"
		refused 422 VALIDATION_FAILED "limit must be an integer from 1 to 100"
	done
	run http GET /triggers/lead -H "X-Api-Key: $KEY"
	refused 403 FORBIDDEN
}

@test "cx-parse refuses an action body that is not what serve stores with a parse error, and no event" {
	local ok='{"integration_id":"int_0123456789abcdef","tenant":"acme","action":"create_lead","action_id":"act_0123456789abcdef01234567","idempotency_key":"k","requested_at":1800000000,"input":{"name":"A"}}'
	run cx-parse --provider action <<< "$ok"
	assert_success
	run jq -c 'select(.type == "action.requested") | [.dedupe_key, .tenant, .occurred_at, .data.actor]' <<< "$output"
	assert_output '["action:int_0123456789abcdef:k","acme","2027-01-15T08:00:00Z","integration:int_0123456789abcdef"]'
	for bad in '.integration_id = "x"' '.tenant = null' '.input = [1]' 'del(.idempotency_key)' \
		'.action_id = "act_1"'; do
		run --separate-stderr cx-parse --provider action <<< "$(jq -c "$bad" <<< "$ok")"
		assert_failure 65
		[ -z "$(jq -c 'select(.type == "action.requested")' <<< "$output")" ]
		[[ $stderr == *parse.error* ]]
		[[ $stderr != *acme* ]]
	done
}

@test "serve stops cleanly on SIGTERM after calls of every route" {
	CX_TOKEN_KEY=$(head -c 32 /dev/urandom | base64)
	export CX_TOKEN_KEY
	integration acme "action:create_lead trigger:message"
	start_server --max-body 1000
	run act create_lead "$LEAD"
	assert_output 202
	run act create_lead "$LEAD"
	assert_output 202
	run act create_lead '{"name":1}'
	refused 422 VALIDATION_FAILED
	run act create_lead "$(head -c 2000 /dev/zero | tr '\0' ' '){}"
	refused 413 PAYLOAD_TOO_LARGE
	run http GET /integrations/me -H "X-Api-Key: $KEY"
	assert_output 200
	run http POST /hooks -H "X-Api-Key: $KEY" \
		--data-binary '{"event":"message","target_url":"https://hooks.zapier.com/h/1"}'
	assert_output 201
	run http DELETE "/hooks/$(jq -r .id resp)" -H "X-Api-Key: $KEY"
	assert_output 200
	run http GET '/triggers/message?limit=5' -H "X-Api-Key: $KEY"
	assert_output 200
	run http GET /hooks/nothing/here -H "X-Api-Key: $KEY"
	refused 404 NOT_FOUND
	stop_server
	assert_equal "$exit_code" 0
	refute grep -q Sanitizer server.err
}

@test "--routes actions serves the automation API alone, without a Meta secret; a list without it answers 404 there" {
	integration acme "action:create_lead"
	unset CX_META_APP_SECRET
	start_server --routes actions
	run act create_lead "$LEAD"
	assert_output 202
	run http POST /webhooks/whatsapp --data-binary '{}'
	assert_output 404
	stop_server
	export CX_META_APP_SECRET=test-app-secret
	start_server --routes whatsapp
	run act create_lead "$LEAD"
	assert_output 404
	[ "$(stored)" -eq 1 ]
}
