/* calendar.c: CalendarEvent from Google's Event resource, the event hash,
 * and sync sessions over the mirror (calendar_mirror of migration 006, and
 * the connection's temporary calendar_stage table). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "exit.h"
#include "json.h"
#include "xalloc.h"

/* ---- CalendarEvent ----------------------------------------------------- */

int cx_calendar_utc(const char *s, char out[CX_RFC3339_LEN])
{
	int64_t secs;
	int ms = -1;
	const char *t, *dot;

	if (!s || cx_clock_parse_rfc3339(s, &secs) < 0)
		return -1;
	/* cx_clock drops the fraction; keep its milliseconds */
	t = strchr(s, 'T');
	if (!t)
		t = strchr(s, 't');
	dot = t ? strchr(t, '.') : NULL;
	if (dot) {
		ms = 0;
		/* "...:35.2Z": digits stop at the first non-digit */
		for (int i = 1, more = 1; i <= 3; i++) {
			more = more && dot[i] >= '0' && dot[i] <= '9';
			ms = ms * 10 + (more ? dot[i] - '0' : 0);
		}
	}
	cx_clock_rfc3339(secs, ms, out);
	return 0;
}

/* obj[key], or null when obj is not an object (jv_object_get asserts). */
static jv get(jv obj, const char *key)
{
	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return jv_null();
	return jv_object_get(jv_copy(obj), jv_string(key));
}

static int is_string(jv v)
{
	return jv_get_kind(v) == JV_KIND_STRING;
}

/* Sets key to v when v is a string, else drops v. */
static jv set_string(jv obj, const char *key, jv v)
{
	if (is_string(v))
		return jv_object_set(obj, jv_string(key), v);
	jv_free(v);
	return obj;
}

static jv string_or_null(jv v)
{
	if (is_string(v))
		return v;
	jv_free(v);
	return jv_null();
}

/* Google's {date} or {dateTime, timeZone} (consumed) -> {date} or
 * {date_time (UTC), time_zone?}; null for anything else. */
static jv google_time(jv t)
{
	jv date = get(t, "date"), dt = get(t, "dateTime"), tz = get(t, "timeZone");
	jv out = jv_null();
	char utc[CX_RFC3339_LEN];

	if (is_string(date)) {
		out = jv_object_set(jv_object(), jv_string("date"), jv_copy(date));
	} else if (is_string(dt)) {
		out = jv_object_set(jv_object(), jv_string("date_time"),
		    cx_calendar_utc(jv_string_value(dt), utc) == 0 ? jv_string(utc) : jv_copy(dt));
		out = set_string(out, "time_zone", jv_copy(tz));
	}
	jv_free(date);
	jv_free(dt);
	jv_free(tz);
	jv_free(t);
	return out;
}

static jv google_attendees(jv list)
{
	jv out = jv_array();

	if (jv_get_kind(list) == JV_KIND_ARRAY) {
		jv_array_foreach(list, i, a) {
			jv email = get(a, "email"), rs = get(a, "responseStatus");

			if (is_string(email)) {
				jv o = jv_object_set(jv_object(), jv_string("email"), email);

				o = jv_object_set(o, jv_string("response_status"),
				    is_string(rs) ? jv_copy(rs) : jv_string("needsAction"));
				out = jv_array_append(out, o);
			} else {
				jv_free(email);
			}
			jv_free(rs);
			jv_free(a);
			(void)i;
		}
	}
	jv_free(list);
	return out;
}

static jv string_array(jv list)
{
	jv out = jv_array();

	if (jv_get_kind(list) == JV_KIND_ARRAY) {
		jv_array_foreach(list, i, v) {
			if (is_string(v))
				out = jv_array_append(out, v);
			else
				jv_free(v);
			(void)i;
		}
	}
	jv_free(list);
	return out;
}

jv cx_calendar_from_google(jv item)
{
	jv id, ev, start, org, status, updated;
	char utc[CX_RFC3339_LEN];
	int all_day;

	if (jv_get_kind(item) != JV_KIND_OBJECT) {
		jv_free(item);
		return jv_invalid();
	}
	id = get(item, "id");
	if (!is_string(id) || jv_string_length_bytes(jv_copy(id)) == 0) {
		jv_free(id);
		jv_free(item);
		return jv_invalid();
	}
	ev = jv_object_set(jv_object(), jv_string("event_id"), id);
	ev = set_string(ev, "ical_uid", get(item, "iCalUID"));
	ev = set_string(ev, "etag", get(item, "etag"));
	updated = get(item, "updated");
	ev = jv_object_set(ev, jv_string("updated_at"), is_string(updated) &&
	    cx_calendar_utc(jv_string_value(updated), utc) == 0 ? jv_string(utc) : jv_null());
	jv_free(updated);
	status = get(item, "status");
	if (!is_string(status)) {
		jv_free(status);
		status = jv_string("confirmed");
	}
	ev = jv_object_set(ev, jv_string("status"), status);
	ev = jv_object_set(ev, jv_string("title"), string_or_null(get(item, "summary")));
	ev = set_string(ev, "description", get(item, "description"));
	ev = set_string(ev, "location", get(item, "location"));
	start = google_time(get(item, "start"));
	all_day = jv_get_kind(start) == JV_KIND_OBJECT &&
	    jv_object_has(jv_copy(start), jv_string("date"));
	ev = jv_object_set(ev, jv_string("start"), start);
	ev = jv_object_set(ev, jv_string("end"), google_time(get(item, "end")));
	ev = jv_object_set(ev, jv_string("all_day"), jv_bool(all_day));
	ev = jv_object_set(ev, jv_string("attendees"), google_attendees(get(item, "attendees")));
	org = get(item, "organizer");
	if (jv_get_kind(org) == JV_KIND_OBJECT) {
		jv email = get(org, "email");

		if (is_string(email)) {
			jv o = jv_object_set(jv_object(), jv_string("email"), email);

			o = set_string(o, "name", get(org, "displayName"));
			ev = jv_object_set(ev, jv_string("organizer"), o);
		} else {
			jv_free(email);
		}
	}
	jv_free(org);
	ev = jv_object_set(ev, jv_string("recurrence"), string_array(get(item, "recurrence")));
	ev = set_string(ev, "recurring_event_id", get(item, "recurringEventId"));
	start = google_time(get(item, "originalStartTime"));
	if (jv_get_kind(start) == JV_KIND_OBJECT)
		ev = jv_object_set(ev, jv_string("original_start"), start);
	else
		jv_free(start);
	jv_free(item);
	return ev;
}

void cx_calendar_hash(jv event, char out[65])
{
	jv e = jv_object_delete(jv_object_delete(jv_copy(event), jv_string("etag")),
	    jv_string("updated_at"));
	jv text = jv_dump_string(e, JV_PRINT_SORTED);

	cx_crypto_sha256_hex(jv_string_value(text),
	    (size_t)jv_string_length_bytes(jv_copy(text)), out);
	jv_free(text);
}

/* ---- sync sessions ----------------------------------------------------- */

#define TOMBSTONE_DAYS_DEFAULT 30

struct cx_calendar_sync {
	cx_store *s;
	char *source, *key, *calendar_id;
	int full;
	int64_t seq;
};

/* One row per listed (or gone) event: what to write into the mirror
 * (put: the row; keep: nothing) and what to emit (change, or NULL). */
static const char sql_stage_create[] =
    "CREATE TEMP TABLE IF NOT EXISTS calendar_stage ("
    " event_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, href TEXT, etag TEXT,"
    " updated TEXT, hash TEXT NOT NULL, status TEXT NOT NULL,"
    " incarnation INTEGER NOT NULL, event TEXT NOT NULL, change TEXT,"
    " action TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS temp.calendar_stage_by_href ON calendar_stage (href);"
    "DELETE FROM temp.calendar_stage;";

int cx_calendar_sync_begin(cx_store *s, const char *source, const char *key,
    const char *calendar_id, int full, cx_calendar_sync **out, cx_err *err)
{
	cx_calendar_sync *cs;

	*out = NULL;
	if (cx_store_exec(s, sql_stage_create, err) < 0)
		return -1;
	cs = cx_xcalloc(1, sizeof *cs);
	cs->s = s;
	cs->source = cx_xstrdup(source);
	cs->key = cx_xstrdup(key);
	cs->calendar_id = cx_xstrdup(calendar_id);
	cs->full = full != 0;
	*out = cs;
	return 0;
}

int cx_calendar_sync_restart(cx_calendar_sync *cs, cx_err *err)
{
	cs->full = 1;
	cs->seq = 0;
	return cx_store_exec(cs->s, "DELETE FROM temp.calendar_stage", err);
}

int cx_calendar_sync_is_full(const cx_calendar_sync *cs)
{
	return cs->full;
}

void cx_calendar_sync_free(cx_calendar_sync *cs)
{
	cx_err err;

	if (!cs)
		return;
	cx_store_exec(cs->s, "DELETE FROM temp.calendar_stage", &err);
	free(cs->source);
	free(cs->key);
	free(cs->calendar_id);
	free(cs);
}

typedef struct {
	int found, live;
	int64_t incarnation;
	char *etag, *updated, *hash, *href;
	jv event;
} mirror_row;

static void mirror_row_free(mirror_row *m)
{
	free(m->etag);
	free(m->updated);
	free(m->hash);
	free(m->href);
	jv_free(m->event);
}

static jv parse_event(const char *text)
{
	jv e = jv_parse(text ? text : "");

	if (jv_get_kind(e) != JV_KIND_OBJECT) {
		jv_free(e);
		return jv_object();
	}
	return e;
}

static const char sql_mirror_get[] =
    "SELECT status, etag, updated, hash, href, incarnation, event FROM calendar_mirror"
    " WHERE source = ?1 AND calendar = ?2 AND event_id = ?3";

static int mirror_get(cx_calendar_sync *cs, const char *event_id, mirror_row *m,
    cx_err *err)
{
	cx_stmt *st = cx_store_prepare(cs->s, sql_mirror_get, err);
	int rc;

	memset(m, 0, sizeof *m);
	m->event = jv_null();
	if (!st)
		return -1;
	cx_stmt_text(st, 1, cs->source);
	cx_stmt_text(st, 2, cs->key);
	cx_stmt_text(st, 3, event_id);
	rc = cx_stmt_step(st, err);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		m->found = 1;
		m->live = strcmp(cx_stmt_col_text(st, 0), "cancelled") != 0;
		m->etag = cx_stmt_col_dup(st, 1);
		m->updated = cx_stmt_col_dup(st, 2);
		m->hash = cx_stmt_col_dup(st, 3);
		m->href = cx_stmt_col_dup(st, 4);
		m->incarnation = cx_stmt_col_int(st, 5);
		jv_free(m->event);
		m->event = parse_event(cx_stmt_col_text(st, 6));
		cx_stmt_reset(st);
	}
	return 0;
}

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static const char sql_stage_put[] =
    "INSERT OR REPLACE INTO temp.calendar_stage (event_id, seq, href, etag,"
    " updated, hash, status, incarnation, event, change, action)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

typedef struct {
	const char *event_id, *href, *hash, *change, *action;
	int64_t incarnation;
} staged_row;

/* Stages event (consumed) as r says. */
static int stage(cx_calendar_sync *cs, const staged_row *r, jv event, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(cs->s, sql_stage_put, err);
	const char *status = cx_json_str(event, "status");
	char *text;
	int rc;

	if (!st) {
		jv_free(event);
		return -1;
	}
	text = cx_json_dump(jv_copy(event));
	cx_stmt_text(st, 1, r->event_id);
	cx_stmt_int(st, 2, ++cs->seq);
	cx_stmt_text(st, 3, r->href);
	cx_stmt_text(st, 4, cx_json_str(event, "etag"));
	cx_stmt_text(st, 5, cx_json_str(event, "updated_at"));
	cx_stmt_text(st, 6, r->hash);
	cx_stmt_text(st, 7, status ? status : "confirmed");
	cx_stmt_int(st, 8, r->incarnation);
	cx_stmt_text(st, 9, text);
	cx_stmt_text(st, 10, r->change);
	cx_stmt_text(st, 11, r->action);
	rc = cx_stmt_run(st, err);
	free(text);
	jv_free(event);
	return rc;
}

/* The last known event, marked deleted: status cancelled, and the
 * cancellation's etag and updated_at when it has them (consumes both). */
static jv as_deleted(jv known, jv cancellation)
{
	jv etag = get(cancellation, "etag"), updated = get(cancellation, "updated_at");

	known = jv_object_set(known, jv_string("status"), jv_string("cancelled"));
	if (is_string(etag))
		known = jv_object_set(known, jv_string("etag"), etag);
	else
		jv_free(etag);
	if (is_string(updated))
		known = jv_object_set(known, jv_string("updated_at"), updated);
	else
		jv_free(updated);
	jv_free(cancellation);
	return known;
}

int cx_calendar_sync_add(cx_calendar_sync *cs, jv event, const char *href,
    cx_err *err)
{
	const char *id = cx_json_str(event, "event_id");
	const char *status = cx_json_str(event, "status");
	char hash[65], *event_id;
	staged_row r = { NULL, href, hash, NULL, "put", 1 };
	mirror_row m;
	int rc;

	if (jv_get_kind(event) != JV_KIND_OBJECT || !id) {
		jv_free(event);
		return cx_err_set(err, CX_EXIT_DATAERR, "a calendar event without an id");
	}
	event_id = cx_xstrdup(id);
	r.event_id = event_id;
	if (mirror_get(cs, event_id, &m, err) < 0) {
		free(event_id);
		jv_free(event);
		return -1;
	}
	if (m.found)
		r.incarnation = m.incarnation;
	if (status && strcmp(status, "cancelled") == 0) {
		if (m.live) {
			r.change = "deleted";
			event = as_deleted(jv_copy(m.event), event);
		} else if (!m.found && !cs->full &&
		    jv_object_has(jv_copy(event), jv_string("recurring_event_id"))) {
			/* an occurrence of a series was cancelled since the last run */
			r.change = "deleted";
		}
		cx_calendar_hash(event, hash);
		if (m.found && !m.live && same(m.etag, cx_json_str(event, "etag")) &&
		    same(m.href, href))
			r.action = "keep";
	} else {
		cx_calendar_hash(event, hash);
		if (!m.live) {
			r.change = "created";
			/* a tombstone: the event lives again, under a key of its own */
			r.incarnation += m.found;
		} else if (!same(m.hash, hash)) {
			r.change = "updated";
		} else if (same(m.etag, cx_json_str(event, "etag")) &&
		    same(m.updated, cx_json_str(event, "updated_at")) && same(m.href, href)) {
			r.action = "keep";
		}
	}
	rc = stage(cs, &r, event, err);
	mirror_row_free(&m);
	free(event_id);
	return rc;
}

static const char sql_stage_href[] =
    "SELECT href FROM temp.calendar_stage WHERE event_id = ?1";
static const char sql_stage_drop[] =
    "DELETE FROM temp.calendar_stage WHERE event_id = ?1";
/* what resource href held: in the mirror, and staged by an earlier round
 * of this session (a resource changed, then gone, in one run) */
static const char sql_resource_events[] =
    "SELECT event_id FROM calendar_mirror WHERE source = ?1 AND calendar = ?2"
    " AND href = ?3 UNION SELECT event_id FROM temp.calendar_stage WHERE href = ?3"
    " ORDER BY event_id";

/* Whether event_id is staged from another resource than href, or already
 * as gone: 1, 0, or -1 with err. */
static int staged_elsewhere(cx_calendar_sync *cs, const char *event_id, const char *href,
    cx_err *err)
{
	cx_stmt *st = cx_store_prepare(cs->s, sql_stage_href, err);
	int rc;

	if (!st)
		return -1;
	cx_stmt_text(st, 1, event_id);
	rc = cx_stmt_step(st, err);
	if (rc == 1) {
		rc = cx_stmt_col_is_null(st, 0) || strcmp(cx_stmt_col_text(st, 0), href) != 0;
		cx_stmt_reset(st);
	}
	return rc;
}

/* Stages an event whose resource no longer holds it: for a mirrored one a
 * tombstone, and a deletion when it was live; one this session staged
 * without the mirror knowing it is forgotten. */
static int stage_gone(cx_calendar_sync *cs, const char *event_id, cx_err *err)
{
	mirror_row m;
	staged_row r = { event_id, NULL, NULL, NULL, "put", 1 };
	cx_stmt *st;
	int rc;

	if (mirror_get(cs, event_id, &m, err) < 0)
		return -1;
	if (m.found) {
		r.hash = m.hash ? m.hash : "";
		r.change = m.live ? "deleted" : NULL;
		r.incarnation = m.incarnation;
		rc = stage(cs, &r, m.live ? as_deleted(jv_copy(m.event), jv_object()) :
		    jv_copy(m.event), err);
	} else if ((st = cx_store_prepare(cs->s, sql_stage_drop, err))) {
		cx_stmt_text(st, 1, event_id);
		rc = cx_stmt_run(st, err);
	} else {
		rc = -1;
	}
	mirror_row_free(&m);
	return rc;
}

int cx_calendar_sync_resource(cx_calendar_sync *cs, const char *href, jv events,
    cx_err *err)
{
	cx_stmt *st;
	jv gone = jv_array();
	int rc = 0, n = jv_get_kind(events) == JV_KIND_ARRAY ?
	    jv_array_length(jv_copy(events)) : 0;

	for (int i = 0; i < n && rc == 0; i++)
		rc = cx_calendar_sync_add(cs, jv_array_get(jv_copy(events), i), href, err);
	if (rc < 0 || !(st = cx_store_prepare(cs->s, sql_resource_events, err))) {
		jv_free(events);
		jv_free(gone);
		return -1;
	}
	cx_stmt_text(st, 1, cs->source);
	cx_stmt_text(st, 2, cs->key);
	cx_stmt_text(st, 3, href);
	/* collected first: staging runs other statements on the same tables */
	while ((rc = cx_stmt_step(st, err)) == 1) {
		const char *id = cx_stmt_col_text(st, 0);
		int listed = 0;

		for (int i = 0; i < n && !listed; i++) {
			jv e = jv_array_get(jv_copy(events), i);
			const char *eid = cx_json_str(e, "event_id");

			listed = eid && strcmp(eid, id) == 0;
			jv_free(e);
		}
		if (!listed)
			gone = jv_array_append(gone, jv_string(id));
	}
	jv_free(events);
	if (rc < 0) {
		jv_free(gone);
		return -1;
	}
	jv_array_foreach(gone, i, id) {
		/* an event that moved to another resource is staged there */
		if (rc == 0 && (rc = staged_elsewhere(cs, jv_string_value(id), href, err)) == 0)
			rc = stage_gone(cs, jv_string_value(id), err);
		else if (rc == 1)
			rc = 0;
		jv_free(id);
		(void)i;
	}
	jv_free(gone);
	return rc < 0 ? -1 : 0;
}

static const char sql_stage_keep[] =
    "INSERT OR IGNORE INTO temp.calendar_stage (event_id, seq, href, etag, updated,"
    " hash, status, incarnation, event, change, action) SELECT event_id, 0, href, etag,"
    " updated, hash, status, incarnation, event, NULL, 'keep' FROM calendar_mirror"
    " WHERE source = ?1 AND calendar = ?2 AND href = ?3";

int cx_calendar_sync_keep(cx_calendar_sync *cs, const char *href, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(cs->s, sql_stage_keep, err);

	if (!st)
		return -1;
	cx_stmt_text(st, 1, cs->source);
	cx_stmt_text(st, 2, cs->key);
	cx_stmt_text(st, 3, href);
	return cx_stmt_run(st, err);
}

static const char sql_mirror_hrefs[] =
    "SELECT href, max(etag) FROM calendar_mirror WHERE source = ?1 AND calendar = ?2"
    " AND href IS NOT NULL GROUP BY href ORDER BY href";

int cx_calendar_mirror_hrefs(cx_store *s, const char *source, const char *key,
    void (*each)(const char *href, const char *etag, void *ctx), void *ctx,
    cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_mirror_hrefs, err);
	int rc;

	if (!st)
		return -1;
	cx_stmt_text(st, 1, source);
	cx_stmt_text(st, 2, key);
	while ((rc = cx_stmt_step(st, err)) == 1)
		each(cx_stmt_col_text(st, 0), cx_stmt_col_text(st, 1), ctx);
	return rc;
}

/* The version part of a dedupe key: the etag without quotes or W/, else
 * updated_at, else the start of the hash. */
static char *version(const char *etag, const char *updated, const char *hash)
{
	if (etag && *etag) {
		const char *p = etag;
		size_t n;

		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		n = strlen(p);
		if (n >= 2 && p[0] == '"' && p[n - 1] == '"')
			return cx_xstrndup(p + 1, n - 2);
		return cx_xstrdup(p);
	}
	if (updated && *updated)
		return cx_xstrdup(updated);
	return cx_xasprintf("h%.16s", hash ? hash : "");
}

/* calendar:<source>:<calendar>:<event>:<version>, then ":r<n>" from an
 * event's second life on, and ":deleted" for a deletion. */
static jv item(cx_calendar_sync *cs, const char *change, const char *event_id,
    const char *etag, const char *updated, const char *hash, int64_t incarnation,
    jv data)
{
	char *v = version(etag, updated, hash), life[32] = "";
	char *key, *type = cx_xasprintf("calendar.event.%s", change);
	jv ts = get(data, "updated_at");
	jv it = jv_object_set(jv_object(), jv_string("type"), jv_string(type));

	if (incarnation > 1)
		snprintf(life, sizeof life, ":r%lld", (long long)incarnation);
	key = cx_xasprintf("calendar:%s:%s:%s:%s%s%s", cs->source, cs->calendar_id,
	    event_id, v, life, strcmp(change, "deleted") == 0 ? ":deleted" : "");
	it = jv_object_set(it, jv_string("dedupe_key"), jv_string(key));
	it = jv_object_set(it, jv_string("ts"), string_or_null(ts));
	it = jv_object_set(it, jv_string("data"), data);
	free(v);
	free(key);
	free(type);
	return it;
}

static void count(cx_calendar_counts *c, const char *change)
{
	if (strcmp(change, "created") == 0)
		c->created++;
	else if (strcmp(change, "updated") == 0)
		c->updated++;
	else
		c->deleted++;
}

static const char sql_stage_changes[] =
    "SELECT event_id, change, etag, updated, hash, incarnation, event"
    " FROM temp.calendar_stage WHERE change IS NOT NULL ORDER BY seq";
static const char sql_stage_count[] = "SELECT count(*) FROM temp.calendar_stage";
static const char sql_vanished[] =
    "SELECT m.event_id, m.etag, m.updated, m.hash, m.incarnation, m.event"
    " FROM calendar_mirror m WHERE m.source = ?1 AND m.calendar = ?2"
    " AND m.status <> 'cancelled' AND NOT EXISTS"
    " (SELECT 1 FROM temp.calendar_stage s WHERE s.event_id = m.event_id)"
    " ORDER BY m.event_id";

int cx_calendar_sync_changes(cx_calendar_sync *cs,
    void (*each)(jv item, void *ctx), void *ctx, cx_calendar_counts *counts,
    cx_err *err)
{
	cx_stmt *st = cx_store_prepare(cs->s, sql_stage_count, err);
	int rc;

	memset(counts, 0, sizeof *counts);
	if (!st)
		return -1;
	if ((rc = cx_stmt_step(st, err)) < 0)
		return -1;
	counts->listed = rc == 1 ? cx_stmt_col_int(st, 0) : 0;
	cx_stmt_reset(st);
	if (!(st = cx_store_prepare(cs->s, sql_stage_changes, err)))
		return -1;
	while ((rc = cx_stmt_step(st, err)) == 1) {
		const char *change = cx_stmt_col_text(st, 1);

		count(counts, change);
		each(item(cs, change, cx_stmt_col_text(st, 0), cx_stmt_col_text(st, 2),
		    cx_stmt_col_text(st, 3), cx_stmt_col_text(st, 4), cx_stmt_col_int(st, 5),
		    parse_event(cx_stmt_col_text(st, 6))), ctx);
	}
	if (rc < 0 || !cs->full)
		return rc;
	if (!(st = cx_store_prepare(cs->s, sql_vanished, err)))
		return -1;
	cx_stmt_text(st, 1, cs->source);
	cx_stmt_text(st, 2, cs->key);
	while ((rc = cx_stmt_step(st, err)) == 1) {
		count(counts, "deleted");
		each(item(cs, "deleted", cx_stmt_col_text(st, 0), cx_stmt_col_text(st, 1),
		    cx_stmt_col_text(st, 2), cx_stmt_col_text(st, 3), cx_stmt_col_int(st, 4),
		    as_deleted(parse_event(cx_stmt_col_text(st, 5)), jv_object())), ctx);
	}
	return rc;
}

static const char sql_apply_put[] =
    "INSERT INTO calendar_mirror (source, calendar, event_id, href, etag, updated,"
    " hash, status, incarnation, seen_at, event) SELECT ?1, ?2, event_id, href, etag,"
    " updated, hash, status, incarnation, ?3, event FROM temp.calendar_stage"
    " WHERE action = 'put' ON CONFLICT (source, calendar, event_id) DO UPDATE SET"
    " href = excluded.href, etag = excluded.etag, updated = excluded.updated,"
    " hash = excluded.hash, status = excluded.status,"
    " incarnation = excluded.incarnation, seen_at = excluded.seen_at,"
    " event = excluded.event";
/* a full listing that lacks a live event: it is a tombstone now */
static const char sql_apply_vanished[] =
    "UPDATE calendar_mirror SET status = 'cancelled', href = NULL, seen_at = ?3,"
    " event = json_set(event, '$.status', 'cancelled')"
    " WHERE source = ?1 AND calendar = ?2 AND status <> 'cancelled'"
    " AND event_id NOT IN (SELECT event_id FROM temp.calendar_stage)";
static const char sql_apply_purge[] =
    "DELETE FROM calendar_mirror WHERE source = ?1 AND calendar = ?2"
    " AND status = 'cancelled' AND seen_at < ?3";

int cx_calendar_sync_apply(cx_calendar_sync *cs, cx_err *err)
{
	const char *sqls[3] = { sql_apply_put, sql_apply_purge, sql_apply_vanished };
	int64_t now = cx_clock_now(), days;

	if (cx_config_int("CX_SYNC_TOMBSTONE_DAYS", TOMBSTONE_DAYS_DEFAULT, &days, err) < 0)
		return -1;
	for (int i = 0; i < (cs->full ? 3 : 2); i++) {
		cx_stmt *st = cx_store_prepare(cs->s, sqls[i], err);

		if (!st)
			return -1;
		cx_stmt_text(st, 1, cs->source);
		cx_stmt_text(st, 2, cs->key);
		cx_stmt_int(st, 3, sqls[i] == sql_apply_purge ? now - days * 86400 : now);
		if (cx_stmt_run(st, err) < 0)
			return -1;
	}
	return 0;
}
