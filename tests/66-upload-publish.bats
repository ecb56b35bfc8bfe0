#!/usr/bin/env bats
# cx-publish, channel upload, and cx-sync deliveries (issue 15): a package
# POSTed to a configured target as multipart/form-data (the file streamed,
# X-Correlation-Id, the target's Bearer key), its protocol id kept as the
# item's provider_ref and the delivery recorded; cx-sync deliveries then
# polls its status until final and emits one delivery.status event per
# status. The target is tests/mock/upload_target.py, which parses the form
# as it streams and answers each poll with the next status of its sequence
# (accepted, processing, delivered).

load helpers

eval "helpers_$(declare -f setup)"

setup_file() {
	mkdir -p "$BATS_FILE_TMPDIR/store"
	mock_start upload upload_target.py --api-key up-key-66 --store "$BATS_FILE_TMPDIR/store" \
		--lifetime 900
	UPLOAD=$(mock_url upload)
	export UPLOAD
}

teardown_file() {
	mock_stop upload
}

setup() {
	helpers_setup
	REC=$BATS_TEST_TMPDIR/rec.jsonl
	touch "$REC"
	control "{\"reset\": true, \"record\": \"$REC\"}"
	target gotranscript
	export CX_NOW=1796600000
	head -c 300000 /dev/urandom > pkg.zip
	SHA=$(sha256sum < pkg.zip | cut -d' ' -f1)
}

# control JSON: programs the mock.
control() {
	curl -sf -X POST -H 'Content-Type: application/json' -d "$1" "$UPLOAD/_control" > /dev/null
}

# target NAME [KEY]: NAME configured on the mock (upload, status, key).
target() {
	local env
	env=$(tr 'a-z.-' 'A-Z__' <<< "$1")
	export "CX_UPLOAD_URL_$env=$UPLOAD/packages" \
		"CX_UPLOAD_STATUS_URL_$env=$UPLOAD/packages/{id}" \
		"CX_UPLOAD_API_KEY_$env=${2:-up-key-66}"
}

# line TARGET [FILE]: a command line sending FILE (default ./pkg.zip) to TARGET.
line() {
	printf '{"channel":"upload","workspace":"acme","target":"%s","file":"%s",%s}\n' "$1" \
		"${2:-$PWD/pkg.zip}" '"fields":{"job":"J-1","note":"Grüße"},"correlation_id":"corr-66"'
}

# requests METHOD: how many requests of METHOD the mock got.
requests() {
	jq -s --arg m "$1" '[.[] | select(.method == $m)] | length' "$REC"
}

@test "a package goes as a multipart form: fields in order, the file whole, Bearer and X-Correlation-Id" {
	run cx-publish < <(line gotranscript)
	assert_success
	run jq -c '[.auth, .token_sha256, .correlation_id, .content_type, .fields, (.files | map(del(.path))), .status]' "$REC"
	assert_output '["bearer","'"$(printf up-key-66 | sha256sum | cut -d' ' -f1)"'","corr-66","multipart/form-data",[["job","J-1"],["note","Grüße"]],[{"content_type":"application/octet-stream","filename":"pkg.zip","name":"file","sha256":"'"$SHA"'","size":300000}],201]'
	cmp pkg.zip "$(jq -r '.files[0].path' "$REC")"
}

@test "the protocol id is the provider_ref, in the result line's data and the delivery kept" {
	run --separate-stderr cx-publish < <(line gotranscript)
	assert_success
	echo "$output" | jq -e --arg sha "$SHA" --arg f "$PWD/pkg.zip" '.type == "post.published" and
		.data.provider_ref == "pkg-000001" and .correlation_id == "corr-66" and
		(.data | {target, protocol_id, sha256, size, file, status}) ==
		{target: "gotranscript", protocol_id: "pkg-000001", sha256: $sha, size: 300000,
		 file: $f, status: "accepted"}'
	run sql "SELECT state, provider_ref FROM publish_commands"
	assert_output 'published|pkg-000001'
	run sql "SELECT target, tenant, file, sha256, size, protocol_id, status, raw_status, final, correlation_id, outbound FROM deliveries"
	assert_output "gotranscript|default|$PWD/pkg.zip|$SHA|300000|pkg-000001|accepted|accepted|0|corr-66|command:1"
	run sql "SELECT delivery_id, status, at FROM delivery_status"
	assert_output "1|accepted|1796600000"
}

@test "the same package to the same target is one delivery: a second line sends nothing" {
	cx-publish < <(line gotranscript) > /dev/null
	run --separate-stderr cx-publish < <(line gotranscript)
	assert_success
	assert_output ''
	assert_equal "$(requests POST)" 1
	run sql "SELECT count(*), min(idempotency_key) FROM publish_commands"
	assert_output "1|upload:gotranscript:$SHA"
}

@test "accepted, processing, delivered: three delivery.status events over three runs, then nothing" {
	cx-publish < <(line gotranscript) > /dev/null
	out=
	for _ in 1 2 3; do
		run --separate-stderr cx-sync deliveries
		assert_success
		assert_equal "${#lines[@]}" 1
		out+=$output$'\n'
	done
	run jq -c '[.type, .dedupe_key, .channel, .tenant, .account, .correlation_id, .occurred_at, .data]' <<< "$out"
	assert_output '["delivery.status","delivery:gotranscript:pkg-000001:status:1","upload","default","gotranscript","corr-66","2026-12-06T23:33:20Z",{"target":"gotranscript","delivery_id":1,"protocol_id":"pkg-000001","status":"accepted","raw_status":"accepted","sha256":"'"$SHA"'"}]
["delivery.status","delivery:gotranscript:pkg-000001:status:2","upload","default","gotranscript","corr-66","2026-12-06T23:33:20Z",{"target":"gotranscript","delivery_id":1,"protocol_id":"pkg-000001","status":"processing","raw_status":"processing","sha256":"'"$SHA"'"}]
["delivery.status","delivery:gotranscript:pkg-000001:status:3","upload","default","gotranscript","corr-66","2026-12-06T23:33:20Z",{"target":"gotranscript","delivery_id":1,"protocol_id":"pkg-000001","status":"delivered","raw_status":"delivered","sha256":"'"$SHA"'"}]'
	assert_equal "$(requests GET)" 3
	run --separate-stderr cx-sync deliveries
	assert_success
	assert_output ''
	assert_equal "$(requests GET)" 3
	run sql "SELECT status, final, polled_at FROM deliveries"
	assert_output 'delivered|1|1796600000'
}

@test "the target's status is lower-cased; raw_status keeps it; CX_UPLOAD_FINAL ends tracking" {
	export CX_UPLOAD_FINAL_GOTRANSCRIPT=Done
	control '{"sequence": ["Queued", "DONE"]}'
	cx-publish < <(line gotranscript) > /dev/null
	run --separate-stderr cx-sync deliveries
	run --separate-stderr cx-sync deliveries
	assert_success
	run jq -c '[.data.status, .data.raw_status]' <<< "$output"
	assert_output '["done","DONE"]'
	run --separate-stderr cx-sync deliveries
	assert_output ''
	assert_equal "$(requests GET)" 2
}

@test "--target polls and emits only that target's deliveries" {
	target alpha
	target beta
	cx-publish < <(line alpha) > /dev/null
	cx-publish < <(line beta) > /dev/null
	run --separate-stderr cx-sync deliveries --target beta
	assert_success
	run jq -c '[.account, .data.protocol_id, .data.status]' <<< "$output"
	assert_output '["beta","pkg-000002","accepted"]'
	run jq -c 'select(.method == "GET") | .path' "$REC"
	assert_output '"/packages/pkg-000002"'
	run --separate-stderr cx-sync deliveries
	assert_success
	run jq -c '[.account, .data.protocol_id, .data.status]' <<< "$output"
	assert_output '["alpha","pkg-000001","accepted"]
["beta","pkg-000002","processing"]'
}

@test "one target failing does not stop another: its events still come, the run exits 1" {
	target alpha
	target beta
	cx-publish < <(line alpha) > /dev/null
	cx-publish < <(line beta) > /dev/null
	target alpha wrong-key
	run --separate-stderr cx-sync deliveries
	assert_failure 1
	run jq -c '[.account, .data.status]' <<< "$output"
	assert_output '["alpha","accepted"]
["beta","accepted"]'
	run --separate-stderr cx-sync deliveries --target alpha
	assert_failure 77
	run --separate-stderr cx-sync deliveries --target beta
	assert_success
	run jq -c '[.account, .data.status]' <<< "$output"
	assert_output '["beta","processing"]'
}

@test "a target without a status URL is not tracked (78); what was recorded is still emitted" {
	cx-publish < <(line gotranscript) > /dev/null
	unset CX_UPLOAD_STATUS_URL_GOTRANSCRIPT
	run --separate-stderr cx-sync deliveries
	assert_failure 78
	run jq -c '[.dedupe_key, .data.status]' <<< "$output"
	assert_output '["delivery:gotranscript:pkg-000001:status:1","accepted"]'
	assert_equal "$(jq -r 'select(.level == "error") | .msg' <<< "$stderr")" \
		'deliveries to gotranscript cannot be tracked: CX_UPLOAD_STATUS_URL_GOTRANSCRIPT is not set'
	assert_equal "$(requests GET)" 0
}

@test "an event standard output did not take is emitted by the next run" {
	cx-publish < <(line gotranscript) > /dev/null
	run bash -c 'cx-sync deliveries > /dev/full'
	assert_failure 75
	run --separate-stderr cx-sync deliveries
	assert_success
	run jq -c '[.dedupe_key, .data.status]' <<< "$output"
	assert_output '["delivery:gotranscript:pkg-000001:status:1","accepted"]
["delivery:gotranscript:pkg-000001:status:2","processing"]'
}

@test "a target without a URL fails NOT_CONFIGURED and nothing is sent" {
	run cx-publish < <(line other)
	assert_failure 1
	assert_line --partial '"error_code":"NOT_CONFIGURED"'
	assert_line --partial 'upload target other is not configured: CX_UPLOAD_URL_OTHER is not set'
	assert_equal "$(requests POST)" 0
	run sql "SELECT state, error_code FROM publish_commands"
	assert_output 'failed|NOT_CONFIGURED'
}

@test "a wrong key fails AUTH_FAILED at once; no delivery is kept" {
	target gotranscript wrong-key
	run cx-publish < <(line gotranscript)
	assert_failure 1
	assert_line --partial '"error_code":"AUTH_FAILED"'
	refute_output --partial wrong-key
	assert_equal "$(requests POST)" 1
	run sql "SELECT state, error_code, attempts FROM publish_commands"
	assert_output 'failed|AUTH_FAILED|1'
	run sql "SELECT count(*) FROM deliveries"
	assert_output 0
}

@test "an answer without a protocol id fails UPSTREAM_INVALID" {
	control '{"script": {"POST /packages": [{"status": 201, "body": {"ok": true}}]}}'
	run cx-publish < <(line gotranscript)
	assert_failure 1
	assert_line --partial '"error_code":"UPSTREAM_INVALID"'
	run sql "SELECT count(*) FROM deliveries"
	assert_output 0
}

@test "CX_UPLOAD_ID_PATH and CX_UPLOAD_STATUS_PATH find the id and status where the target puts them" {
	export CX_UPLOAD_ID_PATH_GOTRANSCRIPT=.data.protocol CX_UPLOAD_STATUS_PATH_GOTRANSCRIPT='.data["state"]'
	control '{"script": {"POST /packages": [{"status": 201, "body": {"data": {"protocol": 42, "state": "Queued"}}}]}}'
	run cx-publish < <(line gotranscript)
	assert_success
	echo "$output" | jq -e '.data.provider_ref == "42" and .data.status == "queued" and .data.raw_status == "Queued"'
	export CX_UPLOAD_ID_PATH_GOTRANSCRIPT='.data | .protocol'
	printf 'PK' > other.zip
	run cx-publish < <(line gotranscript "$PWD/other.zip")
	assert_failure 1
	assert_line --partial 'CX_UPLOAD_ID_PATH_GOTRANSCRIPT must be a jq path of fields and indexes'
}

@test "a line without a target, or with a missing file, is refused (65) and nothing is sent" {
	run cx-publish <<< '{"channel":"upload","workspace":"acme","file":"/nonexistent/p.zip"}'
	assert_failure 65
	assert_line --partial 'target is required'
	run cx-publish < <(line gotranscript /nonexistent/p.zip)
	assert_failure 65
	assert_line --partial 'file /nonexistent/p.zip: No such file or directory'
	assert_equal "$(requests POST)" 0
}

@test "cx-sync deliveries refuses a --target that cannot be a name (64)" {
	run cx-sync deliveries --target 'a b'
	assert_failure 64
	assert_output --partial -- '--target TARGET naming a target'
}

@test "bash completion offers cx-sync deliveries and its --target" {
	run bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_cx; printf "%s\n" "${COMPREPLY[@]}"' _ "$CX_ROOT/completions/cx.bash" cx-sync deli
	assert_output deliveries
	run bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_cx; printf "%s\n" "${COMPREPLY[@]}"' _ "$CX_ROOT/completions/cx.bash" cx-sync deliveries --ta
	assert_output --target
}

@test "a 503 is tried again later and a 429 too; neither is a delivery yet" {
	control '{"script": {"POST /packages": [{"status": 503, "body": {"error": "unavailable"}}]}}'
	run --separate-stderr cx-publish < <(line gotranscript)
	run sql "SELECT state, error_code FROM publish_commands"
	assert_output 'approved|UPSTREAM_ERROR'
	run sql "SELECT count(*) FROM deliveries"
	assert_output 0
	control '{"script": {"POST /packages": [{"status": 429, "body": {"error": "slow down"}}]}}'
	export CX_NOW=1796700000
	run --separate-stderr cx-publish < /dev/null
	run sql "SELECT state, error_code FROM publish_commands"
	assert_output 'approved|RATE_LIMITED'
	export CX_NOW=1796800000
	run --separate-stderr cx-publish < /dev/null
	assert_success
	run sql "SELECT state, provider_ref FROM publish_commands"
	assert_output 'published|pkg-000001'
	assert_equal "$(requests POST)" 3
}

@test "no answer after the package went out is unknown, and it is not sent again" {
	export CX_UPLOAD_TIMEOUT_SECONDS=1
	control '{"script": {"POST /packages": [{"hang_ms": 3000}]}}'
	run --separate-stderr cx-publish < <(line gotranscript)
	run sql "SELECT state, error_code FROM publish_commands"
	assert_output 'unknown|TIMEOUT'
	export CX_NOW=1796700000
	run --separate-stderr cx-publish < /dev/null
	assert_equal "$(requests POST)" 1
}

@test "a 96 MiB package is streamed: cx-publish's peak RSS stays under 80 MiB, less than the file" {
	truncate -s 96M big.zip
	line gotranscript "$PWD/big.zip" > in
	run --separate-stderr "$PY" -c 'import resource, subprocess, sys
rc = subprocess.run(sys.argv[1:], stdin=open("in"), stdout=subprocess.DEVNULL).returncode
print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)' cx-publish
	assert_success
	read -r rc peak_mib <<< "$output"
	assert_equal "$rc" 0
	[ "$peak_mib" -lt 80 ] || fail "peak RSS ${peak_mib} MiB"
	run jq -c '.files[0] | [.size, .sha256]' "$REC"
	assert_output "[100663296,\"$(sha256sum < big.zip | cut -d' ' -f1)\"]"
	rm -f "$(jq -r '.files[0].path' "$REC")"
}

@test "the completions offer the targets configured in the environment for --target" {
	export CX_UPLOAD_URL_ACME_FILES=http://127.0.0.1:9/p
	run bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_cx; printf "%s\n" "${COMPREPLY[@]}"' _ "$CX_ROOT/completions/cx.bash" cx-sync deliveries --target a
	assert_output acme_files
	if command -v fish > /dev/null; then
		run fish -c 'source $argv[1]; complete -C "cx-sync deliveries --target "' "$CX_ROOT/completions/cx.fish"
		assert_equal "$(cut -f1 <<< "$output" | sort)" "$(printf '%s\n' acme_files gotranscript)"
	fi
	if command -v zsh > /dev/null; then
		run zsh -n "$CX_ROOT/completions/_cx"
		assert_success
	fi
}

@test "a poll that finds the same status records and emits nothing" {
	control '{"sequence": ["processing", "processing", "delivered"]}'
	cx-publish < <(line gotranscript) > /dev/null
	run --separate-stderr cx-sync deliveries
	run jq -c .data.status <<< "$output"
	assert_output $'"accepted"\n"processing"'
	run --separate-stderr cx-sync deliveries
	assert_success
	assert_output ''
	run --separate-stderr cx-sync deliveries
	run jq -c .data.status <<< "$output"
	assert_output '"delivered"'
	run sql "SELECT group_concat(status, ' ') FROM delivery_status"
	assert_output 'accepted processing delivered'
}

@test "the protocol id goes percent-encoded into the status URL; a package the target lost is logged (1)" {
	control '{"script": {"POST /packages": [{"status": 201, "body": {"id": "P 9/x", "status": "accepted"}}]}}'
	cx-publish < <(line gotranscript) > /dev/null
	run --separate-stderr cx-sync deliveries
	assert_failure 1
	run jq -c '[.data.protocol_id, .data.status]' <<< "$output"
	assert_output '["P 9/x","accepted"]'
	run jq -c 'select(.method == "GET") | [.path, .status]' "$REC"
	assert_output '["/packages/P%209%2Fx",404]'
	run jq -r 'select(.level == "error") | [.delivery_id, .msg] | @tsv' <<< "$stderr"
	assert_output $'1\tthe status of P 9/x at gotranscript: HTTP 404\n\t1 of the deliveries to gotranscript are not known there'
}

@test "a 503 while polling records nothing and exits 75; the next run takes the change" {
	cx-publish < <(line gotranscript) > /dev/null
	cx-sync deliveries > /dev/null
	control '{"script": {"GET /packages/pkg-000001": [{"status": 503, "body": {"error": "busy"}}]}}'
	run --separate-stderr cx-sync deliveries
	assert_failure 75
	assert_output ''
	run sql "SELECT status FROM deliveries"
	assert_output accepted
	run --separate-stderr cx-sync deliveries
	assert_success
	run jq -c .data.status <<< "$output"
	assert_output '"processing"'
}

@test "two runs at once: the second leaves the target to the first (75) and nothing is emitted twice" {
	cx-publish < <(line gotranscript) > /dev/null
	control '{"latency_ms": 1500}'
	cx-sync deliveries > first.out 2> /dev/null &
	pid=$!
	for _ in $(seq 400); do
		[ "$(sql "SELECT count(*) FROM sync_leases WHERE source = 'deliveries'")" = 1 ] && break
		sleep 0.02
	done
	run --separate-stderr cx-sync deliveries
	assert_failure 75
	assert_output ''
	wait "$pid"
	run jq -c .data.status first.out
	assert_output '"accepted"'
}
