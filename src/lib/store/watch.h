/* watch.h: Google Calendar push channels (events.watch) as cx keeps them:
 * id, workspace, calendar, Google's resource id, expiry, and the channel
 * token, kept only as its SHA-256. cx-sync starts, renews and stops them at
 * Google and records that here; cx-ingest asks cx_watch_verify whether a
 * notification's headers name a live channel before it stores anything.
 * Every change is audited (watch_started, watch_renewed, watch_stopped;
 * never the token) in the transaction that makes it.
 * Strings passed in stay the caller's; rows handed to each() and *row are
 * the receiver's; *calendar_id is a new string. */
#ifndef CX_WATCH_H
#define CX_WATCH_H

#include <stdint.h>

#include <jv.h>

#include "err.h"
#include "store.h"

typedef struct {
	const char *channel_id;
	const char *workspace;
	const char *calendar_id;
	const char *resource_id;     /* Google's, from the watch response */
	const char *resource_uri;    /* may be NULL */
	const char *address;         /* where Google posts notifications */
	const char *token;           /* the channel token, stored hashed */
	int64_t expiration;          /* epoch seconds */
	int64_t ttl;                 /* what was asked for; 0: Google's default */
} cx_watch_channel;

/* Stores a new active channel. replaces, when set, is the channel it takes
 * over from (a renewal): that one becomes 'renewed' in the same
 * transaction. */
int cx_watch_add(cx_store *s, const cx_watch_channel *c, const char *replaces,
    cx_err *err);
/* Marks a channel stopped; 1 when it was active or renewed, 0 when it is
 * unknown or already stopped. */
int cx_watch_stop(cx_store *s, const char *channel_id, cx_err *err);
/* The channel's row ({channel_id, workspace, calendar_id, resource_id,
 * address, expiration, ttl, status, replaced_by, created_at, stopped_at}): 1 and
 * *row, or 0 when unknown. */
int cx_watch_get(cx_store *s, const char *channel_id, jv *row, cx_err *err);
/* Channels in expiration order: of workspace (NULL: all); active ones only
 * unless all; with expiring_by >= 0, active ones expiring by then. */
int cx_watch_list(cx_store *s, const char *workspace, int all,
    int64_t expiring_by, void (*each)(jv row, void *ctx), void *ctx,
    cx_err *err);

/* Whether a notification's X-Goog-Channel-ID, X-Goog-Resource-ID and
 * X-Goog-Channel-Token name an active, unexpired channel: 1 and
 * *calendar_id (when calendar_id is not NULL), 0 when the channel is
 * unknown, stopped, expired, or the resource or token does not match
 * (compared in constant time), -1 with err on a store failure. */
int cx_watch_verify(cx_store *s, const char *channel_id, const char *resource_id,
    const char *token, char **calendar_id, cx_err *err);

#endif
