#!/usr/bin/env bats
# The three-failures rule of the delivery channels (cx-publish(1)), through
# the upload channel and tests/mock/upload_target.py: three failed packages
# in a row disable the channel for their tenant, the third is set aside in
# the rejected folder with its reason, the fourth is not tried until
# `cx tenants resume`; a published package ends a streak.

load helpers

eval "helpers_$(declare -f setup)"

setup_file() {
	mkdir -p "$BATS_FILE_TMPDIR/store"
	mock_start upload upload_target.py --api-key up-key-66 --store "$BATS_FILE_TMPDIR/store" \
		--lifetime 600
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
	export CX_UPLOAD_URL_GOTRANSCRIPT=$UPLOAD/packages
	export CX_UPLOAD_API_KEY_GOTRANSCRIPT=up-key-66
	export CX_UPLOAD_STATUS_URL_GOTRANSCRIPT="$UPLOAD/packages/{id}"
	export CX_DELIVERY_REJECTED_DIR=$BATS_TEST_TMPDIR/rejected
	for i in 1 2 3 4 5 6; do printf 'package %d\n' "$i" > "pkg$i.zip"; done
	# the running user owns the state file; workspaces acme and other are
	# tenants of their own
	cx-approve operators add "$(id -un)" --role owner 2> /dev/null
	cx-tenants set acme 2> /dev/null
	cx-tenants set other 2> /dev/null
}

control() {
	curl -sf -X POST -H 'Content-Type: application/json' -d "$1" "$UPLOAD/_control" > /dev/null
}

# package N [TENANT]: the command line that uploads pkgN.zip for TENANT (acme).
package() {
	jq -cn --arg f "$PWD/pkg$1.zip" --arg t "${2:-acme}" \
		'{channel: "upload", target: "gotranscript", workspace: $t, file: $f,
		  fields: {title: "package"}}'
}

# posts: how many uploads the mock was sent.
posts() {
	jq -s 'map(select(.method == "POST")) | length' "$REC"
}

@test "three failed packages disable upload for the tenant; the third is set aside with its reason" {
	control '{"script": {"POST /packages": [{"status": 422, "times": 3,
		"body": {"error": "bad_request", "message": "unreadable package"}}]}}'
	{ package 1; package 2; package 3; package 4; } > lines
	run --separate-stderr cx-publish < lines
	assert_failure 1
	run jq -sc 'map(select(.type | startswith("post.")) | .type)' <<< "$output"
	assert_output '["post.failed","post.failed","post.failed"]'
	run posts
	assert_output 3
	assert_file_exists "$BATS_TEST_TMPDIR/rejected/acme/pkg3.zip"
	assert_file_not_exists pkg3.zip
	assert_file_exists pkg1.zip
	assert_file_exists pkg2.zip
	assert_file_exists pkg4.zip
	run cat "$BATS_TEST_TMPDIR/rejected/acme/pkg3.zip"
	assert_output 'package 3'
	run jq -c '[.channel, .tenant, .error_code, .attempts, .item.file, .item.target,
		(.last_error | test("422")), (.at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T"))]' \
		"$BATS_TEST_TMPDIR/rejected/acme/pkg3.zip.reason.json"
	assert_output "[\"upload\",\"acme\",\"VALIDATION_FAILED\",1,\"$PWD/pkg3.zip\",\"gotranscript\",true,true]"
	run sql "SELECT channel, error_code FROM tenant_pauses WHERE tenant = 'acme'"
	assert_output 'upload|DELIVERY_FAILURES'
	run sql "SELECT json_extract(detail, '\$.channel') || ' ' || json_extract(detail, '\$.failures')
		|| ' ' || json_extract(detail, '\$.rejected') FROM audit WHERE action = 'channel_disabled'"
	assert_output "upload 3 $BATS_TEST_TMPDIR/rejected/acme/pkg3.zip.reason.json"
	run sql "SELECT state, error_code FROM publish_commands ORDER BY id"
	assert_output $'failed|VALIDATION_FAILED\nfailed|VALIDATION_FAILED\nfailed|VALIDATION_FAILED\napproved|TENANT_PAUSED'
	run cx tenants show acme
	assert_output --partial 'upload'
	assert_output --partial 'DELIVERY_FAILURES'
	run cx metrics
	assert_line 'cx_channel_disabled{tenant="acme",channel="upload"} 1'
	assert_line 'cx_delivery_total{channel="upload",result="failed"} 3'
}

@test "the fourth package waits while the channel is disabled, and goes once it is resumed" {
	control '{"script": {"POST /packages": [{"status": 422, "times": 3}]}}'
	{ package 1; package 2; package 3; package 4; } > lines
	run cx-publish < lines
	assert_failure 1
	run cx-publish < /dev/null
	run posts
	assert_output 3
	run cx tenants resume acme --channel upload
	assert_success
	run cx-publish < /dev/null
	assert_success
	run jq -c 'select(.type == "post.published") | [.data.target, .data.protocol_id, .data.file]' <<< "$output"
	assert_output "[\"gotranscript\",\"pkg-000001\",\"$PWD/pkg4.zip\"]"
	run posts
	assert_output 4
	run sql "SELECT count(*) FROM tenant_pauses"
	assert_output 0
	run sql "SELECT action FROM audit WHERE action IN ('channel_disabled', 'tenant_resumed') ORDER BY id"
	assert_output $'channel_disabled\ntenant_resumed'
	run cx metrics
	assert_line 'cx_channel_disabled{tenant="acme",channel="upload"} 0'
	assert_line 'cx_delivery_total{channel="upload",result="published"} 1'
	assert_line --regexp '^cx_delivery_latency_seconds_count\{channel="upload"\} 4$'
}

@test "a published package ends the streak; another tenant's failures are its own" {
	control '{"script": {"POST /packages": [{"status": 422, "times": 2}, {"status": 201,
		"body": {"id": "pkg-x", "status": "accepted"}}, {"status": 422, "times": 4}]}}'
	{ package 1; package 2; package 3; package 4; package 5; } > lines
	run cx-publish < lines
	assert_failure 1
	run sql "SELECT count(*) FROM tenant_pauses"
	assert_output 0
	package 6 other | cx-publish || true
	run sql "SELECT tenant || ' ' || failures FROM channel_failures ORDER BY tenant"
	assert_output $'acme 2\nother 1'
	run posts
	assert_output 6
}

@test "a disabled upload holds back no other tenant" {
	control '{"script": {"POST /packages": [{"status": 422, "times": 3}]}}'
	{ package 1; package 2; package 3; } > lines
	run cx-publish < lines
	run sql "SELECT tenant FROM tenant_pauses WHERE channel = 'upload'"
	assert_output acme
	run bash -c "$(declare -f package); package 4 other | cx-publish"
	assert_success
	run posts
	assert_output 4
}
