#!/usr/bin/env bats
# cx-publish, channel email (cx-email(7)): the tenant's plan picks the
# provider (default SES, premium SendGrid, advanced Mailgun, expert SMTP),
# never the item; the governance before any request (From rules, domain
# checks, suppressions, quota, rate limits per domain and recipient); the
# Message-ID cx sets, kept with the provider's id; outcomes from real
# answers; and `cx-publish feedback`, which suppresses bouncing and
# complaining addresses and pauses a tenant whose rates are too high.
# SMTP is a real server (tests/mock/smtpd.py: aiosmtpd with STARTTLS on a
# certificate of a CA made here, and AUTH); SES, SendGrid and Mailgun are
# mocks that check what their APIs check (SES recomputes SigV4 with
# botocore) and record what they got.

load helpers

eval "helpers_$(declare -f setup)"

ME=$(id -un)

setup_file() {
	local d=$BATS_FILE_TMPDIR m
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.pem" \
		-days 2 -subj "/CN=cx test CA" 2> /dev/null
	openssl req -newkey rsa:2048 -nodes -keyout "$d/srv.key" -out "$d/srv.csr" \
		-subj "/CN=localhost" 2> /dev/null
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$d/ext"
	openssl x509 -req -in "$d/srv.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
		-CAcreateserial -out "$d/srv.pem" -days 2 -extfile "$d/ext" 2> /dev/null
	mkdir -p "$d/mail"
	touch "$d/smtp.jsonl"
	"$PY" "$MOCKS/smtpd.py" 0 --cert "$d/srv.pem" --key "$d/srv.key" --user mailer \
		--password 'smtp secret' --maildir "$d/mail" --record "$d/smtp.jsonl" \
		--lifetime 900 > "$d/smtp.port" 2> "$d/smtp.err" 3>&- &
	echo $! > "$d/smtp.pid"
	"$PY" "$MOCKS/ses.py" 0 --access-key AKIDCXTEST --secret-key 'ses secret' \
		--lifetime 900 > "$d/ses.port" 2> "$d/ses.err" 3>&- &
	echo $! > "$d/ses.pid"
	"$PY" "$MOCKS/sendgrid.py" 0 --api-key SG.key --lifetime 900 > "$d/sendgrid.port" \
		2> "$d/sendgrid.err" 3>&- &
	echo $! > "$d/sendgrid.pid"
	"$PY" "$MOCKS/mailgun.py" 0 --api-key mg-key --domain mg.shop.example --lifetime 900 \
		> "$d/mailgun.port" 2> "$d/mailgun.err" 3>&- &
	echo $! > "$d/mailgun.pid"
	for m in smtp ses sendgrid mailgun; do
		for _ in $(seq 400); do [ -s "$d/$m.port" ] && break; sleep 0.05; done
	done
	export SMTP_PORT=$(head -n 1 "$d/smtp.port")
	export SES=http://127.0.0.1:$(head -n 1 "$d/ses.port")
	export SG=http://127.0.0.1:$(head -n 1 "$d/sendgrid.port")
	export MG=http://127.0.0.1:$(head -n 1 "$d/mailgun.port")
}

teardown_file() {
	local m
	for m in smtp ses sendgrid mailgun; do
		kill "$(cat "$BATS_FILE_TMPDIR/$m.pid")" 2> /dev/null || true
	done
}

setup() {
	helpers_setup
	REC=$BATS_TEST_TMPDIR/api.jsonl
	SMTPREC=$BATS_FILE_TMPDIR/smtp.jsonl
	touch "$REC"
	for m in "$SES" "$SG" "$MG"; do
		control "$m" "{\"reset\": true, \"record\": \"$REC\"}"
	done
	export CX_APPROVAL_EMAIL=none CX_PUBLISH_RATE_EMAIL=1000 CX_EMAIL_RATE_DOMAIN=1000 \
		CX_EMAIL_RATE_RECIPIENT=1000 CX_HTTP_TIMEOUT_SECONDS=5
	export CX_EMAIL_DEFAULT_FROM='Shop Mail <mail@ops.example>'
	export CX_SES_API_BASE=$SES CX_AWS_ACCESS_KEY_ID=AKIDCXTEST \
		CX_AWS_SECRET_ACCESS_KEY='ses secret'
	export CX_SENDGRID_API_BASE=$SG CX_SENDGRID_API_KEY=SG.key
	export CX_MAILGUN_API_BASE=$MG CX_MAILGUN_API_KEY=mg-key CX_MAILGUN_DOMAIN=mg.shop.example
	export CX_SMTP_URL=smtp://127.0.0.1:$SMTP_PORT CX_SMTP_USER=mailer \
		CX_SMTP_PASSWORD='smtp secret' CX_CA_FILE=$BATS_FILE_TMPDIR/ca.pem
	unset CX_SMTP_TLS CX_EMAIL_BREAKER_MIN_SENDS
	cx-approve operators add "$ME" --role owner 2> /dev/null
}

# control URL JSON: programs a mock.
control() {
	curl -sf -X POST -H 'Content-Type: application/json' -d "$2" "$1/_control" > /dev/null
}

# mail KEY WORKSPACE [EXTRA-JQ]: an e-mail command line.
mail() {
	jq -cn --arg k "$1" --arg w "$2" '{channel:"email",workspace:$w,idempotency_key:$k,
		to:["Ana Souza <ana@example.com>"],subject:"Pedido confirmado ✓",
		text:"Olá Ana\n.a line that starts with a dot\nobrigado",
		html:"<p>Olá Ana</p>"}'"${3:+ + $3}"
}

# posts REC: the API requests a mock recorded.
posts() {
	jq -c 'select(.method == "POST")' "$1" | wc -l
}

# plan TENANT PLAN FROM: the tenant's plan and address.
plan() {
	cx tenants set "$1" --email-plan "$2" --email-from "$3" > /dev/null
}

@test "default plan: SESv2 SendEmail signed SigV4, From the operator's address, the tenant's as Reply-To, the ids in EmailTags" {
	plan acme default hello@acme.example
	run -0 --separate-stderr cx-publish < <(mail k1 acme '{template:{id:"welcome",version:"7"}}')
	ev=$output
	echo "$ev" | jq -e '.type == "post.published" and .tenant == "acme" and
		.data.provider == "ses" and .data.template == {id:"welcome",version:"7"} and
		(.data.message_id | test("^cx\\.c1\\.[0-9a-f]{16}@ops\\.example$"))'
	[ "$(jq -r 'select(.status == 200) | .message_id' "$REC")" = "$(echo "$ev" | jq -r .data.provider_ref)" ]
	jq -e 'select(.method == "POST") | .signature == "ok" and .path == "/v2/email/outbound-emails"
		and (.credential_scope | endswith("/us-east-1/ses/aws4_request"))
		and .body.FromEmailAddress == "Shop Mail <mail@ops.example>"
		and .body.ReplyToAddresses == ["hello@acme.example"]
		and .body.Destination.ToAddresses == ["Ana Souza <ana@example.com>"]
		and (.body.EmailTags | from_entries) as $t | $t.cx_tenant == "acme"
		and $t.cx_item == "command-1" and ($t.cx_correlation_id | startswith("c-"))' "$REC"
	[ "$(sql "select status || ' ' || provider_message_id || ' ' || template_id from email_messages")" = \
		"sent $(echo "$ev" | jq -r .data.provider_ref) welcome" ]
	cx audit --json | jq -se 'map(select(.action == "publish_succeeded" or .action == "published"
		or (.detail.message_id // "" | startswith("cx.c1.")))) | length >= 1'
}

@test "a queue item goes out once a person approved it; without CX_APPROVAL_EMAIL=none a command line is refused" {
	plan acme default hello@acme.example
	unset CX_APPROVAL_EMAIL
	run -77 --separate-stderr cx-publish < <(mail k1 acme)
	[ "$(posts "$REC")" -eq 0 ]
	id=$(mail "" acme 'del(.idempotency_key)' | cx-approve enqueue | jq -r .data.queue_id)
	[ "$(cx-approve show "$id" --json | jq -r .kind)" = message ]
	cx-approve approve "$id" > /dev/null
	run -0 --separate-stderr cx-publish
	echo "$output" | jq -e --argjson id "$id" '.type == "post.published" and .data.queue_id == $id'
	jq -e 'select(.method == "POST") | (.body.EmailTags | from_entries).cx_item == "queue-'"$id"'"' "$REC"
}

@test "bad lines get a per-line error: nothing is stored or sent" {
	plan acme default hello@acme.example
	for extra in '{to:["not an address"]}' '{to:["ana@exa mple.com"]}' '{text:"",html:""}' \
		'{headers:{"Bcc":"x@example.com"}}' '{headers:{"X-Ok":"a\r\nBcc: x@example.com"}}' \
		'{attachments:[{filename:"a.pdf",path:"relative/a.pdf"}]}' '{to:[]}'; do
		run -65 --separate-stderr cx-publish < <(mail "bad" acme "$extra")
		echo "$stderr" | jq -se 'map(select(.error_code == "invalid_email")) | length == 1'
	done
	[ "$(sql 'select count(*) from publish_commands')" -eq 0 ]
	[ "$(posts "$REC")" -eq 0 ]
}

@test "SES refusals: a wrong secret is AUTH_FAILED (botocore's check), MessageRejected is REJECTED, throttling is retried" {
	plan acme default hello@acme.example
	CX_AWS_SECRET_ACCESS_KEY=wrong run -1 --separate-stderr cx-publish < <(mail k1 acme)
	echo "$output" | jq -e '.type == "post.failed" and .data.error_code == "AUTH_FAILED"'
	jq -e 'select(.method == "POST") | .signature == "mismatch" and .status == 403' "$REC"
	control "$SES" '{"script": {"POST /v2/email/outbound-emails": [{"ses_error": "MessageRejected"}]}}'
	run -1 --separate-stderr cx-publish < <(mail k2 acme '{to:["bea@example.com"]}')
	echo "$output" | jq -e '.data.error_code == "REJECTED"'
	control "$SES" '{"script": {"POST /v2/email/outbound-emails": [{"ses_error": "TooManyRequestsException"}]}}'
	run -0 --separate-stderr cx-publish < <(mail k3 acme '{to:["cid@example.com"]}')
	[ "$(sql "select state || ' ' || error_code from publish_commands where idempotency_key = 'k3'")" = \
		"approved RATE_LIMITED" ]
	[ "$(sql "select status from email_messages where item = 'command:2'")" = failed ]
}

@test "premium: SendGrid mail/send with the tenant's key, custom_args, X-Message-Id as provider_ref; a From outside its domain is FORBIDDEN before any request" {
	plan shop premium news@shop.example
	export CX_SENDGRID_API_KEY=wrong CX_SENDGRID_API_KEY_SHOP=SG.key
	run -0 --separate-stderr cx-publish < <(mail k1 shop '{from:"Shop <news@mail.shop.example>"}')
	ev=$output
	echo "$ev" | jq -e '.type == "post.published" and .data.provider == "sendgrid"'
	jq -e --argjson ev "$ev" 'select(.method == "POST") | .path == "/v3/mail/send"
		and .body.from == {email:"news@mail.shop.example",name:"Shop"}
		and .body.custom_args.cx_tenant == "shop" and .body.custom_args.cx_item == "command:1"
		and .body.custom_args.cx_correlation_id == $ev.correlation_id
		and .body.headers["Message-ID"] == "<\($ev.data.message_id)>"
		and .response_headers["X-Message-Id"] == $ev.data.provider_ref' "$REC" ||
		jq -e --argjson ev "$ev" 'select(.method == "POST") | .message_id == $ev.data.provider_ref' "$REC"
	run -1 --separate-stderr cx-publish < <(mail k2 shop '{from:"news@shop.example.net"}')
	echo "$output" | jq -e '.type == "post.failed" and .data.error_code == "FORBIDDEN"'
	[ "$(posts "$REC")" -eq 1 ]
}

@test "premium without --email-from, or with a domain that failed its DNS check, sends nothing" {
	cx tenants set bare --email-plan premium > /dev/null
	run -1 --separate-stderr cx-publish < <(mail k1 bare '{from:"a@bare.example"}')
	echo "$output" | jq -e '.data.error_code == "FORBIDDEN"'
	plan shop premium news@shop.example
	sql "insert into email_domains (domain, provider, ok, report, checked_at) values
		('shop.example', 'sendgrid', 0, '[]', strftime('%s'))"
	run -1 --separate-stderr cx-publish < <(mail k2 shop)
	echo "$output" | jq -e '.data.error_code == "DOMAIN_NOT_AUTHENTICATED"'
	[ "$(posts "$REC")" -eq 0 ]
}

@test "advanced: Mailgun messages as a form with Basic api:KEY, v: variables and our Message-Id" {
	plan mg advanced news@mg.shop.example
	run -0 --separate-stderr cx-publish < <(mail k1 mg '{cc:["Caio <caio@example.org>"]}')
	ev=$output
	echo "$ev" | jq -e '.data.provider == "mailgun" and (.data.provider_ref | length > 0)'
	jq -e --argjson ev "$ev" 'def f($n): [.fields[] | select(.[0] == $n) | .[1]];
		select(.method == "POST") | .path == "/v3/mg.shop.example/messages"
		and f("v:cx_tenant") == ["mg"] and f("v:cx_item") == ["command:1"]
		and f("h:Message-Id") == ["<\($ev.data.message_id)>"]
		and f("cc") == ["Caio <caio@example.org>"] and f("to") == ["Ana Souza <ana@example.com>"]' "$REC"
}

@test "expert: SMTP with STARTTLS and AUTH; the message cx built (MIME, UTF-8 subject, attachment, no Bcc, a dot line intact)" {
	plan lab expert team@lab.example
	printf '%%PDF-1.4 test\n' > a.pdf
	before=$(wc -l < "$SMTPREC")
	run -0 --separate-stderr cx-publish < <(mail k1 lab "{from:\"Lab <team@lab.example>\",
		bcc:[\"hidden@example.net\"],headers:{\"List-Unsubscribe\":\"<mailto:u@lab.example>\"},
		attachments:[{filename:\"a.pdf\",content_type:\"application/pdf\",path:\"$PWD/a.pdf\"}]}")
	ev=$output
	echo "$ev" | jq -e '.data.provider == "smtp" and .data.risk == "expert" and .data.provider_ref == .data.message_id'
	rec=$(tail -n +$((before + 1)) "$SMTPREC")
	echo "$rec" | jq -e '.tls == true and .auth_user == "mailer" and .mail_from == "team@lab.example"
		and (.rcpt_tos | sort) == ["ana@example.com", "hidden@example.net"]'
	"$PY" "$CX_ROOT/tests/lib/email_check.py" "$(echo "$rec" | jq -r .file)" > msg.json
	jq -e --argjson ev "$ev" '.has_bcc == false and .defects == [] and .long_lines == 0 and .bare_lf == false
		and .headers["message-id"] == "<\($ev.data.message_id)>"
		and .headers.subject == "Pedido confirmado ✓"
		and .headers["x-cx-tenant"] == "lab"
		and .headers["x-cx-correlation-id"] == $ev.correlation_id
		and .headers["list-unsubscribe"] == "<mailto:u@lab.example>"
		and (.text | contains("\n.a line that starts with a dot\n"))
		and (.attachments | map(.filename)) == ["a.pdf"]' msg.json
	[ "$(jq -r '.attachments[0].sha256' msg.json)" = "$(sha256sum a.pdf | cut -d' ' -f1)" ]
	cx audit --correlation-id "$(echo "$ev" | jq -r .correlation_id)" --json |
		jq -se 'map(select(.detail.risk == "expert")) | length >= 1'
}

@test "expert: 100 messages go over one SMTP connection" {
	plan lab expert team@lab.example
	before=$(wc -l < "$SMTPREC")
	for i in $(seq 100); do mail "k$i" lab "{to:[\"r$i@example.com\"]}"; done > cmds
	run -0 --separate-stderr cx-publish < cmds
	[ "$(echo "$output" | jq -s 'map(select(.type == "post.published")) | length')" -eq 100 ]
	[ "$(tail -n +$((before + 1)) "$SMTPREC" | jq -s 'map(.session) | unique | length')" -eq 1 ]
	[ "$(tail -n +$((before + 1)) "$SMTPREC" | wc -l)" -eq 100 ]
}

@test "SMTP: TLS can be turned off only for a loopback host, and a wrong password is AUTH_FAILED" {
	plan lab expert team@lab.example
	CX_SMTP_TLS=none CX_SMTP_URL=smtp://mail.example.net:25 run -1 --separate-stderr \
		cx-publish < <(mail k1 lab)
	echo "$output" | jq -e '.type == "post.failed" and .data.error_code == "NOT_CONFIGURED"'
	echo "$stderr" | grep -q 'CX_SMTP_TLS=none is only for a loopback host'
	CX_SMTP_PASSWORD=wrong run -1 --separate-stderr cx-publish < <(mail k2 lab '{to:["x2@example.com"]}')
	echo "$output" | jq -e '.data.error_code == "AUTH_FAILED"'
}

@test "suppressed recipients are dropped and listed; when all are, post.failed SUPPRESSED and no request" {
	plan acme default hello@acme.example
	cx email suppressions add ana@example.com --tenant acme --reason manual > /dev/null
	run -0 --separate-stderr cx-publish < <(mail k1 acme '{cc:["bea@example.com"]}')
	echo "$output" | jq -e '.type == "post.published" and .data.suppressed == ["ana@example.com"]'
	jq -e 'select(.method == "POST") | .body.Destination == {CcAddresses:["bea@example.com"]}' "$REC"
	run -1 --separate-stderr cx-publish < <(mail k2 acme)
	echo "$output" | jq -e '.type == "post.failed" and .data.error_code == "SUPPRESSED"'
	[ "$(posts "$REC")" -eq 1 ]
}

@test "a second message to one address within the minute waits (CX_EMAIL_RATE_RECIPIENT), another address does not" {
	plan acme default hello@acme.example
	unset CX_EMAIL_RATE_RECIPIENT
	{ mail k1 acme; mail k2 acme; mail k3 acme '{to:["bea@example.com"]}'; } > cmds
	run -0 --separate-stderr cx-publish < cmds
	[ "$(echo "$output" | jq -s 'map(select(.type == "post.published")) | length')" -eq 2 ]
	[ "$(sql "select state || ' ' || error_code || ' ' || (next_attempt_at > strftime('%s') + 30)
		from publish_commands where idempotency_key = 'k2'")" = "approved RATE_LIMITED 1" ]
	[ "$(posts "$REC")" -eq 2 ]
}

@test "over the daily quota an item stays approved until the next UTC day, QUOTA_EXCEEDED in the log and audit" {
	cx tenants set acme --email-from hello@acme.example --email-daily-quota 1 > /dev/null
	{ mail k1 acme; mail k2 acme '{to:["bea@example.com"]}'; } > cmds
	run -0 --separate-stderr cx-publish < cmds
	[ "$(posts "$REC")" -eq 1 ]
	echo "$stderr" | jq -se 'map(select(.error_code == "QUOTA_EXCEEDED")) | length == 1'
	[ "$(sql "select state || ' ' || (next_attempt_at = (strftime('%s') / 86400 + 1) * 86400)
		from publish_commands where idempotency_key = 'k2'")" = "approved 1" ]
	cx audit --json | jq -se 'map(select(.detail.error_code == "QUOTA_EXCEEDED")) | length == 1'
}

@test "a timeout after the message was sent is unknown and never resent" {
	plan acme default hello@acme.example
	control "$SES" '{"script": {"POST /v2/email/outbound-emails": [{"hang_ms": 3000}]}}'
	CX_HTTP_TIMEOUT_SECONDS=1 run -1 --separate-stderr cx-publish < <(mail k1 acme)
	echo "$output" | jq -e '.type == "post.unknown"' || echo "$output" | jq -e '.data.error_code == "TIMEOUT"'
	[ "$(sql "select state from publish_commands")" = unknown ]
	run --separate-stderr cx-publish
	[ "$(posts "$REC")" -eq 1 ]
	[ "$(sql "select status from email_messages")" = unknown ]
}

# event TYPE KEY TENANT RECIPIENT [EXTRA-JQ]: a canonical e-mail event.
event() {
	jq -cn --arg t "$1" --arg k "$2" --arg tn "$3" --arg r "$4" '{v:1,type:$t,dedupe_key:$k,
		channel:"email",provider:"ses",tenant:$tn,occurred_at:"2026-12-06T10:00:00Z",
		correlation_id:"c-feedback",data:{to:[$r]}}'"${5:+ + $5}"
}

@test "feedback: a hard bounce suppresses at once, for every default-plan tenant; lines pass through; the same event twice changes nothing" {
	plan acme default hello@acme.example
	plan beta default hello@beta.example
	event email.bounced e1 acme ana@example.com '{data:{to:["ana@example.com"],bounce:{type:"hard",
		sub_type:"General",diagnostic:"550 5.1.1 no such user",recipient:"Ana@Example.com"}}}' > in
	event email.delivered e2 acme bea@example.com >> in
	echo '{"not":"an event"}' >> in
	run -0 --separate-stderr cx-publish feedback < in
	[ "$output" = "$(cat in)" ]
	[ "$(sql "select scope || ' ' || address || ' ' || reason from email_suppressions")" = \
		"*default ana@example.com hard_bounce" ]
	run -0 --separate-stderr cx-publish feedback < in
	[ "$(sql 'select count(*) from email_outcomes')" -eq 2 ]
	run -1 --separate-stderr cx-publish < <(mail k1 beta)
	echo "$output" | jq -e '.data.error_code == "SUPPRESSED"'
	[ "$(posts "$REC")" -eq 0 ]
	cx metrics | grep -q '^cx_email_suppressions_total{scope="\*default",source="feedback:email.bounced"} 1$'
}

@test "feedback: on a tenant's own plan suppression is its own; three soft bounces in a week suppress; a complaint does at once" {
	plan shop premium news@shop.example
	for i in 1 2; do event email.bounced "s$i" shop bea@example.com '{data:{to:["bea@example.com"],bounce:{type:"soft"}}}'; done |
		cx-publish feedback > /dev/null
	[ "$(sql 'select count(*) from email_suppressions')" -eq 0 ]
	event email.bounced s3 shop bea@example.com '{data:{to:["bea@example.com"],bounce:{type:"soft"}}}' |
		cx-publish feedback > /dev/null
	event email.complained c1 shop cid@example.com | cx-publish feedback > /dev/null
	[ "$(sql "select group_concat(scope || ' ' || address || ' ' || reason, ',') from
		(select * from email_suppressions order by address)")" = \
		"shop bea@example.com soft_bounces,shop cid@example.com complaint" ]
}

@test "the reputation breaker pauses a tenant's e-mail on a bounce burst; cx tenants resume lets it go again" {
	plan acme default hello@acme.example
	export CX_EMAIL_BREAKER_MIN_SENDS=10
	for i in $(seq 10); do mail "k$i" acme "{to:[\"u$i@example.com\"]}"; done | cx-publish > sent
	[ "$(jq -s 'map(select(.type == "post.published")) | length' sent)" -eq 10 ]
	jq -c '. as $e | {v:1,type:"email.bounced",dedupe_key:"b-\(.data.command_id)",tenant:"acme",
		correlation_id:.correlation_id,data:{provider_message_id:.data.provider_ref,
		to:["u\(.data.command_id)@example.com"],bounce:{type:"hard"}}}' sent | head -n 1 > bounces
	run -0 --separate-stderr cx-publish feedback < bounces
	[ "$(sql "select count(*) from tenant_pauses")" -eq 1 ]
	[ "$(sql "select error_code from tenant_pauses where tenant = 'acme' and channel = 'email'")" = \
		REPUTATION_BREAKER ]
	cx metrics | grep -q '^cx_email_breaker_open{tenant="acme"} 1$'
	run -0 --separate-stderr cx-publish < <(mail k20 acme '{to:["new@example.com"]}')
	[ "$(sql "select state || ' ' || error_code from publish_commands where idempotency_key = 'k20'")" = \
		"approved TENANT_PAUSED" ]
	cx tenants show acme --json | jq -e '.pauses | map(.error_code) == ["REPUTATION_BREAKER"]'
	cx tenants resume acme --channel email > /dev/null
	cx metrics | grep -q '^cx_email_breaker_open{tenant="acme"} 0$'
	run -0 --separate-stderr cx-publish
	echo "$output" | jq -e '.type == "post.published" and .data.idempotency_key == "k20"'
	cx audit --json | jq -se 'map(select(.action == "email_breaker_open")) | length == 1'
}

@test "--dry-run with command lines on stdin plans them and sends nothing" {
	plan acme default hello@acme.example
	run -0 --separate-stderr cx-publish --dry-run < <(mail k1 acme)
	echo "$output" | jq -e '.dry_run == true and .source == "stdin" and .command_id == null
		and .channel == "email" and (.request | test("plan"))'
	[ "$(posts "$REC")" -eq 0 ]
	[ "$(sql 'select count(*) from publish_commands')" -eq 0 ]
}

@test "cx-approve shows an e-mail item to its reviewer: recipients masked, subject, template, HTML, attachments" {
	printf 'x' > a.pdf
	id=$(mail "" acme "del(.idempotency_key) + {bcc:\"hidden@example.net\",template:{id:\"welcome\",version:\"7\"},
		attachments:[{filename:\"a.pdf\",path:\"$PWD/a.pdf\"}]}" | cx-approve enqueue | jq -r .data.queue_id)
	run -0 cx-approve show "$id" --table
	assert_line --index 2 'to a***@example.com'
	assert_line --index 3 'bcc h***@example.net'
	assert_line --index 4 'subject Pedido confirmado ✓'
	assert_line --index 5 'template welcome'
	assert_line --index 6 'with an HTML body'
	assert_line --index 7 'attachments: a.pdf'
	refute_output --partial 'ana@example.com'
}

@test "expert: smtps:// is TLS from the first byte (implicit TLS, port 465 style)" {
	plan lab expert team@lab.example
	local d=$BATS_FILE_TMPDIR
	mkdir -p tls-mail
	"$PY" "$MOCKS/smtpd.py" 0 --cert "$d/srv.pem" --key "$d/srv.key" --user mailer \
		--password 'smtp secret' --maildir tls-mail --record smtps.jsonl --implicit-tls \
		--lifetime 60 > smtps.port 2> smtps.err 3>&- &
	pid=$!
	for _ in $(seq 200); do [ -s smtps.port ] && break; sleep 0.05; done
	CX_SMTP_URL=smtps://localhost:$(head -n 1 smtps.port) run -0 --separate-stderr \
		cx-publish < <(mail k1 lab)
	kill "$pid"
	echo "$output" | jq -e '.type == "post.published" and .data.provider == "smtp"'
	jq -e '.tls == true and .auth_user == "mailer" and .rcpt_tos == ["ana@example.com"]' smtps.jsonl
}
