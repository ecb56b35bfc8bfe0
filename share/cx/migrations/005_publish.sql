-- 005: what cx-publish keeps besides the queue: the commands it took from
-- stdin (channels whose approval policy is none) or through --direct, each
-- under its client's idempotency key; per-tenant rate-limit buckets; and
-- circuit breakers. Times are epoch seconds unless named _ms.

-- One row per command, unique by channel, workspace and idempotency key: a
-- key seen before is never sent again. A command moves like a queue item
-- once it is approved (by policy or by a direct publisher):
--   approved -> publishing (claimed, with a lease)
--   publishing -> published | failed | approved | dead | unknown
--   unknown -> published | approved       (reconciled)
--   dead -> approved                      (brought back)
-- meta holds the command's other fields (to, phone_number_id, comment_id,
-- template...), which cx-publish sends.
CREATE TABLE publish_commands (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	channel TEXT NOT NULL,
	kind TEXT NOT NULL,
	workspace TEXT NOT NULL,
	account TEXT,
	tenant TEXT NOT NULL,
	text TEXT NOT NULL,
	text_sha256 TEXT NOT NULL,
	in_reply_to TEXT,
	meta TEXT NOT NULL DEFAULT '{}',
	idempotency_key TEXT NOT NULL,
	origin TEXT NOT NULL CHECK (origin IN ('stdin', 'direct')),
	state TEXT NOT NULL CHECK (state IN ('approved', 'publishing', 'published',
	    'failed', 'dead', 'unknown')),
	correlation_id TEXT NOT NULL,
	requested_by TEXT NOT NULL,
	requested_at INTEGER NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL DEFAULT 0,
	lease_owner TEXT,
	lease_expires_at INTEGER,
	provider_ref TEXT,
	error_code TEXT,
	error_detail TEXT,
	published_at INTEGER,
	updated_at INTEGER NOT NULL,
	UNIQUE (channel, workspace, idempotency_key)
);
CREATE INDEX publish_commands_due ON publish_commands (state, next_attempt_at, id);

CREATE TRIGGER publish_commands_transitions BEFORE UPDATE OF state ON publish_commands
WHEN NEW.state <> OLD.state AND NOT (
	(OLD.state = 'approved' AND NEW.state = 'publishing') OR
	(OLD.state = 'publishing' AND NEW.state IN ('published', 'failed',
	    'approved', 'dead', 'unknown')) OR
	(OLD.state = 'unknown' AND NEW.state IN ('published', 'approved')) OR
	(OLD.state = 'dead' AND NEW.state = 'approved'))
BEGIN
	SELECT RAISE(ABORT, 'publish_commands: state change not allowed');
END;
CREATE TRIGGER publish_commands_insert_approved BEFORE INSERT ON publish_commands
WHEN NEW.state <> 'approved'
BEGIN
	SELECT RAISE(ABORT, 'publish_commands: new commands are approved');
END;

-- Token buckets shared by every process on the state file: tokens (in
-- thousandths) refill at the bucket's rate up to its burst; updated_ms is
-- real time (not CX_NOW), since the limits pace real requests.
CREATE TABLE rate_buckets (
	key TEXT PRIMARY KEY,             -- "<channel>:<tenant>"
	millitokens INTEGER NOT NULL,
	updated_ms INTEGER NOT NULL
) WITHOUT ROWID;

-- Circuit breakers: consecutive failures of a key; at the threshold the
-- breaker opens until open_until, and the first request after that probes.
-- A success deletes the row.
CREATE TABLE breakers (
	key TEXT PRIMARY KEY,             -- "<channel>:<tenant>"
	failures INTEGER NOT NULL,
	open_until INTEGER NOT NULL DEFAULT 0,
	updated_at INTEGER NOT NULL
) WITHOUT ROWID;
