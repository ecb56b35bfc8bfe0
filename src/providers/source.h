/* sync_tool.h: what the parts of cx-sync share: the event envelope on
 * stdout and the end of a calendar run (emit.c), upstream errors, and the
 * entry points of the subcommands (gcal.c: google-calendar and --requests;
 * channels.c: watch; caldav.c: caldav and ics; mentions.c: x-mentions).
 * Strings passed in stay the caller's; jv items are consumed; rows handed
 * to each() and *row are the receiver's. */
#ifndef CX_SYNC_TOOL_H
#define CX_SYNC_TOOL_H

#include <stdint.h>

#include <jv.h>

#include "calendar.h"
#include "err.h"
#include "http.h"
#include "progress.h"
#include "store.h"
#include "sync.h"

#define SYNC_LEASE_DEFAULT 300   /* seconds; CX_SYNC_LEASE_SECONDS */

/* Where the event lines of a run come from. */
typedef struct {
	const char *correlation_id;   /* NULL: a new one per run */
	jv source;                    /* extra envelope source keys, or null */
} sync_origin;

/* The envelope of one run's events (SPEC §5): channel and provider are
 * channel, tenant that of channel + account; source names the cx-sync
 * command (and mode) and whatever origin adds. */
typedef struct {
	char *channel, *account, *tenant;
	jv correlation_id, source, received_at;
	int64_t lines;
} sync_out;

int sync_out_init(sync_out *o, cx_store *s, const char *source, const char *channel,
    const char *account, const sync_origin *origin, const char *mode,
    cx_err *err);
/* An item {type, dedupe_key, ts, data} (consumed) -> one event line.
 * ctx is the sync_out. */
void sync_out_item(jv item, void *ctx);
/* Flushes the lines: 0, or -1 with err when stdout is gone. */
int sync_out_flush(cx_err *err);
void sync_out_free(sync_out *o);

/* The end of a calendar run: emits the session's changes, then records
 * mirror, cursor (and mode) and metrics in one transaction, if the lease is
 * still held, and logs what the run did. */
int sync_calendar_finish(cx_store *s, const char *source, cx_sync_lease *lease,
    cx_calendar_sync *cs, const char *key, const char *calendar_id,
    const char *cursor, const char *mode, const sync_origin *origin,
    int64_t started, int64_t requests, cx_err *err);

/* The terminal's progress line of the running command (counts what a
 * source has fetched; off unless started). */
extern cx_progress sync_progress;

/* The lease TTL for runs (CX_SYNC_LEASE_SECONDS). */
int sync_lease_ttl(int64_t *ttl, cx_err *err);
/* A failed request: counts it in cx_sync_errors_total and fills err with
 * the exit status its HTTP status calls for (401/403 77, 404 78, 429/5xx
 * 75, others 69). what names the request; reason may be NULL. */
int sync_upstream_error(cx_store *s, const char *source, const char *what,
    const cx_http_response *resp, const char *reason, cx_err *err);
/* A transport failure (no answer): counted as status "transport", 75. */
int sync_transport_error(cx_store *s, const char *source, cx_err *err);
/* The API base from env (CX_GOOGLE_API_BASE...), without a trailing slash. */
char *sync_api_base(const char *env, const char *def);
/* A path segment, percent-encoded. */
char *sync_escape(const char *segment);

/* google-calendar. page_size 0: the default. */
int gcal_sync(cx_store *s, const char *workspace, const char *calendar_id,
    int full, long page_size, const sync_origin *origin, cx_err *err);
/* --requests: runs the sync of every calendar that calendar.sync.requested
 * lines on stdin name (once per batch of lines at hand); other lines pass
 * through in order. *failed counts syncs that failed, *rejected input lines
 * that were not JSON objects. */
int gcal_requests(cx_store *s, long page_size, size_t max_line, int64_t *failed,
    int64_t *rejected, cx_err *err);
/* Google's Calendar API calls for the push channels. */
int gcal_watch(cx_store *s, const char *workspace, const char *calendar_id,
    const char *channel_id, const char *address, const char *token, int64_t ttl,
    jv *channel, cx_err *err);
/* 1 stopped, 0 Google did not know it (404), -1 with err. */
int gcal_stop(cx_store *s, const char *workspace, const char *channel_id,
    const char *resource_id, cx_err *err);

/* watch start: a new channel at Google, stored; *row is its row. ttl 0:
 * Google's default. replaces: the channel a renewal takes over from. */
int watch_start(cx_store *s, const char *workspace, const char *calendar_id,
    const char *address, int64_t ttl, const char *replaces, jv *row, cx_err *err);
/* watch renew: every active channel (of workspace, NULL: all) expiring
 * within before seconds gets a successor and is stopped; each() gets the
 * successor's row. *failed counts channels that could not be renewed. */
int watch_renew(cx_store *s, const char *workspace, int64_t before,
    void (*each)(jv row, void *ctx), void *ctx, int64_t *failed, cx_err *err);
/* watch stop: stops the channel at Google and here; *row is its row. */
int watch_stop(cx_store *s, const char *channel_id, jv *row, cx_err *err);

/* caldav. user NULL: no authentication. */
int caldav_sync(cx_store *s, const char *url, const char *user, int full,
    int listing, cx_err *err);

/* ics: the VEVENTs of one iCalendar file ("-": stdin) as CalendarEvent
 * lines; *events counts them. */
int caldav_ics(const char *path, int64_t *events, cx_err *err);

/* x-mentions. */
int mentions_sync(cx_store *s, const char *workspace, long max_results,
    cx_err *err);

#endif
