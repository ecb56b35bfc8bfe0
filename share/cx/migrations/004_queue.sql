-- 004: the governed queue of outbound posts (cx-approve decides, cx-publish
-- sends) and the operators allowed to decide. Times are epoch seconds.

-- Who may do what, by Unix login: owners manage operators and decide,
-- admins decide, members propose (anyone may propose; the proposer is
-- recorded either way).
CREATE TABLE operators (
	name TEXT PRIMARY KEY,
	role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
	added_by TEXT NOT NULL,
	added_at INTEGER NOT NULL
) WITHOUT ROWID;

-- One row per proposal. meta holds the proposal's other fields (to,
-- phone_number_id, comment_id, template...), which cx-publish sends.
-- attempts, next_attempt_at and the lease belong to cx-publish: an item is
-- claimed (approved -> publishing) with a lease_owner until
-- lease_expires_at; provider_ref is the provider's id once published.
CREATE TABLE queue (
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
	state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected',
	    'publishing', 'published', 'failed', 'dead', 'unknown')),
	correlation_id TEXT NOT NULL,
	proposed_by TEXT NOT NULL,
	proposed_at INTEGER NOT NULL,
	approved_by TEXT,
	rejected_by TEXT,
	decided_at INTEGER,
	note TEXT,
	reason TEXT,
	attempts INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL DEFAULT 0,
	lease_owner TEXT,
	lease_expires_at INTEGER,
	provider_ref TEXT,
	error_code TEXT,
	error_detail TEXT,
	published_at INTEGER,
	updated_at INTEGER NOT NULL
);
CREATE INDEX queue_due ON queue (state, next_attempt_at, id);
CREATE INDEX queue_by_correlation ON queue (correlation_id);

-- The governance rule, kept by the file itself as well as by libcx: an item
-- moves only along these edges, and nothing is approved without a person.
--   pending -> approved | rejected        (a decision)
--   approved -> publishing                (a claim)
--   publishing -> published | failed | approved | dead | unknown
--   unknown -> published | approved       (reconciled)
--   dead -> approved                      (brought back)
CREATE TRIGGER queue_transitions BEFORE UPDATE OF state ON queue
WHEN NEW.state <> OLD.state AND NOT (
	(OLD.state = 'pending' AND NEW.state IN ('approved', 'rejected')) OR
	(OLD.state = 'approved' AND NEW.state = 'publishing') OR
	(OLD.state = 'publishing' AND NEW.state IN ('published', 'failed',
	    'approved', 'dead', 'unknown')) OR
	(OLD.state = 'unknown' AND NEW.state IN ('published', 'approved')) OR
	(OLD.state = 'dead' AND NEW.state = 'approved'))
BEGIN
	SELECT RAISE(ABORT, 'queue: state change not allowed');
END;
CREATE TRIGGER queue_approval_has_approver BEFORE UPDATE OF state ON queue
WHEN OLD.state = 'pending' AND NEW.state = 'approved' AND NEW.approved_by IS NULL
BEGIN
	SELECT RAISE(ABORT, 'queue: approval without an approver');
END;
CREATE TRIGGER queue_insert_pending BEFORE INSERT ON queue
WHEN NEW.state <> 'pending'
BEGIN
	SELECT RAISE(ABORT, 'queue: new items are pending');
END;

-- Every version of an item's text, by hash: the proposal and each edit.
CREATE TABLE queue_text_history (
	id INTEGER PRIMARY KEY,
	queue_id INTEGER NOT NULL REFERENCES queue (id),
	sha256 TEXT NOT NULL,
	action TEXT NOT NULL CHECK (action IN ('proposed', 'edited')),
	actor TEXT NOT NULL,
	at INTEGER NOT NULL
);
CREATE INDEX queue_text_history_by_item ON queue_text_history (queue_id, id);
