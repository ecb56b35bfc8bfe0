/* source.h: the sync source interface of cx-sync, and what sources share.
 *
 * A sync source pulls one platform's changes with a cursor (SPEC §6) and
 * writes them as event lines on stdout. An implementation is a cx_source:
 *   - name: its cx-sync subcommand; cmd: its usage, summary and option
 *     table, whose ids are the CX_SOURCE_O_* below (cx-sync parses them
 *     into a cx_source_conf and hands that to the source);
 *   - check: what the command line lacks, before anything is opened;
 *   - progress: what its progress line counts (sync_progress), or NULL;
 *   - run: one run, over an open store: a lease on what it syncs, the
 *     cursor read, pages fetched (sync_upstream_error and
 *     sync_transport_error for failures), events through sync_out, and the
 *     cursor, counts and mirror committed in one transaction. A source
 *     that needs an OAuth token takes it with cx_oauth_preset_token and
 *     its own provider's preset (oauth.h).
 * Sources are listed in src/providers/sources.c; they never call the
 * registry or a tool. Below: the helpers every source shares (source.c):
 * the envelope, the end of a calendar run, leases, upstream errors,
 * endpoints.
 * Strings passed in stay the caller's; jv items are consumed; rows handed
 * to each() and *row are the receiver's. */
#ifndef CX_SOURCE_H
#define CX_SOURCE_H

#include <stdint.h>

#include <jv.h>

#include "calendar.h"
#include "err.h"
#include "http.h"
#include "opts.h"
#include "progress.h"
#include "store.h"
#include "sync.h"

#define SYNC_LEASE_DEFAULT 300   /* seconds; CX_SYNC_LEASE_SECONDS */

/* What cx-sync read from its command line for a source. */
typedef struct {
	const char *workspace, *calendar, *url, *user;
	long page_size, max_results;   /* 0: the source's default */
	int full, listing, no_progress;
} cx_source_conf;

/* The ids of the options a source's table may hold; cx-sync's own options
 * take ids from CX_SOURCE_O_END on. */
enum { CX_SOURCE_O_DB = 1, CX_SOURCE_O_CONFIG, CX_SOURCE_O_WORKSPACE,
	CX_SOURCE_O_CALENDAR, CX_SOURCE_O_FULL, CX_SOURCE_O_PAGE_SIZE,
	CX_SOURCE_O_URL, CX_SOURCE_O_USER, CX_SOURCE_O_LISTING,
	CX_SOURCE_O_MAX_RESULTS, CX_SOURCE_O_NO_PROGRESS, CX_SOURCE_O_END };

#define CX_SOURCE_OPT_CONFIG { "config", 0, CX_SOURCE_O_CONFIG, "FILE", "load KEY=value settings from FILE" }
#define CX_SOURCE_OPT_DB { "db", 0, CX_SOURCE_O_DB, "PATH", "state file (default $CX_DB, then $XDG_STATE_HOME/cx/cx.db)" }
#define CX_SOURCE_OPT_NO_PROGRESS { "no-progress", 0, CX_SOURCE_O_NO_PROGRESS, NULL, "no progress line on a terminal's stderr" }
#define CX_SOURCE_OPT_END { NULL, 0, 0, NULL, NULL }

typedef struct {
	const char *name;          /* cx-sync subcommand, e.g. "caldav" (static) */
	const cx_cmd *cmd;         /* its usage, summary and options */
	const char *progress;      /* unit of its progress line, or NULL: none */
	/* What c lacks, as "--url URL" for "... needs --url URL", or NULL. */
	const char *(*check)(const cx_source_conf *c);
	/* One run: 0, or -1 with err (CX_EXIT_SOME_FAILED: done, with skips). */
	int (*run)(cx_store *s, const cx_source_conf *c, cx_err *err);
} cx_source;

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
 * source has fetched; off unless cx-sync started it). */
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
/* A path segment, percent-encoded. */
char *sync_escape(const char *segment);

#endif
