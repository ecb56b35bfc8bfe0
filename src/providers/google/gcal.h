/* gcal.h: what Google Calendar is to cx: the google-calendar sync source
 * and `cx-sync --requests` (calendar.c), the push channels of
 * `cx-sync watch` (watch.c), and the webhook source of their notifications
 * (webhook.c). Strings passed in stay the caller's; returned strings, *row
 * and *channel are the caller's; rows handed to each() are the receiver's. */
#ifndef CX_GCAL_H
#define CX_GCAL_H

#include <stddef.h>
#include <stdint.h>

#include <jv.h>

#include "err.h"
#include "http.h"
#include "source.h"
#include "store.h"
#include "webhook.h"

#define GCAL_SOURCE "google-calendar"   /* the source, its route and channel */

#define GCAL_OPT_PAGE_SIZE { "page-size", 0, CX_SOURCE_O_PAGE_SIZE, "N", "events per events.list page, 1 to 2500 (default 250)" }

extern const cx_source gcal_source;
extern const cx_webhook_source gcal_webhook;

/* The URL of a Calendar API call: CX_GOOGLE_API_BASE (default Google's)
 * and tail_fmt with segment percent-encoded for its %s. */
char *gcal_api_url(const char *tail_fmt, const char *segment);
/* sync_upstream_error with the reason of Google's error body. */
int gcal_error(cx_store *s, const char *what, const cx_http_response *resp,
    cx_err *err);

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

#endif
