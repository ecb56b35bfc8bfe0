-- 003: OAuth2 credentials (cx-oauth, and every tool that needs a token
-- through libcx's oauth module): pending authorization states, the
-- credential store, and per-credential refresh locks. Nothing here is ever a
-- token or a secret in plaintext: tokens, refresh tokens, service-account
-- keys and PKCE verifiers are sealed with AES-256-GCM under CX_TOKEN_KEY
-- (key_id names the key), and a state is kept only as its SHA-256.

-- An authorization in flight: created by `cx-oauth authorize`, consumed once
-- by the callback (used flips 0 -> 1 in one UPDATE) before it expires.
CREATE TABLE oauth_states (
	state_hash TEXT PRIMARY KEY,      -- hex SHA-256 of the state parameter
	provider TEXT NOT NULL,
	workspace TEXT NOT NULL,
	redirect_uri TEXT NOT NULL,
	scopes TEXT NOT NULL,             -- requested, space-separated
	verifier BLOB,                    -- sealed PKCE code_verifier; NULL without PKCE
	key_id TEXT,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used INTEGER NOT NULL DEFAULT 0,
	used_at INTEGER
) WITHOUT ROWID;
CREATE INDEX oauth_states_by_expiry ON oauth_states (expires_at);

-- One credential per provider and workspace. kind is 'user' (authorization
-- code grant; refresh_token holds the refresh token) or 'service_account'
-- (refresh_token holds the service account's key). status is 'ok',
-- 'refresh_failed' (the provider refused a refresh: reconnect) or 'revoked'.
-- generation grows with every new access token; attempts with every refresh
-- attempt, so waiters can tell a finished refresh from a failed one.
CREATE TABLE oauth_credentials (
	provider TEXT NOT NULL,
	workspace TEXT NOT NULL,
	kind TEXT NOT NULL DEFAULT 'user',
	account_id TEXT,
	username TEXT,
	scopes TEXT NOT NULL DEFAULT '',  -- granted, space-separated
	access_token BLOB,
	refresh_token BLOB,
	key_id TEXT NOT NULL,
	expires_at INTEGER,               -- of the access token; NULL: not known
	status TEXT NOT NULL DEFAULT 'ok',
	last_error TEXT,                  -- a reason code and message, never a token
	last_error_at INTEGER,
	meta TEXT NOT NULL DEFAULT '{}',  -- provider details that are not secret
	generation INTEGER NOT NULL DEFAULT 1,
	attempts INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	refreshed_at INTEGER,
	PRIMARY KEY (provider, workspace)
) WITHOUT ROWID;

-- The refresh lock of a credential: a row with an owner and an expiry,
-- taken inside BEGIN IMMEDIATE. Others wait until it is gone or expired.
CREATE TABLE oauth_refresh_locks (
	provider TEXT NOT NULL,
	workspace TEXT NOT NULL,
	owner TEXT NOT NULL,
	expires_at INTEGER NOT NULL,
	PRIMARY KEY (provider, workspace)
) WITHOUT ROWID;
