#!/usr/bin/env bats
# cx-oauth: authorization with state and PKCE, the callback's checks, the
# sealed credential store, refresh under lock, status, revoke, key rotation,
# Google and Meta, the loopback listener. The providers are
# tests/mock/oauth_server.py, a mock authorization server on 127.0.0.1 that
# checks what X, Google and Meta check and records every request.

load helpers

eval "helpers_$(declare -f setup)"

MOCK=$CX_ROOT/tests/mock/oauth_server.py
REDIRECT=http://127.0.0.1:8765/callback

setup() {
	helpers_setup
	CX_TOKEN_KEY=$(head -c 32 /dev/urandom | base64)
	export CX_TOKEN_KEY CX_HTTP_TIMEOUT_SECONDS=5
	unset CX_TOKEN_KEY_FILE CX_TOKEN_KEY_PREVIOUS CX_REFRESH_SKEW_SECONDS \
		CX_REFRESH_LOCK_TTL_SECONDS CX_OAUTH_STATE_TTL_SECONDS
	RECORD=$BATS_TEST_TMPDIR/requests.jsonl
}

teardown() {
	if [ -n "${HOLD_PID:-}" ]; then
		exec 8>&-
		wait "$HOLD_PID" 2> /dev/null || true
	fi
}

# One mock for the file (python starts slowly); each test resets it and
# gets its own record file.
setup_file() {
	"$PY" "$MOCK" 0 --record /dev/null --redirect "$REDIRECT" --lifetime 1800 \
		> "$BATS_FILE_TMPDIR/mock.port" 2> "$BATS_FILE_TMPDIR/mock.err" 3>&- &
	echo $! > "$BATS_FILE_TMPDIR/mock.pid"
	for _ in $(seq 400); do [ -s "$BATS_FILE_TMPDIR/mock.port" ] && break; sleep 0.05; done
	export M=http://127.0.0.1:$(head -n 1 "$BATS_FILE_TMPDIR/mock.port")
}

teardown_file() {
	kill "$(cat "$BATS_FILE_TMPDIR/mock.pid")" 2> /dev/null || true
}

# start_mock: resets the mock, records this test's requests, and points
# every provider of cx at it.
start_mock() {
	control "{\"reset\": true, \"record\": \"$RECORD\"}"
	export CX_X_CLIENT_ID=x-client-id CX_X_CLIENT_SECRET=x-client-secret \
		CX_X_REDIRECT_URI=$REDIRECT CX_X_AUTHORIZE_URL=$M/x/authorize \
		CX_X_TOKEN_URL=$M/x/2/oauth2/token CX_X_API_BASE=$M/x
	export CX_GOOGLE_CLIENT_ID=google-client-id.apps.googleusercontent.com \
		CX_GOOGLE_CLIENT_SECRET=google-client-secret CX_GOOGLE_REDIRECT_URI=$REDIRECT \
		CX_GOOGLE_AUTHORIZE_URL=$M/google/authorize CX_GOOGLE_TOKEN_URL=$M/google/token \
		CX_GOOGLE_API_BASE=$M/google
	export CX_META_CLIENT_ID=1234567890 CX_META_CLIENT_SECRET=meta-app-secret \
		CX_META_REDIRECT_URI=$REDIRECT CX_META_AUTHORIZE_URL=$M/meta/{v}/dialog/oauth \
		CX_META_API_BASE=$M/meta
}

# control JSON: programs the mock.
control() {
	curl -sf -X POST -H 'Content-Type: application/json' -d "$1" "$M/_control" > /dev/null
}

# consent URL [PARAMS]: the user approves at the mock; prints the redirect.
consent() {
	curl -s -o /dev/null -w '%{redirect_url}' "$1${2:-}"
}

# connect PROVIDER WORKSPACE [CONSENT-PARAMS] [AUTHORIZE-OPTIONS...]: the
# whole flow; the callback's status line on stdout.
connect() {
	local p=$1 w=$2 extra=${3:-} url
	shift 3 2> /dev/null || shift $#
	url=$(cx-oauth authorize --provider "$p" --workspace "$w" "$@") || return 1
	cx-oauth callback --url "$(consent "$url" "$extra")"
}

# param URL NAME: a query parameter, as it is (still encoded).
param() {
	printf '%s\n' "$1" | tr '?&' '\n\n' | sed -n "s/^$2=//p"
}

# requests PATH [JQ-FILTER]: how many requests the mock got on PATH.
requests() {
	[ -f "$RECORD" ] || { echo 0; return; }
	jq -c "select(.path == \"$1\")${2:+ | select($2)}" "$RECORD" | wc -l
}

# tokens: every access and refresh token the mock issued, one per line.
tokens() {
	jq -r '.response | objects | (.access_token, .refresh_token) | strings' "$RECORD" | sort -u
}

# some FILTER: some JSON line on stdin satisfies FILTER.
some() {
	jq -s -e "[.[] | select($1)] | length > 0" > /dev/null ||
		{ echo "no line has: $1"; false; }
}

# hold_wal: keeps a reader on the state file, so the WAL file stays after
# the tools exit (the last connection to close would fold it into the DB).
hold_wal() {
	cx-oauth status > /dev/null
	mkfifo hold.fifo
	sqlite3 "$CX_DB" < hold.fifo > hold.out 3>&- &
	HOLD_PID=$!
	exec 8> hold.fifo
	echo 'SELECT count(*) FROM audit;' >&8
	for _ in $(seq 100); do [ -s hold.out ] && break; sleep 0.02; done
}

creds() {
	sql 'SELECT count(*) FROM oauth_credentials'
}

@test "authorize prints one X authorization URL with state, S256 challenge and the default scopes" {
	start_mock
	hold_wal
	run --separate-stderr cx-oauth authorize --provider x --workspace acme
	assert_success
	[ "${#lines[@]}" -eq 1 ]
	[[ $output == "$M/x/authorize?"* ]]
	assert_equal "$(param "$output" response_type)" code
	assert_equal "$(param "$output" client_id)" x-client-id
	assert_equal "$(param "$output" redirect_uri)" 'http%3A%2F%2F127.0.0.1%3A8765%2Fcallback'
	assert_equal "$(param "$output" scope)" 'tweet.read%20tweet.write%20users.read%20offline.access'
	assert_equal "$(param "$output" code_challenge_method)" S256
	state=$(param "$output" state)
	# at least 128 random bits, base64url
	[[ $state =~ ^[A-Za-z0-9_-]{22,}$ ]]
	[[ $(param "$output" code_challenge) =~ ^[A-Za-z0-9_-]{43}$ ]]
	# the state is kept only as its hash, the verifier only sealed
	hash=$(printf %s "$state" | sha256sum | cut -d' ' -f1)
	assert_equal "$(sql "SELECT count(*) FROM oauth_states WHERE state_hash = '$hash' AND provider = 'x' AND workspace = 'acme' AND used = 0 AND verifier IS NOT NULL")" 1
	run grep -c -a -- "$state" "$CX_DB" "$CX_DB-wal"
	assert_output "$(printf '%s\n' "$CX_DB:0" "$CX_DB-wal:0")"
}

@test "two authorizations get different states and challenges" {
	start_mock
	a=$(cx-oauth authorize --provider x --workspace acme)
	b=$(cx-oauth authorize --provider x --workspace acme)
	[ "$(param "$a" state)" != "$(param "$b" state)" ]
	[ "$(param "$a" code_challenge)" != "$(param "$b" code_challenge)" ]
}

@test "full X flow: consent, callback, tokens stored sealed, status connected, token prints the access token" {
	start_mock
	url=$(cx-oauth authorize --provider x --workspace acme)
	redirect=$(consent "$url")
	run --separate-stderr cx-oauth callback --url "$redirect"
	assert_success
	echo "$output" | jq -e '.provider == "x" and .workspace == "acme" and .connected == true
		and .account_id == "1072250532645998596" and .username == "TweepyDev"
		and .connected_reason == "ok" and (.scopes | index("tweet.write"))'
	# the exchange: Basic client auth, the redirect URI, a 43-128 char verifier
	exchange=$(jq -c 'select(.path == "/x/2/oauth2/token")' "$RECORD")
	echo "$exchange" | jq -e '.auth == "basic" and .status == 200
		and .form.grant_type == "authorization_code" and .form.redirect_uri == "'$REDIRECT'"
		and (.form.code_verifier | length >= 43 and length <= 128)'
	verifier=$(echo "$exchange" | jq -r .form.code_verifier)
	challenge=$(printf %s "$verifier" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=')
	assert_equal "$challenge" "$(param "$url" code_challenge)"
	assert_equal "$(requests /x/2/users/me '.auth == "bearer" and .status == 200')" 1
	access=$(echo "$exchange" | jq -r .response.access_token)
	run --separate-stderr cx-oauth token --provider x --workspace acme
	assert_success
	assert_output "$access"
	assert_equal "$stderr" ""
	run cx-oauth status --provider x --workspace acme
	echo "$output" | jq -e '.connected and .access_token_valid and (.is_expired | not) and .can_auto_refresh'
}

@test "a state nobody issued is refused (77) and nothing is stored" {
	start_mock
	run --separate-stderr cx-oauth callback --code abc --state "$(head -c 32 /dev/urandom | base64 | tr '+/' '-_')"
	assert_failure 77
	echo "$stderr" | some '.level == "error" and .error_code == "state_unknown"'
	assert_equal "$(creds)" 0
	assert_equal "$(requests /x/2/oauth2/token)" 0
}

@test "an expired state is refused (77) and nothing is stored" {
	start_mock
	export CX_NOW=1800000000
	url=$(cx-oauth authorize --provider x --workspace acme)
	redirect=$(consent "$url")
	CX_NOW=1800000600 run --separate-stderr cx-oauth callback --url "$redirect"
	assert_failure 77
	echo "$stderr" | some '.level == "error" and .error_code == "state_expired"'
	assert_equal "$(creds)" 0
	assert_equal "$(requests /x/2/oauth2/token)" 0
	# one second earlier it was still good
	CX_NOW=1800000599 run cx-oauth callback --url "$redirect"
	assert_success
}

@test "CX_OAUTH_STATE_TTL_SECONDS sets how long a state lives" {
	start_mock
	export CX_NOW=1800000000 CX_OAUTH_STATE_TTL_SECONDS=30
	redirect=$(consent "$(cx-oauth authorize --provider x --workspace acme)")
	CX_NOW=1800000030 run cx-oauth callback --url "$redirect"
	assert_failure 77
}

@test "a state used once is refused the second time (77) and the first credential stays" {
	start_mock
	redirect=$(consent "$(cx-oauth authorize --provider x --workspace acme)")
	cx-oauth callback --url "$redirect" > /dev/null
	before=$(sql 'SELECT hex(access_token) FROM oauth_credentials')
	run --separate-stderr cx-oauth callback --url "$redirect"
	assert_failure 77
	echo "$stderr" | some '.level == "error" and .error_code == "state_used"'
	assert_equal "$(sql 'SELECT hex(access_token) FROM oauth_credentials')" "$before"
	assert_equal "$(requests /x/2/oauth2/token)" 1
}

@test "a state issued for another provider is refused (77), nothing is stored, the state stays usable" {
	start_mock
	redirect=$(consent "$(cx-oauth authorize --provider x --workspace acme)")
	run --separate-stderr cx-oauth callback --provider google --url "$redirect"
	assert_failure 77
	echo "$stderr" | some '.level == "error" and .error_code == "state_provider_mismatch"'
	assert_equal "$(creds)" 0
	assert_equal "$(requests /google/token)" 0
	run cx-oauth callback --provider x --url "$redirect"
	assert_success
}

@test "two concurrent callbacks with one state: exactly one succeeds" {
	start_mock
	redirect=$(consent "$(cx-oauth authorize --provider x --workspace acme)")
	for i in 1 2 3 4; do
		cx-oauth callback --url "$redirect" > out$i 2> err$i &
		pids[i]=$!
	done
	ok=0 refused=0
	for i in 1 2 3 4; do
		if wait "${pids[i]}"; then ok=$((ok + 1)); else rc=$?; [ "$rc" -eq 77 ] && refused=$((refused + 1)); fi
	done
	echo "ok=$ok refused=$refused"
	[ "$ok" -eq 1 ] && [ "$refused" -eq 3 ]
	assert_equal "$(cat err* | jq -r 'select(.level == "error") | .error_code' | sort -u)" state_used
	assert_equal "$(requests /x/2/oauth2/token)" 1
	assert_equal "$(creds)" 1
}

@test "an error= redirect is reported as denied (77), spends the state and stores nothing" {
	start_mock
	redirect=$(consent "$(cx-oauth authorize --provider x --workspace acme)" '&mock_deny=1')
	[[ $redirect == *error=access_denied* ]]
	run --separate-stderr cx-oauth callback --url "$redirect"
	assert_failure 77
	echo "$stderr" | some '.level == "error" and .error_code == "authorization_denied"'
	[[ $stderr == *access_denied* ]]
	assert_equal "$(creds)" 0
	assert_equal "$(sql 'SELECT used FROM oauth_states')" 1
}

@test "a grant without tweet.write is refused with the reason and nothing is stored" {
	start_mock
	url=$(cx-oauth authorize --provider x --workspace acme)
	run --separate-stderr cx-oauth callback --url "$(consent "$url" '&mock_scopes=tweet.read%20users.read%20offline.access')"
	assert_failure 77
	echo "$stderr" | some '.level == "error" and .error_code == "missing_scope"'
	[[ $stderr == *tweet.write* ]]
	assert_equal "$(creds)" 0
	assert_equal "$(sql "SELECT count(*) FROM audit WHERE action = 'oauth_callback_refused' AND detail LIKE '%missing_scope%'")" 1
}

@test "an identity call that fails is refused (77) and nothing is stored" {
	start_mock
	control '{"fail": {"/x/2/users/me": {"status": 403, "times": 1, "body": {"title": "Forbidden"}}}}'
	run --separate-stderr connect x acme
	assert_failure 77
	echo "$stderr" | some '.level == "error" and .error_code == "identity_failed"'
	assert_equal "$(creds)" 0
}

@test "an identity endpoint answering 5xx is a temporary failure (75) and nothing is stored" {
	start_mock
	control '{"fail": {"/x/2/users/me": {"status": 503, "times": 1}}}'
	run --separate-stderr connect x acme
	assert_failure 75
	echo "$stderr" | some '.level == "error" and .error_code == "upstream_unavailable"'
	assert_equal "$(creds)" 0
}

@test "a refused code exchange (wrong client secret) is 77 and stores nothing" {
	start_mock
	url=$(cx-oauth authorize --provider x --workspace acme)
	CX_X_CLIENT_SECRET=wrong run --separate-stderr cx-oauth callback --url "$(consent "$url")"
	assert_failure 77
	echo "$stderr" | some '.level == "error" and .error_code == "code_exchange_refused"'
	refute_output --partial wrong
	[[ $stderr != *wrong* ]]
	assert_equal "$(creds)" 0
}

@test "a token endpoint that cannot be reached is a temporary failure (75)" {
	start_mock
	url=$(cx-oauth authorize --provider x --workspace acme)
	redirect=$(consent "$url")
	CX_X_TOKEN_URL=http://127.0.0.1:1/token run --separate-stderr cx-oauth callback --url "$redirect"
	assert_failure 75
	echo "$stderr" | some '.level == "error" and .error_code == "upstream_unreachable"'
	assert_equal "$(creds)" 0
}

@test "missing client id or secret is a configuration error (78) that names the variable" {
	start_mock
	CX_X_CLIENT_SECRET= run --separate-stderr cx-oauth authorize --provider x --workspace acme
	assert_failure 78
	[[ $stderr == *CX_X_CLIENT_SECRET* ]]
	CX_X_CLIENT_ID= run --separate-stderr cx-oauth authorize --provider x --workspace acme
	assert_failure 78
	[[ $stderr == *CX_X_CLIENT_ID* ]]
	assert_equal "$(sql 'SELECT count(*) FROM oauth_states')" 0
}

@test "the client secret may come from CX_X_CLIENT_SECRET_FILE" {
	start_mock
	printf 'x-client-secret\n' > secret
	unset CX_X_CLIENT_SECRET
	CX_X_CLIENT_SECRET_FILE=$PWD/secret run connect x acme
	assert_success
}

@test "the mock authorization server checks client auth, redirect_uri, single use and PKCE" {
	start_mock
	url=$(cx-oauth authorize --provider x --workspace acme)
	code=$(param "$(consent "$url")" code)
	tok="$M/x/2/oauth2/token"
	form=(-d grant_type=authorization_code -d "code=$code" -d "redirect_uri=$REDIRECT")
	# no client auth
	run curl -s -o /dev/null -w '%{http_code}' "${form[@]}" -d code_verifier=$(printf 'v%.0s' {1..50}) "$tok"
	assert_output 401
	# a wrong verifier spends the code too
	run curl -s -o /dev/null -w '%{http_code}' -u x-client-id:x-client-secret "${form[@]}" -d code_verifier=$(printf 'v%.0s' {1..50}) "$tok"
	assert_output 400
	run curl -s -u x-client-id:x-client-secret "${form[@]}" -d code_verifier=$(printf 'v%.0s' {1..50}) "$tok"
	assert_output --partial '"invalid_request"'
	# a redirect URI that was never registered is not redirected to
	run curl -s -o /dev/null -w '%{http_code}' "${url/8765/9999}"
	assert_output 400
}

@test "twenty concurrent token calls on an expired token cause one refresh and all print the new token" {
	start_mock
	connect x acme > /dev/null
	control '{"refresh_delay_ms": 300}'
	export CX_NOW=$(( $(date +%s) + 7200 ))
	for i in $(seq 20); do
		cx-oauth token --provider x --workspace acme > out$i 2> err$i &
		pids[i]=$!
	done
	for i in $(seq 20); do wait "${pids[i]}"; done
	assert_equal "$(requests /x/2/oauth2/token '.form.grant_type == "refresh_token"')" 1
	new=$(jq -r 'select(.form.grant_type == "refresh_token") | .response.access_token' "$RECORD")
	assert_equal "$(cat out* | sort -u)" "$new"
	assert_equal "$(cat out* | wc -l)" 20
	assert_equal "$(cat err*)" ""
	run cx metrics
	assert_line 'cx_oauth_refresh_total{provider="x",result="ok"} 1'
}

@test "a refresh lock left by a process killed mid-refresh expires and the next caller refreshes" {
	start_mock
	connect google acme > /dev/null
	control '{"refresh_delay_ms": 3000}'
	export CX_NOW=$(( $(date +%s) + 4000 )) CX_REFRESH_LOCK_TTL_SECONDS=2
	cx-oauth token --provider google --workspace acme > /dev/null 2>&1 3>&- &
	pid=$!
	for _ in $(seq 200); do [ "$(sql 'SELECT count(*) FROM oauth_refresh_locks')" = 1 ] && break; sleep 0.02; done
	kill -9 "$pid"
	wait "$pid" || true
	assert_equal "$(sql 'SELECT count(*) FROM oauth_refresh_locks')" 1
	control '{"refresh_delay_ms": 0}'
	SECONDS=0
	run cx-oauth token --provider google --workspace acme
	assert_success
	[ "$SECONDS" -le 6 ]
	assert_equal "$(sql 'SELECT count(*) FROM oauth_refresh_locks')" 0
	# a lock whose expiry has passed is taken over at once
	control '{"refresh_delay_ms": 3000}'
	CX_NOW=$((CX_NOW + 4000)) cx-oauth token --provider google --workspace acme > /dev/null 2>&1 3>&- &
	pid=$!
	for _ in $(seq 200); do [ "$(sql 'SELECT count(*) FROM oauth_refresh_locks')" = 1 ] && break; sleep 0.02; done
	kill -9 "$pid"
	wait "$pid" || true
	control '{"refresh_delay_ms": 0}'
	# (waiting for a live lock would now take 10 s)
	SECONDS=0
	CX_NOW=$((CX_NOW + 4010)) CX_REFRESH_LOCK_TTL_SECONDS=10 run cx-oauth token --provider google --workspace acme
	assert_success
	[ "$SECONDS" -le 4 ]
}

@test "CX_TOKEN_KEY_PREVIOUS still opens tokens sealed with it; new tokens are sealed with CX_TOKEN_KEY" {
	start_mock
	connect x acme > /dev/null
	old_id=$(sql 'SELECT key_id FROM oauth_credentials')
	export CX_TOKEN_KEY_PREVIOUS=$CX_TOKEN_KEY
	CX_TOKEN_KEY=$(head -c 32 /dev/urandom | base64)
	run cx-oauth token --provider x --workspace acme
	assert_success
	CX_NOW=$(( $(date +%s) + 7200 )) run cx-oauth token --provider x --workspace acme
	assert_success
	[ "$(sql 'SELECT key_id FROM oauth_credentials')" != "$old_id" ]
	unset CX_TOKEN_KEY_PREVIOUS
	CX_NOW=$(( $(date +%s) + 7200 )) run cx-oauth token --provider x --workspace acme
	assert_success
}

@test "rotated refresh tokens are stored: the next refresh uses the new one" {
	start_mock
	connect x acme > /dev/null
	now=$(date +%s)
	CX_NOW=$((now + 7200)) run cx-oauth token --provider x --workspace acme
	assert_success
	first=$output
	# X killed the first refresh token when it rotated it
	CX_NOW=$((now + 14400)) run cx-oauth token --provider x --workspace acme
	assert_success
	[ "$output" != "$first" ]
	# the second refresh of this credential presented the token the first
	# one returned (the shared mock may also log a straggler of an earlier
	# test, so look for the pair rather than count lines)
	jq -s -e '[.[] | select(.form.grant_type == "refresh_token" and .status == 200)] as $r |
		any($r[]; .form.refresh_token as $t | any($r[]; .response.refresh_token == $t))' "$RECORD"
}

@test "a token within CX_REFRESH_SKEW_SECONDS of expiry is refreshed first; one outside is not" {
	start_mock
	export CX_NOW=1800000000
	connect x acme > /dev/null
	# 7200 s tokens: at +6800 it has 400 s left, more than the 300 s skew
	CX_NOW=1800006800 cx-oauth token --provider x --workspace acme > /dev/null
	assert_equal "$(requests /x/2/oauth2/token '.form.grant_type == "refresh_token"')" 0
	CX_NOW=1800006950 cx-oauth token --provider x --workspace acme > /dev/null
	assert_equal "$(requests /x/2/oauth2/token '.form.grant_type == "refresh_token"')" 1
	CX_NOW=1800006950 CX_REFRESH_SKEW_SECONDS=0 cx-oauth token --provider x --workspace acme > /dev/null
	assert_equal "$(requests /x/2/oauth2/token '.form.grant_type == "refresh_token"')" 1
}

@test "a refused refresh marks the credential refresh_failed, exits 77 and is not retried" {
	start_mock
	connect x acme > /dev/null
	control '{"kill_refresh_tokens": true}'
	export CX_NOW=$(( $(date +%s) + 7200 ))
	run --separate-stderr cx-oauth token --provider x --workspace acme
	assert_failure 77
	echo "$stderr" | some '.level == "error" and .error_code == "refresh_refused"'
	run --separate-stderr cx-oauth token --provider x --workspace acme
	assert_failure 77
	echo "$stderr" | some '.level == "error" and .error_code == "refresh_failed"'
	assert_equal "$(requests /x/2/oauth2/token '.form.grant_type == "refresh_token"')" 1
	run cx metrics
	assert_line 'cx_oauth_refresh_total{provider="x",result="failed"} 1'
}

@test "a 5xx on refresh is a temporary failure (75) that leaves the credential refreshable" {
	start_mock
	connect x acme > /dev/null
	control '{"fail": {"/x/2/oauth2/token": {"status": 503, "times": 1}}}'
	export CX_NOW=$(( $(date +%s) + 7200 ))
	run --separate-stderr cx-oauth token --provider x --workspace acme
	assert_failure 75
	echo "$stderr" | some '.level == "error" and .error_code == "upstream_unavailable"'
	run cx-oauth status
	echo "$output" | jq -e '.connected and .connected_reason == "refreshable" and (.last_error | test("503"))'
	run cx-oauth token --provider x --workspace acme
	assert_success
}

@test "status: a valid token is connected (ok)" {
	start_mock
	connect x acme > /dev/null
	run cx-oauth status
	assert_success
	echo "$output" | jq -e '.connected == true and .access_token_valid == true and .is_expired == false
		and .can_auto_refresh == true and .connected_reason == "ok" and (.expires_at | test("Z$"))'
}

@test "status: an expired token with a refresh token is connected (refreshable)" {
	start_mock
	connect x acme > /dev/null
	CX_NOW=$(( $(date +%s) + 7200 )) run cx-oauth status
	echo "$output" | jq -e '.connected == true and .access_token_valid == false and .is_expired == true
		and .can_auto_refresh == true and .connected_reason == "refreshable"'
}

@test "status: an expired token without a refresh token is not connected (expired_no_refresh)" {
	start_mock
	connect x acme '' --scopes 'tweet.read tweet.write users.read' > /dev/null
	export CX_NOW=$(( $(date +%s) + 7200 ))
	run cx-oauth status
	echo "$output" | jq -e '.connected == false and .access_token_valid == false and .is_expired == true
		and .can_auto_refresh == false and .connected_reason == "expired_no_refresh"'
	run cx-oauth token --provider x --workspace acme
	assert_failure 77
}

@test "status: a revoked credential is not connected (revoked) and gives no token" {
	start_mock
	connect x acme > /dev/null
	run cx-oauth revoke --provider x --workspace acme
	assert_success
	echo "$output" | jq -e '.revoked == true and .upstream == "ok"'
	assert_equal "$(requests /x/2/oauth2/revoke '.auth == "basic" and .form.token_type_hint == "refresh_token"')" 1
	run cx-oauth status
	echo "$output" | jq -e '.connected == false and .access_token_valid == false
		and .can_auto_refresh == false and .connected_reason == "revoked"'
	run --separate-stderr cx-oauth token --provider x --workspace acme
	assert_failure 77
	echo "$stderr" | some '.level == "error" and .error_code == "revoked"'
	assert_equal "$(sql 'SELECT count(*) FROM oauth_credentials WHERE access_token IS NULL AND refresh_token IS NULL')" 1
}

@test "status: a refused refresh is not connected (refresh_failed)" {
	start_mock
	connect x acme > /dev/null
	control '{"kill_refresh_tokens": true}'
	export CX_NOW=$(( $(date +%s) + 7200 ))
	cx-oauth token --provider x --workspace acme 2> /dev/null || true
	run cx-oauth status
	echo "$output" | jq -e '.connected == false and .access_token_valid == false and .is_expired == true
		and .can_auto_refresh == false and .connected_reason == "refresh_failed"'
}

@test "status and list print one NDJSON line per credential, filtered by provider and workspace" {
	start_mock
	connect x acme > /dev/null
	connect x beta > /dev/null
	connect google acme > /dev/null
	run cx-oauth status
	[ "${#lines[@]}" -eq 3 ]
	run cx-oauth status --provider x
	assert_equal "$(echo "$output" | jq -r .workspace | tr '\n' ' ')" "acme beta "
	run cx-oauth list --workspace acme
	assert_equal "$(echo "$output" | jq -r .provider | tr '\n' ' ')" "google x "
	echo "$output" | some '.provider == "x" and .status == "ok" and .kind == "user" and .has_refresh_token'
	run cx-oauth status --table
	assert_line --index 0 --partial PROVIDER
}

@test "no plaintext token, verifier or state in the DB file, its WAL, stderr or the audit table" {
	start_mock
	hold_wal
	url=$(cx-oauth authorize --provider x --workspace acme 2> err1)
	cx-oauth callback --url "$(consent "$url")" > /dev/null 2> err2
	CX_NOW=$(( $(date +%s) + 7200 )) cx-oauth token --provider x --workspace acme > /dev/null 2> err3
	CX_LOG_LEVEL=debug cx-oauth status > /dev/null 2> err4
	secrets=$(tokens; param "$url" state; jq -r 'select(.form.code_verifier) | .form.code_verifier' "$RECORD")
	[ "$(echo "$secrets" | wc -l)" -ge 5 ]
	sql 'SELECT * FROM audit' > audit.txt
	[ -s "$CX_DB-wal" ]
	while read -r s; do
		for f in "$CX_DB" "$CX_DB-wal" err1 err2 err3 err4 audit.txt; do
			if grep -q -a -F -- "$s" "$f"; then fail "a secret is in $f"; fi
		done
	done <<< "$secrets"
	grep -q -a -F -- "$CX_TOKEN_KEY" "$CX_DB" "$CX_DB-wal" && fail "the key is in the DB" || true
}

@test "a wrong CX_TOKEN_KEY is a clear configuration error (78), not a crash" {
	start_mock
	connect x acme > /dev/null
	CX_TOKEN_KEY=$(head -c 32 /dev/urandom | base64) run --separate-stderr cx-oauth token --provider x --workspace acme
	assert_failure 78
	assert_output ""
	[[ $stderr == *"CX_TOKEN_KEY"*"key id"* ]]
	CX_TOKEN_KEY=not-base64-of-32-bytes run --separate-stderr cx-oauth token --provider x --workspace acme
	assert_failure 78
	[[ $stderr == *"base64 of 32"* ]]
	unset CX_TOKEN_KEY
	run --separate-stderr cx-oauth token --provider x --workspace acme
	assert_failure 78
	[[ $stderr == *"CX_TOKEN_KEY"* ]]
}

@test "the key may come from CX_TOKEN_KEY_FILE" {
	start_mock
	printf '%s\n' "$CX_TOKEN_KEY" > key
	connect x acme > /dev/null
	CX_TOKEN_KEY= CX_TOKEN_KEY_FILE=$PWD/key run cx-oauth token --provider x --workspace acme
	assert_success
}

@test "rotate-key keeps every token and pending state readable under the new key only" {
	start_mock
	connect x acme > /dev/null
	connect google acme > /dev/null
	pending=$(cx-oauth authorize --provider x --workspace later)
	old=$CX_TOKEN_KEY
	head -c 32 /dev/urandom | base64 > new.key
	x_before=$(cx-oauth token --provider x --workspace acme)
	run cx-oauth rotate-key --new-key-file new.key
	assert_success
	echo "$output" | jq -e '.rotated == 2 and .states == 1'
	new_id=$(echo "$output" | jq -r .key_id)
	assert_equal "$(sql 'SELECT DISTINCT key_id FROM oauth_credentials')" "$new_id"
	export CX_TOKEN_KEY=$(cat new.key)
	run cx-oauth token --provider x --workspace acme
	assert_success
	assert_output "$x_before"
	run cx-oauth token --provider google --workspace acme
	assert_success
	run cx-oauth callback --url "$(consent "$pending")"
	assert_success
	CX_TOKEN_KEY=$old run cx-oauth token --provider x --workspace acme
	assert_failure 78
	assert_equal "$(sql "SELECT count(*) FROM audit WHERE action = 'token_key_rotated'")" 1
}

@test "rotate-key with a key file that is not a key changes nothing (78)" {
	start_mock
	connect x acme > /dev/null
	before=$(sql 'SELECT hex(access_token) FROM oauth_credentials')
	echo short > bad.key
	run cx-oauth rotate-key --new-key-file bad.key
	assert_failure 78
	assert_equal "$(sql 'SELECT hex(access_token) FROM oauth_credentials')" "$before"
}

@test "issue, refresh, failure and revoke are audited without tokens" {
	start_mock
	connect x acme > /dev/null
	now=$(date +%s)
	CX_NOW=$((now + 7200)) cx-oauth token --provider x --workspace acme > /dev/null
	control '{"kill_refresh_tokens": true}'
	CX_NOW=$((now + 20000)) cx-oauth token --provider x --workspace acme 2> /dev/null || true
	cx-oauth revoke --provider x --workspace acme > /dev/null
	run cx audit
	assert_equal "$(echo "$output" | jq -r .action | tr '\n' ' ')" \
		"oauth_authorize token_issued token_refreshed token_refresh_failed token_revoked "
	echo "$output" | some '.action == "token_refreshed" and .detail.refresh_token_rotated == true and .subject == "x:acme"'
	echo "$output" | some '.action == "token_refresh_failed" and .detail.reason == "refresh_refused"'
}

@test "revoke --local-only forgets the tokens without calling the provider" {
	start_mock
	connect x acme > /dev/null
	run cx-oauth revoke --provider x --workspace acme --local-only
	assert_success
	echo "$output" | jq -e '.upstream == "skipped"'
	assert_equal "$(requests /x/2/oauth2/revoke)" 0
	run cx-oauth status
	echo "$output" | jq -e '.connected_reason == "revoked"'
}

@test "reconnecting a revoked credential makes it connected again" {
	start_mock
	connect x acme > /dev/null
	cx-oauth revoke --provider x --workspace acme --local-only > /dev/null
	run connect x acme
	assert_success
	echo "$output" | jq -e '.connected and .connected_reason == "ok"'
}

@test "listen: a one-shot loopback listener runs the callback on the redirect and shows a page" {
	start_mock
	cx-oauth listen --port 0 --timeout 30 > listen.out 2> listen.err 3>&- &
	pid=$!
	for _ in $(seq 100); do grep -q '"port"' listen.err 2> /dev/null && break; sleep 0.05; done
	port=$(jq -r 'select(.port) | .port' listen.err)
	export CX_X_REDIRECT_URI=http://127.0.0.1:$port/callback
	control "{\"redirect_uris\": [\"$CX_X_REDIRECT_URI\"]}"
	redirect=$(consent "$(cx-oauth authorize --provider x --workspace acme)")
	[[ $redirect == "$CX_X_REDIRECT_URI?"* ]]
	run curl -s "http://127.0.0.1:$port/favicon.ico"
	assert_output --partial waiting
	run curl -s "$redirect"
	assert_output --partial "You can close this tab"
	assert_output --partial TweepyDev
	wait "$pid"
	jq -e '.connected and .username == "TweepyDev"' listen.out
}

@test "listen gives up after --timeout without a redirect (75)" {
	run --separate-stderr cx-oauth listen --port 0 --timeout 1
	assert_failure 75
	echo "$stderr" | some '.level == "error" and .error_code == "timeout"'
}

@test "Google: offline access with PKCE, userinfo identity, refresh keeps the refresh token, invalid_grant marks it failed" {
	start_mock
	url=$(cx-oauth authorize --provider google --workspace acme)
	assert_equal "$(param "$url" access_type)" offline
	assert_equal "$(param "$url" code_challenge_method)" S256
	run cx-oauth callback --url "$(consent "$url")"
	assert_success
	echo "$output" | jq -e '.connected and .account_id == "110248495921238986420" and .username == "jane.doe@example.com"'
	some '.path == "/google/token" and .form.client_secret == "google-client-secret" and (.form.code_verifier | length) >= 43' < "$RECORD"
	now=$(date +%s)
	CX_NOW=$((now + 4000)) run cx-oauth token --provider google --workspace acme
	assert_success
	CX_NOW=$((now + 8000)) run cx-oauth token --provider google --workspace acme
	assert_success
	jq -s -e '[.[] | select(.form.grant_type == "refresh_token")] | length == 2 and .[0].form.refresh_token == .[1].form.refresh_token' "$RECORD"
	control '{"kill_refresh_tokens": true}'
	CX_NOW=$((now + 12000)) run --separate-stderr cx-oauth token --provider google --workspace acme
	assert_failure 77
	[[ $stderr == *invalid_grant* ]]
	# e-mail addresses are masked in the audit trail
	assert_equal "$(sql "SELECT json_extract(detail, '$.username') FROM audit WHERE action = 'token_issued'")" 'j***@example.com'
}

@test "Meta: the code's short-lived token is exchanged for a long-lived one and renewed before expiry" {
	start_mock
	export CX_NOW=1800000000
	url=$(cx-oauth authorize --provider meta --workspace acme)
	[[ $url == "$M/meta/v24.0/dialog/oauth?"* ]]
	assert_equal "$(param "$url" scope)" 'pages_show_list%2Cpages_messaging%2Cinstagram_basic%2Cinstagram_manage_messages'
	[ -z "$(param "$url" code_challenge)" ]
	run cx-oauth callback --url "$(consent "$url")"
	assert_success
	echo "$output" | jq -e '.connected and .account_id == "102938475610" and .can_auto_refresh
		and .expires_at == "2027-03-16T07:59:04Z" and (.scopes | length == 4)'
	assert_equal "$(requests /meta/v24.0/oauth/access_token '.form.grant_type == "fb_exchange_token"')" 1
	long=$(jq -r 'select(.form.grant_type == "fb_exchange_token") | .response.access_token' "$RECORD")
	run cx-oauth token --provider meta --workspace acme
	assert_output "$long"
	CX_NOW=$((1800000000 + 5183944 - 60)) run cx-oauth token --provider meta --workspace acme
	assert_success
	[ "$output" != "$long" ]
	assert_equal "$(requests /meta/v24.0/oauth/access_token '.form.grant_type == "fb_exchange_token" and .form.fb_exchange_token == "'"$long"'"')" 1
	# past expiry there is nothing left to renew with
	CX_NOW=$((1800000000 + 3 * 5183944)) run cx-oauth status
	echo "$output" | jq -e '.connected == false and .connected_reason == "expired_no_refresh"'
}

@test "Google service account: a JWT bearer grant signed RS256, renewed like a refresh, the key sealed" {
	start_mock
	command -v openssl > /dev/null || skip "openssl is not installed"
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.pem 2> /dev/null
	openssl pkey -in sa.pem -pubout -out sa.pub
	jq -n --rawfile k sa.pem '{type: "service_account", client_email: "cx@project.iam.gserviceaccount.com",
		private_key: $k, private_key_id: "kid1", token_uri: "https://oauth2.googleapis.com/token"}' > sa.json
	control "$(jq -n --rawfile p sa.pub '{service_account: {email: "cx@project.iam.gserviceaccount.com", public_key_pem: $p}}')"
	export CX_GOOGLE_SERVICE_ACCOUNT_KEY_FILE=$PWD/sa.json
	run cx-oauth service-account --provider google --workspace acme --scopes https://www.googleapis.com/auth/spreadsheets
	assert_success
	echo "$output" | jq -e '.connected and .kind == "service_account" and .account_id == "cx@project.iam.gserviceaccount.com"'
	CX_NOW=$(( $(date +%s) + 4000 )) run cx-oauth token --provider google --workspace acme
	assert_success
	assert_equal "$(requests /google/token '.status == 200 and .form.grant_type == "urn:ietf:params:oauth:grant-type:jwt-bearer"')" 2
	! grep -q -a -F -- "$(sed -n 2p sa.pem)" "$CX_DB" "$CX_DB-wal"
	# a key the server does not know is refused
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out other.pem 2> /dev/null
	jq -n --rawfile k other.pem '{type: "service_account", client_email: "cx@project.iam.gserviceaccount.com", private_key: $k}' > other.json
	CX_GOOGLE_SERVICE_ACCOUNT_KEY_FILE=$PWD/other.json run cx-oauth service-account --provider google --workspace other --scopes x
	assert_failure 77
}

@test "usage errors exit 64" {
	run cx-oauth
	assert_failure 64
	run cx-oauth frobnicate
	assert_failure 64
	run cx-oauth token --provider x
	assert_failure 64
	run cx-oauth authorize --provider myspace --workspace acme
	assert_failure 64
	run cx-oauth callback --url 'http://x/?code=1&state=2' --code 1
	assert_failure 64
	run cx-oauth listen
	assert_failure 64
}

@test "a token for a credential that does not exist is 77 not_connected" {
	run --separate-stderr cx-oauth token --provider x --workspace nobody
	assert_failure 77
	echo "$stderr" | some '.level == "error" and .error_code == "not_connected"'
}

@test "the man page lints clean, documents every option and has the usage of every command" {
	page=$CX_ROOT/man/man1/cx-oauth.1
	run mandoc -Tlint -W warning "$page"
	assert_output ""
	for sub in $(cx-oauth --list-commands); do
		for opt in $(cx-oauth "$sub" --list-options | cut -f1); do
			grep -qE "^\.It Fl ([^ ]+ , Fl )?${opt#-}( |$)" "$page" || fail "$sub $opt is not in the page"
		done
	done
	syn=$(mandoc -Tascii -O width=1000 "$page" | col -b | awk '/^[A-Z]/ { on = ($0 == "SYNOPSIS"); next } on' | tr -s ' \t\n' ' ')
	u=$(cx-oauth --help | awk 'NR == 1 { sub(/^usage: /, ""); print; next } /^       / { print; next } { exit }' | tr -s ' \t\n' ' ')
	[[ $syn == *"$u"* ]] || fail "usage not in the SYNOPSIS: $u"
	grep -q '^\.Sh EXIT STATUS' "$page"
}

@test "completions: the subcommands and their options come from the tool" {
	run cx-oauth --list-commands
	assert_output "$(printf '%s\n' authorize callback listen status token revoke list rotate-key service-account)"
	run bash -c 'source "$1"; COMP_WORDS=(cx-oauth to); COMP_CWORD=1; _cx; printf "%s\n" "${COMPREPLY[@]}"' _ "$CX_ROOT/completions/cx.bash"
	assert_output token
	run bash -c 'source "$1"; COMP_WORDS=(cx-oauth rotate-key --new); COMP_CWORD=2; _cx; printf "%s\n" "${COMPREPLY[@]}"' _ "$CX_ROOT/completions/cx.bash"
	assert_output --new-key-file
}
