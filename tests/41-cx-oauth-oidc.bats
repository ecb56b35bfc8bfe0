#!/usr/bin/env bats
# cx-oauth against a standards server it was not written with: npm's
# oidc-provider (tests/peer/oidc/server.mjs, installed from its lock file
# by `make check`), as the generic provider "peer" configured by
# CX_OAUTH_PEER_ISSUER alone. The server's access tokens live 60 s and
# refresh tokens rotate on every use; expiry is judged by cx (CX_NOW), the
# refreshes are real requests the server answers. What the server did is
# read from its own event log, one JSON line per token grant.

load helpers

eval "helpers_$(declare -f setup)"

PEER=$CX_ROOT/tests/peer/oidc
REDIRECT=http://127.0.0.1:9/callback

setup_file() {
	[ -f "$PEER/node_modules/oidc-provider/package.json" ] ||
		{ echo "oidc-provider is not installed: make check, or npm ci --prefix tests/peer/oidc" >&2; return 1; }
	OIDC_REDIRECT_URI=$REDIRECT OIDC_EVENTS=$BATS_FILE_TMPDIR/events.jsonl \
		node "$PEER/server.mjs" > "$BATS_FILE_TMPDIR/peer.port" \
		2> "$BATS_FILE_TMPDIR/peer.err" 3>&- &
	echo $! > "$BATS_FILE_TMPDIR/peer.pid"
	for _ in $(seq 600); do [ -s "$BATS_FILE_TMPDIR/peer.port" ] && break; sleep 0.05; done
	[ -s "$BATS_FILE_TMPDIR/peer.port" ] || { cat "$BATS_FILE_TMPDIR/peer.err" >&2; return 1; }
	export ISSUER=http://127.0.0.1:$(head -n 1 "$BATS_FILE_TMPDIR/peer.port")
	export EVENTS=$BATS_FILE_TMPDIR/events.jsonl
}

teardown_file() {
	kill "$(cat "$BATS_FILE_TMPDIR/peer.pid")" 2> /dev/null || true
}

setup() {
	helpers_setup
	CX_TOKEN_KEY=$(head -c 32 /dev/urandom | base64)
	export CX_TOKEN_KEY CX_HTTP_TIMEOUT_SECONDS=10 CX_REFRESH_SKEW_SECONDS=5
	unset CX_TOKEN_KEY_FILE CX_TOKEN_KEY_PREVIOUS CX_REFRESH_LOCK_TTL_SECONDS \
		CX_OAUTH_STATE_TTL_SECONDS
	export CX_OAUTH_PEER_ISSUER=$ISSUER CX_OAUTH_PEER_CLIENT_ID=cx-basic \
		CX_OAUTH_PEER_CLIENT_SECRET=cx-test-secret CX_OAUTH_PEER_REDIRECT_URI=$REDIRECT \
		CX_OAUTH_PEER_SCOPES='openid profile'
	touch "$EVENTS"
	MARK=$(wc -l < "$EVENTS")
}

# browse URL [deny]: the user's browser at the server: follows its
# redirects (login and consent happen without a page) with a cookie jar
# until the redirect back to cx, which it prints. With deny the user says
# no on the first page.
browse() {
	local url=$1 next
	for _ in $(seq 10); do
		[ "${2:-}" = deny ] && [[ $url == */interaction/* ]] && url="$url?deny"
		next=$(curl -s -b jar -c jar -o /dev/null -w '%{redirect_url}' "$url")
		case $next in
		"$REDIRECT"*) echo "$next"; return 0 ;;
		"") echo "the server stopped at $url" >&2; return 1 ;;
		esac
		url=$next
	done
	return 1
}

# connect W [PROVIDER]: the whole flow; the callback's status line on stdout.
connect() {
	local url
	url=$(cx-oauth authorize --provider "${2:-peer}" --workspace "$1") || return 1
	cx-oauth callback --url "$(browse "$url")"
}

# param URL NAME: a query parameter, decoded.
param() {
	printf '%s\n' "$1" | tr '?&' '\n\n' | sed -n "s/^$2=//p" |
		sed 's/%3A/:/g; s/%2F/\//g'
}

# grants TYPE: how many TYPE grants the server made since the test began.
grants() {
	tail -n "+$((MARK + 1))" "$EVENTS" |
		jq -s --arg t "$1" '[.[] | select(.event == "grant.success" and .grant_type == $t)] | length'
}

# introspect TOKEN: what the server's introspection endpoint says (RFC 7662).
introspect() {
	curl -s -u cx-basic:cx-test-secret -d "token=$1" "$ISSUER/token/introspection"
}

creds() {
	sql 'SELECT count(*) FROM oauth_credentials'
}

# connects_and_refreshes: "peer" as configured connects alice, and one
# refresh after expiry is a real grant at the server.
connects_and_refreshes() {
	run connect acme
	assert_success
	echo "$output" | jq -e '.account_id == "alice" and .connected'
	CX_NOW=$(($(date +%s) + 120)) cx-oauth token --provider peer --workspace acme > /dev/null
	[ "$(grants refresh_token)" = 1 ]
}

@test "discovery: authorize sends the user to the issuer's authorization endpoint with state and S256" {
	run cx-oauth authorize --provider peer --workspace acme
	assert_success
	[[ $output == "$ISSUER/auth?"* ]] || fail "not the discovered endpoint: $output"
	[ "$(param "$output" client_id)" = cx-basic ]
	[ "$(param "$output" redirect_uri)" = "$REDIRECT" ]
	[ "$(param "$output" code_challenge_method)" = S256 ]
	[ "$(param "$output" scope)" = openid%20profile ]
	[ "$(param "$output" state | wc -c)" -ge 43 ]
	[ "$(sql 'SELECT provider, workspace FROM oauth_states')" = "peer|acme" ]
}

@test "authorize, consent, callback: the code is exchanged, the account comes from userinfo, the tokens are sealed" {
	run connect acme
	assert_success
	echo "$output" | jq -e '.provider == "peer" and .account_id == "alice" and .username == "alice"
		and .connected and .connected_reason == "ok" and .scopes == ["openid", "profile"]'
	[ "$(grants authorization_code)" = 1 ]
	token=$(cx-oauth token --provider peer --workspace acme)
	introspect "$token" | jq -e '.active and .sub == "alice" and .client_id == "cx-basic"'
	! grep -q -a -F -- "$token" "$CX_DB" "$CX_DB-wal"
	[ "$(grants refresh_token)" = 0 ]
}

@test "after expiry four concurrent token calls cause exactly one refresh at the server and print its new token" {
	connect acme > /dev/null
	old=$(cx-oauth token --provider peer --workspace acme)
	later=$(($(date +%s) + 120))
	for i in 1 2 3 4; do
		CX_NOW=$later cx-oauth token --provider peer --workspace acme > "token.$i" 2> "err.$i" &
	done
	wait
	[ "$(grants refresh_token)" = 1 ]
	[ "$(sort -u token.1 token.2 token.3 token.4 | wc -l)" = 1 ]
	new=$(cat token.1)
	[ -n "$new" ] && [ "$new" != "$old" ]
	introspect "$new" | jq -e '.active'
	[ "$(sql "SELECT count(*) FROM audit WHERE action = 'token_refreshed'")" = 1 ]
}

@test "the rotated refresh token is stored: a second refresh succeeds where the used one would be refused" {
	connect acme > /dev/null
	now=$(date +%s)
	first=$(CX_NOW=$((now + 120)) cx-oauth token --provider peer --workspace acme)
	second=$(CX_NOW=$((now + 240)) cx-oauth token --provider peer --workspace acme)
	[ "$(grants refresh_token)" = 2 ]
	[ "$first" != "$second" ]
	introspect "$second" | jq -e '.active'
	tail -n "+$((MARK + 1))" "$EVENTS" | jq -s -e 'map(select(.event == "grant.error")) == []'
	sql "SELECT detail FROM audit WHERE action = 'token_refreshed'" | jq -s -e 'length == 2 and all(.refresh_token_rotated)'
}

@test "revoke: the server revokes the grant and its introspection says inactive" {
	connect acme > /dev/null
	token=$(cx-oauth token --provider peer --workspace acme)
	run cx-oauth revoke --provider peer --workspace acme
	assert_success
	echo "$output" | jq -e '.revoked and .upstream == "ok" and .introspection == "inactive"'
	run introspect "$token"
	assert_output '{"active":false}'
	cx-oauth status --provider peer | jq -e '.connected == false and .connected_reason == "revoked"'
	run cx-oauth token --provider peer --workspace acme
	assert_failure 77
}

@test "a replayed code is refused by the server (77) and nothing is stored for it" {
	url=$(cx-oauth authorize --provider peer --workspace first)
	redirect=$(browse "$url")
	cx-oauth callback --url "$redirect" > /dev/null
	url=$(cx-oauth authorize --provider peer --workspace second)
	state=$(param "$url" state)
	run --separate-stderr cx-oauth callback --code "$(param "$redirect" code)" --state "$state" --iss "$ISSUER"
	assert_failure 77
	echo "$stderr" | jq -e 'select(.level == "error") | .error_code == "code_exchange_refused" and (.msg | test("invalid_grant"))'
	[ "$(sql "SELECT count(*) FROM oauth_credentials WHERE workspace = 'second'")" = 0 ]
	[ "$(grants authorization_code)" = 1 ]
}

@test "a wrong state is refused (77) before the server is asked, nothing is stored, the real state still works" {
	url=$(cx-oauth authorize --provider peer --workspace acme)
	redirect=$(browse "$url")
	state=$(param "$redirect" state)
	run --separate-stderr cx-oauth callback --url "${redirect/state=$state/state=x$state}"
	assert_failure 77
	echo "$stderr" | jq -e 'select(.level == "error") | .error_code == "state_unknown"'
	[ "$(creds)" = 0 ]
	[ "$(grants authorization_code)" = 0 ]
	run cx-oauth callback --url "$redirect"
	assert_success
}

@test "an error=access_denied redirect is 77 authorization_denied, spends the state and stores nothing" {
	url=$(cx-oauth authorize --provider peer --workspace acme)
	redirect=$(browse "$url" deny)
	[ "$(param "$redirect" error)" = access_denied ]
	run --separate-stderr cx-oauth callback --url "$redirect"
	assert_failure 77
	echo "$stderr" | jq -e 'select(.level == "error") | .error_code == "authorization_denied" and (.msg | test("error=access_denied"))'
	[ "$(creds)" = 0 ]
	[ "$(sql 'SELECT used FROM oauth_states')" = 1 ]
}

@test "a token endpoint that answers an HTML page is 69 upstream_not_oauth and nothing is stored" {
	export CX_OAUTH_HTML_AUTHORIZE_URL=$ISSUER/auth CX_OAUTH_HTML_TOKEN_URL=$ISSUER/not-oauth/token \
		CX_OAUTH_HTML_CLIENT_ID=cx-basic CX_OAUTH_HTML_CLIENT_SECRET=cx-test-secret \
		CX_OAUTH_HTML_REDIRECT_URI=$REDIRECT CX_OAUTH_HTML_SCOPES=openid
	url=$(cx-oauth authorize --provider html --workspace acme)
	run --separate-stderr cx-oauth callback --url "$(browse "$url")"
	assert_failure 69
	echo "$stderr" | jq -e 'select(.level == "error") | .error_code == "upstream_not_oauth" and (.msg | test("text/html"))'
	[ "$(creds)" = 0 ]
}

@test "RFC 9207: the server's iss is accepted; a missing or another iss is refused (77) and nothing is stored" {
	url=$(cx-oauth authorize --provider peer --workspace acme)
	redirect=$(browse "$url")
	[ "$(param "$redirect" iss)" = "$ISSUER" ]
	code=$(param "$redirect" code) state=$(param "$redirect" state)
	run --separate-stderr cx-oauth callback --code "$code" --state "$state"
	assert_failure 77
	echo "$stderr" | jq -e 'select(.level == "error") | .error_code == "iss_missing"'
	url=$(cx-oauth authorize --provider peer --workspace acme)
	redirect=$(browse "$url")
	run --separate-stderr cx-oauth callback --url "${redirect/iss=/iss=https%3A%2F%2Fevil.example%2F&x=}"
	assert_failure 77
	echo "$stderr" | jq -e 'select(.level == "error") | .error_code == "iss_mismatch"'
	[ "$(creds)" = 0 ]
	[ "$(grants authorization_code)" = 0 ]
	url=$(cx-oauth authorize --provider peer --workspace acme)
	redirect=$(browse "$url")
	run cx-oauth callback --code "$(param "$redirect" code)" --state "$(param "$redirect" state)" --iss "$ISSUER"
	assert_success
	[ "$(creds)" = 1 ]
}

@test "explicit endpoints without an issuer, client_secret_post: the account comes from introspection" {
	unset CX_OAUTH_PEER_ISSUER
	export CX_OAUTH_ACME_SSO_AUTHORIZE_URL=$ISSUER/auth CX_OAUTH_ACME_SSO_TOKEN_URL=$ISSUER/token \
		CX_OAUTH_ACME_SSO_REVOKE_URL=$ISSUER/token/revocation \
		CX_OAUTH_ACME_SSO_INTROSPECT_URL=$ISSUER/token/introspection \
		CX_OAUTH_ACME_SSO_CLIENT_ID=cx-post CX_OAUTH_ACME_SSO_CLIENT_SECRET_FILE=$PWD/secret \
		CX_OAUTH_ACME_SSO_AUTH_METHOD=client_secret_post \
		CX_OAUTH_ACME_SSO_REDIRECT_URI=$REDIRECT CX_OAUTH_ACME_SSO_SCOPES=openid
	printf 'cx-test-secret\n' > secret
	chmod 600 secret
	run connect acme acme-sso
	assert_success
	echo "$output" | jq -e '.provider == "acme-sso" and .account_id == "alice" and .connected'
	CX_NOW=$(($(date +%s) + 120)) cx-oauth token --provider acme-sso --workspace acme > /dev/null
	[ "$(grants refresh_token)" = 1 ]
	cx-oauth revoke --provider acme-sso --workspace acme | jq -e '.upstream == "ok" and .introspection == "inactive"'
}

@test "HTTP Basic form-encodes the client id and secret (RFC 6749 2.3.1): odd characters pass" {
	export CX_OAUTH_PEER_CLIENT_ID=cx:odd CX_OAUTH_PEER_CLIENT_SECRET='odd secret: 100% +/'
	connects_and_refreshes
}

@test "a public client (auth method none) connects and refreshes with PKCE alone" {
	export CX_OAUTH_PEER_CLIENT_ID=cx-public CX_OAUTH_PEER_AUTH_METHOD=none
	unset CX_OAUTH_PEER_CLIENT_SECRET
	connects_and_refreshes
}

@test "configuration errors: an unconfigured name is 64, an issuer without metadata or naming another issuer is 78" {
	run cx-oauth authorize --provider nobody --workspace acme
	assert_failure 64
	CX_OAUTH_PEER_ISSUER=$ISSUER/nowhere run --separate-stderr cx-oauth authorize --provider peer --workspace acme
	assert_failure 78
	[[ $stderr == *"has no metadata"* ]]
	CX_OAUTH_PEER_ISSUER=${ISSUER/127.0.0.1/localhost} run --separate-stderr cx-oauth authorize --provider peer --workspace acme
	assert_failure 78
	[[ $stderr == *"names another issuer"* ]]
	CX_OAUTH_PEER_AUTH_METHOD=private_key_jwt run cx-oauth authorize --provider peer --workspace acme
	assert_failure 78
	[ "$(sql 'SELECT count(*) FROM oauth_states')" = 0 ]
}

@test "RFC 8414: an issuer without OpenID discovery is read from /.well-known/oauth-authorization-server/PATH" {
	mkdir -p www/.well-known/oauth-authorization-server
	"$PY" -u -m http.server --bind 127.0.0.1 --directory www 0 > www.out 2> www.log 3>&- &
	pid=$!
	for _ in $(seq 200); do grep -q 'port [0-9]' www.out && break; sleep 0.05; done
	port=$(sed -n 's/.* port \([0-9]*\) .*/\1/p' www.out | head -n 1)
	alt=http://127.0.0.1:$port/tenant
	curl -s "$ISSUER/.well-known/openid-configuration" | jq --arg i "$alt" \
		'{issuer: $i, authorization_endpoint, token_endpoint, revocation_endpoint}' \
		> www/.well-known/oauth-authorization-server/tenant
	export CX_OAUTH_ALT_ISSUER=$alt CX_OAUTH_ALT_CLIENT_ID=cx-basic \
		CX_OAUTH_ALT_CLIENT_SECRET=cx-test-secret CX_OAUTH_ALT_REDIRECT_URI=$REDIRECT \
		CX_OAUTH_ALT_SCOPES=openid
	run --separate-stderr cx-oauth authorize --provider alt --workspace w
	kill "$pid"
	assert_success
	[[ $output == "$ISSUER/auth?"* ]]
	[[ $output == *"code_challenge_method=S256"* && $output == *"client_id=cx-basic"* ]]
	grep -q '"GET /tenant/.well-known/openid-configuration HTTP/1.1" 404' www.log
	grep -q '"GET /.well-known/oauth-authorization-server/tenant HTTP/1.1" 200' www.log
}
