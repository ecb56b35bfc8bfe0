-- 008: automation (Zapier, Make, generic): integrations and their API keys,
-- the idempotency records of the actions they call, their trigger
-- subscriptions with signing secrets, the deliveries of trigger events
-- (an outbound ledger like publish_commands) and the latest sanitized
-- events per type that Zapier shows as samples. Times are epoch seconds.

-- An integration belongs to one tenant and may do what its scopes say
-- (space-separated "action:<name>" and "trigger:<event type>"). state:
-- active; revoked (by a person, for good); disabled (by cx after too many
-- rejected calls in a row, or by a person; `cx integrations enable`).
CREATE TABLE integrations (
	id TEXT PRIMARY KEY,                 -- "int_" + 16 hex
	tenant TEXT NOT NULL,
	kind TEXT NOT NULL CHECK (kind IN ('zapier', 'make', 'generic')),
	name TEXT NOT NULL,
	scopes TEXT NOT NULL,
	state TEXT NOT NULL DEFAULT 'active'
	    CHECK (state IN ('active', 'revoked', 'disabled')),
	state_reason TEXT,
	rejected_streak INTEGER NOT NULL DEFAULT 0,   -- refused calls in a row
	rejected_since INTEGER,                       -- the first of them
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	last_used_at INTEGER
) WITHOUT ROWID;
CREATE INDEX integrations_by_tenant ON integrations (tenant);

-- API keys "cxk_<key_id>_<secret>": key_id (16 hex) finds the row, the
-- SHA-256 of the whole key is compared in constant time. A rotated key
-- keeps working until expires_at; a revoked integration's keys all expire
-- at once. The key itself is never stored.
CREATE TABLE integration_keys (
	key_id TEXT PRIMARY KEY,
	integration_id TEXT NOT NULL REFERENCES integrations (id),
	key_sha256 BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER                   -- NULL: until rotated or revoked
) WITHOUT ROWID;
CREATE INDEX integration_keys_by_integration ON integration_keys (integration_id);

-- One row per (integration, idempotency key) of an accepted action: the
-- request's fingerprint (SHA-256 of action and body) tells a retry from a
-- reuse, and the first answer is replayed byte for byte. Rows older than
-- CX_IDEMPOTENCY_TTL_SECONDS count as absent and are pruned.
CREATE TABLE action_idempotency (
	integration_id TEXT NOT NULL,
	key TEXT NOT NULL,
	request_sha256 BLOB NOT NULL,
	status INTEGER NOT NULL,
	response TEXT NOT NULL,
	action_id TEXT NOT NULL,
	inbox_id INTEGER,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (integration_id, key)
) WITHOUT ROWID;
CREATE INDEX action_idempotency_by_time ON action_idempotency (created_at);

-- Calls per tenant and UTC day, for the daily quota.
CREATE TABLE action_daily (
	tenant TEXT NOT NULL,
	day INTEGER NOT NULL,                -- epoch day
	calls INTEGER NOT NULL,
	PRIMARY KEY (tenant, day)
) WITHOUT ROWID;

-- Where an integration wants events of one type delivered. origin: hook
-- (Zapier REST hook, POST /hooks) or cli (`cx integrations subscribe`).
-- state: active; disabled (410 Gone, failing for days, or the integration
-- revoked); deleted (unsubscribed).
CREATE TABLE trigger_subscriptions (
	id TEXT PRIMARY KEY,                 -- "sub_" + 16 hex
	integration_id TEXT NOT NULL REFERENCES integrations (id),
	tenant TEXT NOT NULL,
	event TEXT NOT NULL,
	target_url TEXT NOT NULL,
	origin TEXT NOT NULL CHECK (origin IN ('hook', 'cli')),
	state TEXT NOT NULL DEFAULT 'active'
	    CHECK (state IN ('active', 'disabled', 'deleted')),
	state_reason TEXT,
	failing_since INTEGER,               -- first failure since the last success
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX trigger_subscriptions_by_event ON trigger_subscriptions (tenant, event, state);

-- Signing secrets "whsec_<base64>", sealed under CX_TOKEN_KEY (aad
-- "whsec:<subscription>:<secret_id>"). The newest signs; an older one
-- whose expires_at has not passed signs too (rotation).
CREATE TABLE trigger_secrets (
	subscription_id TEXT NOT NULL REFERENCES trigger_subscriptions (id),
	secret_id INTEGER NOT NULL,
	sealed BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER,
	PRIMARY KEY (subscription_id, secret_id)
) WITHOUT ROWID;

-- One delivery per (subscription, event dedupe key): the same event fed
-- twice is delivered once. webhook_id ("msg_" + 24 hex) is sent on every
-- try. payload is the sanitized body, fixed at enqueue, so every try sends
-- the same bytes. It moves like a publish command:
--   approved -> publishing (claimed, with a lease)
--   publishing -> published | failed | approved | dead
--   dead -> approved (replayed) ; failed -> approved (replayed)
CREATE TABLE trigger_deliveries (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	channel TEXT NOT NULL DEFAULT 'triggers',
	subscription_id TEXT NOT NULL REFERENCES trigger_subscriptions (id),
	integration_id TEXT NOT NULL,
	tenant TEXT NOT NULL,
	event_type TEXT NOT NULL,
	dedupe_key TEXT NOT NULL,
	webhook_id TEXT NOT NULL UNIQUE,
	payload TEXT NOT NULL,
	correlation_id TEXT NOT NULL,
	state TEXT NOT NULL CHECK (state IN ('approved', 'publishing', 'published',
	    'failed', 'dead')),
	attempts INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL DEFAULT 0,
	lease_owner TEXT,
	lease_expires_at INTEGER,
	provider_ref TEXT,                   -- the receiver's HTTP status
	error_code TEXT,
	error_detail TEXT,
	published_at INTEGER,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	UNIQUE (subscription_id, dedupe_key)
);
CREATE INDEX trigger_deliveries_due ON trigger_deliveries (state, next_attempt_at, id);

CREATE TRIGGER trigger_deliveries_transitions BEFORE UPDATE OF state ON trigger_deliveries
WHEN NEW.state <> OLD.state AND NOT (
	(OLD.state = 'approved' AND NEW.state = 'publishing') OR
	(OLD.state = 'publishing' AND NEW.state IN ('published', 'failed',
	    'approved', 'dead')) OR
	(OLD.state IN ('dead', 'failed') AND NEW.state = 'approved'))
BEGIN
	SELECT RAISE(ABORT, 'trigger_deliveries: state change not allowed');
END;

-- The latest sanitized events per tenant and type (GET /triggers/<event>):
-- `cx-publish triggers` keeps the newest 100 of each.
CREATE TABLE trigger_samples (
	tenant TEXT NOT NULL,
	event_type TEXT NOT NULL,
	dedupe_key TEXT NOT NULL,
	payload TEXT NOT NULL,               -- as delivered: {type, timestamp, data}
	recorded_at INTEGER NOT NULL,
	seq INTEGER NOT NULL,
	PRIMARY KEY (tenant, event_type, dedupe_key)
) WITHOUT ROWID;
CREATE INDEX trigger_samples_latest ON trigger_samples (tenant, event_type, seq);
