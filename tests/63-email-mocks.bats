#!/usr/bin/env bats
# The e-mail API mocks cx-publish's tests and benchmark send to, proved with
# curl: each accepts a request as its API documents it and refuses a wrong
# one as the API does. tests/mock/ses.py (SESv2 SendEmail; SigV4 signed by
# curl --aws-sigv4 and recomputed by the mock with botocore), sendgrid.py
# (v3 mail/send) and mailgun.py (v3 messages, a multipart form).

load helpers

eval "helpers_$(declare -f setup)"

MOCKS=$CX_ROOT/tests/mock
KEY=AKIDEXAMPLE63
SECRET='wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLE63'
SES_SIMPLE='{"FromEmailAddress":"Ann <ann@example.org>","Destination":{"ToAddresses":["bob@example.com"]},"Content":{"Simple":{"Subject":{"Data":"Hi","Charset":"UTF-8"},"Body":{"Text":{"Data":"Hello","Charset":"UTF-8"}}}},"EmailTags":[{"Name":"cx_tenant","Value":"acme"}]}'

setup_file() {
	local m
	"$PY" "$MOCKS/ses.py" 0 --access-key "$KEY" --secret-key "$SECRET" --lifetime 600 \
		> "$BATS_FILE_TMPDIR/ses.port" 2> "$BATS_FILE_TMPDIR/ses.err" 3>&- &
	echo $! > "$BATS_FILE_TMPDIR/ses.pid"
	"$PY" "$MOCKS/sendgrid.py" 0 --api-key SG.right-key --lifetime 600 \
		> "$BATS_FILE_TMPDIR/sendgrid.port" 2> "$BATS_FILE_TMPDIR/sendgrid.err" 3>&- &
	echo $! > "$BATS_FILE_TMPDIR/sendgrid.pid"
	"$PY" "$MOCKS/mailgun.py" 0 --api-key key-right --domain mg.example.com --lifetime 600 \
		> "$BATS_FILE_TMPDIR/mailgun.port" 2> "$BATS_FILE_TMPDIR/mailgun.err" 3>&- &
	echo $! > "$BATS_FILE_TMPDIR/mailgun.pid"
	for m in ses sendgrid mailgun; do
		for _ in $(seq 400); do [ -s "$BATS_FILE_TMPDIR/$m.port" ] && break; sleep 0.05; done
	done
	export SES=http://127.0.0.1:$(head -n 1 "$BATS_FILE_TMPDIR/ses.port")
	export SG=http://127.0.0.1:$(head -n 1 "$BATS_FILE_TMPDIR/sendgrid.port")
	export MG=http://127.0.0.1:$(head -n 1 "$BATS_FILE_TMPDIR/mailgun.port")
}

teardown_file() {
	local m
	for m in ses sendgrid mailgun; do
		kill "$(cat "$BATS_FILE_TMPDIR/$m.pid")" 2> /dev/null || true
	done
}

setup() {
	helpers_setup
	REC=$BATS_TEST_TMPDIR/rec.jsonl
	touch "$REC"
	local u
	for u in "$SES" "$SG" "$MG"; do
		control "$u" "{\"reset\": true, \"record\": \"$REC\"}"
	done
}

# control URL JSON: programs a mock.
control() {
	curl -sf -X POST -H 'Content-Type: application/json' -d "$2" "$1/_control" > /dev/null
}

# ses USER:SECRET BODY [CURL ARGS...]: POSTs BODY to SendEmail signed with
# curl's SigV4 (service ses, us-east-1); the answer's headers in ./h, its
# body in ./b, the status on stdout.
ses() {
	local user=$1 body=$2
	shift 2
	curl -s -o b -D h -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:ses" --user "$user" \
		-H 'Content-Type: application/json' --data-binary "$body" "$@" \
		"$SES/v2/email/outbound-emails"
}

# header NAME: the value of header NAME in ./h.
header() {
	grep -i "^$1:" h | cut -d' ' -f2- | tr -d '\r'
}

# last FILTER [JQ ARGS...]: jq FILTER on the last request recorded.
last() {
	tail -n 1 "$REC" | jq -c "$@"
}

@test "SES: a request signed with the right key is accepted with a new MessageId" {
	run ses "$KEY:$SECRET" "$SES_SIMPLE"
	assert_output 200
	run jq -r '.MessageId | test("^[0-9a-f]{16}-[0-9a-f-]{36}-000000$")' b
	assert_output true
	run last '[.signature, .access_key, .credential_scope, .body.Content.Simple.Subject.Data, .message_id == $id]' --arg id "$(jq -r .MessageId b)"
	assert_output '["ok","AKIDEXAMPLE63","'"$(date -u +%Y%m%d)"'/us-east-1/ses/aws4_request","Hi",true]'
}

@test "SES: a wrong secret is refused 403 SignatureDoesNotMatch, as AWS answers" {
	run ses "$KEY:wrong-secret" "$SES_SIMPLE"
	assert_output 403
	[ "$(header x-amzn-ErrorType)" = SignatureDoesNotMatch ]
	run jq -c . b
	assert_output '{"message":"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}'
	run last '[.signature, .status, .message_id]'
	assert_output '["mismatch",403,null]'
}

@test "SES: a signature made for another body is refused" {
	curl -s -v --aws-sigv4 "aws:amz:us-east-1:ses" --user "$KEY:$SECRET" \
		-H 'Content-Type: application/json' --data-binary "$SES_SIMPLE" \
		"$SES/v2/email/outbound-emails" 2>&1 > /dev/null |
		sed -n 's/^> \(Authorization\|X-Amz-Date\): /\1: /p' | tr -d '\r' > signed
	[ "$(wc -l < signed)" -eq 2 ]
	run curl -s -o b -w '%{http_code}' -H "$(sed -n 1p signed)" -H "$(sed -n 2p signed)" \
		-H 'Content-Type: application/json' --data-binary "${SES_SIMPLE/Hello/Hullo}" \
		"$SES/v2/email/outbound-emails"
	assert_output 403
	run last '[.signature, .body.Content.Simple.Body.Text.Data]'
	assert_output '["mismatch","Hullo"]'
}

@test "SES: a credential scoped to another region or service is refused" {
	run ses "$KEY:$SECRET" "$SES_SIMPLE" --aws-sigv4 "aws:amz:eu-west-1:ses"
	assert_output 403
	[ "$(header x-amzn-ErrorType)" = SignatureDoesNotMatch ]
	[ "$(jq -r .message b)" = "Credential should be scoped to a valid region, not 'eu-west-1'. " ]
	run ses "$KEY:$SECRET" "$SES_SIMPLE" --aws-sigv4 "aws:amz:us-east-1:email"
	assert_output 403
	[ "$(jq -r .message b)" = "Credential should be scoped to correct service: 'ses'. " ]
	run last .signature
	assert_output '"scope"'
}

@test "SES: an unknown access key, no signature or an old X-Amz-Date is refused" {
	run ses "AKIDOTHER:$SECRET" "$SES_SIMPLE"
	assert_output 403
	[ "$(header x-amzn-ErrorType)" = UnrecognizedClientException ]
	[ "$(jq -r .message b)" = "The security token included in the request is invalid." ]
	run curl -s -o b -D h -w '%{http_code}' -d "$SES_SIMPLE" "$SES/v2/email/outbound-emails"
	assert_output 403
	[ "$(header x-amzn-ErrorType)" = MissingAuthenticationTokenException ]
	[ "$(jq -r .message b)" = "Missing Authentication Token" ]
	old=$(date -u -d '-10 minutes' +%Y%m%dT%H%M%SZ)
	run ses "$KEY:$SECRET" "$SES_SIMPLE" -H "X-Amz-Date: $old"
	assert_output 403
	[ "$(header x-amzn-ErrorType)" = InvalidSignatureException ]
	run jq -r .message b
	assert_output --regexp "^Signature expired: $old is now earlier than [0-9]{8}T[0-9]{6}Z \([0-9]{8}T[0-9]{6}Z - 5 min\.\)$"
	run jq -r '[.[].signature] | join(" ")' -s "$REC"
	assert_output "unknown_key missing expired"
}

@test "SES: Raw content is a base64 message, recorded parsed with its attachment" {
	printf 'From: ann@example.org\r\nTo: bob@example.com\r\nMessage-ID: <m1@example.org>\r\nSubject: Hi\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nHello\r\n--XX\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="a.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0K\r\n--XX--\r\n' > msg.eml
	body=$(jq -cn --arg d "$(base64 -w0 msg.eml)" '{FromEmailAddress: "ann@example.org", Destination: {BccAddresses: ["hidden@example.net"]}, Content: {Raw: {Data: $d}}}')
	run ses "$KEY:$SECRET" "$body"
	assert_output 200
	run last '[.raw.headers[2], .raw.parts, .body.Content.Raw.size]'
	assert_output '[["Message-ID","<m1@example.org>"],[{"content_type":"text/plain","filename":null,"sha256":"185f8db32271fe25f561a6fc938b2e264306ec304eda518007d1764826381969","size":5,"text":"Hello"},{"content_type":"application/pdf","filename":"a.pdf","sha256":"'"$(printf '%%PDF-\n' | sha256sum | cut -d' ' -f1)"'","size":6}],'"$(base64 -w0 msg.eml | wc -c)"']'
}

@test "SES: a body without Content, with two kinds of it or with a bad tag is a BadRequestException" {
	run ses "$KEY:$SECRET" '{"FromEmailAddress":"a@example.org","Destination":{"ToAddresses":["b@example.com"]}}'
	assert_output 400
	[ "$(header x-amzn-ErrorType)" = BadRequestException ]
	[ "$(jq -r .message b)" = "1 validation error detected: Value null at 'content' failed to satisfy constraint: Member must not be null" ]
	run ses "$KEY:$SECRET" "$(jq -c '.Content.Raw = {Data: "eA=="}' <<< "$SES_SIMPLE")"
	assert_output 400
	[ "$(jq -r .message b)" = "Exactly one of Simple, Raw or Template content must be given." ]
	run ses "$KEY:$SECRET" "$(jq -c '.EmailTags[0].Value = "queue:42"' <<< "$SES_SIMPLE")"
	assert_output 400
	run ses "$KEY:$SECRET" "$(jq -c '.Destination.ToAddresses = ["j@bücher.example"]' <<< "$SES_SIMPLE")"
	assert_output 400
	[ "$(jq -r .message b)" = "Illegal address" ]
	run jq -r '[.[].message_id] | unique | join(",")' -s "$REC"
	assert_output ""
}

@test "SES: programmed failures answer as SES, then the mock accepts again" {
	control "$SES" '{"script": {"POST /v2/email/outbound-emails": [{"ses_error": "TooManyRequestsException"}, {"ses_error": "MessageRejected", "message": "Email address is not verified."}, {"ses_error": "InternalFailure"}]}}'
	run ses "$KEY:$SECRET" "$SES_SIMPLE"
	assert_output 429
	[ "$(header x-amzn-ErrorType)" = TooManyRequestsException ]
	[ "$(jq -r .message b)" = "Maximum sending rate exceeded." ]
	run ses "$KEY:$SECRET" "$SES_SIMPLE"
	assert_output 400
	[ "$(header x-amzn-ErrorType)" = MessageRejected ]
	[ "$(jq -r .message b)" = "Email address is not verified." ]
	run ses "$KEY:$SECRET" "$SES_SIMPLE"
	assert_output 500
	run ses "$KEY:$SECRET" "$SES_SIMPLE"
	assert_output 200
	run ses "$KEY:wrong" "$SES_SIMPLE"
	assert_output 403
}

@test "SES: a hang accepts the message and answers nothing" {
	control "$SES" '{"script": {"*": [{"hang_ms": 3000}]}}'
	run ses "$KEY:$SECRET" "$SES_SIMPLE" -m 1
	assert_output 000
	run last '[.signature, .status, (.message_id | length > 0)]'
	assert_output '["ok",null,true]'
}

# --- SendGrid -------------------------------------------------------------

SG_BODY='{"personalizations":[{"to":[{"email":"bob@example.com"}]}],"from":{"email":"ann@example.org","name":"Ann"},"subject":"Hi","content":[{"type":"text/plain","value":"Hello"}],"attachments":[{"content":"JVBERi0K","filename":"a.pdf","type":"application/pdf","disposition":"attachment"}],"custom_args":{"cx_tenant":"acme"}}'

# sendgrid AUTHORIZATION BODY: POSTs BODY to mail/send; headers in ./h, body
# in ./b, the status on stdout.
sendgrid() {
	curl -s -o b -D h -w '%{http_code}' ${1:+-H "Authorization: $1"} \
		-H 'Content-Type: application/json' --data-binary "$2" "$SG/v3/mail/send"
}

@test "SendGrid: the right key is accepted: 202, no body, an X-Message-Id" {
	run sendgrid "Bearer SG.right-key" "$SG_BODY"
	assert_output 202
	[ ! -s b ]
	id=$(header X-Message-Id)
	[ ${#id} -eq 22 ]
	run last '[.auth, .message_id == $id, .body.custom_args, .body.attachments[0].content]' --arg id "$id"
	assert_output '["bearer",true,{"cx_tenant":"acme"},{"sha256":"'"$(printf '%%PDF-\n' | sha256sum | cut -d' ' -f1)"'","size":6}]'
}

@test "SendGrid: a wrong key or none is refused 401 as SendGrid answers" {
	run sendgrid "Bearer SG.wrong-key" "$SG_BODY"
	assert_output 401
	run jq -c . b
	assert_output '{"errors":[{"message":"The provided authorization grant is invalid, expired, or revoked","field":null,"help":null}]}'
	run sendgrid "" "$SG_BODY"
	assert_output 401
	run jq -c . b
	assert_output '{"errors":[{"field":null,"message":"authorization required"}]}'
	run jq -r '[.[].message_id] | unique | join(",")' -s "$REC"
	assert_output ""
}

@test "SendGrid: missing personalizations, from, subject and content are listed in one 400" {
	run sendgrid "Bearer SG.right-key" '{"custom_args":{}}'
	assert_output 400
	run jq -c '[.errors[].field]' b
	assert_output '["personalizations","from.email","subject","content"]'
	[ "$(jq -r '.errors[0].message' b)" = "The personalizations field is required and must have at least one personalization." ]
	[ "$(jq -r '.errors[2].message' b)" = "The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined." ]
	run sendgrid "Bearer SG.right-key" "$(jq -c '.content = [{type: "text/html", value: "<p>x</p>"}, {type: "text/plain", value: ""}]' <<< "$SG_BODY")"
	assert_output 400
	run jq -c '[.errors[].field]' b
	assert_output '["content.1.value","content"]'
}

@test "SendGrid: a programmed 429 carries the rate limit headers" {
	control "$SG" '{"script": {"POST /v3/mail/send": [{"sg_error": 429}]}}'
	run sendgrid "Bearer SG.right-key" "$SG_BODY"
	assert_output 429
	[ "$(header X-RateLimit-Remaining)" = 0 ]
	run jq -c . b
	assert_output '{"errors":[{"field":null,"message":"too many requests"}]}'
	run sendgrid "Bearer SG.right-key" "$SG_BODY"
	assert_output 202
}

# --- Mailgun --------------------------------------------------------------

# mailgun USER:KEY [CURL ARGS...]: POSTs a form to mg.example.com's
# messages; body in ./b, the status on stdout.
mailgun() {
	local user=$1
	shift
	curl -s -o b -D h -w '%{http_code}' -u "$user" "$@" "$MG/v3/mg.example.com/messages"
}

@test "Mailgun: the right key is accepted with an id at the domain; the form is recorded" {
	printf '%%PDF\n' > a.pdf
	run mailgun api:key-right -F 'from=Ann <ann@example.org>' -F to=bob@example.com \
		-F 'to=Jo <jo@example.com>' -F subject=Grüße -F text=Hello -F 'attachment=@a.pdf;type=application/pdf' \
		--form-string 'h:Message-Id=<m1@example.org>' -F v:cx_tenant=acme
	assert_output 200
	run jq -r '(.id | test("^<[0-9]{14}\\.1\\.[0-9A-F]{16}@mg\\.example\\.com>$")), .message' b
	assert_output $'true\nQueued. Thank you.'
	run last '[.user, .content_type, .fields, .attachments, .message_id == $id]' --arg id "$(jq -r .id b)"
	assert_output '["api","multipart/form-data",[["from","Ann <ann@example.org>"],["to","bob@example.com"],["to","Jo <jo@example.com>"],["subject","Grüße"],["text","Hello"],["h:Message-Id","<m1@example.org>"],["v:cx_tenant","acme"]],[{"content_type":"application/pdf","filename":"a.pdf","name":"attachment","sha256":"'"$(sha256sum < a.pdf | cut -d' ' -f1)"'","size":5}],true]'
}

@test "Mailgun: a wrong key, another user or no auth is refused 401 Forbidden" {
	for u in api:key-wrong admin:key-right; do
		run mailgun "$u" -F from=a@example.org -F to=b@example.com -F subject=s -F text=t
		assert_output 401
		[ "$(cat b)" = Forbidden ]
	done
	run curl -s -o b -w '%{http_code}' -F from=a@example.org "$MG/v3/mg.example.com/messages"
	assert_output 401
	run jq -r '[.[].message_id] | unique | join(",")' -s "$REC"
	assert_output ""
}

@test "Mailgun: a missing from, to, subject or body is a 400 with Mailgun's message" {
	run mailgun api:key-right -F to=b@example.com -F subject=s -F text=t
	assert_output 400
	[ "$(jq -r .message b)" = "'from' parameter is missing" ]
	run mailgun api:key-right -F from=a@example.org -F subject=s -F html=t
	assert_output 400
	[ "$(jq -r .message b)" = "'to' parameter is missing" ]
	run mailgun api:key-right -F from=a@example.org -F to=b@example.com -F text=t
	assert_output 400
	[ "$(jq -r .message b)" = "'subject' parameter is missing" ]
	run mailgun api:key-right -F from=a@example.org -F to=b@example.com -F subject=s
	assert_output 400
	[ "$(jq -r .message b)" = "Need at least one of 'text', 'html' or 'template' parameters specified" ]
	run curl -s -o b -w '%{http_code}' -u api:key-right -F from=a@example.org -F to=b@example.com \
		-F subject=s -F text=t "$MG/v3/other.example/messages"
	assert_output 404
	[ "$(jq -r .message b)" = "Domain not found: other.example" ]
}
