#!/usr/bin/env bash
# bench/delivery.sh: cx-publish's delivery channels against the mocks of
# issue 15, each compared with what a script would do with curl, in one run.
#
#   bench/delivery.sh [--size MIB] [--rows N] [--curl-rows N] [--latency MS]
#                     [--rate R] [--keep]
#
# 1. S3: a file of --size MiB of random bytes (default 1024) to
#    tests/mock/s3.py on 127.0.0.1 (every request's SigV4 signed again with
#    botocore, every body's SHA-256 checked). Timed:
#      a. curl: one `curl --aws-sigv4 "aws:amz:us-east-1:s3" -T FILE` PUT,
#         its x-amz-content-sha256 and x-amz-checksum-sha256 worked out
#         beforehand (sha256sum, timed apart and not counted)
#      b. cx-publish: one command line {"channel":"s3","workspace":"acme",
#         "bucket":...,"key":...,"file":...} on stdin, CX_S3_* pointing at
#         the mock, CX_S3_PART_SIZE left at its default (8 MiB): hashing,
#         multipart upload and the HEAD that checks it, all counted.
#    Targets: cx MiB/s >= 0.8x curl's; cx-publish's peak RSS <= 64 MiB.
#    Printed too, without a target: cx against sha256sum and curl together
#    (a script has to hash the file before its PUT, as cx does).
#    Checks: both objects hold the file's bytes (read back with a GET and
#    hashed), HEAD gives the size; cx's post.published line carries the
#    file's SHA-256 and size; every request the mock saw was signed right.
# 2. Sheets: N rows (default 10,000) to tests/mock/google_sheets.py
#    answering every request --latency ms late (default 20). Timed:
#      a. curl: a shell loop running `curl` once per row, one values:append
#         each, over the first --curl-rows rows (default 500: the rate is
#         what is compared)
#      b. cx-publish: N command lines {"channel":"sheets","workspace":"acme",
#         "spreadsheet_id":...,"range":"Log!A:C","values":[key,...],
#         "row_key":key} on stdin, CX_PUBLISH_RATE_SHEETS=R (--rate, default
#         1000 requests a second: the mock has no quota; the default keeps
#         to Google's 60 writes a minute)
#    Target: cx rows/s >= 50x the curl loop's.
#    Checks: the sheet cx wrote holds the N rows, each row key once; no
#    append carried more than 500 rows; the curl sheet holds its rows.
# The token for Sheets comes from tests/mock/oauth_server.py through the
# credential store (cx-oauth), as in production.
# Exits 1 when a target or a check fails.
#
# Environment: BENCH_DIR (temp dir: the file, the mock's copies of it and the
# state files live there; about 3.5x --size free is needed; the S3 files go
# before the Sheets part), BENCH_CPUS (2).

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

usage() {
	sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
	exit "${1:-0}"
}

size=1024
rows=10000
curl_rows=500
latency=20
rate=1000
keep=0
args=("$@")
while [ $# -gt 0 ]; do
	case $1 in
	--size) [ $# -ge 2 ] || usage 2; size=$2; shift ;;
	--rows) [ $# -ge 2 ] || usage 2; rows=$2; shift ;;
	--curl-rows) [ $# -ge 2 ] || usage 2; curl_rows=$2; shift ;;
	--latency) [ $# -ge 2 ] || usage 2; latency=$2; shift ;;
	--rate) [ $# -ge 2 ] || usage 2; rate=$2; shift ;;
	--keep) keep=1 ;;
	-h | --help) usage 0 ;;
	*) echo "delivery.sh: unknown argument '$1'" >&2; usage 2 ;;
	esac
	shift
done
for v in "$size" "$rows" "$curl_rows" "$latency" "$rate"; do
	case $v in '' | *[!0-9]*) echo "delivery.sh: numbers must be non-negative integers" >&2; exit 2 ;; esac
done
for v in "$size" "$rows" "$curl_rows" "$rate"; do
	[ "$v" -gt 0 ] || { echo "delivery.sh: the size, counts and rate must be at least 1" >&2; exit 2; }
done
[ "$curl_rows" -le "$rows" ] || curl_rows=$rows

bench_init delivery "${args[@]}"
bench_need curl curl
bench_need jq jq
bench_need xxd xxd
bench_need /usr/bin/python3 python3
/usr/bin/python3 -c 'import botocore' 2> /dev/null || bench_need /usr/lib/python3/dist-packages/botocore python3-botocore

for t in cx cx-oauth cx-publish; do
	[ -x "$CX_ROOT/bin/$t" ] || make -C "$CX_ROOT" -s "bin/$t" >&2
done
export PATH="$CX_ROOT/bin:$PATH"
unset CX_CONFIG CX_NOW CX_DB_SYNC CX_S3_PATH_STYLE CX_S3_PART_SIZE
export CX_LOG=json CX_LOG_LEVEL=warn
CX_TOKEN_KEY=$(head -c 32 /dev/urandom | base64)
export CX_TOKEN_KEY
PY=/usr/bin/python3
MIB=1048576
AWS_KEY=AKIDCXBENCH AWS_SECRET=bench/s3/secret
rss_limit_mib=64
load0=$(cut -d' ' -f1-3 /proc/loadavg)

T=$BENCH_TMP
declare -A RC=([s3_cx]=0 [sheets_cx]=0)
bench_on_exit "$keep"

# start NAME SCRIPT ARGS...: tests/mock/SCRIPT on a free port; sets URL.
start() {
	local name=$1 script=$2
	shift 2
	"$PY" "$CX_ROOT/tests/mock/$script" 0 --lifetime 7200 "$@" > "$T/$name.port" 2> "$T/$name.err" &
	BENCH_PIDS+=($!)
	for _ in $(seq 400); do [ -s "$T/$name.port" ] && break; sleep 0.05; done
	[ -s "$T/$name.port" ] || { echo "delivery.sh: $script did not start:" >&2; cat "$T/$name.err" >&2; exit 1; }
	URL=http://127.0.0.1:$(head -n 1 "$T/$name.port")
}

# =============================================================================
# S3
# =============================================================================
echo "S3: a $size MiB file of random bytes..." >&2
head -c $((size * MIB)) /dev/urandom > "$T/backup.bin"
bytes=$(stat -c %s "$T/backup.bin")
bench_time s3_sha /dev/null "$T/backup.sha" sha256sum "$T/backup.bin"
sha=$(cut -c1-64 "$T/backup.sha")
b64=$(printf '%s' "$sha" | xxd -r -p | base64)
mkdir "$T/s3"
start s3 s3.py --dir "$T/s3" --bucket bench --access-key "$AWS_KEY" --secret-key "$AWS_SECRET" \
	--record "$T/s3.jsonl"
S3=$URL

echo "S3: one curl --aws-sigv4 PUT..." >&2
bench_time s3_curl /dev/null "$T/s3_curl.out" curl -sS -o /dev/null -w '%{http_code}' \
	--aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_KEY:$AWS_SECRET" \
	-H "x-amz-content-sha256: $sha" -H "x-amz-checksum-sha256: $b64" \
	-T "$T/backup.bin" "$S3/bench/curl.bin"

echo "S3: cx-publish..." >&2
printf '{"channel":"s3","workspace":"acme","bucket":"bench","key":"cx.bin","file":"%s"}\n' \
	"$T/backup.bin" > "$T/s3.ndjson"
CX_DB=$T/s3.db CX_S3_ENDPOINT=$S3 CX_S3_REGION=us-east-1 CX_S3_ACCESS_KEY_ID=$AWS_KEY \
	CX_S3_SECRET_ACCESS_KEY=$AWS_SECRET bench_time s3_cx "$T/s3.ndjson" "$T/s3_cx.out" \
	cx-publish 2> "$T/s3_cx.err" || RC[s3_cx]=$?

# signed CURL ARGS...: a request to the mock signed with an empty payload.
signed() {
	curl -s --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_KEY:$AWS_SECRET" \
		-H "x-amz-content-sha256: $(printf '' | sha256sum | cut -c1-64)" "$@"
}

# stored KEY: the SHA-256 of the object's bytes, read back with a GET.
stored() {
	signed -f "$S3/bench/$1" | sha256sum | cut -c1-64
}

# head_length KEY: the Content-Length a signed HEAD answers.
head_length() {
	signed -I "$S3/bench/$1" | awk 'tolower($1) == "content-length:" { print $2 + 0 }'
}

# The S3 checks now, then the 3 GiB go and the disk settles, so that their
# writeback does not slow the Sheets runs' commits.
code=$(cat "$T/s3_curl.out")
got=$(stored curl.bin)
len=$(head_length curl.bin)
bench_check "S3 curl: answered $code, stored bytes' SHA-256 the file's: $([ "$got" = "$sha" ] && echo yes || echo no), HEAD length $len (want 200, yes, $bytes)" \
	"$([ "$code" = 200 ] && [ "$got" = "$sha" ] && [ "$len" = "$bytes" ] && echo 1 || echo 0)"
got=$(stored cx.bin)
len=$(head_length cx.bin)
pub=$(jq -c --arg s "$sha" --argjson n "$bytes" \
	'select(.type == "post.published" and .data.sha256 == $s and .data.size == $n)' "$T/s3_cx.out" | wc -l)
parts=$(jq -c 'select(.operation == "UploadPart" and .key == "cx.bin" and .status == 200)' "$T/s3.jsonl" | wc -l)
want_parts=0
[ "$bytes" -le $((8 * MIB)) ] || want_parts=$(((bytes + 8 * MIB - 1) / (8 * MIB)))
bench_check "S3 cx: stored bytes' SHA-256 the file's: $([ "$got" = "$sha" ] && echo yes || echo no), HEAD length $len, $pub post.published with the SHA-256 and size, $parts parts (want yes, $bytes, 1, $want_parts)" \
	"$([ "$got" = "$sha" ] && [ "$len" = "$bytes" ] && [ "$pub" = 1 ] && [ "$parts" = "$want_parts" ] &&
		echo 1 || echo 0)"
unsigned=$(jq -c 'select(.signature != "ok")' "$T/s3.jsonl" | wc -l)
# (a HEAD before the upload may well find nothing: 404 is its answer)
refused=$(jq -c 'select((.status // 500) >= 400 and (.operation != "HeadObject" or .status != 404))' \
	"$T/s3.jsonl" | wc -l)
bench_check "S3: every request signed right ($unsigned not), none refused or failed ($refused)" \
	"$([ "$unsigned" = 0 ] && [ "$refused" = 0 ] && echo 1 || echo 0)"
rm -rf "$T/backup.bin" "$T/s3"
sync

# =============================================================================
# Sheets
# =============================================================================
echo "Sheets: the OAuth mock, the Sheets mock (${latency} ms), a Google credential..." >&2
redirect=http://127.0.0.1:8765/callback
start oauth oauth_server.py --record /dev/null --redirect "$redirect"
M=$URL
start sheets google_sheets.py --latency-ms "$latency" --sheet bench-cx:Log \
	--sheet bench-curl:Log --record "$T/sheets.jsonl"
SHEETS=$URL
export CX_GOOGLE_CLIENT_ID=google-client-id.apps.googleusercontent.com \
	CX_GOOGLE_CLIENT_SECRET=google-client-secret CX_GOOGLE_REDIRECT_URI=$redirect \
	CX_GOOGLE_AUTHORIZE_URL=$M/google/authorize CX_GOOGLE_TOKEN_URL=$M/google/token
auth=$(CX_DB=$T/sheets.db CX_GOOGLE_API_BASE=$M/google cx-oauth authorize --provider google --workspace acme)
CX_DB=$T/sheets.db CX_GOOGLE_API_BASE=$M/google cx-oauth callback \
	--url "$(curl -s -o /dev/null -w '%{redirect_url}' "$auth")" > /dev/null
token=$(CX_DB=$T/sheets.db cx-oauth token --provider google --workspace acme)

awk -v n="$rows" 'BEGIN { for (i = 1; i <= n; i++)
	printf "{\"channel\":\"sheets\",\"workspace\":\"acme\",\"spreadsheet_id\":\"bench-cx\",\"range\":\"Log!A:C\",\"values\":[\"row-%06d\",\"2026-12-07T02:00:00Z\",%d],\"row_key\":\"row-%06d\"}\n", i, i, i }' \
	> "$T/sheets.ndjson"
head -n "$curl_rows" "$T/sheets.ndjson" | jq -c '{values: [.values]}' > "$T/curl-rows.ndjson"

echo "Sheets: a curl loop, one values:append per row ($curl_rows rows)..." >&2
sheets_curl_loop() {
	local body fails=0
	while IFS= read -r body; do
		curl -sf -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
			--data-binary "$body" \
			"$SHEETS/v4/spreadsheets/bench-curl/values/Log!A:C:append?valueInputOption=RAW&insertDataOption=INSERT_ROWS" ||
			fails=$((fails + 1))
	done < "$T/curl-rows.ndjson"
	echo "$fails" > "$T/sheets_curl.fails"
}
export -f sheets_curl_loop
export T SHEETS token
bench_time sheets_curl /dev/null /dev/null bash -c sheets_curl_loop

echo "Sheets: cx-publish, $rows rows (CX_PUBLISH_RATE_SHEETS=$rate)..." >&2
CX_DB=$T/sheets.db CX_GOOGLE_API_BASE=$M/google CX_SHEETS_API_BASE=$SHEETS CX_PUBLISH_RATE_SHEETS=$rate \
	bench_time sheets_cx "$T/sheets.ndjson" "$T/sheets_cx.out" cx-publish 2> "$T/sheets_cx.err" ||
	RC[sheets_cx]=$?

# sheet_rows SPREADSHEET: the rows the mock holds, one JSON array a line.
sheet_rows() {
	curl -sf "$SHEETS/_control/rows?spreadsheet=$1&sheet=Log" | jq -c '.rows[]'
}

# =============================================================================
# results
# =============================================================================
mibs() { awk -v b="$bytes" -v s="$1" 'BEGIN { printf "%.1f", (s > 0 ? b / 1048576 / s : 0) }'; }
rate_of() { bench_rate "$1" "${BENCH_SECS[$2]}"; }
failed() { [ "${RC[$1]}" = 0 ] || echo " FAILED"; }
echo
echo "delivery benchmark; host: $(nproc) CPU(s), $BENCH_CPUS used, load average before: $load0"
echo
echo "S3: a $size MiB file to tests/mock/s3.py (SigV4 and every body's SHA-256 checked) on 127.0.0.1"
printf '%-44s %9s %9s %9s\n' tool seconds 'MiB/s' 'RSS MiB'
printf '%-44s %9.3f %9s %9s\n' "sha256sum (curl's hashes, not counted)" "${BENCH_SECS[s3_sha]}" \
	"$(mibs "${BENCH_SECS[s3_sha]}")" "$(bench_mib "${BENCH_KIB[s3_sha]}")"
printf '%-44s %9.3f %9s %9s\n' "curl --aws-sigv4 -T (one PUT)" "${BENCH_SECS[s3_curl]}" \
	"$(mibs "${BENCH_SECS[s3_curl]}")" "$(bench_mib "${BENCH_KIB[s3_curl]}")"
printf '%-44s %9.3f %9s %9s\n' "cx-publish s3 (hash, multipart, HEAD)$(failed s3_cx)" "${BENCH_SECS[s3_cx]}" \
	"$(mibs "${BENCH_SECS[s3_cx]}")" "$(bench_mib "${BENCH_KIB[s3_cx]}")"
echo
echo "Sheets: $rows rows to tests/mock/google_sheets.py (${latency} ms a request);" \
	"cx-publish with CX_PUBLISH_RATE_SHEETS=$rate (the mock has no quota)"
printf '%-44s %9s %9s %9s\n' tool seconds 'rows/s' 'RSS MiB'
printf '%-44s %9.3f %9d %9s\n' "curl loop (a values:append a row, $curl_rows)" \
	"${BENCH_SECS[sheets_curl]}" "$(rate_of "$curl_rows" sheets_curl)" "-"
printf '%-44s %9.3f %9d %9s\n' "cx-publish sheets ($rows lines)$(failed sheets_cx)" \
	"${BENCH_SECS[sheets_cx]}" "$(rate_of "$rows" sheets_cx)" "$(bench_mib "${BENCH_KIB[sheets_cx]}")"
echo
# ran ID: a cx run that failed is no measurement.
ran() {
	[ "${RC[$1]}" = 0 ] && return 0
	bench_check "$1: cx-publish exited with status ${RC[$1]} (its stderr: $1.err, --keep)" 0
	return 1
}
if ran s3_cx; then
	bench_ratio "S3: cx-publish MiB/s vs curl PUT" "${BENCH_SECS[s3_curl]}" "${BENCH_SECS[s3_cx]}" 0.8
	bench_ratio "S3: cx-publish vs sha256sum + curl PUT" \
		"$(awk -v a="${BENCH_SECS[s3_sha]}" -v b="${BENCH_SECS[s3_curl]}" 'BEGIN { print a + b }')" \
		"${BENCH_SECS[s3_cx]}"
	bench_check "S3: cx-publish peak RSS $(bench_mib "${BENCH_KIB[s3_cx]}") MiB <= $rss_limit_mib MiB" \
		"$([ "${BENCH_KIB[s3_cx]}" -le $((rss_limit_mib * 1024)) ] && echo 1 || echo 0)"
fi
if ran sheets_cx; then
	bench_ratio "Sheets: cx-publish rows/s vs curl loop" \
		"$(rate_of "$rows" sheets_cx)" "$(rate_of "$curl_rows" sheets_curl)" 50
fi
echo

# =============================================================================
# checks
# =============================================================================
sheet_rows bench-cx > "$T/cx-rows.ndjson"
n=$(wc -l < "$T/cx-rows.ndjson")
keys=$(jq -r '.[0]' "$T/cx-rows.ndjson" | sort -u | wc -l)
same=$(cmp -s <(jq -r '.[0]' "$T/cx-rows.ndjson" | sort) <(jq -r .row_key "$T/sheets.ndjson" | sort) &&
	echo yes || echo no)
appends=$(jq -c 'select(.op == "append" and .spreadsheet == "bench-cx")' "$T/sheets.jsonl" | wc -l)
most=$(jq -s '[.[] | select(.op == "append" and .spreadsheet == "bench-cx") | .rows] | max // 0' "$T/sheets.jsonl")
bench_check "Sheets cx: $n rows, $keys row keys, the command lines' keys: $same; $appends appends of at most $most rows (want $rows, $rows, yes, <= 500)" \
	"$([ "$n" = "$rows" ] && [ "$keys" = "$rows" ] && [ "$same" = yes ] && [ "$most" -le 500 ] &&
		echo 1 || echo 0)"
n=$(sheet_rows bench-curl | wc -l)
fails=$(cat "$T/sheets_curl.fails")
bench_check "Sheets curl: $n rows, $fails curl failures (want $curl_rows, 0)" \
	"$([ "$n" = "$curl_rows" ] && [ "$fails" = 0 ] && echo 1 || echo 0)"
echo
bench_verdict
