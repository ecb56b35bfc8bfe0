/* sync.h: what every cx-sync source shares: the cursor of a synced thing
 * (a sync token, the last id seen, a rate-limit hold), the lease that keeps
 * two runs of one thing apart, and the sync metrics (SPEC §4 Metrics:
 * cx_sync_runs_total, cx_sync_changes_total, the latency histogram and
 * errors by upstream status). A thing is a source ("google-calendar",
 * "caldav", "x-mentions") and a key within it.
 * Strings passed in stay the caller's; a cx_sync_cursor's strings are its
 * own (cx_sync_cursor_clear frees them); a lease is freed by
 * cx_sync_lease_release. */
#ifndef CX_SYNC_H
#define CX_SYNC_H

#include <stdint.h>

#include "err.h"
#include "store.h"

typedef struct {
	char *cursor;            /* NULL: start from scratch */
	char *mode;              /* NULL: the source's default */
	int64_t not_before;      /* 0: no hold */
} cx_sync_cursor;

/* Reads the cursor: 1 when there is one, 0 when the thing was never synced
 * (*c is then all zero), -1 with err. */
int cx_sync_cursor_get(cx_store *s, const char *source, const char *key,
    cx_sync_cursor *c, cx_err *err);
void cx_sync_cursor_clear(cx_sync_cursor *c);
/* Stores cursor and mode and stamps the run (full or incremental), with
 * not_before holding the next requests back until then (a provider's rate
 * limit reset; 0: no hold). Inside the caller's transaction, with the
 * changes it covers. */
int cx_sync_cursor_put(cx_store *s, const char *source, const char *key,
    const char *cursor, const char *mode, int full, int64_t not_before,
    cx_err *err);

typedef struct cx_sync_lease cx_sync_lease;

/* Takes the lease of source + key for ttl seconds: 1 and *out when taken,
 * 0 when another run holds it (its expiry not passed and, on this host, its
 * process alive), -1 with err. Its own transaction. */
int cx_sync_lease_take(cx_store *s, const char *source, const char *key,
    int64_t ttl, cx_sync_lease **out, cx_err *err);
/* Extends the lease by its ttl; -1 with err (75) when it was lost. */
int cx_sync_lease_renew(cx_sync_lease *l, cx_err *err);
/* Inside the caller's transaction: 0 while the lease is still ours, -1 with
 * err (75) when another run took it over. */
int cx_sync_lease_check(cx_sync_lease *l, cx_err *err);
/* Gives the lease up (when still ours) and frees it; NULL is fine. */
void cx_sync_lease_release(cx_sync_lease *l);

/* Counts one finished run inside the caller's transaction:
 * cx_sync_runs_total{source,mode}, cx_sync_changes_total{source,change},
 * cx_sync_latency_seconds_bucket{source,le} and _count{source}, and
 * cx_sync_latency_milliseconds_total{source} (the histogram's sum; the
 * counters are integers). */
int cx_sync_count_run(cx_store *s, const char *source, int full,
    int64_t created, int64_t updated, int64_t deleted, int64_t latency_ms,
    cx_err *err);
/* Counts a failed request in cx_sync_errors_total{source,status}: status is
 * the HTTP code, or "transport". Its own transaction. */
int cx_sync_count_error(cx_store *s, const char *source, const char *status,
    cx_err *err);

#endif
