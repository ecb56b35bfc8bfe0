# serve.bash: helpers for tests of `cx-ingest serve` (loaded after helpers).
# Every process started here is recorded in $BATS_TEST_TMPDIR/pids, and
# kill_started (call it from teardown) kills what is still running, so no
# server outlives its test.

TESTLIB=$CX_ROOT/tests/lib

# track PID: remember a background process for kill_started.
track() {
	echo "$1" >> "$BATS_TEST_TMPDIR/pids"
}

kill_started() {
	local pid
	[ -f "$BATS_TEST_TMPDIR/pids" ] || return 0
	while read -r pid; do
		kill -9 "$pid" 2> /dev/null || true
		wait "$pid" 2> /dev/null || true
	done < "$BATS_TEST_TMPDIR/pids"
	rm -f "$BATS_TEST_TMPDIR/pids"
}

# alive PID: whether PID runs (a zombie does not count).
alive() {
	kill -0 "$1" 2> /dev/null || return 1
	! grep -q '^[^ ]* ([^)]*) Z' "/proc/$1/stat" 2> /dev/null
}

# wait_exit PID SECONDS: waits at most SECONDS for PID to end, then sets
# $exit_code to its status; fails (leaving it running) on timeout.
wait_exit() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		alive "$1" || break
		sleep 0.05
	done
	if alive "$1"; then
		echo "process $1 still runs after $2 s" >&2
		return 1
	fi
	exit_code=0
	wait "$1" || exit_code=$?
}

# wait_for SECONDS COMMAND...: runs COMMAND every 50 ms until it succeeds;
# fails after SECONDS.
wait_for() {
	local i n=$(($1 * 20))
	shift
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	echo "timed out after $n tries: $*" >&2
	return 1
}

# start_server [OPTION...]: starts `cx-ingest serve --listen 127.0.0.1:0
# OPTION...` in the background, stderr to server.err, stdout to
# $SERVER_STDOUT (default server.out; "closed" closes it, "gone" makes it a
# pipe whose reader has exited). Waits at most 10 s for the "listening" log
# line, then sets SERVER_PID, PORT and BASE (http://127.0.0.1:PORT).
start_server() {
	local out=${SERVER_STDOUT:-server.out}
	: > server.err
	case $out in
	closed) cx-ingest serve --listen 127.0.0.1:0 "$@" 2> server.err >&- 3>&- & ;;
	gone) cx-ingest serve --listen 127.0.0.1:0 "$@" 2> server.err 3>&- > >(head -c 0) & ;;
	*) cx-ingest serve --listen 127.0.0.1:0 "$@" 2> server.err > "$out" 3>&- & ;;
	esac
	SERVER_PID=$!
	track "$SERVER_PID"
	local i
	for ((i = 0; i < 200; i++)); do
		grep -q '"listening on' server.err && break
		alive "$SERVER_PID" || break
		sleep 0.05
	done
	grep -q '"listening on' server.err || { cat server.err >&2; return 1; }
	PORT=$(grep '"listening on' server.err | jq -r .port)
	BASE=http://127.0.0.1:$PORT
}

# stop_server [SIGNAL]: sends SIGTERM (or SIGNAL) and waits at most 15 s;
# $exit_code gets the server's status.
stop_server() {
	kill -"${1:-TERM}" "$SERVER_PID"
	wait_exit "$SERVER_PID" 15
}

# http METHOD PATH [CURL OPTION...]: one request (10 s at most); prints the
# status code, the body goes to ./resp.
http() {
	local method=$1 path=$2
	shift 2
	curl -sS -o resp -w '%{http_code}' --max-time 10 -X "$method" "$@" "$BASE$path"
}

# post PROVIDER FILE [CURL OPTION...]: POSTs FILE to /webhooks/PROVIDER with
# a valid signature; prints the status code, the body goes to ./resp.
post() {
	local provider=$1 file=$2
	shift 2
	http POST "/webhooks/$provider" --data-binary "@$file" \
		-H 'Content-Type: application/json' \
		-H "X-Hub-Signature-256: $("$TESTLIB/sign.sh" "$file")" "$@"
}

# inbox_count: rows in the inbox table.
inbox_count() {
	sqlite3 -batch "$CX_DB" 'SELECT count(*) FROM inbox'
}
