# Amazon SNS for the tests (tests/32-email-webhooks.bats, 66-email-loop.bats):
# a PKI made with openssl, an HTTPS certificate host (tests/lib/https_files.py)
# and messages signed as SNS signs them. Load after helpers and lib/serve;
# $TOPIC is the topic a message gets when it names none.

# sns_pki: the PKI every SNS test shares, in $PKI: a CA, the certificate
# host's TLS certificate (localhost, 127.0.0.1), SNS's signing certificate
# (issued by the CA, served from $PKI/www), one issued by an intermediate
# CA and served without it, and a self-signed one nobody vouches for.
sns_pki() {
	export PKI=$BATS_FILE_TMPDIR/pki
	mkdir -p "$PKI/www"
	cd "$PKI" || return 1
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
		-subj '/CN=cx test CA' -addext 'basicConstraints=critical,CA:TRUE' \
		-addext 'keyUsage=critical,keyCertSign,cRLSign' 2> /dev/null
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > host.ext
	openssl req -newkey rsa:2048 -nodes -keyout host.key -out host.csr \
		-subj /CN=localhost 2> /dev/null
	openssl x509 -req -in host.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
		-out host.pem -days 2 -extfile host.ext 2> /dev/null
	openssl req -newkey rsa:2048 -nodes -keyout signing.key -out signing.csr \
		-subj /CN=sns.amazonaws.com 2> /dev/null
	openssl x509 -req -in signing.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
		-out www/SimpleNotificationService-test.pem -days 2 2> /dev/null
	# a signing certificate of an intermediate CA nobody has at hand, served
	# alone, as SNS serves its own (Amazon's intermediate is not in it)
	printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n' > ica.ext
	openssl req -newkey rsa:2048 -nodes -keyout ica.key -out ica.csr \
		-subj '/CN=cx test intermediate' 2> /dev/null
	openssl x509 -req -in ica.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
		-out ica.pem -days 2 -extfile ica.ext 2> /dev/null
	openssl req -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr \
		-subj /CN=sns.amazonaws.com 2> /dev/null
	openssl x509 -req -in leaf.csr -CA ica.pem -CAkey ica.key -CAcreateserial \
		-out www/SimpleNotificationService-leaf.pem -days 2 2> /dev/null
	openssl req -x509 -newkey rsa:2048 -nodes -keyout rogue.key \
		-out www/SimpleNotificationService-rogue.pem -days 2 \
		-subj /CN=sns.amazonaws.com 2> /dev/null
}

# cert_host: starts the HTTPS certificate host; CHOST gets localhost:PORT,
# its requests go to certhost.jsonl.
cert_host() {
	: > certhost.jsonl
	"$PY" "$CX_ROOT/tests/lib/https_files.py" "$PKI/www" "$PKI/host.pem" \
		"$PKI/host.key" "$PWD/certhost.jsonl" > certhost.port &
	track $!
	wait_for 10 test -s certhost.port
	CHOST=localhost:$(head -1 certhost.port)
}

# cert_requests: the paths the certificate host was asked for.
cert_requests() {
	jq -r .path certhost.jsonl
}

# The string SNS signs, by message type (AWS's "Verifying the signatures of
# Amazon SNS messages").
TO_SIGN='def kv($k): if has($k) then "\($k)\n\(.[$k])\n" else "" end;
	if .Type == "Notification" then
		kv("Message") + kv("MessageId") + kv("Subject") + kv("Timestamp") +
		kv("TopicArn") + kv("Type")
	else
		kv("Message") + kv("MessageId") + kv("SubscribeURL") + kv("Timestamp") +
		kv("Token") + kv("TopicArn") + kv("Type")
	end'

# sns_sign FILE VERSION [CERT_URL [KEY [AGE]]]: FILE as SNS would post it now
# (or AGE seconds ago): Timestamp, SignatureVersion, SigningCertURL (default
# the test certificate on the certificate host), SubscribeURL on that host
# for a confirmation, TopicArn $TOPIC when it has none, and the Signature of
# KEY (default the signing key), written to msg.json.
sns_sign() {
	local file=$1 version=$2 url=${3:-https://$CHOST/SimpleNotificationService-test.pem}
	local key=${4:-$PKI/signing.key} age=${5:-0} digest=-sha256 sig
	[ "$version" = 1 ] && digest=-sha1
	jq --arg v "$version" --arg url "$url" --arg topic "$TOPIC" \
		--arg sub "https://$CHOST/confirm?Action=ConfirmSubscription&Token=t0k" \
		--arg ts "$(date -u -d "@$(($(date +%s) - age))" +%Y-%m-%dT%H:%M:%S.123Z)" \
		'.Timestamp = $ts | .SignatureVersion = $v | .SigningCertURL = $url
		| .TopicArn //= $topic
		| if .Type == "SubscriptionConfirmation" then .SubscribeURL = $sub else . end' \
		"$file" > unsigned.json
	sig=$(jq -j "$TO_SIGN" unsigned.json | openssl dgst "$digest" -sign "$key" | base64 -w0)
	jq --arg s "$sig" '.Signature = $s' unsigned.json > msg.json
}

# sns_post FILE: POSTs FILE as SNS does; prints the status code.
sns_post() {
	http POST /webhooks/ses --data-binary "@$1" -H 'Content-Type: text/plain; charset=UTF-8' \
		-H 'x-amz-sns-message-type: Notification'
}

# sns_server: the certificate host, then cx-ingest serve trusting it.
sns_server() {
	cert_host
	export CX_SNS_CERT_HOST=$CHOST
	start_server
}

