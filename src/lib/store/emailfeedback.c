/* emailfeedback.c: e-mail lifecycle events applied once (emailfeedback.h).
 *
 * An event finds its message by the Message-ID cx set, else by the
 * provider's id (SES replaces the Message-ID with its own); the message gives the item and correlation id for the
 * audit rows when the event lacks them. A hard bounce or a complaint
 * suppresses the recipient at once; soft bounces do after rules->
 * soft_bounces of them in rules->soft_window. Default-plan tenants share
 * one sender reputation, so what one of them suppresses is suppressed for
 * all of them (CX_SUPPRESS_DEFAULT_PLAN). The breaker compares the last
 * 24 hours' hard bounces and complaints with the recipients sent to. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jv.h>

#include "audit.h"
#include "clock.h"
#include "emailfeedback.h"
#include "metrics.h"
#include "suppressions.h"
#include "tenants.h"
#include "xalloc.h"

#define DAY 86400

static const char sql_seen[] =
    "INSERT INTO email_feedback_seen (dedupe_key, at) VALUES (?1, ?2)"
    " ON CONFLICT (dedupe_key) DO NOTHING";
static const char sql_find[] =
    "SELECT message_id, item, correlation_id, tenant FROM email_messages"
    " WHERE message_id = ?1 UNION ALL"
    " SELECT message_id, item, correlation_id, tenant FROM email_messages"
    " WHERE provider_message_id = ?2 LIMIT 1";
static const char sql_status[] =
    "UPDATE email_messages SET status = ?2, updated_at = ?3 WHERE message_id = ?1";
static const char sql_outcome[] =
    "INSERT INTO email_outcomes (tenant, address, kind, message_id, at)"
    " VALUES (?1, ?2, ?3, ?4, ?5)";
static const char sql_soft[] =
    "SELECT count(*) FROM email_outcomes WHERE address = ?1 AND kind = 'bounce_soft'"
    " AND at >= ?2 AND (tenant = ?3 OR ?4)";
static const char sql_sends[] =
    "SELECT coalesce(sum(recipients), 0) FROM email_messages WHERE tenant = ?1"
    " AND sent_at >= ?2 AND status <> 'failed'";
static const char sql_bad[] =
    "SELECT count(*) FILTER (WHERE kind = 'bounce_hard'),"
    " count(*) FILTER (WHERE kind = 'complaint') FROM email_outcomes"
    " WHERE tenant = ?1 AND at >= ?2";

/* The message an event is about: its id, item, correlation id, tenant. */
typedef struct {
	char *message_id, *item, *correlation_id, *tenant;
} found;

static void found_free(found *f)
{
	free(f->message_id);
	free(f->item);
	free(f->correlation_id);
	free(f->tenant);
}

static int find(cx_store *s, const cx_email_event *ev, found *f, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_find, err);
	int rc;

	memset(f, 0, sizeof *f);
	if (!st)
		return -1;
	cx_stmt_text(st, 1, ev->message_id);
	cx_stmt_text(st, 2, ev->provider_message_id);
	if ((rc = cx_stmt_step(st, err)) == 1) {
		f->message_id = cx_stmt_col_dup(st, 0);
		f->item = cx_stmt_col_dup(st, 1);
		f->correlation_id = cx_stmt_col_dup(st, 2);
		f->tenant = cx_stmt_col_dup(st, 3);
	}
	cx_stmt_reset(st);
	return rc < 0 ? -1 : 0;
}

/* The outcome kind of an event, or NULL when it is not one. */
static const char *kind_of(const cx_email_event *ev)
{
	static const char *const map[][2] = {
		{ "email.delivered", "delivered" }, { "email.complained", "complaint" },
		{ "email.rejected", "rejected" }, { "email.delayed", "delayed" },
	};

	if (strcmp(ev->type, "email.bounced") == 0)
		return ev->bounce_type && strcmp(ev->bounce_type, "hard") == 0 ? "bounce_hard" :
		    "bounce_soft";
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcmp(ev->type, map[i][0]) == 0)
			return map[i][1];
	return NULL;
}

/* The counts a query of who (?1), since (?2) and, when tenant is given,
 * tenant (?3) and shared (?4) gives in its first n columns; -1 with err. */
static int counts(cx_store *s, const char *sql, const char *who, int64_t since,
    const char *tenant, int shared, int64_t *out, int n, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql, err);
	int rc;

	if (!st)
		return -1;
	cx_stmt_text(st, 1, who);
	cx_stmt_int(st, 2, since);
	if (tenant) {
		cx_stmt_text(st, 3, tenant);
		cx_stmt_int(st, 4, shared);
	}
	if ((rc = cx_stmt_step(st, err)) == 1)
		for (int i = 0; i < n; i++)
			out[i] = cx_stmt_col_int(st, i);
	cx_stmt_reset(st);
	return rc == 1 ? 0 : -1;
}

static int audit(cx_store *s, const char *action, const cx_email_event *ev,
    const found *f, jv detail, cx_err *err)
{
	cx_audit_entry e = { .action = action, .actor = "cx-publish feedback",
		.correlation_id = ev->correlation_id ? ev->correlation_id : f->correlation_id,
		.subject = f->item ? f->item : ev->message_id };

	detail = jv_object_set(detail, jv_string("tenant"), jv_string(ev->tenant));
	if (ev->recipient)
		detail = jv_object_set(detail, jv_string("recipient"), jv_string(ev->recipient));
	if (f->message_id || ev->message_id)
		detail = jv_object_set(detail, jv_string("message_id"),
		    jv_string(f->message_id ? f->message_id : ev->message_id));
	e.detail = detail;
	return cx_audit_append(s, &e, err);
}

/* Suppresses the recipient where the tenant's plan says. */
static int suppress(cx_store *s, const cx_email_event *ev, const found *f, int shared,
    const char *why, cx_email_effect *out, cx_err *err)
{
	char *source = cx_xasprintf("feedback:%s", ev->type);
	int added = 0, rc;

	rc = cx_suppressions_put(s, shared ? CX_SUPPRESS_DEFAULT_PLAN : ev->tenant,
	    ev->recipient, why, source, &added, err);
	if (rc == 0 && added) {
		out->suppressed = 1;
		rc = audit(s, "email_suppressed", ev, f, jv_object_set(jv_object_set(jv_object(),
		    jv_string("reason"), jv_string(why)), jv_string("scope"),
		    jv_string(shared ? CX_SUPPRESS_DEFAULT_PLAN : ev->tenant)), err);
	}
	free(source);
	return rc;
}

/* Whether the kind suppresses the recipient now. */
static int rules_suppress(cx_store *s, const cx_email_event *ev, const found *f,
    const char *kind, int shared, const cx_email_rules *r, int64_t now,
    cx_email_effect *out, cx_err *err)
{
	int64_t soft = 0;

	if (!ev->recipient)
		return 0;
	if (strcmp(kind, "bounce_hard") == 0)
		return suppress(s, ev, f, shared, "hard_bounce", out, err);
	if (strcmp(kind, "complaint") == 0)
		return suppress(s, ev, f, shared, "complaint", out, err);
	if (strcmp(kind, "bounce_soft") != 0)
		return 0;
	if (counts(s, sql_soft, ev->recipient, now - r->soft_window, ev->tenant, shared, &soft, 1,
	    err) < 0)
		return -1;
	return soft >= r->soft_bounces ? suppress(s, ev, f, shared, "soft_bounces", out, err) : 0;
}

/* The reputation breaker of the tenant, after a bounce or complaint. */
static int breaker(cx_store *s, const cx_email_event *ev, const found *f,
    const cx_email_rules *r, int64_t now, cx_email_effect *out, cx_err *err)
{
	int64_t sends = 0, bad[2] = { 0, 0 }, bounces, complaints;
	char reason[160], *labels;
	int paused = 0, rc;

	if (counts(s, sql_sends, ev->tenant, now - DAY, NULL, 0, &sends, 1, err) < 0 ||
	    counts(s, sql_bad, ev->tenant, now - DAY, NULL, 0, bad, 2, err) < 0)
		return -1;
	bounces = bad[0];
	complaints = bad[1];
	if (sends < r->breaker_min_sends || ((double)bounces <= r->bounce_rate * (double)sends &&
	    (double)complaints <= r->complaint_rate * (double)sends))
		return 0;
	snprintf(reason, sizeof reason, "last 24 h: %lld sends, %lld hard bounces, "
	    "%lld complaints", (long long)sends, (long long)bounces, (long long)complaints);
	if (cx_tenants_pause(s, ev->tenant, "email", "REPUTATION_BREAKER", reason, &paused,
	    err) < 0)
		return -1;
	if (!paused)
		return 0;
	out->paused = 1;
	labels = cx_metrics_labels("tenant", ev->tenant, NULL);
	rc = audit(s, "email_breaker_open", ev, f, jv_object_set(jv_object(),
	    jv_string("reason"), jv_string(reason)), err);
	if (rc == 0)
		rc = cx_metrics_add(s, "cx_email_breaker_open", labels, 1, err);
	free(labels);
	return rc;
}

static int apply(cx_store *s, const cx_email_event *ev, const cx_email_rules *r,
    cx_email_effect *out, cx_err *err)
{
	const char *kind = kind_of(ev);
	int64_t now = cx_clock_now();
	char *labels = cx_metrics_labels("type", ev->type, NULL), action[48];
	cx_tenant t;
	found f;
	cx_stmt *st;
	int rc = -1, shared;

	if (find(s, ev, &f, err) < 0 || cx_tenants_get(s, ev->tenant, &t, err) < 0) {
		found_free(&f);
		free(labels);
		return -1;
	}
	shared = strcmp(t.email_plan, "default") == 0;
	if (f.message_id && kind && (st = cx_store_prepare(s, sql_status, err))) {
		cx_stmt_text(st, 1, f.message_id);
		cx_stmt_text(st, 2, kind);
		cx_stmt_int(st, 3, now);
		if (cx_stmt_run(st, err) < 0)
			goto out;
	}
	if (kind && ev->recipient && (st = cx_store_prepare(s, sql_outcome, err))) {
		cx_stmt_text(st, 1, ev->tenant);
		cx_stmt_text(st, 2, ev->recipient);
		cx_stmt_text(st, 3, kind);
		cx_stmt_text(st, 4, f.message_id ? f.message_id : ev->message_id);
		cx_stmt_int(st, 5, now);
		if (cx_stmt_run(st, err) < 0)
			goto out;
	}
	snprintf(action, sizeof action, "email_%s", strncmp(ev->type, "email.", 6) == 0 ?
	    ev->type + 6 : ev->type);
	if (audit(s, action, ev, &f, jv_object_set(jv_object(),
	    jv_string("type"), jv_string(ev->type)), err) < 0 ||
	    cx_metrics_add(s, "cx_email_events_total", labels, 1, err) < 0 ||
	    (kind && rules_suppress(s, ev, &f, kind, shared, r, now, out, err) < 0) ||
	    (kind && (!strcmp(kind, "bounce_hard") || !strcmp(kind, "complaint")) &&
	    breaker(s, ev, &f, r, now, out, err) < 0))
		goto out;
	rc = 0;
out:
	cx_tenant_free(&t);
	found_free(&f);
	free(labels);
	return rc;
}

int cx_email_feedback_apply(cx_store *s, const cx_email_event *ev,
    const cx_email_rules *rules, cx_email_effect *out, cx_err *err)
{
	cx_stmt *st;

	memset(out, 0, sizeof *out);
	if (cx_store_begin(s, err) < 0)
		return -1;
	if (!(st = cx_store_prepare(s, sql_seen, err)))
		goto fail;
	cx_stmt_text(st, 1, ev->dedupe_key);
	cx_stmt_int(st, 2, cx_clock_now());
	if (cx_stmt_run(st, err) < 0)
		goto fail;
	if (cx_store_changes(s) == 0) {
		cx_store_rollback(s);
		return 0;
	}
	out->applied = 1;
	if (apply(s, ev, rules, out, err) < 0 || cx_store_commit(s, err) < 0)
		goto fail;
	return 0;
fail:
	cx_store_rollback(s);
	memset(out, 0, sizeof *out);
	return -1;
}
