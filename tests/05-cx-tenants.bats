#!/usr/bin/env bats
# cx-tenants: set, list, show and resume, who may change tenants (owners
# and admins, refusals audited), bad input changing nothing, and the tenant
# a queue item gets from its workspace once that tenant is listed.

load helpers

ME=$(id -un)

setup() {
	export PATH="${CX_BIN:-$CX_ROOT/bin}:$PATH"
	cd "$BATS_TEST_TMPDIR" || return 1
	export CX_DB="$BATS_TEST_TMPDIR/cx.db"
	export CX_LOG=json
	export CX_NOW=1796558400    # 2026-12-06T12:00:00Z
	unset CX_CONFIG XDG_STATE_HOME
}

# as_owner: makes the running user the owner of a new state file.
as_owner() {
	cx-approve operators add "$ME" --role owner 2> /dev/null
}

# as_role ROLE: the running user gets ROLE; alice stays owner.
as_role() {
	as_owner
	cx-approve operators add alice --role owner 2> /dev/null
	cx-approve operators add "$ME" --role "$1" 2> /dev/null
}

# audit_rows ACTION: the audit rows of ACTION as {actor, subject, detail}.
audit_rows() {
	cx audit --json | jq -c --arg a "$1" 'select(.action == $a) | {actor, subject, detail}'
}

# pause TENANT CHANNEL CODE REASON: what the reputation breaker of
# cx-publish feedback writes when it trips (no command pauses by hand).
pause() {
	sqlite3 -batch "$CX_DB" "INSERT INTO tenant_pauses (tenant, channel, reason,
		error_code, paused_at) VALUES ('$1', '$2', '$4', '$3', $CX_NOW)"
}

@test "an owner sets a tenant; list and show print it" {
	as_owner
	run --separate-stderr cx-tenants set acme --email-plan premium \
		--email-from News@Acme.Example --email-daily-quota 500
	assert_success
	assert_output ""
	run cx-tenants list --json
	assert_success
	assert_output '{"name":"acme","email_plan":"premium","email_from":"News@acme.example","email_daily_quota":500,"listed":true,"paused":[]}'
	run cx-tenants show acme --json
	assert_success
	assert_output '{"name":"acme","email_plan":"premium","email_from":"News@acme.example","email_daily_quota":500,"listed":true,"paused":[],"pauses":[],"email_domain_check":null}'
}

@test "set keeps what it is not given; the audit row has the new and the previous settings" {
	as_owner
	cx-tenants set acme --email-plan advanced --email-from ops@acme.example --email-daily-quota 10 2> /dev/null
	cx-tenants set acme --email-daily-quota none 2> /dev/null
	run cx-tenants show acme --json
	assert_output --partial '"email_plan":"advanced","email_from":"ops@acme.example","email_daily_quota":null,'
	run audit_rows tenant_updated
	assert_line --index 0 "{\"actor\":\"$ME\",\"subject\":\"acme\",\"detail\":{\"email_plan\":\"advanced\",\"email_from\":\"ops@acme.example\",\"email_daily_quota\":10,\"previous\":null}}"
	assert_line --index 1 "{\"actor\":\"$ME\",\"subject\":\"acme\",\"detail\":{\"email_plan\":\"advanced\",\"email_from\":\"ops@acme.example\",\"email_daily_quota\":null,\"previous\":{\"email_plan\":\"advanced\",\"email_from\":\"ops@acme.example\",\"email_daily_quota\":10}}}"
	[ "${#lines[@]}" -eq 2 ]
}

@test "a tenant never set shows the default plan, unlisted" {
	run cx-tenants show nobody --json
	assert_success
	assert_output '{"name":"nobody","email_plan":"default","email_from":null,"email_daily_quota":null,"listed":false,"paused":[],"pauses":[],"email_domain_check":null}'
}

@test "list for people has a header and one line per tenant" {
	as_owner
	cx-tenants set acme --email-plan premium --email-from news@acme.example 2> /dev/null
	cx-tenants set beta 2> /dev/null
	pause beta email EMAIL_REPUTATION "bounce rate 7.0% over 24 h"
	run cx-tenants list --table
	assert_success
	assert_line --index 0 --regexp '^NAME +PLAN +FROM +QUOTA +PAUSED$'
	assert_line --index 1 --regexp '^acme +premium +news@acme\.example +none +-$'
	assert_line --index 2 --regexp '^beta +default +- +none +email$'
	[ "${#lines[@]}" -eq 3 ]
}

@test "a bad plan, name, address or quota is a usage error and changes nothing" {
	as_owner
	cx-tenants set acme --email-plan premium 2> /dev/null
	before=$(cx-tenants list --json; cx audit --json | wc -l)
	run --separate-stderr cx-tenants set acme --email-plan gold
	assert_failure 64
	[[ $stderr == *"'gold' is not an e-mail plan (default, premium, advanced or expert)"* ]]
	run --separate-stderr cx-tenants set 'ac me' --email-plan expert
	assert_failure 64
	[[ $stderr == *"'ac me' is not a tenant name"* ]]
	run --separate-stderr cx-tenants set "$(printf 'a%.0s' {1..65})"
	assert_failure 64
	run --separate-stderr cx-tenants set acme --email-from 'News <news@acme.example>'
	assert_failure 64
	[[ $stderr == *"is not an e-mail address"* ]]
	run --separate-stderr cx-tenants set acme --email-from news@acme..example
	assert_failure 64
	run --separate-stderr cx-tenants set acme --email-daily-quota -5
	assert_failure 64
	run --separate-stderr cx-tenants set
	assert_failure 64
	[ "$(cx-tenants list --json; cx audit --json | wc -l)" = "$before" ]
}

@test "on a state file with no operators yet, whoever runs it sets tenants (audited)" {
	run -0 --separate-stderr cx-tenants set acme --email-plan premium --email-from news@acme.example
	cx-tenants show acme --json | jq -e '.email_plan == "premium"'
	run audit_rows tenant_updated
	assert_output --partial "\"actor\":\"$ME\""
}

@test "set by a user who is not an operator is refused with 77, audited, and nothing is listed" {
	cx-tenants list --json
	sql "INSERT INTO operators (name, role, added_by, added_at) VALUES ('boss', 'owner', 'boss', 0)"
	run --separate-stderr cx-tenants set acme --email-plan premium
	assert_failure 77
	[[ $stderr == *"$ME may not change tenants"* ]]
	run cx-tenants list --json
	assert_output ""
	run audit_rows tenant_change_denied
	assert_output "{\"actor\":\"$ME\",\"subject\":\"acme\",\"detail\":{\"what\":\"change tenants\",\"needed\":\"admin\",\"role\":\"none\"}}"
}

@test "a member may not set a tenant: 77, audited" {
	as_role member
	run --separate-stderr cx-tenants set acme --email-plan expert
	assert_failure 77
	run audit_rows tenant_change_denied
	assert_output "{\"actor\":\"$ME\",\"subject\":\"acme\",\"detail\":{\"what\":\"change tenants\",\"needed\":\"admin\",\"role\":\"member\"}}"
	run cx-tenants list --json
	assert_output ""
}

@test "an admin may set a tenant" {
	as_role admin
	run cx-tenants set acme --email-plan expert
	assert_success
	run cx-tenants show acme --json
	assert_output --partial '"email_plan":"expert"'
}

@test "resume lifts a pause, audited with its error code; a channel not paused stays as it is" {
	as_owner
	cx-tenants set acme 2> /dev/null
	pause acme email EMAIL_REPUTATION "bounce rate 7.0% over 24 h"
	run cx-tenants show acme --json
	assert_output --partial '"paused":["email"],"pauses":[{"channel":"email","error_code":"EMAIL_REPUTATION","reason":"bounce rate 7.0% over 24 h","paused_at":"2026-12-06T12:00:00Z"}],'
	run --separate-stderr cx-tenants resume acme --channel email
	assert_success
	[[ $stderr == *"acme: email resumed"* ]]
	run cx-tenants show acme --json
	assert_output --partial '"paused":[],"pauses":[],'
	run audit_rows tenant_resumed
	assert_output "{\"actor\":\"$ME\",\"subject\":\"acme\",\"detail\":{\"channel\":\"email\",\"error_code\":\"EMAIL_REPUTATION\",\"reason\":\"bounce rate 7.0% over 24 h\"}}"
	run --separate-stderr cx-tenants resume acme --channel email
	assert_success
	[[ $stderr == *"acme: email was not paused; nothing changed"* ]]
	[ "$(audit_rows tenant_resumed | wc -l)" -eq 1 ]
}

@test "resume by a member is refused with 77, audited, and the pause stays" {
	as_role member
	pause acme email EMAIL_REPUTATION "complaint rate 0.2% over 24 h"
	run --separate-stderr cx-tenants resume acme --channel email
	assert_failure 77
	[[ $stderr == *"$ME may not resume tenants"* ]]
	run audit_rows tenant_change_denied
	assert_output "{\"actor\":\"$ME\",\"subject\":\"acme\",\"detail\":{\"what\":\"resume tenants\",\"needed\":\"admin\",\"role\":\"member\"}}"
	run cx-tenants list --json
	assert_output '{"name":"acme","email_plan":"default","email_from":null,"email_daily_quota":null,"listed":false,"paused":["email"]}'
}

@test "resume needs --channel and a tenant name" {
	as_owner
	run --separate-stderr cx-tenants resume acme
	assert_failure 64
	[[ $stderr == *"resume needs --channel C"* ]]
	run --separate-stderr cx-tenants resume --channel email
	assert_failure 64
	run --separate-stderr cx-tenants resume 'a/b' --channel email
	assert_failure 64
}

# post TEXT: one X post proposal for workspace acme.
post() {
	jq -cn --arg t "$1" '{channel:"x",kind:"post",workspace:"acme",text:$t}'
}

@test "a queue item's workspace names its tenant once that tenant is listed; an account mapping wins" {
	as_owner
	assert_equal "$(post one | cx-approve enqueue 2> /dev/null | jq -r .tenant)" default
	cx tenants set acme 2> /dev/null
	assert_equal "$(post two | cx-approve enqueue 2> /dev/null | jq -r .tenant)" acme
	cx accounts add --channel x --account acme --tenant other 2> /dev/null
	assert_equal "$(post three | cx-approve enqueue 2> /dev/null | jq -r .tenant)" other
	assert_equal "$(cx-approve list --json | jq -r .tenant | paste -sd ' ')" "default acme other"
}

@test "cx tenants runs cx-tenants through the dispatcher" {
	run cx tenants --help
	assert_success
	assert_line --index 0 'usage: cx-tenants set TENANT [--email-plan default|premium|advanced|expert] [--email-from ADDRESS] [--email-daily-quota N] [--db PATH]'
	run cx --list-commands
	assert_line tenants
	assert_line email
}

@test "show for people gives the tenant's line, then its pauses" {
	as_owner
	cx-tenants set acme --email-plan premium --email-from news@acme.example 2> /dev/null
	pause acme email EMAIL_REPUTATION "bounce rate 7.0% over 24 h"
	run cx-tenants show acme --table
	assert_success
	assert_line --index 0 --regexp '^NAME +PLAN +FROM +QUOTA +PAUSED$'
	assert_line --index 1 --regexp '^acme +premium +news@acme\.example +none +email$'
	assert_line --index 2 '  paused email since 2026-12-06T12:00:00Z: EMAIL_REPUTATION (bounce rate 7.0% over 24 h)'
	[ "${#lines[@]}" -eq 3 ]
}
