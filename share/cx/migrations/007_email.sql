-- 007: tenants and their plans, channels paused per tenant, and e-mail:
-- the messages cx sent (so lifecycle events find their item), the
-- suppression list, what the feedback stage applied, the recipients'
-- lifecycle (bounce and complaint rates), domain checks, and nonces seen by
-- webhook sources that refuse replays. Times are epoch seconds.

-- A tenant's settings. An unlisted tenant has the default plan, no From of
-- its own and no daily quota.
CREATE TABLE tenants (
	name TEXT PRIMARY KEY,
	email_plan TEXT NOT NULL DEFAULT 'default'
	    CHECK (email_plan IN ('default', 'premium', 'advanced', 'expert')),
	email_from TEXT,
	email_daily_quota INTEGER CHECK (email_daily_quota IS NULL OR email_daily_quota >= 0),
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- A channel switched off for a tenant (the e-mail reputation breaker, the
-- three-failures rollback) until `cx tenants resume`.
CREATE TABLE tenant_pauses (
	tenant TEXT NOT NULL,
	channel TEXT NOT NULL,
	reason TEXT NOT NULL,
	error_code TEXT NOT NULL,
	paused_at INTEGER NOT NULL,
	PRIMARY KEY (tenant, channel)
) WITHOUT ROWID;

-- Recipients no message goes to. scope is a tenant, or '*default' for the
-- addresses every default-plan tenant shares (one sender reputation).
-- Addresses are stored in lower case.
CREATE TABLE email_suppressions (
	scope TEXT NOT NULL,
	address TEXT NOT NULL,
	reason TEXT NOT NULL,
	source TEXT NOT NULL,            -- operator name, or feedback:<event type>
	created_at INTEGER NOT NULL,
	PRIMARY KEY (scope, address)
) WITHOUT ROWID;

-- One row per message cx handed to a provider: message_id is the RFC 5322
-- Message-ID cx set (without <>), provider_message_id what the provider
-- answered. item is "queue:<id>" or "command:<id>".
CREATE TABLE email_messages (
	message_id TEXT PRIMARY KEY,
	provider TEXT NOT NULL,
	provider_message_id TEXT,
	tenant TEXT NOT NULL,
	item TEXT NOT NULL,
	correlation_id TEXT NOT NULL,
	recipients INTEGER NOT NULL,
	template_id TEXT,
	template_version TEXT,
	status TEXT NOT NULL DEFAULT 'sent',
	sent_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX email_messages_by_provider_id ON email_messages (provider_message_id);
CREATE INDEX email_messages_by_tenant ON email_messages (tenant, sent_at);

-- What happened to one recipient, per lifecycle event applied by
-- `cx-publish feedback` (kind: delivered, bounce_hard, bounce_soft,
-- complaint, rejected, delayed); the breaker's rates and the soft-bounce
-- rule count these.
CREATE TABLE email_outcomes (
	id INTEGER PRIMARY KEY,
	tenant TEXT NOT NULL,
	address TEXT NOT NULL,
	kind TEXT NOT NULL,
	message_id TEXT,
	at INTEGER NOT NULL
);
CREATE INDEX email_outcomes_by_tenant ON email_outcomes (tenant, at);
CREATE INDEX email_outcomes_by_address ON email_outcomes (address, kind, at);

-- Lifecycle events already applied, by dedupe key: the same event read
-- twice changes nothing.
CREATE TABLE email_feedback_seen (
	dedupe_key TEXT PRIMARY KEY,
	at INTEGER NOT NULL
) WITHOUT ROWID;

-- The last DNS check of a sending domain (`cx email check-domain`).
CREATE TABLE email_domains (
	domain TEXT PRIMARY KEY,
	provider TEXT NOT NULL,
	ok INTEGER NOT NULL,
	report TEXT NOT NULL,            -- JSON: one object per record checked
	checked_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Nonces a webhook source has accepted (Mailgun's tokens), kept for the
-- tolerance window so a replay is refused.
CREATE TABLE webhook_nonces (
	source TEXT NOT NULL,
	nonce TEXT NOT NULL,
	seen_at INTEGER NOT NULL,
	PRIMARY KEY (source, nonce)
) WITHOUT ROWID;
CREATE INDEX webhook_nonces_by_time ON webhook_nonces (seen_at);
