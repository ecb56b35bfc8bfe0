/* caldav.h: CalDAV to cx (caldav.c): the caldav sync source and
 * `cx-sync ics`. Strings passed in stay the caller's. */
#ifndef CX_CALDAV_H
#define CX_CALDAV_H

#include <stdint.h>

#include "err.h"
#include "source.h"
#include "store.h"

extern const cx_source caldav_source;

/* caldav. user NULL: no authentication (else the password is
 * CX_CALDAV_PASSWORD). */
int caldav_sync(cx_store *s, const char *url, const char *user, int full,
    int listing, cx_err *err);

/* ics: the VEVENTs of one iCalendar file ("-": stdin) as CalendarEvent
 * lines; *events counts them. */
int caldav_ics(const char *path, int64_t *events, cx_err *err);

#endif
