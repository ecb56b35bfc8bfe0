#!/usr/bin/env bats
# cx-sync: Google Calendar into the mirror (first run, incremental runs,
# 410 Gone, crashes, concurrent runs, metrics), push channels (watch) and
# their notifications through cx-ingest and cx-parse, --requests, X
# mentions, CalDAV against two real servers (Radicale and xandikos), and
# the ICS parser.
# Upstreams are mocks on 127.0.0.1 that record every request:
# tests/mock/oauth_server.py (tokens), tests/mock/google_calendar.py,
# tests/mock/x_mentions.py; CalDAV is Debian's radicale and xandikos,
# behind tests/mock/caldav_proxy.py where a test needs a server they are
# not (no sync-collection, truncated answers, Digest, redirects).

load helpers
load lib/serve

eval "helpers_$(declare -f setup)"

MOCKS=$CX_ROOT/tests/mock
REDIRECT=http://127.0.0.1:8765/callback
GFIX=google-calendar/compass_events_list_page1_nextPageToken.json
GFINAL=google-calendar/compass_events_list_final_nextSyncToken_cancelled_instance.json
X_USER=1072250532645998596

# start_bg NAME COMMAND...: a server for the whole file; its first stdout
# line (the port) lands in $BATS_FILE_TMPDIR/NAME.port.
start_bg() {
	local name=$1
	shift
	"$@" > "$BATS_FILE_TMPDIR/$name.port" 2> "$BATS_FILE_TMPDIR/$name.err" 3>&- &
	echo $! > "$BATS_FILE_TMPDIR/$name.pid"
}

wait_port() {
	for _ in $(seq 400); do [ -s "$BATS_FILE_TMPDIR/$1.port" ] && return 0; sleep 0.05; done
	cat "$BATS_FILE_TMPDIR/$1.err" >&2
	return 1
}

setup_file() {
	local py=python3
	[ -x /usr/bin/python3 ] && py=/usr/bin/python3
	start_bg oauth "$py" "$MOCKS/oauth_server.py" 0 --record /dev/null --redirect "$REDIRECT" --lifetime 1800
	start_bg gcal "$py" "$MOCKS/google_calendar.py" 0 --record /dev/null --lifetime 1800
	start_bg x "$py" "$MOCKS/x_mentions.py" 0 --record /dev/null --lifetime 1800
	wait_port oauth && wait_port gcal && wait_port x
	export M=http://127.0.0.1:$(head -n 1 "$BATS_FILE_TMPDIR/oauth.port")
	export G=http://127.0.0.1:$(head -n 1 "$BATS_FILE_TMPDIR/gcal.port")
	export XM=http://127.0.0.1:$(head -n 1 "$BATS_FILE_TMPDIR/x.port")
}

teardown_file() {
	local f
	for f in "$BATS_FILE_TMPDIR"/*.pid; do
		[ -f "$f" ] && kill "$(cat "$f")" 2> /dev/null
	done
	true
}

setup() {
	helpers_setup
	CX_TOKEN_KEY=$(head -c 32 /dev/urandom | base64)
	export CX_TOKEN_KEY CX_HTTP_TIMEOUT_SECONDS=10
	unset CX_SYNC_LEASE_SECONDS CX_SYNC_TOMBSTONE_DAYS CX_CALDAV_PASSWORD CX_CALDAV_PASSWORD_FILE
	GREC=$BATS_TEST_TMPDIR/gcal.jsonl
	XREC=$BATS_TEST_TMPDIR/x.jsonl
	ctl "$M" "{\"reset\": true, \"record\": \"$BATS_TEST_TMPDIR/oauth.jsonl\"}" > /dev/null
	ctl "$G" "{\"reset\": true, \"record\": \"$GREC\"}" > /dev/null
	ctl "$XM" "{\"reset\": true, \"record\": \"$XREC\"}" > /dev/null
	export CX_GOOGLE_CLIENT_ID=google-client-id.apps.googleusercontent.com \
		CX_GOOGLE_CLIENT_SECRET=google-client-secret CX_GOOGLE_REDIRECT_URI=$REDIRECT \
		CX_GOOGLE_AUTHORIZE_URL=$M/google/authorize CX_GOOGLE_TOKEN_URL=$M/google/token \
		CX_GOOGLE_API_BASE=$G
	export CX_X_CLIENT_ID=x-client-id CX_X_CLIENT_SECRET=x-client-secret \
		CX_X_REDIRECT_URI=$REDIRECT CX_X_AUTHORIZE_URL=$M/x/authorize \
		CX_X_TOKEN_URL=$M/x/2/oauth2/token CX_X_API_BASE=$XM
}

teardown() {
	kill_started
}

# ctl BASE JSON: programs a mock.
ctl() {
	curl -sf -X POST -H 'Content-Type: application/json' -d "$2" "$1/_control"
}

gcal() {
	ctl "$G" "$1" > /dev/null
}

# connect PROVIDER [WORKSPACE]: the OAuth flow at the oauth mock (whose
# identity endpoints need its own API base).
connect() {
	local p=$1 w=${2:-acme} url base
	base=$M/$p
	url=$(CX_GOOGLE_API_BASE=$base CX_X_API_BASE=$base cx-oauth authorize --provider "$p" --workspace "$w")
	CX_GOOGLE_API_BASE=$base CX_X_API_BASE=$base cx-oauth callback \
		--url "$(curl -s -o /dev/null -w '%{redirect_url}' "$url")" > /dev/null
}

# calendar [PAGE_SIZE]: a Google account with calendar "primary" holding the
# events of two real events.list pages (16 live, 3 cancelled), listed in
# pages of PAGE_SIZE (default 5).
calendar() {
	connect google
	gcal "{\"calendar\": \"primary\", \"load\": [\"$GFIX\", \"$GFINAL\"], \"page_size\": ${1:-5}}"
}

# gsync [OPTION...]: syncs calendar "primary" of workspace acme; the log
# goes to ./sync.log (use `run --separate-stderr` to look at it).
gsync() {
	cx-sync google-calendar --workspace acme --calendar primary "$@" 2>> sync.log
}

# requested N: the mock got at least N requests.
requested() {
	[ "$(requests 'true')" -ge "$1" ]
}

# requests FILTER: how many recorded requests satisfy the jq FILTER.
requests() {
	[ -f "$GREC" ] || { echo 0; return; }
	jq -c "select($1)" "$GREC" | wc -l
}

# count TYPE [FILE]: lines of that type in FILE (default ./out).
count() {
	jq -c "select(.type == \"$1\")" "${2:-out}" | wc -l
}

# mirror_live: live events in the mirror.
mirror_live() {
	sql "SELECT count(*) FROM calendar_mirror WHERE status <> 'cancelled'"
}

# ---- Google Calendar: the mirror --------------------------------------------

@test "the first run pages through events.list and emits one created per live event" {
	calendar 5
	gsync > out
	assert_equal "$(wc -l < out)" 16
	assert_equal "$(count calendar.event.created)" 16
	assert_equal "$(jq -r .data.event_id out | sort -u | wc -l)" 16
	assert_equal "$(jq -r .dedupe_key out | sort -u | wc -l)" 16
	# 19 items in pages of 5: the first without a token, then pageToken
	assert_equal "$(requests '.path == "/calendar/v3/calendars/primary/events"')" 4
	assert_equal "$(requests '.query.showDeleted == "true" and .query.maxResults == "250"')" 4
	assert_equal "$(requests '.query.syncToken')" 0
	assert_equal "$(requests '.query.pageToken')" 3
	assert_equal "$(sql "SELECT cursor FROM sync_cursors WHERE source = 'google-calendar' AND key = 'acme/primary'")" s:1:19
	assert_equal "$(mirror_live)" 16
}

@test "a sync shows the events fetched on a terminal's stderr only, and --no-progress turns it off" {
	calendar 5
	on_terminal cx-sync google-calendar --workspace acme --calendar primary
	assert_equal "$(wc -l < tty.out)" 16
	grep -q $'\r\e\\[Kcx-sync google-calendar: 19 events\r$' tty.err
	on_terminal cx-sync google-calendar --workspace acme --calendar primary --full --no-progress
	grep -q 'synced' tty.err
	! grep -q $'\e' tty.err
	run --separate-stderr cx-sync google-calendar --workspace acme --calendar primary --full
	assert_success
	[[ $stderr != *$'\r'* ]]
}

@test "every event line has the canonical envelope, the calendar as account and a calendar dedupe key" {
	calendar
	gsync > out
	run jq -c 'keys_unsorted' out
	assert_equal "$(sort -u <<< "$output")" \
		'["v","type","dedupe_key","channel","provider","tenant","account","occurred_at","received_at","correlation_id","source","data"]'
	run jq -e -s 'all(.[]; .v == 1 and .channel == "google-calendar" and .provider == "google-calendar"
		and .tenant == "default" and .account == "primary" and .source == {sync: "google-calendar", mode: "full"}
		and (.received_at | test("^[0-9-]{10}T[0-9:]{8}Z$")) and (.correlation_id | startswith("c-")))
		and ([.[].correlation_id] | unique | length == 1)' out
	assert_success
	run jq -r 'select(.data.event_id == "kjatossbl8ctt7ub64363pibek") | .dedupe_key, .occurred_at' out
	assert_output $'calendar:google-calendar:primary:kjatossbl8ctt7ub64363pibek:2702446420000000\n2012-10-26T03:46:50Z'
}

@test "an accounts mapping gives the calendar's events their tenant" {
	calendar
	cx accounts add --channel google-calendar --account primary --tenant clinic > /dev/null
	gsync > out
	run jq -r .tenant out
	assert_equal "$(sort -u <<< "$output")" clinic
}

@test "a second run passes the stored syncToken and emits nothing" {
	calendar
	gsync > /dev/null
	run gsync
	assert_success
	assert_output ""
	assert_equal "$(requests '.query.syncToken == "s:1:19"')" 1
	assert_equal "$(jq -r 'select(.msg == "synced primary") | .mode' sync.log | tail -n 1)" incremental
}

@test "a change at Google gives exactly one updated, with the new etag in its key" {
	calendar
	gsync > /dev/null
	gcal '{"calendar": "primary", "upsert": [{"id": "kjatossbl8ctt7ub64363pibek", "summary": "Meeting with Stan, moved",
		"start": {"dateTime": "2012-10-27T13:00:00-06:00", "timeZone": "America/Chicago"},
		"end": {"dateTime": "2012-10-27T14:00:00-06:00", "timeZone": "America/Chicago"}}]}'
	gsync > out
	assert_equal "$(wc -l < out)" 1
	run jq -r '.type, .dedupe_key, .data.title, .data.start.date_time' out
	assert_output $'calendar.event.updated\ncalendar:google-calendar:primary:kjatossbl8ctt7ub64363pibek:3600000000000020\nMeeting with Stan, moved\n2012-10-27T19:00:00Z'
	run gsync
	assert_output ""
}

@test "a new etag without a visible change updates the mirror and emits nothing" {
	calendar
	gsync > out
	jq -c 'select(.data.event_id == "1evdi8c1s5knlt5ofhncl654u9")' "$FIXTURES/$GFIX" > /dev/null
	item=$(jq -c '.items[] | select(.id == "1evdi8c1s5knlt5ofhncl654u9")' "$FIXTURES/$GFIX")
	gcal "{\"calendar\": \"primary\", \"upsert\": [$item]}"
	run gsync
	assert_success
	assert_output ""
	assert_equal "$(sql "SELECT etag FROM calendar_mirror WHERE event_id = '1evdi8c1s5knlt5ofhncl654u9'")" '"3600000000000020"'
}

@test "a cancellation gives exactly one deleted carrying the last known event" {
	calendar
	gsync > /dev/null
	gcal '{"calendar": "primary", "cancel": ["m24m3crstgci7o468k9hqrr2gk"]}'
	gsync > out
	assert_equal "$(wc -l < out)" 1
	run jq -r '.type, .dedupe_key, .data.status, .data.title, .data.etag' out
	assert_output $'calendar.event.deleted\ncalendar:google-calendar:primary:m24m3crstgci7o468k9hqrr2gk:3600000000000020:deleted\ncancelled\nNo extendedProperties\n"3600000000000020"'
	run gsync
	assert_output ""
	assert_equal "$(mirror_live)" 15
}

@test "an occurrence of a recurring series cancelled at Google gives one deleted naming its series" {
	calendar
	gsync > /dev/null
	gcal '{"calendar": "primary", "upsert": [{"id": "5hni4sj3ql1669otmjg7sn1mok_20250327T130000Z", "status": "cancelled",
		"recurringEventId": "5hni4sj3ql1669otmjg7sn1mok",
		"originalStartTime": {"dateTime": "2025-03-27T08:00:00-05:00", "timeZone": "America/Chicago"}}]}'
	gsync > out
	run jq -c '[.type, .data.recurring_event_id, .data.original_start]' out
	assert_output '["calendar.event.deleted","5hni4sj3ql1669otmjg7sn1mok",{"date_time":"2025-03-27T13:00:00Z","time_zone":"America/Chicago"}]'
}

@test "an event created again after its deletion is created under a key of its own" {
	calendar
	gsync > /dev/null
	item=$(jq -c '.items[] | select(.id == "kjatossbl8ctt7ub64363pibek")' "$FIXTURES/$GFIX")
	gcal '{"calendar": "primary", "cancel": ["kjatossbl8ctt7ub64363pibek"]}'
	gsync > out1
	gcal "{\"calendar\": \"primary\", \"upsert\": [$item]}"
	gsync > out2
	run jq -r '.type + " " + .dedupe_key' out1 out2
	assert_output "calendar.event.deleted calendar:google-calendar:primary:kjatossbl8ctt7ub64363pibek:3600000000000020:deleted
calendar.event.created calendar:google-calendar:primary:kjatossbl8ctt7ub64363pibek:3600000000000021:r2"
}

@test "410 Gone drops the token, resyncs in full, deletes what vanished and creates nothing twice" {
	calendar
	gsync > /dev/null
	gcal '{"calendar": "primary", "invalidate": true, "purge": ["rj00agj04t43hrfmdr1a3udq18", "1evdi8c1s5knlt5ofhncl654u9"],
		"upsert": [{"id": "kjatossbl8ctt7ub64363pibek", "summary": "Changed while the token died",
		"start": {"date": "2026-01-01"}, "end": {"date": "2026-01-02"}}]}'
	run gsync
	assert_success
	echo "$output" > out
	assert_equal "$(count calendar.event.created)" 0
	assert_equal "$(count calendar.event.updated)" 1
	assert_equal "$(jq -r 'select(.type == "calendar.event.deleted") | .data.event_id' out | sort | tr '\n' ' ')" \
		"1evdi8c1s5knlt5ofhncl654u9 rj00agj04t43hrfmdr1a3udq18 "
	assert_equal "$(jq -r 'select(.type == "calendar.event.deleted") | .dedupe_key' out | head -n 1)" \
		calendar:google-calendar:primary:1evdi8c1s5knlt5ofhncl654u9:3291861297900000:deleted
	assert_equal "$(jq -r .source.mode out | sort -u)" full
	assert_equal "$(requests '.status == 410')" 1
	assert_equal "$(requests '.query.syncToken == "s:1:19"')" 1
	jq -c 'select(.level == "warn")' sync.log | grep -q '410 Gone'
	assert_equal "$(sql "SELECT cursor FROM sync_cursors WHERE key = 'acme/primary'")" s:2:20
	run gsync
	assert_output ""
	assert_equal "$(mirror_live)" 14
}

@test "--full lists everything again: an unchanged calendar emits nothing, a vanished event is deleted" {
	calendar
	gsync > /dev/null
	run gsync --full
	assert_success
	assert_output ""
	gcal '{"calendar": "primary", "purge": ["rj00agj04t43hrfmdr1a3udq18"]}'
	run gsync
	assert_output ""
	gsync --full > out
	run jq -r '.type + " " + .data.event_id' out
	assert_output "calendar.event.deleted rj00agj04t43hrfmdr1a3udq18"
	assert_equal "$(requests '(.query.syncToken | not) and (.query.pageToken | not)')" 3
}

@test "Google's own fixture pages, served verbatim, chain by their nextPageToken and nextSyncToken" {
	connect google
	page2=$(jq -r .nextPageToken "$FIXTURES/$GFIX")
	synct=$(jq -r .nextSyncToken "$FIXTURES/$GFINAL")
	gcal "{\"calendar\": \"primary\", \"verbatim\": {\"first\": \"$GFIX\", \"pages\": {\"$page2\": \"$GFINAL\"},
		\"sync\": {\"$synct\": \"google-calendar/compass_events_list_modified_recurring_instance.json\"}}}"
	gsync > out
	assert_equal "$(count calendar.event.created)" 16
	assert_equal "$(requests ".query.pageToken == \"$page2\"")" 1
	assert_equal "$(sql "SELECT cursor FROM sync_cursors")" "$synct"
	gsync > out
	run jq -c '[.type, .data.event_id, .data.recurring_event_id, .data.title]' out
	assert_output '["calendar.event.created","68k0p6ackplecqs9fuvbs1fju0",null,"🍽️ Dishes"]
["calendar.event.created","68k0p6ackplecqs9fuvbs1fju0_20250324T123000Z","68k0p6ackplecqs9fuvbs1fju0","🍽️ Dishes (Modified)"]'
	assert_equal "$(sql "SELECT cursor FROM sync_cursors")" \
		"$(jq -r .nextSyncToken "$FIXTURES/google-calendar/compass_events_list_modified_recurring_instance.json")"
}

@test "events are normalized: UTC times with their zone, all-day dates, organizer, raw recurrence, instances" {
	calendar
	gsync > out
	run jq -c 'select(.data.event_id == "kjatossbl8ctt7ub64363pibek") | .data' out
	assert_output '{"event_id":"kjatossbl8ctt7ub64363pibek","ical_uid":"kjatossbl8ctt7ub64363pibek@google.com","etag":"\"2702446420000000\"","updated_at":"2012-10-26T03:46:50.000Z","status":"confirmed","title":"Meeting with Stan","description":"Sign Lease and pick apartment","location":"PH","start":{"date_time":"2012-10-26T19:00:00Z","time_zone":"America/Chicago"},"end":{"date_time":"2012-10-26T20:00:00Z","time_zone":"America/Chicago"},"all_day":false,"attendees":[],"organizer":{"email":"foo@gmail.com","name":"foo user"},"recurrence":[]}'
	run jq -c 'select(.data.event_id == "1evdi8c1s5knlt5ofhncl654u9") | [.data.all_day, .data.start, .data.end]' out
	assert_output '[true,{"date":"2022-02-22"},{"date":"2022-02-23"}]'
	run jq -c 'select(.data.event_id == "15chil19v5nskedvmo93ei4nl8") | .data.recurrence' out
	assert_output '["RRULE:FREQ=DAILY;UNTIL=20250916T225959Z"]'
	run jq -c 'select(.data.event_id == "15chil19v5nskedvmo93ei4nl8_20250907T013000Z") | [.data.recurring_event_id, .data.start.date_time]' out
	assert_output '["15chil19v5nskedvmo93ei4nl8","2025-09-07T01:30:00Z"]'
}

@test "attendees keep their e-mail and response status; one without an answer needs action" {
	calendar
	gsync > /dev/null
	gcal '{"calendar": "primary", "upsert": [{"id": "meeting-with-guests", "summary": "Review",
		"start": {"dateTime": "2026-11-24T09:00:00Z"}, "end": {"dateTime": "2026-11-24T10:00:00Z"},
		"organizer": {"email": "jane.doe@example.com"},
		"attendees": [{"email": "a@example.com", "responseStatus": "accepted", "displayName": "A"},
			{"email": "b@example.com"}, {"displayName": "a room without address"}]}]}'
	gsync > out
	run jq -c '[.type, .data.attendees, .data.organizer, .data.start]' out
	assert_output '["calendar.event.created",[{"email":"a@example.com","response_status":"accepted"},{"email":"b@example.com","response_status":"needsAction"}],{"email":"jane.doe@example.com"},{"date_time":"2026-11-24T09:00:00Z"}]'
}

@test "the Google access token comes from the credential store" {
	calendar
	gsync > /dev/null
	want=$(cx-oauth token --provider google --workspace acme | tr -d '\n' | sha256sum | cut -c1-16)
	assert_equal "$(jq -r .bearer "$GREC" | sort -u)" "$want"
}

@test "kill -9 while paging leaves token and mirror as they were; the next run emits each event once" {
	calendar 3
	gcal '{"delay_ms": 5000}'
	cx-sync google-calendar --workspace acme --calendar primary > out1 2> /dev/null 3>&- &
	pid=$!
	track "$pid"
	wait_for 10 requested 1
	sleep 0.2
	kill -9 "$pid"
	wait "$pid" 2> /dev/null || true
	assert_equal "$(wc -l < out1)" 0
	assert_equal "$(sql 'SELECT count(*) FROM sync_cursors')" 0
	assert_equal "$(sql 'SELECT count(*) FROM calendar_mirror')" 0
	gcal '{"delay_ms": 0}'
	# the dead run's lease does not hold the next one back
	gsync > out
	assert_equal "$(count calendar.event.created)" 16
	run gsync
	assert_output ""
}

@test "kill -9 at random points of cx-sync | cx-dedupe never loses or repeats a change" {
	calendar 3
	gcal '{"delay_ms": 20}'
	mkfifo pipe
	killed=0
	for i in $(seq 8); do
		gcal "{\"calendar\": \"primary\", \"upsert\": [{\"id\": \"ev$i\", \"summary\": \"n$i\",
			\"start\": {\"date\": \"2026-12-0$i\"}, \"end\": {\"date\": \"2026-12-1$i\"}},
			{\"id\": \"ev$((i - 1))\", \"summary\": \"n$i again\",
			\"start\": {\"date\": \"2026-12-0$i\"}, \"end\": {\"date\": \"2026-12-1$i\"}}]}"
		cx-dedupe < pipe >> all.out 2> /dev/null 3>&- &
		dedupe=$!
		cx-sync google-calendar --workspace acme --calendar primary > pipe 2> /dev/null 3>&- &
		pid=$!
		# odd runs are killed at a random point, even ones may finish; never
		# before cx-sync opened the pipe (a kill between the fork and the
		# open would leave cx-dedupe waiting for a writer for ever)
		if [ $((i % 2)) -eq 1 ]; then
			for _ in $(seq 500); do
				case $(readlink "/proc/$pid/exe" 2> /dev/null) in */cx-sync | "") break ;; esac
				sleep 0.01
			done
			sleep "0.$((RANDOM % 3))$((RANDOM % 10))"
			kill -9 "$pid" 2> /dev/null || true
		fi
		rc=0
		wait "$pid" 2> /dev/null || rc=$?
		[ "$rc" -ne 137 ] || killed=$((killed + 1))
		wait "$dedupe"
	done
	echo "# $killed of 8 runs killed" >&3
	gcal '{"delay_ms": 0}'
	gsync | cx-dedupe >> all.out
	# nothing twice
	assert_equal "$(jq -r .dedupe_key all.out | sort | uniq -d)" ""
	# nothing lost: the mirror is Google's state, and each live event's
	# current version was emitted
	sql "SELECT 'calendar:google-calendar:primary:' || event_id || ':' || trim(etag, '\"')
		FROM calendar_mirror WHERE status <> 'cancelled' AND event_id LIKE 'ev%'" | sort > want
	jq -r 'select(.data.event_id | startswith("ev")) | .dedupe_key' all.out | sort > got
	assert_equal "$(comm -23 want got)" ""
	assert_equal "$(wc -l < want)" 9
	run gsync
	assert_output ""
}

@test "a second run of the same calendar while one runs exits 75 and emits nothing" {
	calendar 10
	gcal '{"delay_ms": 1500}'
	gsync > out1 3>&- &
	pid=$!
	track "$pid"
	wait_for 10 requested 1
	run gsync
	assert_failure 75
	assert_output ""
	grep -q 'already running' sync.log
	wait "$pid"
	assert_equal "$(count calendar.event.created out1)" 16
}

@test "an upstream 503 exits 75, counts the error and records nothing" {
	calendar
	gcal '{"fail": {"status": 503, "times": 1}}'
	run gsync
	assert_failure 75
	assert_output ""
	assert_equal "$(sql 'SELECT count(*) FROM sync_cursors')" 0
	assert_equal "$(sql "SELECT value FROM metrics WHERE name = 'cx_sync_errors_total' AND labels = 'source=\"google-calendar\",status=\"503\"'")" 1
	gsync > out
	assert_equal "$(wc -l < out)" 16
}

@test "metrics count runs by mode, changes by kind, latency and errors by upstream status" {
	calendar
	gsync > /dev/null
	gcal '{"calendar": "primary", "cancel": ["m24m3crstgci7o468k9hqrr2gk"], "invalidate": true}'
	gsync > /dev/null
	gsync > /dev/null
	run cx metrics
	assert_line 'cx_sync_runs_total{source="google-calendar",mode="full"} 2'
	assert_line 'cx_sync_runs_total{source="google-calendar",mode="incremental"} 1'
	assert_line 'cx_sync_changes_total{source="google-calendar",change="created"} 16'
	assert_line 'cx_sync_changes_total{source="google-calendar",change="deleted"} 1'
	assert_line 'cx_sync_errors_total{source="google-calendar",status="410"} 1'
	assert_line 'cx_sync_latency_seconds_count{source="google-calendar"} 3'
	assert_line 'cx_sync_latency_seconds_bucket{source="google-calendar",le="+Inf"} 3'
}

@test "a workspace without a Google credential exits 77 and sends nothing" {
	run --separate-stderr cx-sync google-calendar --workspace nobody --calendar primary
	assert_failure 77
	assert_equal "$(requests 'true')" 0
}

@test "a calendar Google does not know exits 78" {
	calendar
	run --separate-stderr cx-sync google-calendar --workspace acme --calendar other@example.com
	assert_failure 78
	assert_equal "$(requests '.path == "/calendar/v3/calendars/other%40example.com/events"')" 1
}

@test "usage errors exit 64 before anything is opened" {
	run cx-sync google-calendar --calendar primary
	assert_failure 64
	run cx-sync google-calendar --workspace acme --calendar primary --page-size 0
	assert_failure 64
	run cx-sync frobnicate
	assert_failure 64
	run cx-sync watch stop
	assert_failure 64
	[ ! -e "$CX_DB" ]
}

# ---- push channels -------------------------------------------------------------

@test "watch start asks Google for a channel and keeps only the token's hash" {
	connect google
	gcal '{"calendar": "primary"}'
	run --separate-stderr cx-sync watch start --workspace acme --calendar primary \
		--address https://hooks.example.com/webhooks/google-calendar --ttl 3600
	assert_success
	id=$(jq -r .channel_id <<< "$output")
	[[ $id =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]]
	run jq -c 'del(.channel_id, .resource_id, .expiration, .created_at)' <<< "$output"
	assert_output '{"workspace":"acme","calendar_id":"primary","address":"https://hooks.example.com/webhooks/google-calendar","ttl":3600,"status":"active","replaced_by":null,"stopped_at":null}'
	token=$(jq -r 'select(.path | endswith("/events/watch")) | .body.token' "$GREC")
	[ "${#token}" -ge 43 ]
	assert_equal "$(jq -r 'select(.path | endswith("/events/watch")) | [.body.type, .body.params.ttl, .body.id] | join(" ")' "$GREC")" "web_hook 3600 $id"
	assert_equal "$(sql "SELECT token_hash FROM watch_channels")" "$(printf %s "$token" | sha256sum | cut -d' ' -f1)"
	! sqlite3 "$CX_DB" .dump | grep -qF "$token"
	assert_equal "$(sql "SELECT action || ' ' || subject FROM audit WHERE action LIKE 'watch%'")" "watch_started $id"
}

@test "watch renew replaces the channels that expire within the window and stops the old ones" {
	connect google
	now=$(date +%s)
	export CX_NOW=$now
	gcal "{\"calendar\": \"primary\", \"now\": $now}"
	old=$(cx-sync watch start --workspace acme --calendar primary --address https://h.example.com/w --ttl 3600 | jq -r .channel_id)
	run --separate-stderr cx-sync watch renew --before 600
	assert_success
	assert_output ""
	cx-sync watch renew --before 7200 > out
	new=$(jq -r .channel_id out)
	assert_equal "$(jq -r '.replaces + " " + .status' out)" "$old active"
	[ "$new" != "$old" ]
	assert_equal "$(requests ".path == \"/calendar/v3/channels/stop\" and .body.id == \"$old\" and .status == 204")" 1
	assert_equal "$(requests '.path | endswith("/events/watch")')" 2
	assert_equal "$(requests '(.path | endswith("/events/watch")) and .body.params.ttl == "3600"')" 2
	run cx-sync watch list
	assert_equal "$(jq -r .channel_id <<< "$output")" "$new"
	run cx-sync watch list --all
	assert_equal "$(jq -r "select(.channel_id == \"$old\") | .status + \" \" + .replaced_by" <<< "$output")" "stopped $new"
	assert_equal "$(sql "SELECT action FROM audit WHERE action LIKE 'watch%' ORDER BY id" | tr '\n' ' ')" \
		"watch_started watch_renewed watch_stopped "
}

@test "watch stop stops the channel at Google and here; again changes nothing; unknown exits 65" {
	connect google
	gcal '{"calendar": "primary"}'
	id=$(cx-sync watch start --workspace acme --calendar primary --address https://h.example.com/w | jq -r .channel_id)
	run cx-sync watch stop "$id"
	assert_success
	assert_equal "$(jq -r .status <<< "$output")" stopped
	run cx-sync watch stop "$id"
	assert_success
	assert_equal "$(requests '.path == "/calendar/v3/channels/stop"')" 1
	run cx-sync watch list
	assert_output ""
	run cx-sync watch stop 00000000-0000-4000-8000-000000000000
	assert_failure 65
}

@test "watch list --table prints a header and a row per active channel" {
	connect google
	gcal '{"calendar": "primary"}'
	cx-sync watch start --workspace acme --calendar primary --address https://h.example.com/w > /dev/null
	cx-sync watch start --workspace acme --calendar primary --address https://h.example.com/w > /dev/null
	run cx-sync watch list --table
	assert_success
	assert_equal "${#lines[@]}" 3
	assert_line --index 0 --regexp '^CHANNEL +WORKSPACE +CALENDAR +EXPIRATION +STATUS$'
}

# ---- notifications: cx-ingest, cx-parse, --requests ------------------------------

# watched_server: cx-ingest serve with only its google-calendar route (no
# Meta secret needed), a channel whose address is its
# /webhooks/google-calendar, and CHANNEL set.
watched_server() {
	unset CX_META_APP_SECRET
	start_server --routes google-calendar
	CHANNEL=$(cx-sync watch start --workspace acme --calendar primary \
		--address "$BASE/webhooks/google-calendar" | jq -r .channel_id)
	[ -n "$CHANNEL" ]
}

# notify JSON: the mock sends a push notification; prints its HTTP status.
notify() {
	ctl "$G" "{\"notify\": $1}" | jq -r .status
}

# notified_sync: Google's first notification of a channel (state "sync")
# is accepted.
notified_sync() {
	assert_equal "$(notify "{\"channel\": \"$CHANNEL\", \"state\": \"sync\"}")" 200
}

@test "a notification from Google is stored, parsed into calendar.sync.requested, and --requests syncs" {
	calendar
	watched_server
	notified_sync
	gsync > /dev/null
	gcal '{"calendar": "primary", "cancel": ["m24m3crstgci7o468k9hqrr2gk"]}'
	assert_equal "$(notify "{\"channel\": \"$CHANNEL\", \"state\": \"exists\"}")" 200
	cx-ingest drain --consumer cal | cx-parse > parsed 2> /dev/null || true
	assert_equal "$(count calendar.sync.requested parsed)" 1
	run jq -c 'select(.type == "calendar.sync.requested") | [.account, .data.channel_id, .data.resource_state, .dedupe_key]' parsed
	assert_output "[\"primary\",\"$CHANNEL\",\"exists\",\"calendar:google-calendar:$CHANNEL:notify:2\"]"
	cx-sync --requests < parsed > out
	run jq -r 'select(.type | startswith("calendar.event")) | .type + " " + .data.event_id' out
	assert_output "calendar.event.deleted m24m3crstgci7o468k9hqrr2gk"
	assert_equal "$(count delivery.done)" 2
}

@test "notifications with a wrong token, an unknown channel or another resource are refused and not stored" {
	calendar
	watched_server
	notified_sync
	before=$(inbox_count)
	status=$(notify "{\"channel\": \"$CHANNEL\", \"token\": \"forged\"}")
	[[ $status == 401 || $status == 404 ]]
	status=$(notify "{\"channel\": \"$CHANNEL\", \"resource_id\": \"another-resource\"}")
	[[ $status == 401 || $status == 404 ]]
	status=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'X-Goog-Channel-ID: 5e1f0c3a-0000-4000-8000-000000000000' \
		-H 'X-Goog-Resource-ID: r' -H 'X-Goog-Channel-Token: t' -H 'X-Goog-Resource-State: exists' \
		-H 'X-Goog-Message-Number: 1' "$BASE/webhooks/google-calendar")
	[[ $status == 401 || $status == 404 ]]
	assert_equal "$(inbox_count)" "$before"
	assert_equal "$(requests '.path | endswith("/events")')" 0
}

@test "a stopped channel's notifications are refused" {
	calendar
	watched_server
	notified_sync
	cx-sync watch stop "$CHANNEL" > /dev/null
	before=$(inbox_count)
	status=$(notify "{\"channel\": \"$CHANNEL\", \"state\": \"exists\"}")
	[[ $status == 401 || $status == 404 ]]
	assert_equal "$(inbox_count)" "$before"
}

@test "the google-calendar mapping turns each fixture notification into exactly its golden lines" {
	dir=$FIXTURES/google-calendar
	while read -r f; do
		c=${f%.json}
		c=${c%.body}
		jq -c '{v: 1, type: "webhook.received", inbox_id: 1, provider: "google-calendar",
			correlation_id: "c-fixture", received_at: "2026-11-23T10:00:00Z", body: .}' "$dir/$f" > in
		rc=0
		cx-parse < in > out 2> err || rc=$?
		grep -v '"type":"delivery.done"' out > events || true
		diff -u "$dir/$c.expected.ndjson" events
		jq -c 'select(.msg | startswith("parse.error")) | {error: .reason, path}' err > errors
		diff -u "$dir/$c.errors.ndjson" errors
		if [ -s "$dir/$c.errors.ndjson" ]; then assert_equal "$rc" 65; else assert_equal "$rc" 0; fi
	done < "$dir/INPUTS"
}

# request CHANNEL CORRELATION INBOX_ID: a calendar.sync.requested line.
request() {
	jq -nc --arg ch "$1" --arg c "$2" --argjson id "$3" '{v: 1, type: "calendar.sync.requested",
		dedupe_key: "calendar:google-calendar:\($ch):notify:\($id)", channel: "google-calendar",
		provider: "google-calendar", tenant: "default", account: "primary", occurred_at: null,
		received_at: "2026-11-23T10:00:00Z", correlation_id: $c, source: {inbox_id: $id},
		data: {calendar_id: "primary", channel_id: $ch, resource_id: "r", resource_state: "exists"}}'
}

@test "--requests syncs each requested calendar once and passes every other line through in order" {
	calendar
	id=$(cx-sync watch start --workspace acme --calendar primary --address https://h.example.com/w | jq -r .channel_id)
	{
		echo '{"type":"message","n":1}'
		request "$id" c-first 7
		request "$id" c-second 8
		echo '{"type":"delivery.done","correlation_id":"c-first","source":{"inbox_id":7}}'
		echo '{"type":"other","n":2}'
	} > in
	cx-sync --requests < in > out
	assert_equal "$(count calendar.event.created)" 16
	run jq -c 'select(.type | startswith("calendar.event") | not)' out
	assert_output '{"type":"message","n":1}
{"type":"delivery.done","correlation_id":"c-first","source":{"inbox_id":7}}
{"type":"other","n":2}'
	run jq -c 'select(.type == "calendar.event.created") | [.correlation_id, .source]' out
	assert_equal "$(sort -u <<< "$output")" '["c-first",{"sync":"google-calendar","mode":"full","inbox_id":7}]'
	assert_equal "$(requests 'true')" 5
}

@test "--requests skips unknown channels, and a failed sync exits 1 and holds its delivery's marker back" {
	calendar
	id=$(cx-sync watch start --workspace acme --calendar primary --address https://h.example.com/w | jq -r .channel_id)
	gcal '{"fail": {"status": 503, "times": 1}}'
	{
		request 00000000-0000-4000-8000-000000000000 c-unknown 1
		request "$id" c-failing 2
		echo '{"type":"delivery.done","correlation_id":"c-failing","source":{"inbox_id":2}}'
		echo '{"type":"delivery.done","correlation_id":"c-unknown","source":{"inbox_id":1}}'
	} > in
	run --separate-stderr cx-sync --requests < in
	assert_failure 1
	assert_output '{"type":"delivery.done","correlation_id":"c-unknown","source":{"inbox_id":1}}'
	grep -q '"error_code":"unknown_channel"' <<< "$stderr"
}

# ---- X mentions ------------------------------------------------------------------

x_account() {
	connect x
	ctl "$XM" "{\"user\": \"$X_USER\", \"load\": \"x/tweepy_get_2_users_id_mentions.json\", \"page_size\": ${1:-4}}" > /dev/null
}

xrequests() {
	[ -f "$XREC" ] || { echo 0; return; }
	jq -c "select($1)" "$XREC" | wc -l
}

@test "x-mentions emits every mention oldest first across pages and stores the newest id" {
	x_account 4
	cx-sync x-mentions --workspace acme > out
	assert_equal "$(wc -l < out)" 10
	assert_equal "$(jq -r .data.post_id out | tr '\n' ' ')" \
		"$(jq -r '[.data[].id] | reverse | join(" ")' "$FIXTURES/x/tweepy_get_2_users_id_mentions.json") "
	run jq -c 'select(.data.post_id == "1578516220231397376") | [.type, .dedupe_key, .channel, .provider, .account, .data]' out
	assert_output '["x.mention","x:1072250532645998596:mention:1578516220231397376","x","x","1072250532645998596",{"post_id":"1578516220231397376","text":"@Twitter make 🤨 an available reaction emoji in dms"}]'
	assert_equal "$(xrequests '.path == "/2/users/1072250532645998596/mentions"')" 3
	assert_equal "$(xrequests '.query.pagination_token')" 2
	assert_equal "$(xrequests '.query."tweet.fields" == "author_id,conversation_id,created_at"')" 3
	assert_equal "$(xrequests '.query.expansions == "author_id" and .query."user.fields" == "username"')" 3
	assert_equal "$(sql "SELECT cursor FROM sync_cursors WHERE source = 'x-mentions'")" 1578516295611748353
}

@test "the next poll passes since_id and emits only the new mention" {
	x_account
	cx-sync x-mentions --workspace acme > /dev/null 2>&1
	run --separate-stderr cx-sync x-mentions --workspace acme
	assert_output ""
	ctl "$XM" '{"users": [{"id": "7", "name": "Other", "username": "other"},
		{"id": "42", "name": "Forty Two", "username": "fortytwo"}],
		"add": [{"id": "1578516295611748999", "text": "@TweepyDev hello", "author_id": "42",
		"conversation_id": "1578516295611748999", "created_at": "2022-10-08T00:00:00.000Z"}]}' > /dev/null
	cx-sync x-mentions --workspace acme > out
	run jq -c '[.occurred_at, .data]' out
	assert_output '["2022-10-08T00:00:00Z",{"post_id":"1578516295611748999","author_id":"42","author_username":"fortytwo","text":"@TweepyDev hello","conversation_id":"1578516295611748999","created_at":"2022-10-08T00:00:00Z"}]'
	assert_equal "$(xrequests '.query.since_id == "1578516295611748353"')" 2
}

@test "a 429 exits 75, keeps X's reset, asks nothing before it and resumes after it" {
	x_account
	now=$(date +%s)
	ctl "$XM" "{\"rate_limit\": {\"times\": 1, \"reset\": $((now + 900))}}" > /dev/null
	run --separate-stderr cx-sync x-mentions --workspace acme
	assert_failure 75
	assert_output ""
	grep -q 'rate limited by X until' <<< "$stderr"
	assert_equal "$(sql "SELECT not_before FROM sync_cursors WHERE source = 'x-mentions'")" $((now + 900))
	run --separate-stderr cx-sync x-mentions --workspace acme
	assert_failure 75
	assert_equal "$(xrequests 'true')" 1
	CX_NOW=$((now + 901)) cx-sync x-mentions --workspace acme > out
	assert_equal "$(wc -l < out)" 10
	assert_equal "$(sql "SELECT value FROM metrics WHERE name = 'cx_sync_errors_total' AND labels LIKE '%x-mentions%429%'")" 1
}

# mentions N M: the post ids of fixture entries N to M-1 (newest first there),
# oldest first, as the lines of a poll list them.
mentions() {
	jq -r "[.data[$1:$2][].id] | reverse | join(\" \")" "$FIXTURES/x/tweepy_get_2_users_id_mentions.json"
}

@test "a page that spends X's rate limit ends the poll: what came is emitted, the rest after the reset" {
	x_account 4
	now=$(date +%s)
	newest=$(mentions 0 1)
	ctl "$XM" "{\"window\": {\"remaining\": 2, \"reset\": $((now + 900))}}" > /dev/null
	run --separate-stderr cx-sync x-mentions --workspace acme
	assert_failure 75
	echo "$output" > out1
	grep -q 'rate limited by X until' <<< "$stderr"
	# two pages of four, and no third request that would get 429
	assert_equal "$(jq -r .data.post_id out1 | tr '\n' ' ')" "$(mentions 0 8) "
	assert_equal "$(xrequests 'true')" 2
	assert_equal "$(xrequests '.status == 429')" 0
	assert_equal "$(sql "SELECT cursor, mode, not_before FROM sync_cursors WHERE source = 'x-mentions'")" \
		"$newest|gap::$(mentions 7 8)|$((now + 900))"
	run --separate-stderr cx-sync x-mentions --workspace acme
	assert_failure 75
	assert_equal "$(xrequests 'true')" 2
	ctl "$XM" "{\"window\": {\"remaining\": 450, \"reset\": $((now + 1800))}}" > /dev/null
	CX_NOW=$((now + 901)) cx-sync x-mentions --workspace acme > out2
	assert_equal "$(jq -r .data.post_id out2 | tr '\n' ' ')" "$(mentions 8 10) "
	assert_equal "$(xrequests ".query.until_id == \"$(mentions 7 8)\" and (.query.since_id | not)")" 1
	assert_equal "$(xrequests ".query.since_id == \"$newest\" and (.query.until_id | not)")" 1
	assert_equal "$(sql "SELECT cursor, ifnull(mode, '-'), ifnull(not_before, '-') FROM sync_cursors WHERE source = 'x-mentions'")" \
		"$newest|-|-"
	assert_equal "$(cat out1 out2 | jq -r .dedupe_key | sort -u | wc -l)" 10
	run --separate-stderr cx-sync x-mentions --workspace acme
	assert_success
	assert_output ""
}

@test "a 429 in the middle of a poll keeps the pages before it; after the reset only the rest is asked for" {
	x_account 4
	now=$(date +%s)
	ctl "$XM" "{\"rate_limit\": {\"after\": 1, \"times\": 1, \"reset\": $((now + 900))}}" > /dev/null
	run --separate-stderr cx-sync x-mentions --workspace acme
	assert_failure 75
	assert_equal "$(jq -r .data.post_id <<< "$output" | tr '\n' ' ')" "$(mentions 0 4) "
	assert_equal "$(xrequests '.status == 429')" 1
	assert_equal "$(sql "SELECT mode, not_before FROM sync_cursors WHERE source = 'x-mentions'")" \
		"gap::$(mentions 3 4)|$((now + 900))"
	CX_NOW=$((now + 901)) cx-sync x-mentions --workspace acme > out
	assert_equal "$(jq -r .data.post_id out | tr '\n' ' ')" "$(mentions 4 10) "
	assert_equal "$(xrequests ".query.until_id == \"$(mentions 3 4)\"")" 2
	assert_equal "$(sql "SELECT value FROM metrics WHERE name = 'cx_sync_errors_total' AND labels LIKE '%x-mentions%429%'")" 1
}

@test "a last page that spends the rate limit completes the poll; the next run waits for the reset" {
	x_account 4
	now=$(date +%s)
	ctl "$XM" "{\"window\": {\"remaining\": 3, \"reset\": $((now + 900))}}" > /dev/null
	cx-sync x-mentions --workspace acme > out 2> /dev/null
	assert_equal "$(wc -l < out)" 10
	assert_equal "$(sql "SELECT cursor, ifnull(mode, '-'), not_before FROM sync_cursors WHERE source = 'x-mentions'")" \
		"$(mentions 0 1)|-|$((now + 900))"
	run --separate-stderr cx-sync x-mentions --workspace acme
	assert_failure 75
	assert_output ""
	assert_equal "$(xrequests 'true')" 3
}

@test "x-mentions without a connected X account exits 78" {
	run --separate-stderr cx-sync x-mentions --workspace acme
	assert_failure 78
	assert_equal "$(xrequests 'true')" 0
}

# ---- CalDAV against Radicale and xandikos -------------------------------------------

free_port() {
	$PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# dav_server NAME: what starting CalDAV server NAME begins with (skipped
# when it is not installed); sets SERVER, DAV_PORT and ORIGIN.
dav_server() {
	command -v "$1" > /dev/null || skip "$1 is not installed"
	SERVER=$1
	DAV_PORT=$(free_port)
	ORIGIN=http://127.0.0.1:$DAV_PORT
}

# start_radicale: a Radicale server for this test (htpasswd, user alice), with a
# calendar collection; sets SERVER, ORIGIN (scheme://host:port), CAL (the
# collection's URL) and RADICALE_STORE.
start_radicale() {
	dav_server radicale
	RADICALE_STORE=$BATS_TEST_TMPDIR/radicale
	mkdir -p "$RADICALE_STORE"
	printf 'alice:secret\n' > "$BATS_TEST_TMPDIR/htpasswd"
	radicale --server-hosts "127.0.0.1:$DAV_PORT" --storage-filesystem-folder "$RADICALE_STORE" \
		--auth-type htpasswd --auth-htpasswd-filename "$BATS_TEST_TMPDIR/htpasswd" \
		--auth-htpasswd-encryption plain --rights-type owner_only --logging-level warning \
		> radicale.log 2>&1 3>&- &
	track $!
	wait_for 10 curl -s -o /dev/null "$ORIGIN/"
	CAL=$ORIGIN/alice/cal/
	[ "$(curl -s -o /dev/null -w '%{http_code}' -u alice:secret -X MKCALENDAR "$CAL")" = 201 ]
	export CX_CALDAV_PASSWORD=secret
}

# start_xandikos: a xandikos server for this test (no authentication: the
# credentials cx-sync has are never asked for), with its default calendar;
# sets SERVER, ORIGIN, CAL and XANDIKOS_STORE.
start_xandikos() {
	dav_server xandikos
	XANDIKOS_STORE=$BATS_TEST_TMPDIR/xandikos
	xandikos --defaults -d "$XANDIKOS_STORE" -l 127.0.0.1 -p "$DAV_PORT" > xandikos.log 2>&1 3>&- &
	track $!
	CAL=$ORIGIN/user/calendars/calendar/
	wait_for 20 curl -sf -o /dev/null "$CAL"
	export CX_CALDAV_PASSWORD=secret
}

# forget_tokens: the server no longer knows the sync tokens it gave.
# Radicale loses its token cache (it answers 403 valid-sync-token);
# xandikos's tokens are the commits of the collection's git history, which
# is squashed into one new commit (it answers 500).
forget_tokens() {
	case $SERVER in
	radicale) rm -rf "$RADICALE_STORE"/collection-root/alice/cal/.Radicale.cache/sync-token ;;
	xandikos)
		local g=(git -C "$XANDIKOS_STORE/user/calendars/calendar" -c user.name=cx
			-c user.email=cx@example.com)
		"${g[@]}" reset -q --soft "$("${g[@]}" commit-tree -m squashed 'HEAD^{tree}')"
		"${g[@]}" reflog expire --expire=now --all
		"${g[@]}" gc -q --prune=now ;;
	esac
}

# ics NAME: writes NAME.ics, an iCalendar object of these tests (made here:
# no CalDAV payloads among the shared fixtures). dishes: a daily series in
# America/Chicago with an EXDATE, an organizer, two attendees and one
# overridden occurrence; holiday: an all-day event with escaped text.
ics() {
	case $1 in
	dishes) printf '%s\r\n' BEGIN:VCALENDAR VERSION:2.0 'PRODID:-//cx tests//EN' \
		BEGIN:VEVENT UID:dishes@example.com DTSTAMP:20250323T104135Z \
		LAST-MODIFIED:20250323T104135Z 'DTSTART;TZID=America/Chicago:20250324T073000' \
		'DTEND;TZID=America/Chicago:20250324T081500' SUMMARY:Dishes RRULE:FREQ=DAILY \
		'EXDATE;TZID=America/Chicago:20250326T073000' \
		'ORGANIZER;CN=Test User:mailto:test.user@example.com' \
		'ATTENDEE;PARTSTAT=ACCEPTED:mailto:a@example.com' ATTENDEE:mailto:b@example.com \
		END:VEVENT BEGIN:VEVENT UID:dishes@example.com \
		'RECURRENCE-ID;TZID=America/Chicago:20250325T073000' DTSTAMP:20250323T104135Z \
		'DTSTART;TZID=America/Chicago:20250325T123000' \
		'DTEND;TZID=America/Chicago:20250325T131500' 'SUMMARY:Dishes (Modified)' \
		END:VEVENT END:VCALENDAR ;;
	holiday) printf '%s\r\n' BEGIN:VCALENDAR VERSION:2.0 'PRODID:-//cx tests//EN' \
		BEGIN:VEVENT UID:holiday@example.com DTSTAMP:20250101T000000Z \
		'DTSTART;VALUE=DATE:20250704' SUMMARY:Holiday \
		'DESCRIPTION:Line one\nLine two\, with comma' LOCATION:Home \
		END:VEVENT END:VCALENDAR ;;
	meeting) printf '%s\r\n' BEGIN:VCALENDAR VERSION:2.0 'PRODID:-//cx tests//EN' \
		BEGIN:VEVENT UID:meeting@example.com DTSTAMP:20250101T000000Z \
		'DTSTART;TZID=Europe/Berlin:20250707T100000' \
		'DTEND;TZID=Europe/Berlin:20250707T110000' SUMMARY:Meeting \
		END:VEVENT END:VCALENDAR ;;
	standup) printf '%s\r\n' BEGIN:VCALENDAR VERSION:2.0 'PRODID:-//cx tests//EN' \
		BEGIN:VEVENT UID:standup@example.com DTSTAMP:20250101T000000Z \
		DTSTART:20250106T083000Z DTEND:20250106T084500Z SUMMARY:Standup \
		'RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR' END:VEVENT END:VCALENDAR ;;
	lunch) printf '%s\r\n' BEGIN:VCALENDAR VERSION:2.0 'PRODID:-//cx tests//EN' \
		BEGIN:VEVENT UID:lunch@example.com DTSTAMP:20250101T000000Z \
		DTSTART:20250708T110000Z DTEND:20250708T120000Z SUMMARY:Lunch \
		END:VEVENT END:VCALENDAR ;;
	# meeting in a zone of its own whose observance recurs monthly: both
	# servers store it, cx-sync refuses to expand it
	monthly) printf '%s\r\n' BEGIN:VCALENDAR VERSION:2.0 'PRODID:-//cx tests//EN' \
		BEGIN:VTIMEZONE TZID:Odd BEGIN:STANDARD DTSTART:19700101T000000 \
		RRULE:FREQ=MONTHLY TZOFFSETFROM:+0100 TZOFFSETTO:+0000 END:STANDARD \
		END:VTIMEZONE BEGIN:VEVENT UID:meeting@example.com DTSTAMP:20250102T000000Z \
		'DTSTART;TZID=Odd:20250707T100000' 'DTEND;TZID=Odd:20250707T110000' \
		SUMMARY:Meeting END:VEVENT END:VCALENDAR ;;
	# an observance every second since 1970: libical would walk every one
	secondly) printf '%s\r\n' BEGIN:VCALENDAR VERSION:2.0 'PRODID:-//cx tests//EN' \
		BEGIN:VTIMEZONE TZID:Evil BEGIN:STANDARD DTSTART:19700101T000000 \
		RRULE:FREQ=SECONDLY TZOFFSETFROM:+0100 TZOFFSETTO:+0000 END:STANDARD \
		END:VTIMEZONE BEGIN:VEVENT UID:meeting@example.com DTSTAMP:20250102T000000Z \
		'DTSTART;TZID=Evil:20250707T100000' SUMMARY:Meeting END:VEVENT END:VCALENDAR ;;
	esac > "$1.ics"
}

# put NAME [SED-EXPR] [KIND]: PUTs NAME.ics (of ics KIND, default NAME,
# edited by SED-EXPR) into the calendar.
put() {
	local code kind=${3:-$1}
	ics "$kind"
	[ -z "${2:-}" ] || sed -i -e "$2" "$kind.ics"
	code=$(curl -s -o /dev/null -w '%{http_code}' -u alice:secret -T "$kind.ics" \
		-H 'Content-Type: text/calendar' "$CAL$1.ics")
	[ "$code" = 201 ] || [ "$code" = 204 ]
}

del() {
	curl -s -o /dev/null -u alice:secret -X DELETE "$CAL$1.ics"
}

dav() {
	cx-sync caldav --url "$CAL" --user alice "$@" 2>> sync.log
}

# crud SYNC: creates, modifies and deletes events with curl, running the
# sync command SYNC (dav or pdav) between the steps; each run must emit
# exactly the changes, and a run with none nothing.
crud() {
	put dishes
	put holiday
	"$1" > out
	run jq -r '.type + " " + .data.event_id' out
	assert_output "calendar.event.created dishes@example.com
calendar.event.created dishes@example.com_20250325T123000Z
calendar.event.created holiday@example.com"
	run "$1"
	assert_success
	assert_output ""
	put holiday 's/^SUMMARY:Holiday/SUMMARY:Independence Day/'
	"$1" > out
	run jq -r '.type + " " + .data.event_id + " " + .data.title' out
	assert_output "calendar.event.updated holiday@example.com Independence Day"
	del dishes
	"$1" > out
	run jq -r '.type + " " + .data.event_id + " " + .data.status' out
	assert_output "calendar.event.deleted dishes@example.com cancelled
calendar.event.deleted dishes@example.com_20250325T123000Z cancelled"
	run "$1"
	assert_output ""
}

@test "caldav: create, modify and delete with curl; each run emits exactly the changes" {
	start_radicale
	crud dav
	assert_equal "$(sql "SELECT mode FROM sync_cursors WHERE source = 'caldav'")" sync-collection
	[[ $(sql "SELECT cursor FROM sync_cursors WHERE source = 'caldav'") == http://radicale.org/ns/sync/* ]]
}

@test "caldav: iCalendar becomes CalendarEvent: TZID, all-day, RRULE/EXDATE, instances, attendees, cancelled" {
	start_radicale
	put dishes
	put holiday
	dav > out
	run jq -c 'select(.data.event_id == "dishes@example.com") | .data | del(.etag)' out
	assert_output '{"event_id":"dishes@example.com","ical_uid":"dishes@example.com","updated_at":"2025-03-23T10:41:35Z","status":"confirmed","title":"Dishes","start":{"date_time":"2025-03-24T12:30:00Z","time_zone":"America/Chicago"},"end":{"date_time":"2025-03-24T13:15:00Z","time_zone":"America/Chicago"},"all_day":false,"attendees":[{"email":"a@example.com","response_status":"accepted"},{"email":"b@example.com","response_status":"needsAction"}],"organizer":{"email":"test.user@example.com","name":"Test User"},"recurrence":["EXDATE;TZID=America/Chicago:20250326T073000","RRULE:FREQ=DAILY"]}'
	run jq -c 'select(.data.event_id == "dishes@example.com_20250325T123000Z") | [.data.recurring_event_id, .data.original_start, .data.start]' out
	assert_output '["dishes@example.com",{"date_time":"2025-03-25T12:30:00Z","time_zone":"America/Chicago"},{"date_time":"2025-03-25T17:30:00Z","time_zone":"America/Chicago"}]'
	run jq -c 'select(.data.event_id == "holiday@example.com") | [.data.all_day, .data.start, .data.end, .data.description]' out
	assert_output '[true,{"date":"2025-07-04"},{"date":"2025-07-05"},"Line one\nLine two, with comma"]'
	etag=$(curl -s -I -u alice:secret "${CAL}holiday.ics" | tr -d '\r' | sed -n 's/^[Ee][Tt][Aa][Gg]: //p')
	assert_equal "$(jq -r 'select(.data.event_id == "holiday@example.com") | .data.etag' out)" "$etag"
	put holiday 's/^SUMMARY:Holiday/STATUS:CANCELLED\nSUMMARY:Holiday/'
	dav > out
	run jq -r '.type + " " + .data.event_id' out
	assert_output "calendar.event.deleted holiday@example.com"
}

@test "caldav: a refused sync-token gives a full resync with deletions and no duplicate created" {
	start_radicale
	put dishes
	put holiday
	dav > /dev/null
	del dishes
	put holiday 's/^SUMMARY:Holiday/SUMMARY:Fourth of July/'
	# Radicale forgets every sync token it gave
	rm -rf "$RADICALE_STORE"/collection-root/alice/cal/.Radicale.cache/sync-token
	run dav
	assert_success
	grep -q '"error_code":"sync_token_refused"' sync.log
	run jq -r '.type + " " + .data.event_id + " " + .source.mode' <<< "$output"
	assert_equal "$(sort <<< "$output")" "calendar.event.deleted dishes@example.com full
calendar.event.deleted dishes@example.com_20250325T123000Z full
calendar.event.updated holiday@example.com full"
	run dav
	assert_output ""
}

@test "caldav --listing compares ETags: new, changed and removed resources, nothing for unchanged" {
	start_radicale
	put dishes
	dav --listing > out
	assert_equal "$(count calendar.event.created)" 2
	run dav --listing
	assert_output ""
	put holiday
	put dishes 's/^SUMMARY:Dishes\r$/SUMMARY:Dishes and pans\r/'
	dav --listing > out
	run jq -r '.type + " " + .data.event_id' out
	assert_equal "$(sort <<< "$output")" "calendar.event.created holiday@example.com
calendar.event.updated dishes@example.com"
	del holiday
	dav --listing > out
	run jq -r '.type + " " + .data.event_id' out
	assert_output "calendar.event.deleted holiday@example.com"
	assert_equal "$(sql "SELECT mode FROM sync_cursors WHERE source = 'caldav'")" etag
	assert_equal "$(grep -c 'calendar-query' radicale.log || true)" 0
}

@test "caldav: an event PUT again with the same content after its deletion is created under a new key" {
	start_radicale
	put holiday
	dav > out1
	del holiday
	dav > out2
	put holiday
	dav > out3
	k1=$(jq -r .dedupe_key out1)
	assert_equal "$(jq -r .dedupe_key out2)" "$k1:deleted"
	assert_equal "$(jq -r '.type + " " + .dedupe_key' out3)" "calendar.event.created $k1:r2"
}

# ---- the same scenarios against each server ----
# types: the run's changes ("TYPE EVENT_ID" lines) from ./out, sorted.
types() {
	jq -r '.type + " " + .data.event_id' out | sort
}

# put_three: an event of each kind: all-day, TZID and RRULE.
put_three() {
	put holiday
	put meeting
	put standup
}

# interop_crud [OPTION...]: three events of the three kinds (all-day, TZID,
# RRULE) are created; a run without changes is quiet; a modification, a
# deletion and an addition give exactly one of each.
interop_crud() {
	put_three
	dav "$@" > out
	assert_equal "$(types)" "calendar.event.created holiday@example.com
calendar.event.created meeting@example.com
calendar.event.created standup@example.com"
	run jq -c '[.data.event_id, .data.all_day, .data.start, .data.end, .data.recurrence]' out
	assert_output '["holiday@example.com",true,{"date":"2025-07-04"},{"date":"2025-07-05"},[]]
["meeting@example.com",false,{"date_time":"2025-07-07T08:00:00Z","time_zone":"Europe/Berlin"},{"date_time":"2025-07-07T09:00:00Z","time_zone":"Europe/Berlin"},[]]
["standup@example.com",false,{"date_time":"2025-01-06T08:30:00Z"},{"date_time":"2025-01-06T08:45:00Z"},["RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR"]]'
	run dav "$@"
	assert_success
	assert_output ""
	put meeting 's/^SUMMARY:Meeting/SUMMARY:Review/'
	del standup
	put lunch
	dav "$@" > out
	assert_equal "$(types)" "calendar.event.created lunch@example.com
calendar.event.deleted standup@example.com
calendar.event.updated meeting@example.com"
	assert_equal "$(jq -r 'select(.data.event_id == "meeting@example.com") | .data.title' out)" Review
	run dav "$@"
	assert_success
	assert_output ""
}

# interop_token: the server forgets the stored sync token; the run resyncs
# in full and emits only what really changed.
interop_token() {
	put_three
	dav > /dev/null
	put meeting 's/^SUMMARY:Meeting/SUMMARY:Review/'
	del holiday
	forget_tokens
	run dav
	assert_success
	assert_equal "$(jq -r '.type + " " + .data.event_id + " " + .source.mode' <<< "$output" | sort)" \
		"calendar.event.deleted holiday@example.com full
calendar.event.updated meeting@example.com full"
	grep -Eq '"error_code":"sync_token_(refused|failed)"' sync.log
	assert_equal "$(sql "SELECT mode FROM sync_cursors WHERE source = 'caldav'")" sync-collection
	run dav
	assert_success
	assert_output ""
}

# interop_unreadable [OPTION...]: a resource changed into one cx-sync
# cannot read (its zone recurs monthly) keeps its mirrored event: the run
# exits 1 and reports nothing deleted, while the rest of the calendar
# syncs. The ETag listing reads it again on every run (its ETag is not the
# mirror's), sync-collection when it changes; readable again, it is
# updated.
interop_unreadable() {
	put holiday
	put meeting
	dav "$@" > /dev/null
	put meeting '' monthly
	put lunch
	run dav "$@"
	assert_failure 1
	assert_equal "$(jq -r '.type + " " + .data.event_id' <<< "$output")" "calendar.event.created lunch@example.com"
	grep '"error_code":"invalid_ics"' sync.log | grep -q 'meeting.ics: VTIMEZONE Odd: an observance that recurs more often than yearly'
	assert_equal "$(sql "SELECT event_id || ' ' || status FROM calendar_mirror WHERE source = 'caldav' ORDER BY 1")" \
		"holiday@example.com confirmed
lunch@example.com confirmed
meeting@example.com confirmed"
	run dav "$@"
	if [ "${1:-}" = --listing ]; then assert_failure 1; else assert_success; fi
	assert_output ""
	put meeting 's/^SUMMARY:Meeting/SUMMARY:Review/'
	dav "$@" > out
	assert_equal "$(types)" "calendar.event.updated meeting@example.com"
}

@test "caldav interop, Radicale: all-day, TZID and RRULE created; quiet rerun; exactly 1 updated, 1 deleted, 1 created" {
	start_radicale
	interop_crud
	assert_equal "$(sql "SELECT mode FROM sync_cursors WHERE source = 'caldav'")" sync-collection
}

@test "caldav interop, xandikos: all-day, TZID and RRULE created; quiet rerun; exactly 1 updated, 1 deleted, 1 created" {
	start_xandikos
	interop_crud
	# xandikos names sync-collection directly under DAV:supported-report
	assert_equal "$(sql "SELECT mode FROM sync_cursors WHERE source = 'caldav'")" sync-collection
	refute grep -q no_sync_collection sync.log
}

@test "caldav shows the resources fetched on a terminal's stderr only, and --no-progress turns it off" {
	start_radicale
	put_three
	on_terminal cx-sync caldav --url "$CAL" --user alice
	assert_equal "$(wc -l < tty.out)" 3
	grep -q $'\r\e\\[Kcx-sync caldav: 3 resources\r$' tty.err
	on_terminal cx-sync caldav --url "$CAL" --user alice --full --no-progress
	! grep -q $'\e' tty.err
}

@test "caldav interop, Radicale, ETag listing: the same runs give the same changes" {
	start_radicale
	interop_crud --listing
	assert_equal "$(sql "SELECT mode FROM sync_cursors WHERE source = 'caldav'")" etag
}

@test "caldav interop, xandikos, ETag listing: the same runs give the same changes" {
	start_xandikos
	interop_crud --listing
	assert_equal "$(sql "SELECT mode FROM sync_cursors WHERE source = 'caldav'")" etag
}

@test "caldav interop, Radicale: a forgotten sync token (403) resyncs in full and emits only the real differences" {
	start_radicale
	interop_token
	grep -q '"error_code":"sync_token_refused"' sync.log
}

@test "caldav interop, xandikos: a forgotten sync token (500) is retried once without it and emits only the real differences" {
	start_xandikos
	interop_token
	grep -q '"error_code":"sync_token_failed"' sync.log
}

@test "caldav interop, Radicale: a resource cx-sync cannot read keeps its event, exits 1, the rest syncs" {
	start_radicale
	interop_unreadable
}

@test "caldav interop, xandikos: a resource cx-sync cannot read keeps its event, exits 1, the rest syncs" {
	start_xandikos
	interop_unreadable
}

@test "caldav interop, Radicale, ETag listing: a resource cx-sync cannot read keeps its event, exits 1, the rest syncs" {
	start_radicale
	interop_unreadable --listing
}

@test "caldav interop, xandikos, ETag listing: a resource cx-sync cannot read keeps its event, exits 1, the rest syncs" {
	start_xandikos
	interop_unreadable --listing
}

@test "caldav --listing against xandikos: a resource it cannot parse empties its calendar-query; nothing is deleted" {
	start_xandikos
	put holiday
	put meeting
	dav --listing > /dev/null
	# stored behind the server's back, as a broken client could
	printf 'this is not iCalendar\r\n' > "$XANDIKOS_STORE/user/calendars/calendar/broken.ics"
	git -C "$XANDIKOS_STORE/user/calendars/calendar" add broken.ics
	git -C "$XANDIKOS_STORE/user/calendars/calendar" -c user.name=cx -c user.email=cx@example.com \
		commit -q -m broken
	put meeting 's/^SUMMARY:Meeting/SUMMARY:Review/'
	run dav --listing
	assert_success
	assert_equal "$(jq -r '.type + " " + .data.event_id' <<< "$output")" "calendar.event.updated meeting@example.com"
	assert_equal "$(sql "SELECT count(*) FROM calendar_mirror WHERE source = 'caldav' AND status = 'confirmed'")" 2
	# it is a member still: sync-collection lists it, and it cannot be read
	run dav --full
	assert_failure 1
	assert_output ""
	grep -q 'broken.ics: not an iCalendar object' sync.log
}

# start_proxy: tests/mock/caldav_proxy.py in front of this test's Radicale
# (start_radicale first), recording into $PREC; sets PROXY (its base URL).
start_proxy() {
	PREC=$BATS_TEST_TMPDIR/proxy.jsonl
	$PY "$MOCKS/caldav_proxy.py" 0 --upstream "$ORIGIN" --record "$PREC" \
		--lifetime 600 > proxy.port 2> proxy.err 3>&- &
	track $!
	wait_for 10 test -s proxy.port
	PROXY=http://127.0.0.1:$(head -n 1 proxy.port)
}

proxy() {
	ctl "$PROXY" "$1" > /dev/null
}

# udav URL [OPTION...]: cx-sync caldav of URL as alice.
udav() {
	cx-sync caldav --url "$1" --user alice "${@:2}" 2>> sync.log
}

# pdav [OPTION...]: cx-sync caldav through the proxy.
pdav() {
	cx-sync caldav --url "$PROXY${CAL#"$ORIGIN"}" --user alice "$@" 2>> sync.log
}

# preqs FILTER: how many requests the proxy forwarded satisfy the jq FILTER,
# leaving out those refused for want of credentials (cx-sync offers them
# once the server asks).
preqs() {
	[ -f "$PREC" ] || { echo 0; return; }
	jq -c "select(.status != 401 and ($1))" "$PREC" | wc -l
}

@test "caldav falls back to an ETag listing by itself when sync-collection is not implemented (501)" {
	start_radicale
	start_proxy
	proxy '{"refuse": {"status": 501}}'
	crud pdav
	grep -q '"error_code":"no_sync_collection"' sync.log
	assert_equal "$(sql "SELECT mode, ifnull(cursor, '-') FROM sync_cursors WHERE source = 'caldav'")" "etag|-"
	# asked once; the stored choice lists ETags from then on
	assert_equal "$(preqs '.report == "sync-collection"')" 1
	assert_equal "$(preqs '.report == "calendar-query"')" 5
}

@test "caldav falls back alike for 403 valid-sync-token, 403 supported-report, 405 and 400" {
	start_radicale
	start_proxy
	put holiday
	for refusal in '{"status": 403, "error": "valid-sync-token"}' \
		'{"status": 403, "error": "supported-report"}' '{"status": 405}' '{"status": 400}'; do
		proxy "{\"reset\": true, \"refuse\": $refusal}"
		export CX_DB=$BATS_TEST_TMPDIR/$(jq -r '"\(.status)\(.error // "")"' <<< "$refusal").db
		run pdav
		assert_success
		assert_output --partial '"type":"calendar.event.created"'
		assert_equal "$(jq -r .data.event_id <<< "$output")" holiday@example.com
		assert_equal "$(sql "SELECT mode FROM sync_cursors WHERE source = 'caldav'")" etag
		run pdav
		assert_success
		assert_output ""
	done
}

@test "caldav lists ETags without asking sync-collection when the collection does not advertise it" {
	start_radicale
	start_proxy
	proxy '{"refuse": {"status": 403, "error": "supported-report", "advertise": false}}'
	put holiday
	pdav > out
	assert_equal "$(jq -r '.type + " " + .data.event_id' out)" "calendar.event.created holiday@example.com"
	run pdav
	assert_output ""
	assert_equal "$(preqs '.report == "sync-collection"')" 0
	assert_equal "$(preqs '.method == "PROPFIND"')" 1
	assert_equal "$(sql "SELECT mode FROM sync_cursors WHERE source = 'caldav'")" etag
}

@test "caldav --full asks sync-collection again after a fallback, and a server that has it now is used" {
	start_radicale
	start_proxy
	proxy '{"refuse": {"status": 501}}'
	put holiday
	pdav > /dev/null
	proxy '{"reset": true}'
	run pdav --full
	assert_success
	assert_output ""
	assert_equal "$(sql "SELECT mode FROM sync_cursors WHERE source = 'caldav'")" sync-collection
	put dishes
	pdav > out
	assert_equal "$(jq -r .data.event_id out | tr '\n' ' ')" "dishes@example.com dishes@example.com_20250325T123000Z "
}

@test "caldav: a 403 without a precondition is a refusal of access, not a missing report" {
	start_radicale
	start_proxy
	proxy '{"refuse": {"status": 403}}'
	put holiday
	run pdav
	assert_failure 77
	assert_output ""
	assert_equal "$(sql 'SELECT count(*) FROM sync_cursors')" 0
	assert_equal "$(preqs '.report == "calendar-query"')" 0
}

@test "caldav: a truncated sync-collection (507) is asked again from its token until complete, then recorded once" {
	start_radicale
	start_proxy
	proxy '{"truncate": 1}'
	put dishes
	put holiday
	pdav > out
	run jq -r '.type + " " + .data.event_id' out
	assert_output "calendar.event.created dishes@example.com
calendar.event.created dishes@example.com_20250325T123000Z
calendar.event.created holiday@example.com"
	assert_equal "$(preqs '.report == "sync-collection"')" 2
	assert_equal "$(preqs '.report == "sync-collection" and (.sync_token | startswith("http://cx-tests.invalid/"))')" 1
	[[ $(sql "SELECT cursor FROM sync_cursors WHERE source = 'caldav'") == http://radicale.org/ns/sync/* ]]
	assert_equal "$(sql "SELECT value FROM metrics WHERE name = 'cx_sync_runs_total' AND labels LIKE '%caldav%'")" 1
	run pdav
	assert_output ""
	put holiday 's/^SUMMARY:Holiday/SUMMARY:Independence Day/'
	put dishes 's/^SUMMARY:Dishes\r$/SUMMARY:Dishes and pans\r/'
	pdav > out
	run jq -r '.type + " " + .data.event_id' out
	assert_output "calendar.event.updated dishes@example.com
calendar.event.updated holiday@example.com"
	assert_equal "$(preqs '.report == "sync-collection"')" 5
	run pdav
	assert_output ""
}

@test "caldav: a truncated sync that fails before its last piece records nothing; the next run emits each event once" {
	start_radicale
	start_proxy
	proxy '{"truncate": 1, "fail_continuation": 503}'
	put dishes
	put holiday
	run pdav
	assert_failure 75
	assert_output ""
	assert_equal "$(sql 'SELECT count(*) FROM sync_cursors')" 0
	assert_equal "$(sql 'SELECT count(*) FROM calendar_mirror')" 0
	proxy '{"reset": true, "truncate": 1}'
	pdav > out
	assert_equal "$(wc -l < out)" 3
	assert_equal "$(count calendar.event.created)" 3
}

@test "caldav: a resource changed, then deleted between the pieces of one truncated sync, is deleted" {
	start_radicale
	start_proxy
	put dishes
	put holiday
	pdav > /dev/null
	put dishes 's/^SUMMARY:Dishes\r$/SUMMARY:Dishes and pans\r/'
	put holiday 's/^SUMMARY:Holiday/SUMMARY:Independence Day/'
	proxy '{"truncate": 1, "delete_after_truncated": "/alice/cal/dishes.ics"}'
	pdav > out
	run jq -r '.type + " " + .data.event_id' out
	assert_output "calendar.event.deleted dishes@example.com
calendar.event.deleted dishes@example.com_20250325T123000Z
calendar.event.updated holiday@example.com"
	assert_equal "$(sql "SELECT event_id FROM calendar_mirror WHERE source = 'caldav' AND status <> 'cancelled'")" holiday@example.com
	run pdav
	assert_output ""
}

@test "caldav: a truncated answer that gives back the token it was asked with exits 69 instead of looping" {
	start_radicale
	start_proxy
	proxy '{"truncate": 1, "stall": true}'
	put dishes
	put holiday
	run pdav
	assert_failure 69
	assert_output ""
	assert_equal "$(preqs '.report == "sync-collection"')" 1
	assert_equal "$(sql 'SELECT count(*) FROM sync_cursors')" 0
}

@test "caldav --full: a resource whose iCalendar no longer parses keeps its events; exit 1, nothing deleted" {
	start_radicale
	start_proxy
	put dishes
	put holiday
	pdav > /dev/null
	proxy '{"corrupt": "/alice/cal/holiday.ics"}'
	run pdav --full
	assert_failure 1
	assert_output ""
	grep -q '"error_code":"invalid_ics"' sync.log
	assert_equal "$(sql "SELECT count(*) FROM calendar_mirror WHERE source = 'caldav' AND status <> 'cancelled'")" 3
	proxy '{"reset": true}'
	run pdav --full
	assert_success
	assert_output ""
}

@test "caldav: a multistatus cut in the middle exits 69 and records nothing" {
	start_radicale
	start_proxy
	proxy '{"garble": true}'
	put dishes
	put holiday
	run pdav
	assert_failure 69
	assert_output ""
	assert_equal "$(sql 'SELECT count(*) FROM sync_cursors')" 0
	assert_equal "$(sql 'SELECT count(*) FROM calendar_mirror')" 0
}

@test "caldav --listing: a resource the multiget leaves out is deleted only when a Depth: 1 PROPFIND lacks it too" {
	start_radicale
	start_proxy
	put holiday
	put meeting
	pdav --listing > /dev/null
	# meeting changed but hidden from every REPORT, holiday deleted and its 404 left out
	proxy '{"hide": "/alice/cal/meeting.ics", "drop_missing": true}'
	put meeting 's/^SUMMARY:Meeting/SUMMARY:Review/'
	del holiday
	pdav --listing > out
	assert_equal "$(types)" "calendar.event.deleted holiday@example.com"
	assert_equal "$(preqs '.method == "PROPFIND" and .depth == "1"')" 1
	assert_equal "$(sql "SELECT status || ' ' || json_extract(event, '$.title') FROM calendar_mirror WHERE event_id = 'meeting@example.com'")" "confirmed Meeting"
	proxy '{"reset": true}'
	pdav --listing > out
	assert_equal "$(types)" "calendar.event.updated meeting@example.com"
}

@test "caldav tries sync-collection when the supported-report-set names no report it knows" {
	start_radicale
	start_proxy
	proxy '{"advertise": "empty"}'
	put holiday
	pdav > out
	assert_equal "$(types)" "calendar.event.created holiday@example.com"
	assert_equal "$(preqs '.report == "sync-collection"')" 1
	assert_equal "$(sql "SELECT mode FROM sync_cursors WHERE source = 'caldav'")" sync-collection
}

@test "caldav: a 500 to its sync token is asked once more without it; a 500 again exits 75 and records nothing new" {
	start_radicale
	start_proxy
	put holiday
	pdav > /dev/null
	token=$(sql "SELECT cursor FROM sync_cursors WHERE source = 'caldav'")
	proxy '{"refuse": {"status": 500}}'
	run pdav
	assert_failure 75
	assert_output ""
	assert_equal "$(preqs '.report == "sync-collection" and .sync_token == ""')" 2
	assert_equal "$(preqs '.report == "sync-collection" and .sync_token != ""')" 1
	assert_equal "$(sql "SELECT cursor FROM sync_cursors WHERE source = 'caldav'")" "$token"
	assert_equal "$(grep -c '"error_code":"sync_token_failed"' sync.log)" 1
}

@test "caldav against a plain web server (501 to PROPFIND and REPORT) exits 69: not a CalDAV collection" {
	port=$(free_port)
	mkdir www
	$PY -m http.server "$port" --bind 127.0.0.1 --directory www > www.log 2>&1 3>&- &
	track $!
	wait_for 10 curl -sf -o /dev/null "http://127.0.0.1:$port/"
	for opt in "" --listing; do
		run cx-sync caldav --url "http://127.0.0.1:$port/cal/" $opt
		assert_failure 69
		assert_output --partial "http://127.0.0.1:$port/cal/ is not a CalDAV collection"
		assert_equal "$(sql 'SELECT count(*) FROM sync_cursors')" 0
	done
}

@test "caldav answers an HTTP Digest challenge (RFC 7616) with the configured user and password" {
	start_radicale
	start_proxy
	proxy '{"digest": {"user": "alice", "password": "secret"}}'
	put holiday
	pdav > out
	assert_equal "$(types)" "calendar.event.created holiday@example.com"
	# every request answered 207 carried Digest credentials; none went as Basic
	assert_equal "$(preqs '.status == 207 and .auth != "Digest"')" 0
	[ "$(preqs '.status == 207')" -ge 3 ]
	assert_equal "$(preqs '.auth == "Basic"')" 0
	CX_CALDAV_PASSWORD=wrong run pdav
	assert_failure 77
}

@test "caldav follows redirects of the collection on the same host; the calendar keeps the URL it was given" {
	start_radicale
	start_proxy
	put holiday
	proxy '{"redirect": {"from": "/old/", "to": "/alice/cal/", "status": 301}}'
	run udav "$PROXY/old/"
	assert_success
	assert_equal "$(jq -r '.type + " " + .data.event_id + " " + .account' <<< "$output")" \
		"calendar.event.created holiday@example.com $PROXY/old/"
	# 307 to an absolute URL on the same scheme, host and port
	proxy "{\"redirect\": {\"from\": \"/old/\", \"to\": \"$PROXY/alice/cal/\", \"status\": 307}}"
	put holiday 's/^SUMMARY:Holiday/SUMMARY:Independence Day/'
	run udav "$PROXY/old/"
	assert_success
	assert_equal "$(jq -r '.type + " " + .data.title' <<< "$output")" "calendar.event.updated Independence Day"
	assert_equal "$(sql "SELECT key FROM sync_cursors WHERE source = 'caldav'")" "$PROXY/old/"
}

@test "caldav does not follow a redirect to another host: exit 69, and no request, no credentials go there" {
	start_radicale
	start_proxy
	OREC=$BATS_TEST_TMPDIR/other.jsonl
	$PY "$MOCKS/caldav_proxy.py" 0 --upstream "$ORIGIN" --record "$OREC" --lifetime 600 \
		> other.port 2> other.err 3>&- &
	track $!
	wait_for 10 test -s other.port
	other=http://127.0.0.1:$(head -n 1 other.port)
	put holiday
	# the server authenticates first, then redirects
	proxy "{\"digest\": {\"user\": \"alice\", \"password\": \"secret\"},
		\"redirect\": {\"from\": \"/alice/\", \"to\": \"$other/alice/\", \"status\": 308}}"
	run pdav
	assert_failure 69
	assert_output ""
	grep -q "redirects to $other/alice/cal/, another host: not followed" sync.log
	[ ! -s "$OREC" ]
	assert_equal "$(sql 'SELECT count(*) FROM sync_cursors')" 0
	assert_equal "$(sql "SELECT value FROM metrics WHERE name = 'cx_sync_errors_total' AND labels = 'source=\"caldav\",status=\"308\"'")" 1
	# the same origin on another port is another host too
	proxy "{\"reset\": true, \"redirect\": {\"from\": \"/alice/\", \"to\": \"${other/127.0.0.1/localhost}/alice/\"}}"
	run pdav
	assert_failure 69
	[ ! -s "$OREC" ]
}

@test "caldav: a resource whose VTIMEZONE recurs every second is refused at once, kept, exit 1; the rest syncs" {
	start_radicale
	start_proxy
	put holiday
	put meeting
	pdav > /dev/null
	ics secondly
	proxy "$(jq -n --rawfile t secondly.ics '{corrupt: "/alice/cal/meeting.ics", with: $t}')"
	put meeting 's/^SUMMARY:Meeting/SUMMARY:Review/'
	put lunch
	# without the bound, libical walks every second since 1970: hours
	run --separate-stderr timeout 20 cx-sync caldav --url "$PROXY/alice/cal/" --user alice
	assert_failure 1
	assert_equal "$(jq -r '.type + " " + .data.event_id' <<< "$output")" "calendar.event.created lunch@example.com"
	grep -q 'meeting.ics: VTIMEZONE Evil: an observance that recurs more often than yearly is refused' <<< "$stderr"
	assert_equal "$(sql "SELECT status || ' ' || json_extract(event, '$.title') FROM calendar_mirror WHERE event_id = 'meeting@example.com'")" "confirmed Meeting"
}

@test "caldav refuses a --url with a password in it, before anything is sent" {
	run cx-sync caldav --url http://alice:secret@127.0.0.1:9/alice/cal/ --user alice
	assert_failure 64
	refute_output --partial secret
}

@test "caldav with a wrong password exits 77 and records nothing" {
	start_radicale
	put holiday
	CX_CALDAV_PASSWORD=wrong run dav
	assert_failure 77
	assert_output ""
	assert_equal "$(sql 'SELECT count(*) FROM sync_cursors')" 0
	unset CX_CALDAV_PASSWORD
	run dav
	assert_failure 78
}

# ---- ics ---------------------------------------------------------------------------

@test "cx-sync ics prints one CalendarEvent per VEVENT" {
	ics dishes
	ics holiday
	run cx-sync ics dishes.ics holiday.ics
	assert_success
	assert_equal "$(jq -r .event_id <<< "$output" | tr '\n' ' ')" \
		"dishes@example.com dishes@example.com_20250325T123000Z holiday@example.com "
	run cx-sync ics < /dev/null
	assert_failure 65
}

# zone NAME TZID RULE-LINE...: an iCalendar object NAME.ics whose VTIMEZONE
# TZID has one STANDARD observance since 1970 with RULE-LINEs, and one
# event in it.
zone() {
	local name=$1 tzid=$2
	shift 2
	printf '%s\r\n' BEGIN:VCALENDAR VERSION:2.0 'PRODID:-//cx tests//EN' BEGIN:VTIMEZONE \
		"TZID:$tzid" BEGIN:STANDARD DTSTART:19700101T000000 TZOFFSETFROM:+0100 \
		TZOFFSETTO:+0000 "$@" END:STANDARD END:VTIMEZONE BEGIN:VEVENT UID:z@example.com \
		DTSTAMP:20250101T000000Z "DTSTART;TZID=$tzid:20250707T100000" END:VEVENT \
		END:VCALENDAR > "$name.ics"
}

@test "cx-sync ics refuses at once a VTIMEZONE it cannot expand in bounded time: exit 65, named" {
	ics secondly
	zone monthly Monthly RRULE:FREQ=MONTHLY
	zone hours Hours 'RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU;BYHOUR=1,2'
	zone days Days "RRULE:FREQ=YEARLY;BYMONTHDAY=$(seq -s, 1 28)"
	sed -i 's/^DTSTART:19700101T000000/DTSTART:00010101T000000/' days.ics
	zone rdates Rdates $(seq 60000 | sed 's/.*/RDATE:19700101T000000/')
	# a zone inside the event: libical looks there first
	printf '%s\r\n' BEGIN:VCALENDAR VERSION:2.0 'PRODID:-//cx tests//EN' BEGIN:VEVENT \
		UID:n@example.com DTSTAMP:20250101T000000Z 'DTSTART;TZID=Inner:20250707T100000' \
		BEGIN:VTIMEZONE TZID:Inner BEGIN:STANDARD DTSTART:19700101T000000 \
		RRULE:FREQ=SECONDLY TZOFFSETFROM:+0100 TZOFFSETTO:+0000 END:STANDARD END:VTIMEZONE \
		END:VEVENT END:VCALENDAR > inner.ics
	for f in secondly monthly hours days rdates inner; do
		# without the bound, secondly.ics takes hours
		run timeout 20 cx-sync ics "$f.ics"
		assert_failure 65
	done
	run cx-sync ics secondly.ics monthly.ics hours.ics days.ics rdates.ics inner.ics
	assert_equal "$(jq -r .msg <<< "$output" | sed 's/ (accepted: .*//')" \
		"secondly.ics: VTIMEZONE Evil: an observance that recurs more often than yearly is refused
monthly.ics: VTIMEZONE Monthly: an observance that recurs more often than yearly is refused
hours.ics: VTIMEZONE Hours: an observance at more than one hour is refused
days.ics: VTIMEZONE Days: too many transitions
rdates.ics: VTIMEZONE Rdates: too many transitions
inner.ics: VTIMEZONE Inner: an observance that recurs more often than yearly is refused"
}

@test "cx-sync ics converts through yearly VTIMEZONE rules since 1601 (as Outlook sends them); an event RRULE is never expanded" {
	printf '%s\r\n' BEGIN:VCALENDAR VERSION:2.0 'PRODID:-//cx tests//EN' BEGIN:VTIMEZONE \
		'TZID:W. Europe Standard Time' BEGIN:STANDARD DTSTART:16010101T030000 \
		TZOFFSETFROM:+0200 TZOFFSETTO:+0100 'RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10' \
		END:STANDARD BEGIN:DAYLIGHT DTSTART:16010101T020000 TZOFFSETFROM:+0100 \
		TZOFFSETTO:+0200 'RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3' END:DAYLIGHT END:VTIMEZONE \
		BEGIN:VEVENT UID:outlook@example.com DTSTAMP:20250101T000000Z \
		'DTSTART;TZID=W. Europe Standard Time:20250707T100000' \
		'DTEND;TZID=W. Europe Standard Time:20251207T100000' END:VEVENT \
		BEGIN:VEVENT UID:tick@example.com DTSTAMP:20250101T000000Z DTSTART:19700101T000000Z \
		RRULE:FREQ=SECONDLY END:VEVENT END:VCALENDAR > outlook.ics
	run timeout 20 cx-sync ics outlook.ics
	assert_success
	assert_output '{"event_id":"outlook@example.com","ical_uid":"outlook@example.com","updated_at":"2025-01-01T00:00:00Z","status":"confirmed","title":null,"start":{"date_time":"2025-07-07T08:00:00Z","time_zone":"W. Europe Standard Time"},"end":{"date_time":"2025-12-07T09:00:00Z","time_zone":"W. Europe Standard Time"},"all_day":false,"attendees":[],"recurrence":[]}
{"event_id":"tick@example.com","ical_uid":"tick@example.com","updated_at":"2025-01-01T00:00:00Z","status":"confirmed","title":null,"start":{"date_time":"1970-01-01T00:00:00Z"},"end":{"date_time":"1970-01-01T00:00:00Z"},"all_day":false,"attendees":[],"recurrence":["RRULE:FREQ=SECONDLY"]}'
}

@test "cx-sync ics survives 300 mangled calendars: exit 0 or 65, never a crash" {
	ics dishes
	ics holiday
	$PY - dishes.ics holiday.ics <<-'EOF'
		import random, sys
		random.seed(6)
		seeds = [open(f, "rb").read() for f in sys.argv[1:]]
		for i in range(300):
		    b = bytearray(random.choice(seeds))
		    for _ in range(random.randint(1, 8)):
		        op, at = random.randrange(5), random.randrange(len(b))
		        if op == 0:
		            b = b[:at]
		        elif op == 1:
		            b[at] = random.randrange(256)
		        elif op == 2:
		            b[at:at] = random.choice([b":", b";", b"\r\n ", b"=", b"\x00", b"BEGIN:VEVENT\r\n",
		                                      b"END:VCALENDAR", b"TZID=Nowhere/Zone:", b"\xff\xfe"])
		        elif op == 3:
		            lines = b.split(b"\n")
		            random.shuffle(lines)
		            b = bytearray(b"\n".join(lines))
		        else:
		            b = b + b[at:]
		        if not b:
		            b = bytearray(b"BEGIN:")
		    open("m%03d.ics" % i, "wb").write(b)
	EOF
	# one process for them all: any crash ends it with a signal
	rc=0
	cx-sync ics m*.ics > out 2> err || rc=$?
	[ "$rc" -eq 0 ] || [ "$rc" -eq 65 ] || fail "exit $rc"
	[ -s out ]
}

# ---- documentation -------------------------------------------------------------------

@test "the man page shows cron lines for syncs and channel renewal" {
	grep -qE '^\.Dl \*/[0-9]+ .*cx-sync google-calendar' "$CX_ROOT/man/man1/cx-sync.1"
	grep -qE '^\.Dl .*cx-sync watch renew' "$CX_ROOT/man/man1/cx-sync.1"
}
