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
