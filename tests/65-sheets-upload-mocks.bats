#!/usr/bin/env bats
# The delivery mocks cx-publish's sheets and upload channels will send to,
# proved with curl: tests/mock/google_sheets.py (Sheets v4 values.append and
# values.get, as Google answers them) and tests/mock/upload_target.py (a
# package-upload API: a multipart POST, then a status polled until final).

load helpers

eval "helpers_$(declare -f setup)"

SHEETS_APPEND='valueInputOption=RAW&insertDataOption=INSERT_ROWS'

setup_file() {
	mock_start sheets google_sheets.py --sheet book1:Log --sheet "book1:My Log" --lifetime 600
	mkdir -p "$BATS_FILE_TMPDIR/store"
	mock_start upload upload_target.py --api-key up-key-65 --store "$BATS_FILE_TMPDIR/store" \
		--lifetime 600
	SHEETS=$(mock_url sheets) UPLOAD=$(mock_url upload)
	export SHEETS UPLOAD
}

teardown_file() {
	mock_stop sheets
	mock_stop upload
}

setup() {
	helpers_setup
	mock_record "$SHEETS" "$UPLOAD"
}

# control URL JSON: programs a mock.
control() {
	curl -sf -X POST -H 'Content-Type: application/json' -d "$2" "$1/_control" > /dev/null
}

# append RANGE BODY [CURL ARGS...]: values.append on book1 (RANGE as it goes
# in the path) with $TOKEN (default ya29.test-token); the answer in ./b, the status on stdout.
append() {
	local range=$1 body=$2
	shift 2
	curl -s -o b -w '%{http_code}' -H "Authorization: Bearer ${TOKEN:-ya29.test-token}" \
		-H 'Content-Type: application/json' --data-binary "$body" "$@" \
		"$SHEETS/v4/spreadsheets/book1/values/$range:append?$SHEETS_APPEND"
}

# get RANGE [CURL ARGS...]: values.get on book1; the answer in ./b.
get() {
	local range=$1
	shift
	curl -s -o b -w '%{http_code}' -H 'Authorization: Bearer ya29.test-token' "$@" \
		"$SHEETS/v4/spreadsheets/book1/values/$range"
}

# rows N FROM: N rows of six cells, keys kFROM...
rows() {
	jq -cn --argjson n "$1" --argjson from "$2" \
		'[range($from; $from + $n) | ["k\(.)", "name \(.)", ., "2026-12-0\(. % 9 + 1)", "ok", "x"]]'
}

@test "Sheets: appends land in order on the next empty row, with Google's counts" {
	run append 'Log!A:F' "{\"range\":\"Log!A:F\",\"majorDimension\":\"ROWS\",\"values\":$(rows 2 1)}"
	assert_output 200
	run jq -c . b
	assert_output '{"spreadsheetId":"book1","updates":{"spreadsheetId":"book1","updatedRange":"Log!A1:F2","updatedRows":2,"updatedColumns":6,"updatedCells":12}}'
	run append 'Log!A:F' "{\"values\":$(rows 3 3)}"
	assert_output 200
	run jq -c . b
	assert_output '{"spreadsheetId":"book1","tableRange":"Log!A1:F2","updates":{"spreadsheetId":"book1","updatedRange":"Log!A3:F5","updatedRows":3,"updatedColumns":6,"updatedCells":18}}'
	run append 'Log!A:F' '{"values":[["k6","short"]]}'
	run jq -c .tableRange,.updates b
	assert_output $'"Log!A1:F5"\n{"spreadsheetId":"book1","updatedRange":"Log!A6:B6","updatedRows":1,"updatedColumns":2,"updatedCells":2}'
	run jq -c '[.op, .method, .path, .query, .rows, .status, .applied]' "$REC"
	assert_output '["append","POST","/v4/spreadsheets/book1/values/Log!A:F:append",{"insertDataOption":"INSERT_ROWS","valueInputOption":"RAW"},2,200,true]
["append","POST","/v4/spreadsheets/book1/values/Log!A:F:append",{"insertDataOption":"INSERT_ROWS","valueInputOption":"RAW"},3,200,true]
["append","POST","/v4/spreadsheets/book1/values/Log!A:F:append",{"insertDataOption":"INSERT_ROWS","valueInputOption":"RAW"},1,200,true]'
}

@test "Sheets: values.get returns the rows appended, as formatted strings, the range bounded by the grid" {
	append 'Log!A:F' "{\"values\":$(rows 2 1)}"
	append 'Log!A:F' '{"values":[["k3", 1.0, true, 2.5]]}'
	run get 'Log!A:F'
	assert_output 200
	run jq -c . b
	# INSERT_ROWS grew the 1000-row grid by the three rows
	assert_output '{"range":"Log!A1:F1003","majorDimension":"ROWS","values":[["k1","name 1","1","2026-12-02","ok","x"],["k2","name 2","2","2026-12-03","ok","x"],["k3","1","TRUE","2.5"]]}'
	run get 'Log!A2:B' --get -d majorDimension=COLUMNS -d valueRenderOption=UNFORMATTED_VALUE
	run jq -c . b
	assert_output '{"range":"Log!A2:B1003","majorDimension":"COLUMNS","values":[["k2","k3"],["name 2",1]]}'
	run get 'Log!A1:A1'
	run jq -c . b
	assert_output '{"range":"Log!A1","majorDimension":"ROWS","values":[["k1"]]}'
	run jq -c '[.op, .range, .rows, .status]' <(tail -n 1 "$REC")
	assert_output '["get","Log!A1:A1",null,200]'
}

@test "Sheets: a quoted sheet name and a range from a later column" {
	q="'My Log'"
	run append "%27My%20Log%27!C:D" "{\"range\":\"$q!C:D\",\"values\":[[\"a\",\"b\"],[\"c\",\"d\"]]}"
	assert_output 200
	run jq -r .updates.updatedRange b
	assert_output "$q!C1:D2"
	run append "%27My%20Log%27!C:D" '{"values":[["e"]]}'
	run jq -r '.tableRange, .updates.updatedRange' b
	assert_output "$q!C1:D2"$'\n'"$q!C3"
	run get "%27My%20Log%27"
	run jq -c .values b
	assert_output '[["","","a","b"],["","","c","d"],["","","e"]]'
	run get 'Log!A:F'
	run jq -c . b
	assert_output '{"range":"Log!A1:F1000","majorDimension":"ROWS"}'
}

@test "Sheets: no token is 401 CREDENTIALS_MISSING; a token not accepted is 401 too; nothing is written" {
	run curl -s -o b -w '%{http_code}' -d '{"values":[["k1"]]}' \
		"$SHEETS/v4/spreadsheets/book1/values/Log!A:F:append?$SHEETS_APPEND"
	assert_output 401
	run jq -c . b
	assert_output '{"error":{"code":401,"message":"Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.","status":"UNAUTHENTICATED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"CREDENTIALS_MISSING","domain":"googleapis.com","metadata":{"service":"sheets.googleapis.com","method":"google.apps.sheets.v4.SpreadsheetsService.AppendValues"}}]}}'
	control "$SHEETS" '{"tokens": ["ya29.issued"]}'
	run append 'Log!A:F' '{"values":[["k1"]]}'
	assert_output 401
	run jq -r '.error.message[0:50], .error.details[0].reason' b
	assert_output $'Request had invalid authentication credentials. Ex\nACCESS_TOKEN_TYPE_UNSUPPORTED'
	TOKEN=ya29.issued run append 'Log!A:F' '{"values":[["k1"]]}'
	assert_output 200
	run curl -s -o b -w '%{http_code}' "$SHEETS/v4/spreadsheets/book1/values/Log!A1?access_token=ya29.issued"
	assert_output 200
	run jq -c '[.[] | [.status, .applied, .bearer, .query]]' -s "$REC"
	assert_output "[[401,false,null,{\"insertDataOption\":\"INSERT_ROWS\",\"valueInputOption\":\"RAW\"}],[401,false,\"$(printf ya29.test-token | sha256sum | cut -c1-16)\",{\"insertDataOption\":\"INSERT_ROWS\",\"valueInputOption\":\"RAW\"}],[200,true,\"$(printf ya29.issued | sha256sum | cut -c1-16)\",{\"insertDataOption\":\"INSERT_ROWS\",\"valueInputOption\":\"RAW\"}],[200,false,\"$(printf ya29.issued | sha256sum | cut -c1-16)\",{}]]"
}

@test "Sheets: a scripted 429 answers RESOURCE_EXHAUSTED and writes nothing; then 500; then the append lands" {
	control "$SHEETS" '{"script": {"append": [{"sheets_error": 429}, {"sheets_error": 500}]}}'
	run append 'Log!A:F' '{"values":[["k1"]]}'
	assert_output 429
	run jq -c '[.error.code, .error.status, .error.details[0].reason, .error.details[0].metadata.quota_limit, .error.details[0].metadata.quota_limit_value]' b
	assert_output '[429,"RESOURCE_EXHAUSTED","RATE_LIMIT_EXCEEDED","WriteRequestsPerMinutePerUser","60"]'
	[ "$(jq -r .error.message b)" = "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per minute per user' of service 'sheets.googleapis.com' for consumer 'project_number:123456789012'." ]
	run append 'Log!A:F' '{"values":[["k1"]]}'
	assert_output 500
	run jq -c . b
	assert_output '{"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}'
	run append 'Log!A:F' '{"values":[["k1"]]}'
	assert_output 200
	run jq -r .updates.updatedRange b
	assert_output 'Log!A1'
	run jq -c '[.[] | [.status, .applied, .scripted.sheets_error]]' -s "$REC"
	assert_output '[[429,false,429],[500,false,500],[200,true,null]]'
}

@test "Sheets: apply-then-hang writes the rows and answers nothing; values.get then finds them once" {
	append 'Log!A:F' '{"values":[["k1","a"]]}'
	control "$SHEETS" '{"script": {"append": [{"apply": true, "hang_ms": 3000}]}}'
	run append 'Log!A:F' '{"values":[["k2","b"],["k3","c"]]}' -m 1
	assert_output 000
	run get 'Log!A:A'
	run jq -c .values b
	assert_output '[["k1"],["k2"],["k3"]]'
	run curl -s "$SHEETS/_control/rows?spreadsheet=book1&sheet=Log"
	assert_output '{"rows": [["k1", "a"], ["k2", "b"], ["k3", "c"]]}'
	run jq -c '[.[] | [.op, .status, .applied, .rows]]' -s "$REC"
	assert_output '[["append",200,true,1],["append",null,true,2],["get",200,false,null]]'
}

@test "Sheets: the latency knob is taken, per mock and per step, and recorded" {
	control "$SHEETS" '{"latency_ms": 20, "script": {"get": [{"status": 503, "body": {}, "latency_ms": 7}]}}'
	run append 'Log!A:F' '{"values":[["k1"]]}'
	assert_output 200
	run get 'Log!A:F'
	assert_output 503
	run jq -c '[.[] | [.op, .status, .latency_ms]]' -s "$REC"
	assert_output '[["append",200,20],["get",503,7]]'
}

@test "Sheets: an unknown sheet or spreadsheet, a body range not the path's, no valueInputOption are refused as Google does" {
	run append 'Nope!A:F' '{"values":[["k1"]]}'
	assert_output 400
	run jq -c . b
	assert_output '{"error":{"code":400,"message":"Unable to parse range: Nope!A:F","status":"INVALID_ARGUMENT"}}'
	run append 'Log!A1001:F' '{"values":[["k1"]]}'
	assert_output 400
	run jq -r .error.message b
	assert_output 'Range (Log!A1001) exceeds grid limits. Max rows: 1000, max columns: 26'
	run append 'Log!A:F' '{"range":"Log!A:G","values":[["k1"]]}'
	assert_output 400
	run jq -r .error.message b
	assert_output "Request range[Log!A:F] does not match value's range[Log!A:G]"
	run append 'Log!A:F' '{"values":["k1"]}'
	assert_output 400
	run jq -r .error.message b
	assert_output "Invalid value at 'data.values[0]' (type.googleapis.com/google.protobuf.ListValue), \"k1\""
	run curl -s -o b -w '%{http_code}' -H 'Authorization: Bearer t' -d '{"values":[["k1"]]}' \
		"$SHEETS/v4/spreadsheets/book1/values/Log!A:F:append"
	assert_output 400
	run jq -r .error.message b
	assert_output "'valueInputOption' is required but not specified"
	run curl -s -o b -w '%{http_code}' -H 'Authorization: Bearer t' "$SHEETS/v4/spreadsheets/other/values/Log!A:F"
	assert_output 404
	run jq -c . b
	assert_output '{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND"}}'
	run get 'Log!A:F'
	run jq -c .values b
	assert_output null
}

# --- the upload target ------------------------------------------------------

# upload KEY [CURL ARGS...]: POSTs a form to /packages with KEY as the
# Bearer; the answer in ./b, the status on stdout.
upload() {
	local key=$1
	shift
	curl -s -o b -w '%{http_code}' ${key:+-H "Authorization: Bearer $key"} "$@" "$UPLOAD/packages"
}

# poll ID [KEY]: GET /packages/ID; the answer in ./b, the status on stdout.
poll() {
	curl -s -o b -w '%{http_code}' -H "Authorization: Bearer ${2:-up-key-65}" "$UPLOAD/packages/$1"
}

@test "Upload: a multipart package is parsed as it streams: fields, file name, size, SHA-256, headers" {
	head -c 1500000 /dev/urandom > pkg.zip
	run upload up-key-65 -H 'X-Correlation-Id: corr-65' -F job=J-1 -F 'note=Grüße' \
		-F 'file=@pkg.zip;type=application/zip'
	assert_output 201
	run jq -c . b
	assert_output '{"id":"pkg-000001","status":"accepted"}'
	run jq -c '[.auth, .token_sha256, .correlation_id, .content_type, .fields, (.files | map(del(.path))), .id, .status]' "$REC"
	assert_output '["bearer","'"$(printf up-key-65 | sha256sum | cut -d' ' -f1)"'","corr-65","multipart/form-data",[["job","J-1"],["note","Grüße"]],[{"content_type":"application/zip","filename":"pkg.zip","name":"file","sha256":"'"$(sha256sum < pkg.zip | cut -d' ' -f1)"'","size":1500000}],"pkg-000001",201]'
	cmp pkg.zip "$(jq -r '.files[0].path' "$REC")"
}

@test "Upload: a chunked body is parsed too; no file part or no form is a 400" {
	printf 'PK\003\004 small' > small.zip
	run upload up-key-65 -H 'Transfer-Encoding: chunked' -F 'file=@small.zip'
	assert_output 201
	run upload up-key-65 -F job=J-2
	assert_output 400
	run jq -c . b
	assert_output '{"error":"bad_request","message":"The form has no file part."}'
	run upload up-key-65 -d job=J-2
	assert_output 400
	run upload up-key-65 -H 'Content-Type: multipart/form-data; boundary=XX' --data-binary $'--XX\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc'
	assert_output 400
	run jq -r .message b
	assert_output 'Malformed multipart body: the body ended before the closing boundary.'
	run jq -c '[.[] | [.status, .id, (.files // [] | map(.size))]]' -s "$REC"
	assert_output '[[201,"pkg-000001",[10]],[400,null,[]],[400,null,[]],[400,null,[]]]'
}

@test "Upload: the status follows its sequence, one step per poll; a package can be scripted to end rejected" {
	upload up-key-65 -F 'file=@/dev/null;filename=a.zip' > /dev/null
	upload up-key-65 -F 'file=@/dev/null;filename=b.zip' > /dev/null
	control "$UPLOAD" '{"package": "pkg-000002", "sequence": ["processing", "rejected"]}'
	out=
	for _ in 1 2 3 4; do
		poll pkg-000001 > /dev/null
		out+="$(jq -r .status b) "
		poll pkg-000002 > /dev/null
		out+="$(jq -r .status b) "
	done
	[ "$out" = "accepted processing processing rejected delivered rejected delivered rejected " ]
	run poll pkg-000003
	assert_output 404
	run jq -c . b
	assert_output '{"error":"not_found","message":"No package pkg-000003."}'
}

@test "Upload: a wrong key or none is 401 and keeps nothing; a scripted 503 keeps nothing either" {
	run upload wrong-key -F 'file=@/dev/null;filename=a.zip'
	assert_output 401
	run jq -c . b
	assert_output '{"error":"unauthorized","message":"A valid API key is required (Authorization: Bearer)."}'
	run upload "" -F 'file=@/dev/null;filename=a.zip'
	assert_output 401
	head -c 2048 /dev/zero > big.zip
	control "$UPLOAD" '{"max_bytes": 1024}'
	run upload wrong-key -F 'file=@big.zip'
	assert_output 401
	run upload up-key-65 -F 'file=@big.zip'
	assert_output 413
	control "$UPLOAD" '{"max_bytes": 4294967296}'
	run poll pkg-000001 wrong-key
	assert_output 401
	control "$UPLOAD" '{"script": {"POST /packages": [{"status": 503, "body": {"error": "unavailable"}}]}}'
	run upload up-key-65 -F 'file=@/dev/null;filename=a.zip'
	assert_output 503
	run upload up-key-65 -F 'file=@/dev/null;filename=a.zip'
	assert_output 201
	run jq -r .id b
	assert_output pkg-000001
	run jq -c '[.[] | [.method, .status, .id, (.files | length)]]' -s "$REC"
	assert_output '[["POST",401,null,0],["POST",401,null,0],["POST",401,null,0],["POST",413,null,0],["GET",401,null,0],["POST",503,null,1],["POST",201,"pkg-000001",1]]'
}

@test "Upload: a hang keeps the package and answers nothing; its status is then polled" {
	control "$UPLOAD" '{"script": {"POST /packages": [{"hang_ms": 3000}]}}'
	printf 'PK\003\004' > a.zip
	run upload up-key-65 -F 'file=@a.zip' -m 1
	assert_output 000
	run poll pkg-000001
	assert_output 200
	run jq -c . b
	assert_output '{"id":"pkg-000001","status":"accepted"}'
	run jq -c '[.[] | [.method, .status, .id]]' -s "$REC"
	assert_output '[["POST",null,"pkg-000001"],["GET",200,"pkg-000001"]]'
}
