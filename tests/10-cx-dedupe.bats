#!/usr/bin/env bats
# cx-dedupe: simple mode, claim/commit, TTL, bad input, concurrency.

load helpers

@test "forwards first occurrences in order and drops repeats" {
	printf '%s\n' '{"dedupe_key":"a","n":1}' '{"dedupe_key":"b","n":2}' \
		'{"dedupe_key":"a","n":3}' '{"dedupe_key":"c","n":4}' '{"dedupe_key":"b","n":5}' > in
	run cx-dedupe < in
	assert_success
	assert_output "$(printf '%s\n' '{"dedupe_key":"a","n":1}' '{"dedupe_key":"b","n":2}' '{"dedupe_key":"c","n":4}')"
}

@test "keys are remembered across runs" {
	echo '{"dedupe_key":"k1"}' | cx-dedupe > /dev/null
	run cx-dedupe <<< '{"dedupe_key":"k1"}'
	assert_success
	assert_output ""
}

@test "lines without the key pass through unchanged and are counted as unkeyed" {
	printf '%s\n' '{"other":1}' '{"dedupe_key":null}' '{"dedupe_key":"x"}' > in
	run --separate-stderr cx-dedupe --stats < in
	assert_success
	assert_output "$(printf '%s\n' '{"other":1}' '{"dedupe_key":null}' '{"dedupe_key":"x"}')"
	echo "$stderr" | grep '"msg":"stats"' | jq -e '.unkeyed == 2 and .forwarded == 1 and .dropped == 0'
}

@test "the default key is the one jq reads: escapes, repeated names, spacing, numbers, nesting" {
	cat > in <<-'EOF'
	{"dedupe_key":"a\u0062","n":1}
	{"dedupe_key":"ab","n":2}
	{"dedupe_key":"x","dedupe_key":"y","n":3}
	{"dedupe_key":"y","n":4}
	{"dedupe_key":"x","n":5}
	{"dedupe\u005fkey":"z","n":6}
	{ "dedupe_key" : "z" ,"n":7}
	{"dedupe_key":7,"n":8}
	{"dedupe_key":"7","n":9}
	{"o":{"dedupe_key":"q"},"n":10}
	{"dedupe_key":"q","n":11}
	EOF
	run --separate-stderr cx-dedupe --stats < in
	assert_success
	[ "$(echo "$output" | jq -r .n | paste -sd,)" = 1,3,5,6,8,10,11 ]
	echo "$stderr" | jq -e 'select(.msg == "stats") | .dropped == 4 and .unkeyed == 1'
}

@test "--key takes a jq path; a number and the same digits as a string are one key" {
	printf '%s\n' '{"data":{"id":7}}' '{"data":{"id":"7"}}' '{"data":{"id":8}}' '{"data":{"id":[8]}}' > in
	run cx-dedupe --key .data.id < in
	assert_success
	assert_output "$(printf '%s\n' '{"data":{"id":7}}' '{"data":{"id":8}}' '{"data":{"id":[8]}}')"
}

@test "an invalid --key program is a usage error and nothing is read" {
	run cx-dedupe --key '.[' <<< '{"a":1}'
	assert_failure 64
	assert_output --partial "does not compile"
}

@test "--stats counts seen, forwarded, dropped and unkeyed" {
	lines 10 k > in
	lines 5 k >> in
	run --separate-stderr cx-dedupe --stats < in
	assert_success
	[ "$(echo "$output" | wc -l)" -eq 10 ]
	echo "$stderr" | grep '"msg":"stats"' | jq -e '.seen == 15 and .forwarded == 10 and .dropped == 5 and .unkeyed == 0'
}

@test "counters reach cx metrics" {
	lines 3 m > in
	lines 3 m >> in
	echo '{"n":1}' >> in
	cx-dedupe < in > /dev/null
	run cx metrics
	assert_success
	assert_line 'cx_dedupe_lines_total{result="forwarded"} 3'
	assert_line 'cx_dedupe_lines_total{result="dropped"} 3'
	assert_line 'cx_dedupe_lines_total{result="unkeyed"} 1'
}

@test "a key expires after --ttl and is forwarded again" {
	export CX_NOW=1000
	echo '{"dedupe_key":"t"}' | cx-dedupe --ttl 100 > /dev/null
	CX_NOW=1099 run cx-dedupe --ttl 100 <<< '{"dedupe_key":"t"}'
	assert_output ""
	CX_NOW=1100 run cx-dedupe --ttl 100 <<< '{"dedupe_key":"t"}'
	assert_output '{"dedupe_key":"t"}'
}

@test "expired keys are purged as the stream goes" {
	export CX_NOW=1000
	lines 500 old > in
	cx-dedupe --ttl 10 < in > /dev/null
	[ "$(sql 'SELECT count(*) FROM dedupe')" -eq 500 ]
	CX_NOW=2000 run cx-dedupe --ttl 10 <<< '{"dedupe_key":"new"}'
	assert_output '{"dedupe_key":"new"}'
	[ "$(sql 'SELECT count(*) FROM dedupe')" -eq 1 ]
	want=$(printf new | sha256sum | cut -c1-32)
	[ "$(sql 'SELECT lower(hex(key)) FROM dedupe')" = "$want" ]
}

@test "bad lines are reported by number, the rest goes through, exit 65" {
	{
		echo '{"dedupe_key":"ok1"}'
		echo 'not json'
		echo '[1,2]'
		echo ''
		printf '{"dedupe_key":"\xff\xfe"}\n'
		echo '"a string"'
		printf '{"dedupe_key":"%s"}\n' "$(head -c 300 /dev/zero | tr '\0' x)"
		echo '{"dedupe_key":"ok2"}'
	} > in
	run --separate-stderr cx-dedupe --max-line 200 < in
	assert_failure 65
	assert_output "$(printf '%s\n' '{"dedupe_key":"ok1"}' '{"dedupe_key":"ok2"}')"
	codes=$(echo "$stderr" | jq -r 'select(.level == "error") | "\(.line):\(.error_code)"' | tr '\n' ' ')
	[ "$codes" = "2:invalid_json 3:not_object 4:empty_line 5:invalid_utf8 6:not_object 7:line_too_long " ]
	# never the content of a line
	refute [ "$(echo "$stderr" | grep -c xxxx)" -gt 0 ]
}

@test "an over-long line larger than the read buffer is skipped whole" {
	{
		echo '{"dedupe_key":"before"}'
		head -c 200000 /dev/zero | tr '\0' 'y'; echo
		echo '{"dedupe_key":"after"}'
	} > in
	run --separate-stderr cx-dedupe --max-line 1000 < in
	assert_failure 65
	assert_output "$(printf '%s\n' '{"dedupe_key":"before"}' '{"dedupe_key":"after"}')"
	echo "$stderr" | jq -e 'select(.level == "error") | .line == 2 and .error_code == "line_too_long"'
}

@test "a last line without a newline is still read" {
	printf '{"dedupe_key":"a"}\n{"dedupe_key":"b"}' > in
	run cx-dedupe < in
	assert_success
	assert_output "$(printf '%s\n' '{"dedupe_key":"a"}' '{"dedupe_key":"b"}')"
}

@test "claim: a live lease held by another run drops the key; an expired one forwards it again" {
	lines 5 c > in
	CX_NOW=1000 run cx-dedupe --claim --lease 60 < in
	assert_success
	[ "$(echo "$output" | wc -l)" -eq 5 ]
	# the handler finished c0 and c1 only
	lines 2 c | CX_NOW=1010 cx-dedupe --commit > /dev/null
	CX_NOW=1059 run cx-dedupe --claim --lease 60 < in
	assert_output ""
	CX_NOW=1060 run cx-dedupe --claim --lease 60 < in
	assert_output "$(lines 5 c | tail -n 3)"
}

@test "claim: a run killed with kill -9 after claiming leaves its keys to the next run once the lease passes" {
	mkfifo feed
	lines 20 done > committed
	lines 20 done > in
	lines 30 open >> in
	export CX_NOW=5000
	cx-dedupe --claim --lease 120 < feed > claimed 2> /dev/null &
	pid=$!
	exec 7> feed
	cat in >&7
	# wait until the whole input has been claimed and forwarded
	for _ in $(seq 100); do [ "$(wc -l < claimed)" -eq 50 ] && break; sleep 0.1; done
	[ "$(wc -l < claimed)" -eq 50 ]
	kill -9 "$pid"
	exec 7>&-
	wait "$pid" || true
	# the handler had finished the "done" keys before the crash
	cx-dedupe --commit < committed > /dev/null
	CX_NOW=5100 run cx-dedupe --claim --lease 120 < in
	assert_output ""
	CX_NOW=5120 run cx-dedupe --claim --lease 120 < in
	assert_output "$(lines 30 open)"
	# committed keys never come back, even much later (within the TTL)
	CX_NOW=9000 run cx-dedupe --claim --lease 120 < committed
	assert_output ""
}

@test "commit forwards every line and marks its keys done" {
	printf '%s\n' '{"dedupe_key":"x"}' '{"dedupe_key":"x"}' '{"n":1}' > in
	run cx-dedupe --commit < in
	assert_success
	assert_output "$(cat in)"
	run cx-dedupe <<< '{"dedupe_key":"x"}'
	assert_output ""
}

@test "--claim and --commit together are a usage error" {
	run cx-dedupe --claim --commit < /dev/null
	assert_failure 64
}

@test "three processes on one database forward each key exactly once" {
	# 3 x 40000 lines; keys overlap: 80000 distinct in all
	for i in 0 1 2; do
		awk -v s=$((i * 20000)) 'BEGIN { for (k = s; k < s + 40000; k++) printf "{\"dedupe_key\":\"key-%d\",\"p\":\"%s\"}\n", k, "'$i'" }' > in$i
	done
	cx-dedupe < /dev/null
	cx-dedupe < in0 > out0 2> err0 & p0=$!
	cx-dedupe < in1 > out1 2> err1 & p1=$!
	cx-dedupe < in2 > out2 2> err2 & p2=$!
	wait $p0; wait $p1; wait $p2
	cat err0 err1 err2
	[ ! -s err0 ] && [ ! -s err1 ] && [ ! -s err2 ]
	total=$(cat out0 out1 out2 | wc -l)
	distinct=$(cat out0 out1 out2 | jq -r .dedupe_key | sort -u | wc -l)
	echo "total=$total distinct=$distinct"
	[ "$total" -eq 80000 ]
	[ "$distinct" -eq 80000 ]
}

@test "three claim processes on one database each take a key at most once" {
	for i in 0 1 2; do lines 20000 shared > in$i; done
	cx-dedupe < /dev/null
	for i in 0 1 2; do cx-dedupe --claim --lease 600 < in$i > out$i 2> err$i & done
	wait
	[ ! -s err0 ] && [ ! -s err1 ] && [ ! -s err2 ]
	[ "$(cat out0 out1 out2 | wc -l)" -eq 20000 ]
	[ "$(cat out0 out1 out2 | sort -u | wc -l)" -eq 20000 ]
}

@test "a reader that goes away stops it quietly" {
	lines 200000 p > in
	run --separate-stderr bash -c 'cx-dedupe < in | head -n 1'
	assert_success
	assert_output '{"dedupe_key":"p0","n":0}'
	assert_equal "$stderr" ""
}

@test "the state file is created 0600 with its parent directories" {
	export CX_DB="$BATS_TEST_TMPDIR/deep/er/state.db"
	cx-dedupe < /dev/null
	assert_file_exist "$CX_DB"
	[ "$(stat -c %a "$CX_DB")" = 600 ]
	[ "$(stat -c %a "$BATS_TEST_TMPDIR/deep/er")" = 700 ]
}

@test "without --db or CX_DB the state file is under XDG_STATE_HOME" {
	unset CX_DB
	export XDG_STATE_HOME="$BATS_TEST_TMPDIR/state"
	echo '{"dedupe_key":"z"}' | cx-dedupe > /dev/null
	assert_file_exist "$XDG_STATE_HOME/cx/cx.db"
	run cx-dedupe --db "$BATS_TEST_TMPDIR/other.db" <<< '{"dedupe_key":"z"}'
	assert_output '{"dedupe_key":"z"}'
}

@test "a state file of a newer schema is refused with exit 78 and left alone" {
	cx-dedupe < /dev/null
	sql 'PRAGMA user_version = 99'
	run cx-dedupe <<< '{"dedupe_key":"a"}'
	assert_failure 78
	assert_output --partial "schema version 99"
	[ "$(sql 'SELECT count(*) FROM dedupe')" -eq 0 ]
}

@test "a directory that cannot hold the state file is a configuration error" {
	run cx-dedupe --db /proc/cx/nope.db < /dev/null
	assert_failure 78
}

@test "a zero --ttl or --lease is a usage error" {
	run cx-dedupe --ttl 0 < /dev/null
	assert_failure 64
	run cx-dedupe --claim --lease 0 < /dev/null
	assert_failure 64
}

@test "- names stdin" {
	run cx-dedupe - <<< '{"dedupe_key":"a"}'
	assert_success
	assert_output '{"dedupe_key":"a"}'
	run cx-dedupe other-file < /dev/null
	assert_failure 64
}

@test "a --key program that fails on a line forwards it as unkeyed with a warning" {
	printf '%s\n' '{"a":"str"}' '{"a":{"b":1}}' > in
	run --separate-stderr cx-dedupe --key .a.b < in
	assert_success
	assert_output "$(cat in)"
	echo "$stderr" | jq -e 'select(.level == "warn") | .line == 1 and .error_code == "key_error"'
}

@test "a --commit run counts its lines as committed, not forwarded again" {
	lines 4 k > in
	cx-dedupe --claim < in | cx-dedupe --commit > /dev/null
	run cx metrics
	assert_line 'cx_dedupe_lines_total{result="forwarded"} 4'
	assert_line 'cx_dedupe_lines_total{result="committed"} 4'
}

@test "processes opening a new state file at once all succeed" {
	for round in $(seq 15); do
		rm -f race.db race.db-wal race.db-shm
		for j in 1 2 3 4 5 6; do
			(echo "{\"dedupe_key\":\"k$j\"}" | cx-dedupe --db race.db > /dev/null 2>> err || echo failed >> err) &
		done
		wait
	done
	[ ! -s err ] || { cat err; false; }
	[ "$(sqlite3 race.db 'PRAGMA journal_mode')" = wal ]
}

@test "a value then a string with no separator is invalid JSON, by line number, and the rest goes through" {
	{
		echo '{"dedupe_key":"ok1"}'
		no_separator
		echo '{"dedupe_key":"ok2"}'
	} > in
	run --separate-stderr cx-dedupe < in
	assert_failure 65
	assert_output "$(printf '%s\n' '{"dedupe_key":"ok1"}' '{"dedupe_key":"ok2"}')"
	echo "$stderr" | jq -e -s 'map([.line, .error_code]) == [range(2; 12) | [., "invalid_json"]]'
}

@test "the lines read show on a terminal's stderr only, and --no-progress turns it off" {
	lines 5000 p > in
	on_terminal sh -c 'cx-dedupe < in'
	assert_equal "$(wc -l < tty.out)" 5000
	grep -q $'\r\e\\[Kcx-dedupe: 5000 lines\r$' tty.err
	on_terminal sh -c 'cx-dedupe --no-progress < in'
	assert_equal "$(wc -l < tty.out)" 0
	[ ! -s tty.err ]
	run --separate-stderr cx-dedupe --key .n < in
	assert_success
	[ "${#lines[@]}" -eq 5000 ]
	[ -z "$stderr" ]
}
