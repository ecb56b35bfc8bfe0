#!/usr/bin/env bats
# The Zapier app (share/cx/zapier): its own tests, run with
# zapier-platform-core's appTester against a real cx-ingest serve. The Make
# blueprints (share/cx/examples/make): their format, their placeholders, and
# the requests they build (tests/lib/make_run.py) accepted by a real serve.

load helpers
load lib/serve

APP=$CX_ROOT/share/cx/zapier
BLUEPRINTS=$CX_ROOT/share/cx/examples/make
MAKE_FIXTURES=$FIXTURES/make
ALL_SCOPES="action:create_lead action:update_lead action:create_task action:send_message"
ALL_SCOPES+=" action:enqueue_post trigger:message trigger:lead trigger:email.received"
ALL_SCOPES+=" trigger:calendar.event.created"

# helpers.bash's setup, plus the secrets cx-ingest serve starts with and the
# key that seals subscriptions' signing secrets.
eval "helpers_$(declare -f setup)"
setup() {
	helpers_setup
	export CX_META_APP_SECRET=test-app-secret CX_META_VERIFY_TOKEN=test-verify-token
	CX_TOKEN_KEY=$(head -c 32 /dev/urandom | base64)
	export CX_TOKEN_KEY
	unset CX_TOKEN_KEY_FILE CX_TOKEN_KEY_PREVIOUS
}

teardown() {
	kill_started
}

# integration KIND SCOPES: a new integration of tenant default; prints
# {"integration_id","api_key"}.
integration() {
	cx integrations create --tenant default --kind "$1" --name "test $1" --scopes "$2"
}

# record_samples: canonical events of tenant default (one message, two leads,
# one e-mail received, a timed and an all-day calendar event) through
# cx-publish triggers, which records their sanitized payloads as samples.
record_samples() {
	cat "$FIXTURES/whatsapp/meta_inbound_text.expected.ndjson" \
		"$FIXTURES/instagram/meta_page_leadgen_two_changes.expected.ndjson" \
		"$FIXTURES/mailgun-inbound/anymail_inbound_basics.expected.ndjson" \
		"$MAKE_FIXTURES/calendar.ndjson" | cx-publish triggers > /dev/null
}

# serve_with_zapier_keys [OPTION...]: the running user owns a new state file
# with samples, serve runs (with OPTION...), and CX_ZAPIER_* name it, a key
# of every scope and one of create_lead only.
serve_with_zapier_keys() {
	cx-approve operators add "$(id -un)" --role owner 2> /dev/null
	record_samples
	start_server "$@"
	export CX_ZAPIER_BASE_URL=$BASE
	CX_ZAPIER_API_KEY=$(integration zapier "$ALL_SCOPES" | jq -r .api_key)
	CX_ZAPIER_NARROW_KEY=$(integration zapier action:create_lead | jq -r .api_key)
	export CX_ZAPIER_API_KEY CX_ZAPIER_NARROW_KEY
	[[ $CX_ZAPIER_API_KEY == cxk_* && $CX_ZAPIER_NARROW_KEY == cxk_* ]]
}

# app_tests FILE: runs the app's test/FILE, its node:test tests reporting TAP.
# Zapier's logging and RPC endpoints point at a closed local port, and no
# logging token is set, so nothing can leave the machine.
app_tests() {
	[ -f "$APP/node_modules/zapier-platform-core/package.json" ] ||
		fail "zapier-platform-core is not installed: make check, or npm ci --prefix share/cx/zapier"
	run env -u LOGGING_TOKEN NODE_ENV=test LOGGING_ENDPOINT=http://127.0.0.1:9 \
		ZAPIER_BASE_ENDPOINT=http://127.0.0.1:9 \
		node --test-reporter=tap "$APP/test/$1"
}

# passed N: the TAP output of app_tests says N tests passed, none failed.
passed() {
	assert_success
	assert_line "# pass $1"
	assert_line "# fail 0"
}

@test "zapier app: the definition validates, with the catalogue's actions and four REST-hook triggers" {
	app_tests definition.test.js
	passed 3
}

@test "zapier app: the auth test against serve, ok with the key and UNAUTHORIZED without" {
	serve_with_zapier_keys
	app_tests authentication.test.js
	passed 4
}

@test "zapier app: the actions are accepted, a repeated step is one action, errors keep cx's code" {
	serve_with_zapier_keys
	app_tests creates.test.js
	passed 7
}

@test "zapier app: subscribe and unsubscribe round trip, samples from serve, scopes hold" {
	serve_with_zapier_keys
	app_tests triggers.test.js
	passed 4
}

@test "zapier app: a 429 from cx becomes a ThrottledError with its Retry-After" {
	CX_ACTIONS_RATE=1/3600,burst=1 serve_with_zapier_keys
	app_tests throttle.test.js
	passed 1
}

@test "zapier app: the dependencies are pinned by the lock file, for node 18" {
	run jq -r '.dependencies["zapier-platform-core"], .engines.node' "$APP/package.json"
	assert_output $'16.5.1\n>=18.12'
	run jq -r '.packages["node_modules/zapier-platform-core"].version' "$APP/package-lock.json"
	assert_output 16.5.1
	# every package of the lock runs on node 18
	run jq -r '.packages | to_entries[] | select(.value.engines.node? // "" | test(">= ?(19|2[0-9])")) | .key' \
		"$APP/package-lock.json"
	assert_output ""
}

# --- Make blueprints -------------------------------------------------------

# placeholders FILE: the {{UPPER_CASE}} placeholders in FILE, one a line, sorted.
placeholders() {
	LC_ALL=C grep -o '{{[A-Z_]*}}' "$1" | LC_ALL=C sort -u
}

# documented NAME: the placeholders the README's table lists for blueprint NAME.
documented() {
	grep "^| \`$1\` |" "$BLUEPRINTS/README.md" | LC_ALL=C grep -o '{{[A-Z_]*}}' | LC_ALL=C sort -u
}

# fill BLUEPRINT: the blueprint with its placeholders replaced, as the README
# says to do before importing it, in ./filled.json: $BASE, $INTEGRATION_ID,
# $API_KEY, and $WORKSPACE (default "default").
fill() {
	sed -e "s|{{CX_BASE_URL}}|$BASE|" -e "s|{{INTEGRATION_ID}}|$INTEGRATION_ID|" \
		-e "s|{{CX_API_KEY}}|$API_KEY|" -e 's|{{NOTIFY_EMAIL}}|sales@example.com|' \
		-e "s|{{CX_WORKSPACE}}|${WORKSPACE-default}|" -e 's|{{LEAD_EMAIL}}|whatsapp-leads@example.com|' \
		-e 's|{{TARGET_URL}}|https://receiver.example/cx|' "$BLUEPRINTS/$1" > filled.json
}

# send REQUEST: sends one request line of make_run.py to serve; prints the
# status, the body goes to ./resp.
send() {
	local url method body h
	local -a headers=()
	url=$(jq -r .url <<< "$1")
	method=$(jq -r .method <<< "$1")
	body=$(jq -r .body <<< "$1")
	while IFS= read -r h; do
		headers+=(-H "$h")
	done < <(jq -r '.headers | to_entries[] | "\(.key): \(.value)"' <<< "$1")
	curl -sS -o resp -w '%{http_code}' --max-time 10 -X "$method" \
		-H 'Content-Type: application/json' "${headers[@]}" --data-binary "$body" "$url"
}

# serve_with_make_key: samples recorded, serve runs with a make integration;
# INTEGRATION_ID and API_KEY are its id and key.
serve_with_make_key() {
	local created
	cx-approve operators add "$(id -un)" --role owner 2> /dev/null
	record_samples
	start_server
	created=$(integration make "$ALL_SCOPES")
	INTEGRATION_ID=$(jq -r .integration_id <<< "$created")
	API_KEY=$(jq -r .api_key <<< "$created")
	[[ $API_KEY == cxk_* ]]
}

# delivery EVENT N: the Nth newest sample of EVENT from serve (what a
# delivery to the scenario's webhook carries), in ./delivery.json.
delivery() {
	[ "$(http GET "/triggers/$1?limit=$2" -H "X-Api-Key: $API_KEY")" = 200 ]
	jq ".[$2 - 1]" resp > delivery.json
	[ "$(jq -r .type delivery.json)" = "$1" ]
}

# scenario BLUEPRINT: runs the filled BLUEPRINT on ./delivery.json; $lines
# are the requests it builds.
scenario() {
	fill "$1"
	run "$PY" "$CX_ROOT/tests/lib/make_run.py" filled.json delivery.json
	assert_success
}

@test "make: every blueprint is a Make scenario blueprint, listed in the README" {
	local b names=()
	for b in "$BLUEPRINTS"/*.json; do
		names+=("$(basename "$b")")
		run jq -e '
			(.name | type == "string") and (.flow | type == "array" and length >= 2)
			and (.metadata.instant == true) and (.metadata.scenario | type == "object")
			and (.flow[0].module == "gateway:CustomWebHook")
			and all(.flow[]; (.id | type == "number") and (.module | test("^[a-z-]+:[A-Za-z]+$"))
				and (.version | type == "number") and (.parameters | type == "object")
				and (.mapper | type == "object") and (.metadata.designer | type == "object"))
			and ([.flow[].id] | length == (unique | length))' "$b"
		assert_success
	done
	[ "${#names[@]}" -ge 3 ] && [ "${#names[@]}" -le 5 ]
	run bash -c "LC_ALL=C grep -o '^| \`[a-z-]*\.json\` |' '$BLUEPRINTS/README.md' | tr -d '|\` ' | LC_ALL=C sort"
	assert_output "$(printf '%s\n' "${names[@]}" | LC_ALL=C sort)"
}

@test "make: a blueprint's placeholders are the ones the README lists, where it lists them" {
	local b name actions
	actions=$(cd "$CX_ROOT/share/cx/actions" && ls *.json | sed 's/\.json$//' | paste -sd '|')
	for b in "$BLUEPRINTS"/*.json; do
		name=$(basename "$b")
		[ -n "$(documented "$name")" ] || fail "$name: no placeholders documented"
		[ "$(placeholders "$b")" = "$(documented "$name")" ] ||
			fail "$name: has $(placeholders "$b" | tr '\n' ' '), README lists $(documented "$name" | tr '\n' ' ')"
		# every string holding a placeholder, as "NAME path" with flow indexes as N
		run jq -r --arg actions "$actions" '
			paths(strings) as $p | getpath($p) as $v
			| ($v | [scan("\\{\\{([A-Z_]+)\\}\\}")[0]]) as $names | select($names | length > 0)
			| ($p | map(if type == "number" then "N" else . end) | join(".")) as $where
			| $names[] as $n
			| if $n == "CX_BASE_URL" or $n == "INTEGRATION_ID" then
				select($where != "flow.N.mapper.url"
					or ($v | test("^\\{\\{CX_BASE_URL\\}\\}/make/hooks/\\{\\{INTEGRATION_ID\\}\\}/(" + $actions + ")$") | not))
			  elif $n == "CX_API_KEY" then
				select($where != "flow.N.mapper.headers.N.value" or $v != "{{CX_API_KEY}}"
					or (getpath($p[:-1]).name != "X-Api-Key"))
			  elif $n == "TARGET_URL" then
				select($where != "flow.N.mapper.url" or $v != "{{TARGET_URL}}")
			  elif $n == "NOTIFY_EMAIL" or $n == "CX_WORKSPACE" or $n == "LEAD_EMAIL" then
				select($where != "flow.N.mapper.data")
			  else . end
			| "\($n) at \($where): \($v)"' "$b"
		assert_success
		[ -z "$output" ] || fail "$name: placeholders where the README does not put them: $output"
	done
}

@test "make: the request each blueprint builds from a real delivery is accepted by serve, once per event" {
	local first
	serve_with_make_key

	delivery message 1
	scenario whatsapp-message-to-lead.json
	[ "${#lines[@]}" -eq 1 ]
	[ "$(jq -r .url <<< "${lines[0]}")" = "$BASE/make/hooks/$INTEGRATION_ID/create_lead" ]
	[ "$(jq -r '.headers["Idempotency-Key"]' <<< "${lines[0]}")" = "make-lead-$(jq -r .id delivery.json)" ]
	[ "$(jq -c '.body | fromjson | {name, email, source}' <<< "${lines[0]}")" = \
		'{"name":"Sheena Nelson","email":"whatsapp-leads@example.com","source":"whatsapp"}' ]
	[ "$(send "${lines[0]}")" = 202 ]
	first=$(jq -r .action_id resp)
	[[ $first == act_* ]]
	# Make's retry of the same event: the same key, the same action
	[ "$(send "${lines[0]}")" = 202 ]
	[ "$(jq -r .action_id resp)" = "$first" ]
	# an outbound message builds no request
	jq '.data.direction = "outbound"' delivery.json > out.json && mv out.json delivery.json
	scenario whatsapp-message-to-lead.json
	assert_output ""

	delivery lead 2
	scenario lead-to-email.json
	[ "${#lines[@]}" -eq 1 ]
	[ "$(jq -r '.body | fromjson | .channel, .to, .subject' <<< "${lines[0]}")" = \
		$'email\nsales@example.com\nNew lead 123123123123' ]
	[ "$(send "${lines[0]}")" = 202 ]
	[ "$(jq -r .status resp)" = accepted ]

	delivery calendar.event.created 2
	scenario calendar-event-to-task.json
	[ "${#lines[@]}" -eq 1 ]
	[ "$(jq -c '.body | fromjson' <<< "${lines[0]}")" = \
		'{"title":"Prepare: Demo call \"ACME\"\nwith Ana","due_at":"2026-11-24T15:00:00Z"}' ]
	[ "$(send "${lines[0]}")" = 202 ]
	# an all-day event has no time to be due at: no task
	delivery calendar.event.created 1
	scenario calendar-event-to-task.json
	assert_output ""
}

@test "make: calendar-event-to-webhook POSTs the delivered event as JSON to the URL" {
	serve_with_make_key
	delivery calendar.event.created 2
	scenario calendar-event-to-webhook.json
	[ "${#lines[@]}" -eq 1 ]
	[ "$(jq -r '.method, .url' <<< "${lines[0]}")" = $'POST\nhttps://receiver.example/cx' ]
	[ "$(jq -c '.body | fromjson | {source, id, type, timestamp, event}' <<< "${lines[0]}")" = \
		"$(jq -c '{source: "cx", id, type, timestamp, event: .data}' delivery.json)" ]
}

@test "make: a blueprint filled in wrong is refused with cx's error" {
	serve_with_make_key
	delivery lead 1
	WORKSPACE='' scenario lead-to-email.json
	[ "$(send "${lines[0]}")" = 422 ]
	[ "$(jq -c '{ok, code: .error.code, path: .error.path}' resp)" = \
		'{"ok":false,"code":"VALIDATION_FAILED","path":"/workspace"}' ]
	# the key with its last character changed
	if [[ $API_KEY == *A ]]; then API_KEY=${API_KEY%?}B; else API_KEY=${API_KEY%?}A; fi
	scenario lead-to-email.json
	[ "$(send "${lines[0]}")" = 401 ]
	[ "$(jq -r .error.code resp)" = UNAUTHORIZED ]
}

@test "cx-automation(7): its shell example computes the Standard Webhooks signature it shows" {
	local page script
	page=$(mandoc -Tascii "$CX_ROOT/man/man7/cx-automation.7" | col -bx)
	# the commands from "$ secret=" to the line after them that is no command
	script=$(awk '/^ *\$ secret=/ { on = 1 } on && !/^ *(\$ | +[-'"'"'o])/ { exit }
		on { sub(/^ *\$ /, ""); print }' <<< "$page")
	[ "$(wc -l <<< "$script")" -eq 5 ]
	run bash -c "$script"
	assert_success
	assert_output g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
	grep -qF 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' <<< "$page"
}
