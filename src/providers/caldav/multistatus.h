/* multistatus.h: WebDAV multistatus answers (RFC 4918 §13) of a CalDAV
 * server, read with expat: each <response>'s href, status, ETag, calendar
 * data and supported reports, and the sync token. The struct is the
 * caller's; multistatus_free frees what it holds. */
#ifndef CX_MULTISTATUS_H
#define CX_MULTISTATUS_H

#include <stddef.h>

#include <jv.h>

#include "err.h"

#define NS_DAV "DAV:|"
#define NS_CALDAV "urn:ietf:params:xml:ns:caldav|"

/* One <response>: href, its status (the response's, or its 200 propstat's),
 * etag, calendar data and the reports of DAV:supported-report-set (as
 * expat names them, "DAV:|sync-collection") when the server sent them: a
 * report is the first element inside DAV:supported-report, within
 * DAV:report as RFC 3253 §3.1.5 has it or directly (xandikos). */
typedef struct {
	jv responses;        /* [{href, status, etag?, data?, reports?}] */
	jv cur;              /* the response being read */
	char *sync_token;
	int in_propstat;
	int srs_depth;       /* depth inside a supported-report-set, 0 outside */
	int name_depth;      /* srs_depth of the report name being read, or 0 */
	long propstat_status;
	jv props;            /* getetag / calendar-data / reports of the current propstat */
	char *text;          /* character data of the current element */
	size_t len, cap;
	int collecting;
} multistatus;

/* Parses a multistatus body: 0, or -1 with err (69) when it is not XML
 * (*m is then empty). */
int multistatus_parse(const char *body, size_t len, multistatus *m, cx_err *err);
void multistatus_free(multistatus *m);

#endif
