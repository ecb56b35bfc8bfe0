#!/usr/bin/env bash
# bench/email.sh: cx-publish's e-mail channel against a real SMTP server and
# the SES mock, compared with a shell loop running curl once per message, as
# a script would.
#
#   bench/email.sh [--smtp N] [--smtp-curl N] [--ses N] [--curl N]
#                  [--latency MS] [--rate R] [--keep]
#
# SMTP: N messages (default 1,000) from one tenant on the expert plan to
# tests/mock/smtpd.py (aiosmtpd: STARTTLS required, then AUTH) with a CA
# and a server certificate made here with openssl (CX_CA_FILE, --cacert).
# Timed:
#   1. cx-publish, N approved queue items, CX_DB_SYNC=full (the default)
#   2. the same on another copy, CX_DB_SYNC=normal
#   3. cx-publish, N commands on stdin (CX_APPROVAL_EMAIL=none, an
#      idempotency_key each; accepting them is timed too), CX_DB_SYNC=full
#   4. curl: a shell loop running `curl smtp://... --ssl-reqd --cacert CA -u
#      U:P --mail-from F --mail-rcpt R --upload-file MSG` once per message
#      over the first --smtp-curl of them (default N), each MSG the bytes
#      the server received from run 1 (copied before timing).
# Target: sends/s of runs 1 and 3 >= 5x the curl loop's.
# Checks, for each cx run: the server's record holds exactly N messages,
# all over one connection (one session), with TLS and AUTH, and their
# Message-IDs are those of the N post.published lines, each once; the
# published counter is N. The curl loop: every message arrived, one
# connection each.
#
# SES: M messages (default 2,000) split over two tenants on the default
# plan, to tests/mock/ses.py answering after --latency ms (default 20) and
# checking each SigV4 signature again with botocore. Timed as for SMTP (runs
# 1 to 3), and the curl loop: `curl --aws-sigv4 "aws:amz:us-east-1:ses"
# --user KEY:SECRET` once per request over the first --curl (default 200;
# the rate is what is compared) of the JSON bodies cx sent in run 1 (as the
# mock recorded them). Each tenant is held to CX_PUBLISH_RATE_EMAIL=R
# (--rate, default 200 a second, burst R), so the rate limits allow at most
# M / ((M/2 - R) / R) sends/s; the fraction of that reached is printed.
# CX_PUBLISH_CONCURRENCY as set (default 16).
# Target: sends/s of runs 1 and 3 >= 10x the curl loop's.
# Checks, for each cx run: the mock got M requests, each signed right and
# answered 200, each item's cx_item tag once, its MessageIds exactly the
# provider_refs of the M post.published lines; the published counter is M;
# for each tenant (the cx_tenant tag) the k-th request arrived no earlier
# than its bucket allows (k <= burst + rate * elapsed, 5% slack).
#
# Recipients: message i goes to u<i>@d<i>.example, so CX_EMAIL_RATE_DOMAIN
# and CX_EMAIL_RATE_RECIPIENT keep their defaults (10 a second per domain,
# 1 a minute per address): their buckets are taken for every message and
# never run dry, so what is measured is the sending with its governance,
# not a wait on one domain's bucket. The SMTP tenant's CX_PUBLISH_RATE_EMAIL
# is 1000 (its default, 14, is SES's starting rate; a relay of one's own
# has its own limits, and a script none).
# Exits 1 when a target or a check fails.
#
# Environment: BENCH_DIR (temp dir; the state files live there, so its file
# system decides what fsync costs), BENCH_CPUS (2), CX_PUBLISH_CONCURRENCY.

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

usage() {
	sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
	exit "${1:-0}"
}

smtp_n=1000
smtp_curl=
ses_n=2000
curl_n=200
latency=20
rate=200
keep=0
args=("$@")
while [ $# -gt 0 ]; do
	case $1 in
	--smtp) [ $# -ge 2 ] || usage 2; smtp_n=$2; shift ;;
	--smtp-curl) [ $# -ge 2 ] || usage 2; smtp_curl=$2; shift ;;
	--ses) [ $# -ge 2 ] || usage 2; ses_n=$2; shift ;;
	--curl) [ $# -ge 2 ] || usage 2; curl_n=$2; shift ;;
	--latency) [ $# -ge 2 ] || usage 2; latency=$2; shift ;;
	--rate) [ $# -ge 2 ] || usage 2; rate=$2; shift ;;
	--keep) keep=1 ;;
	-h | --help) usage 0 ;;
	*) echo "email.sh: unknown argument '$1'" >&2; usage 2 ;;
	esac
	shift
done
smtp_curl=${smtp_curl:-$smtp_n}
for v in "$smtp_n" "$smtp_curl" "$ses_n" "$curl_n" "$latency" "$rate"; do
	case $v in '' | *[!0-9]*) echo "email.sh: numbers must be non-negative integers" >&2; exit 2 ;; esac
done
for v in "$smtp_n" "$smtp_curl" "$ses_n" "$curl_n" "$rate"; do
	[ "$v" -gt 0 ] || { echo "email.sh: counts and the rate must be at least 1" >&2; exit 2; }
done
[ "$smtp_curl" -le "$smtp_n" ] || smtp_curl=$smtp_n
[ "$curl_n" -le "$ses_n" ] || curl_n=$ses_n

bench_init email "${args[@]}"
bench_need curl curl
bench_need jq jq
bench_need openssl openssl
bench_need sqlite3 sqlite3
bench_need /usr/bin/python3 python3
/usr/bin/python3 -c 'import aiosmtpd' 2> /dev/null || bench_need /usr/lib/python3/dist-packages/aiosmtpd python3-aiosmtpd
/usr/bin/python3 -c 'import botocore' 2> /dev/null || bench_need /usr/lib/python3/dist-packages/botocore python3-botocore

for t in cx cx-approve cx-publish cx-tenants; do
	[ -x "$CX_ROOT/bin/$t" ] || make -C "$CX_ROOT" -s "bin/$t" >&2
done
export PATH="$CX_ROOT/bin:$PATH"
unset CX_CONFIG CX_NOW CX_DB_SYNC CX_APPROVAL_EMAIL CX_EMAIL_RATE_DOMAIN CX_EMAIL_RATE_RECIPIENT \
	CX_SMTP_TLS CX_SMTP_CONNECTIONS CX_SES_CONFIGURATION_SET CX_SES_REGION
export CX_LOG=json CX_LOG_LEVEL=warn
export CX_PUBLISH_CONCURRENCY=${CX_PUBLISH_CONCURRENCY:-16}
PY=/usr/bin/python3
SMTP_USER=bench-mailer SMTP_PASSWORD=bench-smtp-secret
AWS_KEY=AKIDCXBENCH AWS_SECRET=bench/ses/secret
ME=$(id -un)

T=$BENCH_TMP
bench_on_exit "$keep"

# port_of FILE: the port a server printed on its first line.
port_of() {
	for _ in $(seq 400); do [ -s "$1" ] && break; sleep 0.05; done
	head -n 1 "$1"
}

# published OUT: the post.published lines of a cx-publish run.
published() {
	jq -c 'select(.type == "post.published")' "$1"
}

# counter DB: the published counter of the e-mail channel.
counter() {
	CX_DB=$1 cx metrics | awk '/^cx_publish_total\{channel="email",result="published"\}/ { print $2 }'
}

# state DB SETUP...: a state file with the operator and the tenants.
state() {
	local db=$1
	shift
	CX_DB=$db CX_DB_SYNC=normal cx-approve operators add "$ME" --role owner 2> /dev/null
	while [ $# -gt 0 ]; do
		CX_DB=$db CX_DB_SYNC=normal cx tenants set "$1" --email-plan "$2" --email-from "$3" \
			> /dev/null 2>&1
		shift 3
	done
}

# queued DB PROPOSALS N: the proposals enqueued and approved by the operator.
queued() {
	CX_DB=$1 CX_DB_SYNC=normal cx-approve enqueue < "$2" > /dev/null
	seq 1 "$3" | CX_DB=$1 xargs -n 500 env CX_DB_SYNC=normal cx-approve approve > /dev/null
	[ "$(sqlite3 "$1" "SELECT count(*) FROM queue WHERE state = 'approved'")" -eq "$3" ] ||
		{ echo "email.sh: $1 does not hold $3 approved items" >&2; exit 1; }
	sqlite3 "$1" 'PRAGMA wal_checkpoint(TRUNCATE);' > /dev/null
}

# run_cx ID TEMPLATE SYNC [STDIN]: cx-publish on a copy of TEMPLATE.
run_cx() {
	local id=$1 sync=$2
	cp "$3" "$T/$id.db"
	CX_DB=$T/$id.db CX_DB_SYNC=$sync bench_time "$id" "${4:-/dev/null}" "$T/$id.out" \
		cx-publish 2> "$T/$id.err" || true
}

# =============================================================================
# SMTP
# =============================================================================
echo "SMTP: a test CA, the server's certificate, aiosmtpd..." >&2
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/ca.key" -out "$T/ca.pem" \
	-days 2 -subj "/CN=cx bench CA" 2> /dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$T/srv.key" -out "$T/srv.csr" \
	-subj "/CN=localhost" 2> /dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$T/srv.ext"
openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
	-out "$T/srv.pem" -days 2 -extfile "$T/srv.ext" 2> /dev/null
mkdir "$T/mail"
"$PY" "$CX_ROOT/tests/mock/smtpd.py" 0 --cert "$T/srv.pem" --key "$T/srv.key" \
	--user "$SMTP_USER" --password "$SMTP_PASSWORD" --maildir "$T/mail" \
	--record "$T/smtp.jsonl" --lifetime 3600 > "$T/smtp.port" 2> "$T/smtp.err" &
BENCH_PIDS+=($!)
SMTP_PORT=$(port_of "$T/smtp.port")
touch "$T/smtp.jsonl"

smtp_env() {
	export CX_SMTP_URL=smtp://127.0.0.1:$SMTP_PORT CX_SMTP_USER=$SMTP_USER \
		CX_SMTP_PASSWORD=$SMTP_PASSWORD CX_CA_FILE=$T/ca.pem CX_PUBLISH_RATE_EMAIL=1000
}
smtp_env

# message i: text and html (multipart/alternative on SMTP, Simple on SES)
awk -v n="$smtp_n" 'BEGIN { for (i = 1; i <= n; i++)
	printf "{\"channel\":\"email\",\"workspace\":\"lab\",\"from\":\"Lab <team@lab.example>\",\"to\":[\"Customer %d <u%d@d%d.example>\"],\"cc\":[],\"bcc\":[],\"subject\":\"Your order %d has shipped\",\"text\":\"Hello,\\n\\nyour order %d is on its way.\\n\\nThe Lab team\\n\",\"html\":\"<p>Hello,</p><p>your order <b>%d</b> is on its way.</p><p>The Lab team</p>\"}\n",
		i, i, i, i, i, i }' > "$T/smtp-proposals.ndjson"
jq -c '. + {idempotency_key: "smtp-\(input_line_number)"}' "$T/smtp-proposals.ndjson" \
	> "$T/smtp-commands.ndjson"
echo "preparing $smtp_n approved items for SMTP..." >&2
state "$T/smtp-base.db" lab expert team@lab.example
cp "$T/smtp-base.db" "$T/smtp-queue.db"
queued "$T/smtp-queue.db" "$T/smtp-proposals.ndjson" "$smtp_n"

# smtp_run ID TEMPLATE SYNC [STDIN]: a cx run and the server's record of it.
smtp_run() {
	local before
	before=$(wc -l < "$T/smtp.jsonl")
	run_cx "$@"
	tail -n +"$((before + 1))" "$T/smtp.jsonl" > "$T/$1.smtp.jsonl"
}
smtp_run smtp_full full "$T/smtp-queue.db"
smtp_run smtp_normal normal "$T/smtp-queue.db"
CX_APPROVAL_EMAIL=none smtp_run smtp_stdin full "$T/smtp-base.db" "$T/smtp-commands.ndjson"

# The curl loop sends what the server got from the first run, byte for byte.
mkdir "$T/smtp-msgs"
jq -r '[.file, .mail_from, (.rcpt_tos | join(" "))] | @tsv' "$T/smtp_full.smtp.jsonl" |
	awk -F '\t' -v d="$T/smtp-msgs" -v n="$smtp_curl" 'NR <= n { f = sprintf("%s/%06d.eml", d, NR)
		print $1 "\t" f > (d ".cp"); print $2 "\t" $3 "\t" f }' > "$T/smtp-curl.tsv"
while IFS=$'\t' read -r from to; do cp "$from" "$to"; done < "$T/smtp-msgs.cp"
[ "$(wc -l < "$T/smtp-curl.tsv")" -eq "$smtp_curl" ] ||
	{ echo "email.sh: the first SMTP run left $(wc -l < "$T/smtp-curl.tsv") messages of $smtp_curl" >&2; exit 1; }

smtp_curl_loop() {
	local from rcpts msg r fails=0
	local -a to
	while IFS=$'\t' read -r from rcpts msg; do
		to=()
		for r in $rcpts; do to+=(--mail-rcpt "$r"); done
		curl -s "smtp://127.0.0.1:$SMTP_PORT" --ssl-reqd --cacert "$T/ca.pem" \
			-u "$SMTP_USER:$SMTP_PASSWORD" --mail-from "$from" "${to[@]}" \
			--upload-file "$msg" -o /dev/null || fails=$((fails + 1))
	done < "$T/smtp-curl.tsv"
	echo "$fails" > "$T/smtp_curl.fails"
}
export -f smtp_curl_loop
export T SMTP_PORT SMTP_USER SMTP_PASSWORD
before=$(wc -l < "$T/smtp.jsonl")
bench_time smtp_curl /dev/null /dev/null bash -c smtp_curl_loop
tail -n +"$((before + 1))" "$T/smtp.jsonl" > "$T/smtp_curl.smtp.jsonl"
unset CX_SMTP_URL CX_SMTP_USER CX_SMTP_PASSWORD CX_CA_FILE CX_PUBLISH_RATE_EMAIL

# =============================================================================
# SES
# =============================================================================
echo "SES: the mock, $ses_n approved items over two tenants..." >&2
"$PY" "$CX_ROOT/tests/mock/ses.py" 0 --access-key "$AWS_KEY" --secret-key "$AWS_SECRET" \
	--latency-ms "$latency" --lifetime 3600 > "$T/ses.port" 2> "$T/ses.err" &
BENCH_PIDS+=($!)
SES=http://127.0.0.1:$(port_of "$T/ses.port")
control() {
	curl -sf -X POST -H 'Content-Type: application/json' -d "$1" "$SES/_control" > /dev/null
}
ses_env() {
	export CX_SES_API_BASE=$SES CX_AWS_ACCESS_KEY_ID=$AWS_KEY CX_AWS_SECRET_ACCESS_KEY=$AWS_SECRET \
		CX_EMAIL_DEFAULT_FROM='Shop Mail <mail@ops.example>' CX_PUBLISH_RATE_EMAIL=$rate
}
ses_env

awk -v n="$ses_n" 'BEGIN { for (i = 1; i <= n; i++)
	printf "{\"channel\":\"email\",\"workspace\":\"shop-%s\",\"to\":[\"Customer %d <u%d@d%d.example>\"],\"cc\":[],\"bcc\":[],\"subject\":\"Your order %d has shipped\",\"text\":\"Hello,\\n\\nyour order %d is on its way.\\n\\nThe Shop team\\n\",\"html\":\"<p>Hello,</p><p>your order <b>%d</b> is on its way.</p><p>The Shop team</p>\"}\n",
		(i % 2 ? "a" : "b"), i, i, i, i, i, i }' > "$T/ses-proposals.ndjson"
jq -c '. + {idempotency_key: "ses-\(input_line_number)"}' "$T/ses-proposals.ndjson" \
	> "$T/ses-commands.ndjson"
state "$T/ses-base.db" shop-a default hello@shop-a.example shop-b default hello@shop-b.example
cp "$T/ses-base.db" "$T/ses-queue.db"
queued "$T/ses-queue.db" "$T/ses-proposals.ndjson" "$ses_n"

# ses_run ID TEMPLATE SYNC [STDIN]: a cx run and the mock's record of it.
ses_run() {
	control "{\"reset\": true, \"record\": \"$T/$1.ses.jsonl\"}"
	run_cx "$@"
}
ses_run ses_full full "$T/ses-queue.db"
ses_run ses_normal normal "$T/ses-queue.db"
CX_APPROVAL_EMAIL=none ses_run ses_stdin full "$T/ses-base.db" "$T/ses-commands.ndjson"

# The curl loop sends the bodies cx sent in the first run.
mkdir "$T/ses-bodies"
jq -c 'select(.method == "POST") | .body' "$T/ses_full.ses.jsonl" |
	awk -v d="$T/ses-bodies" -v n="$curl_n" 'NR <= n { f = sprintf("%s/%06d.json", d, NR); print > f; close(f); print f }' \
	> "$T/ses-curl.list"
[ "$(wc -l < "$T/ses-curl.list")" -eq "$curl_n" ] ||
	{ echo "email.sh: the first SES run left $(wc -l < "$T/ses-curl.list") bodies of $curl_n" >&2; exit 1; }
ses_curl_loop() {
	local body
	while read -r body; do
		curl -s -o /dev/null --aws-sigv4 "aws:amz:us-east-1:ses" --user "$AWS_KEY:$AWS_SECRET" \
			-H 'Content-Type: application/json' --data-binary "@$body" \
			"$SES/v2/email/outbound-emails"
	done < "$T/ses-curl.list"
}
export -f ses_curl_loop
export SES AWS_KEY AWS_SECRET
control "{\"reset\": true, \"record\": \"$T/ses_curl.ses.jsonl\"}"
bench_time ses_curl /dev/null /dev/null bash -c ses_curl_loop

# =============================================================================
# results
# =============================================================================
echo
echo "SMTP: $smtp_n messages to aiosmtpd (STARTTLS, AUTH) on 127.0.0.1, one tenant," \
	"$BENCH_CPUS CPUs"
printf '%-44s %9s %11s %9s\n' tool seconds sends/s 'RSS MiB'
bench_row smtp_curl "curl loop (a process a message, $smtp_curl)" "$smtp_curl"
bench_row smtp_full "cx-publish, queue (CX_DB_SYNC=full)" "$smtp_n"
bench_row smtp_normal "cx-publish, queue (CX_DB_SYNC=normal)" "$smtp_n"
bench_row smtp_stdin "cx-publish, stdin commands (full)" "$smtp_n"
echo
smtp_curl_rate=$(bench_rate "$smtp_curl" "${BENCH_SECS[smtp_curl]}")
bench_ratio "SMTP: cx-publish queue (full) vs curl loop" \
	"$(bench_rate "$smtp_n" "${BENCH_SECS[smtp_full]}")" "$smtp_curl_rate" 5
bench_ratio "SMTP: cx-publish queue (normal) vs curl loop" \
	"$(bench_rate "$smtp_n" "${BENCH_SECS[smtp_normal]}")" "$smtp_curl_rate"
bench_ratio "SMTP: cx-publish stdin (full) vs curl loop" \
	"$(bench_rate "$smtp_n" "${BENCH_SECS[smtp_stdin]}")" "$smtp_curl_rate" 5

echo
echo "SES: $ses_n messages to the SES mock (SigV4 checked, ${latency} ms latency)," \
	"2 tenants at ${rate}/s each, CX_PUBLISH_CONCURRENCY=$CX_PUBLISH_CONCURRENCY, $BENCH_CPUS CPUs"
printf '%-44s %9s %11s %9s\n' tool seconds sends/s 'RSS MiB'
bench_row ses_curl "curl --aws-sigv4 loop ($curl_n requests)" "$curl_n"
bench_row ses_full "cx-publish, queue (CX_DB_SYNC=full)" "$ses_n"
bench_row ses_normal "cx-publish, queue (CX_DB_SYNC=normal)" "$ses_n"
bench_row ses_stdin "cx-publish, stdin commands (full)" "$ses_n"
echo
ses_curl_rate=$(bench_rate "$curl_n" "${BENCH_SECS[ses_curl]}")
# the most the two tenants' buckets allow: a burst of R each, then R a second
allowed=$(awk -v n="$ses_n" -v r="$rate" 'BEGIN { t = (n / 2 - r) / r
	printf "%d", (t > 0 ? n / t : 0) }')
bench_ratio "SES: cx-publish queue (full) vs curl loop" \
	"$(bench_rate "$ses_n" "${BENCH_SECS[ses_full]}")" "$ses_curl_rate" 10
bench_ratio "SES: cx-publish queue (normal) vs curl loop" \
	"$(bench_rate "$ses_n" "${BENCH_SECS[ses_normal]}")" "$ses_curl_rate"
bench_ratio "SES: cx-publish stdin (full) vs curl loop" \
	"$(bench_rate "$ses_n" "${BENCH_SECS[ses_stdin]}")" "$ses_curl_rate" 10
if [ "$allowed" -gt 0 ]; then
	bench_ratio "SES: queue (full) of what the rates allow ($allowed/s)" \
		"$(bench_rate "$ses_n" "${BENCH_SECS[ses_full]}")" "$allowed"
	bench_ratio "SES: queue (normal) of what the rates allow" \
		"$(bench_rate "$ses_n" "${BENCH_SECS[ses_normal]}")" "$allowed"
fi
echo

# =============================================================================
# checks
# =============================================================================
check_smtp() {
	local id=$1 rec=$T/$1.smtp.jsonl got sessions secure pub counted same ok
	got=$(wc -l < "$rec")
	sessions=$(jq -s 'map(.session) | unique | length' "$rec")
	secure=$(jq -s --arg u "$SMTP_USER" 'map(select(.tls and .auth_user == $u)) | length' "$rec")
	published "$T/$id.out" | jq -r .data.message_id | sort > "$T/$id.ids"
	pub=$(wc -l < "$T/$id.ids")
	jq -r .file "$rec" | xargs -r awk 'tolower($1) == "message-id:" { print $2; nextfile }' |
		tr -d '<>\r' | sort > "$T/$id.got"
	same=$(cmp -s "$T/$id.ids" "$T/$id.got" && [ "$(sort -u "$T/$id.got" | wc -l)" -eq "$smtp_n" ] &&
		echo 1 || echo 0)
	counted=$(counter "$T/$id.db")
	ok=$([ "$got" -eq "$smtp_n" ] && [ "$sessions" -eq 1 ] && [ "$secure" -eq "$smtp_n" ] &&
		[ "$pub" -eq "$smtp_n" ] && [ "$same" = 1 ] && [ "${counted:-0}" -eq "$smtp_n" ] &&
		echo 1 || echo 0)
	bench_check "$id: server got $got messages over $sessions connection(s), $secure with TLS and AUTH; $pub published, Message-IDs the same each once: $same; counter ${counted:-0} (want $smtp_n, 1)" "$ok"
}

check_ses() {
	local id=$1 rec=$T/$1.ses.jsonl posts good items pub same counted ok
	posts=$(jq -c 'select(.method == "POST")' "$rec" | wc -l)
	good=$(jq -c 'select(.method == "POST" and .signature == "ok" and .status == 200)' "$rec" | wc -l)
	items=$(jq -r 'select(.method == "POST") | .body.EmailTags | from_entries | .cx_item' "$rec" |
		sort -u | wc -l)
	published "$T/$id.out" | jq -r .data.provider_ref | sort > "$T/$id.ids"
	pub=$(wc -l < "$T/$id.ids")
	jq -r 'select(.status == 200) | .message_id' "$rec" | sort > "$T/$id.got"
	same=$(cmp -s "$T/$id.ids" "$T/$id.got" && [ "$(sort -u "$T/$id.got" | wc -l)" -eq "$ses_n" ] &&
		echo 1 || echo 0)
	counted=$(counter "$T/$id.db")
	ok=$([ "$posts" -eq "$ses_n" ] && [ "$good" -eq "$ses_n" ] && [ "$items" -eq "$ses_n" ] &&
		[ "$pub" -eq "$ses_n" ] && [ "$same" = 1 ] && [ "${counted:-0}" -eq "$ses_n" ] &&
		echo 1 || echo 0)
	bench_check "$id: mock got $posts requests, $good signed and accepted, $items items; $pub published, MessageIds the same each once: $same; counter ${counted:-0} (want $ses_n, 1)" "$ok"
	ok=$("$PY" - "$rec" "$rate" <<'EOF'
import json, sys
rate = float(sys.argv[2])
by = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["method"] == "POST":
        tags = {t["Name"]: t["Value"] for t in r["body"].get("EmailTags", [])}
        by.setdefault(tags.get("cx_tenant"), []).append(r["ts"])
ok = int(len(by) == 2 and None not in by)
for tenant, ts in by.items():
    ts.sort()
    for k, t in enumerate(ts, 1):
        if k > (rate + rate * (t - ts[0])) * 1.05 + 2:
            ok = 0
            break
print(ok)
EOF
)
	bench_check "$id: each of the 2 tenants stayed within ${rate}/s (burst $rate)" "$ok"
}

check_smtp smtp_full
check_smtp smtp_normal
check_smtp smtp_stdin
got=$(wc -l < "$T/smtp_curl.smtp.jsonl")
sessions=$(jq -s 'map(.session) | unique | length' "$T/smtp_curl.smtp.jsonl")
fails=$(cat "$T/smtp_curl.fails")
bench_check "smtp_curl: server got $got messages over $sessions connections, $fails curl failures (want $smtp_curl, $smtp_curl, 0)" \
	"$([ "$got" -eq "$smtp_curl" ] && [ "$sessions" -eq "$smtp_curl" ] && [ "$fails" -eq 0 ] && echo 1 || echo 0)"
check_ses ses_full
check_ses ses_normal
check_ses ses_stdin
good=$(jq -c 'select(.method == "POST" and .signature == "ok" and .status == 200)' "$T/ses_curl.ses.jsonl" | wc -l)
bench_check "ses_curl: mock accepted $good signed requests (want $curl_n)" \
	"$([ "$good" -eq "$curl_n" ] && echo 1 || echo 0)"
bench_verdict
