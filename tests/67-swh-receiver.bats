#!/usr/bin/env bats
# The Standard Webhooks receiver the trigger tests deliver to
# (tests/peer/swh/receiver.mjs, npm's standardwebhooks installed from its
# lock file by `make check`): it verifies what is signed per the spec (the
# HMAC made here with openssl, checked against the official vector), refuses
# what is not, records every request, and answers as its rules file says.
# cx's own signer meets the same vector in tests/unit/test_stdwebhooks.c.

load helpers

eval "helpers_$(declare -f setup)"

PEER=$CX_ROOT/tests/peer/swh
VEC_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
VEC_ID=msg_p5jXN8AQM9LWM0D4loKWxJek
VEC_TS=1614265330
VEC_BODY='{"test": 2432232314}'
VEC_SIG='v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='
OTHER_SECRET=whsec_c2Vjb25kIHNlY3JldCBmb3Igcm90YXRpb24=

setup_file() {
	[ -f "$PEER/node_modules/standardwebhooks/package.json" ] ||
		{ echo "standardwebhooks is not installed: make check, or npm ci --prefix tests/peer/swh" >&2; return 1; }
}

setup() {
	helpers_setup
	echo "{\"now\":$VEC_TS}" > rules.json
	SWH_SECRETS="$VEC_SECRET $OTHER_SECRET" SWH_RECORD=$PWD/record.jsonl \
		SWH_RULES=$PWD/rules.json node "$PEER/receiver.mjs" > port 2> receiver.err 3>&- &
	echo $! > receiver.pid
	for _ in $(seq 600); do [ -s port ] && break; sleep 0.05; done
	[ -s port ] || { cat receiver.err >&2; return 1; }
	URL=http://127.0.0.1:$(head -n 1 port)/hook
}

teardown() {
	kill "$(cat "$BATS_TEST_TMPDIR/receiver.pid")" 2> /dev/null || true
}

# sign SECRET ID TS BODY: the spec's v1 signature, by openssl: the base64
# HMAC-SHA256 of "ID.TS.BODY" under the bytes of the base64 after whsec_.
sign() {
	local key
	key=$(printf '%s' "${1#whsec_}" | base64 -d | xxd -p | tr -d '\n')
	printf 'v1,%s' "$(printf '%s.%s.%s' "$2" "$3" "$4" |
		openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -binary | base64)"
}

# post ID TS SIGNATURE [BODY]: prints the HTTP status and the Retry-After
# header the receiver answered.
post() {
	curl -s -o /dev/null -D headers -w '%{http_code}' -H "webhook-id: $1" \
		-H "webhook-timestamp: $2" -H "webhook-signature: $3" \
		-H 'content-type: application/json' --data-binary "${4-$VEC_BODY}" "$URL"
	tr -d '\r' < headers | awk -F': ' 'tolower($1) == "retry-after" { printf " %s", $2 }'
}

@test "openssl's signature per the spec is the official vector" {
	run sign "$VEC_SECRET" "$VEC_ID" "$VEC_TS" "$VEC_BODY"
	assert_output "$VEC_SIG"
}

@test "a request signed per the spec is verified by the library, recorded and answered 200" {
	run post "$VEC_ID" "$VEC_TS" "$(sign "$VEC_SECRET" "$VEC_ID" "$VEC_TS" "$VEC_BODY")"
	assert_output 200
	jq -e '.received_ms | type == "number" and . > 1600000000000' record.jsonl
	run jq -c 'del(.received_ms)' record.jsonl
	assert_output "{\"method\":\"POST\",\"path\":\"/hook\",\"webhook_id\":\"$VEC_ID\",\"webhook_timestamp\":\"$VEC_TS\",\"webhook_signature\":\"$VEC_SIG\",\"body\":\"{\\\"test\\\": 2432232314}\",\"verified\":true,\"verified_by\":[1],\"error\":null,\"status\":200}"
}

@test "a wrong signature is answered 401 and recorded as not verified" {
	run post "$VEC_ID" "$VEC_TS" "$(sign "$VEC_SECRET" "$VEC_ID" "$VEC_TS" '{"test": 1}')"
	assert_output 401
	run post "$VEC_ID" "$((VEC_TS + 1))" "$VEC_SIG"
	assert_output 401
	run post msg_other "$VEC_TS" "$VEC_SIG"
	assert_output 401
	run jq -c '[.verified, .verified_by, .error, .status]' record.jsonl
	assert_output - <<-'EOF'
	[false,[],"No matching signature found",401]
	[false,[],"No matching signature found",401]
	[false,[],"No matching signature found",401]
	EOF
}

@test "during a rotation either secret verifies, and both do when both signatures are sent" {
	local other
	other=$(sign "$OTHER_SECRET" "$VEC_ID" "$VEC_TS" "$VEC_BODY")
	run post "$VEC_ID" "$VEC_TS" "$other"
	assert_output 200
	run post "$VEC_ID" "$VEC_TS" "$VEC_SIG $other"
	assert_output 200
	run post "$VEC_ID" "$VEC_TS" "v1a,${VEC_SIG#v1,} v2,x $other"
	assert_output 200
	run jq -c '.verified_by' record.jsonl
	assert_output - <<-'EOF'
	[2]
	[1,2]
	[2]
	EOF
}

@test "a timestamp over 5 minutes from the receiver's clock is refused" {
	echo "{\"now\":$((VEC_TS + 301))}" > rules.json
	run post "$VEC_ID" "$VEC_TS" "$VEC_SIG"
	assert_output 401
	echo "{\"now\":$((VEC_TS + 300))}" > rules.json
	run post "$VEC_ID" "$VEC_TS" "$VEC_SIG"
	assert_output 200
	echo '{}' > rules.json
	run post "$VEC_ID" "$VEC_TS" "$VEC_SIG"
	assert_output 401
	run jq -r '.error' record.jsonl
	assert_output - <<-'EOF'
	Message timestamp too old
	null
	Message timestamp too old
	EOF
}

@test "the rules, re-read on every request, decide the answers" {
	echo "{\"now\":$VEC_TS,\"sequence\":[503,429],\"default\":410,\"retry_after\":\"2\",\"by_webhook_id\":{\"msg_slow\":500}}" > rules.json
	run post "$VEC_ID" "$VEC_TS" "$VEC_SIG"
	assert_output '503 2'
	run post "$VEC_ID" "$VEC_TS" "$VEC_SIG"
	assert_output '429 2'
	run post msg_slow "$VEC_TS" "$(sign "$VEC_SECRET" msg_slow "$VEC_TS" "$VEC_BODY")"
	assert_output 500
	run post "$VEC_ID" "$VEC_TS" "$VEC_SIG"
	assert_output 410
	echo "{\"now\":$VEC_TS,\"default\":204,\"delay_ms\":10}" > rules.json
	run post "$VEC_ID" "$VEC_TS" "$VEC_SIG"
	assert_output 204
	run jq -c '.status' record.jsonl
	assert_output - <<-'EOF'
	503
	429
	500
	410
	204
	EOF
}
