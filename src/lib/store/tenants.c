/* tenants.c: the tenants table (plans, From, quota), the channels paused per
 * tenant, and what `cx tenants show` gathers about one. Changes made for an
 * operator (set, resume) check the role and audit in their own transaction;
 * a pause joins the caller's. */
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "channelfailures.h"
#include "clock.h"
#include "emaildomains.h"
#include "exit.h"
#include "metrics.h"
#include "operators.h"
#include "tenants.h"
#include "xalloc.h"

static const char *const plans[] = { "default", "premium", "advanced", "expert", NULL };

int cx_tenants_valid_name(const char *name, cx_err *err)
{
	size_t n = name ? strlen(name) : 0;

	if (n >= 1 && n <= 64 && strspn(name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n)
		return 1;
	cx_err_set(err, CX_EXIT_USAGE, "'%s' is not a tenant name (1 to 64 of A-Z a-z 0-9 _ -)",
	    name ? name : "");
	return 0;
}

int cx_tenants_valid_plan(const char *plan, cx_err *err)
{
	for (const char *const *p = plans; plan && *p; p++)
		if (strcmp(plan, *p) == 0)
			return 1;
	cx_err_set(err, CX_EXIT_USAGE, "'%s' is not an e-mail plan (default, premium, "
	    "advanced or expert)", plan ? plan : "");
	return 0;
}

static const char sql_get[] =
    "SELECT email_plan, email_from, coalesce(email_daily_quota, -1) FROM tenants"
    " WHERE name = ?1";

int cx_tenants_get(cx_store *s, const char *name, cx_tenant *out, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_get, err);
	int rc;

	memset(out, 0, sizeof *out);
	if (!st)
		return -1;
	cx_stmt_text(st, 1, name);
	if ((rc = cx_stmt_step(st, err)) < 0)
		return -1;
	out->name = cx_xstrdup(name);
	out->listed = rc == 1;
	out->email_plan = cx_xstrdup(rc == 1 ? cx_stmt_col_text(st, 0) : "default");
	out->email_from = rc == 1 ? cx_stmt_col_dup(st, 1) : NULL;
	out->email_daily_quota = rc == 1 ? cx_stmt_col_int(st, 2) : -1;
	cx_stmt_reset(st);
	return 0;
}

void cx_tenant_free(cx_tenant *t)
{
	free(t->name);
	free(t->email_plan);
	free(t->email_from);
	memset(t, 0, sizeof *t);
}

static jv quota_jv(int64_t quota)
{
	return quota < 0 ? jv_null() : jv_number((double)quota);
}

static jv settings_jv(const cx_tenant *t)
{
	jv o = jv_object_set(jv_object(), jv_string("email_plan"), jv_string(t->email_plan));

	o = jv_object_set(o, jv_string("email_from"),
	    t->email_from ? jv_string(t->email_from) : jv_null());
	return jv_object_set(o, jv_string("email_daily_quota"), quota_jv(t->email_daily_quota));
}

static const char sql_upsert[] =
    "INSERT INTO tenants (name, email_plan, email_from, email_daily_quota, created_at,"
    " updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (name) DO UPDATE SET"
    " email_plan = excluded.email_plan, email_from = excluded.email_from,"
    " email_daily_quota = excluded.email_daily_quota, updated_at = excluded.updated_at";

/* Writes t (its settings merged already) and its audit row. */
static int write_tenant(cx_store *s, const cx_tenant *t, jv previous, const char *actor,
    cx_err *err)
{
	cx_audit_entry e = { .action = "tenant_updated", .actor = actor, .subject = t->name };
	cx_stmt *st = cx_store_prepare(s, sql_upsert, err);

	if (!st) {
		jv_free(previous);
		return -1;
	}
	cx_stmt_text(st, 1, t->name);
	cx_stmt_text(st, 2, t->email_plan);
	cx_stmt_text(st, 3, t->email_from);
	if (t->email_daily_quota < 0)
		cx_stmt_null(st, 4);
	else
		cx_stmt_int(st, 4, t->email_daily_quota);
	cx_stmt_int(st, 5, cx_clock_now());
	if (cx_stmt_run(st, err) < 0) {
		jv_free(previous);
		return -1;
	}
	e.detail = jv_object_set(settings_jv(t), jv_string("previous"), previous);
	return cx_audit_append(s, &e, err);
}

int cx_tenants_set(cx_store *s, const char *name, const char *plan, const char *from,
    int64_t quota, const char *actor, cx_err *err)
{
	cx_tenant t;
	jv previous;

	if (!cx_tenants_valid_name(name, err) || (plan && !cx_tenants_valid_plan(plan, err)))
		return -1;
	if (quota < -2)
		return cx_err_set(err, CX_EXIT_USAGE, "a daily quota is a count of messages");
	if (cx_operators_begin_admin(s, actor, "tenant_change_denied", "change tenants",
	    name, err) < 0)
		return -1;
	if (cx_tenants_get(s, name, &t, err) < 0) {
		cx_store_rollback(s);
		return -1;
	}
	previous = t.listed ? settings_jv(&t) : jv_null();
	if (plan) {
		free(t.email_plan);
		t.email_plan = cx_xstrdup(plan);
	}
	if (from) {
		free(t.email_from);
		t.email_from = cx_xstrdup(from);
	}
	if (quota != -2)
		t.email_daily_quota = quota;
	if (write_tenant(s, &t, previous, actor, err) < 0 || cx_store_commit(s, err) < 0) {
		cx_tenant_free(&t);
		cx_store_rollback(s);
		return -1;
	}
	cx_tenant_free(&t);
	return 0;
}

/* The columns every listing gives: name, plan, from, quota, paused channels. */
#define SQL_TENANT_COLUMNS \
    "SELECT n.name, coalesce(t.email_plan, 'default'), t.email_from," \
    " coalesce(t.email_daily_quota, -1), t.name IS NOT NULL," \
    " (SELECT json_group_array(channel) FROM (SELECT channel FROM tenant_pauses p" \
    "  WHERE p.tenant = n.name ORDER BY channel))" \
    " FROM (SELECT name FROM tenants UNION SELECT tenant FROM tenant_pauses) AS n" \
    " LEFT JOIN tenants t ON t.name = n.name"

static const char sql_list[] = SQL_TENANT_COLUMNS " ORDER BY n.name";

static jv tenant_row(cx_stmt *st)
{
	jv row = jv_object_set(jv_object(), jv_string("name"), cx_stmt_col_jv(st, 0));

	row = jv_object_set(row, jv_string("email_plan"), cx_stmt_col_jv(st, 1));
	row = jv_object_set(row, jv_string("email_from"), cx_stmt_col_jv(st, 2));
	row = jv_object_set(row, jv_string("email_daily_quota"),
	    quota_jv(cx_stmt_col_int(st, 3)));
	row = jv_object_set(row, jv_string("listed"), jv_bool(cx_stmt_col_int(st, 4)));
	return jv_object_set(row, jv_string("paused"), jv_parse(cx_stmt_col_text(st, 5)));
}

int cx_tenants_list(cx_store *s, void (*each)(jv row, void *ctx), void *ctx, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_list, err);
	int rc;

	if (!st)
		return -1;
	while ((rc = cx_stmt_step(st, err)) == 1)
		each(tenant_row(st), ctx);
	cx_stmt_reset(st);
	return rc;
}

static const char sql_pauses[] =
    "SELECT channel, error_code, reason, paused_at FROM tenant_pauses"
    " WHERE tenant = ?1 ORDER BY channel";

static int pauses_of(cx_store *s, const char *name, jv *out, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_pauses, err);
	int rc;

	*out = jv_array();
	if (!st)
		return -1;
	cx_stmt_text(st, 1, name);
	while ((rc = cx_stmt_step(st, err)) == 1) {
		jv p = jv_object_set(jv_object(), jv_string("channel"), cx_stmt_col_jv(st, 0));

		p = jv_object_set(p, jv_string("error_code"), cx_stmt_col_jv(st, 1));
		p = jv_object_set(p, jv_string("reason"), cx_stmt_col_jv(st, 2));
		p = jv_object_set(p, jv_string("paused_at"), cx_stmt_col_time(st, 3));
		*out = jv_array_append(*out, p);
	}
	cx_stmt_reset(st);
	return rc;
}

/* The last check of the domain of from (an addr-spec), or null. */
static int domain_check_of(cx_store *s, const char *from, jv *out, cx_err *err)
{
	const char *at = from ? strrchr(from, '@') : NULL;
	char *domain, ts[CX_RFC3339_LEN];
	int checked = 0, ok = 0;
	int64_t when = 0;

	*out = jv_null();
	if (!at || !at[1])
		return 0;
	domain = cx_xstrdup(at + 1);
	for (char *p = domain; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	if (cx_email_domains_status(s, domain, &checked, &ok, &when, err) < 0) {
		free(domain);
		return -1;
	}
	if (checked) {
		cx_clock_rfc3339(when, -1, ts);
		*out = jv_object_set(jv_object(), jv_string("domain"), jv_string(domain));
		*out = jv_object_set(*out, jv_string("ok"), jv_bool(ok));
		*out = jv_object_set(*out, jv_string("checked_at"), jv_string(ts));
	}
	free(domain);
	return 0;
}

int cx_tenants_show(cx_store *s, const char *name, jv *out, cx_err *err)
{
	cx_tenant t;
	jv pauses, check, paused = jv_array();

	if (!cx_tenants_valid_name(name, err) || cx_tenants_get(s, name, &t, err) < 0)
		return -1;
	if (pauses_of(s, name, &pauses, err) < 0 ||
	    domain_check_of(s, t.email_from, &check, err) < 0) {
		jv_free(pauses);
		jv_free(paused);
		cx_tenant_free(&t);
		return -1;
	}
	jv_array_foreach(pauses, i, p) {
		paused = jv_array_append(paused, jv_object_get(p, jv_string("channel")));
		(void)i;
	}
	*out = jv_object_set(jv_object(), jv_string("name"), jv_string(name));
	*out = jv_object_merge(*out, settings_jv(&t));
	*out = jv_object_set(*out, jv_string("listed"), jv_bool(t.listed));
	*out = jv_object_set(*out, jv_string("paused"), paused);
	*out = jv_object_set(*out, jv_string("pauses"), pauses);
	*out = jv_object_set(*out, jv_string("email_domain_check"), check);
	cx_tenant_free(&t);
	return 0;
}

static const char sql_pause[] =
    "INSERT INTO tenant_pauses (tenant, channel, reason, error_code, paused_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (tenant, channel) DO NOTHING";

int cx_tenants_pause(cx_store *s, const char *tenant, const char *channel,
    const char *error_code, const char *reason, int *paused, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_pause, err);

	*paused = 0;
	if (!st)
		return -1;
	cx_stmt_text(st, 1, tenant);
	cx_stmt_text(st, 2, channel);
	cx_stmt_text(st, 3, reason ? reason : "");
	cx_stmt_text(st, 4, error_code ? error_code : "");
	cx_stmt_int(st, 5, cx_clock_now());
	if (cx_stmt_run(st, err) < 0)
		return -1;
	*paused = cx_store_changes(s) == 1;
	return 0;
}

static const char sql_paused[] =
    "SELECT error_code, reason FROM tenant_pauses WHERE tenant = ?1 AND channel = ?2";

int cx_tenants_paused(cx_store *s, const char *tenant, const char *channel,
    char **error_code, char **reason, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_paused, err);
	int rc;

	*error_code = *reason = NULL;
	if (!st)
		return -1;
	cx_stmt_text(st, 1, tenant);
	cx_stmt_text(st, 2, channel);
	if ((rc = cx_stmt_step(st, err)) == 1) {
		*error_code = *cx_stmt_col_text(st, 0) ? cx_stmt_col_dup(st, 0) : NULL;
		*reason = *cx_stmt_col_text(st, 1) ? cx_stmt_col_dup(st, 1) : NULL;
	}
	cx_stmt_reset(st);
	return rc;
}

static const char sql_resume[] =
    "DELETE FROM tenant_pauses WHERE tenant = ?1 AND channel = ?2";
/* What the pause held back goes with the next run. */
static const char sql_release_queue[] =
    "UPDATE queue SET next_attempt_at = ?3, updated_at = ?3 WHERE tenant = ?1"
    " AND channel = ?2 AND state = 'approved' AND error_code = 'TENANT_PAUSED'";
static const char sql_release_commands[] =
    "UPDATE publish_commands SET next_attempt_at = ?3, updated_at = ?3 WHERE tenant = ?1"
    " AND channel = ?2 AND state = 'approved' AND error_code = 'TENANT_PAUSED'";

/* Releases the items the pause held back; a breaker's or a disabled
 * channel's gauge goes down, and its failures in a row start again. */
static int release(cx_store *s, const char *tenant, const char *channel,
    const char *code, cx_err *err)
{
	const char *const sqls[] = { sql_release_queue, sql_release_commands };
	int rc = 0;

	for (size_t i = 0; i < 2; i++) {
		cx_stmt *st = cx_store_prepare(s, sqls[i], err);

		if (!st)
			return -1;
		cx_stmt_text(st, 1, tenant);
		cx_stmt_text(st, 2, channel);
		cx_stmt_int(st, 3, cx_clock_now());
		if (cx_stmt_run(st, err) < 0)
			return -1;
	}
	if (code && strcmp(code, "REPUTATION_BREAKER") == 0) {
		char *labels = cx_metrics_labels("tenant", tenant, NULL);

		rc = cx_metrics_add(s, "cx_email_breaker_open", labels, -1, err);
		free(labels);
	}
	if (rc == 0 && code && strcmp(code, CX_DELIVERY_FAILURES) == 0) {
		char *labels = cx_metrics_labels("tenant", tenant, "channel", channel, NULL);

		rc = cx_metrics_add(s, "cx_channel_disabled", labels, -1, err);
		free(labels);
	}
	return rc == 0 ? cx_channel_failures_reset(s, tenant, channel, err) : rc;
}

int cx_tenants_resume(cx_store *s, const char *tenant, const char *channel,
    const char *actor, int *was, cx_err *err)
{
	cx_audit_entry e = { .action = "tenant_resumed", .actor = actor, .subject = tenant };
	char *code = NULL, *reason = NULL;
	cx_stmt *st;

	*was = 0;
	if (!cx_tenants_valid_name(tenant, err) || cx_store_begin(s, err) < 0)
		return -1;
	if (cx_operators_check(s, actor, CX_ROLE_ADMIN, "tenant_change_denied",
	    "resume tenants", tenant, err) < 0)
		return cx_operators_end_refused(s, err);
	if ((*was = cx_tenants_paused(s, tenant, channel, &code, &reason, err)) < 0 ||
	    !(st = cx_store_prepare(s, sql_resume, err)))
		goto fail;
	cx_stmt_text(st, 1, tenant);
	cx_stmt_text(st, 2, channel);
	if (cx_stmt_run(st, err) < 0)
		goto fail;
	if (*was) {
		e.detail = jv_object_set(jv_object(), jv_string("channel"), jv_string(channel));
		e.detail = jv_object_set(e.detail, jv_string("error_code"),
		    code ? jv_string(code) : jv_null());
		e.detail = jv_object_set(e.detail, jv_string("reason"),
		    reason ? jv_string(reason) : jv_null());
		if (cx_audit_append(s, &e, err) < 0 || release(s, tenant, channel, code, err) < 0)
			goto fail;
	}
	if (cx_store_commit(s, err) < 0)
		goto fail;
	free(code);
	free(reason);
	return 0;
fail:
	free(code);
	free(reason);
	if (*was < 0)
		*was = 0;
	cx_store_rollback(s);
	return -1;
}
