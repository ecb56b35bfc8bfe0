#!/usr/bin/env bats
# Automations' actions executed by the tools that exist (issue 14): an
# action.requested line of enqueue_post is a proposal of cx-approve enqueue
# whose proposer is the integration, so nothing reaches X before a person
# approves it; send_message is a command of cx-publish under the channel's
# approval policy (x refused as always), sent once per action; the other
# actions pass through both tools unchanged for the user's handler. The
# audit rows carry the integration id and the action's correlation id.
# Most action.requested lines are written here by hand, in the shape cx-parse
# gives them (SPEC §5); the last tests take them from a real `cx-ingest
# serve` through cx-parse, end to end. Providers are the mocks of 60-cx-publish.bats and
# 64-email-publish.bats: x_api.py, graph_api.py, oauth_server.py (the X
# credential) and ses.py.

load helpers
load lib/serve

eval "helpers_$(declare -f setup)"

REDIRECT=http://127.0.0.1:8765/callback
ME=$(id -un)
INT=int_0123456789abcdef
OTHER=int_fedcba9876543210

setup_file() {
	local m d=$BATS_FILE_TMPDIR
	"$PY" "$MOCKS/x_api.py" 0 --lifetime 900 > "$d/x.port" 2> "$d/x.err" 3>&- &
	echo $! > "$d/x.pid"
	"$PY" "$MOCKS/graph_api.py" 0 --lifetime 900 > "$d/graph.port" 2> "$d/graph.err" 3>&- &
	echo $! > "$d/graph.pid"
	"$PY" "$MOCKS/oauth_server.py" 0 --record /dev/null --redirect "$REDIRECT" \
		--lifetime 900 > "$d/oauth.port" 2> "$d/oauth.err" 3>&- &
	echo $! > "$d/oauth.pid"
	"$PY" "$MOCKS/ses.py" 0 --access-key AKIDCXTEST --secret-key 'ses secret' \
		--lifetime 900 > "$d/ses.port" 2> "$d/ses.err" 3>&- &
	echo $! > "$d/ses.pid"
	for m in x graph oauth ses; do
		for _ in $(seq 400); do [ -s "$d/$m.port" ] && break; sleep 0.05; done
	done
	export XM=http://127.0.0.1:$(head -n 1 "$d/x.port")
	export GM=http://127.0.0.1:$(head -n 1 "$d/graph.port")
	export OM=http://127.0.0.1:$(head -n 1 "$d/oauth.port")
	export SES=http://127.0.0.1:$(head -n 1 "$d/ses.port")
}

teardown_file() {
	local m
	for m in x graph oauth ses; do
		kill "$(cat "$BATS_FILE_TMPDIR/$m.pid")" 2> /dev/null || true
	done
}

setup() {
	helpers_setup
	XREC=$BATS_TEST_TMPDIR/x.jsonl
	GREC=$BATS_TEST_TMPDIR/graph.jsonl
	SREC=$BATS_TEST_TMPDIR/ses.jsonl
	touch "$XREC" "$GREC" "$SREC"
	control "$XM" "{\"reset\": true, \"record\": \"$XREC\"}"
	control "$GM" "{\"reset\": true, \"record\": \"$GREC\"}"
	control "$OM" '{"reset": true, "expires_in": 100000000}'
	control "$SES" "{\"reset\": true, \"record\": \"$SREC\"}"
	CX_TOKEN_KEY=$(head -c 32 /dev/urandom | base64)
	export CX_TOKEN_KEY CX_HTTP_TIMEOUT_SECONDS=5
	export CX_X_CLIENT_ID=x-client-id CX_X_CLIENT_SECRET=x-client-secret \
		CX_X_REDIRECT_URI=$REDIRECT CX_X_AUTHORIZE_URL=$OM/x/authorize \
		CX_X_TOKEN_URL=$OM/x/2/oauth2/token CX_X_API_BASE=$XM
	export CX_GRAPH_API_BASE=$GM CX_META_ACCESS_TOKEN=meta-system-user-token
	export CX_EMAIL_DEFAULT_FROM='Shop Mail <mail@ops.example>' CX_SES_API_BASE=$SES \
		CX_AWS_ACCESS_KEY_ID=AKIDCXTEST CX_AWS_SECRET_ACCESS_KEY='ses secret'
	unset CX_APPROVAL_WHATSAPP CX_APPROVAL_EMAIL CX_APPROVAL_X CX_PUBLISH_DIRECT_ENABLED
	cx accounts add --channel x --account acme --tenant acme 2> /dev/null
	cx accounts add --channel whatsapp --account 1001 --tenant acme 2> /dev/null
}

teardown() {
	kill_started
}

# control URL JSON: programs a mock.
control() {
	curl -sf -X POST -H 'Content-Type: application/json' -d "$2" "$1/_control" > /dev/null
}

# connect_x: an X credential for workspace acme, through the OAuth flow
# against the mocks.
connect_x() {
	local url redirect
	url=$(cx-oauth authorize --provider x --workspace acme) &&
		redirect=$(curl -s -o /dev/null -w '%{redirect_url}' "$url") &&
		cx-oauth callback --url "$redirect" > /dev/null
}

# action NAME INPUT-JQ [KEY [INTEGRATION [TENANT]]]: the action.requested
# line cx-parse makes of an accepted action (key k1, integration $INT,
# tenant acme); its correlation id is c-act-KEY.
action() {
	jq -cn --arg a "$1" --arg k "${3:-k1}" --arg i "${4:-$INT}" --arg t "${5:-acme}" \
		"($2) as \$in | {v: 1, type: \"action.requested\",
		dedupe_key: \"action:\(\$i):\(\$k)\", channel: \"action\", provider: \"action\",
		tenant: \$t, occurred_at: \"2026-12-06T12:00:00Z\", correlation_id: \"c-act-\(\$k)\",
		actor: \"integration:\(\$i)\", data: {integration_id: \$i, tenant: \$t, action: \$a,
		action_id: \"act_0123456789abcdef01234567\", idempotency_key: \$k, input: \$in}}"
}

# xpost TEXT: the input of an enqueue_post to X.
xpost() {
	printf '{channel: "x", kind: "post", workspace: "acme", text: "%s"}' "$1"
}

# sent REC [FILTER]: sends (POSTs to /2/tweets or .../messages) the mock
# recorded in REC, optionally those matching FILTER.
sent() {
	jq -c "select(.method == \"POST\" and (.path | test(\"/(tweets|messages)\$\")))${2:+ | select($2)}" "$1" | wc -l
}

# --- enqueue_post --------------------------------------------------------------

@test "enqueue_post becomes one pending proposal by integration:<id> with the action's correlation id; fed twice it is still one" {
	line=$(action enqueue_post "$(xpost "from a zap")")
	run --separate-stderr cx-approve enqueue <<< "$line"
	assert_success
	echo "$output" | jq -e --arg a "integration:$INT" '.type == "post.proposed" and
		.correlation_id == "c-act-k1" and .tenant == "acme" and .channel == "x" and
		.data == {queue_id: 1, channel: "x", kind: "post", workspace: "acme",
			text: "from a zap", actor: $a}'
	run --separate-stderr cx-approve enqueue <<< "$line"
	assert_success
	assert_output ""
	[[ $stderr == *"action action:$INT:k1 seen before (queue item 1): not queued again"* ]]
	assert_equal "$(sql 'SELECT count(*) FROM queue')" 1
	cx-approve show 1 --json | jq -e --arg a "integration:$INT" --arg i "$INT" '.state == "pending"
		and .proposed_by == $a and .correlation_id == "c-act-k1" and .meta.integration_id == $i
		and .meta.idempotency_key == "action:\($i):k1"'
	cx audit --json | jq -se --arg a "integration:$INT" --arg i "$INT" 'map(select(.action == "post_proposed"))
		| length == 1 and .[0].actor == $a and .[0].detail.integration_id == $i
		and .[0].correlation_id == "c-act-k1"'
}

@test "a person's proposal that names an integration_id is not attributed to it" {
	jq -cn --arg i "$INT" '{channel: "x", kind: "post", workspace: "acme", text: "mine",
		integration_id: $i}' | cx-approve enqueue > /dev/null
	cx audit --json | jq -se --arg me "$ME" 'map(select(.action == "post_proposed"))
		| length == 1 and .[0].actor == $me and (.[0].detail | has("integration_id") | not)'
}

@test "another action with the same text is another proposal" {
	{ action enqueue_post "$(xpost "twice")" k1; action enqueue_post "$(xpost "twice")" k2; } |
		cx-approve enqueue > out
	assert_equal "$(jq -sc 'map(.correlation_id)' out)" '["c-act-k1","c-act-k2"]'
	assert_equal "$(sql 'SELECT count(*) FROM queue')" 2
}

@test "an automation's X post is not published until a person approves it; the audit goes from the proposal to the post" {
	cx-approve operators add "$ME" --role owner 2> /dev/null
	connect_x
	action enqueue_post "$(xpost "needs a person")" | cx-approve enqueue > /dev/null
	run --separate-stderr cx-publish
	assert_success
	assert_output ""
	assert_equal "$(sent "$XREC")" 0
	assert_equal "$(cx-approve show 1 --json | jq -r .state)" pending
	# the same line handed to cx-publish is not a command: it passes through
	line=$(action enqueue_post "$(xpost "needs a person")")
	run --separate-stderr cx-publish <<< "$line"
	assert_success
	assert_output "$line"
	assert_equal "$(sent "$XREC")" 0
	cx-approve approve 1 > /dev/null
	run --separate-stderr cx-publish
	assert_success
	echo "$output" | jq -e '.type == "post.published" and .correlation_id == "c-act-k1"'
	assert_equal "$(sent "$XREC" '.body.text == "needs a person"')" 1
	run cx audit --json --correlation-id c-act-k1
	assert_equal "$(echo "$output" | jq -sc 'map([.action, .actor])')" \
		"[[\"post_proposed\",\"integration:$INT\"],[\"post_approved\",\"$ME\"],[\"publish_attempt\",\"$ME\"],[\"post_published\",\"$ME\"]]"
	echo "$output" | jq -se --arg i "$INT" 'map(.detail.integration_id) | unique == [$i]'
}

@test "an integration cannot be made an operator, so nothing about it approves" {
	cx-approve operators add "$ME" --role owner 2> /dev/null
	run --separate-stderr cx-approve operators add "integration:$INT" --role admin
	assert_failure 64
	assert_equal "$(cx-approve operators list --json | jq -sc 'map(.name)')" "[\"$ME\"]"
}

@test "an enqueue_post for another tenant's account is refused (77) and nothing is queued" {
	run --separate-stderr cx-approve enqueue <<< "$(action enqueue_post "$(xpost "not yours")" k1 "$OTHER" other)"
	assert_failure 77
	assert_output ""
	echo "$stderr" | jq -se 'map(select(.error_code == "tenant_mismatch"))
		| length == 1 and (.[0].msg | contains("its account is of tenant acme, not other"))'
	assert_equal "$(sql 'SELECT count(*) FROM queue')" 0
}

@test "an enqueue_post that a normal proposal of its fields would fail fails the same way (65)" {
	run --separate-stderr cx-approve enqueue <<< "$(action enqueue_post \
		'{channel: "x", kind: "reply", workspace: "acme", text: "to whom?"}')"
	assert_failure 65
	assert_output ""
	run --separate-stderr cx-approve enqueue <<< '{"channel":"x","kind":"reply","workspace":"acme","text":"to whom?"}'
	assert_failure 65
	assert_equal "$(sql 'SELECT count(*) FROM queue')" 0
}

@test "an enqueue_post line without its integration id is bad input (65), nothing queued" {
	run --separate-stderr cx-approve enqueue <<< "$(action enqueue_post "$(xpost "who?")" | jq -c 'del(.data.integration_id)')"
	assert_failure 65
	echo "$stderr" | jq -se 'map(select(.error_code == "invalid_action")) | length == 1'
	assert_equal "$(sql 'SELECT count(*) FROM queue')" 0
}

@test "cx-approve enqueue passes other actions and events through unchanged" {
	{
		action create_lead '{name: "Ana", email: "ana@example.com"}'
		action update_lead '{lead_id: "L1", status: "won"}' k2
		action create_task '{title: "call Ana"}' k3
		action send_message '{channel: "whatsapp", to: "+5511987654321", text: "hi", workspace: "acme"}' k4
		echo '{"v":1,"type":"message","data":{}}'
	} > in
	run --separate-stderr cx-approve enqueue < in
	assert_success
	assert_output "$(cat in)"
	assert_equal "$(sql 'SELECT count(*) FROM queue')" 0
}

# --- send_message ---------------------------------------------------------------

@test "send_message to WhatsApp with CX_APPROVAL_WHATSAPP=none: one send from the tenant's number, requested by the integration; fed twice, still one" {
	export CX_APPROVAL_WHATSAPP=none
	line=$(action send_message '{channel: "whatsapp", to: "+5511987654321", text: "your order shipped", workspace: "acme"}')
	run --separate-stderr cx-publish <<< "$line"
	assert_success
	echo "$output" | jq -e --arg i "$INT" '.type == "post.published" and .correlation_id == "c-act-k1"
		and .data.idempotency_key == "action:\($i):k1" and (.data.provider_ref | startswith("wamid."))'
	run --separate-stderr cx-publish <<< "$line"
	assert_success
	assert_output ""
	[[ $stderr == *"idempotency key seen before"* ]]
	assert_equal "$(sent "$GREC")" 1
	jq -e 'select(.method == "POST") | .path == "/v24.0/1001/messages" and
		.body == {messaging_product: "whatsapp", recipient_type: "individual", to: "+5511987654321",
			type: "text", text: {preview_url: false, body: "your order shipped"},
			biz_opaque_callback_data: "action:int_0123456789abcdef:k1"}' "$GREC"
	assert_equal "$(sql 'SELECT requested_by, kind, correlation_id FROM publish_commands')" \
		"integration:$INT|text|c-act-k1"
	run cx audit --json --correlation-id c-act-k1
	assert_equal "$(echo "$output" | jq -sc 'map(.action)')" \
		'["command_accepted","publish_attempt","post_published"]'
	echo "$output" | jq -se --arg i "$INT" '(map(.detail.integration_id) | unique == [$i])
		and .[0].actor == "integration:\($i)"'
}

@test "send_message under the default policy (approval required) is refused (77), audited with the integration, nothing sent" {
	run --separate-stderr cx-publish <<< "$(action send_message '{channel: "whatsapp", to: "+5511987654321", text: "hi", workspace: "acme"}')"
	assert_failure 77
	[[ $stderr == *'"error_code":"approval_required"'* ]]
	assert_equal "$(sent "$GREC")" 0
	assert_equal "$(sql 'SELECT count(*) FROM publish_commands')" 0
	cx audit --json --correlation-id c-act-k1 | jq -se --arg i "$INT" 'length == 1 and
		.[0].action == "bypass_blocked" and .[0].detail.integration_id == $i and
		.[0].subject == "channel:whatsapp"'
}

@test "send_message to x is refused (77) like any line for x, whatever the settings" {
	export CX_APPROVAL_X=none
	cx-approve operators add "$ME" --role owner 2> /dev/null
	connect_x
	run --separate-stderr cx-publish <<< "$(action send_message '{channel: "x", to: "someone", text: "sneaky", workspace: "acme"}')"
	assert_failure 77
	[[ $stderr == *'"error_code":"approval_required"'* ]]
	assert_equal "$(sent "$XREC")" 0
	assert_equal "$(sql 'SELECT count(*) FROM publish_commands') $(sql 'SELECT count(*) FROM queue')" "0 0"
}

@test "send_message from another tenant's integration is refused (77), nothing sent" {
	export CX_APPROVAL_WHATSAPP=none
	cx accounts add --channel whatsapp --account 2002 --tenant other 2> /dev/null
	run --separate-stderr cx-publish <<< "$(action send_message \
		'{channel: "whatsapp", to: "+5511987654321", text: "hi", workspace: "acme", phone_number_id: "1001"}' k1 "$OTHER" other)"
	assert_failure 77
	echo "$stderr" | jq -se 'map(select(.error_code == "tenant_mismatch")) | length == 1'
	assert_equal "$(sent "$GREC")" 0
	assert_equal "$(sql 'SELECT count(*) FROM publish_commands')" 0
}

@test "send_message by e-mail: one message through the tenant's plan (SES), to, subject and text as given; fed twice, still one" {
	export CX_APPROVAL_EMAIL=none
	cx tenants set acme --email-plan default --email-from hello@acme.example > /dev/null
	line=$(action send_message '{channel: "email", to: "bo@example.net", subject: "Your order",
		text: "It shipped.", workspace: "acme"}')
	run --separate-stderr cx-publish <<< "$line"
	assert_success
	echo "$output" | jq -e '.type == "post.published" and .correlation_id == "c-act-k1"
		and .data.provider == "ses"'
	run --separate-stderr cx-publish <<< "$line"
	assert_success
	assert_output ""
	assert_equal "$(jq -c 'select(.method == "POST")' "$SREC" | wc -l)" 1
	jq -e 'select(.method == "POST") | .signature == "ok"
		and .body.Destination.ToAddresses == ["bo@example.net"]
		and .body.Content.Simple.Subject.Data == "Your order"
		and .body.Content.Simple.Body.Text.Data == "It shipped."
		and ((.body.EmailTags | from_entries).cx_correlation_id == "c-act-k1")' "$SREC"
	assert_equal "$(sql 'SELECT requested_by, kind FROM publish_commands')" "integration:$INT|message"
}

@test "create_lead, update_lead, create_task and enqueue_post pass through cx-publish unchanged" {
	export CX_APPROVAL_WHATSAPP=none
	{
		action create_lead '{name: "Ana", email: "ana@example.com"}'
		action update_lead '{lead_id: "L1", status: "won"}' k2
		action create_task '{title: "call Ana"}' k3
		action enqueue_post "$(xpost "for the queue")" k4
	} > in
	run --separate-stderr cx-publish < in
	assert_success
	assert_output "$(cat in)"
	assert_equal "$(sql 'SELECT count(*) FROM publish_commands')" 0
	assert_equal "$(sent "$GREC") $(sent "$XREC")" "0 0"
}

@test "a send_message line without its input is bad input (65), nothing stored" {
	export CX_APPROVAL_WHATSAPP=none
	run --separate-stderr cx-publish <<< "$(action send_message '{}' | jq -c 'del(.data.input)')"
	assert_failure 65
	echo "$stderr" | jq -se 'map(select(.error_code == "invalid_action")) | length == 1'
	assert_equal "$(sql 'SELECT count(*) FROM publish_commands')" 0
}

@test "an idempotency key that cannot travel in a header is kept as its SHA-256: still one send" {
	export CX_APPROVAL_WHATSAPP=none
	key="$(printf 'k%.0s' $(seq 300)) with spaces"
	line=$(action send_message '{channel: "whatsapp", to: "+5511987654321", text: "hi", workspace: "acme"}' "$key" |
		jq -c '.correlation_id = "c-long-key"')
	cx-publish <<< "$line" > /dev/null
	cx-publish <<< "$line" > /dev/null 2>&1
	assert_equal "$(sent "$GREC")" 1
	assert_equal "$(sql 'SELECT idempotency_key FROM publish_commands')" \
		"action:$INT:sha256:$(printf '%s' "$key" | sha256sum | cut -d ' ' -f 1)"
}

# --- end to end: cx-ingest serve, cx-parse, cx-approve, cx-publish -------------

# called ACTION BODY: an integration of tenant acme (scope action:ACTION)
# calls POST /actions/ACTION on a new server; sets ID, CID (the correlation
# id answered) and LINES (the stored actions as cx-parse writes them).
called() {
	local out
	out=$(cx integrations create --tenant acme --kind zapier --name zap \
		--scopes "action:$1" 2> /dev/null)
	ID=$(jq -r .integration_id <<< "$out")
	CX_META_APP_SECRET=test-app-secret CX_META_VERIFY_TOKEN=test-verify-token start_server
	run http POST "/actions/$1" -H "X-Api-Key: $(jq -r .api_key <<< "$out")" \
		-H 'Idempotency-Key: zap-run-1' -H 'Content-Type: application/json' --data-binary "$2"
	assert_output 202
	CID=$(jq -r .correlation_id resp)
	LINES=$(cx-ingest drain --consumer compose | cx-parse)
}

@test "end to end: a Zap's enqueue_post waits for a person; cx audit --correlation-id goes from the request to the post" {
	cx-approve operators add "$ME" --role owner 2> /dev/null
	connect_x
	called enqueue_post '{"channel":"x","kind":"post","workspace":"acme","text":"launch day"}'
	echo "$LINES" | jq -se --arg i "$ID" 'map(select(.type == "action.requested"))
		| length == 1 and .[0].data.integration_id == $i and .[0].data.action == "enqueue_post"'
	cx-approve enqueue <<< "$LINES" > /dev/null
	cx-approve enqueue <<< "$LINES" > /dev/null 2>&1
	cx-publish > /dev/null
	assert_equal "$(sent "$XREC")" 0
	cx-approve approve 1 > /dev/null
	cx-publish > /dev/null
	assert_equal "$(sent "$XREC" '.body.text == "launch day"')" 1
	run cx audit --json --correlation-id "$CID"
	assert_equal "$(echo "$output" | jq -sc 'map([.action, .actor])')" \
		"[[\"action_accepted\",\"integration:$ID\"],[\"post_proposed\",\"integration:$ID\"],[\"post_approved\",\"$ME\"],[\"publish_attempt\",\"$ME\"],[\"post_published\",\"$ME\"]]"
	echo "$output" | jq -se --arg i "$ID" 'map(.detail.integration_id) | unique == [$i]'
}

@test "end to end: a Zap's send_message to WhatsApp is sent once, audited from the request to the message" {
	export CX_APPROVAL_WHATSAPP=none
	# serve takes a workspace of the integration's tenant: one listed by name
	cx tenants set acme 2> /dev/null
	called send_message '{"channel":"whatsapp","to":"+5511987654321","text":"on its way","workspace":"acme"}'
	cx-publish <<< "$LINES" > /dev/null
	cx-publish <<< "$LINES" > /dev/null 2>&1
	assert_equal "$(sent "$GREC" '.body.text.body == "on its way"')" 1
	run cx audit --json --correlation-id "$CID"
	assert_equal "$(echo "$output" | jq -sc 'map(.action)')" \
		'["action_accepted","command_accepted","publish_attempt","post_published"]'
	echo "$output" | jq -se --arg i "$ID" 'map(.detail.integration_id) | unique == [$i]'
}
