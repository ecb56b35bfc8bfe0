-- 001: audit trail, metric counters, dedupe keys.

-- Append-only audit trail (SPEC §4 Audit). Rows are written in the same
-- transaction as the change they record; detail is a JSON object that never
-- holds a token, a secret or a payload.
CREATE TABLE audit (
	id INTEGER PRIMARY KEY,
	ts TEXT NOT NULL,
	ts_epoch INTEGER NOT NULL,
	actor TEXT NOT NULL,
	action TEXT NOT NULL,
	correlation_id TEXT,
	subject TEXT,
	detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_by_correlation ON audit (correlation_id);
CREATE INDEX audit_by_time ON audit (ts_epoch);

-- Retention pruning is the only delete allowed: `cx audit prune` opens this
-- gate, deletes, and closes it in one transaction.
CREATE TABLE audit_prune_gate (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	open INTEGER NOT NULL
);
INSERT INTO audit_prune_gate (id, open) VALUES (1, 0);

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit rows are append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
WHEN (SELECT open FROM audit_prune_gate WHERE id = 1) = 0
BEGIN
	SELECT RAISE(ABORT, 'audit rows are append-only; use cx audit prune');
END;

-- Prometheus counters shared by every process; labels is the rendered
-- label set, e.g. result="forwarded".
CREATE TABLE metrics (
	name TEXT NOT NULL,
	labels TEXT NOT NULL,
	value INTEGER NOT NULL,
	PRIMARY KEY (name, labels)
) WITHOUT ROWID;

-- cx-dedupe: a key is done (forwarded and recorded) or leased by a claim
-- run (owner) until expires_at; an expired row counts as never seen. key is
-- the first 16 bytes of the SHA-256 of the key text.
CREATE TABLE dedupe (
	key BLOB PRIMARY KEY,
	done INTEGER NOT NULL,
	owner TEXT,
	expires_at INTEGER NOT NULL
) WITHOUT ROWID;
