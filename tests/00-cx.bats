#!/usr/bin/env bats
# cx: the dispatcher and its own commands (version, doctor, metrics, audit,
# accounts), config files and secrets.

load helpers

@test "cx NAME runs cx-NAME with the remaining arguments" {
	run cx dedupe --version
	assert_success
	assert_output "cx-dedupe 0.1.0"
	printf '%s\n' '{"dedupe_key":"a"}' '{"dedupe_key":"a"}' > in
	run cx dedupe < in
	assert_output '{"dedupe_key":"a"}'
}

@test "an unknown command is a usage error" {
	run cx frobnicate
	assert_failure 64
	assert_output --partial "'frobnicate' is not a cx command"
}

@test "cx with no command prints usage on stderr and exits 64" {
	run --separate-stderr cx
	assert_failure 64
	[[ $stderr == *"usage: cx COMMAND"* ]]
}

@test "cx version prints the version" {
	run cx version
	assert_success
	assert_output "cx 0.1.0"
}

@test "cx doctor names the state file, its schema and which secrets are set, never their values" {
	export CX_META_APP_SECRET=super-secret-value CX_SMTP_PASSWORD=smtp-secret-value
	echo file-secret-value > tok
	export CX_TOKEN_KEY_FILE="$PWD/tok"
	cx accounts list --json
	run cx doctor --json
	assert_success
	echo "$output" | jq -e --arg db "$CX_DB" '.db == $db and .schema_version == .schema_latest and .schema_version >= 1'
	echo "$output" | jq -e '.secrets.CX_META_APP_SECRET == true and .secrets.CX_TOKEN_KEY == true and .secrets.CX_X_CLIENT_SECRET == false'
	echo "$output" | jq -e '.secrets.CX_SMTP_PASSWORD == true and .secrets.CX_SENDGRID_API_KEY == false'
	refute_output --partial smtp-secret-value
	refute_output --partial super-secret-value
	refute_output --partial file-secret-value
}

@test "cx doctor --table is for people" {
	cx accounts list --json
	run cx doctor --table
	assert_success
	assert_line --partial "state file      $CX_DB"
	assert_line --regexp '^CX_META_APP_SECRET +not set$'
}

@test "cx metrics is empty on a new state file and exposes counters once there are some" {
	run cx metrics
	assert_success
	assert_output ""
	echo '{"dedupe_key":"a"}' | cx-dedupe > /dev/null
	run cx metrics
	assert_line '# TYPE cx_dedupe_lines_total counter'
	assert_line 'cx_dedupe_lines_total{result="forwarded"} 1'
}

@test "cx accounts add maps an account to a tenant, audited; list shows it" {
	run cx accounts add --channel whatsapp --account 106540352242922 --tenant acme
	assert_success
	run cx accounts list --json
	assert_output '{"channel":"whatsapp","account":"106540352242922","tenant":"acme"}'
	run cx audit --json
	echo "$output" | jq -e --arg me "$(id -un)" 'select(.action == "account_mapped") | .actor == $me and .subject == "106540352242922" and .detail.tenant == "acme"'
}

@test "cx accounts add without all three options changes nothing" {
	run cx accounts add --channel whatsapp --account 1
	assert_failure 64
	run cx accounts list --json
	assert_output ""
}

@test "cx audit filters by correlation id and time" {
	export CX_NOW=1000
	cx accounts add --channel x --account a1 --tenant t1
	export CX_NOW=2000
	cx accounts add --channel x --account a2 --tenant t2
	run cx audit --json --since 1500
	assert_success
	[ "$(echo "$output" | wc -l)" -eq 1 ]
	echo "$output" | jq -e '.subject == "a2" and .ts == "1970-01-01T00:33:20Z"'
	run cx audit --json --since 1970-01-01T00:16:40Z
	[ "$(echo "$output" | wc -l)" -eq 2 ]
	run cx audit --json --correlation-id nope
	assert_output ""
	run cx audit --since yesterday
	assert_failure 64
}

@test "audit rows cannot be changed or deleted, except by cx audit prune" {
	export CX_NOW=1000
	cx accounts add --channel x --account a1 --tenant t1
	run sql "UPDATE audit SET actor = 'mallory'"
	assert_failure
	assert_output --partial "append-only"
	run sql "DELETE FROM audit"
	assert_failure
	[ "$(sql 'SELECT count(*) FROM audit')" -eq 1 ]
	CX_NOW=$((1000 + 3 * 86400)) run cx audit prune --older-than 2
	assert_success
	assert_output '{"deleted":1}'
	run cx audit --json
	echo "$output" | jq -e '.action == "audit_pruned" and .detail.deleted == 1'
}

@test "cx doctor reports a missing state file and exits 78, creating nothing" {
	run --separate-stderr cx doctor --json
	assert_failure 78
	echo "$output" | jq -e --arg db "$CX_DB" '.db == $db and .db_problem == "missing" and .schema_version == null'
	[[ $stderr == *"state file missing"* ]]
	assert_not_exist "$CX_DB"
	run --separate-stderr env -u CX_DB XDG_STATE_HOME="$PWD/state" cx doctor --table
	assert_failure 78
	assert_line "state file      $PWD/state/cx/cx.db: missing"
	assert_not_exist "$PWD/state"
}

@test "cx doctor reports a schema that needs migrating and exits 78, migrating nothing" {
	cx accounts list --json
	sqlite3 "$CX_DB" 'PRAGMA user_version = 1'
	run --separate-stderr cx doctor --json
	assert_failure 78
	echo "$output" | jq -e '.schema_version == 1 and .schema_latest > 1 and (.db_problem | startswith("needs migrating"))'
	run sqlite3 "$CX_DB" 'PRAGMA user_version'
	assert_output 1
	sqlite3 "$CX_DB" 'PRAGMA user_version = 999'
	run --separate-stderr cx doctor --json
	assert_failure 78
	echo "$output" | jq -e '.db_problem == "newer than this cx"'
}

@test "a state location that is a URI is refused with 78, naming what is accepted, and creates nothing" {
	for uri in 'postgresql://cx:PASSWORD@127.0.0.1:5432/cx' 'mysql://root:PASSWORD@db/cx' 'sqlite://x.db'; do
		CX_DB=$uri run --separate-stderr cx-dedupe <<< '{"dedupe_key":"a"}'
		assert_failure 78
		assert_output ""
		[[ $stderr == *"${uri%%://*}:// URI"*"only a file path"* ]]
		[[ $stderr != *PASSWORD* ]]
		CX_DB=$uri run --separate-stderr cx-ingest serve --listen 127.0.0.1:0
		assert_failure 78
		[[ $stderr != *PASSWORD* ]]
		run --separate-stderr cx doctor --db "$uri"
		assert_failure 78
	done
	run find . -mindepth 1 -not -name 'separate-stderr-*'
	assert_output ""
}

@test "every tool words an integer option out of its range the same way, exit 64" {
	check() {
		local want=$1
		shift
		run --separate-stderr "$@" < /dev/null
		assert_failure 64
		echo "$stderr" | jq -e --arg m "$want" '.level == "error" and .msg == $m'
	}
	check "--ttl wants an integer from 1 up, not '0' (see cx-dedupe --help)" cx-dedupe --ttl 0
	check "--lease wants an integer from 1 up, not 'x' (see cx-dedupe --help)" cx-dedupe --claim --lease x
	check "--max-line wants an integer from 1 to 1073741824, not '0' (see cx-parse --help)" cx-parse --max-line 0
	check "--port wants an integer from 0 to 65535, not '70000' (see cx-oauth listen --help)" cx-oauth listen --port 70000
	check "--max-attempts wants an integer from 1 up, not '0' (see cx-publish --help)" cx-publish --max-attempts 0
	check "--threads wants an integer from 1 to 64, not '65' (see cx-ingest serve --help)" cx-ingest serve --listen 127.0.0.1:0 --threads 65
	check "--max-results wants an integer from 5 to 100, not '4' (see cx-sync x-mentions --help)" cx-sync x-mentions --workspace a --max-results 4
	check "--limit wants an integer from 0 up, not '-1' (see cx-ingest drain --help)" cx-ingest drain --consumer c --limit -1
	check "--older-than wants an integer from 0 up, not '1d' (see cx audit prune --help)" cx audit prune --older-than 1d
}

@test "--config loads KEY=value settings; the environment wins over the file" {
	printf 'CX_DB=%s\nCX_META_APP_SECRET=from-file\n' "$PWD/from-config.db" > cx.conf
	unset CX_DB
	cx accounts list --json --config cx.conf
	run cx doctor --json --config cx.conf
	assert_success
	echo "$output" | jq -e --arg db "$PWD/from-config.db" '.db == $db and .secrets.CX_META_APP_SECRET == true'
	CX_DB="$PWD/env.db" run --separate-stderr cx doctor --json --config cx.conf
	assert_failure 78
	echo "$output" | jq -e --arg db "$PWD/env.db" '.db == $db'
	CX_CONFIG=cx.conf run cx doctor --json
	echo "$output" | jq -e --arg db "$PWD/from-config.db" '.db == $db'
}

@test "a malformed config file is a configuration error naming the line" {
	printf 'CX_DB=x\nthis is not a setting\n' > bad.conf
	run cx doctor --config bad.conf
	assert_failure 78
	assert_output --partial "bad.conf:2"
}

@test "logs are JSON lines by default and text with CX_LOG=text" {
	run --separate-stderr cx-dedupe <<< 'nope'
	echo "$stderr" | jq -e '.level == "error" and .tool == "cx-dedupe" and .line == 1 and (.ts | test("Z$"))'
	CX_LOG=text run --separate-stderr cx-dedupe <<< 'nope'
	[[ $stderr == "cx-dedupe: line 1: not valid JSON (line=1, error_code=invalid_json)" ]]
}

@test "CX_LOG_LEVEL=error hides informational lines" {
	CX_LOG_LEVEL=error run --separate-stderr cx-dedupe --stats < /dev/null
	assert_equal "$stderr" ""
}

@test "cx help NAME shows that command's help" {
	run cx help dedupe
	assert_success
	assert_line --partial "usage: cx-dedupe"
	run cx help audit
	assert_line --partial "usage: cx audit"
}

@test "logging settings in a config file take effect" {
	printf 'CX_LOG=text\n' > log.conf
	unset CX_LOG
	run --separate-stderr cx-dedupe --config log.conf <<< 'nope'
	[[ $stderr == "cx-dedupe: line 1: not valid JSON"* ]]
}

@test "the mock servers start under python3 -P and with a PYTHONPATH that shadows their library" {
	mkdir evil
	echo 'raise SystemExit("the mocklib of PYTHONPATH was imported")' > evil/mocklib.py
	# answers MOCK [OPTION...]: starts MOCK that way, asks it for / and stops it.
	answers() {
		local m=$1 pid port code
		shift
		PYTHONPATH=$PWD/evil "$PY" -P "$MOCKS/$m" 0 --record /dev/null --lifetime 30 "$@" \
			> port 2> err 3>&- &
		pid=$!
		for _ in $(seq 200); do [ -s port ] && break; sleep 0.05; done
		port=$(head -n 1 port)
		: > port
		[[ $port =~ ^[0-9]+$ ]] || { cat err >&2; kill "$pid"; return 1; }
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/")
		kill "$pid"
		wait "$pid" || true
		[[ $code =~ ^[1-5][0-9][0-9]$ ]] || { echo "$m: $code" >&2; return 1; }
	}
	for m in "$MOCKS"/*.py; do
		# smtpd.py speaks SMTP over TLS: 62-email-smtp-server.bats starts it
		case ${m##*/} in
		mocklib.py|caldav_proxy.py|smtpd.py) continue ;;
		# s3.py keeps its objects in a folder it is given
		s3.py) answers s3.py --dir "$PWD/s3" ;;
		*) answers "${m##*/}" ;;
		esac
	done
	"$PY" "$MOCKS/x_api.py" 0 --record /dev/null --lifetime 30 > upstream 3>&- &
	upstream=$!
	for _ in $(seq 200); do [ -s upstream ] && break; sleep 0.05; done
	answers caldav_proxy.py --upstream "http://127.0.0.1:$(head -n 1 upstream)"
	kill "$upstream"
}
