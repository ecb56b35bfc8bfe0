-- 009: delivery channels (issue 15): S3 uploads that a later run resumes,
-- the rows appended to Google Sheets (by row_key), package uploads tracked
-- to a final status, and the failures in a row of each delivery channel
-- per tenant (three disable it: tenant_pauses). Times are epoch seconds.

-- A multipart upload begun and not yet completed or aborted: the next run
-- of the same object and content resumes it (ListParts tells which parts
-- are there); the row goes once the upload is completed or aborted.
CREATE TABLE s3_uploads (
	endpoint TEXT NOT NULL,
	bucket TEXT NOT NULL,
	object_key TEXT NOT NULL,
	sha256 TEXT NOT NULL,                -- hex, of the whole file
	size INTEGER NOT NULL,
	part_size INTEGER NOT NULL,
	upload_id TEXT NOT NULL,
	tenant TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (endpoint, bucket, object_key, sha256)
) WITHOUT ROWID;

-- Every row appended to a sheet, by its row_key (the first column of the
-- row, or the item's key_column): a row is never appended twice, and a
-- CSV sync appends only the rows not here.
CREATE TABLE sheet_rows (
	spreadsheet_id TEXT NOT NULL,
	sheet_range TEXT NOT NULL,
	row_key TEXT NOT NULL,
	tenant TEXT NOT NULL,
	updated_range TEXT,                  -- where Sheets put it, when known
	appended_at INTEGER NOT NULL,
	PRIMARY KEY (spreadsheet_id, sheet_range, row_key)
) WITHOUT ROWID;

-- A package uploaded to a target, tracked until its status is final.
CREATE TABLE deliveries (
	id INTEGER PRIMARY KEY,
	target TEXT NOT NULL,
	tenant TEXT NOT NULL,
	file TEXT NOT NULL,
	sha256 TEXT NOT NULL,
	size INTEGER NOT NULL,
	protocol_id TEXT NOT NULL,
	status TEXT NOT NULL,                -- as cx maps it
	raw_status TEXT,                     -- as the target said it
	final INTEGER NOT NULL DEFAULT 0,
	correlation_id TEXT,
	outbound TEXT NOT NULL,              -- "command:<id>" or "queue:<id>"
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	polled_at INTEGER,
	UNIQUE (target, protocol_id)
);
CREATE INDEX deliveries_open ON deliveries (final, target);

CREATE TABLE delivery_status (
	delivery_id INTEGER NOT NULL REFERENCES deliveries (id),
	status TEXT NOT NULL,
	raw_status TEXT,
	at INTEGER NOT NULL
);
CREATE INDEX delivery_status_by_delivery ON delivery_status (delivery_id);

-- Failed items in a row of a delivery channel for a tenant; a published
-- one sets it back to 0.
CREATE TABLE channel_failures (
	tenant TEXT NOT NULL,
	channel TEXT NOT NULL,
	failures INTEGER NOT NULL DEFAULT 0,
	last_error_code TEXT,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (tenant, channel)
) WITHOUT ROWID;

-- What the platform said of a settled item, beyond provider_ref (the
-- result line's data: an S3 object's sha256, size and ETag, a row's
-- range, an upload's protocol id), as JSON; NULL when it said nothing.
ALTER TABLE queue ADD COLUMN result TEXT;
ALTER TABLE publish_commands ADD COLUMN result TEXT;
ALTER TABLE trigger_deliveries ADD COLUMN result TEXT;
