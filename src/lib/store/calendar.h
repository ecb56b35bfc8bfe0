/* calendar.h: calendar events in cx's shape (CalendarEvent, SPEC §5) and
 * the mirror that turns listings into created/updated/deleted changes.
 *
 * CalendarEvent: event_id, ical_uid?, etag?, updated_at, status
 * (confirmed, tentative, cancelled), title, description?, location?,
 * start and end ({date} for all-day, else {date_time (RFC 3339 UTC),
 * time_zone?}), all_day, attendees [{email, response_status}], organizer?
 * {email, name?}, recurrence [raw RRULE/EXDATE/RDATE lines],
 * recurring_event_id? and original_start? for instances. Absent optional
 * fields are left out; title, start, end and updated_at are null when the
 * provider gives none (a cancelled instance).
 *
 * A sync session stages one listing (a full one, or the changes since a
 * sync token) against the mirror in a temporary table, so memory stays flat
 * and nothing of the mirror changes until cx_calendar_sync_apply runs inside
 * the caller's transaction. The mirror only moves forward with the cursor:
 * a run that dies before that transaction leaves both as they were.
 *
 * jv values passed in are consumed; jv values handed out are the
 * receiver's. Strings passed in stay the caller's. */
#ifndef CX_CALENDAR_H
#define CX_CALENDAR_H

#include <stdint.h>

#include <jv.h>

#include "clock.h"
#include "err.h"
#include "store.h"

/* A Google Calendar API Event resource as a CalendarEvent, or jv_invalid()
 * when it has no id. */
jv cx_calendar_from_google(jv item);

/* "2025-03-24T07:30:00-05:00" (any RFC 3339) as UTC "2025-03-24T12:30:00Z",
 * keeping milliseconds when given; 0, or -1 when s is not RFC 3339. */
int cx_calendar_utc(const char *s, char out[CX_RFC3339_LEN]);

/* Lower-case hex SHA-256 of the event's canonical JSON without etag and
 * updated_at: equal hashes mean nothing a consumer sees changed. */
void cx_calendar_hash(jv event, char out[65]);

typedef struct cx_calendar_sync cx_calendar_sync;

typedef struct {
	int64_t created, updated, deleted;
	int64_t listed;     /* events the listing gave */
} cx_calendar_counts;

/* A session for calendar `key` of source ("google-calendar", "caldav");
 * calendar_id names it in dedupe keys. full: the listing will hold every
 * event, so mirrored events it lacks are deleted; otherwise it holds
 * changes only. */
int cx_calendar_sync_begin(cx_store *s, const char *source, const char *key,
    const char *calendar_id, int full, cx_calendar_sync **out, cx_err *err);
/* Forgets what was staged and starts again as a full listing (a sync token
 * the provider no longer accepts). */
int cx_calendar_sync_restart(cx_calendar_sync *cs, cx_err *err);
int cx_calendar_sync_is_full(const cx_calendar_sync *cs);
/* One event of the listing, from CalDAV resource href (NULL for Google). A
 * later event with the same id replaces an earlier one. */
int cx_calendar_sync_add(cx_calendar_sync *cs, jv event, const char *href,
    cx_err *err);
/* CalDAV: events (an array) are now all resource href holds; mirrored
 * events of href that are not among them are deleted (all of them when the
 * resource is gone: an empty array), and so are those an earlier call of
 * the session staged from href (a listing in several rounds may change a
 * resource, then delete it). */
int cx_calendar_sync_resource(cx_calendar_sync *cs, const char *href, jv events,
    cx_err *err);
/* CalDAV: resource href could not be read this time (its iCalendar does
 * not parse, the server did not send it): its mirrored events stay as they
 * are, even in a full listing, unless the session staged them already. */
int cx_calendar_sync_keep(cx_calendar_sync *cs, const char *href, cx_err *err);
/* The mirrored resources of a calendar with their etags, for a listing that
 * is compared by ETag; each() gets strings valid during the call. */
int cx_calendar_mirror_hrefs(cx_store *s, const char *source, const char *key,
    void (*each)(const char *href, const char *etag, void *ctx), void *ctx,
    cx_err *err);

/* The changes, in listing order, then (full listings) the deletions of
 * mirrored events the listing lacks. Each is handed over as an item
 * {type, dedupe_key, ts, data}: type calendar.event.created/updated/deleted,
 * ts the event's updated_at or null, data the CalendarEvent (for a deletion,
 * the last known event with status cancelled). The dedupe key is
 * calendar:<source>:<calendar_id>:<event_id>:<etag, else updated_at>, with
 * ":r<n>" for an event created again after a deletion (its n-th life) and
 * ":deleted" for a deletion. Fills *counts. */
int cx_calendar_sync_changes(cx_calendar_sync *cs,
    void (*each)(jv item, void *ctx), void *ctx, cx_calendar_counts *counts,
    cx_err *err);
/* Writes the staged listing into the mirror (deleted events stay as
 * tombstones for CX_SYNC_TOMBSTONE_DAYS, 30). Run it inside the caller's
 * transaction, after cx_calendar_sync_changes. */
int cx_calendar_sync_apply(cx_calendar_sync *cs, cx_err *err);
void cx_calendar_sync_free(cx_calendar_sync *cs);

#endif
