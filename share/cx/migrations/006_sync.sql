-- 006: cx-sync: where each source's sync stands (cursors), who is syncing it
-- now (leases), the calendar mirror that decides created/updated/deleted,
-- and Google push channels.

-- One row per synced thing: source is the cx-sync command
-- ('google-calendar', 'caldav', 'x-mentions'), key names the thing within it
-- (workspace and calendar id, collection URL, workspace and X user id).
-- cursor is the provider's sync token or the last id seen; NULL means the
-- next run starts from scratch. mode is how a CalDAV collection is listed
-- ('sync-collection' or 'etag'), or for x-mentions the range a rate limit
-- cut out of the last poll ('gap:<since_id>:<until_id>'). not_before holds back the next request
-- while the provider's rate limit is exhausted (epoch seconds).
CREATE TABLE sync_cursors (
	source TEXT NOT NULL,
	key TEXT NOT NULL,
	cursor TEXT,
	mode TEXT,
	not_before INTEGER,
	last_full_at INTEGER,
	last_incremental_at INTEGER,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (source, key)
) WITHOUT ROWID;

-- A sync run in progress: one row per source and key, taken in BEGIN
-- IMMEDIATE, renewed while the run goes on, released at its end. A row
-- whose expiry passed, or whose owner process is gone (same host), is free.
CREATE TABLE sync_leases (
	source TEXT NOT NULL,
	key TEXT NOT NULL,
	owner TEXT NOT NULL,            -- host:pid:random
	expires_at INTEGER NOT NULL,
	PRIMARY KEY (source, key)
) WITHOUT ROWID;

-- The mirror: the last known state of every event of a synced calendar.
-- calendar is the sync key (as in sync_cursors); event is the normalized
-- CalendarEvent (SPEC §5) and hash the SHA-256 of it without etag and
-- updated_at, so a change upstream that does not change the event is not an
-- update. status 'cancelled' rows are tombstones: known deletions, kept
-- (seen_at) for CX_SYNC_TOMBSTONE_DAYS so that an event created again is
-- told apart from its first life: incarnation counts its lives and goes
-- into the dedupe key (servers whose ETag is a hash of the content give a
-- re-created event its old ETag). href is the CalDAV resource an event
-- comes from (several events per resource: a recurring master and its
-- overridden instances); NULL for Google and for events whose resource is
-- gone.
CREATE TABLE calendar_mirror (
	source TEXT NOT NULL,
	calendar TEXT NOT NULL,
	event_id TEXT NOT NULL,
	href TEXT,
	etag TEXT,
	updated TEXT,
	hash TEXT NOT NULL,
	status TEXT NOT NULL,
	incarnation INTEGER NOT NULL DEFAULT 1,
	seen_at INTEGER NOT NULL,
	event TEXT NOT NULL,
	PRIMARY KEY (source, calendar, event_id)
) WITHOUT ROWID;
CREATE INDEX calendar_mirror_by_href ON calendar_mirror (source, calendar, href)
	WHERE href IS NOT NULL;

-- Google Calendar push channels (events.watch). The token Google echoes in
-- X-Goog-Channel-Token is kept only as its SHA-256. status is 'active',
-- 'renewed' (replaced by replaced_by, then stopped) or 'stopped'.
-- expiration is Google's, in epoch seconds.
CREATE TABLE watch_channels (
	channel_id TEXT PRIMARY KEY,
	workspace TEXT NOT NULL,
	calendar_id TEXT NOT NULL,
	resource_id TEXT NOT NULL,
	resource_uri TEXT,
	token_hash TEXT NOT NULL,
	address TEXT NOT NULL,
	expiration INTEGER NOT NULL,
	ttl INTEGER,                    -- asked for at start (seconds); NULL: Google's default
	status TEXT NOT NULL DEFAULT 'active',
	replaced_by TEXT,
	created_at INTEGER NOT NULL,
	stopped_at INTEGER
) WITHOUT ROWID;
CREATE INDEX watch_channels_by_expiration ON watch_channels (status, expiration);
