/* inbox.h: the durable inbox of webhook deliveries and consumer cursors.
 * A delivery is stored before its 200 is sent; consumers read deliveries
 * past their cursor and move it when a pipeline has finished them.
 * jv values passed in are consumed; rows handed to each() are its to free. */
#ifndef CX_INBOX_H
#define CX_INBOX_H

#include <stddef.h>
#include <stdint.h>

#include <jv.h>

#include "err.h"
#include "store.h"

#define CX_CORRELATION_ID_LEN 35   /* "c-" + 32 hex + NUL */

/* A new correlation id: "c-" and 32 hex digits, the first 12 the time in
 * milliseconds and the rest 80 random bits: ids made later sort later, so
 * the inbox index on them grows at its end instead of at random pages. */
void cx_inbox_new_correlation_id(char out[CX_CORRELATION_ID_LEN]);

/* Stores one delivery inside the caller's transaction. headers: a JSON
 * object text (NULL: none); body must be a JSON object text. */
int cx_inbox_add(cx_store *s, const char *provider, const char *correlation_id,
    int64_t received, const char *headers, const char *body, size_t len,
    int64_t *id, cx_err *err);
/* Adds n stored deliveries to cx_inbox_deliveries_total{provider}, in the
 * transaction that stored them. */
int cx_inbox_count(cx_store *s, const char *provider, int64_t n, cx_err *err);

/* The webhook.received line of a delivery as one line of JSON text (a new
 * string, no newline). The body goes in as it was received, never
 * re-serialized (so numbers keep every digit), with line breaks outside
 * strings turned into spaces. headers is a JSON object text or NULL. */
char *cx_inbox_line(int64_t id, const char *provider, const char *correlation_id,
    const char *received_at, const char *headers, const char *body, size_t len);

/* Deliveries with after < id <= upto (upto < 0: no bound), in id order, at
 * most limit (<= 0: all); each() gets the webhook.received line (valid until
 * it returns) and returns 0 to go on or -1 to stop. *last gets the last id
 * handed out (else after). */
int cx_inbox_read(cx_store *s, int64_t after, int64_t upto, int64_t limit,
    int (*each)(const char *line, void *ctx), void *ctx, int64_t *last,
    cx_err *err);

/* The consumer's cursor, registering the consumer at 0 when it is new. */
int cx_inbox_cursor(cx_store *s, const char *consumer, int64_t *cursor,
    cx_err *err);
/* Moves the cursor forward to upto (never back, never past the newest
 * delivery); *cursor gets the result. Its own transaction. */
int cx_inbox_advance(cx_store *s, const char *consumer, int64_t upto,
    int64_t *cursor, cx_err *err);
/* The first delivery id after `after`, or 0 when there is none. */
int cx_inbox_next_id(cx_store *s, int64_t after, int64_t *id, cx_err *err);

/* Deletes deliveries received before `before` that every consumer has
 * acked; nothing when no consumer is registered. Its own transaction. */
int cx_inbox_prune(cx_store *s, int64_t before, int64_t *deleted, cx_err *err);
/* Deliveries not yet acked by the slowest consumer (all when none). */
int cx_inbox_depth(cx_store *s, int64_t *depth, cx_err *err);

#endif
