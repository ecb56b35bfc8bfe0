#!/usr/bin/env bats
# cx integrations: API keys shown once and kept only as SHA-256, rotation
# with a grace, revoke, scopes, trigger subscriptions with signing secrets
# sealed under CX_TOKEN_KEY, the audit rows and counters of every change,
# and who may make them (owners and admins). Authentication with the keys
# is tested from C (tests/unit/test_integrations.c).

load helpers

ME=$(id -un)
NOW=1796558400    # 2026-12-06T12:00:00Z

setup() {
	export PATH="${CX_BIN:-$CX_ROOT/bin}:$PATH"
	cd "$BATS_TEST_TMPDIR" || return 1
	export CX_DB="$BATS_TEST_TMPDIR/cx.db"
	export CX_LOG=json
	export CX_NOW=$NOW
	CX_TOKEN_KEY=$(head -c 32 /dev/urandom | base64)
	export CX_TOKEN_KEY
	unset CX_CONFIG XDG_STATE_HOME CX_TOKEN_KEY_FILE CX_TOKEN_KEY_PREVIOUS
}

# create [SCOPES]: an integration of acme; sets ID and KEY.
create() {
	local out

	out=$(cx integrations create --tenant acme --kind zapier --name "Leads Zap" \
		--scopes "${1:-action:create_lead trigger:message}" 2> /dev/null) || return 1
	ID=$(jq -r .integration_id <<< "$out")
	KEY=$(jq -r .api_key <<< "$out")
}

# subscribe: a subscription of ID to message events; sets SUB and SECRET.
subscribe() {
	local out

	out=$(cx integrations subscribe "$ID" --event message \
		--url "https://hooks.example/catch/1/abc?token=t0k" 2> /dev/null) || return 1
	SUB=$(jq -r .subscription_id <<< "$out")
	SECRET=$(jq -r .secret <<< "$out")
}

# keys_active [NOW]: how many keys of ID work at NOW (default CX_NOW).
keys_active() {
	CX_NOW=${1:-$CX_NOW} cx integrations list --json | jq -r --arg id "$ID" \
		'select(.integration_id == $id) | .keys_active'
}

# audit_rows ACTION: the audit rows of ACTION as {actor, subject, detail}.
audit_rows() {
	cx audit --json | jq -c --arg a "$1" 'select(.action == $a) | {actor, subject, detail}'
}

# as_role ROLE: the running user gets ROLE; alice is the owner.
as_role() {
	cx-approve operators add "$ME" --role owner 2> /dev/null
	cx-approve operators add alice --role owner 2> /dev/null
	cx-approve operators add "$ME" --role "$1" 2> /dev/null
}

# stored TEXT: whether TEXT occurs in the state file or its WAL.
stored() {
	cat "$CX_DB" "$CX_DB-wal" 2> /dev/null | grep -qaF -- "$1"
}

@test "create prints one line: the integration id and its API key" {
	run --separate-stderr cx integrations create --tenant acme --kind zapier \
		--name "Leads Zap" --scopes "action:create_lead trigger:message"
	assert_success
	[ "${#lines[@]}" -eq 1 ]
	[[ $output =~ ^\{\"integration_id\":\"int_[0-9a-f]{16}\",\"api_key\":\"cxk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}\"\}$ ]]
}

@test "the state file keeps the key's SHA-256, never the key, nor a subscription's secret" {
	create
	subscribe
	! stored "$KEY"
	! stored "${KEY#cxk_*_}"
	! stored "$SECRET"
	! stored "${SECRET#whsec_}"
	run sql "SELECT lower(hex(key_sha256)) FROM integration_keys"
	assert_output "$(printf '%s' "$KEY" | sha256sum | cut -d' ' -f1)"
	run sql "SELECT key_id FROM integration_keys"
	assert_output "$(cut -d_ -f2 <<< "$KEY")"
}

@test "list shows the integration without its key" {
	create
	run --separate-stderr cx integrations list --json
	assert_success
	assert_output "{\"integration_id\":\"$ID\",\"tenant\":\"acme\",\"kind\":\"zapier\",\"name\":\"Leads Zap\",\"scopes\":[\"action:create_lead\",\"trigger:message\"],\"state\":\"active\",\"state_reason\":null,\"created_at\":\"2026-12-06T12:00:00Z\",\"last_used_at\":null,\"key_created_at\":\"2026-12-06T12:00:00Z\",\"key_age_seconds\":0,\"keys_active\":1}"
	[[ $output != *cxk_* ]]
	CX_NOW=$((NOW + 3 * 86400)) run cx integrations list --json --tenant acme
	assert_output --partial '"key_age_seconds":259200,"keys_active":1}'
	run cx integrations list --json --tenant beta
	assert_output ""
}

@test "list for people has a header and a line with the key's age in days" {
	create
	CX_NOW=$((NOW + 2 * 86400 + 5)) run cx integrations list --table
	assert_success
	assert_line --index 0 --regexp '^ID +TENANT +KIND +STATE +CREATED +LAST USED +KEY +NAME$'
	assert_line --index 1 --regexp "^$ID acme +zapier +active +2026-12-06T12:00:00Z - +2d +Leads Zap$"
}

@test "rotate prints a new key; the old one works until the grace ends" {
	create
	run --separate-stderr cx integrations rotate "$ID" --grace 3600
	assert_success
	[ "${#lines[@]}" -eq 1 ]
	[[ $output =~ ^\{\"integration_id\":\"$ID\",\"api_key\":\"cxk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}\",\"previous_key_expires_at\":\"2026-12-06T13:00:00Z\"\}$ ]]
	new=$(jq -r .api_key <<< "$output")
	[ "$new" != "$KEY" ]
	! stored "$new"
	[ "$(keys_active)" = 2 ]
	[ "$(keys_active $((NOW + 3599)))" = 2 ]
	[ "$(keys_active $((NOW + 3600)))" = 1 ]
}

@test "rotate keeps the previous key a day by default" {
	create
	run --separate-stderr cx integrations rotate "$ID"
	assert_success
	assert_output --partial '"previous_key_expires_at":"2026-12-07T12:00:00Z"}'
	[ "$(keys_active $((NOW + 86399)))" = 2 ]
	[ "$(keys_active $((NOW + 86400)))" = 1 ]
}

@test "rotate --grace 0 ends the previous key at once; a bad grace is a usage error" {
	create
	cx integrations rotate "$ID" --grace 0 > /dev/null 2>&1
	[ "$(keys_active)" = 1 ]
	run --separate-stderr cx integrations rotate "$ID" --grace -5
	assert_failure 64
	assert_output ""
	[[ $stderr == *"--grace wants an integer from 0 to 31622400, not '-5'"* ]]
	run sql "SELECT count(*) FROM integration_keys"
	assert_output 2
}

@test "revoke stops every key at once and disables the subscriptions" {
	create
	subscribe
	cx integrations rotate "$ID" --grace 3600 > /dev/null 2>&1
	run --separate-stderr cx integrations revoke "$ID"
	assert_success
	assert_output ""
	[ "$(keys_active)" = 0 ]
	run cx integrations list --json
	assert_output --partial '"state":"revoked","state_reason":"revoked",'
	run cx integrations subscriptions --json
	assert_output --partial '"state":"disabled","state_reason":"integration revoked",'
	run --separate-stderr cx integrations rotate "$ID"
	assert_failure 1
	assert_output ""
	[[ $stderr == *"integration $ID is revoked; create a new one"* ]]
	run --separate-stderr cx integrations enable "$ID"
	assert_failure 64
	[[ $stderr == *"integration $ID is revoked for good; create a new one"* ]]
}

@test "enable makes an integration cx disabled active again, audited" {
	create
	# what cx-ingest serve writes after too many refused calls
	sqlite3 -batch "$CX_DB" "UPDATE integrations SET state = 'disabled',
		state_reason = '20 refused calls in a row within 300 s' WHERE id = '$ID'"
	run --separate-stderr cx integrations enable "$ID"
	assert_success
	run cx integrations list --json
	assert_output --partial '"state":"active","state_reason":null,'
	run audit_rows integration_enabled
	assert_output "{\"actor\":\"$ME\",\"subject\":\"$ID\",\"detail\":{\"integration_id\":\"$ID\",\"tenant\":\"acme\"}}"
}

@test "scopes that are not action:<catalogue name> or trigger:<event type> are refused, nothing created" {
	run --separate-stderr cx integrations create --tenant acme --kind make --name M --scopes "action:drop_tables"
	assert_failure 64
	[[ $stderr == *"'action:drop_tables' is not a scope: no such action in the catalogue (share/cx/actions/<name>.json) (see cx-integrations create --help)"* ]]
	run --separate-stderr cx integrations create --tenant acme --kind make --name M --scopes "trigger:message trigger:sms"
	assert_failure 64
	[[ $stderr == *"'trigger:sms' is not a scope: trigger: names an event type (message, lead, calendar.event.created, ...)"* ]]
	run --separate-stderr cx integrations create --tenant acme --kind make --name M --scopes "admin"
	assert_failure 64
	[[ $stderr == *"'admin' is not a scope (action:<name> or trigger:<event type>)"* ]]
	run --separate-stderr cx integrations create --tenant acme --kind make --name M --scopes "  "
	assert_failure 64
	[[ $stderr == *"an integration needs scopes (action:<name> and trigger:<event type>, space-separated)"* ]]
	assert_file_not_exists "$CX_DB"
}

@test "scopes are kept once each; every SPEC event type is a trigger scope" {
	create "action:send_message  action:send_message trigger:calendar.event.created trigger:email.received trigger:post.published"
	run cx integrations list --json
	assert_output --partial '"scopes":["action:send_message","trigger:calendar.event.created","trigger:email.received","trigger:post.published"],'
}

@test "a bad kind, tenant or name, or a missing option, is a usage error" {
	run --separate-stderr cx integrations create --tenant acme --kind ifttt --name N --scopes action:create_lead
	assert_failure 64
	[[ $stderr == *"'ifttt' is not an integration kind (zapier, make or generic)"* ]]
	run --separate-stderr cx integrations create --tenant "a b" --kind make --name N --scopes action:create_lead
	assert_failure 64
	[[ $stderr == *"'a b' is not a tenant name"* ]]
	run --separate-stderr cx integrations create --tenant acme --kind make --name "" --scopes action:create_lead
	assert_failure 64
	[[ $stderr == *"an integration name is 1 to 128 bytes of UTF-8 text, no control characters"* ]]
	for name in $'caf\xe9' $'a\tb' "$(printf 'n%.0s' {1..129})"; do
		run --separate-stderr cx integrations create --tenant acme --kind make --name "$name" --scopes action:create_lead
		assert_failure 64
	done
	run --separate-stderr cx integrations create --tenant acme --kind make --scopes action:create_lead
	assert_failure 64
	[[ $stderr == *"create needs --tenant, --kind, --name and --scopes"* ]]
	run --separate-stderr cx integrations rotate
	assert_failure 64
	[[ $stderr == *"an integration ID is needed"* ]]
	run sql "SELECT count(*) FROM integrations"
	assert_output 0
}

@test "an unknown id fails with 1 and says so" {
	create
	subscribe
	for cmd in rotate revoke enable; do
		run --separate-stderr cx integrations $cmd int_0000000000000000
		assert_failure 1
		[[ $stderr == *"no integration int_0000000000000000"* ]]
	done
	run --separate-stderr cx integrations subscribe int_nope --event message --url https://h.example/
	assert_failure 1
	[[ $stderr == *"no integration int_nope"* ]]
	for cmd in unsubscribe rotate-secret; do
		run --separate-stderr cx integrations $cmd sub_0000000000000000
		assert_failure 1
		[[ $stderr == *"no subscription sub_0000000000000000"* ]]
	done
}

@test "subscribe prints the subscription and its secret once; subscriptions lists it without" {
	create
	run --separate-stderr cx integrations subscribe "$ID" --event message --url "https://hooks.example/catch/1/abc"
	assert_success
	[ "${#lines[@]}" -eq 1 ]
	[[ $output =~ ^\{\"subscription_id\":\"sub_[0-9a-f]{16}\",\"secret\":\"whsec_[A-Za-z0-9+/]{32}\"\}$ ]]
	sub=$(jq -r .subscription_id <<< "$output")
	secret=$(jq -r .secret <<< "$output")
	run cx integrations subscriptions --json
	assert_output "{\"subscription_id\":\"$sub\",\"integration_id\":\"$ID\",\"tenant\":\"acme\",\"event\":\"message\",\"target_url\":\"https://hooks.example/catch/1/abc\",\"origin\":\"cli\",\"state\":\"active\",\"state_reason\":null,\"created_at\":\"2026-12-06T12:00:00Z\",\"secrets_active\":1}"
	[[ $output != *"$secret"* && $output != *whsec_* ]]
	run cx integrations subscriptions --integration int_0000000000000000 --json
	assert_output ""
	run cx integrations subscriptions --table
	assert_line --index 0 --regexp '^ID +INTEGRATION +EVENT +STATE +TARGET$'
	assert_line --index 1 --regexp "^$sub $ID message +active +https://hooks.example/catch/1/abc$"
}

@test "subscribing outside the integration's scopes is refused with 77, nothing stored" {
	create
	run --separate-stderr cx integrations subscribe "$ID" --event lead --url https://hooks.example/x
	assert_failure 77
	assert_output ""
	[[ $stderr == *"integration $ID has no scope trigger:lead"* ]]
	run sql "SELECT count(*) FROM trigger_subscriptions"
	assert_output 0
}

@test "subscribe checks the event type and the URL before anything" {
	create
	run --separate-stderr cx integrations subscribe "$ID" --event messages --url https://hooks.example/x
	assert_failure 64
	[[ $stderr == *"'messages' is not an event type"* ]]
	for url in ftp://hooks.example/x https://me:pw@hooks.example/x /relative "https://a b/"; do
		run --separate-stderr cx integrations subscribe "$ID" --event message --url "$url"
		assert_failure 64
		[[ $stderr == *"a target URL is an absolute http:// or https:// URL with a host, no user name or password"* ]]
	done
	run --separate-stderr cx integrations subscribe "$ID" --event message
	assert_failure 64
	[[ $stderr == *"subscribe needs --event and --url"* ]]
	run sql "SELECT count(*) FROM trigger_subscriptions"
	assert_output 0
}

@test "subscribe and rotate-secret need CX_TOKEN_KEY: 78, nothing stored" {
	create
	subscribe
	unset CX_TOKEN_KEY
	run --separate-stderr cx integrations subscribe "$ID" --event message --url https://hooks.example/y
	assert_failure 78
	[[ $stderr == *"CX_TOKEN_KEY (or CX_TOKEN_KEY_FILE) is not set"* ]]
	run --separate-stderr cx integrations rotate-secret "$SUB"
	assert_failure 78
	run sql "SELECT count(*) FROM trigger_secrets"
	assert_output 1
}

@test "rotate-secret prints a new secret; both sign until the grace ends" {
	create
	subscribe
	run --separate-stderr cx integrations rotate-secret "$SUB" --grace 600
	assert_success
	[[ $output =~ ^\{\"subscription_id\":\"$SUB\",\"secret\":\"whsec_[A-Za-z0-9+/]{32}\"\}$ ]]
	new=$(jq -r .secret <<< "$output")
	[ "$new" != "$SECRET" ]
	! stored "$new"
	run cx integrations subscriptions --json
	assert_output --partial '"secrets_active":2}'
	CX_NOW=$((NOW + 599)) run cx integrations subscriptions --json
	assert_output --partial '"secrets_active":2}'
	CX_NOW=$((NOW + 600)) run cx integrations subscriptions --json
	assert_output --partial '"secrets_active":1}'
}

@test "cx-oauth rotate-key seals the subscription secrets again under the new key" {
	create
	subscribe
	cx integrations rotate-secret "$SUB" --grace 600 > /dev/null 2>&1
	head -c 32 /dev/urandom | base64 > new.key
	run --separate-stderr cx-oauth rotate-key --new-key-file new.key
	assert_success
	[ "$(jq .subscription_secrets <<< "$output")" = 2 ]
	new_id=$(jq -r .key_id <<< "$output")
	run sql "SELECT DISTINCT lower(hex(substr(sealed, 4, 8))) FROM trigger_secrets"
	assert_output "$new_id"
	run bash -c 'cx audit --json | jq -c "select(.action == \"token_key_rotated\") | .detail.subscription_secrets"'
	assert_output 2
	! stored "$SECRET"
}

@test "unsubscribe deletes the subscription and its secrets" {
	create
	subscribe
	run --separate-stderr cx integrations unsubscribe "$SUB"
	assert_success
	assert_output ""
	run cx integrations subscriptions --json
	assert_output ""
	run sql "SELECT state, (SELECT count(*) FROM trigger_secrets) FROM trigger_subscriptions"
	assert_output "deleted|0"
	run --separate-stderr cx integrations unsubscribe "$SUB"
	assert_failure 1
}

@test "every change is audited with the integration id and a correlation id, and counted" {
	create
	subscribe
	cx integrations rotate "$ID" --grace 60 > /dev/null 2>&1
	cx integrations rotate-secret "$SUB" --grace 60 > /dev/null 2>&1
	cx integrations unsubscribe "$SUB" 2> /dev/null
	cx integrations revoke "$ID" 2> /dev/null
	run bash -c 'cx audit --json | jq -c "select(.action | test(\"^(integration|subscription)_\")) | [.action, .actor, .subject, .detail.integration_id, .detail.tenant, (.correlation_id | test(\"^c-[0-9a-f]{32}$\"))]"'
	assert_output "[\"integration_created\",\"$ME\",\"$ID\",\"$ID\",\"acme\",true]
[\"subscription_created\",\"$ME\",\"$SUB\",\"$ID\",\"acme\",true]
[\"integration_key_rotated\",\"$ME\",\"$ID\",\"$ID\",\"acme\",true]
[\"subscription_secret_rotated\",\"$ME\",\"$SUB\",\"$ID\",\"acme\",true]
[\"subscription_deleted\",\"$ME\",\"$SUB\",\"$ID\",\"acme\",true]
[\"integration_revoked\",\"$ME\",\"$ID\",\"$ID\",\"acme\",true]"
	run bash -c 'cx audit --json | jq -c "select(.action == \"subscription_created\") | .detail"'
	assert_output "{\"subscription_id\":\"$SUB\",\"integration_id\":\"$ID\",\"tenant\":\"acme\",\"event\":\"message\",\"target\":\"https://hooks.example/catch/1/abc\",\"origin\":\"cli\"}"
	run bash -c 'cx audit --json | grep -c -e cxk_ -e whsec_ -e t0k'
	assert_output 0
	run bash -c 'cx metrics | grep ^cx_integration_changes_total'
	assert_output 'cx_integration_changes_total{change="created"} 1
cx_integration_changes_total{change="revoked"} 1
cx_integration_changes_total{change="rotated"} 1
cx_integration_changes_total{change="secret_rotated"} 1
cx_integration_changes_total{change="subscribed"} 1
cx_integration_changes_total{change="unsubscribed"} 1'
}

@test "a user who is not an owner or admin is refused with 77, audited, nothing changed" {
	create
	as_role member
	run --separate-stderr cx integrations create --tenant acme --kind make --name M --scopes action:create_lead
	assert_failure 77
	assert_output ""
	[[ $stderr == *"$ME may not create integrations: create integrations needs the admin role or higher, and $ME is a member"* ]]
	run --separate-stderr cx integrations rotate "$ID"
	assert_failure 77
	assert_output ""
	run --separate-stderr cx integrations revoke "$ID"
	assert_failure 77
	run --separate-stderr cx integrations subscribe "$ID" --event message --url https://hooks.example/x
	assert_failure 77
	assert_output ""
	run audit_rows integration_change_denied
	assert_output "{\"actor\":\"$ME\",\"subject\":\"acme\",\"detail\":{\"what\":\"create integrations\",\"needed\":\"admin\",\"role\":\"member\"}}
{\"actor\":\"$ME\",\"subject\":\"$ID\",\"detail\":{\"what\":\"rotate integration keys\",\"needed\":\"admin\",\"role\":\"member\"}}
{\"actor\":\"$ME\",\"subject\":\"$ID\",\"detail\":{\"what\":\"revoke integrations\",\"needed\":\"admin\",\"role\":\"member\"}}
{\"actor\":\"$ME\",\"subject\":\"$ID\",\"detail\":{\"what\":\"subscribe integrations\",\"needed\":\"admin\",\"role\":\"member\"}}"
	run sql "SELECT count(*), (SELECT count(*) FROM integration_keys), (SELECT count(*) FROM trigger_subscriptions) FROM integrations WHERE state = 'active'"
	assert_output "1|1|0"
}

@test "an admin may create integrations once there are operators" {
	as_role admin
	run --separate-stderr cx integrations create --tenant acme --kind generic --name G --scopes trigger:lead
	assert_success
}

@test "cx integrations runs cx-integrations" {
	run cx integrations --list-commands
	assert_success
	assert_output "create
rotate
revoke
enable
list
subscribe
subscriptions
unsubscribe
rotate-secret"
}
