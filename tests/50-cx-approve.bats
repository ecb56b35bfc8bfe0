#!/usr/bin/env bats
# cx-approve: operators and roles, enqueue validation (X's weighted length),
# decisions with their audit rows and counters, list/show, and the
# interactive review driven through tmux. Tests that act as a second Unix
# user create one in setup_file (member_create) and need root; they skip
# otherwise.

load helpers

setup_file() {
	member_create cxm
}

teardown_file() {
	member_remove
}

teardown() {
	[ -n "${TMUX_SOCKET:-}" ] && tmux -L "$TMUX_SOCKET" kill-server 2> /dev/null
	member_teardown
}

ME=$(id -un)

# post TEXT [EXTRA-JSON-FIELDS]: one X post proposal for workspace acme.
post() {
	jq -cn --arg t "$1" "{channel:\"x\",kind:\"post\",workspace:\"acme\",text:\$t}${2:+ + $2}"
}

# repeat N STRING: STRING N times.
repeat() {
	local i out=

	for ((i = 0; i < $1; i++)); do out+=$2; done
	printf '%s' "$out"
}

# as_owner: makes the running user the owner of a new state file.
as_owner() {
	cx-approve operators add "$ME" --role owner 2> /dev/null
}

# queue N: enqueues N posts "post 1".."post N".
queue() {
	local i

	for ((i = 1; i <= $1; i++)); do post "post $i"; done | cx-approve enqueue > /dev/null
}

# state ID: the state of queue item ID.
state() {
	cx-approve show "$1" --json | jq -r .state
}

@test "the first operator of an empty state file must be the Unix user running it, as owner" {
	run --separate-stderr cx-approve operators add somebody-else --role owner
	assert_failure 77
	[[ $stderr == *"the first one must be you"*"($ME)"* ]]
	run cx-approve operators add "$ME" --role admin
	assert_failure 77
	run cx-approve operators list --json
	assert_output ""
	run cx-approve operators add "$ME" --role owner
	assert_success
	run cx-approve operators list --json
	echo "$output" | jq -e --arg me "$ME" '.name == $me and .role == "owner" and .added_by == $me'
	run cx audit --json
	[ "$(echo "$output" | jq -s '[.[] | select(.action == "operator_change_denied")] | length')" -eq 2 ]
	[ "$(echo "$output" | jq -s '[.[] | select(.action == "operator_added")] | length')" -eq 1 ]
}

@test "the last owner can be neither removed nor demoted" {
	as_owner
	cx-approve operators add alice --role admin
	run cx-approve operators remove "$ME"
	assert_failure 77
	assert_output --partial "only owner"
	run cx-approve operators add "$ME" --role admin
	assert_failure 77
	cx-approve operators add alice --role owner
	run cx-approve operators add "$ME" --role admin
	assert_success
	run cx-approve operators list --json
	echo "$output" | jq -se --arg me "$ME" 'map({name, role}) == [{name: "alice", role: "owner"}, {name: $me, role: "admin"}]'
}

@test "only owners manage operators; a member's attempt is refused and audited" {
	need_member
	as_owner
	cx-approve operators add "$CX_MEMBER" --role member
	run member cx-approve operators add "$CX_MEMBER" --role owner
	assert_failure 77
	assert_output --partial "may not manage operators"
	run member cx-approve operators remove "$ME"
	assert_failure 77
	run cx-approve operators list --json
	echo "$output" | jq -se --arg m "$CX_MEMBER" 'map(select(.name == $m))[0].role == "member" and length == 2'
	run cx audit --json
	[ "$(echo "$output" | jq -s --arg m "$CX_MEMBER" '[.[] | select(.action == "operator_change_denied" and .actor == $m)] | length')" -eq 2 ]
}

@test "enqueue stores a proposal as pending and prints its post.proposed line" {
	run --separate-stderr cx-approve enqueue <<< "$(post 'Hello from cx' '{campaign:"nov"}')"
	assert_success
	echo "$output" | jq -e --arg me "$ME" '
		.v == 1 and .type == "post.proposed" and .dedupe_key == "queue:1:proposed" and
		.channel == "x" and .tenant == "default" and (.occurred_at | test("Z$")) and
		(.correlation_id | test("^c-[0-9a-f]{32}$")) and
		.data == {queue_id: 1, channel: "x", kind: "post", workspace: "acme",
			text: "Hello from cx", actor: $me}'
	run cx-approve list --json
	echo "$output" | jq -e --arg me "$ME" '.id == 1 and .state == "pending" and
		.proposed_by == $me and .meta == {campaign: "nov"} and .length == 13 and .limit == 280'
	run cx metrics
	assert_line 'cx_queue_items_total{channel="x",state="proposed"} 1'
}

@test "a proposal's correlation id is kept; without one a new c- id is made" {
	{ post one '{correlation_id:"c-from-ingest"}'; post two; } | cx-approve enqueue > out
	[ "$(sed -n 1p out | jq -r .correlation_id)" = c-from-ingest ]
	[[ $(sed -n 2p out | jq -r .correlation_id) == c-* ]]
	run cx audit --json --correlation-id c-from-ingest
	echo "$output" | jq -e '.action == "post_proposed" and .subject == "queue:1"'
}

@test "enqueue refuses bad proposals line by line, names the line, and still queues the good ones" {
	{
		post good-1
		post ""
		jq -cn '{channel:"x",kind:"reply",workspace:"acme",text:"hi"}'
		jq -cn '{channel:"fax",kind:"post",workspace:"acme",text:"hi"}'
		jq -cn '{channel:"x",kind:"story",workspace:"acme",text:"hi"}'
		jq -cn '{channel:"x",kind:"post",text:"hi"}'
		echo 'not json'
		post "   "
		post good-2
	} > in
	run --separate-stderr cx-approve enqueue < in
	assert_failure 65
	[ "$(echo "$output" | jq -r .data.text | paste -sd,)" = good-1,good-2 ]
	echo "$stderr" | jq -se '
		map({line, error_code}) == [
			{line: 2, error_code: "empty_text"},
			{line: 3, error_code: "missing_in_reply_to"},
			{line: 4, error_code: "unknown_channel"},
			{line: 5, error_code: "unknown_kind"},
			{line: 6, error_code: "missing_workspace"},
			{line: 7, error_code: "invalid_json"},
			{line: 8, error_code: "empty_text"}]'
	[[ $stderr != *fax* ]]
	[ "$(cx-approve list --json | wc -l)" -eq 2 ]
}

@test "enqueue: a value then a string with no separator is invalid JSON, by line number, and the rest is queued" {
	{ post good-1; no_separator; post good-2; } > in
	run --separate-stderr cx-approve enqueue < in
	assert_failure 65
	[ "$(echo "$output" | jq -r .data.text | paste -sd,)" = good-1,good-2 ]
	echo "$stderr" | jq -e -s 'map([.line, .error_code]) == [range(2; 12) | [., "invalid_json"]]'
	[ "$(cx-approve list --json | wc -l)" -eq 2 ]
}

@test "an X post may be 280 weighted characters: 280 is accepted, 281 refused" {
	{ post "$(repeat 280 a)"; post "$(repeat 281 a)"; } > in
	run --separate-stderr cx-approve enqueue < in
	assert_failure 65
	echo "$stderr" | jq -e '.line == 2 and .error_code == "too_long" and (.msg | test("281/280"))'
	run cx-approve list --json
	echo "$output" | jq -e '.id == 1 and .length == 280'
}

@test "CJK characters count double, as X counts them" {
	{ post "$(repeat 140 の)"; post "$(repeat 141 の)"; post "$(repeat 139 の)ab"; } > in
	run --separate-stderr cx-approve enqueue < in
	assert_failure 65
	echo "$stderr" | jq -e '.line == 2 and (.msg | test("282/280"))'
	[ "$(cx-approve list --json | jq -c '[.length]' | paste -sd' ')" = "[280] [280]" ]
}

@test "a URL counts 23 characters however long it is" {
	url="https://example.com/$(repeat 80 p)?q=1"
	{ post "$(repeat 256 a) $url"; post "$(repeat 257 a) $url"; post "see example.com/x."; } > in
	run --separate-stderr cx-approve enqueue < in
	assert_failure 65
	echo "$stderr" | jq -e '.line == 2 and (.msg | test("281/280"))'
	[ "$(cx-approve list --json | jq -c .length | paste -sd' ')" = "280 28" ]
}

@test "an emoji counts 2 whatever its code points; decomposed accents count once (NFC)" {
	{
		post "$(repeat 140 👍🏽)"
		post "$(repeat 140 👨‍👩‍👧‍👦)"
		post "$(repeat 141 🇧🇷)"
		post "$(repeat 280 $'e\xcc\x81')"
	} > in
	run --separate-stderr cx-approve enqueue < in
	assert_failure 65
	echo "$stderr" | jq -e '.line == 3 and (.msg | test("282/280"))'
	run cx-approve list --json
	[ "$(echo "$output" | jq -c .length | paste -sd' ')" = "280 280 280" ]
	# the text is stored in NFC: e + combining acute became é
	[ "$(echo "$output" | sed -n 3p | jq -r '.text[0:1]')" = é ]
}

@test "output and X weighted length are the same under LANG=C, C.UTF-8 and unset" {
	{
		post "$(repeat 280 $'e\xcc\x81')"
		post "Olá, café ☕ https://example.com/ä $(repeat 10 👨‍👩‍👧‍👦) 日本"
		post "$(repeat 141 🇧🇷)"
	} > in
	for lang in C C.UTF-8 ''; do
		export CX_DB=$PWD/${lang:-unset}.db CX_NOW=1800000000
		as_owner
		env -u LC_ALL -u LC_CTYPE -u LC_MESSAGES -u LANG ${lang:+LANG=$lang} sh -c '
			cx-approve enqueue < in; echo "exit $?"
			cx-approve list --json; cx-approve show 2' > "out.${lang:-unset}" 2>&1
		# correlation ids are random
		sed -Ei 's/"c-[0-9a-f]{32}"/"c-"/g' "out.${lang:-unset}"
	done
	cmp out.C out.C.UTF-8
	cmp out.C out.unset
	grep -qx 'exit 65' out.C
	grep -q '"line 3: text is 282/280 weighted' out.C
	[ "$(grep '^{"id":' out.C | jq -c .length | paste -sd' ')" = "280 62 62" ]
}

@test "a reply needs an X post id in in_reply_to, and a post may not have one" {
	{
		jq -cn '{channel:"x",kind:"reply",workspace:"acme",text:"yes",in_reply_to:"1790000000000000000"}'
		jq -cn '{channel:"x",kind:"reply",workspace:"acme",text:"yes",in_reply_to:"not-an-id"}'
		jq -cn '{channel:"x",kind:"post",workspace:"acme",text:"yes",in_reply_to:"1"}'
	} > in
	run --separate-stderr cx-approve enqueue < in
	assert_failure 65
	echo "$output" | jq -e '.data.in_reply_to == "1790000000000000000" and .data.kind == "reply"'
	[ "$(echo "$stderr" | jq -c '[.line, .error_code]' | paste -sd' ')" = '[2,"invalid_field"] [3,"invalid_field"]' ]
}

@test "WhatsApp, Instagram and Messenger proposals keep their own fields for cx-publish" {
	{
		jq -cn '{channel:"whatsapp",kind:"text",workspace:"acme",text:"Olá",to:"+5511987654321",phone_number_id:"106540352242922"}'
		jq -cn '{channel:"whatsapp",kind:"template",workspace:"acme",to:"+5511987654321",phone_number_id:"106540352242922",template:{name:"hello_world",language:{code:"en_US"}}}'
		jq -cn '{channel:"instagram",kind:"comment_reply",workspace:"acme",text:"Thanks!",comment_id:"17858893269000001"}'
		jq -cn '{channel:"messenger",kind:"message",workspace:"acme",text:"Hi",to:"24726451543634"}'
		jq -cn '{channel:"whatsapp",kind:"text",workspace:"acme",text:"no number",to:"+5511987654321"}'
	} > in
	cx accounts add --channel whatsapp --account 106540352242922 --tenant shop
	run --separate-stderr cx-approve enqueue < in
	assert_failure 65
	echo "$stderr" | jq -e '.line == 5 and .error_code == "missing_field" and (.msg | test("phone_number_id"))'
	run cx-approve list --json
	[ "$(echo "$output" | wc -l)" -eq 4 ]
	echo "$output" | sed -n 1p | jq -e '.account == "106540352242922" and .tenant == "shop" and
		.meta == {to: "+5511987654321", phone_number_id: "106540352242922"}'
	echo "$output" | sed -n 2p | jq -e '.meta.template.name == "hello_world" and .text == ""'
	echo "$output" | sed -n 3p | jq -e '.meta.comment_id == "17858893269000001" and .limit == 2200'
	echo "$output" | sed -n 4p | jq -e '.meta.to == "24726451543634" and .kind == "message"'
}

@test "canonical events on enqueue's stdin pass through unchanged" {
	{ echo '{"v":1,"type":"message","data":{"x":1}}'; post hello; } > in
	run cx-approve enqueue < in
	assert_success
	assert_line --index 0 '{"v":1,"type":"message","data":{"x":1}}'
	echo "${lines[1]}" | jq -e '.type == "post.proposed"'
}

@test "a member cannot approve: exit 77 and an approval_denied audit row" {
	need_member
	as_owner
	cx-approve operators add "$CX_MEMBER" --role member
	post "from a member" | member cx-approve enqueue > /dev/null
	run member cx-approve approve 1
	assert_failure 77
	assert_output --partial "needs the admin role or higher"
	[ "$(state 1)" = pending ]
	run cx audit --json
	echo "$output" | jq -se --arg m "$CX_MEMBER" '
		map(select(.action == "approval_denied")) | length == 1 and
		.[0].actor == $m and .[0].subject == "queue:1" and .[0].detail.role == "member"'
	cx-approve show 1 --json | jq -e --arg m "$CX_MEMBER" '.proposed_by == $m'
	run cx metrics
	refute_output --partial 'state="approved"'
}

@test "the operator is the Unix login, never \$USER" {
	need_member
	as_owner
	queue 1
	run member env USER="$ME" LOGNAME="$ME" cx-approve approve 1
	assert_failure 77
	[ "$(state 1)" = pending ]
	cx audit --json | jq -se --arg m "$CX_MEMBER" 'map(select(.action == "approval_denied"))[0].actor == $m'
}

@test "a user who is not an operator cannot approve or reject" {
	queue 1
	run cx-approve approve 1
	assert_failure 77
	run cx-approve reject 1 --reason no
	assert_failure 77
	[ "$(state 1)" = pending ]
	[ "$(cx audit --json | jq -s 'map(select(.action == "approval_denied")) | length')" -eq 2 ]
}

@test "approve records approved_by and the note, prints post.approved, audits and counts it" {
	as_owner
	queue 2
	run --separate-stderr cx-approve approve 1 2 --note "ok for Monday"
	assert_success
	echo "${lines[0]}" | jq -e --arg me "$ME" '.type == "post.approved" and
		.dedupe_key == "queue:1:approved" and .data.actor == $me and
		.data.note == "ok for Monday" and .data.queue_id == 1'
	cx-approve show 1 --json | jq -e --arg me "$ME" '.state == "approved" and
		.approved_by == $me and .note == "ok for Monday" and (.decided_at | test("Z$")) and
		.rejected_by == null'
	cid=$(cx-approve show 1 --json | jq -r .correlation_id)
	run cx audit --json --correlation-id "$cid"
	echo "$output" | jq -se --arg me "$ME" 'map(.action) == ["post_proposed", "post_approved"] and
		.[1].actor == $me and .[1].detail.note == "ok for Monday" and
		(.[1].detail.text_sha256 | length) == 64'
	run cx metrics
	assert_line 'cx_queue_items_total{channel="x",state="approved"} 2'
}

@test "reject needs --reason, and records it" {
	as_owner
	queue 1
	run cx-approve reject 1
	assert_failure 64
	assert_output --partial "--reason"
	[ "$(state 1)" = pending ]
	run cx-approve reject 1 --reason "off brand"
	assert_success
	echo "$output" | jq -e '.type == "post.rejected" and .data.reason == "off brand"'
	cx-approve show 1 --json | jq -e --arg me "$ME" '.state == "rejected" and
		.rejected_by == $me and .reason == "off brand" and .approved_by == null'
	cx audit --json | jq -se 'map(select(.action == "post_rejected"))[0].detail.reason == "off brand"'
	run cx metrics
	assert_line 'cx_queue_items_total{channel="x",state="rejected"} 1'
}

@test "deciding an item that is not pending changes nothing and names it; the other ids are still decided" {
	as_owner
	queue 3
	cx-approve reject 2 --reason no > /dev/null
	before=$(cx-approve show 2 --json)
	run --separate-stderr cx-approve approve 1 2 99 3
	assert_failure 1
	[ "$(echo "$output" | jq -r .data.queue_id | paste -sd,)" = 1,3 ]
	[[ $stderr == *"cannot approve queue item 2: it is rejected"* ]]
	[[ $stderr == *"no queue item 99"* ]]
	[ "$(cx-approve show 2 --json)" = "$before" ]
	run cx-approve approve 1
	assert_failure 1
	[ "$(cx audit --json | jq -s 'map(select(.action == "post_approved")) | length')" -eq 2 ]
}

@test "a malformed id is a usage error and nothing is decided" {
	as_owner
	queue 2
	run cx-approve approve 1 two
	assert_failure 64
	[ "$(state 1)" = pending ]
}

@test "list filters by state and channel; show prints items in full with their text history" {
	as_owner
	queue 3
	jq -cn '{channel:"messenger",kind:"message",workspace:"acme",text:"Hi",to:"2472"}' | cx-approve enqueue > /dev/null
	cx-approve approve 1 > /dev/null
	cx-approve reject 2 --reason no > /dev/null
	[ "$(cx-approve list --state pending --json | jq -r .id | paste -sd,)" = 3,4 ]
	[ "$(cx-approve list --state approved --json | jq -r .id)" = 1 ]
	[ "$(cx-approve list --channel messenger --json | jq -r .id)" = 4 ]
	[ "$(cx-approve list --channel x --state pending --json | jq -r .id)" = 3 ]
	run cx-approve list --state nonsense
	assert_failure 64
	run cx-approve show 1 --json
	echo "$output" | jq -e --arg me "$ME" '.id == 1 and .text == "post 1" and
		(.history | length) == 1 and .history[0].action == "proposed" and
		.history[0].actor == $me and .history[0].sha256 == .text_sha256'
	run cx-approve show 1 --table
	assert_line --partial "post 1"
	assert_line --regexp "^approved by +$ME$"
	assert_line --partial "length 6/280"
	run cx-approve list --table
	assert_line --index 0 --regexp '^ID +STATE +CHANNEL'
	run cx-approve show 1 42
	assert_failure 1
}

@test "audit and metrics agree: post_approved rows equal cx_queue_items_total{state=approved}" {
	as_owner
	queue 6
	cx-approve approve 1 2 3 > /dev/null
	cx-approve reject 4 --reason no > /dev/null
	cx-approve approve 2 4 5 > /dev/null 2>&1 || true
	cx-approve approve 77 > /dev/null 2>&1 || true
	audit=$(cx audit --json)
	metrics=$(cx metrics)
	approved=$(echo "$audit" | jq -s 'map(select(.action == "post_approved")) | length')
	rejected=$(echo "$audit" | jq -s 'map(select(.action == "post_rejected")) | length')
	proposed=$(echo "$audit" | jq -s 'map(select(.action == "post_proposed")) | length')
	[ "$approved" -eq 4 ]
	grep -qx "cx_queue_items_total{channel=\"x\",state=\"approved\"} $approved" <<< "$metrics"
	grep -qx "cx_queue_items_total{channel=\"x\",state=\"rejected\"} $rejected" <<< "$metrics"
	grep -qx "cx_queue_items_total{channel=\"x\",state=\"proposed\"} $proposed" <<< "$metrics"
	[ "$(cx-approve list --state approved --json | wc -l)" -eq "$approved" ]
}

@test "without a terminal the review explains the subcommands and exits 64" {
	as_owner
	queue 1
	run --separate-stderr cx-approve < /dev/null
	assert_failure 64
	[[ $stderr == *"needs a terminal"* ]]
	[[ $stderr == *"cx-approve approve ID ..."* ]]
	assert_output ""
	[ "$(state 1)" = pending ]
}

# The review runs in a tmux session of its own server; keys are sent one
# by one, each after the prompt it answers is on the screen.

# tmux_start CMD: runs CMD in a new detached session, its exit status to ./rc.
tmux_start() {
	command -v tmux > /dev/null || skip "tmux is not installed"
	TMUX_SOCKET="cx-approve-$$-$BATS_TEST_NUMBER"
	export TERM=${TERM:-xterm}
	[ "$TERM" = dumb ] && export TERM=xterm
	tmux -L "$TMUX_SOCKET" new-session -d -s review -x 160 -y 50 \
		"$1 2> '$PWD/stderr'; echo \$? > '$PWD/rc'"
}

screen() {
	tmux -L "$TMUX_SOCKET" capture-pane -p -t review 2> /dev/null
}

# wait_for TEXT [COUNT]: until TEXT is on the screen COUNT times (10 s at most).
wait_for() {
	local i

	for ((i = 0; i < 100; i++)); do
		[ "$(screen | grep -cF -- "$1")" -ge "${2:-1}" ] && return 0
		sleep 0.1
	done
	echo "timed out waiting for '$1'; the screen:" >&2
	screen >&2
	return 1
}

keys() {
	tmux -L "$TMUX_SOCKET" send-keys -t review "$@"
}

# wait_exit: until the session's command has ended (10 s at most).
wait_exit() {
	local i

	for ((i = 0; i < 100; i++)); do
		[ -s rc ] && return 0
		sleep 0.1
	done
	echo "the review did not end; the screen:" >&2
	screen >&2
	return 1
}

@test "the interactive review approves, rejects with a reason, edits in \$EDITOR, skips and quits" {
	as_owner
	queue 5
	printf '#!/bin/sh\n[ "$(stat -c %%a "$1")" = 600 ] || exit 3\nprintf "%%s\\n" "rewritten by the editor" > "$1"\n' > editor.sh
	chmod +x editor.sh
	export EDITOR="$PWD/editor.sh" TMPDIR="$PWD/tmp"
	mkdir tmp
	tmux_start cx-approve
	wait_for "(1/5) Approve #1 [a,r,e,s,q,?]?"
	screen | grep -F "length 6/280"
	screen | grep -F "proposed by $ME at"
	keys a
	wait_for "(2/5) Approve #2"
	keys r
	wait_for "Reason"
	keys "not our tone" Enter
	wait_for "(3/5) Approve #3"
	keys e
	wait_for "rewritten by the editor"
	wait_for "(3/5) Approve #3" 2
	screen | grep -F "length 23/280"
	keys a
	wait_for "(4/5) Approve #4"
	keys s
	wait_for "(5/5) Approve #5"
	keys '?'
	wait_for "s - skip"
	keys q
	wait_exit
	[ "$(cat rc)" -eq 0 ]
	run cx-approve list --json
	[ "$(echo "$output" | jq -c '[.id, .state, .text]' | paste -sd' ')" = \
		'[1,"approved","post 1"] [2,"rejected","post 2"] [3,"approved","rewritten by the editor"] [4,"pending","post 4"] [5,"pending","post 5"]' ]
	cx-approve show 2 --json | jq -e '.reason == "not our tone"'
	cx-approve show 3 --json | jq -e '[.history[].action] == ["proposed", "edited"]'
	run cx audit --json
	echo "$output" | jq -se --arg old "$(printf 'post 3' | sha256sum | cut -d' ' -f1)" \
		--arg new "$(printf 'rewritten by the editor' | sha256sum | cut -d' ' -f1)" '
		map(select(.action == "post_edited"))[0].detail as $d |
		$d.from_sha256 == $old and $d.to_sha256 == $new'
	[ -z "$(ls tmp)" ]
}

@test "an edit the review refuses leaves the text as it was" {
	as_owner
	queue 1
	printf '#!/bin/sh\nprintf "%%0300d\\n" 0 > "$1"\n' > editor.sh
	chmod +x editor.sh
	export EDITOR="$PWD/editor.sh"
	tmux_start cx-approve
	wait_for "(1/1) Approve #1"
	keys e
	wait_for "the edited text is refused"
	screen | grep -F "300/280"
	wait_for "(1/1) Approve #1" 2
	keys q
	wait_exit
	[ "$(cat rc)" -eq 0 ]
	cx-approve show 1 --json | jq -e '.text == "post 1" and .state == "pending" and (.history | length) == 1'
	[ "$(cx audit --json | jq -s 'map(select(.action == "post_edited")) | length')" -eq 0 ]
}

@test "a member cannot start the interactive review" {
	need_member
	as_owner
	cx-approve operators add "$CX_MEMBER" --role member
	queue 1
	tmux_start "$CX_MEMBER_DIR/as-member cx-approve"
	wait_exit
	[ "$(cat rc)" -eq 77 ]
	grep -F "needs the admin role" stderr
	cx audit --json | jq -se --arg m "$CX_MEMBER" '
		map(select(.action == "approval_denied"))[0] | .actor == $m and .detail.what == "review"'
}
