# Shared set-up for the bats files: each test gets its own directory and
# state file, the built tools first on PATH, and bats-support/assert/file.
bats_require_minimum_version 1.5.0
load /usr/lib/bats/bats-support/load.bash
load /usr/lib/bats/bats-assert/load.bash
load /usr/lib/bats/bats-file/load.bash

CX_ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
FIXTURES=$CX_ROOT/tests/fixtures
MOCKS=$CX_ROOT/tests/mock
# Debian's python3, which has the packages the tests use (a version-manager
# shim on PATH may not, and can take a second to start).
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

setup() {
	export PATH="${CX_BIN:-$CX_ROOT/bin}:$PATH"
	cd "$BATS_TEST_TMPDIR" || return 1
	export CX_DB="$BATS_TEST_TMPDIR/cx.db"
	export CX_LOG=json
	unset CX_NOW CX_CONFIG XDG_STATE_HOME
}

# lines N PREFIX: N lines {"dedupe_key":"PREFIX<i>","n":i}
lines() {
	awk -v n="$1" -v p="$2" 'BEGIN { for (i = 0; i < n; i++) printf "{\"dedupe_key\":\"%s%d\",\"n\":%d}\n", p, i, i }'
}

# no_separator: lines holding a value, then a string with no separator
# (libjq 1.6 leaks the string when it parses one), each invalid JSON.
no_separator() {
	cat <<-'EOF'
	[1 "a"]
	{"a":1 "b":2}
	{"dedupe_key":"k" "x":1}
	{"a":[true "x"]}
	{"a":{"b":null "c":1}}
	{"a":[] "b":1}
	{"a":{"b":"c"} "d":1}
	{"a" "b"}
	["x" "y"]
	{"a":-1.5e3 "b"}
	EOF
}

# sql QUERY: runs a read-only query on the state file (tests only).
sql() {
	sqlite3 -batch "$CX_DB" "$1"
}

# on_terminal COMMAND...: runs COMMAND with its stderr on a pseudo-terminal
# (util-linux's script), stdin from /dev/null and stdout to ./tty.out; what
# it wrote to the terminal lands in ./tty.err. Returns COMMAND's status.
on_terminal() {
	SHELL=/bin/bash script -qec "$(printf '%q ' "$@") < /dev/null > tty.out" /dev/null \
		< /dev/null > tty.err
}

# A second Unix user for the tests that act as one (root only; elsewhere
# CX_MEMBER stays unset and need_member skips). It runs the tools from a copy
# it can execute, since the checkout may sit under a home only root enters:
# CX_MEMBER_DIR holds bin/, share/cx and as-member, which runs a command as
# that user with the copy first on PATH.

# member_create PREFIX (from setup_file): the user PREFIX<pid> and the copy.
member_create() {
	[ "$(id -u)" -eq 0 ] && command -v useradd > /dev/null || return 0
	export CX_MEMBER="$1$$"
	id "$CX_MEMBER" > /dev/null 2>&1 ||
		useradd --no-create-home --no-user-group --shell /bin/sh "$CX_MEMBER"
	CX_MEMBER_DIR=$(mktemp -d /tmp/cx-member.XXXXXX)
	export CX_MEMBER_DIR
	mkdir "$CX_MEMBER_DIR/bin" "$CX_MEMBER_DIR/share"
	cp "${CX_BIN:-$CX_ROOT/bin}"/cx* "$CX_MEMBER_DIR/bin/"
	cp -R "$CX_ROOT/share/cx" "$CX_MEMBER_DIR/share/cx"
	cat > "$CX_MEMBER_DIR/as-member" <<-END
		#!/bin/sh
		exec runuser -u '$CX_MEMBER' -- env PATH="$CX_MEMBER_DIR/bin:\$PATH" \\
			CX_SHARE_DIR='$CX_MEMBER_DIR/share/cx' "\$@"
	END
	chmod -R a+rX "$CX_MEMBER_DIR"
	chmod a+x "$CX_MEMBER_DIR/as-member"
}

# member_remove (from teardown_file): the user and the copy, if created here.
member_remove() {
	[ -n "${CX_MEMBER_DIR:-}" ] || return 0
	userdel "$CX_MEMBER" 2> /dev/null || true
	rm -rf "$CX_MEMBER_DIR"
}

# member CMD...: runs CMD as the second Unix user.
member() {
	"$CX_MEMBER_DIR/as-member" "$@"
}

# need_member: skips unless member_create made the second user; then moves
# the state file to a directory that user owns (removed by member_teardown).
need_member() {
	[ -n "${CX_MEMBER:-}" ] || skip "needs root to create a second Unix user"
	SHARED_DIR=$(mktemp -d /tmp/cx-member-db.XXXXXX)
	chmod 0755 "$SHARED_DIR"
	chown "$CX_MEMBER" "$SHARED_DIR"
	export CX_DB="$SHARED_DIR/cx.db"
	member cx-approve operators list > /dev/null
}

# member_teardown (from teardown): the state directory need_member made.
member_teardown() {
	[ -z "${SHARED_DIR:-}" ] || rm -rf "$SHARED_DIR"
}

# mock_start NAME SCRIPT [ARGS...] (from setup_file): tests/mock/SCRIPT on a
# free port for the file's tests, its port and stderr in NAME.port and
# NAME.err; mock_url NAME waits for the port and prints the mock's base URL;
# mock_stop NAME (from teardown_file) ends it.
mock_start() {
	local name=$1 script=$2
	shift 2
	"$PY" "$MOCKS/$script" 0 "$@" > "$BATS_FILE_TMPDIR/$name.port" \
		2> "$BATS_FILE_TMPDIR/$name.err" 3>&- &
	echo $! > "$BATS_FILE_TMPDIR/$name.pid"
}

mock_url() {
	for _ in $(seq 400); do [ -s "$BATS_FILE_TMPDIR/$1.port" ] && break; sleep 0.05; done
	echo "http://127.0.0.1:$(head -n 1 "$BATS_FILE_TMPDIR/$1.port")"
}

# mock_record URL...: a fresh record file $REC for the test, which each mock
# at URL is reset to write to.
mock_record() {
	REC=$BATS_TEST_TMPDIR/rec.jsonl
	: > "$REC"
	for url; do
		curl -sf -X POST -H 'Content-Type: application/json' \
			-d "{\"reset\": true, \"record\": \"$REC\"}" "$url/_control" > /dev/null
	done
}

mock_stop() {
	kill "$(cat "$BATS_FILE_TMPDIR/$1.pid")" 2> /dev/null || true
}
