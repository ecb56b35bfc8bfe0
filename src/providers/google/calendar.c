/* calendar.c: the google-calendar sync source: events.list into the mirror
 * (a full listing, or the changes since the stored sync token; 410 Gone
 * starts over in full), and `cx-sync --requests`, the syncs that
 * calendar.sync.requested lines ask for. */
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "clock.h"
#include "config.h"
#include "exit.h"
#include "gcal.h"
#include "googleoauth.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "ndjson.h"
#include "oauth.h"
#include "source.h"
#include "sync.h"
#include "url.h"
#include "watch.h"
#include "xalloc.h"

#define SOURCE GCAL_SOURCE
#define PAGE_SIZE_DEFAULT 250
#define MAX_PAGES 100000

char *gcal_api_url(const char *tail_fmt, const char *segment)
{
	char *base = cx_url_base(cx_config_get("CX_GOOGLE_API_BASE", "https://www.googleapis.com"));
	char *esc = segment ? sync_escape(segment) : NULL;
	char *tail = cx_xasprintf(tail_fmt, esc ? esc : "");
	char *url = cx_xasprintf("%s%s", base, tail);

	free(base);
	free(esc);
	free(tail);
	return url;
}

/* error.errors[0].reason of a Google error body: a fixed word, safe to log. */
static char *error_reason(const cx_http_response *resp)
{
	jv body = cx_http_json(resp);
	jv r = jv_getpath(body, JV_ARRAY(jv_string("error"), jv_string("errors"),
	    jv_number(0), jv_string("reason")));
	char *out = jv_get_kind(r) == JV_KIND_STRING ? cx_xstrdup(jv_string_value(r)) : NULL;

	jv_free(r);
	return out;
}

int gcal_error(cx_store *s, const char *what, const cx_http_response *resp,
    cx_err *err)
{
	char *reason = error_reason(resp);
	int rc = sync_upstream_error(s, SOURCE, what, resp, reason, err);

	free(reason);
	return rc;
}

/* One events.list page: 0 and *page (the body), or -1 with err; 410 Gone
 * gives 1 (the sync token is no longer accepted). */
static int list_page(cx_store *s, const char *workspace, const char *calendar_id,
    const char *sync_token, const char *page_token, long page_size, jv *page,
    cx_err *err)
{
	char *token = NULL, *base = gcal_api_url("/calendar/v3/calendars/%s/events", calendar_id);
	char size[24], *url;
	cx_http_response resp;
	cx_http_request req = { 0 };
	int rc;

	*page = jv_invalid();
	snprintf(size, sizeof size, "%ld", page_size);
	url = cx_http_url_with(base, "maxResults", size, "showDeleted", "true",
	    "syncToken", sync_token, "pageToken", page_token, NULL);
	free(base);
	if (cx_oauth_preset_token(s, &cx_google_oauth, workspace, &token, err) < 0) {
		free(url);
		return -1;
	}
	req.url = url;
	req.bearer = token;
	req.max_body = 64 * 1024 * 1024;
	rc = cx_http_do(&req, &resp, err);
	cx_secret_free(token);
	free(url);
	if (rc < 0) {
		cx_http_response_free(&resp);
		return sync_transport_error(s, SOURCE, err);
	}
	if (resp.status == 410 && sync_token) {
		cx_err ignored;

		cx_sync_count_error(s, SOURCE, "410", &ignored);
		cx_http_response_free(&resp);
		return 1;
	}
	if (resp.status != 200) {
		gcal_error(s, "events.list", &resp, err);
		cx_http_response_free(&resp);
		return -1;
	}
	*page = cx_http_json(&resp);
	cx_http_response_free(&resp);
	if (jv_get_kind(*page) != JV_KIND_OBJECT) {
		jv_free(*page);
		*page = jv_invalid();
		return cx_err_set(err, CX_EXIT_UNAVAILABLE, "events.list: the answer is not "
		    "a JSON object");
	}
	return 0;
}

/* Stages a page's items; items without an id are skipped and counted. */
static int stage_page(cx_calendar_sync *cs, jv page, int64_t *skipped, cx_err *err)
{
	jv items = jv_object_get(page, jv_string("items"));
	int rc = 0;

	if (jv_get_kind(items) == JV_KIND_ARRAY) {
		jv_array_foreach(items, i, item) {
			jv ev;

			(void)i;
			if (rc < 0) {
				jv_free(item);
				continue;
			}
			cx_progress_step(&sync_progress);
			ev = cx_calendar_from_google(item);
			if (jv_is_valid(ev)) {
				rc = cx_calendar_sync_add(cs, ev, NULL, err);
			} else {
				jv_free(ev);
				(*skipped)++;
			}
		}
	}
	jv_free(items);
	return rc;
}

static char *take_string(jv page, const char *key)
{
	const char *v = cx_json_str(page, key);

	return v && *v ? cx_xstrdup(v) : NULL;
}

/* Pages through the listing into cs; *next_sync gets the new sync token. */
static int list_all(cx_store *s, cx_sync_lease *lease, const char *workspace,
    const char *calendar_id, char *sync_token, long page_size, cx_calendar_sync *cs,
    char **next_sync, int64_t *skipped, int64_t *pages, cx_err *err)
{
	char *page_token = NULL;
	int restarted = 0, rc = 0;

	*next_sync = NULL;
	while (rc == 0) {
		jv page;

		if (++*pages > MAX_PAGES) {
			rc = cx_err_set(err, CX_EXIT_UNAVAILABLE, "events.list: more than %d pages",
			    MAX_PAGES);
			break;
		}
		rc = list_page(s, workspace, calendar_id, sync_token, page_token, page_size,
		    &page, err);
		if (rc == 1) {
			if (restarted) {
				rc = cx_err_set(err, CX_EXIT_UNAVAILABLE,
				    "events.list: 410 Gone without a sync token");
				break;
			}
			cx_log(CX_LOG_WARN, jv_object_set(jv_object(), jv_string("upstream_status"),
			    jv_number(410)), "the sync token of %s is no longer valid (410 Gone): "
			    "full resync", calendar_id);
			restarted = 1;
			free(page_token);
			page_token = NULL;
			sync_token = NULL;
			rc = cx_calendar_sync_restart(cs, err);
			continue;
		}
		if (rc < 0)
			break;
		rc = stage_page(cs, jv_copy(page), skipped, err);
		if (rc == 0) {
			char *next = take_string(page, "nextPageToken");

			if (next && page_token && strcmp(next, page_token) == 0) {
				free(next);
				rc = cx_err_set(err, CX_EXIT_UNAVAILABLE,
				    "events.list: the same nextPageToken twice");
			} else if (next) {
				free(page_token);
				page_token = next;
				rc = cx_sync_lease_renew(lease, err);
			} else if (!(*next_sync = take_string(page, "nextSyncToken"))) {
				rc = cx_err_set(err, CX_EXIT_UNAVAILABLE,
				    "events.list: the last page has no nextSyncToken");
			} else {
				jv_free(page);
				break;
			}
		}
		jv_free(page);
	}
	free(page_token);
	return rc;
}

int gcal_sync(cx_store *s, const char *workspace, const char *calendar_id,
    int full, long page_size, const sync_origin *origin, cx_err *err)
{
	char *key = cx_xasprintf("%s/%s", workspace, calendar_id), *next_sync = NULL;
	cx_sync_cursor cur = { 0 };
	cx_sync_lease *lease = NULL;
	cx_calendar_sync *cs = NULL;
	int64_t ttl, started = cx_clock_mono_ms(), skipped = 0, pages = 0;
	int rc;

	if (page_size <= 0)
		page_size = PAGE_SIZE_DEFAULT;
	if (sync_lease_ttl(&ttl, err) < 0) {
		free(key);
		return -1;
	}
	rc = cx_sync_lease_take(s, SOURCE, key, ttl, &lease, err);
	if (rc == 0)
		rc = cx_err_set(err, CX_EXIT_TEMPFAIL, "a sync of %s is already running "
		    "(workspace %s)", calendar_id, workspace);
	if (rc < 0) {
		free(key);
		return -1;
	}
	rc = cx_sync_cursor_get(s, SOURCE, key, &cur, err);
	if (rc >= 0 && full) {
		free(cur.cursor);
		cur.cursor = NULL;
	}
	if (rc >= 0)
		rc = cx_calendar_sync_begin(s, SOURCE, key, calendar_id, cur.cursor == NULL,
		    &cs, err);
	if (rc >= 0)
		rc = list_all(s, lease, workspace, calendar_id, cur.cursor, page_size, cs,
		    &next_sync, &skipped, &pages, err);
	if (rc >= 0)
		rc = sync_calendar_finish(s, SOURCE, lease, cs, key, calendar_id, next_sync,
		    NULL, origin, started, pages, err);
	if (rc >= 0 && skipped) {
		cx_log(CX_LOG_WARN, jv_object_set(jv_object(), jv_string("error_code"),
		    jv_string("invalid_event")), "%lld events of %s had no id and were "
		    "skipped", (long long)skipped, calendar_id);
		rc = cx_err_set(err, CX_EXIT_SOME_FAILED, "some events were skipped");
	}
	cx_calendar_sync_free(cs);
	cx_sync_lease_release(lease);
	cx_sync_cursor_clear(&cur);
	free(next_sync);
	free(key);
	return rc < 0 ? -1 : 0;
}

/* ---- --requests -------------------------------------------------------- */

#define BATCH_MAX 1000

typedef struct {
	char **lines;        /* pass-through lines, as read */
	size_t *lens;
	int n;
	jv done;             /* workspace/calendar keys synced in this batch */
	jv failed;           /* correlation ids whose sync failed */
} batch;

/* A calendar.sync.requested line (v): runs its calendar's sync unless the
 * batch already did. 0, or -1 when the sync failed. */
static int handle_request(cx_store *s, batch *b, jv v, long page_size)
{
	jv data = jv_object_get(jv_copy(v), jv_string("data"));
	const char *channel = cx_json_str(data, "channel_id");
	const char *corr = cx_json_str(v, "correlation_id");
	jv row = jv_null(), src = jv_object();
	cx_err err = { 0, "" };
	char *key;
	int rc = 0, found;

	found = channel ? cx_watch_get(s, channel, &row, &err) : 0;
	if (found < 0) {
		cx_log(CX_LOG_ERROR, jv_null(), "%s", err.msg);
		rc = -1;
	} else if (!found || strcmp(cx_json_str(row, "status"), "stopped") == 0) {
		cx_log(CX_LOG_WARN, jv_object_set(jv_object(), jv_string("error_code"),
		    jv_string("unknown_channel")), "a sync request names %s channel; ignored",
		    found ? "a stopped" : "no known");
	} else {
		key = cx_xasprintf("%s/%s", cx_json_str(row, "workspace"),
		    cx_json_str(row, "calendar_id"));
		if (!jv_object_has(jv_copy(b->done), jv_string(key))) {
			jv inbox = jv_getpath(jv_copy(v), JV_ARRAY(jv_string("source"),
			    jv_string("inbox_id")));
			sync_origin origin = { corr, jv_null() };

			b->done = jv_object_set(b->done, jv_string(key), jv_true());
			if (jv_get_kind(inbox) == JV_KIND_NUMBER)
				src = jv_object_set(src, jv_string("inbox_id"), jv_copy(inbox));
			jv_free(inbox);
			origin.source = src;
			if (gcal_sync(s, cx_json_str(row, "workspace"), cx_json_str(row,
			    "calendar_id"), 0, page_size, &origin, &err) < 0 &&
			    err.code != CX_EXIT_SOME_FAILED) {
				cx_log(CX_LOG_ERROR, jv_object_set(jv_object(), jv_string("correlation_id"),
				    corr ? jv_string(corr) : jv_null()), "%s", err.msg);
				rc = -1;
			}
		}
		free(key);
	}
	if (rc < 0 && corr)
		b->failed = jv_object_set(b->failed, jv_string(corr), jv_true());
	jv_free(src);
	jv_free(row);
	jv_free(data);
	return rc;
}

/* Writes the batch's other lines in order; a delivery.done marker of a
 * request whose sync failed is held back, so `cx-ingest ack` does not
 * count that delivery as finished. */
static void pass_through(batch *b)
{
	for (int i = 0; i < b->n; i++) {
		jv v = jv_parse_sized(b->lines[i], (int)b->lens[i]);
		const char *type = cx_json_str(v, "type");
		const char *corr = cx_json_str(v, "correlation_id");

		if (!(type && strcmp(type, "delivery.done") == 0 && corr &&
		    jv_object_has(jv_copy(b->failed), jv_string(corr))))
			cx_ndjson_write_raw(b->lines[i], b->lens[i]);
		jv_free(v);
		free(b->lines[i]);
	}
	b->n = 0;
}

int gcal_requests(cx_store *s, long page_size, size_t max_line, int64_t *failed,
    int64_t *rejected, cx_err *err)
{
	cx_ndjson_reader *r = cx_ndjson_open(0, max_line);
	batch b = { cx_xcalloc(BATCH_MAX, sizeof *b.lines),
		cx_xcalloc(BATCH_MAX, sizeof *b.lens), 0, jv_object(), jv_object() };
	cx_ndjson_line line;
	int rc = 0;

	*failed = 0;
	while (rc == 0) {
		int got = 0;

		while (b.n < BATCH_MAX && (got == 0 || cx_ndjson_ready(r))) {
			const char *type;

			if ((rc = cx_ndjson_next(r, &line)) <= 0)
				break;
			got++;
			type = cx_json_str(line.value, "type");
			if (type && strcmp(type, "calendar.sync.requested") == 0) {
				if (handle_request(s, &b, line.value, page_size) < 0)
					(*failed)++;
			} else {
				b.lines[b.n] = cx_xstrndup(line.raw, line.len);
				b.lens[b.n++] = line.len;
			}
			jv_free(line.value);
			rc = 0;
		}
		pass_through(&b);
		jv_free(b.done);
		b.done = jv_object();
		if (cx_ndjson_flush() < 0 || got == 0 || rc != 0)
			break;
	}
	*rejected = cx_ndjson_rejected(r);
	if (rc < 0)
		cx_err_set(err, CX_EXIT_TEMPFAIL, "cannot read standard input");
	cx_ndjson_close(r);
	jv_free(b.done);
	jv_free(b.failed);
	free(b.lines);
	free(b.lens);
	return rc < 0 ? -1 : 0;
}

/* ---- the source -------------------------------------------------------- */

static const cx_opt gcal_opts[] = {
	{ "calendar", 'c', CX_SOURCE_O_CALENDAR, "ID", "the calendar id, e.g. primary (required)" },
	CX_SOURCE_OPT_CONFIG,
	CX_SOURCE_OPT_DB,
	{ "full", 0, CX_SOURCE_O_FULL, NULL, "list every event again instead of the changes since the last run" },
	CX_SOURCE_OPT_NO_PROGRESS,
	GCAL_OPT_PAGE_SIZE,
	{ "workspace", 'w', CX_SOURCE_O_WORKSPACE, "W", "whose Google credential to use (required)" },
	CX_SOURCE_OPT_END,
};

static const cx_cmd cmd_gcal = { "cx-sync google-calendar",
	"--workspace W --calendar ID [--full] [--page-size N] [--no-progress] [--db PATH]",
	"Mirror a Google calendar: events.list, then only the changes since the last run.",
	gcal_opts };

static const char *gcal_check(const cx_source_conf *c)
{
	if (!c->workspace || !*c->workspace || !c->calendar || !*c->calendar)
		return "--workspace W and --calendar ID";
	return NULL;
}

static int gcal_run(cx_store *s, const cx_source_conf *c, cx_err *err)
{
	return gcal_sync(s, c->workspace, c->calendar, c->full, c->page_size, NULL, err);
}

const cx_source gcal_source = {
	SOURCE, &cmd_gcal, "events", gcal_check, gcal_run,
};
