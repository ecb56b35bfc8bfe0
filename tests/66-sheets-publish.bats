#!/usr/bin/env bats
# cx-publish's sheets channel: rows appended to a Google Sheet in batches
# of up to 500 per values.append, each row once (sheet_rows), a timeout
# after the append landed reconciled by values.get without a duplicate, a
# 429 backed off, rows refused before anything is sent, and `cx-publish
# sheets --from-csv` appending only the rows not there yet.
# Upstreams are mocks on 127.0.0.1 that record every request:
# tests/mock/google_sheets.py (Sheets API v4 values) and
# tests/mock/oauth_server.py (Google's token endpoint: the workspace's
# credential comes from cx-oauth).

load helpers

eval "helpers_$(declare -f setup)"

REDIRECT=http://127.0.0.1:8765/callback
T0=1800000000     # CX_NOW of tests that move time

setup_file() {
	mock_start sheets google_sheets.py --sheet book1:Log --sheet "book1:My Log" --lifetime 900
	mock_start oauth oauth_server.py --record /dev/null --redirect "$REDIRECT" --lifetime 900
	SHEETS=$(mock_url sheets) OM=$(mock_url oauth)
	export SHEETS OM
}

teardown_file() {
	mock_stop sheets
	mock_stop oauth
}

setup() {
	helpers_setup
	REC=$BATS_TEST_TMPDIR/sheets.jsonl
	touch "$REC"
	control "$SHEETS" "{\"reset\": true, \"record\": \"$REC\"}"
	control "$OM" '{"reset": true, "expires_in": 100000000}'
	CX_TOKEN_KEY=$(head -c 32 /dev/urandom | base64)
	export CX_TOKEN_KEY CX_HTTP_TIMEOUT_SECONDS=5 CX_SHEETS_API_BASE=$SHEETS
	export CX_GOOGLE_CLIENT_ID=google-client-id.apps.googleusercontent.com \
		CX_GOOGLE_CLIENT_SECRET=google-client-secret CX_GOOGLE_REDIRECT_URI=$REDIRECT \
		CX_GOOGLE_AUTHORIZE_URL=$OM/google/authorize CX_GOOGLE_TOKEN_URL=$OM/google/token
	unset CX_APPROVAL_SHEETS CX_PUBLISH_RATE_SHEETS CX_PUBLISH_RECONCILE_GRACE_SECONDS
	connect_google acme
}

# control URL JSON: programs a mock.
control() {
	curl -sf -X POST -H 'Content-Type: application/json' -d "$2" "$1/_control" > /dev/null
}

# connect_google WORKSPACE: the OAuth flow at the oauth mock (its identity
# endpoints are under its own API base).
connect_google() {
	local url
	url=$(CX_GOOGLE_API_BASE=$OM/google cx-oauth authorize --provider google --workspace "$1")
	CX_GOOGLE_API_BASE=$OM/google cx-oauth callback \
		--url "$(curl -s -o /dev/null -w '%{redirect_url}' "$url")" > /dev/null
}

# lines N [FROM] [RANGE]: N sheets command lines of workspace acme, row keys
# kFROM..., three cells each.
lines() {
	jq -cn --argjson n "$1" --argjson from "${2:-1}" --arg range "${3:-Log!A:C}" \
		'range($from; $from + $n) | {channel: "sheets", workspace: "acme",
		spreadsheet_id: "book1", range: $range, values: ["k\(.)", "row \(.)", .],
		row_key: "k\(.)"}'
}

# sheet [NAME]: the rows of sheet NAME (default Log) of book1, one JSON line each.
sheet() {
	curl -sfG --data-urlencode spreadsheet=book1 --data-urlencode "sheet=${1:-Log}" \
		"$SHEETS/_control/rows" | jq -c '.rows[]'
}

# requests OP [FIELD]: the mock's requests of OP (append or get), FIELD of
# each (default rows).
requests() {
	jq -r "select(.op == \"$1\") | .${2:-rows}" "$REC"
}

@test "1,200 lines go in three appends of 500, 500 and 200 rows; every row lands once, in order" {
	lines 1200 > in.ndjson
	run --separate-stderr cx-publish < in.ndjson
	assert_success
	published=$output
	assert_equal "$(requests append | tr '\n' ' ')" "500 500 200 "
	assert_equal "$(jq -r '.query | "\(.valueInputOption) \(.insertDataOption)"' "$REC" | sort -u)" \
		"RAW INSERT_ROWS"
	assert_equal "$(echo "$output" | jq -r .type | sort | uniq -c | awk '{ print $1, $2 }')" \
		"1200 post.published"
	run sheet
	assert_equal "${#lines[@]}" 1200
	assert_equal "$(sheet | jq -r '.[0]' | uniq | wc -l)" 1200
	assert_line --index 0 '["k1","row 1",1]'
	assert_line --index 1199 '["k1200","row 1200",1200]'
	assert_equal "$(sql "SELECT count(*) FROM sheet_rows WHERE spreadsheet_id = 'book1' AND tenant = 'default'")" 1200
	assert_equal "$(sql "SELECT updated_range FROM sheet_rows WHERE row_key = 'k501'")" "Log!A501:C501"
	assert_equal "$(echo "$published" | jq -r 'select(.data.idempotency_key == "sheets:book1:Log!A:C:k700") | .data.provider_ref')" \
		"Log!A700:C700"
}

@test "a timeout after the append landed: the rows are unknown, reconcile finds them, no row twice" {
	control "$SHEETS" '{"script": {"append": [{"apply": true, "hang_ms": 4000}]}}'
	lines 2 > in.ndjson
	CX_HTTP_TIMEOUT_SECONDS=1 run --separate-stderr cx-publish < in.ndjson
	assert_equal "$(sql "SELECT group_concat(state || ' ' || error_code) FROM publish_commands")" \
		"unknown TIMEOUT,unknown TIMEOUT"
	assert_equal "$(sheet | wc -l)" 2
	run --separate-stderr cx-publish reconcile
	assert_success
	assert_equal "$(echo "$output" | jq -r '"\(.type) \(.data.provider_ref)"' | sort | tr '\n' ' ')" \
		"post.published Log!A1:C1 post.published Log!A2:C2 "
	assert_equal "$(requests get range)" "Log!A:C"
	assert_equal "$(sql "SELECT group_concat(row_key || ' ' || updated_range) FROM sheet_rows")" \
		"k1 Log!A1:C1,k2 Log!A2:C2"
	lines 2 | jq -c '.idempotency_key = "again-\(.row_key)"' > again.ndjson
	run --separate-stderr cx-publish < again.ndjson
	assert_success
	assert_equal "$(echo "$output" | jq -r '"\(.data.provider_ref) \(.data.skipped)"' | tr '\n' ' ')" \
		"Log!A1:C1 true Log!A2:C2 true "
	assert_equal "$(requests append | wc -l)" 1
	run sheet
	assert_output '["k1","row 1",1]
["k2","row 2",2]'
}

@test "429 RESOURCE_EXHAUSTED backs off: the row goes later, once" {
	control "$SHEETS" '{"script": {"append": [{"sheets_error": 429}]}}'
	lines 1 > in.ndjson
	CX_NOW=$T0 run --separate-stderr cx-publish < in.ndjson
	assert_success
	assert_equal "$(sql "SELECT state || ' ' || error_code || ' ' || (next_attempt_at > $T0) FROM publish_commands")" \
		"approved RATE_LIMITED 1"
	assert_equal "$(sheet | wc -l)" 0
	CX_NOW=$((T0 + 3600)) run --separate-stderr cx-publish
	assert_success
	echo "$output" | jq -e '.type == "post.published" and .data.provider_ref == "Log!A1:C1"'
	assert_equal "$(requests append status | tr '\n' ' ')" "429 200 "
	assert_equal "$(sheet | wc -l)" 1
}

@test "a row_key not in its key column is refused, and nothing is sent" {
	lines 1 | jq -c '.values[0] = "other"' > in.ndjson
	lines 1 2 | jq -c '.key_column = 9' >> in.ndjson
	run --separate-stderr cx-publish < in.ndjson
	assert_failure 65
	[[ $stderr == *"row_key must be the row's cell in key_column 1 (values[0])"* ]]
	[[ $stderr == *"key_column must be the number of a cell of values, from 1 to 3"* ]]
	assert_equal "$(sql "SELECT count(*) FROM publish_commands")" 0
	assert_equal "$(wc -l < "$REC")" 0
}

@test "CSV sync appends each row once: run twice, the rows are there once; the gauge counts what waits" {
	printf 'id,name,amount\r\nk1,"Smith, Ann",10\r\nk2,"two\r\nlines",20\r\nk3,"say ""hi""",30\r\n' > log.csv
	run --separate-stderr cx-publish sheets --from-csv log.csv --spreadsheet book1 \
		--range "'My Log'!A:C" --key-column 1 --tenant acme --header
	assert_success
	assert_equal "$(echo "$output" | jq -r .type | sort | uniq -c | awk '{ print $1, $2 }')" "3 post.published"
	run sheet "My Log"
	assert_output '["k1","Smith, Ann","10"]
["k2","two\nlines","20"]
["k3","say \"hi\"","30"]'
	printf 'k4,new,40\n' >> log.csv
	run --separate-stderr cx-publish sheets --from-csv log.csv --spreadsheet book1 \
		--range "'My Log'!A:C" --key-column 1 --tenant acme --header
	assert_success
	echo "$output" | jq -e -s 'length == 1 and .[0].data.provider_ref == "'"'My Log'"'!A4:C4"'
	[[ $stderr == *"1 row to append, 3 appended before, 0 waiting already"* ]]
	assert_equal "$(requests append | tr '\n' ' ')" "3 1 "
	assert_equal "$(sheet "My Log" | wc -l)" 4
	cx metrics | grep -qx 'cx_sheets_pending_rows 0'
}

@test "CSV sync: rows waiting already are not added again, and the gauge counts them" {
	printf 'k1,a\nk2,b\n' > log.csv
	CX_SHEETS_API_BASE=http://127.0.0.1:9 run --separate-stderr cx-publish sheets \
		--from-csv log.csv --spreadsheet book1 --range 'Log!A:B' --key-column 1 --tenant acme
	cx metrics | grep -qx 'cx_sheets_pending_rows 2'
	CX_SHEETS_API_BASE=http://127.0.0.1:9 run --separate-stderr cx-publish sheets \
		--from-csv log.csv --spreadsheet book1 --range 'Log!A:B' --key-column 1 --tenant acme
	[[ $stderr == *"0 rows to append, 0 appended before, 2 waiting already"* ]]
	assert_equal "$(sql "SELECT count(*) FROM publish_commands")" 2
}

@test "CSV sync: a malformed file or a row without its key column adds nothing" {
	printf 'k1,a\nk2,b"c\n' > bad.csv
	run --separate-stderr cx-publish sheets --from-csv bad.csv --spreadsheet book1 --range 'Log!A:B' \
		--key-column 1
	assert_failure 65
	[[ $stderr == *"line 2: a quote inside an unquoted field"* ]]
	[[ $stderr == *"nothing was added"* ]]
	printf 'k1,a\nk2\n' > short.csv
	run --separate-stderr cx-publish sheets --from-csv short.csv --spreadsheet book1 \
		--range 'Log!A:B' --key-column 2
	assert_failure 65
	[[ $stderr == *"line 2: the row has 1 cell, and --key-column 2 names none"* ]]
	printf 'k1,"open\n' > open.csv
	run --separate-stderr cx-publish sheets --from-csv open.csv --spreadsheet book1 --range 'Log!A:B' \
		--key-column 1
	assert_failure 65
	[[ $stderr == *"a quoted field is not closed (it opens on line 1)"* ]]
	run --separate-stderr cx-publish sheets --from-csv missing.csv --spreadsheet book1 \
		--range 'Log!A:B' --key-column 1
	assert_failure 64
	[[ $stderr == *"cannot read missing.csv"* ]]
	run --separate-stderr cx-publish sheets --from-csv open.csv --range 'Log!A:B' --key-column 1
	assert_failure 64
	run --separate-stderr cx-publish sheets --from-csv open.csv --spreadsheet book1 --range 'Log!A:B'
	assert_failure 64
	assert_equal "$(sql "SELECT count(*) FROM publish_commands")" 0
	assert_equal "$(wc -l < "$REC")" 0
}

@test "three refused batches disable sheets for the tenant; a batch that waits keeps every row back, and goes whole after resume" {
	export CX_DELIVERY_REJECTED_DIR=$BATS_TEST_TMPDIR/rejected
	cx-approve operators add "$(id -un)" --role owner 2> /dev/null
	control "$SHEETS" '{"script": {"append": [{"status": 403, "times": 3, "body": {"error":
		{"code": 403, "message": "The caller does not have permission", "status": "PERMISSION_DENIED"}}}]}}'
	for i in 1 2 3; do
		run --separate-stderr cx-publish < <(lines 1 "$i")
		assert_failure 1
	done
	assert_equal "$(sql "SELECT channel || ' ' || error_code FROM tenant_pauses WHERE tenant = 'default'")" \
		"sheets DELIVERY_FAILURES"
	assert_equal "$(ls "$BATS_TEST_TMPDIR/rejected/default")" "sheets-command-3.reason.json"
	: > "$REC"
	# two rows, one batch: neither goes, both wait (none left publishing)
	run --separate-stderr cx-publish < <(lines 2 10)
	assert_success
	assert_equal "$(requests append | wc -l)" 0
	assert_equal "$(sql "SELECT group_concat(state || ' ' || error_code, ', ') FROM publish_commands WHERE id > 3")" \
		"approved TENANT_PAUSED, approved TENANT_PAUSED"
	run cx tenants resume default --channel sheets
	assert_success
	run --separate-stderr cx-publish < /dev/null
	assert_success
	assert_equal "$(requests append | tr '\n' ' ')" "2 "
	assert_equal "$(echo "$output" | jq -r .type | sort | uniq -c | awk '{ print $1, $2 }')" "2 post.published"
}
