#!/usr/bin/env bats
# cx-ingest serve's e-mail routes: Amazon SNS (ses) against a test CA, an
# HTTPS certificate host and a signing certificate made here with openssl;
# SendGrid's signed Event Webhook (a key pair made here, and sendgrid-python's
# signed vector); Mailgun's signed webhooks and their replay check; inbound
# mail from SendGrid Inbound Parse and Mailgun routes, stored as a form and
# attachment metadata.
#
# Fixtures: tests/fixtures/{ses,sendgrid,mailgun} hold copies of
# shared/fixtures unchanged. The SNS messages are signed at run time with
# this file's key (their Timestamp made fresh, their SigningCertURL and
# SubscribeURL pointed at the certificate host, the topic of the bounce
# fixture put in the two that have none).

load helpers
load lib/serve
load lib/sns

TOPIC=arn:aws:sns:us-east-1:1234567890:SES_Events
SUB_TOPIC=arn:aws:sns:us-west-2:123456789012:SES_Notifications

setup_file() {
	sns_pki
}

# helpers.bash's setup, plus the settings every test starts from.
eval "helpers_$(declare -f setup)"
setup() {
	helpers_setup
	export CX_CA_FILE=$PKI/ca.pem
	export CX_SNS_TOPIC_ARNS="$TOPIC, $SUB_TOPIC"
	export CX_SENDGRID_INBOUND_USER=parse CX_SENDGRID_INBOUND_PASSWORD=inbound-secret
	export CX_MAILGUN_WEBHOOK_SIGNING_KEY=TEST_WEBHOOK_SIGNING_KEY
	unset CX_SNS_CERT_HOST CX_SENDGRID_WEBHOOK_PUBLIC_KEY CX_WEBHOOK_TOLERANCE_SECONDS
	export CX_META_APP_SECRET=unused
}
teardown() {
	kill_started
}

# nothing_stored: the inbox is empty and drain prints nothing.
nothing_stored() {
	[ "$(inbox_count)" -eq 0 ] || { echo "inbox holds $(inbox_count) rows" >&2; return 1; }
	[ -z "$(cx-ingest drain --consumer nobody)" ]
}

# stored_body: the body of the only stored delivery, compact.
stored_body() {
	[ "$(inbox_count)" -eq 1 ] || { echo "inbox holds $(inbox_count) rows" >&2; return 1; }
	cx-ingest drain --consumer check | jq -c .body
}

# ------------------------------------------------------------------ SNS

@test "an SNS notification signed with SignatureVersion 1 (SHA1withRSA) is stored as posted" {
	sns_server
	sns_sign "$FIXTURES/ses/anymail_sns_notification_bounce.json" 1
	run sns_post msg.json
	assert_output 200
	run stored_body
	assert_output "$(jq -c . msg.json)"
}

@test "an SNS notification signed with SignatureVersion 2 (SHA256withRSA) is stored" {
	sns_server
	for f in delivery complaint; do
		sns_sign "$FIXTURES/ses/anymail_sns_notification_$f.json" 2
		run sns_post msg.json
		assert_output 200
	done
	[ "$(inbox_count)" -eq 2 ]
	run sql "SELECT DISTINCT provider FROM inbox"
	assert_output ses
}

@test "the signing certificate is fetched once and kept for the next messages" {
	sns_server
	for v in 1 2 1; do
		sns_sign "$FIXTURES/ses/anymail_sns_notification_bounce.json" "$v"
		run sns_post msg.json
		assert_output 200
	done
	run cert_requests
	assert_output /SimpleNotificationService-test.pem
	stop_server
	assert_equal "$exit_code" 0
}

@test "a forged SNS signature is refused with 401 and nothing is stored" {
	sns_server
	sns_sign "$FIXTURES/ses/anymail_sns_notification_bounce.json" 1
	jq '.Message |= sub("Permanent"; "Transient")' msg.json > tampered.json
	run sns_post tampered.json
	assert_output 401
	assert_equal "$(jq -c . resp)" '{"ok":false,"error":"bad_signature"}'
	# signed by another key than the certificate's
	sns_sign "$FIXTURES/ses/anymail_sns_notification_bounce.json" 2 "" "$PKI/rogue.key"
	run sns_post msg.json
	assert_output 401
	# a v1 signature announced as v2
	sns_sign "$FIXTURES/ses/anymail_sns_notification_bounce.json" 1
	jq '.SignatureVersion = "2"' msg.json > relabelled.json
	run sns_post relabelled.json
	assert_output 401
	nothing_stored
	stop_server
	assert_equal "$exit_code" 0
}

@test "an SNS message of a topic not in CX_SNS_TOPIC_ARNS is refused with 403, fetching nothing" {
	sns_server
	jq '.TopicArn = "arn:aws:sns:us-east-1:1234567890:Other"' \
		"$FIXTURES/ses/anymail_sns_notification_bounce.json" > other.json
	sns_sign other.json 2
	run sns_post msg.json
	assert_output 403
	assert_equal "$(jq -c . resp)" '{"ok":false,"error":"topic_not_allowed"}'
	nothing_stored
	[ ! -s certhost.jsonl ]
	run sql "SELECT value FROM metrics WHERE name = 'cx_webhook_signature_failures_total'"
	assert_output ''
}

@test "a SigningCertURL on another host or over http is refused and never fetched" {
	sns_server
	local port=${CHOST#localhost:}
	for url in "https://127.0.0.1:$port/SimpleNotificationService-test.pem" \
		"http://$CHOST/SimpleNotificationService-test.pem" \
		"https://localhost:$((port + 1))/SimpleNotificationService-test.pem" \
		"https://user@$CHOST/SimpleNotificationService-test.pem" \
		"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem"; do
		sns_sign "$FIXTURES/ses/anymail_sns_notification_bounce.json" 1 "$url"
		run sns_post msg.json
		assert_output 401
	done
	nothing_stored
	[ ! -s certhost.jsonl ]
}

@test "without CX_SNS_CERT_HOST only sns.<region>.amazonaws.com is a certificate host" {
	cert_host
	start_server
	sns_sign "$FIXTURES/ses/anymail_sns_notification_bounce.json" 1
	run sns_post msg.json
	assert_output 401
	nothing_stored
	[ ! -s certhost.jsonl ]
	grep -q 'SigningCertURL is not https on the certificate host' server.err
}

@test "a signing certificate that does not chain to the trusted certificates is refused" {
	sns_server
	sns_sign "$FIXTURES/ses/anymail_sns_notification_bounce.json" 2 \
		"https://$CHOST/SimpleNotificationService-rogue.pem" "$PKI/rogue.key"
	run sns_post msg.json
	assert_output 401
	nothing_stored
	grep -q 'the certificate does not verify' server.err
	stop_server
	assert_equal "$exit_code" 0
}

@test "a signing certificate served alone, its intermediate issuer not at hand (as SNS serves its own), is taken" {
	sns_server
	sns_sign "$FIXTURES/ses/anymail_sns_notification_bounce.json" 2 \
		"https://$CHOST/SimpleNotificationService-leaf.pem" "$PKI/leaf.key"
	run sns_post msg.json
	assert_output 200
	[ "$(inbox_count)" -eq 1 ]
}

@test "an SNS message older than SNS's hour of retries (and the tolerance) is refused" {
	sns_server
	sns_sign "$FIXTURES/ses/anymail_sns_notification_bounce.json" 1 "" "" 3000
	run sns_post msg.json
	assert_output 200
	sns_sign "$FIXTURES/ses/anymail_sns_notification_bounce.json" 1 "" "" 3901
	run sns_post msg.json
	assert_output 401
	[ "$(inbox_count)" -eq 1 ]
}

@test "a SubscriptionConfirmation is confirmed by one GET of its SubscribeURL and audited" {
	sns_server
	sns_sign "$FIXTURES/ses/anymail_sns_subscription_confirmation.json" 1
	run sns_post msg.json
	assert_output 200
	run cert_requests
	assert_output "/SimpleNotificationService-test.pem
/confirm?Action=ConfirmSubscription&Token=t0k"
	run sql "SELECT action || ' ' || subject || ' ' || detail FROM audit"
	assert_output "sns_subscription_confirmed $SUB_TOPIC {\"topic_arn\":\"$SUB_TOPIC\",\"subscribe_url\":\"https://$CHOST/confirm\"}"
	run stored_body
	assert_output "$(jq -c . msg.json)"
	stop_server
	assert_equal "$exit_code" 0
}

@test "a SubscriptionConfirmation whose SubscribeURL is on another host is refused, not visited" {
	sns_server
	sns_sign "$FIXTURES/ses/anymail_sns_subscription_confirmation.json" 2
	jq '.SubscribeURL = "https://127.0.0.1:1/confirm?Token=x"' unsigned.json > other.json
	sig=$(jq -j "$TO_SIGN" other.json | openssl dgst -sha256 -sign "$PKI/signing.key" | base64 -w0)
	jq --arg s "$sig" '.Signature = $s' other.json > msg.json
	run sns_post msg.json
	assert_output 401
	run cert_requests
	assert_output /SimpleNotificationService-test.pem
	nothing_stored
	[ "$(sql 'SELECT count(*) FROM audit')" -eq 0 ]
}

# ------------------------------------------------------------------ SendGrid

# sg_post TIMESTAMP SIGNATURE FILE: POSTs FILE to /webhooks/sendgrid.
sg_post() {
	http POST /webhooks/sendgrid --data-binary "@$3" -H 'Content-Type: application/json' \
		-H "X-Twilio-Email-Event-Webhook-Timestamp: $1" \
		-H "X-Twilio-Email-Event-Webhook-Signature: $2"
}

# sg_keys: an ECDSA P-256 key pair; CX_SENDGRID_WEBHOOK_PUBLIC_KEY its
# public half as SendGrid shows it (base64 DER).
sg_keys() {
	openssl ecparam -name prime256v1 -genkey -noout -out sg.key
	CX_SENDGRID_WEBHOOK_PUBLIC_KEY=$(openssl ec -in sg.key -pubout -outform DER 2> /dev/null | base64 -w0)
	export CX_SENDGRID_WEBHOOK_PUBLIC_KEY
}

# sg_sign TIMESTAMP FILE: the base64 DER signature of TIMESTAMP + FILE.
sg_sign() {
	{ printf %s "$1"; cat "$2"; } | openssl dgst -sha256 -sign sg.key | base64 -w0
}

@test "sendgrid-python's signed vector verifies with its own public key" {
	local v=$FIXTURES/sendgrid/sendgrid_python_signed_event_webhook_vector.json
	CX_SENDGRID_WEBHOOK_PUBLIC_KEY=$(jq -r .public_key "$v")
	export CX_SENDGRID_WEBHOOK_PUBLIC_KEY
	jq -j .raw_body "$v" > body
	export CX_NOW=1600112560
	start_server
	run sg_post 1600112502 "$(jq -r '.headers["X-Twilio-Email-Event-Webhook-Signature"]' "$v")" body
	assert_output 200
	run stored_body
	assert_output "{\"events\":$(jq -c . body)}"
	run sql "SELECT hex(body) FROM inbox"
	assert_output "$({ printf '{"events":'; cat body; printf '}'; } | xxd -p -u | tr -d '\n')"
}

@test "an event batch signed with a key made by openssl is stored as {\"events\":[...]}" {
	sg_keys
	start_server
	cp "$FIXTURES/sendgrid/docs_event_webhook_all_event_types_batch.json" batch.json
	ts=$(date +%s)
	run sg_post "$ts" "$(sg_sign "$ts" batch.json)" batch.json
	assert_output 200
	run stored_body
	assert_output "$(jq -c '{events: .}' batch.json)"
	stop_server
	assert_equal "$exit_code" 0
}

@test "a tampered SendGrid body, an old or missing timestamp, a bad key: 401, nothing stored" {
	sg_keys
	export CX_WEBHOOK_TOLERANCE_SECONDS=300
	start_server
	cp "$FIXTURES/sendgrid/docs_event_webhook_all_event_types_batch.json" batch.json
	ts=$(date +%s)
	sig=$(sg_sign "$ts" batch.json)
	sed 's/"delivered"/"bounce"/' batch.json > tampered.json
	run sg_post "$ts" "$sig" tampered.json
	assert_output 401
	run sg_post "$((ts + 1))" "$sig" batch.json
	assert_output 401
	old=$((ts - 301))
	run sg_post "$old" "$(sg_sign "$old" batch.json)" batch.json
	assert_output 401
	run http POST /webhooks/sendgrid --data-binary @batch.json \
		-H "X-Twilio-Email-Event-Webhook-Signature: $sig"
	assert_output 401
	run sg_post "$ts" "not base64!" batch.json
	assert_output 401
	assert_equal "$(jq -c . resp)" '{"ok":false,"error":"bad_signature"}'
	nothing_stored
}

@test "a signed SendGrid body that is not a JSON array is refused" {
	sg_keys
	start_server
	echo '{"event":"delivered"}' > object.json
	ts=$(date +%s)
	run sg_post "$ts" "$(sg_sign "$ts" object.json)" object.json
	assert_output 401
	nothing_stored
	grep -q 'the body is not a JSON array' server.err
}

@test "cx-ingest store checks a SendGrid signature it is given, and wraps the batch" {
	sg_keys
	cp "$FIXTURES/sendgrid/docs_delivered.json" batch.json
	ts=$(date +%s)
	sig=$(sg_sign "$ts" batch.json)
	run cx-ingest store --provider sendgrid -H "X-Twilio-Email-Event-Webhook-Signature: $sig" \
		-H "X-Twilio-Email-Event-Webhook-Timestamp: $ts" < batch.json
	assert_success
	run stored_body
	assert_output "$(jq -c '{events: .}' batch.json)"
	run cx-ingest store --provider sendgrid -H "X-Twilio-Email-Event-Webhook-Signature: $sig" \
		-H "X-Twilio-Email-Event-Webhook-Timestamp: $((ts - 1))" < batch.json
	assert_equal "$status" 77
	[ "$(inbox_count)" -eq 1 ]
}

@test "serve refuses to start with a SendGrid key that is not P-256" {
	export CX_SENDGRID_WEBHOOK_PUBLIC_KEY=$(openssl rsa -in "$PKI/rogue.key" -pubout -outform DER 2> /dev/null | base64 -w0)
	run cx-ingest serve --listen 127.0.0.1:0
	assert_equal "$status" 78
	assert_output --partial 'CX_SENDGRID_WEBHOOK_PUBLIC_KEY is not a base64 DER P-256 public key'
}

# ------------------------------------------------------------------ Mailgun

# mg_sign TIMESTAMP TOKEN: Mailgun's signature with the test signing key.
mg_sign() {
	printf %s%s "$1" "$2" | openssl dgst -sha256 -hmac "$CX_MAILGUN_WEBHOOK_SIGNING_KEY" |
		awk '{ print $NF }'
}

# mg_event TIMESTAMP TOKEN [SIGNATURE]: the delivered fixture signed so.
mg_event() {
	jq --arg ts "$1" --arg tok "$2" --arg sig "${3:-$(mg_sign "$1" "$2")}" \
		'.signature = {timestamp: $ts, token: $tok, signature: $sig}' \
		"$FIXTURES/mailgun/anymail_delivered.json"
}

mg_post() {
	http POST /webhooks/mailgun --data-binary "@$1" -H 'Content-Type: application/json'
}

@test "Mailgun's delivered fixture verifies with its signing key and is stored as posted" {
	export CX_NOW=1534108700
	start_server
	run mg_post "$FIXTURES/mailgun/anymail_delivered.json"
	assert_output 200
	run stored_body
	assert_output "$(jq -c . "$FIXTURES/mailgun/anymail_delivered.json")"
	run sql "SELECT source, nonce, seen_at FROM webhook_nonces"
	assert_output 'mailgun|651869375b9df3c98fc15c4889b102119add1235c38fc92824|1534108700'
}

@test "a replayed Mailgun token is refused with 401" {
	start_server
	ts=$(date +%s)
	mg_event "$ts" token-1 > a.json
	run mg_post a.json
	assert_output 200
	run mg_post a.json
	assert_output 401
	mg_event "$ts" token-2 > b.json
	run mg_post b.json
	assert_output 200
	[ "$(inbox_count)" -eq 2 ]
	stop_server
	assert_equal "$exit_code" 0
}

@test "concurrent replays of one Mailgun token: exactly one is stored" {
	start_server --threads 4
	mg_event "$(date +%s)" token-race > a.json
	local pids=()
	for i in 1 2 3 4 5 6 7 8; do
		curl -sS -o /dev/null -w '%{http_code}\n' --max-time 10 --data-binary @a.json \
			"$BASE/webhooks/mailgun" > "code.$i" &
		pids+=($!)
	done
	wait "${pids[@]}"
	run sort code.1 code.2 code.3 code.4 code.5 code.6 code.7 code.8
	assert_output "200
401
401
401
401
401
401
401"
	[ "$(inbox_count)" -eq 1 ]
}

@test "a bad Mailgun signature, a stale timestamp or no signing key: 401, nothing stored" {
	start_server
	ts=$(date +%s)
	mg_event "$ts" token-1 "$(mg_sign "$ts" token-2)" > bad.json
	run mg_post bad.json
	assert_output 401
	mg_event "$((ts - 301))" token-3 > stale.json
	run mg_post stale.json
	assert_output 401
	echo '{"event-data":{}}' > unsigned.json
	run mg_post unsigned.json
	assert_output 401
	stop_server
	nothing_stored
	[ "$(sql 'SELECT count(*) FROM webhook_nonces')" -eq 0 ]
	unset CX_MAILGUN_WEBHOOK_SIGNING_KEY
	start_server
	mg_event "$ts" token-4 > good.json
	run mg_post good.json
	assert_output 401
	nothing_stored
}

# ------------------------------------------------------------------ inbound

# attachment: a file whose bytes are easy to look for.
attachment() {
	{ printf '%%PDF-1.4 MARKER-BYTES-'; head -c 3000 /dev/zero | tr '\0' 'z'; } > a.pdf
}

@test "sendgrid-inbound with wrong or missing Basic credentials is refused with 401" {
	start_server
	for cred in parse:wrong wrong:inbound-secret parse: :inbound-secret parse:inbound-secretx; do
		run http POST /webhooks/sendgrid-inbound -u "$cred" -F subject=hi
		assert_output 401
		assert_equal "$(jq -c . resp)" '{"ok":false,"error":"unauthorized"}'
	done
	run http POST /webhooks/sendgrid-inbound -F subject=hi
	assert_output 401
	nothing_stored
}

@test "sendgrid-inbound stores the form and attachment metadata, never the attachment's bytes" {
	start_server
	attachment
	printf 'caf\xe9 \xff end' > latin1.txt
	run http POST /webhooks/sendgrid-inbound -u parse:inbound-secret \
		--form-string 'from=Jane <jane@example.com>' -F 'to=support@example.org' \
		-F 'subject=Réunion' -F 'text=Hello
there' --form-string 'html=<p>Hello</p>' -F 'attachments=1' \
		-F 'raw=<latin1.txt' -F 'attachment1=@a.pdf;type=application/pdf'
	assert_output 200
	sum=$(sha256sum a.pdf | cut -d' ' -f1)
	run stored_body
	assert_output "{\"form\":{\"from\":\"Jane <jane@example.com>\",\"to\":\"support@example.org\",\"subject\":\"Réunion\",\"text\":\"Hello\\nthere\",\"html\":\"<p>Hello</p>\",\"attachments\":\"1\",\"raw\":\"caf� � end\"},\"attachments\":[{\"field\":\"attachment1\",\"filename\":\"a.pdf\",\"content_type\":\"application/pdf\",\"size\":3022,\"sha256\":\"$sum\"}]}"
	run sql "SELECT count(*) FROM inbox WHERE body LIKE '%MARKER-BYTES%' OR headers LIKE '%MARKER%'"
	assert_output 0
	stop_server
	assert_equal "$exit_code" 0
}

@test "a file part without a Content-Type is described as application/octet-stream" {
	start_server
	printf -- '--XyZ\r\nContent-Disposition: form-data; name="subject"\r\n\r\nHi\r\n--XyZ\r\nContent-Disposition: form-data; name="attachment1"; filename="raw.bin"\r\n\r\n\0\1\2\r\n--XyZ--\r\n' > form
	run http POST /webhooks/sendgrid-inbound -u parse:inbound-secret --data-binary @form \
		-H 'Content-Type: multipart/form-data; boundary="XyZ"'
	assert_output 200
	run stored_body
	assert_output "{\"form\":{\"subject\":\"Hi\"},\"attachments\":[{\"field\":\"attachment1\",\"filename\":\"raw.bin\",\"content_type\":\"application/octet-stream\",\"size\":3,\"sha256\":\"$(printf '\0\1\2' | sha256sum | cut -d' ' -f1)\"}]}"
}

@test "sendgrid-inbound refuses a body that is not multipart/form-data" {
	start_server
	run http POST /webhooks/sendgrid-inbound -u parse:inbound-secret \
		--data-binary 'subject=hi' -H 'Content-Type: application/x-www-form-urlencoded'
	assert_output 401
	run http POST /webhooks/sendgrid-inbound -u parse:inbound-secret \
		--data-binary $'--B\r\nContent-Disposition: form-data; name=a\r\n\r\nx' \
		-H 'Content-Type: multipart/form-data; boundary=B'
	assert_output 401
	nothing_stored
	grep -q 'multipart part 1: no closing boundary' server.err
}

@test "mailgun-inbound: a signed multipart forward is stored as a form, a replay is refused" {
	start_server
	attachment
	ts=$(date +%s)
	sig=$(mg_sign "$ts" tok-in-1)
	args=(-F "timestamp=$ts" -F token=tok-in-1 -F "signature=$sig"
		-F 'sender=jane@example.com' -F 'subject=Hi' -F 'body-plain=Hello'
		-F 'attachment-count=1' -F 'attachment-1=@a.pdf')
	run http POST /webhooks/mailgun-inbound "${args[@]}"
	assert_output 200
	run stored_body
	assert_output "$(jq -cn --arg ts "$ts" --arg sig "$sig" --arg sum "$(sha256sum a.pdf | cut -d' ' -f1)" \
		'{form: {timestamp: $ts, token: "tok-in-1", signature: $sig, sender: "jane@example.com",
		  subject: "Hi", "body-plain": "Hello", "attachment-count": "1"},
		  attachments: [{field: "attachment-1", filename: "a.pdf",
		  content_type: "application/pdf", size: 3022, sha256: $sum}]}')"
	run http POST /webhooks/mailgun-inbound "${args[@]}"
	assert_output 401
	[ "$(inbox_count)" -eq 1 ]
}

@test "mailgun-inbound: an urlencoded forward is read; a bad signature is refused" {
	start_server
	ts=$(date +%s)
	run http POST /webhooks/mailgun-inbound --data-urlencode "timestamp=$ts" \
		--data-urlencode token=tok-u --data-urlencode "signature=$(mg_sign "$ts" tok-u)" \
		--data-urlencode 'subject=Ça va?' --data-urlencode 'stripped-text=a+b&c'
	assert_output 200
	run stored_body
	assert_output "$(jq -cn --arg ts "$ts" --arg sig "$(mg_sign "$ts" tok-u)" \
		'{form: {timestamp: $ts, token: "tok-u", signature: $sig, subject: "Ça va?",
		  "stripped-text": "a+b&c"}, attachments: []}')"
	run http POST /webhooks/mailgun-inbound --data-urlencode "timestamp=$ts" \
		--data-urlencode token=tok-v --data-urlencode "signature=$(mg_sign "$ts" tok-u)"
	assert_output 401
	[ "$(inbox_count)" -eq 1 ]
	stop_server
	assert_equal "$exit_code" 0
}
