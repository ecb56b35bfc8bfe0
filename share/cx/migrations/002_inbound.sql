-- 002: the durable inbox of webhook deliveries, consumer cursors, and the
-- account -> tenant map.

-- One row per accepted delivery, written before the 200 is sent. ids only
-- grow (AUTOINCREMENT: never reused, even after pruning), so consumer
-- cursors are plain ids.
CREATE TABLE inbox (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	provider TEXT NOT NULL,
	correlation_id TEXT NOT NULL UNIQUE,
	received_at TEXT NOT NULL,
	received_epoch INTEGER NOT NULL,
	headers TEXT NOT NULL DEFAULT '{}',
	body TEXT NOT NULL
);
CREATE INDEX inbox_by_time ON inbox (received_epoch);

-- A consumer has read and finished every delivery with id <= cursor.
CREATE TABLE consumers (
	name TEXT PRIMARY KEY,
	cursor INTEGER NOT NULL DEFAULT 0,
	updated_at TEXT NOT NULL
) WITHOUT ROWID;

-- channel + provider account id -> tenant; unmapped accounts are "default".
CREATE TABLE accounts (
	channel TEXT NOT NULL,
	account TEXT NOT NULL,
	tenant TEXT NOT NULL,
	PRIMARY KEY (channel, account)
) WITHOUT ROWID;
