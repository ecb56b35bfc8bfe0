#!/usr/bin/env bats
# The e-mail feedback loop end to end (cx-email(7)): a message sent through
# SES (the SigV4-checking mock), its bounce posted by "SNS" (signed with a
# certificate of a CA made here and fetched over HTTPS from a certificate
# host), then `cx-ingest drain | cx-parse | cx-dedupe | cx-publish
# feedback` suppresses the address, the next send to it makes no request,
# and `cx audit --correlation-id` tells the message's story.

load helpers
load lib/serve
load lib/sns

TOPIC=arn:aws:sns:us-east-1:1234567890:SES_Events
ME=$(id -un)

setup_file() {
	sns_pki
	"$PY" "$MOCKS/ses.py" 0 --access-key AKIDCXTEST --secret-key 'ses secret' \
		--lifetime 900 > "$BATS_FILE_TMPDIR/ses.port" 2> "$BATS_FILE_TMPDIR/ses.err" 3>&- &
	echo $! > "$BATS_FILE_TMPDIR/ses.pid"
	for _ in $(seq 400); do [ -s "$BATS_FILE_TMPDIR/ses.port" ] && break; sleep 0.05; done
	export SES=http://127.0.0.1:$(head -n 1 "$BATS_FILE_TMPDIR/ses.port")
}

teardown_file() {
	kill "$(cat "$BATS_FILE_TMPDIR/ses.pid")" 2> /dev/null || true
}

eval "helpers_$(declare -f setup)"
setup() {
	helpers_setup
	REC=$BATS_TEST_TMPDIR/ses.jsonl
	touch "$REC"
	curl -sf -X POST -d "{\"reset\": true, \"record\": \"$REC\"}" "$SES/_control" > /dev/null
	export CX_CA_FILE=$PKI/ca.pem CX_SNS_TOPIC_ARNS=$TOPIC
	export CX_APPROVAL_EMAIL=none CX_PUBLISH_RATE_EMAIL=1000 CX_EMAIL_RATE_DOMAIN=1000 \
		CX_EMAIL_RATE_RECIPIENT=1000
	export CX_EMAIL_DEFAULT_FROM='Shop Mail <mail@ops.example>' CX_SES_API_BASE=$SES \
		CX_AWS_ACCESS_KEY_ID=AKIDCXTEST CX_AWS_SECRET_ACCESS_KEY='ses secret' \
		CX_SES_CONFIGURATION_SET=events
	export CX_META_APP_SECRET=unused
	cx-approve operators add "$ME" --role owner 2> /dev/null
	cx tenants set acme --email-from hello@acme.example > /dev/null
}

teardown() {
	kill_started
}

# send KEY TO: an e-mail command for acme; its post.* line on stdout.
send() {
	jq -cn --arg k "$1" --arg to "$2" '{channel:"email",workspace:"acme",idempotency_key:$k,
		to:[$to],subject:"Your order",text:"Thanks"}' | cx-publish 2> /dev/null
}

# bounce SENT TO: the SES bounce event of the message whose post.published
# line is SENT, to TO, wrapped in an SNS notification (as SES publishes it
# to a configuration set's topic, with cx's tags), unsigned, in bounce.json.
bounce() {
	jq --argjson sent "$1" --arg to "$2" '
		(.Message | fromjson
		| del(.notificationType) | .eventType = "Bounce"
		| .mail.messageId = $sent.data.provider_ref
		| .mail.tags = {cx_tenant: [$sent.tenant], cx_correlation_id: [$sent.correlation_id],
			cx_item: ["command-\($sent.data.command_id)"]}
		| .bounce.bouncedRecipients[0].emailAddress = $to) as $m
		| .Message = ($m | tojson) | .MessageId = "sns-\($sent.data.command_id)"' \
		"$FIXTURES/ses/anymail_sns_notification_bounce.json" > bounce.json
}

@test "a bounce signed by SNS comes back through the pipeline, suppresses the address, and the next send makes no request" {
	sent=$(send k1 ana@example.com)
	echo "$sent" | jq -e '.type == "post.published" and .data.provider == "ses"'
	cid=$(echo "$sent" | jq -r .correlation_id)
	bounce "$sent" ana@example.com
	sns_server
	sns_sign bounce.json 2
	run sns_post msg.json
	assert_output 200
	cx-ingest drain --consumer loop | cx-parse | cx-dedupe | cx-publish feedback > out.ndjson
	jq -se --arg cid "$cid" 'map(select(.type == "email.bounced")) | length == 1 and
		.[0].tenant == "acme" and .[0].correlation_id == $cid and
		.[0].data.bounce.type == "hard" and .[0].data.to == ["ana@example.com"]' out.ndjson
	[ "$(sql "select scope || ' ' || address || ' ' || reason from email_suppressions")" = \
		"*default ana@example.com hard_bounce" ]
	[ "$(sql "select status from email_messages")" = bounce_hard ]
	run -1 send k2 ana@example.com
	echo "$output" | jq -e '.type == "post.failed" and .data.error_code == "SUPPRESSED"'
	[ "$(jq -c 'select(.method == "POST")' "$REC" | wc -l)" -eq 1 ]
	cx audit --correlation-id "$cid" --json > story
	jq -se 'map(.action) | index("publish_attempt") < index("email_bounced") and
		index("email_bounced") < index("email_suppressed")' story
}

@test "SNS delivering the same bounce again changes nothing: dedupe drops it, feedback would too" {
	sent=$(send k1 bea@example.com)
	bounce "$sent" bea@example.com
	sns_server
	sns_sign bounce.json 2
	run sns_post msg.json
	assert_output 200
	run sns_post msg.json
	assert_output 200
	cx-ingest drain --consumer loop | cx-parse > events.ndjson
	[ "$(jq -s 'map(select(.type == "email.bounced")) | length' events.ndjson)" -eq 2 ]
	cx-dedupe < events.ndjson | cx-publish feedback > /dev/null
	cx-publish feedback < events.ndjson > /dev/null
	[ "$(sql 'select count(*) from email_outcomes')" -eq 1 ]
	[ "$(sql 'select count(*) from email_suppressions')" -eq 1 ]
	cx audit --json | jq -se 'map(select(.action == "email_bounced")) | length == 1'
}
