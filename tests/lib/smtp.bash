# smtp.bash: a real SMTP server for the e-mail tests (loaded after helpers
# and serve.bash): a test CA and a server certificate made with openssl,
# tests/mock/smtpd.py started on a free port, and what reads its mail.

SMTP_USER=cx-test
SMTP_PASSWORD=test-password-1

# smtp_certs DIR: DIR/ca.pem (a test CA), DIR/server.pem and DIR/server.key
# (for 127.0.0.1 and localhost, signed by that CA).
smtp_certs() {
	local d=$1
	mkdir -p "$d"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$d/ca.key" -out "$d/ca.pem" -days 2 -subj /CN=cx-test-ca \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign \
		2> /dev/null || return 1
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$d/server.key" -out "$d/server.csr" -subj /CN=localhost 2> /dev/null || return 1
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' \
		> "$d/server.ext"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
		-CAcreateserial -days 2 -extfile "$d/server.ext" -out "$d/server.pem" 2> /dev/null
}

# start_smtpd CERTDIR [OPTION...]: smtpd.py with the certificate of CERTDIR,
# user $SMTP_USER, mail to ./mail, its record in ./smtp.jsonl; sets
# SMTP_PORT.
start_smtpd() {
	local d=$1
	shift
	"$PY" "$MOCKS/smtpd.py" 0 --cert "$d/server.pem" --key "$d/server.key" \
		--user "$SMTP_USER" --password "$SMTP_PASSWORD" --maildir mail \
		--record smtp.jsonl --lifetime 120 "$@" > smtpd.port 2> smtpd.err 3>&- &
	track $!
	wait_for 10 test -s smtpd.port || { cat smtpd.err >&2; return 1; }
	SMTP_PORT=$(head -n 1 smtpd.port)
}

# email_check FILE.eml: the message as tests/lib/email_check.py reads it.
email_check() {
	"$PY" "$CX_ROOT/tests/lib/email_check.py" "$1"
}
