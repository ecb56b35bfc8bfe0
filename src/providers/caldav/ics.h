/* ics.h: iCalendar (RFC 5545) text -> CalendarEvents (calendar.h), over
 * Debian's libical. Every VEVENT becomes one event: UID -> ical_uid and
 * event_id (UID, or UID "_" RECURRENCE-ID in UTC basic form for an
 * overridden instance, whose recurring_event_id is the UID), DTSTART/DTEND
 * (or DURATION) -> start/end with TZID resolved through the calendar's
 * VTIMEZONE or the system zone database, VALUE=DATE -> all-day,
 * RRULE/EXDATE/RDATE/EXRULE -> recurrence as raw unfolded lines, STATUS,
 * SUMMARY, DESCRIPTION, LOCATION, ORGANIZER, ATTENDEE (PARTSTAT in Google's
 * words: needsAction, accepted, declined, tentative), LAST-MODIFIED (or
 * DTSTAMP) -> updated_at. No event recurrence is expanded; a VTIMEZONE is
 * expanded (by libical, to convert times) only when it is bounded: its
 * observances recur by yearly rules at one time of day, and the object's
 * zones have at most 50000 transitions up to the years its events use,
 * listed within 2 s. Components nest at most 16 deep.
 * The text is the caller's; *events is a new array the caller owns. */
#ifndef CX_ICS_H
#define CX_ICS_H

#include <stddef.h>

#include <jv.h>

#include "err.h"

/* 0 and *events (possibly empty), or -1 with err (65) when text is not an
 * iCalendar object or is refused (an unbounded VTIMEZONE, deep nesting). etag, when not NULL, is the version of the resource the
 * text came from and goes into every event. *skipped counts VEVENTs left
 * out for having no UID. */
int cx_ics_events(const char *text, size_t len, const char *etag, jv *events,
    int *skipped, cx_err *err);

#endif
