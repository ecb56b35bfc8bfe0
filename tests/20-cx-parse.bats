#!/usr/bin/env bats
# cx-parse: fixtures against their goldens, batches, pass-through, raw
# bodies (--provider), tenants, counters, bad input, broken parsers.

load helpers
load lib/parse

@test "every WhatsApp fixture body gives exactly its golden events, errors and marker" {
	check_fixtures whatsapp
}

@test "every Instagram fixture body gives exactly its golden events, errors and marker" {
	check_fixtures instagram
}

@test "every Messenger fixture body gives exactly its golden events, errors and marker" {
	check_fixtures messenger
}

@test "typing on and off within one 10 s bucket keep distinct keys, so dedupe passes both" {
	jq -c '.entry[0].messaging[1].timestamp = 1749416492000' \
		"$FIXTURES/messenger/synthetic_typing_assumed.body.json" > body.json
	run --separate-stderr sh -c 'cx-parse --provider messenger < body.json | cx-dedupe | jq -r "select(.type == \"typing\") | .data.state + \" \" + .dedupe_key"'
	assert_success
	assert_output $'on dm:messenger:104365582459612:typing:25012345678901234:25012345678901234:on:174941649\noff dm:messenger:104365582459612:typing:25012345678901234:25012345678901234:off:174941649'
}

@test "one WhatsApp POST with twelve messages gives twelve events and one marker" {
	jq '.entry[0].changes[0].value.messages = [range(12) as $i
		| .entry[0].changes[0].value.messages[0] | .id = "wamid.N\($i)"]' \
		"$FIXTURES/whatsapp/meta_inbound_text.json" | webhook whatsapp 7 > in
	run cx-parse < in
	assert_success
	[ "${#lines[@]}" -eq 13 ]
	[ "$(printf '%s\n' "${lines[@]:0:12}" | jq -r .dedupe_key | sort -u | wc -l)" -eq 12 ]
	printf '%s\n' "${lines[@]:0:12}" | jq -e -s 'all(.type == "message" and .source == {inbox_id: 7})'
	assert_line --index 12 '{"v":1,"type":"delivery.done","provider":"whatsapp","correlation_id":"c-fixture","source":{"inbox_id":7},"data":{"events":12,"errors":0}}'
}

@test "lines of other types pass through unchanged and in order between deliveries" {
	{
		echo '{"type":"other", "n" : 1}'
		webhook whatsapp 1 < "$FIXTURES/whatsapp/meta_inbound_text.json"
		echo '{"n":2,"no":"type"}'
		webhook whatsapp 2 < "$FIXTURES/whatsapp/pywa_status_read.json"
		echo '{"type":"delivery.done","source":{"inbox_id":0}}'
	} > in
	run cx-parse < in
	assert_success
	[ "${#lines[@]}" -eq 7 ]
	assert_line --index 0 '{"type":"other", "n" : 1}'
	assert_line --index 1 "$(cat "$FIXTURES/whatsapp/meta_inbound_text.expected.ndjson")"
	assert_line --index 2 --partial '"type":"delivery.done","provider":"whatsapp","correlation_id":"c-fixture","source":{"inbox_id":1}'
	assert_line --index 3 '{"n":2,"no":"type"}'
	assert_line --index 4 --partial '"source":{"inbox_id":2},"data":{"message_id"'
	assert_line --index 5 --partial '"source":{"inbox_id":2},"data":{"events":1,"errors":0}}'
	assert_line --index 6 '{"type":"delivery.done","source":{"inbox_id":0}}'
}

@test "--provider reads a pretty-printed body, with a fresh correlation id and the clock's received_at" {
	export CX_NOW=1800000000
	run cx-parse --provider whatsapp < "$FIXTURES/whatsapp/batch_mixed.body.json"
	assert_success
	[ "${#lines[@]}" -eq 17 ]
	diff <(printf '%s\n' "${lines[@]}" | jq -c 'del(.received_at, .correlation_id, .source)') \
		<(jq -c 'del(.received_at, .correlation_id, .source)' "$FIXTURES/whatsapp/batch_mixed.expected.ndjson")
	printf '%s\n' "${lines[@]}" | jq -e -s 'all(.received_at == "2027-01-15T08:00:00Z" and .source == {})
		and (map(.correlation_id) | unique | length == 1)
		and (.[0].correlation_id | test("^c-[0-9a-f]{32}$"))'
}

@test "--provider reads two concatenated bodies as two deliveries" {
	cat "$FIXTURES/whatsapp/meta_inbound_text.json" "$FIXTURES/whatsapp/pywa_status_sent.json" > in
	run cx-parse --provider whatsapp < in
	assert_success
	[ "${#lines[@]}" -eq 2 ]
	echo "$output" | jq -e -s 'map(.type) == ["message", "message.status"]
		and .[0].correlation_id != .[1].correlation_id'
	run cx-parse --provider whatsapp < <(jq -c . "$FIXTURES/whatsapp/meta_inbound_text.json" \
		"$FIXTURES/whatsapp/pywa_status_sent.json" | tr -d '\n')
	assert_success
	[ "${#lines[@]}" -eq 2 ]
}

@test "an account mapped in the accounts table gets its tenant" {
	webhook whatsapp < "$FIXTURES/whatsapp/meta_inbound_text.json" > in
	run cx-parse < in
	assert_success
	assert_line --index 0 --partial '"tenant":"default","account":"106540352242922"'
	sqlite3 "$CX_DB" "INSERT INTO accounts VALUES ('whatsapp','106540352242922','acme')"
	run cx-parse < in
	assert_success
	assert_line --index 0 --partial '"tenant":"acme","account":"106540352242922"'
	webhook messenger < "$FIXTURES/messenger/batch_mixed.body.json" > in
	run cx-parse < in
	echo "$output" | jq -e -s 'map(select(.tenant)) | all(.tenant == "default")'
}

@test "events and parse errors are counted per channel and type in cx metrics" {
	{
		webhook whatsapp < "$FIXTURES/whatsapp/batch_mixed.body.json"
		webhook whatsapp < "$FIXTURES/whatsapp/batch_unknown_type.body.json"
		webhook messenger < "$FIXTURES/messenger/batch_mixed.body.json"
	} > in
	run cx-parse < in
	assert_failure 65
	run cx metrics
	assert_success
	assert_line 'cx_events_parsed_total{channel="whatsapp",type="message"} 13'
	assert_line 'cx_events_parsed_total{channel="whatsapp",type="message.status"} 4'
	assert_line 'cx_events_parsed_total{channel="whatsapp",type="reaction.added"} 1'
	assert_line 'cx_events_parsed_total{channel="whatsapp",type="reaction.removed"} 1'
	assert_line 'cx_events_parsed_total{channel="messenger",type="lead"} 1'
	assert_line 'cx_parse_errors_total{channel="whatsapp",type="parse_error"} 1'
	assert_line 'cx_parse_errors_total{channel="messenger",type="parse_error"} 2'
}

@test "a parse error names the delivery, path and reason, never payload content" {
	webhook whatsapp 9 < "$FIXTURES/whatsapp/batch_errors.body.json" > in
	run --separate-stderr cx-parse < in
	assert_failure 65
	[ "$(echo "$stderr" | grep -c parse.error)" -eq 6 ]
	echo "$stderr" | head -n 1 | jq -e '.level == "error" and .error_code == "parse_error"
		and .inbox_id == 9 and .provider == "whatsapp" and .correlation_id == "c-fixture"
		and .path == ".entry[0].changes[0]" and .reason == "unknown change field"'
	[[ $stderr != *wamid* && $stderr != *16505551234* ]]
}

@test "a jq runtime error in a mapping is one parse error without the failing value" {
	share_copy
	echo 'error("bad object " + .object)' > share/parsers/whatsapp.jq
	{
		webhook whatsapp 1 < "$FIXTURES/whatsapp/meta_inbound_text.json"
		echo '{"type":"next"}'
	} > in
	run --separate-stderr cx-parse < in
	assert_failure 65
	assert_line --index 0 '{"v":1,"type":"delivery.done","provider":"whatsapp","correlation_id":"c-fixture","source":{"inbox_id":1},"data":{"events":0,"errors":1}}'
	assert_line --index 1 '{"type":"next"}'
	echo "$stderr" | parse_errors | jq -e -s '. == [{error: "mapping failed", path: "."}]'
	[[ $stderr != *whatsapp_business_account* ]]
}

@test "mapping outputs that are not items or errors are parse errors, the rest goes through" {
	share_copy
	cat > share/parsers/whatsapp.jq <<-'EOF'
	1, "text", {type: "message"}, {error: 7, path: "."},
	{type: "message", channel: "whatsapp", account: "1", dedupe_key: "k", ts: null, data: {}}
	EOF
	run --separate-stderr cx-parse < <(webhook whatsapp < "$FIXTURES/whatsapp/meta_inbound_text.json")
	assert_failure 65
	[ "${#lines[@]}" -eq 2 ]
	assert_line --index 0 --partial '"dedupe_key":"k"'
	assert_line --index 1 --partial '"data":{"events":1,"errors":4}}'
	echo "$stderr" | parse_errors | jq -e -s 'map(.error) == ["mapping gave an invalid item",
		"mapping gave an invalid item", "mapping gave an invalid item", "mapping gave an invalid error"]'
}

@test "occurred_at follows the envelope rule for every kind of provider timestamp" {
	share_copy
	cat > share/parsers/whatsapp.jq <<-'EOF'
	.ts[] as $ts | {type: "message", channel: "whatsapp", account: "1",
		dedupe_key: "k:\($ts)", ts: $ts, data: {}}
	EOF
	echo '{"ts":["1749416383",1749416383,1749416383.9,1749416383999,"1749416383999",
		"1.7e9"," 42 ","abc","",null,true,{},-1.5,100000000000,100000000001,
		253402300799000]}' > body
	jq -c -f share/parsers/whatsapp.jq body | jq -c --arg provider whatsapp \
		-f "$FIXTURES/envelope.jq" > want
	run cx-parse < <(webhook whatsapp < body)
	assert_success
	diff want <(echo "$output" | grep -v delivery.done)
	# where jq 1.6 has no RFC 3339 answer (it aborts, or prints year 0): null
	echo '{"ts":[1e300,"nan",-62135596801,253402300800000]}' > body
	run cx-parse < <(webhook whatsapp < body)
	assert_success
	echo "$output" | jq -e -s '.[:4] | map(.occurred_at) == [null, null, null, null]'
}

@test "a webhook.received line for a provider without a parser is one error and its marker" {
	{
		jq -nc '{v: 1, type: "webhook.received", inbox_id: 3, provider: "telegram",
			correlation_id: "c-3", received_at: "2026-11-23T10:00:00Z", body: {}}'
		webhook whatsapp 4 < "$FIXTURES/whatsapp/meta_inbound_text.json"
	} > in
	run --separate-stderr cx-parse < in
	assert_failure 65
	assert_line --index 0 '{"v":1,"type":"delivery.done","provider":"telegram","correlation_id":"c-3","source":{"inbox_id":3},"data":{"events":0,"errors":1}}'
	assert_line --index 1 --partial '"type":"message"'
	assert_line --index 2 --partial '"source":{"inbox_id":4},"data":{"events":1,"errors":0}}'
	echo "$stderr" | jq -e 'select(.msg | startswith("parse.error"))
		| .reason == "no parser for provider" and .provider == "telegram" and .inbox_id == 3'
}

@test "a body that is not an object is a parse error in both modes" {
	jq -nc '{v: 1, type: "webhook.received", inbox_id: 5, provider: "whatsapp",
		correlation_id: "c-5", received_at: "2026-11-23T10:00:00Z", body: [1]}' > in
	run --separate-stderr cx-parse < in
	assert_failure 65
	assert_output '{"v":1,"type":"delivery.done","provider":"whatsapp","correlation_id":"c-5","source":{"inbox_id":5},"data":{"events":0,"errors":1}}'
	echo "$stderr" | parse_errors | jq -e -s '. == [{error: "body is not an object", path: "."}]'
	{ echo '[1,2]'; echo '"text"'; jq -c . "$FIXTURES/whatsapp/meta_inbound_text.json"; } > raw
	run --separate-stderr cx-parse --provider whatsapp < raw
	assert_failure 65
	[ "${#lines[@]}" -eq 1 ]
	assert_output --partial "$(jq -r .dedupe_key "$FIXTURES/whatsapp/meta_inbound_text.expected.ndjson")"
	[ "$(echo "$stderr" | parse_errors | grep -c 'body is not an object')" -eq 2 ]
}

@test "invalid JSON in --provider mode is reported by line and the next body still goes through" {
	{
		jq -c . "$FIXTURES/whatsapp/meta_inbound_text.json"
		echo '{"object": "whatsapp_business_account", "entry": [tru'
		jq -c . "$FIXTURES/whatsapp/pywa_status_sent.json"
		printf '\xff\xfe{}\n'
		echo '{"cut": 1'
		jq -c . "$FIXTURES/whatsapp/pywa_status_read.json"
		printf '{\n  "object": tru,\n  "entry": []\n}\n'
		cat "$FIXTURES/whatsapp/pywa_status_delivered.json"
		echo '{"unfinished": '
	} > raw
	run --separate-stderr cx-parse --provider whatsapp < raw
	assert_failure 65
	echo "$output" | jq -e -s 'map(.data.status // .type)
		== ["message", "sent", "read", "delivered"]'
	echo "$stderr" | jq -e -s 'map(select(.msg | startswith("parse.error")) | [.line, .reason])
		== [[2, "invalid JSON"], [4, "invalid UTF-8"], [6, "invalid JSON"],
		    [8, "invalid JSON"], [60, "invalid JSON"]]'
}

@test "bad NDJSON lines are skipped by number and the rest goes through, exit 65" {
	{
		echo 'not json'
		webhook whatsapp < "$FIXTURES/whatsapp/meta_inbound_text.json"
		echo '[1]'
	} > in
	run --separate-stderr cx-parse < in
	assert_failure 65
	[ "${#lines[@]}" -eq 2 ]
	echo "$stderr" | jq -e -s 'map(.line) == [1, 3]'
}

@test "a value then a string with no separator is invalid JSON, by line number, and the rest goes through" {
	{
		echo '{"type":"before"}'
		no_separator
		webhook whatsapp < "$FIXTURES/whatsapp/meta_inbound_text.json"
	} > in
	run --separate-stderr cx-parse < in
	assert_failure 65
	assert_line --index 0 '{"type":"before"}'
	assert_line --index 1 "$(cat "$FIXTURES/whatsapp/meta_inbound_text.expected.ndjson")"
	[ "${#lines[@]}" -eq 3 ]
	echo "$stderr" | jq -e -s 'map([.line, .error_code]) == [range(2; 12) | [., "invalid_json"]]'
}

@test "--provider: a value then a string with no separator is invalid JSON where the string starts" {
	{
		jq -c . "$FIXTURES/whatsapp/meta_inbound_text.json"
		no_separator
		printf '{"a":\n1\n"b":2}\n'
		jq -c . "$FIXTURES/whatsapp/pywa_status_read.json"
	} > raw
	run --separate-stderr cx-parse --provider whatsapp < raw
	assert_failure 65
	echo "$output" | jq -e -s 'map(.data.status // .type) == ["message", "read"]'
	# line 10 starts with [ right after bad input: skipped unreported
	echo "$stderr" | jq -e -s 'map(select(.msg | startswith("parse.error")) | [.line, .reason])
		== ([range(2; 10), 11, 14] | map([., "invalid JSON"]))'
}

@test "a timestamp string holding a value then a string maps to no time or a malformed item, and nothing leaks" {
	for p in messenger instagram; do
		jq -c '.entry[0].changes[0].value.created_time = "[1 \"a\"]"' \
			"$FIXTURES/$p/meta_page_leadgen_two_changes.json" | webhook "$p" > in
		run --separate-stderr cx-parse < in
		assert_success
		[ "${#lines[@]}" -eq 3 ]
		assert_line --index 0 --partial '"occurred_at":null'
		echo "${lines[0]}" | jq -e '.data | has("created_at") | not'
		echo "${lines[1]}" | jq -e '.data.created_at == "2015-08-21T01:26:24Z"'
	done
	jq -c '.entry[0].messaging[0].timestamp = "[1 \"a\"]"' \
		"$FIXTURES/messenger/synthetic_typing_assumed.body.json" > body.json
	run --separate-stderr cx-parse --provider messenger < body.json
	assert_failure 65
	echo "$stderr" | parse_errors | jq -e -s '. == [{error: "malformed item", path: ".entry[0].messaging[0]"}]'
	echo "$output" | jq -e -s 'map(select(.type == "typing") | .data.state) == ["off"]'
}

@test "a line or a body longer than --max-line is rejected and the rest goes through" {
	{
		webhook whatsapp 1 < "$FIXTURES/whatsapp/batch_mixed.body.json"
		webhook whatsapp 2 < "$FIXTURES/whatsapp/pywa_status_read.json"
	} > in
	run --separate-stderr cx-parse --max-line 3000 < in
	assert_failure 65
	[ "${#lines[@]}" -eq 2 ]
	assert_line --index 1 --partial '"source":{"inbox_id":2}'
	echo "$stderr" | jq -e -s '.[0] | .line == 1 and .error_code == "line_too_long"'
	cat "$FIXTURES/whatsapp/batch_mixed.body.json" "$FIXTURES/whatsapp/pywa_status_read.json" > raw
	run --separate-stderr cx-parse --provider whatsapp --max-line 3000 < raw
	assert_failure 65
	[ "${#lines[@]}" -eq 1 ]
	echo "$stderr" | parse_errors | jq -e -s '. == [{error: "body longer than --max-line", path: "."}]'
}

@test "a parser that does not compile stops the run with exit 78" {
	share_copy
	echo 'this is not jq (' > share/parsers/whatsapp.jq
	{
		echo '{"type":"before"}'
		webhook whatsapp < "$FIXTURES/whatsapp/meta_inbound_text.json"
	} > in
	run --separate-stderr cx-parse < in
	assert_failure 78
	refute_output --partial delivery.done
	[[ $stderr == *"does not compile"* ]]
	run cx-parse --provider whatsapp < "$FIXTURES/whatsapp/meta_inbound_text.json"
	assert_failure 78
	assert_output --partial "does not compile"
}

@test "a parser file is compiled once per run, however many deliveries use it" {
	for i in $(seq 1 300); do
		webhook whatsapp "$i" < "$FIXTURES/whatsapp/pywa_status_read.json"
	done > in
	command -v strace > /dev/null || skip "strace is not installed"
	# LeakSanitizer cannot run under ptrace
	ASAN_OPTIONS=detect_leaks=0 strace -f -e trace=openat,open -o trace cx-parse < in > out
	[ "$(grep -c 'delivery.done' out)" -eq 300 ]
	[ "$(grep -c 'parsers/whatsapp.jq' trace)" -eq 1 ]
}

@test "--provider with a provider that has no parser is a usage error" {
	run cx-parse --provider telegram < /dev/null
	assert_failure 64
	assert_output --partial "no parser for provider 'telegram'"
	run cx-parse --provider ../whatsapp < /dev/null
	assert_failure 64
	run cx-parse extra
	assert_failure 64
	run cx-parse --max-line nope
	assert_failure 64
	run cx-parse --max-line 0
	assert_failure 64
}

@test "a reader that goes away stops it quietly" {
	line=$(webhook whatsapp < "$FIXTURES/whatsapp/pywa_status_read.json")
	yes "$line" | head -n 30000 > in
	run --separate-stderr bash -c 'cx-parse < in | head -n 1'
	assert_success
	assert_output --partial '"type":"message.status"'
	assert_equal "$stderr" ""
}

@test "--help shows the usage and every option; the man page documents every option" {
	run cx-parse --help
	assert_success
	assert_line --index 0 "usage: cx-parse [--provider P] [--db PATH] [--config FILE] [--max-line BYTES]"
	run cx-parse --list-options
	assert_success
	for o in $(cut -f1 <<< "$output"); do
		grep -q -- "Fl -${o#--}" "$CX_ROOT/man/man1/cx-parse.1" || { echo "man page misses $o"; false; }
	done
	run cx-parse --version
	assert_output "cx-parse 0.1.0"
}

@test "the man pages are clean under mandoc -Tlint" {
	command -v mandoc > /dev/null || skip "mandoc is not installed"
	run mandoc -Tlint -W warning "$CX_ROOT/man/man1/cx-parse.1" "$CX_ROOT/man/man5/cx-events.5"
	assert_success
	assert_output ""
}
