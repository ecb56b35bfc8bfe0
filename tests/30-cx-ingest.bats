#!/usr/bin/env bats
# cx-ingest: the webhook server (handshake, signatures, body checks, routes,
# metrics, --stdout, shutdown and crashes), and the inbox commands (store,
# drain, ack, replay, prune), and the man page.

load helpers
load lib/serve

# helpers.bash's setup, plus the secrets every test starts from.
eval "helpers_$(declare -f setup)"
setup() {
	helpers_setup
	export CX_META_APP_SECRET=test-app-secret
	export CX_META_VERIFY_TOKEN=test-verify-token
	unset CX_META_APP_SECRET_FILE CX_META_APP_SECRET_PREVIOUS \
		CX_META_APP_SECRET_PREVIOUS_FILE CX_META_VERIFY_TOKEN_FILE
	WA=$FIXTURES/whatsapp
}

teardown() {
	kill_started
}

# drained CONSUMER: what drain prints for CONSUMER (fails if drain fails).
drained() {
	cx-ingest drain --consumer "$1"
}

# cursor NAME: the consumer's cursor.
cursor() {
	sql "SELECT cursor FROM consumers WHERE name = '$1'"
}

# store_n N: stores N small deliveries {"n":1}..{"n":N}.
store_n() {
	local i
	for ((i = 1; i <= $1; i++)); do
		echo "{\"n\":$i}" | cx-ingest store --provider whatsapp > /dev/null || return 1
	done
}

# nothing_stored: the inbox is empty and drain prints nothing.
nothing_stored() {
	[ "$(inbox_count)" -eq 0 ] || { echo "inbox holds $(inbox_count) rows" >&2; return 1; }
	[ -z "$(drained nobody)" ]
}

HANDSHAKE="hub.mode=subscribe&hub.verify_token=test-verify-token&hub.challenge"

# ---------------------------------------------------------------- handshake

@test "the handshake with the right verify token answers 200 and exactly the challenge" {
	start_server
	for p in whatsapp instagram messenger; do
		run http GET "/webhooks/$p?$HANDSHAKE=1158201444"
		assert_output 200
		cmp resp <(printf 1158201444)
	done
	run http GET "/webhooks/whatsapp?$HANDSHAKE=ch4llenge-%E2%9C%93"
	assert_output 200
	cmp resp <(printf 'ch4llenge-\xe2\x9c\x93')
}

@test "the handshake with a wrong verify token is refused with 403" {
	start_server
	for token in wrong test-verify-tokenx test-verify-toke TEST-VERIFY-TOKEN ''; do
		run http GET "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=$token&hub.challenge=42"
		assert_output 403
		refute [ "$(cat resp)" = 42 ]
	done
}

@test "the handshake without its parameters or in another mode is refused with 403" {
	start_server
	for q in '' 'hub.mode=subscribe' 'hub.mode=subscribe&hub.challenge=42' \
		'hub.mode=subscribe&hub.verify_token=test-verify-token' \
		'hub.verify_token=test-verify-token&hub.challenge=42' \
		'hub.mode=unsubscribe&hub.verify_token=test-verify-token&hub.challenge=42'; do
		run http GET "/webhooks/instagram?$q"
		assert_output 403
	done
}

@test "without CX_META_VERIFY_TOKEN every handshake is refused" {
	unset CX_META_VERIFY_TOKEN
	start_server
	run http GET "/webhooks/whatsapp?$HANDSHAKE=42"
	assert_output 403
	run http GET "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=&hub.challenge=42"
	assert_output 403
}

# --------------------------------------------------------------- signatures

@test "correlation ids begin with the time in milliseconds, so later deliveries sort later" {
	start_server
	for i in 1 2 3; do
		run post whatsapp "$WA/meta_inbound_text.json"
		assert_output 200
		sleep 0.01
	done
	now_ms=$(date +%s%3N)
	run sql 'SELECT correlation_id FROM inbox ORDER BY id'
	[ "${#lines[@]}" -eq 3 ]
	[ "$(printf '%s\n' "${lines[@]}" | LC_ALL=C sort -c && echo sorted)" = sorted ]
	[ "${lines[0]}" != "${lines[1]}" ] && [ "${lines[1]}" != "${lines[2]}" ]
	ms=$((16#${lines[2]:2:12}))
	[ "$ms" -le "$now_ms" ] && [ "$ms" -gt $((now_ms - 60000)) ]
}


@test "a signed delivery is answered 200 with its correlation id and stored byte for byte" {
	start_server
	run post whatsapp "$WA/meta_inbound_text.json"
	assert_output 200
	jq -e '.ok == true and (.correlation_id | test("^c-[0-9a-f]{32}$"))' resp
	cid=$(jq -r .correlation_id resp)
	[ "$(sql 'SELECT hex(body) FROM inbox')" = "$(xxd -p -u "$WA/meta_inbound_text.json" | tr -d '\n')" ]
	run drained c
	assert_success
	[ "${#lines[@]}" -eq 1 ]
	sig=$("$TESTLIB/sign.sh" "$WA/meta_inbound_text.json")
	echo "$output" | jq -e --arg cid "$cid" --arg sig "$sig" '
		keys_unsorted == ["v","type","inbox_id","provider","correlation_id","received_at","headers","body"]
		and .v == 1 and .type == "webhook.received" and .inbox_id == 1
		and .provider == "whatsapp" and .correlation_id == $cid
		and (.received_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"))
		and .headers["X-Hub-Signature-256"] == $sig
		and .headers["Content-Type"] == "application/json"'
	[ "$(echo "$output" | jq -cS .body)" = "$(jq -cS . "$WA/meta_inbound_text.json")" ]
}

@test "each provider's deliveries are stored under its name" {
	start_server
	for p in whatsapp instagram messenger; do
		run post "$p" "$WA/meta_status_sent.json"
		assert_output 200
	done
	[ "$(sql 'SELECT group_concat(provider) FROM (SELECT provider FROM inbox ORDER BY id)')" = whatsapp,instagram,messenger ]
}

@test "a delivery signed with another secret is refused with 401 and nothing is stored" {
	start_server
	sig=$(OTHER=not-the-secret SIGN_SECRET_VAR=OTHER "$TESTLIB/sign.sh" "$WA/meta_inbound_text.json")
	run http POST /webhooks/whatsapp --data-binary "@$WA/meta_inbound_text.json" -H "X-Hub-Signature-256: $sig"
	assert_output 401
	[ "$(cat resp)" = '{"ok":false,"error":"bad_signature"}' ]
	nothing_stored
}

@test "a delivery without a signature, or with a malformed one, is refused with 401 and nothing is stored" {
	start_server
	good=$("$TESTLIB/sign.sh" "$WA/meta_inbound_text.json")
	hex=${good#sha256=}
	run http POST /webhooks/whatsapp --data-binary "@$WA/meta_inbound_text.json"
	assert_output 401
	for sig in '' 'sha256=' "sha1=${hex:0:40}" "$hex" "sha256=${hex:0:63}" "sha256=${hex}00" \
		"sha256=zz${hex:2}" "sha512=$hex" "sha256= $hex"; do
		run http POST /webhooks/whatsapp --data-binary "@$WA/meta_inbound_text.json" -H "X-Hub-Signature-256: $sig"
		assert_output 401
	done
	nothing_stored
}

@test "a delivery signed with CX_META_APP_SECRET_PREVIOUS is accepted during rotation" {
	export CX_META_APP_SECRET_PREVIOUS=old-app-secret
	start_server
	sig=$(SIGN_SECRET_VAR=CX_META_APP_SECRET_PREVIOUS "$TESTLIB/sign.sh" "$WA/meta_inbound_text.json")
	run http POST /webhooks/whatsapp --data-binary "@$WA/meta_inbound_text.json" -H "X-Hub-Signature-256: $sig"
	assert_output 200
	run post whatsapp "$WA/meta_status_sent.json"
	assert_output 200
	[ "$(inbox_count)" -eq 2 ]
}

@test "a body changed by one byte after signing is refused with 401 and nothing is stored" {
	start_server
	f=$WA/meta_inbound_text.json
	sig=$("$TESTLIB/sign.sh" "$f")
	# one bit of one byte flipped, in the middle of the body
	"$PY" -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[len(b) // 2] ^= 1; sys.stdout.buffer.write(b)' "$f" > changed
	[ "$(stat -c %s changed)" -eq "$(stat -c %s "$f")" ]
	run cmp -s changed "$f"
	assert_failure
	run http POST /webhooks/whatsapp --data-binary @changed -H "X-Hub-Signature-256: $sig"
	assert_output 401
	nothing_stored
}

@test "CX_META_APP_SECRET_FILE is read like CX_META_APP_SECRET" {
	printf '%s\n' "$CX_META_APP_SECRET" > secret
	export CX_META_APP_SECRET_FILE=$PWD/secret
	unset CX_META_APP_SECRET
	start_server
	CX_META_APP_SECRET=test-app-secret run post whatsapp "$WA/meta_inbound_text.json"
	assert_output 200
}

@test "--config supplies the secrets; the environment wins over it" {
	unset CX_META_APP_SECRET CX_META_VERIFY_TOKEN
	printf '%s\n' CX_META_APP_SECRET=test-app-secret CX_META_VERIFY_TOKEN=from-config > cx.conf
	start_server --config cx.conf
	run http GET "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=from-config&hub.challenge=7"
	assert_output 200
	CX_META_APP_SECRET=test-app-secret run post whatsapp "$WA/meta_inbound_text.json"
	assert_output 200
	stop_server
	export CX_META_VERIFY_TOKEN=from-env
	start_server --config cx.conf
	run http GET "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=from-config&hub.challenge=7"
	assert_output 403
	run http GET "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=from-env&hub.challenge=7"
	assert_output 200
}

@test "serve listens on an IPv6 address in brackets" {
	"$PY" -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2> /dev/null ||
		skip "no IPv6 loopback here"
	cx-ingest serve --listen '[::1]:0' 2> server.err 3>&- &
	SERVER_PID=$!
	track "$SERVER_PID"
	wait_for 10 grep -q '"listening on \[::1\]:0"' server.err
	port=$(jq -r 'select(.port) | .port' server.err)
	run curl -sS -g --max-time 10 "http://[::1]:$port/healthz"
	assert_output '{"ok":true}'
}

@test "serve without an app secret exits 78 and does not listen" {
	unset CX_META_APP_SECRET
	run --separate-stderr timeout 10 cx-ingest serve --listen 127.0.0.1:0
	assert_failure 78
	[[ $stderr == *CX_META_APP_SECRET* ]]
	[[ $stderr != *listening* ]]
}

@test "--routes serves only the providers named, and a Google-only host needs no Meta secret" {
	unset CX_META_APP_SECRET CX_META_VERIFY_TOKEN
	start_server --routes google-calendar
	sig=$(CX_META_APP_SECRET=x "$TESTLIB/sign.sh" "$WA/meta_inbound_text.json")
	for p in whatsapp instagram messenger; do
		run http POST "/webhooks/$p" --data-binary "@$WA/meta_inbound_text.json" -H "X-Hub-Signature-256: $sig"
		assert_output 404
		run http GET "/webhooks/$p?hub.mode=subscribe&hub.verify_token=&hub.challenge=1"
		assert_output 404
	done
	run http POST /webhooks/google-calendar -H 'X-Goog-Channel-ID: nope' -H 'X-Goog-Resource-ID: r' \
		-H 'X-Goog-Resource-State: exists' -H 'X-Goog-Message-Number: 1'
	assert_output 401
	nothing_stored
	stop_server
	CX_INGEST_ROUTES=whatsapp,messenger run --separate-stderr timeout 10 cx-ingest serve --listen 127.0.0.1:0
	assert_failure 78
	[[ $stderr == *CX_META_APP_SECRET* ]]
}

@test "CX_INGEST_ROUTES chooses the routes when --routes is not given; --routes wins" {
	CX_INGEST_ROUTES=messenger start_server
	sig=$("$TESTLIB/sign.sh" "$WA/meta_inbound_text.json")
	run post whatsapp "$WA/meta_inbound_text.json"
	assert_output 404
	run http POST /webhooks/messenger --data-binary "@$WA/meta_inbound_text.json" -H "X-Hub-Signature-256: $sig"
	assert_output 200
	stop_server
	CX_INGEST_ROUTES=messenger start_server --routes whatsapp,instagram
	run post whatsapp "$WA/meta_inbound_text.json"
	assert_output 200
	run http POST /webhooks/messenger --data-binary "@$WA/meta_inbound_text.json" -H "X-Hub-Signature-256: $sig"
	assert_output 404
	run sql 'SELECT provider FROM inbox ORDER BY id'
	assert_output $'messenger\nwhatsapp'
}

@test "an unknown route is a usage error in --routes and a configuration error in CX_INGEST_ROUTES" {
	run --separate-stderr timeout 10 cx-ingest serve --listen 127.0.0.1:0 --routes whatsapp,telegram
	assert_failure 64
	[[ $stderr == *"unknown route 'telegram'"* ]]
	CX_INGEST_ROUTES=whatsapp, run --separate-stderr timeout 10 cx-ingest serve --listen 127.0.0.1:0
	assert_failure 78
	[[ $stderr == *"CX_INGEST_ROUTES: unknown route ''"* ]]
}

@test "serve with both CX_META_APP_SECRET and its _FILE exits 78" {
	echo other > secret
	export CX_META_APP_SECRET_FILE=$PWD/secret
	run timeout 10 cx-ingest serve --listen 127.0.0.1:0
	assert_failure 78
}

# ----------------------------------------------------------------- body checks

# json_of_size N: a JSON object of exactly N bytes.
json_of_size() {
	printf '{"pad":"%s"}' "$(head -c $(($1 - 10)) /dev/zero | tr '\0' x)"
}

@test "a body over --max-body sent with a Content-Length is refused with 413 and nothing is stored" {
	start_server --max-body 1000
	json_of_size 1001 > big.json
	run post whatsapp big.json
	assert_output 413
	[ "$(cat resp)" = '{"ok":false,"error":"body_too_large"}' ]
	json_of_size 2000000 > huge.json
	run post whatsapp huge.json
	assert_output 413
	nothing_stored
}

@test "a chunked body over --max-body is refused with 413 and nothing is stored" {
	start_server --max-body 1000
	json_of_size 1001 > big.json
	run post whatsapp big.json -H 'Transfer-Encoding: chunked'
	assert_output 413
	json_of_size 5000000 > huge.json
	run post whatsapp huge.json -H 'Transfer-Encoding: chunked'
	assert_output 413
	nothing_stored
}

@test "a body of exactly --max-body bytes is accepted, chunked or not" {
	start_server --max-body 1000
	json_of_size 1000 > edge.json
	run post whatsapp edge.json
	assert_output 200
	run post whatsapp edge.json -H 'Transfer-Encoding: chunked'
	assert_output 200
	[ "$(inbox_count)" -eq 2 ]
}

@test "the default body limit is 1 MiB" {
	start_server
	json_of_size 1048576 > edge.json
	json_of_size 1048577 > over.json
	run post whatsapp over.json
	assert_output 413
	run post whatsapp edge.json
	assert_output 200
	[ "$(inbox_count)" -eq 1 ]
}

# post_each CODE FILE...: each FILE, correctly signed, is answered CODE
# (with the invalid_json error when CODE is 400).
post_each() {
	local code=$1 f
	shift
	for f in "$@"; do
		run post whatsapp "$f"
		[ "$output" = "$code" ] || { echo "$f: got $output, not $code" >&2; return 1; }
		[ "$code" != 400 ] || [ "$(cat resp)" = '{"ok":false,"error":"invalid_json"}' ]
	done
}

@test "a signed body that is not JSON is refused with 400 and nothing is stored" {
	start_server
	printf 'hello' > a
	printf '{"a":1' > b
	printf '{"a":1}{"b":2}' > c
	printf '{"a":1} trailing' > d
	printf "{'a':1}" > e
	post_each 400 a b c d e
	nothing_stored
}

@test "a signed JSON value that is not an object is refused with 400 and nothing is stored" {
	start_server
	printf '[{"object":"whatsapp_business_account"}]' > array
	printf '"text"' > string
	printf '42' > number
	printf 'null' > null
	printf 'true' > bool
	post_each 400 array string number null bool
	nothing_stored
}

@test "a signed body that is not valid UTF-8 is refused with 400 and nothing is stored" {
	start_server
	printf '{"text":"\xff"}' > byte
	printf '{"text":"\xc0\xaf"}' > overlong
	printf '{"text":"\xed\xa0\x80"}' > surrogate
	printf '{"text":"\xf4\x90\x80\x80"}' > too_high
	printf '{"text":"\xe2\x9c"}' > truncated
	printf '{"text":"ok"}\xe2' > cut_at_end
	printf '\xff\xfe{\x00}\x00' > utf16
	post_each 400 byte overlong surrogate too_high truncated cut_at_end utf16
	nothing_stored
}

@test "a signed body nested 10000 levels deep is refused with 400 and the server stays up" {
	start_server
	"$PY" -c 'print("{\"a\":" * 10000 + "1" + "}" * 10000, end="")' > objects
	"$PY" -c 'print("{\"a\":" + "[" * 10000 + "]" * 10000 + "}", end="")' > arrays
	post_each 400 objects arrays
	run http GET /healthz
	assert_output 200
	nothing_stored
}

@test "a signed empty body is refused with 400 and nothing is stored" {
	start_server
	: > empty
	post_each 400 empty
	nothing_stored
}

@test "a signed body holding a NUL byte is refused, or stored so that drain and replay still work" {
	start_server
	printf '{"text":"a\0b"}' > nul.json
	run post whatsapp nul.json
	if [ "$output" = 200 ]; then
		run cx-ingest drain --consumer c
		assert_success
		echo "$output" | jq -e '.body.text == "a\u0000b"'
		run cx-ingest replay --from 1
		assert_success
		assert_output --partial '"inbox_id":1'
	else
		assert_output 400
		nothing_stored
	fi
}

# strict_json: every line of stdin is standard JSON (RFC 8259): what any
# consumer of drain can read, not only jq.
strict_json() {
	"$PY" -c '
import json, sys
def refuse(c):
    raise ValueError("not JSON: " + c)
for n, line in enumerate(sys.stdin, 1):
    try:
        json.loads(line, parse_constant=refuse)
    except ValueError as e:
        sys.exit("line %d: %s: %r" % (n, e, line[:200]))
'
}

# refused_or_drained_as_json FILE...: each FILE, correctly signed, is
# refused with 400, or stored so that drain prints it as standard JSON.
refused_or_drained_as_json() {
	local f
	for f in "$@"; do
		run post whatsapp "$f"
		echo "$f: $output"
		[[ $output == 200 || $output == 400 ]]
	done
	cx-ingest drain --consumer c > drained
	strict_json < drained
}

@test "a signed body starting with a byte-order mark is refused, or drained as JSON" {
	start_server
	printf '\xef\xbb\xbf{"object":"whatsapp_business_account","entry":[]}' > bom.json
	refused_or_drained_as_json bom.json
	if [ -s drained ]; then
		jq -e '.body.object == "whatsapp_business_account"' drained
	fi
}

@test "a signed body with numbers only jq reads (nan, 01, .5, 1., +1) is refused, or drained as JSON" {
	start_server
	n=0
	for v in nan NaN 01 .5 1. +1 -01; do
		printf '{"v":%s}' "$v" > "num$((++n)).json"
	done
	refused_or_drained_as_json num*.json
}

# ------------------------------------------------------------------- routes

@test "GET /healthz answers 200" {
	start_server
	run http GET /healthz
	assert_output 200
	[ "$(cat resp)" = '{"ok":true}' ]
}

@test "unknown paths and unknown providers answer 404 and store nothing" {
	start_server
	sig=$("$TESTLIB/sign.sh" "$WA/meta_inbound_text.json")
	for path in / /nope /webhooks /webhooks/ /webhooks/telegram /webhooks/WhatsApp \
		/webhooks/whatsapp/extra /webhooks/whatsapp/ /healthz/x /metricsx; do
		run http GET "$path"
		assert_output 404
		run http POST "$path" --data-binary "@$WA/meta_inbound_text.json" -H "X-Hub-Signature-256: $sig"
		assert_output 404
		[ "$(cat resp)" = '{"ok":false,"error":"not_found"}' ]
	done
	nothing_stored
}

@test "other methods on a webhook answer 405 with Allow: GET, POST" {
	start_server
	for m in PUT DELETE PATCH OPTIONS; do
		run http "$m" /webhooks/whatsapp -D headers --data-binary "@$WA/meta_inbound_text.json" \
			-H "X-Hub-Signature-256: $("$TESTLIB/sign.sh" "$WA/meta_inbound_text.json")"
		assert_output 405
		grep -qx $'Allow: GET, POST\r' headers
	done
	[ "$(cat resp)" = '{"ok":false,"error":"method_not_allowed"}' ]
	nothing_stored
}

@test "anything but GET on /healthz and /metrics answers 405 with Allow: GET" {
	start_server
	for path in /healthz /metrics; do
		for m in POST PUT DELETE; do
			run http "$m" "$path" -D headers -d '{}'
			assert_output 405
			grep -qx $'Allow: GET\r' headers
		done
	done
}

# raw REQUEST: sends REQUEST (printf format) on a socket; prints the status
# line, "closed" or "timeout".
raw() {
	# shellcheck disable=SC2059
	printf "$1" | RAW_TIMEOUT=1 "$PY" "$TESTLIB/raw.py" "$PORT"
}

@test "malformed requests get a 4xx or a closed connection and the server keeps serving" {
	start_server
	sig=$(printf '{"a":1}' | "$TESTLIB/sign.sh")
	P='POST /webhooks/whatsapp HTTP/1.1\r\nHost: x\r\n'
	for req in 'GARBAGE\r\n\r\n' '\x00\x01\x02\xff\r\n\r\n' 'GET\r\n\r\n' \
		'GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n' \
		"${P}Content-Length: abc\r\n\r\n{}" \
		"${P}Content-Length: -5\r\n\r\n{}" \
		"${P}Content-Length: 99999999999999999999999\r\n\r\n{}" \
		"${P}X-Hub-Signature-256: $sig\r\nContent-Length: 100\r\n\r\n{\"a\":1}" \
		"${P}X-Hub-Signature-256: $sig\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{\"a\":1}\r\n0\r\n\r\n" \
		"${P}X-Hub-Signature-256: $sig\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{\"a\":1}\r\n" \
		"${P}\r\n" \
		"${P}Content-Length: 0\r\n\r\n"; do
		run raw "$req"
		echo "$req -> $output"
		# a request cut short may also be held open until the connection timeout
		[[ $output =~ ^(HTTP/1\.[01]\ 4[0-9][0-9]|closed|timeout) ]]
		alive "$SERVER_PID"
	done
	run http GET /healthz
	assert_output 200
	nothing_stored
}

# ------------------------------------------------------------------- metrics

# metric TEXT NAME: the lines of metric NAME (samples only), sorted.
metric() {
	grep -E "^$2(\{| )" <<< "$1" | sort
}

@test "/metrics counts requests, signature failures and deliveries exactly" {
	start_server
	printf 'not json' > bad
	post whatsapp "$WA/meta_inbound_text.json" > /dev/null
	post whatsapp "$WA/meta_status_sent.json" > /dev/null
	post messenger "$WA/meta_status_sent.json" > /dev/null
	post whatsapp bad > /dev/null
	http POST /webhooks/whatsapp -d '{}' -H 'X-Hub-Signature-256: sha256=00' > /dev/null
	http POST /webhooks/instagram -d '{}' > /dev/null
	http GET "/webhooks/whatsapp?$HANDSHAKE=1" > /dev/null
	http GET "/webhooks/instagram?hub.mode=subscribe&hub.verify_token=no&hub.challenge=1" > /dev/null
	http PUT /webhooks/whatsapp > /dev/null
	http GET /nope > /dev/null
	http GET /healthz > /dev/null
	run http GET /metrics
	assert_output 200
	m=$(cat resp)
	assert_equal "$(metric "$m" cx_webhook_requests_total)" "$(sort <<- 'EOF'
		cx_webhook_requests_total{provider="whatsapp",status="200"} 3
		cx_webhook_requests_total{provider="messenger",status="200"} 1
		cx_webhook_requests_total{provider="whatsapp",status="400"} 1
		cx_webhook_requests_total{provider="whatsapp",status="401"} 1
		cx_webhook_requests_total{provider="instagram",status="401"} 1
		cx_webhook_requests_total{provider="instagram",status="403"} 1
		cx_webhook_requests_total{provider="whatsapp",status="405"} 1
	EOF
	)"
	assert_equal "$(metric "$m" cx_webhook_signature_failures_total)" "$(sort <<- 'EOF'
		cx_webhook_signature_failures_total{provider="whatsapp"} 1
		cx_webhook_signature_failures_total{provider="instagram"} 1
	EOF
	)"
	assert_equal "$(metric "$m" cx_inbox_deliveries_total)" "$(sort <<- 'EOF'
		cx_inbox_deliveries_total{provider="whatsapp"} 2
		cx_inbox_deliveries_total{provider="messenger"} 1
	EOF
	)"
	assert_equal "$(metric "$m" cx_inbox_depth)" "cx_inbox_depth 3"
	grep -qx '# TYPE cx_webhook_requests_total counter' resp
	grep -qx '# TYPE cx_inbox_depth gauge' resp
}

@test "/metrics serves the latency and body-size histograms" {
	start_server
	post whatsapp "$WA/meta_inbound_text.json" > /dev/null
	post whatsapp "$WA/batch_mixed.body.json" > /dev/null
	http POST /webhooks/whatsapp -d '{}' > /dev/null
	http GET /metrics > /dev/null
	grep -qx '# TYPE cx_webhook_latency_seconds histogram' resp
	grep -qx '# TYPE cx_webhook_body_bytes histogram' resp
	# latency: every webhook request; body size: every stored body
	[ "$(metric "$(cat resp)" cx_webhook_latency_seconds_count)" = "cx_webhook_latency_seconds_count 3" ]
	grep -qx 'cx_webhook_latency_seconds_bucket{le="+Inf"} 3' resp
	size=$(($(stat -c %s "$WA/meta_inbound_text.json") + $(stat -c %s "$WA/batch_mixed.body.json")))
	grep -qx "cx_webhook_body_bytes_sum $size" resp
	grep -qx 'cx_webhook_body_bytes_count 2' resp
	grep -qx 'cx_webhook_body_bytes_bucket{le="+Inf"} 2' resp
	grep -qx 'cx_webhook_body_bytes_bucket{le="256"} 0' resp
	grep -qx 'cx_webhook_body_bytes_bucket{le="4096"} 1' resp
	grep -qx 'cx_webhook_body_bytes_bucket{le="16384"} 2' resp
	# buckets never decrease
	for h in cx_webhook_latency_seconds cx_webhook_body_bytes; do
		grep "^${h}_bucket" resp | awk '{ if ($2 < prev) exit 1; prev = $2 }'
	done
}

@test "histogram bucket bounds are printed exactly" {
	start_server
	http GET /metrics > /dev/null
	run sed -n 's/^cx_webhook_body_bytes_bucket{le="\([^"]*\)"}.*/\1/p' resp
	assert_output "$(printf '%s\n' 256 1024 4096 16384 65536 262144 1048576 +Inf)"
	run sed -n 's/^cx_webhook_latency_seconds_bucket{le="\([^"]*\)"}.*/\1/p' resp
	assert_output "$(printf '%s\n' 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 +Inf)"
}

@test "cx_inbox_depth counts the deliveries the slowest consumer has not acked" {
	store_n 3
	cx-ingest drain --consumer fast | cx-ingest ack --consumer fast > /dev/null
	cx-ingest drain --consumer slow --limit 1 | cx-ingest ack --consumer slow > /dev/null
	start_server
	http GET /metrics > /dev/null
	grep -qx 'cx_inbox_depth 2' resp
}

@test "counters live in the state file: they survive a restart and agree with cx metrics" {
	start_server
	post whatsapp "$WA/meta_inbound_text.json" > /dev/null
	http POST /webhooks/whatsapp -d '{}' > /dev/null
	stop_server
	[ "$exit_code" -eq 0 ]
	run cx metrics
	assert_line 'cx_inbox_deliveries_total{provider="whatsapp"} 1'
	assert_line 'cx_webhook_signature_failures_total{provider="whatsapp"} 1'
	assert_line 'cx_webhook_requests_total{provider="whatsapp",status="200"} 1'
	assert_line 'cx_webhook_requests_total{provider="whatsapp",status="401"} 1'
	start_server
	post whatsapp "$WA/meta_inbound_text.json" > /dev/null
	http GET /metrics > /dev/null
	grep -qx 'cx_inbox_deliveries_total{provider="whatsapp"} 2' resp
	grep -qx 'cx_webhook_requests_total{provider="whatsapp",status="200"} 2' resp
}

# ------------------------------------------------------------------- --stdout

@test "--stdout prints one webhook.received line per stored delivery, as drain does" {
	start_server --stdout
	cids=()
	for f in meta_inbound_text.json meta_status_sent.json pywa_inbound_reaction.json; do
		run post whatsapp "$WA/$f"
		assert_output 200
		cids+=("$(jq -r .correlation_id resp)")
	done
	http POST /webhooks/whatsapp -d '{}' > /dev/null
	# each line is written before its 200
	[ "$(wc -l < server.out)" -eq 3 ]
	[ "$(jq -r .correlation_id server.out | tr '\n' ' ')" = "${cids[*]} " ]
	[ "$(jq -r .inbox_id server.out | tr '\n' ' ')" = "1 2 3 " ]
	diff server.out <(drained c)
}

@test "with stdout closed, --stdout never stops the server from answering 200 and storing" {
	SERVER_STDOUT=closed start_server --stdout
	for _ in 1 2 3; do
		run post whatsapp "$WA/meta_inbound_text.json"
		assert_output 200
	done
	alive "$SERVER_PID"
	[ "$(inbox_count)" -eq 3 ]
	stop_server
	[ "$exit_code" -eq 0 ]
}

@test "with a stdout pipe whose reader is gone, --stdout never stops the server from answering 200 and storing" {
	SERVER_STDOUT=gone start_server --stdout
	sleep 0.2
	for _ in 1 2 3; do
		run post whatsapp "$WA/meta_inbound_text.json"
		assert_output 200
	done
	alive "$SERVER_PID"
	[ "$(inbox_count)" -eq 3 ]
	grep -q 'stdout is closed' server.err
	stop_server
	[ "$exit_code" -eq 0 ]
}

# ------------------------------------------------------- shutdown and crashes

# load_in_background [load.py OPTION...]: starts the load generator against
# $PORT, correlation ids of 200s to ./cids, summary to ./load.out.
load_in_background() {
	: > cids
	"$PY" "$TESTLIB/load.py" --port "$PORT" --out cids --seconds 30 "$@" > load.out 2> load.err 3>&- &
	LOAD_PID=$!
	track "$LOAD_PID"
}

# lines_at_least N FILE
lines_at_least() {
	[ "$(wc -l < "$2")" -ge "$1" ]
}

# every_200_stored: each correlation id in ./cids is in the inbox.
every_200_stored() {
	sql 'SELECT correlation_id FROM inbox' | sort > stored
	sort cids > answered
	run comm -23 answered stored
	assert_output ""
}

@test "SIGTERM under load exits 0 promptly and every delivery answered 200 is stored" {
	# keep-alive clients keep sending while the server drains; several
	# rounds, as the moment the signal lands matters
	: > all_cids
	for round in 1 2 3 4 5 6 7 8; do
		start_server --threads 4
		load_in_background --threads 16 --requests 5000
		wait_for 20 lines_at_least 50 cids
		kill -TERM "$SERVER_PID"
		wait_exit "$SERVER_PID" 10
		echo "round $round: exit $exit_code" >&2
		grep -v '"level":"info"' server.err >&2 || true
		[ "$exit_code" -eq 0 ]
		grep -q '"stopping on signal 15' server.err
		wait_exit "$LOAD_PID" 40
		[ "$(jq .ok load.out)" -eq "$(wc -l < cids)" ]
		cat cids >> all_cids
	done
	mv all_cids cids
	every_200_stored
}

@test "a request half-sent when SIGTERM arrives is still answered 200 and stored" {
	start_server
	"$PY" "$TESTLIB/slow_post.py" "$PORT" "$WA/batch_mixed.body.json" 1.5 > slow.out 3>&- &
	slow=$!
	track "$slow"
	sleep 0.7
	kill -TERM "$SERVER_PID"
	wait_exit "$SERVER_PID" 10
	[ "$exit_code" -eq 0 ]
	wait_exit "$slow" 10
	run cat slow.out
	assert_output --regexp '^200 \{"ok":true,"correlation_id":"c-[0-9a-f]{32}"\}$'
	cid=$(cut -d' ' -f2 slow.out | jq -r .correlation_id)
	[ "$(sql "SELECT count(*) FROM inbox WHERE correlation_id = '$cid'")" -eq 1 ]
}

@test "SIGINT stops the server with exit 0 too" {
	start_server
	stop_server INT
	[ "$exit_code" -eq 0 ]
}

@test "kill -9 under load loses no delivery that was answered 200" {
	: > all_cids
	for round in 1 2 3; do
		start_server --threads 4
		load_in_background --threads 8 --requests 5000
		wait_for 20 lines_at_least 20 cids
		sleep "0.$((RANDOM % 8 + 1))"
		kill -9 "$SERVER_PID"
		# SIGKILL runs no more of its code; a pending fsync may keep the
		# process in the kernel a while on a busy disk
		wait_exit "$SERVER_PID" 60 || true
		wait_exit "$LOAD_PID" 40
		cat cids >> all_cids
	done
	mv all_cids cids
	[ "$(sql 'PRAGMA integrity_check')" = ok ]
	every_200_stored
	[ "$(wc -l < cids)" -ge 60 ]
}

@test "a second server on an address in use exits 69" {
	start_server
	run --separate-stderr timeout 10 cx-ingest serve --listen "127.0.0.1:$PORT"
	assert_failure 69
}

@test "serve without --listen, or with a malformed one, is a usage error" {
	run timeout 10 cx-ingest serve
	assert_failure 64
	for l in 127.0.0.1 :8080 127.0.0.1: nohost.invalid:80 127.0.0.1:http; do
		run timeout 10 cx-ingest serve --listen "$l"
		assert_failure 64
	done
	run timeout 10 cx-ingest serve --listen 127.0.0.1:0 --threads 0
	assert_failure 64
	run timeout 10 cx-ingest serve --listen 127.0.0.1:0 extra
	assert_failure 64
}

# ------------------------------------------------------------- retry storm

# retry_storm: the same signed multi-message WhatsApp batch POSTed 1000 times
# by 8 concurrent clients.
retry_storm() {
	start_server --threads 4
	load_in_background --threads 8 --requests 125 --body "$WA/batch_mixed.body.json"
	wait_exit "$LOAD_PID" 60
	cat load.err >&2
	[ "$(jq .ok load.out)" -eq 1000 ]
}

@test "a retry storm of 1000 identical deliveries stores each, with its own correlation id" {
	retry_storm
	[ "$(inbox_count)" -eq 1000 ]
	[ "$(sort -u cids | wc -l)" -eq 1000 ]
	every_200_stored
	[ "$(sql 'SELECT count(DISTINCT body) FROM inbox')" -eq 1 ]
}

@test "a retry storm through drain | cx-parse | cx-dedupe gives each item once" {
	command -v cx-parse > /dev/null || skip "cx-parse is not built yet"
	retry_storm
	cx-ingest drain --consumer c | cx-parse | cx-dedupe | jq -r 'select(.dedupe_key) | .dedupe_key' > keys
	jq -r .dedupe_key "$WA/batch_mixed.expected.ndjson" | sort > want
	[ "$(wc -l < want)" -gt 1 ]
	sort keys | diff - want
}

# ----------------------------------------------------- crash and re-run

@test "a pipeline killed mid-way and re-run with ack handles every item, none twice" {
	command -v cx-parse > /dev/null || skip "cx-parse is not built yet"
	cases="meta_inbound_text pywa_inbound_reaction batch_mixed.body meta_status_sent batch_mixed.body pywa_status_read"
	for c in $cases; do
		jq -r .dedupe_key "$WA/${c%.body}.expected.ndjson"
	done | sort -u > want
	for k in 1 3 9 20 26; do
		export CX_DB="$BATS_TEST_TMPDIR/k$k.db" CX_NOW=100000
		for c in $cases; do
			cx-ingest store --provider whatsapp < "$WA/$c.json" > /dev/null
		done
		: > handled
		# the handler dies after k lines
		cx-ingest drain --consumer c | cx-parse | cx-dedupe --claim --lease 60 |
			head -n "$k" | tee -a handled | cx-dedupe --commit |
			cx-ingest ack --consumer c > /dev/null
		[ "$(cursor c)" -lt 6 ]
		# the next run, once the leases of the lost lines ran out
		export CX_NOW=100061
		cx-ingest drain --consumer c | cx-parse | cx-dedupe --claim --lease 60 |
			tee -a handled | cx-dedupe --commit | cx-ingest ack --consumer c > /dev/null
		jq -r 'select(.dedupe_key) | .dedupe_key' handled | sort > got
		echo "k=$k: $(wc -l < got) handled, $(wc -l < want) wanted"
		run uniq -d got
		assert_output ""
		diff got want
		[ "$(cursor c)" -eq 6 ]
		[ -z "$(drained c)" ]
	done
}

# ------------------------------------------------------------------- drain

@test "drain prints the deliveries after the cursor in order as webhook.received lines" {
	export CX_NOW=1700000000
	echo '{"n":1}' | cx-ingest store --provider whatsapp > /dev/null
	echo '{"n":2}' | cx-ingest store --provider instagram --header 'User-Agent: test' > /dev/null
	run drained c
	assert_success
	[ "$(echo "$output" | jq -c 'del(.correlation_id)')" = "$(printf '%s\n' \
		'{"v":1,"type":"webhook.received","inbox_id":1,"provider":"whatsapp","received_at":"2023-11-14T22:13:20Z","body":{"n":1}}' \
		'{"v":1,"type":"webhook.received","inbox_id":2,"provider":"instagram","received_at":"2023-11-14T22:13:20Z","headers":{"User-Agent":"test"},"body":{"n":2}}')" ]
	[ "$(echo "$output" | jq -r .correlation_id | tr '\n' ' ')" = "$(sql 'SELECT correlation_id FROM inbox ORDER BY id' | tr '\n' ' ')" ]
}

@test "drain does not move the cursor" {
	store_n 3
	first=$(drained c)
	[ "$(echo "$first" | wc -l)" -eq 3 ]
	[ "$(drained c)" = "$first" ]
	[ "$(cursor c)" -eq 0 ]
}

@test "drain starts after the consumer's cursor" {
	store_n 5
	cx-ingest drain --consumer c --limit 2 | cx-ingest ack --consumer c > /dev/null
	run drained c
	[ "$(echo "$output" | jq -r .inbox_id | tr '\n' ' ')" = "3 4 5 " ]
	run drained other
	[ "${#lines[@]}" -eq 5 ]
}

@test "drain --limit N prints the first N deliveries" {
	store_n 5
	run cx-ingest drain --consumer c --limit 2
	assert_success
	[ "$(echo "$output" | jq -r .inbox_id | tr '\n' ' ')" = "1 2 " ]
	run cx-ingest drain --consumer c -n 10
	[ "${#lines[@]}" -eq 5 ]
	run cx-ingest drain --consumer c --limit 0
	[ "${#lines[@]}" -eq 5 ]
}

@test "drain --follow prints a delivery stored after it started, and stops on SIGTERM with exit 0" {
	store_n 1
	cx-ingest drain --consumer c --follow > out 2> err 3>&- &
	pid=$!
	track "$pid"
	wait_for 5 lines_at_least 1 out
	echo '{"late":true}' | cx-ingest store --provider whatsapp > /dev/null
	wait_for 5 lines_at_least 2 out
	alive "$pid"
	kill -TERM "$pid"
	wait_exit "$pid" 5
	[ "$exit_code" -eq 0 ]
	[ "$(jq -c .body out | tr '\n' ' ')" = '{"n":1} {"late":true} ' ]
}

@test "drain --follow --limit N ends by itself after N deliveries" {
	cx-ingest drain --consumer c --follow --limit 2 > out 3>&- &
	pid=$!
	track "$pid"
	sleep 0.3
	store_n 3
	wait_exit "$pid" 5
	[ "$exit_code" -eq 0 ]
	[ "$(jq -r .inbox_id out | tr '\n' ' ')" = "1 2 " ]
}

@test "drain of an empty inbox prints nothing and exits 0" {
	run --separate-stderr cx-ingest drain --consumer c
	assert_success
	assert_output ""
}

@test "drain without --consumer is a usage error" {
	run cx-ingest drain
	assert_failure 64
	run cx-ingest drain --consumer c extra
	assert_failure 64
}

@test "drain prints a body's numbers as they were received" {
	printf '{"id":12345678901234567891,"small":7}' > big.json
	cx-ingest store --provider whatsapp < big.json > /dev/null
	run drained c
	assert_success
	[[ $output == *'"body":{"id":12345678901234567891,"small":7}'* ]]
}

# ------------------------------------------------------------------ replay

@test "replay shows its progress on a terminal's stderr only, and --no-progress turns it off" {
	store_n 3
	on_terminal cx-ingest replay --from 1
	[ "$(wc -l < tty.out)" -eq 3 ]
	grep -q $'\r\e\\[Kcx-ingest replay: 3 deliveries\r$' tty.err
	on_terminal cx-ingest replay --from 1 --no-progress
	[ "$(wc -l < tty.out)" -eq 3 ]
	[ ! -s tty.err ]
	run --separate-stderr cx-ingest replay --from 1
	[ "${#lines[@]}" -eq 3 ]
	[ -z "$stderr" ]
}

@test "replay prints the deliveries from --from to --to, whatever the cursors say" {
	store_n 5
	cx-ingest drain --consumer c | cx-ingest ack --consumer c > /dev/null
	[ -z "$(drained c)" ]
	run cx-ingest replay --from 2 --to 4
	assert_success
	[ "$(echo "$output" | jq -r .inbox_id | tr '\n' ' ')" = "2 3 4 " ]
	[ "$(echo "$output" | jq -c .body | tr '\n' ' ')" = '{"n":2} {"n":3} {"n":4} ' ]
	run cx-ingest replay --from 4
	[ "$(echo "$output" | jq -r .inbox_id | tr '\n' ' ')" = "4 5 " ]
	run cx-ingest replay --from 0
	[ "${#lines[@]}" -eq 5 ]
	run cx-ingest replay --from 3 --to 3
	[ "$(echo "$output" | jq -r .inbox_id)" = 3 ]
	[ "$(cursor c)" -eq 5 ]
}

@test "replay of an empty range prints nothing and exits 0" {
	store_n 3
	run cx-ingest replay --from 4
	assert_success
	assert_output ""
	run cx-ingest replay --from 3 --to 2
	assert_success
	assert_output ""
}

@test "replay without --from is a usage error" {
	run cx-ingest replay
	assert_failure 64
	run cx-ingest replay --from x
	assert_failure 64
	run cx-ingest replay --from -1
	assert_failure 64
}

# --------------------------------------------------------------------- ack

@test "ack forwards every line in order and consumes the delivery.done markers" {
	store_n 2
	printf '%s\n' '{"type":"message","source":{"inbox_id":1},"n":1}' \
		'{"type":"delivery.done","source":{"inbox_id":1}}' \
		'{"other":true}' \
		'{"type":"message","source":{"inbox_id":2},"n":2}' \
		'{"type":"delivery.done","source":{"inbox_id":2}}' > in
	run cx-ingest ack --consumer c < in
	assert_success
	assert_output "$(printf '%s\n' '{"type":"message","source":{"inbox_id":1},"n":1}' \
		'{"other":true}' '{"type":"message","source":{"inbox_id":2},"n":2}')"
	[ "$(cursor c)" -eq 2 ]
}

@test "ack: a line of delivery N proves N-1 finished, a marker or webhook.received line proves N" {
	store_n 5
	echo '{"type":"message","source":{"inbox_id":1}}' | cx-ingest ack --consumer c > /dev/null
	[ "$(cursor c)" -eq 0 ]
	printf '%s\n' '{"type":"message","source":{"inbox_id":1}}' '{"type":"message","source":{"inbox_id":3}}' |
		cx-ingest ack --consumer c > /dev/null
	[ "$(cursor c)" -eq 2 ]
	echo '{"type":"delivery.done","source":{"inbox_id":3}}' | cx-ingest ack --consumer c > /dev/null
	[ "$(cursor c)" -eq 3 ]
	cx-ingest replay --from 4 --to 4 | cx-ingest ack --consumer c > /dev/null
	[ "$(cursor c)" -eq 4 ]
}

@test "ack moves nothing when the stream starts after the consumer's next delivery" {
	store_n 5
	run --separate-stderr cx-ingest ack --consumer c <<< '{"type":"delivery.done","source":{"inbox_id":3}}'
	assert_success
	[ "$(cursor c)" -eq 0 ]
	echo "$stderr" | jq -e 'select(.level == "warn") | .msg | test("starts at delivery 3")'
	cx-ingest replay --from 2 | cx-ingest ack --consumer c > /dev/null
	[ "$(cursor c)" -eq 0 ]
}

@test "ack starts from any delivery at or before the consumer's next one" {
	store_n 5
	echo '{"type":"delivery.done","source":{"inbox_id":2}}' | cx-ingest ack --consumer c > /dev/null
	[ "$(cursor c)" -eq 0 ]
	cx-ingest replay --from 1 --to 2 | cx-ingest ack --consumer c > /dev/null
	[ "$(cursor c)" -eq 2 ]
	# a stream that starts before the next delivery (a replay) counts too
	cx-ingest replay --from 1 --to 4 | cx-ingest ack --consumer c > /dev/null
	[ "$(cursor c)" -eq 4 ]
}

@test "ack never moves the cursor back, nor past the newest delivery" {
	store_n 3
	cx-ingest drain --consumer c | cx-ingest ack --consumer c > /dev/null
	[ "$(cursor c)" -eq 3 ]
	cx-ingest replay --from 1 --to 1 | cx-ingest ack --consumer c > /dev/null
	[ "$(cursor c)" -eq 3 ]
	printf '%s\n' '{"type":"delivery.done","source":{"inbox_id":1}}' '{"type":"delivery.done","source":{"inbox_id":99}}' |
		cx-ingest ack --consumer d > /dev/null
	[ "$(cursor d)" -eq 3 ]
	store_n 1
	[ "$(drained d | jq -r .inbox_id)" = 4 ]
}

@test "ack ignores lines without a usable inbox id" {
	store_n 2
	printf '%s\n' '{"type":"message"}' '{"source":{"inbox_id":"1"}}' '{"source":{"inbox_id":1.5}}' \
		'{"source":{"inbox_id":-1}}' '{"type":"webhook.received","source":{"inbox_id":1}}' > in
	run cx-ingest ack --consumer c < in
	assert_success
	assert_output "$(cat in)"
	[ "$(cursor c)" -eq 0 ]
}

@test "ack rejects lines that are not JSON objects with exit 65 and still acks the rest" {
	store_n 2
	printf '%s\n' 'not json' '{"type":"delivery.done","source":{"inbox_id":1}}' '[1]' > in
	run --separate-stderr cx-ingest ack --consumer c < in
	assert_failure 65
	assert_output ""
	[ "$(cursor c)" -eq 1 ]
}

@test "drain | ack acknowledges every delivery drained" {
	store_n 4
	run bash -c 'cx-ingest drain --consumer c | cx-ingest ack --consumer c'
	assert_success
	[ "${#lines[@]}" -eq 4 ]
	[ "$(cursor c)" -eq 4 ]
	[ -z "$(drained c)" ]
}

@test "ack without --consumer is a usage error" {
	run cx-ingest ack < /dev/null
	assert_failure 64
}

# ------------------------------------------------------------------- prune

DAY=86400

@test "prune deletes nothing while no consumer exists" {
	CX_NOW=1000000 store_n 3
	run env CX_NOW=$((1000000 + 100 * DAY)) cx-ingest prune --older-than 1
	assert_success
	assert_output '{"deleted":0}'
	[ "$(inbox_count)" -eq 3 ]
}

@test "prune deletes only old deliveries that every consumer has acked" {
	CX_NOW=1000000 store_n 3
	CX_NOW=$((1000000 + 10 * DAY)) store_n 2
	cx-ingest drain --consumer a | cx-ingest ack --consumer a > /dev/null
	cx-ingest drain --consumer b --limit 2 | cx-ingest ack --consumer b > /dev/null
	# 1..3 are old, but b has not acked 3; 4 and 5 are too recent
	run env CX_NOW=$((1000000 + 12 * DAY)) cx-ingest prune --older-than 5
	assert_success
	assert_output '{"deleted":2}'
	[ "$(sql 'SELECT group_concat(id) FROM inbox')" = 3,4,5 ]
	cx-ingest drain --consumer b | cx-ingest ack --consumer b > /dev/null
	run env CX_NOW=$((1000000 + 12 * DAY)) cx-ingest prune --older-than 5
	assert_output '{"deleted":1}'
	# received exactly DAYS ago is not older than DAYS
	run env CX_NOW=$((1000000 + 15 * DAY)) cx-ingest prune --older-than 5
	assert_output '{"deleted":0}'
	run env CX_NOW=$((1000000 + 15 * DAY + 1)) cx-ingest prune --older-than 5
	assert_output '{"deleted":2}'
	[ "$(inbox_count)" -eq 0 ]
}

@test "a consumer that never acked keeps every delivery from prune" {
	CX_NOW=1000000 store_n 2
	cx-ingest drain --consumer a | cx-ingest ack --consumer a > /dev/null
	drained lazy > /dev/null
	run env CX_NOW=$((1000000 + 30 * DAY)) cx-ingest prune --older-than 1
	assert_output '{"deleted":0}'
}

@test "inbox ids are never reused after prune" {
	store_n 3
	cx-ingest drain --consumer a | cx-ingest ack --consumer a > /dev/null
	run env CX_NOW=$(($(date +%s) + 2 * DAY)) cx-ingest prune --older-than 1
	assert_output '{"deleted":3}'
	run cx-ingest store --provider whatsapp <<< '{"n":4}'
	assert_success
	[ "$(echo "$output" | jq .inbox_id)" -eq 4 ]
	[ "$(drained a | jq .inbox_id)" -eq 4 ]
}

@test "prune without --older-than is a usage error" {
	run cx-ingest prune
	assert_failure 64
	run cx-ingest prune --older-than soon
	assert_failure 64
}

# ------------------------------------------------------------------- store

@test "store keeps an unsigned delivery and prints its webhook.received line" {
	export CX_NOW=1700000000
	run --separate-stderr cx-ingest store --provider messenger < "$WA/meta_status_sent.json"
	assert_success
	echo "$output" | jq -e '.v == 1 and .type == "webhook.received" and .inbox_id == 1 and
		.provider == "messenger" and .received_at == "2023-11-14T22:13:20Z" and
		(.correlation_id | test("^c-[0-9a-f]{32}$")) and (has("headers") | not)'
	[ "$(echo "$output" | jq -cS .body)" = "$(jq -cS . "$WA/meta_status_sent.json")" ]
	[ "$(drained c)" = "$output" ]
	[ "$(sql 'SELECT hex(body) FROM inbox')" = "$(xxd -p -u "$WA/meta_status_sent.json" | tr -d '\n')" ]
}

@test "store verifies a signature header and keeps the headers" {
	sig=$("$TESTLIB/sign.sh" "$WA/meta_inbound_text.json")
	run --separate-stderr cx-ingest store --provider whatsapp -H "X-Hub-Signature-256: $sig" \
		--header 'Content-Type: application/json' < "$WA/meta_inbound_text.json"
	assert_success
	echo "$output" | jq -e --arg sig "$sig" '.headers == {"X-Hub-Signature-256": $sig, "Content-Type": "application/json"}'
	[ "$(inbox_count)" -eq 1 ]
}

@test "store accepts a signature made with CX_META_APP_SECRET_PREVIOUS" {
	export CX_META_APP_SECRET_PREVIOUS=old-app-secret
	sig=$(SIGN_SECRET_VAR=CX_META_APP_SECRET_PREVIOUS "$TESTLIB/sign.sh" "$WA/meta_inbound_text.json")
	run cx-ingest store --provider whatsapp -H "X-Hub-Signature-256: $sig" < "$WA/meta_inbound_text.json"
	assert_success
	[ "$(inbox_count)" -eq 1 ]
}

@test "store with a forged signature exits 77 and stores nothing" {
	sig=$(OTHER=forger SIGN_SECRET_VAR=OTHER "$TESTLIB/sign.sh" "$WA/meta_inbound_text.json")
	run --separate-stderr cx-ingest store --provider whatsapp -H "X-Hub-Signature-256: $sig" < "$WA/meta_inbound_text.json"
	assert_failure 77
	assert_output ""
	run cx-ingest store --provider whatsapp -H 'x-hub-signature-256: sha256=00' < "$WA/meta_inbound_text.json"
	assert_failure 77
	# the signature is checked before the body
	run cx-ingest store --provider whatsapp -H "X-Hub-Signature-256: $sig" <<< '[1]'
	assert_failure 77
	nothing_stored
}

@test "store with a signature header but no app secret exits 78 and stores nothing" {
	unset CX_META_APP_SECRET
	sig=$(CX_META_APP_SECRET=x "$TESTLIB/sign.sh" "$WA/meta_inbound_text.json")
	run cx-ingest store --provider whatsapp -H "X-Hub-Signature-256: $sig" < "$WA/meta_inbound_text.json"
	assert_failure 78
	nothing_stored
}

@test "store of a body that is not a UTF-8 JSON object exits 65 and stores nothing" {
	for body in '[1]' 'not json' '' '"s"' $'{"a":"\xff"}' '{"a":1}{"b":2}'; do
		run --separate-stderr cx-ingest store --provider whatsapp < <(printf '%s' "$body")
		assert_failure 65
		assert_output ""
	done
	nothing_stored
}

@test "store without a known provider is a usage error" {
	run cx-ingest store < "$WA/meta_inbound_text.json"
	assert_failure 64
	run cx-ingest store --provider telegram < "$WA/meta_inbound_text.json"
	assert_failure 64
	run cx-ingest store --provider whatsapp --header 'no colon' < "$WA/meta_inbound_text.json"
	assert_failure 64
	nothing_stored
}

# -------------------------------------------------------- command line, man

@test "each command prints its usage with --help and its version with --version" {
	for c in serve drain ack replay store prune; do
		run cx-ingest "$c" --help
		assert_success
		assert_line --index 0 --regexp "^usage: cx-ingest $c "
		run cx-ingest "$c" --version
		assert_success
		assert_output --regexp "^cx-ingest $c [0-9]"
	done
	run cx-ingest --help
	assert_success
	assert_line --index 0 --regexp '^usage: cx-ingest serve '
	assert_line 'commands:'
	run cx-ingest --version
	assert_output --regexp '^cx-ingest [0-9]'
}

@test "no command or an unknown one is a usage error" {
	run cx-ingest
	assert_failure 64
	run cx-ingest frobnicate
	assert_failure 64
	run cx-ingest drain --bogus
	assert_failure 64
}

@test "the man page names every command and option and is clean under mandoc -Tlint" {
	page=$CX_ROOT/man/man1/cx-ingest.1
	run mandoc -Tlint -W warning "$page"
	assert_success
	assert_output ""
	for c in serve drain ack replay store prune; do
		grep -q "^\.Cm $c\$" "$page" || { echo "no .Cm $c" >&2; false; }
		for o in $(cx-ingest "$c" --list-options | cut -f1); do
			grep -q "Fl -${o#--}\\b" "$page" || { echo "$c: $o is not in the page" >&2; false; }
		done
	done
}

@test "the man page's synopsis of each command is its usage text" {
	page=$CX_ROOT/man/man1/cx-ingest.1
	synopsis=$(mandoc -Tascii -Owidth=1000 "$page" 2> /dev/null | col -b |
		sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | tr -s ' \n' ' ')
	for c in serve drain ack replay store prune; do
		usage=$(cx-ingest "$c" --help | head -n 1 | sed 's/^usage: //')
		[[ $synopsis == *"$usage"* ]] || { echo "not in SYNOPSIS: $usage" >&2; false; }
	done
}
