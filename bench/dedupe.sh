#!/usr/bin/env bash
# bench/dedupe.sh: cx-dedupe against awk's in-memory dedupe and against the
# sqlite3 CLI inserting the same keys (SPEC §9), on generated input.
#
#   bench/dedupe.sh [--lines N | --big] [--keep]
#
# Input: N NDJSON lines of 200 bytes (default: two runs, 400,000 and
# 1,000,000 lines; --big 5,000,000), exactly 20% of them repeating an
# earlier key (every fifth line, the key drawn uniformly from the keys so
# far). Generated with awk from a fixed seed (its own Lehmer generator, so
# any awk gives the same bytes).
#
# Timed, each on the same input, with wall time and peak RSS:
#   1. cx-dedupe on a fresh state file
#   2. cx-dedupe again on that state file (every key now a repeat)
#   3. awk '!seen[key]++' (in memory, not durable)
#   4. sqlite3 CLI: INSERT OR IGNORE of the keys into a WITHOUT ROWID
#      table in one transaction, sqlite3's defaults (rollback journal,
#      synchronous=FULL) -- the durable floor. The SQL file is written
#      before the clock starts.
# Targets, at every size: cx fresh >= 1.0x the sqlite3 CLI rate, cx again
# (all repeats) >= 1.5x it; cx peak RSS <= 32 MiB; cx output byte for byte
# awk's. Exits 1 when a target or a correctness check fails.
#
# Environment: BENCH_DIR (where the temp dir goes; the state files live
# there, so its file system decides what fsync costs), BENCH_CPUS (2),
# BENCH_BEFORE (another cx-dedupe build, e.g. main's: timed too, fresh and
# again on a state file of its own, for a before/after in the same run).

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

usage() {
	sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
	exit "${1:-0}"
}

sizes="400000 1000000"
keep=0
args=("$@")
while [ $# -gt 0 ]; do
	case $1 in
	--big) sizes=5000000 ;;
	--lines) [ $# -ge 2 ] || usage 2; sizes=$2; shift ;;
	--lines=*) sizes=${1#--lines=} ;;
	--keep) keep=1 ;;
	-h | --help) usage 0 ;;
	*) echo "dedupe.sh: unknown argument '$1'" >&2; usage 2 ;;
	esac
	shift
done
case $sizes in '' | *[!0-9\ ]* | 0) echo "dedupe.sh: --lines needs a positive integer" >&2; exit 2 ;; esac

bench_init dedupe "${args[@]}"
bench_need sqlite3 sqlite3
bench_need awk mawk

cx=$CX_ROOT/bin/cx-dedupe
if [ ! -x "$cx" ]; then
	make -C "$CX_ROOT" -s bin/cx-dedupe >&2
fi
# The defaults, not whatever the caller's shell says.
unset CX_CONFIG CX_DB CX_DB_SYNC CX_NOW CX_BUSY_TIMEOUT_MS
export CX_LOG=json

rss_limit_mib=32
[ "$keep" = 1 ] && trap 'echo "kept $BENCH_TMP" >&2' EXIT

mib_of() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f", b / 1048576 }'; }

# bench_size LINES: one input of LINES lines, the four runs, their table,
# ratios and checks.
bench_size() {
	local lines=$1 T=$BENCH_TMP/$1 in uniq bytes cx1_n cx2_n awk_n sql_n cx_rows
	local r_cx1 r_cx2 r_awk r_sql id load0
	load0=$(cut -d' ' -f1-3 /proc/loadavg)   # other work on the host skews the times
	mkdir -p "$T"
	in=$T/input.ndjson

	# --- input -----------------------------------------------------------------
	# Line i (0-based) repeats a key when i % 5 == 4, else takes the next new
	# key. Key number j is "wamid.HBgL" + 8 hex digits scrambled from j + j
	# itself: unique, and not in insertion order (as real message ids are not).
	echo "generating $lines lines..." >&2
	awk -v n="$lines" '
	function h(j,  x) {
		x = ((j + 1) * 48271) % M
		x = (x * 48271) % M
		x = (x * 48271) % M
		return x
	}
	function key(j) {
		return sprintf("whatsapp:106540352242922:msg:wamid.HBgL%08X%07d", h(j), j)
	}
	BEGIN {
		M = 2147483647; s = 20240601   # fixed seed
		pad = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua "
		pad = pad pad
		uniq = 0
		for (i = 0; i < n; i++) {
			if (i % 5 == 4) {
				s = (s * 48271) % M
				k = key(int(s / M * uniq))
			} else
				k = key(uniq++)
			line = sprintf("{\"v\":1,\"type\":\"message\",\"dedupe_key\":\"%s\",\"channel\":\"whatsapp\",\"ts\":%d,\"from\":\"15551234567\",\"text\":\"", k, 1717200000 + int(i / 50))
			# 200 bytes with the newline
			printf "%s%s\"}\n", line, substr(pad, 1, 197 - length(line))
		}
		print uniq > "/dev/stderr"
	}' >"$in" 2>"$T/uniq"
	uniq=$(cat "$T/uniq")
	bytes=$(wc -c <"$in")

	# The SQL for the sqlite3 CLI, from the same keys, before any clock runs.
	awk -F'"dedupe_key":"' '
	BEGIN {
		print "CREATE TABLE k(key TEXT PRIMARY KEY) WITHOUT ROWID;"
		print "BEGIN;"
	}
	{
		split($2, a, "\"")
		gsub(/\x27/, "\x27\x27", a[1])
		printf "INSERT OR IGNORE INTO k VALUES(\x27%s\x27);\n", a[1]
	}
	END { print "COMMIT;" }' "$in" >"$T/keys.sql"

	# --- runs ------------------------------------------------------------------
	run() {
		sync   # earlier writes must not land in a timed run's fsyncs
		bench_time "$@"
	}
	echo "running cx-dedupe (fresh)..." >&2
	run cx1 "$in" "$T/cx1.out" "$cx" --db "$T/cx.db"
	echo "running cx-dedupe (all repeats)..." >&2
	run cx2 "$in" "$T/cx2.out" "$cx" --db "$T/cx.db"
	if [ -n "${BENCH_BEFORE:-}" ]; then
		echo "running the BENCH_BEFORE cx-dedupe (fresh, then all repeats)..." >&2
		run old1 "$in" "$T/old1.out" "$BENCH_BEFORE" --db "$T/old.db"
		run old2 "$in" /dev/null "$BENCH_BEFORE" --db "$T/old.db"
	fi
	echo "running awk..." >&2
	run awk "$in" "$T/awk.out" awk -F'"dedupe_key":"' '{ split($2, a, "\""); if (!seen[a[1]]++) print }'
	echo "running sqlite3 CLI..." >&2
	run sql "$T/keys.sql" /dev/null sqlite3 -batch "$T/sqlite.db"

	# --- checks ----------------------------------------------------------------
	cx1_n=$(wc -l <"$T/cx1.out")
	cx2_n=$(wc -l <"$T/cx2.out")
	awk_n=$(wc -l <"$T/awk.out")
	sql_n=$(sqlite3 -batch "$T/sqlite.db" 'SELECT count(*) FROM k')
	cx_rows=$(sqlite3 -batch "$T/cx.db" 'SELECT count(*) FROM dedupe')

	echo
	echo "cx-dedupe benchmark: $lines lines x 200 B ($((bytes / 1048576)) MiB), $uniq unique keys (20% repeats)"
	echo "host: $(nproc) CPU(s) ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), state files on $(df -T "$T" | awk 'NR == 2 { print $2 }'), load average $load0 at start, $(cut -d' ' -f1-3 /proc/loadavg) at end"
	echo "awk: $(basename "$(readlink -f "$(command -v awk)")"); sqlite3 $(sqlite3 --version | cut -d' ' -f1); peak RSS via ${BENCH_TIME:-/proc VmHWM sampling}"
	echo
	bench_header
	bench_row cx1 "cx-dedupe, fresh state file" "$lines"
	bench_row cx2 "cx-dedupe, same input again (all repeats)" "$lines"
	bench_row awk "awk '!seen[key]++' (in memory)" "$lines"
	bench_row sql "sqlite3 CLI, INSERT OR IGNORE, 1 txn" "$lines"
	if [ -n "${BENCH_BEFORE:-}" ]; then
		bench_row old1 "BENCH_BEFORE cx-dedupe, fresh" "$lines"
		bench_row old2 "BENCH_BEFORE cx-dedupe, again" "$lines"
	fi
	echo
	echo "forwarded: cx fresh $cx1_n, cx again $cx2_n, awk $awk_n; rows: cx $cx_rows, sqlite3 $sql_n"
	echo "state file: cx $(mib_of "$T/cx.db") MiB, sqlite3 $(mib_of "$T/sqlite.db") MiB"
	echo

	r_cx1=$(bench_rate "$lines" "${BENCH_SECS[cx1]}")
	r_cx2=$(bench_rate "$lines" "${BENCH_SECS[cx2]}")
	r_awk=$(bench_rate "$lines" "${BENCH_SECS[awk]}")
	r_sql=$(bench_rate "$lines" "${BENCH_SECS[sql]}")
	bench_ratio "cx fresh / sqlite3 CLI, $lines lines" "$r_cx1" "$r_sql" 1.0
	bench_ratio "cx again / sqlite3 CLI, $lines lines" "$r_cx2" "$r_sql" 1.5
	bench_ratio "cx fresh / awk" "$r_cx1" "$r_awk"
	bench_ratio "cx again / awk" "$r_cx2" "$r_awk"
	if [ -n "${BENCH_BEFORE:-}" ]; then
		bench_ratio "before: fresh / sqlite3 CLI" "$(bench_rate "$lines" "${BENCH_SECS[old1]}")" "$r_sql"
		bench_ratio "before: again / sqlite3 CLI" "$(bench_rate "$lines" "${BENCH_SECS[old2]}")" "$r_sql"
		bench_check "before: fresh output == cx fresh output at $lines lines" \
		    "$(cmp -s "$T/old1.out" "$T/cx1.out" && echo 1 || echo 0)"
	fi
	echo

	for id in cx1 cx2; do
		bench_check "cx peak RSS ($id) $(bench_mib "${BENCH_KIB[$id]}") MiB <= $rss_limit_mib MiB at $lines lines" \
		    "$(awk -v k="${BENCH_KIB[$id]}" -v m="$rss_limit_mib" 'BEGIN { print (k <= m * 1024) }')"
	done
	bench_check "cx fresh output == awk output (byte for byte) at $lines lines" \
	    "$(cmp -s "$T/cx1.out" "$T/awk.out" && echo 1 || echo 0)"
	bench_check "cx fresh forwards the $uniq unique keys, again forwards none at $lines lines" \
	    "$([ "$cx1_n" = "$uniq" ] && [ "$cx2_n" = 0 ] && [ "$sql_n" = "$uniq" ] && echo 1 || echo 0)"
	[ "$keep" = 1 ] || rm -rf "$T"
}

for n in $sizes; do
	bench_size "$n"
done
bench_verdict
