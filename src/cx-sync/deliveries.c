/* deliveries.c: cx-sync deliveries: the status of packages uploaded by
 * cx-publish's upload channel (uploadtarget.h), tracked until final.
 *
 * Per target, under a lease (source "deliveries", key the target): every
 * delivery not final is polled; a status that differs from the stored one
 * is recorded (a delivery_status row and the delivery, one transaction).
 * Then the status rows past the target's cursor are written as
 * delivery.status events, stdout is flushed, and only then is the cursor
 * moved past them. So a change is committed before its event is written,
 * and an event is written before it counts as emitted: a crash before the
 * flush emits it on the next run, a crash between the flush and the
 * cursor's commit emits the same line (same dedupe_key) again, which
 * cx-dedupe drops. The first status, the upload's answer, is recorded by
 * cx-publish and emitted by the next run like any other. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "deliveries.h"
#include "exit.h"
#include "json.h"
#include "log.h"
#include "source.h"
#include "sync.h"
#include "sync_tool.h"
#include "uploadtarget.h"
#include "xalloc.h"

#define SOURCE "deliveries"
#define PAGE 100

typedef struct {
	cx_store *s;
	const char *target;
	upload_target t;
	cx_sync_lease *lease;
	int64_t polled, changed, emitted;
	int64_t lost;             /* deliveries the target no longer knows */
	cx_err failed;            /* why polling stopped (code 0: it did not) */
} target_run;

/* A delivery the target no longer knows: logged, and the others go on. */
static void delivery_lost(target_run *r, const cx_err *err, jv d)
{
	jv f = jv_object_set(jv_object(), jv_string("target"), jv_string(r->target));

	f = jv_object_set(f, jv_string("delivery_id"), jv_object_get(jv_copy(d),
	    jv_string("id")));
	cx_log(CX_LOG_ERROR, f, "%s", err->msg);
	r->lost++;
}

/* Records status (raw as said) of delivery d if it changed. */
static int record(target_run *r, jv d, const char *status, const char *raw, cx_err *err)
{
	jv id = jv_object_get(jv_copy(d), jv_string("id"));
	int64_t n = (int64_t)jv_number_value(id);
	const char *stored = cx_json_str(d, "status");

	jv_free(id);
	r->polled++;
	if (stored && strcmp(stored, status) == 0)
		return cx_deliveries_polled(r->s, n, err);
	if (cx_store_begin(r->s, err) < 0)
		return -1;
	if (cx_sync_lease_check(r->lease, err) < 0 ||
	    cx_deliveries_change(r->s, n, status, raw, upload_target_final(&r->t, status),
	    err) < 0) {
		cx_store_rollback(r->s);
		return -1;
	}
	r->changed++;
	return cx_store_commit(r->s, err);
}

/* Polls delivery d: 0 (a 404 or 410 for it is its own failure), or -1
 * with err when the target cannot be asked now. */
static int poll_one(target_run *r, jv d, cx_err *err)
{
	char *status = NULL, *raw = NULL;
	cx_http_response resp;
	char what[160];
	int rc = upload_target_poll(&r->t, cx_json_str(d, "protocol_id"), &status, &raw,
	    &resp, err);

	snprintf(what, sizeof what, "the status of %.64s at %.64s", cx_json_str(d, "protocol_id"),
	    r->target);
	if (rc == 0) {
		rc = record(r, d, status, raw, err);
	} else if (resp.status == 0) {
		sync_transport_error(r->s, SOURCE, err);
	} else {
		char why[sizeof err->msg];

		snprintf(why, sizeof why, "%s", err->msg);
		if (resp.status >= 200 && resp.status < 300)
			cx_err_set(err, CX_EXIT_UNAVAILABLE, "%s: %s", what, why);
		else
			sync_upstream_error(r->s, SOURCE, what, &resp, NULL, err);
		if (resp.status == 404 || resp.status == 410) {
			delivery_lost(r, err, d);
			rc = 0;
		}
	}
	free(status);
	free(raw);
	cx_http_response_free(&resp);
	return rc < 0 || cx_sync_lease_renew(r->lease, err) < 0 ? -1 : 0;
}

static int poll_all(target_run *r, cx_err *err)
{
	int64_t after = 0;
	size_t n;
	jv page;

	if (!r->t.status_url)
		return cx_err_set(err, CX_EXIT_CONFIG, "deliveries to %s cannot be tracked: "
		    "CX_UPLOAD_STATUS_URL_%s is not set", r->target, r->t.env);
	do {
		if (cx_deliveries_open(r->s, r->target, after, PAGE, &page, err) < 0)
			return -1;
		n = (size_t)jv_array_length(jv_copy(page));
		for (size_t i = 0; i < n; i++) {
			jv d = jv_array_get(jv_copy(page), (int)i);
			int rc = poll_one(r, d, err);

			after = (int64_t)jv_number_value(jv_object_get(d, jv_string("id")));
			if (rc < 0) {
				jv_free(page);
				return -1;
			}
		}
		jv_free(page);
	} while (n == PAGE);
	return 0;
}

/* The delivery.status event of status row row (consumed), through o. */
static void emit_one(sync_out *o, jv row)
{
	char ts[CX_RFC3339_LEN], *key;
	jv item, data = jv_object();
	static const char *const fields[] = { "target", "delivery_id", "protocol_id", "status",
		"raw_status", "sha256", NULL };

	for (int i = 0; fields[i]; i++)
		data = jv_object_set(data, jv_string(fields[i]), jv_object_get(jv_copy(row),
		    jv_string(fields[i])));
	cx_clock_rfc3339((int64_t)jv_number_value(jv_object_get(jv_copy(row),
	    jv_string("at"))), -1, ts);
	key = cx_xasprintf("delivery:%s:%s:status:%lld", cx_json_str(row, "target"),
	    cx_json_str(row, "protocol_id"), (long long)jv_number_value(jv_object_get(
	    jv_copy(row), jv_string("seq"))));
	free(o->tenant);
	o->tenant = cx_xstrdup(cx_json_str(row, "tenant"));
	jv_free(o->correlation_id);
	o->correlation_id = jv_object_get(jv_copy(row), jv_string("correlation_id"));
	item = jv_object_set(jv_object(), jv_string("type"), jv_string("delivery.status"));
	item = jv_object_set(item, jv_string("dedupe_key"), jv_string(key));
	item = jv_object_set(item, jv_string("ts"), jv_string(ts));
	item = jv_object_set(item, jv_string("data"), data);
	sync_out_item(item, o);
	free(key);
	jv_free(row);
}

/* Moves the cursor past seq once its events are out. */
static int emitted(target_run *r, int64_t seq, cx_err *err)
{
	char cursor[32];

	snprintf(cursor, sizeof cursor, "%lld", (long long)seq);
	if (cx_store_begin(r->s, err) < 0)
		return -1;
	if (cx_sync_lease_check(r->lease, err) < 0 ||
	    cx_sync_cursor_put(r->s, SOURCE, r->target, cursor, NULL, 0, 0, err) < 0) {
		cx_store_rollback(r->s);
		return -1;
	}
	return cx_store_commit(r->s, err);
}

/* The status rows past the target's cursor as events, a page at a time. */
static int emit_all(target_run *r, cx_err *err)
{
	char now[CX_RFC3339_LEN];
	cx_sync_cursor cur;
	sync_out o;
	int64_t after;
	int rc = 0;
	size_t n = 0;
	jv page;

	if (cx_sync_cursor_get(r->s, SOURCE, r->target, &cur, err) < 0)
		return -1;
	after = cur.cursor ? strtoll(cur.cursor, NULL, 10) : 0;
	cx_sync_cursor_clear(&cur);
	cx_clock_rfc3339(cx_clock_now(), -1, now);
	/* the envelope of sync_out_item, its tenant and correlation id set per
	 * delivery (emit_one) */
	o = (sync_out){ .channel = cx_xstrdup("upload"), .account = cx_xstrdup(r->target),
		.correlation_id = jv_null(), .source = jv_object_set(jv_object(),
		jv_string("sync"), jv_string(SOURCE)), .received_at = jv_string(now) };
	do {
		if (cx_deliveries_statuses(r->s, r->target, after, PAGE, &page, err) < 0) {
			rc = -1;
			break;
		}
		n = (size_t)jv_array_length(jv_copy(page));
		for (size_t i = 0; i < n; i++) {
			jv row = jv_array_get(jv_copy(page), (int)i);

			after = (int64_t)jv_number_value(jv_object_get(jv_copy(row), jv_string("seq")));
			emit_one(&o, row);
		}
		jv_free(page);
		if (n > 0 && (sync_out_flush(err) < 0 || emitted(r, after, err) < 0))
			rc = -1;
	} while (rc == 0 && n == PAGE);
	r->emitted = o.lines;
	sync_out_free(&o);
	return rc;
}

/* Counts the run (cx_sync_runs_total, the changes as updated). */
static int count_run(target_run *r, int64_t started, cx_err *err)
{
	if (cx_store_begin(r->s, err) < 0)
		return -1;
	if (cx_sync_count_run(r->s, SOURCE, 0, 0, r->changed, 0, cx_clock_mono_ms() - started,
	    err) < 0) {
		cx_store_rollback(r->s);
		return -1;
	}
	return cx_store_commit(r->s, err);
}

/* One target: poll, then emit; the emission happens even when the
 * polling failed, for the changes recorded before. */
static int run_target(cx_store *s, const char *target, cx_err *err)
{
	target_run r = { .s = s, .target = target };
	int64_t ttl, started = cx_clock_mono_ms();
	int rc;
	jv f;

	if (sync_lease_ttl(&ttl, err) < 0 ||
	    (rc = cx_sync_lease_take(s, SOURCE, target, ttl, &r.lease, err)) < 0)
		return -1;
	if (rc == 0)
		return cx_err_set(err, CX_EXIT_TEMPFAIL, "deliveries to %s: another run is "
		    "polling them", target);
	if (upload_target_load(target, &r.t, err) < 0 || poll_all(&r, err) < 0)
		r.failed = *err;
	rc = emit_all(&r, err);
	if (rc == 0)
		rc = count_run(&r, started, err);
	f = jv_object_set(jv_object(), jv_string("target"), jv_string(target));
	f = jv_object_set(f, jv_string("polled"), jv_number((double)r.polled));
	f = jv_object_set(f, jv_string("changed"), jv_number((double)r.changed));
	f = jv_object_set(f, jv_string("emitted"), jv_number((double)r.emitted));
	cx_log(CX_LOG_INFO, f, "tracked the deliveries to %s", target);
	cx_sync_lease_release(r.lease);
	upload_target_free(&r.t);
	if (rc == 0 && r.failed.code) {
		*err = r.failed;
		rc = -1;
	} else if (rc == 0 && r.lost) {
		rc = cx_err_set(err, CX_EXIT_SOME_FAILED, "%lld of the deliveries to %s are not known "
		    "there", (long long)r.lost, target);
	}
	return rc;
}

int deliveries_sync(cx_store *s, const char *target, cx_err *err)
{
	int n, failed = 0;
	jv targets;

	if (cx_deliveries_targets(s, target, &targets, err) < 0)
		return -1;
	n = jv_array_length(jv_copy(targets));
	jv_array_foreach(targets, i, t) {
		cx_err one = { 0, "" };

		if (run_target(s, jv_string_value(t), &one) < 0) {
			failed++;
			if (n == 1)
				*err = one;
			else
				cx_log(CX_LOG_ERROR, jv_object_set(jv_object(), jv_string("target"),
				    jv_copy(t)), "%s", one.msg);
		}
		jv_free(t);
	}
	jv_free(targets);
	if (failed && n > 1)
		cx_err_set(err, CX_EXIT_SOME_FAILED, "the deliveries of %d of %d targets could "
		    "not all be tracked", failed, n);
	return failed ? -1 : 0;
}
