#!/usr/bin/env bats
# cx-parse's e-mail mappings (ses, sendgrid, mailgun, sendgrid-inbound,
# mailgun-inbound): fixtures against their goldens, one event per recipient,
# bounce types, the tenant, correlation id and item cx sent with the message,
# inbound mail, and bad input.

load helpers
load lib/parse

CID=c-5f0c6a0e2b8d4e1f9a7b3c2d1e0f4a5b

# events PROVIDER < body: the event lines cx-parse prints for the body (no
# marker, no log lines); its status is cx-parse's.
events() {
	local rc=0

	webhook "$1" | cx-parse > out.ndjson 2> /dev/null || rc=$?
	grep -v '"type":"delivery.done"' out.ndjson || true
	return $rc
}

@test "every SES fixture body gives exactly its golden events, errors and marker" {
	check_fixtures ses
}

@test "every SendGrid fixture body gives exactly its golden events, errors and marker" {
	check_fixtures sendgrid
}

@test "every Mailgun fixture body gives exactly its golden events, errors and marker" {
	check_fixtures mailgun
}

@test "every SendGrid Inbound Parse fixture body gives exactly its golden events, errors and marker" {
	check_fixtures sendgrid-inbound
}

@test "every Mailgun inbound fixture body gives exactly its golden events, errors and marker" {
	check_fixtures mailgun-inbound
}

@test "an SES bounce or delivery naming two recipients gives one event per recipient, each with its own key" {
	for c in bounce_permanent_two_recipients delivery_two_recipients; do
		run events ses < "$FIXTURES/ses/synthetic_$c.body.json"
		assert_success
		[ "${#lines[@]}" -eq 2 ]
		echo "$output" | jq -e -s 'map(.data.to) == [["recipient@example.com"], ["second@example.net"]]
			and (map(.dedupe_key) | unique | length == 2)
			and all(.data.to[0] as $r | .dedupe_key | endswith(":" + $r))'
	done
	# Send names no recipient of its own: one event for the whole message
	run events ses < "$FIXTURES/ses/synthetic_send.body.json"
	assert_success
	[ "${#lines[@]}" -eq 1 ]
	echo "$output" | jq -e '.data.to == ["recipient@example.com", "second@example.net"]'
}

@test "one SendGrid POST gives one event per array item and one marker" {
	jq '[range(5) as $i | .[0] | .email = "r\($i)@example.com" | .sg_event_id = "ev\($i)"]' \
		"$FIXTURES/sendgrid/docs_delivered.json" | webhook sendgrid 4 > in
	run cx-parse < in
	assert_success
	[ "${#lines[@]}" -eq 6 ]
	printf '%s\n' "${lines[@]:0:5}" | jq -e -s 'map([.type, .data.to[0], .dedupe_key])
		== [range(5) as $i | ["email.delivered", "r\($i)@example.com", "email:sendgrid:default:event:ev\($i)"]]'
	assert_line --index 5 '{"v":1,"type":"delivery.done","provider":"sendgrid","correlation_id":"c-fixture","source":{"inbox_id":4},"data":{"events":5,"errors":0}}'
}

@test "SES bounce types map Permanent to hard, Transient and Undetermined to soft; another is an error" {
	for t in Permanent:hard Transient:soft Undetermined:soft; do
		jq --arg t "${t%:*}" '.Message |= (fromjson | .bounce.bounceType = $t | tojson)' \
			"$FIXTURES/ses/anymail_sns_notification_bounce.json" > body
		run events ses < body
		assert_success
		echo "$output" | jq -e --arg want "${t#*:}" '.type == "email.bounced" and .data.bounce.type == $want'
	done
	jq '.Message |= (fromjson | .bounce.bounceType = "Sometimes" | tojson)' \
		"$FIXTURES/ses/anymail_sns_notification_bounce.json" | webhook ses > in
	run --separate-stderr cx-parse < in
	assert_failure 65
	echo "$stderr" | parse_errors | jq -e -s '. == [{error: "unknown bounce type", path: ".Message"}]'
}

@test "SendGrid bounce is hard, blocked is soft, deferred delayed, dropped rejected, spamreport a complaint" {
	run events sendgrid < "$FIXTURES/sendgrid/docs_event_webhook_all_event_types_batch.json"
	assert_success
	# open, click, unsubscribe, group_unsubscribe and group_resubscribe give nothing
	echo "$output" | jq -e -s 'map(.type) == ["email.sent", "email.delayed", "email.delivered",
		"email.bounced", "email.rejected", "email.complained"]'
	echo "$output" | jq -e -s '.[3].data.bounce.type == "hard" and .[4].data.reason == "Bounced Address"'
	run events sendgrid < "$FIXTURES/sendgrid/docs_bounce_blocked.json"
	assert_success
	echo "$output" | jq -e '.data.bounce == {type: "soft", sub_type: "blocked",
		diagnostic: "500 unknown recipient", status: "5.0.0", recipient: "example@test.com"}'
	jq -c '.[0].event = "teleported"' "$FIXTURES/sendgrid/docs_delivered.json" | webhook sendgrid > in
	run --separate-stderr cx-parse < in
	assert_failure 65
	echo "$stderr" | parse_errors | jq -e -s '. == [{error: "unknown event", path: ".[0]"}]'
}

@test "Mailgun failed is hard when permanent, soft when temporary, rejected when Mailgun suppressed it" {
	run events mailgun < "$FIXTURES/mailgun/anymail_failed_permanent.json"
	echo "$output" | jq -e '.type == "email.bounced" and .data.bounce.type == "hard"'
	run events mailgun < "$FIXTURES/mailgun/anymail_failed_temporary.json"
	echo "$output" | jq -e '.type == "email.bounced" and .data.bounce.type == "soft"'
	run events mailgun < "$FIXTURES/mailgun/synthetic_failed_suppress_bounce.body.json"
	echo "$output" | jq -e '.type == "email.rejected" and .data.reason == "suppress-bounce"'
	run events mailgun < "$FIXTURES/mailgun/anymail_complained.json"
	echo "$output" | jq -e '.type == "email.complained"'
	for e in accepted:email.sent delivered:email.delivered rejected:email.rejected opened: clicked:; do
		jq --arg e "${e%:*}" '."event-data".event = $e' "$FIXTURES/mailgun/anymail_delivered.json" > body
		run events mailgun < body
		assert_success
		assert_output "$(jq -c --arg t "${e#*:}" 'select($t != "") | .type = $t' \
			"$FIXTURES/mailgun/anymail_delivered.expected.ndjson")"
	done
}

@test "SES Send, Reject, Rendering Failure and DeliveryDelay are sent, rejected, rejected and delayed; Open and Click give nothing" {
	for t in "Send:email.sent" "Reject:email.rejected" "Rendering Failure:email.rejected" \
		"DeliveryDelay:email.delayed" "Open:" "Click:" "Subscription:"; do
		jq --arg t "${t%:*}" '.Message |= (fromjson | .eventType = $t
			| .failure = {errorMessage: "Attribute missing", templateName: "T"} | tojson)' \
			"$FIXTURES/ses/synthetic_delivery_delay.body.json" > body
		run events ses < body
		assert_success
		assert_equal "$(echo "$output" | jq -r .type)" "${t#*:}"
	done
	jq '.Message |= (fromjson | .eventType = "Rendering Failure" | .failure.errorMessage = "Attribute missing" | tojson)' \
		"$FIXTURES/ses/synthetic_send.body.json" > body
	run events ses < body
	echo "$output" | jq -e '.data.reason == "Attribute missing" and (.dedupe_key | endswith(":renderingfailure"))'
}

@test "the tenant, correlation id and item come from what cx sent with the message" {
	run events ses < "$FIXTURES/ses/synthetic_bounce_transient.body.json"
	assert_success
	echo "$output" | jq -e --arg cid "$CID" '.tenant == "acme" and .correlation_id == $cid
		and .data.item == "command:7" and (.dedupe_key | startswith("email:ses:acme:event:"))'
	run events sendgrid < "$FIXTURES/sendgrid/synthetic_batch_tagged.body.json"
	assert_failure 65
	echo "$output" | jq -e -s --arg cid "$CID" 'length == 6 and all(.tenant == "acme"
		and .correlation_id == $cid and .data.item == "queue:21")'
	run events mailgun < "$FIXTURES/mailgun/synthetic_delivered_tagged.body.json"
	assert_success
	echo "$output" | jq -e --arg cid "$CID" '.tenant == "acme" and .correlation_id == $cid
		and .data.item == "command:9" and .dedupe_key == "email:mailgun:acme:event:hTWCTD81RtiDN-tagged-0001"'
}

@test "without cx's tags the accounts table names the tenant, in the event and its key" {
	cx accounts add --channel email --account john@example.com --tenant zeta
	cx accounts add --channel email --account support@parse.acme.example --tenant acme
	run events ses < "$FIXTURES/ses/anymail_sns_notification_bounce.json"
	assert_success
	echo "$output" | jq -e '.tenant == "zeta" and .correlation_id == "c-fixture" and (.data | has("item") | not)
		and .dedupe_key == "email:ses:zeta:event:00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000:bounce:jane@example.com"'
	run events sendgrid-inbound < "$FIXTURES/sendgrid-inbound/synthetic_reply.body.json"
	assert_success
	echo "$output" | jq -e '.tenant == "acme" and .dedupe_key == "email:sendgrid:acme:in:reply.4f2a@mail.example.org"'
	# a tag wins over the accounts table
	jq '.Message |= (fromjson | .mail.source = "john@example.com" | tojson)' \
		"$FIXTURES/ses/synthetic_send.body.json" > body
	run events ses < body
	echo "$output" | jq -e '.account == "john@example.com" and .tenant == "acme"'
}

@test "a malformed cx tag is an error of its event and the rest of the batch goes through" {
	jq '.[1].cx_item = "queue:12; DROP" | .[2].cx_tenant = "a:b" | .[3].cx_correlation_id = 7' \
		"$FIXTURES/sendgrid/synthetic_batch_tagged.body.json" | webhook sendgrid > in
	run --separate-stderr cx-parse < in
	assert_failure 65
	[ "${#lines[@]}" -eq 4 ]
	assert_line --index 3 --partial '"data":{"events":3,"errors":5}}'
	echo "$stderr" | parse_errors | jq -e -s '. == [{error: "invalid cx_item tag", path: ".[1]"},
		{error: "invalid cx_tenant tag", path: ".[2]"}, {error: "invalid cx_correlation_id tag", path: ".[3]"},
		{error: "missing sg_event_id", path: ".[6]"}, {error: "event is not an object", path: ".[7]"}]'
	[[ $stderr != *DROP* && $stderr != *bruno@* && $stderr != *ana@* ]]
}

@test "an SES recipient without an address is one error; the other recipients still go through" {
	webhook ses 8 < "$FIXTURES/ses/synthetic_bounce_recipient_without_address.body.json" > in
	run --separate-stderr cx-parse < in
	assert_failure 65
	[ "${#lines[@]}" -eq 2 ]
	echo "${lines[0]}" | jq -e '.data.to == ["second@example.net"]'
	echo "$stderr" | jq -e 'select(.msg | startswith("parse.error")) | .inbox_id == 8
		and .provider == "ses" and .path == ".Message.bounce.bouncedRecipients[0]"
		and .reason == "missing recipient"'
}

@test "SNS subscription messages give no event and no error; a Message that is not an SES event is an error" {
	run cx-parse < <(webhook ses < "$FIXTURES/ses/anymail_sns_subscription_confirmation.json")
	assert_success
	assert_output '{"v":1,"type":"delivery.done","provider":"ses","correlation_id":"c-fixture","source":{"inbox_id":1},"data":{"events":0,"errors":0}}'
	jq '.Type = "UnsubscribeConfirmation"' "$FIXTURES/ses/anymail_sns_subscription_confirmation.json" > body
	run cx-parse --provider ses < body
	assert_success
	assert_output ''
	{
		jq -c '.Message = "not json"' "$FIXTURES/ses/anymail_sns_notification_delivery.json"
		# what libjq 1.6 would leak on never reaches its parser
		jq -c '.Message = "{\"notificationType\":\"Delivery\" \"mail\":{}}"' "$FIXTURES/ses/anymail_sns_notification_delivery.json"
		jq -c '.Type = "Advert"' "$FIXTURES/ses/anymail_sns_notification_delivery.json"
		jq -c '.Message |= (fromjson | .notificationType = "Teleport" | tojson)' "$FIXTURES/ses/anymail_sns_notification_delivery.json"
		jq -c '.Message |= (fromjson | del(.mail.messageId) | tojson)' "$FIXTURES/ses/anymail_sns_notification_delivery.json"
		jq -c . "$FIXTURES/ses/anymail_sns_notification_delivery.json"
	} > raw
	run --separate-stderr cx-parse --provider ses < raw
	assert_failure 65
	[ "${#lines[@]}" -eq 1 ]
	echo "$output" | jq -e '.type == "email.delivered"'
	echo "$stderr" | parse_errors | jq -e -s '. == [{error: "Message is not a JSON object", path: ".Message"},
		{error: "Message is not a JSON object", path: ".Message"}, {error: "unknown SNS message type", path: ".Type"}, {error: "unknown event type", path: ".Message"},
		{error: "missing mail.messageId", path: ".Message"}]'
}

@test "the same SES event keeps its key through a redelivery and through either SES shape" {
	run events ses < "$FIXTURES/ses/synthetic_bounce_permanent_two_recipients.body.json"
	want=$(echo "$output" | jq -r .dedupe_key)
	jq '.MessageId = "another-sns-delivery" | .Message |= (fromjson
		| .notificationType = .eventType | del(.eventType) | tojson)' \
		"$FIXTURES/ses/synthetic_bounce_permanent_two_recipients.body.json" > body
	run events ses < body
	assert_success
	assert_equal "$(echo "$output" | jq -r .dedupe_key)" "$want"
}

@test "--provider reads SendGrid's array bodies" {
	cat "$FIXTURES/sendgrid/docs_dropped.json" "$FIXTURES/sendgrid/docs_spamreport.json" > raw
	run cx-parse --provider sendgrid < raw
	assert_success
	echo "$output" | jq -e -s 'map(.type) == ["email.rejected", "email.complained"]
		and .[0].correlation_id != .[1].correlation_id'
	run --separate-stderr cx-parse --provider sendgrid < "$FIXTURES/ses/synthetic_send.body.json"
	assert_failure 65
	echo "$stderr" | parse_errors | jq -e -s '. == [{error: "body is not an array of events", path: "."}]'
}

@test "inbound mail keeps attachment metadata only, and without a Message-ID it is an error" {
	jq '.attachments[0].content = "JVBERi0xLjcgc3RhbmQtaW4=" | .attachments[0].path = "/tmp/x"' \
		"$FIXTURES/mailgun-inbound/synthetic_forward_with_attachment.body.json" > body
	run events mailgun-inbound < body
	assert_success
	echo "$output" | jq -e '.data.attachments == [{name: "invoice-2026-12.pdf", type: "application/pdf",
		size: 32, sha256: "c78a4cbef26341fed3bcb52ba86515e3e4f89bed5a62dd14720f2300455a007e"}]'
	jq '.form.headers |= sub("Message-ID:\r\n <[^>]*>\r\n"; "")' \
		"$FIXTURES/sendgrid-inbound/synthetic_reply.body.json" | webhook sendgrid-inbound > in
	run --separate-stderr cx-parse < in
	assert_failure 65
	echo "$stderr" | parse_errors | jq -e -s '. == [{error: "missing Message-ID", path: ".form"}]'
	[[ $stderr != *ana@example.org* ]]
}

@test "JSON inside form fields that is broken is ignored: the account falls back to the To header" {
	jq '.form.envelope = "{\"to\":[\"a@b.example\"] \"from\":\"x\"}" | .form["attachment-info"] = "[1 \"x\"]"' \
		"$FIXTURES/sendgrid-inbound/synthetic_reply.body.json" > body
	run events sendgrid-inbound < body
	assert_success
	echo "$output" | jq -e '.account == "support@parse.acme.example"
		and .data.attachments == [{name: "receipt.pdf", type: "application/pdf", size: 17,
		sha256: "174b829f884fbfafa0e0e55021551ea08e774431d7b0dec855cf3230ad84b683"}]'
}

@test "Mailgun inbound reads the headers from the form fields or from message-headers alike" {
	jq '.form |= (.["message-headers"] = "[]")' \
		"$FIXTURES/mailgun-inbound/synthetic_forward_with_attachment.body.json" > fields
	jq '.form |= del(.To, .Cc, .["Message-Id"], .["In-Reply-To"], .from)' \
		"$FIXTURES/mailgun-inbound/synthetic_forward_with_attachment.body.json" > headers
	diff <(events mailgun-inbound < fields | jq -c .data) <(events mailgun-inbound < headers | jq -c .data)
	events mailgun-inbound < fields | jq -e '.data.in_reply_to == "cx.40.1765000000@acme.example"
		and .data.from == "ana@example.org" and .occurred_at == "2026-12-06T09:30:00Z"'
}

@test "a mapping item may name its tenant and correlation id; {tenant} in its key is filled in only then" {
	share_copy
	cat > share/parsers/whatsapp.jq <<-'EOF'
	{type: "message", channel: "whatsapp", account: "1", dedupe_key: "k:{tenant}:a", ts: null, data: {}},
	{type: "message", channel: "whatsapp", account: "1", dedupe_key: "k:{tenant}:b", ts: null, data: {}, tenant: null},
	{type: "message", channel: "whatsapp", account: "1", dedupe_key: "k:{tenant}:c:{tenant}", ts: null, data: {},
	 tenant: "acme", correlation_id: "c-own"},
	{type: "message", channel: "whatsapp", account: "1", dedupe_key: "k", ts: null, data: {}, tenant: 7},
	{type: "message", channel: "whatsapp", account: "1", dedupe_key: "k", ts: null, data: {}, tenant: ""},
	{type: "message", channel: "whatsapp", account: "1", dedupe_key: "k", ts: null, data: {}, correlation_id: null}
	EOF
	cx accounts add --channel whatsapp --account 1 --tenant mapped
	run --separate-stderr cx-parse < <(echo '{}' | webhook whatsapp)
	assert_failure 65
	[ "${#lines[@]}" -eq 4 ]
	printf '%s\n' "${lines[@]:0:3}" | jq -e -s 'map([.dedupe_key, .tenant, .correlation_id])
		== [["k:{tenant}:a", "mapped", "c-fixture"], ["k:mapped:b", "mapped", "c-fixture"],
		    ["k:acme:c:{tenant}", "acme", "c-own"]]'
	echo "$stderr" | parse_errors | jq -e -s 'map(.error) == ["mapping gave an invalid item",
		"mapping gave an invalid item", "mapping gave an invalid item"]'
}
