/* ics.c: VEVENTs of an iCalendar object as CalendarEvents, with libical
 * doing the parsing (unfolding, escaping, parameters, time zones). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libical/ical.h>

#include "clock.h"
#include "exit.h"
#include "ics.h"
#include "xalloc.h"

/* What one iCalendar object may cost in time-zone expansion (libical walks
 * every transition of a VTIMEZONE up to the year it converts), and in time. */
#define TZ_MAX_TRANSITIONS 50000
#define ICS_BUDGET_MS 2000
/* libical expands a zone some years past the year it converts */
#define TZ_EXTRA_YEARS 10
/* VCALENDAR > VEVENT > VALARM is as deep as real iCalendar goes */
#define ICS_MAX_DEPTH 16

static jv set_text(jv obj, const char *key, const char *v)
{
	return v && *v ? jv_object_set(obj, jv_string(key), jv_string(v)) : obj;
}

/* The TZID parameter of the first property of kind, or NULL. */
static const char *tzid_of(icalcomponent *ev, icalproperty_kind kind)
{
	icalproperty *p = icalcomponent_get_first_property(ev, kind);
	icalparameter *tz = p ? icalproperty_get_first_parameter(p, ICAL_TZID_PARAMETER) : NULL;

	return tz ? icalparameter_get_tzid(tz) : NULL;
}

/* The zone a TZID names: the calendar's VTIMEZONE, else the system's. */
static const icaltimezone *zone_for(icalcomponent *cal, const char *tzid)
{
	icaltimezone *z = NULL;

	if (!tzid)
		return NULL;
	if (cal)
		z = icalcomponent_get_timezone(cal, tzid);
	if (!z)
		z = icaltimezone_get_builtin_timezone(tzid);
	if (!z)
		z = icaltimezone_get_builtin_timezone_from_tzid(tzid);
	return z;
}

/* t as UTC, when its zone is known; 0, or -1 for a floating time. */
static int to_utc(icalcomponent *cal, struct icaltimetype t, const char *tzid,
    int64_t *secs)
{
	struct icaltimetype u;

	if (!icaltime_is_utc(t) && !t.zone) {
		const icaltimezone *z = zone_for(cal, tzid);

		if (!z)
			return -1;
		icaltime_set_timezone(&t, z);
	}
	u = icaltime_convert_to_zone(t, icaltimezone_get_utc_timezone());
	*secs = (int64_t)icaltime_as_timet(u);
	return 0;
}

/* {date} or {date_time, time_zone?}; a floating time (no zone) keeps its
 * wall-clock value without an offset and says so. null for a null time. */
static jv ics_time(icalcomponent *cal, struct icaltimetype t, const char *tzid)
{
	char buf[CX_RFC3339_LEN];
	int64_t secs;
	jv o;

	if (icaltime_is_null_time(t))
		return jv_null();
	if (t.is_date) {
		snprintf(buf, sizeof buf, "%04d-%02d-%02d", t.year, t.month, t.day);
		return jv_object_set(jv_object(), jv_string("date"), jv_string(buf));
	}
	if (to_utc(cal, t, tzid, &secs) == 0) {
		cx_clock_rfc3339(secs, -1, buf);
		o = jv_object_set(jv_object(), jv_string("date_time"), jv_string(buf));
	} else {
		snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", t.year, t.month,
		    t.day, t.hour, t.minute, t.second);
		o = jv_object_set(jv_object(), jv_string("date_time"), jv_string(buf));
		o = jv_object_set(o, jv_string("floating"), jv_true());
	}
	if (tzid && !icaltime_is_utc(t))
		o = jv_object_set(o, jv_string("time_zone"), jv_string(tzid));
	return o;
}

/* RECURRENCE-ID in UTC basic form ("20250324T123000Z", "20250324" for a
 * date), as Google forms instance ids. */
static char *instance_suffix(icalcomponent *cal, struct icaltimetype t, const char *tzid)
{
	int64_t secs;
	struct tm tm;
	time_t tt;
	char buf[32];

	if (t.is_date)
		return cx_xasprintf("%04d%02d%02d", t.year, t.month, t.day);
	if (to_utc(cal, t, tzid, &secs) < 0)
		return cx_xasprintf("%04d%02d%02dT%02d%02d%02d", t.year, t.month, t.day,
		    t.hour, t.minute, t.second);
	tt = (time_t)secs;
	gmtime_r(&tt, &tm);
	strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
	return cx_xstrdup(buf);
}

static const char *partstat(icalproperty *p)
{
	icalparameter *ps = icalproperty_get_first_parameter(p, ICAL_PARTSTAT_PARAMETER);

	switch (ps ? icalparameter_get_partstat(ps) : ICAL_PARTSTAT_NEEDSACTION) {
	case ICAL_PARTSTAT_ACCEPTED: return "accepted";
	case ICAL_PARTSTAT_DECLINED: return "declined";
	case ICAL_PARTSTAT_TENTATIVE: return "tentative";
	default: return "needsAction";
	}
}

/* "mailto:jane@example.com" -> "jane@example.com"; other URIs as they are. */
static const char *address(const char *uri)
{
	return uri && strncasecmp(uri, "mailto:", 7) == 0 ? uri + 7 : uri;
}

static jv attendees(icalcomponent *ev)
{
	jv out = jv_array();

	for (icalproperty *p = icalcomponent_get_first_property(ev, ICAL_ATTENDEE_PROPERTY);
	    p; p = icalcomponent_get_next_property(ev, ICAL_ATTENDEE_PROPERTY)) {
		const char *email = address(icalproperty_get_attendee(p));

		if (!email || !*email)
			continue;
		out = jv_array_append(out, jv_object_set(jv_object_set(jv_object(),
		    jv_string("email"), jv_string(email)), jv_string("response_status"),
		    jv_string(partstat(p))));
	}
	return out;
}

static jv organizer(icalcomponent *ev)
{
	icalproperty *p = icalcomponent_get_first_property(ev, ICAL_ORGANIZER_PROPERTY);
	icalparameter *cn;
	const char *email;
	jv o;

	if (!p || !(email = address(icalproperty_get_organizer(p))) || !*email)
		return jv_invalid();
	o = jv_object_set(jv_object(), jv_string("email"), jv_string(email));
	cn = icalproperty_get_first_parameter(p, ICAL_CN_PARAMETER);
	return set_text(o, "name", cn ? icalparameter_get_cn(cn) : NULL);
}

/* RRULE, RDATE, EXDATE and EXRULE lines as written, unfolded, in order. */
static jv recurrence(icalcomponent *ev)
{
	jv out = jv_array();

	for (icalproperty *p = icalcomponent_get_first_property(ev, ICAL_ANY_PROPERTY);
	    p; p = icalcomponent_get_next_property(ev, ICAL_ANY_PROPERTY)) {
		icalproperty_kind k = icalproperty_isa(p);
		char *line, *w;

		if (k != ICAL_RRULE_PROPERTY && k != ICAL_RDATE_PROPERTY &&
		    k != ICAL_EXDATE_PROPERTY && k != ICAL_EXRULE_PROPERTY)
			continue;
		line = icalproperty_as_ical_string_r(p);
		if (!line)
			continue;
		w = line;
		for (const char *r = line; *r; r++) {
			if (r[0] == '\r' && r[1] == '\n' && (r[2] == ' ' || r[2] == '\t'))
				r += 2;
			else if (r[0] == '\n' && (r[1] == ' ' || r[1] == '\t'))
				r += 1;
			else if (*r != '\r' && *r != '\n')
				*w++ = *r;
		}
		*w = '\0';
		out = jv_array_append(out, jv_string(line));
		icalmemory_free_buffer(line);
	}
	return out;
}

static const char *status_word(icalcomponent *ev)
{
	if (!icalcomponent_get_first_property(ev, ICAL_STATUS_PROPERTY))
		return "confirmed";
	switch (icalcomponent_get_status(ev)) {
	case ICAL_STATUS_CANCELLED: return "cancelled";
	case ICAL_STATUS_TENTATIVE: return "tentative";
	default: return "confirmed";
	}
}

static jv updated_at(icalcomponent *ev)
{
	icalproperty *p = icalcomponent_get_first_property(ev, ICAL_LASTMODIFIED_PROPERTY);
	struct icaltimetype t;
	char buf[CX_RFC3339_LEN];
	int64_t secs;

	if (p)
		t = icalproperty_get_lastmodified(p);
	else if ((p = icalcomponent_get_first_property(ev, ICAL_DTSTAMP_PROPERTY)))
		t = icalproperty_get_dtstamp(p);
	else
		return jv_null();
	if (icaltime_is_null_time(t) || t.is_date || to_utc(NULL, t, NULL, &secs) < 0)
		return jv_null();
	cx_clock_rfc3339(secs, -1, buf);
	return jv_string(buf);
}

/* One VEVENT, or jv_invalid() without a UID. */
static jv event(icalcomponent *cal, icalcomponent *ev, const char *etag)
{
	const char *uid = icalcomponent_get_uid(ev);
	const char *start_tz = tzid_of(ev, ICAL_DTSTART_PROPERTY);
	const char *end_tz = tzid_of(ev, ICAL_DTEND_PROPERTY);
	icalproperty *rid = icalcomponent_get_first_property(ev, ICAL_RECURRENCEID_PROPERTY);
	int has_start = icalcomponent_get_first_property(ev, ICAL_DTSTART_PROPERTY) != NULL;
	struct icaltimetype start = icaltime_null_time(), end = icaltime_null_time();
	jv o, org;

	if (!uid || !*uid)
		return jv_invalid();
	if (has_start) {
		start = icalcomponent_get_dtstart(ev);
		end = icalcomponent_get_dtend(ev);
		if (!end_tz)
			end_tz = start_tz;
	}
	if (rid) {
		struct icaltimetype r = icalcomponent_get_recurrenceid(ev);
		const char *rid_tz = tzid_of(ev, ICAL_RECURRENCEID_PROPERTY);
		char *suffix = instance_suffix(cal, r, rid_tz);
		char *id = cx_xasprintf("%s_%s", uid, suffix);

		o = jv_object_set(jv_object(), jv_string("event_id"), jv_string(id));
		free(suffix);
		free(id);
	} else {
		o = jv_object_set(jv_object(), jv_string("event_id"), jv_string(uid));
	}
	o = jv_object_set(o, jv_string("ical_uid"), jv_string(uid));
	if (etag)
		o = jv_object_set(o, jv_string("etag"), jv_string(etag));
	o = jv_object_set(o, jv_string("updated_at"), updated_at(ev));
	o = jv_object_set(o, jv_string("status"), jv_string(status_word(ev)));
	o = jv_object_set(o, jv_string("title"), icalcomponent_get_summary(ev) ?
	    jv_string(icalcomponent_get_summary(ev)) : jv_null());
	o = set_text(o, "description", icalcomponent_get_description(ev));
	o = set_text(o, "location", icalcomponent_get_location(ev));
	o = jv_object_set(o, jv_string("start"), has_start ? ics_time(cal, start, start_tz) :
	    jv_null());
	o = jv_object_set(o, jv_string("end"), has_start ? ics_time(cal, end, end_tz) :
	    jv_null());
	o = jv_object_set(o, jv_string("all_day"), jv_bool(has_start && start.is_date));
	o = jv_object_set(o, jv_string("attendees"), attendees(ev));
	org = organizer(ev);
	if (jv_is_valid(org))
		o = jv_object_set(o, jv_string("organizer"), org);
	else
		jv_free(org);
	o = jv_object_set(o, jv_string("recurrence"), recurrence(ev));
	if (rid) {
		o = jv_object_set(o, jv_string("recurring_event_id"), jv_string(uid));
		o = jv_object_set(o, jv_string("original_start"), ics_time(cal,
		    icalcomponent_get_recurrenceid(ev), tzid_of(ev, ICAL_RECURRENCEID_PROPERTY)));
	}
	return o;
}

/* Calls fn on c and every component inside it, depth first; -1 with err
 * (65) for components nested deeper than real iCalendar is. */
static int each_component(icalcomponent *c, int depth,
    int (*fn)(icalcomponent *c, void *ctx, cx_err *err), void *ctx, cx_err *err)
{
	if (depth > ICS_MAX_DEPTH)
		return cx_err_set(err, CX_EXIT_DATAERR, "components nested more than %d deep",
		    ICS_MAX_DEPTH);
	if (fn(c, ctx, err) < 0)
		return -1;
	for (icalcomponent *k = icalcomponent_get_first_component(c, ICAL_ANY_COMPONENT); k;
	    k = icalcomponent_get_next_component(c, ICAL_ANY_COMPONENT))
		if (each_component(k, depth + 1, fn, ctx, err) < 0)
			return -1;
	return 0;
}

/* Raises *(int *)ctx to the latest year of a VEVENT's times. */
static int event_year(icalcomponent *ev, void *ctx, cx_err *err)
{
	struct icaltimetype t[3] = { icaltime_null_time(), icaltime_null_time(),
	    icaltime_null_time() };
	int *year = ctx;

	(void)err;
	if (icalcomponent_isa(ev) != ICAL_VEVENT_COMPONENT)
		return 0;
	if (icalcomponent_get_first_property(ev, ICAL_DTSTART_PROPERTY)) {
		t[0] = icalcomponent_get_dtstart(ev);
		t[1] = icalcomponent_get_dtend(ev);
	}
	if (icalcomponent_get_first_property(ev, ICAL_RECURRENCEID_PROPERTY))
		t[2] = icalcomponent_get_recurrenceid(ev);
	for (int i = 0; i < 3; i++)
		if (!icaltime_is_null_time(t[i]) && t[i].year > *year)
			*year = t[i].year;
	return 0;
}

/* -1 with err (65): zone is refused, for why. */
static int zone_refused(icalcomponent *zone, cx_err *err, const char *why)
{
	icalproperty *p = icalcomponent_get_first_property(zone, ICAL_TZID_PROPERTY);
	const char *tzid = p ? icalproperty_get_tzid(p) : NULL;

	return cx_err_set(err, CX_EXIT_DATAERR, "VTIMEZONE %.100s: %s (accepted: yearly rules "
	    "at one time of day, at most %d transitions listed within %d ms)",
	    tzid ? tzid : "(no TZID)", why, TZ_MAX_TRANSITIONS, ICS_BUDGET_MS);
}

/* Counts into *n the transitions libical would expand from one RRULE of an
 * observance starting at dtstart, up to year until. Only yearly rules at
 * one time of day are accepted: every real time-zone rule is one. */
static int rule_transitions(icalcomponent *zone, icalproperty *p, struct icaltimetype dtstart,
    int until, int64_t deadline, long *n, cx_err *err)
{
	struct icalrecurrencetype r = icalproperty_get_rrule(p);
	icalrecur_iterator *it;
	struct icaltimetype t;

	if (r.freq != ICAL_YEARLY_RECURRENCE)
		return zone_refused(zone, err, "an observance that recurs more often than "
		    "yearly is refused");
	if (r.by_hour[0] != ICAL_RECURRENCE_ARRAY_MAX && r.by_hour[1] != ICAL_RECURRENCE_ARRAY_MAX)
		return zone_refused(zone, err, "an observance at more than one hour is refused");
	if (r.by_minute[0] != ICAL_RECURRENCE_ARRAY_MAX &&
	    r.by_minute[1] != ICAL_RECURRENCE_ARRAY_MAX)
		return zone_refused(zone, err, "an observance at more than one minute is refused");
	if (r.by_second[0] != ICAL_RECURRENCE_ARRAY_MAX &&
	    r.by_second[1] != ICAL_RECURRENCE_ARRAY_MAX)
		return zone_refused(zone, err, "an observance at more than one second is refused");
	if (icaltime_is_null_time(dtstart) || !(it = icalrecur_iterator_new(r, dtstart)))
		return 0;
	while (!icaltime_is_null_time(t = icalrecur_iterator_next(it)) && t.year <= until) {
		if (++*n > TZ_MAX_TRANSITIONS || cx_clock_mono_ms() > deadline)
			break;
	}
	icalrecur_iterator_free(it);
	if (*n > TZ_MAX_TRANSITIONS)
		return zone_refused(zone, err, "too many transitions");
	if (cx_clock_mono_ms() > deadline)
		return zone_refused(zone, err, "its transitions take too long to list");
	return 0;
}

typedef struct {
	int until;           /* the last year libical may expand a zone to */
	long n;              /* transitions so far */
	int64_t deadline;
} zone_budget;

/* Whether libical can expand a VTIMEZONE up to the years the events need
 * within the budget: 0, or -1 with err (65). RDATEs and DTSTARTs count
 * one transition each. Other components pass. */
static int zone_bounded(icalcomponent *z, void *ctx, cx_err *err)
{
	zone_budget *b = ctx;

	if (icalcomponent_isa(z) != ICAL_VTIMEZONE_COMPONENT)
		return 0;
	for (icalcomponent *o = icalcomponent_get_first_component(z, ICAL_ANY_COMPONENT);
	    o; o = icalcomponent_get_next_component(z, ICAL_ANY_COMPONENT)) {
		struct icaltimetype start = icalcomponent_get_first_property(o,
		    ICAL_DTSTART_PROPERTY) ? icalcomponent_get_dtstart(o) : icaltime_null_time();

		b->n += 1 + icalcomponent_count_properties(o, ICAL_RDATE_PROPERTY);
		for (icalproperty *p = icalcomponent_get_first_property(o, ICAL_RRULE_PROPERTY);
		    p; p = icalcomponent_get_next_property(o, ICAL_RRULE_PROPERTY))
			if (rule_transitions(z, p, start, b->until, b->deadline, &b->n, err) < 0)
				return -1;
		if (b->n > TZ_MAX_TRANSITIONS)
			return zone_refused(z, err, "too many transitions");
	}
	return 0;
}

/* Whether every VTIMEZONE of the object, wherever it is (libical looks a
 * TZID up from the event outwards), can be expanded within the limits up
 * to the latest year an event uses, or today's. */
static int zones_bounded(icalcomponent *root, int64_t deadline, cx_err *err)
{
	time_t now = (time_t)cx_clock_now();
	zone_budget b = { 0, 0, deadline };
	struct tm tm;
	int year;

	gmtime_r(&now, &tm);
	year = tm.tm_year + 1900;
	if (each_component(root, 0, event_year, &year, err) < 0)
		return -1;
	b.until = year + TZ_EXTRA_YEARS;
	return each_component(root, 0, zone_bounded, &b, err);
}

static jv append_event(jv out, icalcomponent *cal, icalcomponent *ev,
    const char *etag, int *skipped)
{
	jv e = event(cal, ev, etag);

	if (jv_is_valid(e))
		return jv_array_append(out, e);
	jv_free(e);
	(*skipped)++;
	return out;
}

int cx_ics_events(const char *text, size_t len, const char *etag, jv *events,
    int *skipped, cx_err *err)
{
	char *buf;
	icalcomponent *root, *cal;
	int64_t deadline = cx_clock_mono_ms() + ICS_BUDGET_MS;
	jv out;

	*events = jv_invalid();
	*skipped = 0;
	icalerror_set_errors_are_fatal(0);
	if (memchr(text, '\0', len))
		return cx_err_set(err, CX_EXIT_DATAERR, "iCalendar text holds a NUL byte");
	buf = cx_xstrndup(text, len);
	root = icalparser_parse_string(buf);
	free(buf);
	icalerror_clear_errno();
	if (!root)
		return cx_err_set(err, CX_EXIT_DATAERR, "not an iCalendar object");
	cal = icalcomponent_isa(root) == ICAL_VCALENDAR_COMPONENT ? root :
	    icalcomponent_get_first_component(root, ICAL_VCALENDAR_COMPONENT);
	if (zones_bounded(root, deadline, err) < 0) {
		icalcomponent_free(root);
		return -1;
	}
	out = jv_array();
	if (!cal && icalcomponent_isa(root) == ICAL_VEVENT_COMPONENT)
		out = append_event(out, NULL, root, etag, skipped);
	for (icalcomponent *ev = cal ? icalcomponent_get_first_component(cal,
	    ICAL_VEVENT_COMPONENT) : NULL; ev;
	    ev = icalcomponent_get_next_component(cal, ICAL_VEVENT_COMPONENT))
		out = append_event(out, cal, ev, etag, skipped);
	icalcomponent_free(root);
	if (!cal && jv_array_length(jv_copy(out)) == 0 && *skipped == 0) {
		jv_free(out);
		return cx_err_set(err, CX_EXIT_DATAERR, "not an iCalendar object");
	}
	*events = out;
	return 0;
}
