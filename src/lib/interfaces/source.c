/* source.c: what every sync source shares: the envelope of cx-sync's event
 * lines, the end of a calendar run, the progress line, and the helpers for
 * leases, upstream errors and endpoints. */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "accounts.h"
#include "clock.h"
#include "config.h"
#include "exit.h"
#include "inbox.h"
#include "json.h"
#include "log.h"
#include "ndjson.h"
#include "source.h"
#include "sync.h"
#include "xalloc.h"

cx_progress sync_progress;

int sync_out_init(sync_out *o, cx_store *s, const char *source, const char *channel,
    const char *account, const sync_origin *origin, const char *mode,
    cx_err *err)
{
	char now[CX_RFC3339_LEN], id[CX_CORRELATION_ID_LEN];
	jv src;

	memset(o, 0, sizeof *o);
	o->tenant = cx_accounts_tenant(s, channel, account, err);
	if (!o->tenant)
		return -1;
	src = jv_object_set(jv_object(), jv_string("sync"), jv_string(source));
	o->channel = cx_xstrdup(channel);
	o->account = cx_xstrdup(account);
	if (origin && origin->correlation_id) {
		o->correlation_id = jv_string(origin->correlation_id);
	} else {
		cx_inbox_new_correlation_id(id);
		o->correlation_id = jv_string(id);
	}
	if (mode)
		src = jv_object_set(src, jv_string("mode"), jv_string(mode));
	if (origin && jv_get_kind(origin->source) == JV_KIND_OBJECT)
		src = jv_object_merge(src, jv_copy(origin->source));
	o->source = src;
	cx_clock_rfc3339(cx_clock_now(), -1, now);
	o->received_at = jv_string(now);
	return 0;
}

/* ts (an RFC 3339 string, consumed) as whole seconds with Z, or null. */
static jv occurred_at(jv ts)
{
	char buf[CX_RFC3339_LEN];
	int64_t secs;
	int ok = jv_get_kind(ts) == JV_KIND_STRING &&
	    cx_clock_parse_rfc3339(jv_string_value(ts), &secs) == 0;

	jv_free(ts);
	if (!ok)
		return jv_null();
	cx_clock_rfc3339(secs, -1, buf);
	return jv_string(buf);
}

void sync_out_item(jv item, void *ctx)
{
	sync_out *o = ctx;
	jv ev = jv_object_set(jv_object(), jv_string("v"), jv_number(1));

	ev = jv_object_set(ev, jv_string("type"), jv_object_get(jv_copy(item),
	    jv_string("type")));
	ev = jv_object_set(ev, jv_string("dedupe_key"), jv_object_get(jv_copy(item),
	    jv_string("dedupe_key")));
	ev = jv_object_set(ev, jv_string("channel"), jv_string(o->channel));
	ev = jv_object_set(ev, jv_string("provider"), jv_string(o->channel));
	ev = jv_object_set(ev, jv_string("tenant"), jv_string(o->tenant));
	ev = jv_object_set(ev, jv_string("account"), jv_string(o->account));
	ev = jv_object_set(ev, jv_string("occurred_at"), occurred_at(
	    jv_object_get(jv_copy(item), jv_string("ts"))));
	ev = jv_object_set(ev, jv_string("received_at"), jv_copy(o->received_at));
	ev = jv_object_set(ev, jv_string("correlation_id"), jv_copy(o->correlation_id));
	ev = jv_object_set(ev, jv_string("source"), jv_copy(o->source));
	ev = jv_object_set(ev, jv_string("data"), jv_object_get(item, jv_string("data")));
	cx_ndjson_write(ev);
	o->lines++;
}

int sync_out_flush(cx_err *err)
{
	if (cx_ndjson_flush() < 0)
		return cx_err_set(err, CX_EXIT_TEMPFAIL,
		    "standard output is closed; nothing was recorded, the next run "
		    "emits the same events");
	return 0;
}

void sync_out_free(sync_out *o)
{
	free(o->channel);
	free(o->account);
	free(o->tenant);
	jv_free(o->correlation_id);
	jv_free(o->source);
	jv_free(o->received_at);
	memset(o, 0, sizeof *o);
}

int sync_calendar_finish(cx_store *s, const char *source, cx_sync_lease *lease,
    cx_calendar_sync *cs, const char *key, const char *calendar_id,
    const char *cursor, const char *mode, const sync_origin *origin,
    int64_t started, int64_t requests, cx_err *err)
{
	int full = cx_calendar_sync_is_full(cs);
	cx_calendar_counts counts;
	sync_out out;
	jv f;
	int rc;

	if (sync_out_init(&out, s, source, source, calendar_id, origin, full ? "full" : "incremental",
	    err) < 0)
		return -1;
	rc = cx_calendar_sync_changes(cs, sync_out_item, &out, &counts, err);
	if (rc == 0)
		rc = sync_out_flush(err);
	sync_out_free(&out);
	if (rc < 0 || cx_store_begin(s, err) < 0)
		return -1;
	if (cx_sync_lease_check(lease, err) < 0 || cx_calendar_sync_apply(cs, err) < 0 ||
	    cx_sync_cursor_put(s, source, key, cursor, mode, full, 0, err) < 0 ||
	    cx_sync_count_run(s, source, full, counts.created, counts.updated,
	    counts.deleted, cx_clock_mono_ms() - started, err) < 0) {
		cx_store_rollback(s);
		return -1;
	}
	if (cx_store_commit(s, err) < 0)
		return -1;
	f = jv_object_set(jv_object(), jv_string("calendar_id"), jv_string(calendar_id));
	f = jv_object_set(f, jv_string("mode"), jv_string(full ? "full" : "incremental"));
	f = jv_object_set(f, jv_string("requests"), jv_number((double)requests));
	f = jv_object_set(f, jv_string("listed"), jv_number((double)counts.listed));
	f = jv_object_set(f, jv_string("created"), jv_number((double)counts.created));
	f = jv_object_set(f, jv_string("updated"), jv_number((double)counts.updated));
	f = jv_object_set(f, jv_string("deleted"), jv_number((double)counts.deleted));
	f = jv_object_set(f, jv_string("latency_ms"), jv_number((double)(
	    cx_clock_mono_ms() - started)));
	cx_log(CX_LOG_INFO, f, "synced %s", calendar_id);
	return 0;
}

int sync_lease_ttl(int64_t *ttl, cx_err *err)
{
	if (cx_config_int("CX_SYNC_LEASE_SECONDS", SYNC_LEASE_DEFAULT, ttl, err) < 0)
		return -1;
	if (*ttl <= 0)
		return cx_err_set(err, CX_EXIT_CONFIG, "CX_SYNC_LEASE_SECONDS must be positive");
	return 0;
}

int sync_upstream_error(cx_store *s, const char *source, const char *what,
    const cx_http_response *resp, const char *reason, cx_err *err)
{
	char status[16];
	cx_err ignored;
	int code;

	snprintf(status, sizeof status, "%ld", resp->status);
	cx_sync_count_error(s, source, status, &ignored);
	if (resp->status == 401 || resp->status == 403)
		code = CX_EXIT_NOPERM;
	else if (resp->status == 404)
		code = CX_EXIT_CONFIG;
	else if (resp->status == 429 || resp->status >= 500)
		code = CX_EXIT_TEMPFAIL;
	else
		code = CX_EXIT_UNAVAILABLE;
	return cx_err_set(err, code, "%s: HTTP %ld%s%s", what, resp->status,
	    reason ? " " : "", reason ? reason : "");
}

int sync_transport_error(cx_store *s, const char *source, cx_err *err)
{
	cx_err ignored;

	cx_sync_count_error(s, source, "transport", &ignored);
	if (!err->code)
		err->code = CX_EXIT_TEMPFAIL;
	return -1;
}

char *sync_escape(const char *segment)
{
	char *e = curl_easy_escape(NULL, segment, 0);
	char *out = cx_xstrdup(e ? e : "");

	curl_free(e);
	return out;
}
