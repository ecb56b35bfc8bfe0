#!/usr/bin/env bats
# The SMTP server the e-mail tests send to (tests/mock/smtpd.py, aiosmtpd),
# the checker that reads what it received (tests/lib/email_check.py), both
# proven with plain curl, and the message cx builds (cx_email_mime, through
# the test tool email_mime built with the unit tests) sent through them.

load helpers
load lib/serve
load lib/smtp

UNIT=${CX_UNIT_DIR:-build/rel/unit}
case $UNIT in /*) ;; *) UNIT=$CX_ROOT/$UNIT ;; esac

setup_file() {
	[ -x "$UNIT/email_mime" ] || {
		echo "$UNIT/email_mime is missing: make $UNIT/email_mime" >&2
		return 1
	}
	smtp_certs "$BATS_FILE_TMPDIR/certs"
}

setup() {
	export PATH="${CX_BIN:-$CX_ROOT/bin}:$PATH"
	cd "$BATS_TEST_TMPDIR" || return 1
	CERTS=$BATS_FILE_TMPDIR/certs
}

teardown() {
	kill_started
}

# send FILE [CURL OPTION...]: FILE over smtp:// with STARTTLS and AUTH.
send() {
	local f=$1
	shift
	curl -sS --max-time 20 "smtp://127.0.0.1:$SMTP_PORT" --ssl-reqd \
		--cacert "$CERTS/ca.pem" -u "$SMTP_USER:$SMTP_PASSWORD" \
		--mail-from sender@example.com --mail-rcpt rcpt@example.org --upload-file "$f" "$@"
}

# plain_message FILE: a short message with CRLF line endings.
plain_message() {
	printf 'From: sender@example.com\r\nTo: rcpt@example.org\r\nSubject: plain\r\n\r\nhello\r\n' > "$1"
}

@test "a message sent with STARTTLS and AUTH arrives byte for byte, recorded with its connection" {
	start_smtpd "$CERTS"
	plain_message m.eml
	run send m.eml
	assert_success
	cmp m.eml mail/000001.eml
	run jq -c . smtp.jsonl
	assert_output "{\"auth_user\":\"cx-test\",\"file\":\"$PWD/mail/000001.eml\",\"mail_from\":\"sender@example.com\",\"rcpt_tos\":[\"rcpt@example.org\"],\"session\":1,\"tls\":true}"
}

@test "without STARTTLS the server offers no AUTH and refuses MAIL" {
	start_smtpd "$CERTS"
	plain_message m.eml
	run curl -sS --max-time 20 "smtp://127.0.0.1:$SMTP_PORT" -u "$SMTP_USER:$SMTP_PASSWORD" \
		--mail-from sender@example.com --mail-rcpt rcpt@example.org --upload-file m.eml -v
	assert_failure
	assert_output --partial '< 250-STARTTLS'
	refute_output --partial '< 250-AUTH'
	assert_output --partial '< 530 Must issue a STARTTLS command first'
	assert_file_not_exists mail/000001.eml
	assert_file_not_exists smtp.jsonl
}

@test "after STARTTLS, MAIL without AUTH is refused" {
	start_smtpd "$CERTS"
	plain_message m.eml
	run curl -sS --max-time 20 "smtp://127.0.0.1:$SMTP_PORT" --ssl-reqd --cacert "$CERTS/ca.pem" \
		--mail-from sender@example.com --mail-rcpt rcpt@example.org --upload-file m.eml -v
	assert_failure 55
	assert_output --partial '< 250-AUTH LOGIN PLAIN'
	assert_output --partial '< 530 5.7.0 Authentication required'
	assert_file_not_exists smtp.jsonl
}

@test "a wrong password is refused, with PLAIN and with LOGIN" {
	start_smtpd "$CERTS"
	plain_message m.eml
	run send m.eml -u "$SMTP_USER:wrong"
	assert_failure 67
	run send m.eml -u "$SMTP_USER:wrong" --login-options AUTH=LOGIN
	assert_failure 67
	run send m.eml --login-options AUTH=LOGIN
	assert_success
	assert_equal "$(jq -c '[.auth_user, .tls]' smtp.jsonl)" '["cx-test",true]'
}

@test "the server's certificate is verified against the test CA, and only that CA" {
	start_smtpd "$CERTS"
	plain_message m.eml
	run send m.eml --cacert /dev/null
	assert_failure
	assert_file_not_exists smtp.jsonl
	run curl -sS --max-time 20 "smtp://localhost:$SMTP_PORT" --ssl-reqd --cacert "$CERTS/ca.pem" \
		-u "$SMTP_USER:$SMTP_PASSWORD" --mail-from sender@example.com \
		--mail-rcpt rcpt@example.org --upload-file m.eml
	assert_success
}

@test "with --implicit-tls the connection is TLS from the start (smtps)" {
	start_smtpd "$CERTS" --implicit-tls
	plain_message m.eml
	run curl -sS --max-time 20 "smtps://localhost:$SMTP_PORT" --cacert "$CERTS/ca.pem" \
		-u "$SMTP_USER:$SMTP_PASSWORD" --mail-from sender@example.com \
		--mail-rcpt rcpt@example.org --upload-file m.eml
	assert_success
	run curl -sS --max-time 20 "smtps://localhost:$SMTP_PORT" --cacert "$CERTS/ca.pem" \
		-u "$SMTP_USER:wrong" --mail-from sender@example.com \
		--mail-rcpt rcpt@example.org --upload-file m.eml
	assert_failure 67
	cmp m.eml mail/000001.eml
	assert_equal "$(jq -c '[.session, .tls, .auth_user]' smtp.jsonl)" '[1,true,"cx-test"]'
}

@test "messages on one connection share its session number; a new connection has the next" {
	start_smtpd "$CERTS"
	plain_message a.eml
	plain_message b.eml
	url="smtp://127.0.0.1:$SMTP_PORT"
	opts=(--ssl-reqd --cacert "$CERTS/ca.pem" -u "$SMTP_USER:$SMTP_PASSWORD"
		--mail-from sender@example.com --mail-rcpt rcpt@example.org)
	run curl -sS --max-time 20 "$url" "${opts[@]}" -T a.eml --next "$url" "${opts[@]}" -T b.eml
	assert_success
	run send a.eml
	assert_success
	assert_equal "$(jq -c .session smtp.jsonl | paste -sd,)" 1,1,2
	ls mail > files
	assert_equal "$(paste -sd, files)" 000001.eml,000002.eml,000003.eml
}

@test "100 messages over one connection are all stored, with one session number" {
	start_smtpd "$CERTS"
	plain_message m.eml
	uploads=()
	for i in $(seq 100); do
		uploads+=(-T m.eml "smtp://127.0.0.1:$SMTP_PORT")
	done
	run curl -sS --max-time 60 --ssl-reqd --cacert "$CERTS/ca.pem" \
		-u "$SMTP_USER:$SMTP_PASSWORD" --mail-from sender@example.com \
		--mail-rcpt rcpt@example.org "${uploads[@]}"
	assert_success
	assert_equal "$(jq -c .session smtp.jsonl | sort | uniq -c | awk '{ print $1, $2 }')" "100 1"
	cmp m.eml mail/000100.eml
}

@test "email_check reports a Bcc header, decoded headers and every line over 998 octets" {
	{
		printf 'From: =?UTF-8?B?Wm/Dqw==?= <z@example.com>\r\nBcc: hidden@example.org\r\n'
		printf 'Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n\r\n'
		printf '%*s\r\nshort\r\n' 999 x
	} > m.eml
	run email_check m.eml
	assert_success
	assert_equal "$(jq -c '[.has_bcc, .headers.from, .headers.subject, .long_lines]' <<< "$output")" \
		'[true,"Zoë <z@example.com>","Grüße",1]'
}

# A message email_mime builds of the item on stdin (its Message-ID, date,
# tenant and correlation id are the item's own test fields), in built.eml.
build() {
	"$UNIT/email_mime" > built.eml
}

# send_built: built.eml to every recipient of the item, as cx's SMTP
# channel sends it; then sets $checked to email_check of what arrived.
send_built() {
	start_smtpd "$CERTS"
	send built.eml --mail-rcpt to@example.org --mail-rcpt cc@example.org \
		--mail-rcpt hidden@example.org
	checked=$(email_check mail/000001.eml)
}

@test "a message cx builds arrives with its headers, UTF-8 subject, Message-ID and no Bcc" {
	build <<-'EOF'
	{"from":"Zoë Ärger <zoe@Bücher.example>","to":["\"Doe, Jane\" <to@example.org>"],
	 "cc":"cc@example.org","bcc":["hidden@example.org"],"reply_to":"reply@example.net",
	 "subject":"Grüße aus Köln — ein Betreff, länger als ein encoded-word, mit 日本語 🎉",
	 "text":"hello","headers":{"List-Unsubscribe":"<mailto:unsub@example.com>"},
	 "message_id":"m1.abc@xn--bcher-kva.example","date":1700000000,"tenant":"acme",
	 "correlation_id":"corr-1"}
	EOF
	send_built
	assert_equal "$(jq -c .headers <<< "$checked")" '{"cc":"cc@example.org","content-transfer-encoding":"7bit","content-type":"text/plain; charset=\"utf-8\"","date":"Tue, 14 Nov 2023 22:13:20 +0000","from":"Zoë Ärger <zoe@xn--bcher-kva.example>","list-unsubscribe":"<mailto:unsub@example.com>","message-id":"<m1.abc@xn--bcher-kva.example>","mime-version":"1.0","reply-to":"reply@example.net","subject":"Grüße aus Köln — ein Betreff, länger als ein encoded-word, mit 日本語 🎉","to":"\"Doe, Jane\" <to@example.org>","x-cx-correlation-id":"corr-1","x-cx-tenant":"acme"}'
	assert_equal "$(jq -c '[.has_bcc, .defects, .long_lines, .bare_lf, .text]' <<< "$checked")" \
		'[false,[],0,false,"hello\n"]'
	run grep -c hidden mail/000001.eml
	assert_output 0
	assert_equal "$(jq -c .rcpt_tos smtp.jsonl)" '["rcpt@example.org","to@example.org","cc@example.org","hidden@example.org"]'
}

@test "a message cx builds with text, html and an attachment is multipart/mixed around multipart/alternative" {
	head -c 100000 /dev/urandom > report.bin
	build <<-EOF
	{"from":"s@example.com","to":"to@example.org","subject":"files",
	 "text":"Grüße\nline two\n","html":"<p>Grüße</p>",
	 "attachments":[{"filename":"Bericht für Köln.bin","content_type":"application/pdf",
	   "path":"$PWD/report.bin"}],
	 "message_id":"m2@example.com","date":1700000000}
	EOF
	send_built
	assert_equal "$(jq -c .tree <<< "$checked")" '{"content_type":"multipart/mixed","parts":[{"content_type":"multipart/alternative","parts":[{"charset":"utf-8","content_type":"text/plain","disposition":null,"transfer_encoding":"quoted-printable"},{"charset":"utf-8","content_type":"text/html","disposition":null,"transfer_encoding":"quoted-printable"}]},{"charset":null,"content_type":"application/pdf","disposition":"attachment","transfer_encoding":"base64"}]}'
	assert_equal "$(jq -c '[.text, .html]' <<< "$checked")" '["Grüße\nline two\n","<p>Grüße</p>"]'
	sum=$(sha256sum report.bin | cut -d' ' -f1)
	assert_equal "$(jq -c .attachments <<< "$checked")" "[{\"content_type\":\"application/pdf\",\"filename\":\"Bericht für Köln.bin\",\"sha256\":\"$sum\",\"size\":100000}]"
	assert_equal "$(jq -c '[.defects, .long_lines, .bare_lf]' <<< "$checked")" '[[],0,false]'
}

@test "body lines starting with a dot, or a lone dot, arrive intact through curl's SMTP upload" {
	build <<-'EOF'
	{"from":"s@example.com","to":"to@example.org","subject":"dots",
	 "text":".first\n.\n..two\nmiddle\n.\n","html":"<p>.x</p>\n.\n<p>ü</p>",
	 "message_id":"m3@example.com","date":1700000000}
	EOF
	send_built
	assert_equal "$(jq -c '[.text, .html]' <<< "$checked")" '[".first\n.\n..two\nmiddle\n.\n","<p>.x</p>\n.\n<p>ü</p>"]'
}

@test "the message tool refuses a bad item with the JSON path at fault" {
	run -65 --separate-stderr "$UNIT/email_mime" <<< '{"from":"s@example.com","to":["ok@example.org","bad"],"text":"x"}'
	assert_equal "$stderr" "email_mime: not a valid e-mail address: there is no @ (at /to/1)"
}
