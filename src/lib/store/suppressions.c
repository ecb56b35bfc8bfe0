/* suppressions.c: the email_suppressions table. put joins the caller's
 * transaction (the feedback stage audits and counts with its own event);
 * add and remove are an operator's, role-checked and audited. */
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "clock.h"
#include "exit.h"
#include "metrics.h"
#include "operators.h"
#include "suppressions.h"
#include "tenants.h"
#include "xalloc.h"

/* ASCII lower case, as the table stores addresses. A new string. */
static char *lower(const char *s)
{
	char *out = cx_xstrdup(s);

	for (char *p = out; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return out;
}

static const char sql_put[] =
    "INSERT INTO email_suppressions (scope, address, reason, source, created_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (scope, address) DO NOTHING";

int cx_suppressions_put(cx_store *s, const char *scope, const char *address,
    const char *reason, const char *source, int *added, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_put, err);
	char *addr = lower(address), *labels;
	int rc;

	*added = 0;
	if (!st) {
		free(addr);
		return -1;
	}
	cx_stmt_text(st, 1, scope);
	cx_stmt_text(st, 2, addr);
	cx_stmt_text(st, 3, reason);
	cx_stmt_text(st, 4, source);
	cx_stmt_int(st, 5, cx_clock_now());
	rc = cx_stmt_run(st, err);
	free(addr);
	if (rc < 0 || cx_store_changes(s) != 1)
		return rc;
	*added = 1;
	labels = cx_metrics_labels("scope", scope, "source",
	    strncmp(source, "feedback:", 9) == 0 ? source : "operator", NULL);
	rc = cx_metrics_add(s, "cx_email_suppressions_total", labels, 1, err);
	free(labels);
	return rc;
}

/* A scope an operator may name: a tenant, or the shared default-plan one. */
static int scope_ok(const char *scope, cx_err *err)
{
	return (scope && strcmp(scope, CX_SUPPRESS_DEFAULT_PLAN) == 0) ||
	    cx_tenants_valid_name(scope, err);
}

static const char sql_remove[] =
    "DELETE FROM email_suppressions WHERE scope = ?1 AND address = ?2";

/* The change of add or remove, in the open transaction: *changed whether
 * it did anything. */
static int change(cx_store *s, const char *scope, const char *addr, const char *reason,
    const char *actor, int *changed, cx_err *err)
{
	cx_stmt *st;

	if (reason)
		return cx_suppressions_put(s, scope, addr, reason, actor, changed, err);
	if (!(st = cx_store_prepare(s, sql_remove, err)))
		return -1;
	cx_stmt_text(st, 1, scope);
	cx_stmt_text(st, 2, addr);
	if (cx_stmt_run(st, err) < 0)
		return -1;
	*changed = cx_store_changes(s) == 1;
	return 0;
}

/* add (reason set) or remove (reason NULL), as actor. */
static int operator_change(cx_store *s, const char *scope, const char *address,
    const char *reason, const char *actor, int *changed, cx_err *err)
{
	cx_audit_entry e = { .actor = actor };
	char *addr;

	*changed = 0;
	if (!scope_ok(scope, err))
		return -1;
	if (reason && !*reason)
		return cx_err_set(err, CX_EXIT_USAGE, "a suppression needs a reason");
	if (cx_store_begin(s, err) < 0)
		return -1;
	if (cx_operators_check(s, actor, CX_ROLE_ADMIN, "email_suppression_denied",
	    "change the suppression list", scope, err) < 0)
		return cx_operators_end_refused(s, err);
	addr = lower(address);
	e.subject = addr;
	e.action = reason ? "email_suppression_added" : "email_suppression_removed";
	if (change(s, scope, addr, reason, actor, changed, err) < 0)
		goto fail;
	if (*changed) {
		e.detail = jv_object_set(jv_object(), jv_string("scope"), jv_string(scope));
		if (reason)
			e.detail = jv_object_set(e.detail, jv_string("reason"), jv_string(reason));
		if (cx_audit_append(s, &e, err) < 0)
			goto fail;
	}
	free(addr);
	return cx_store_commit(s, err);
fail:
	free(addr);
	cx_store_rollback(s);
	return -1;
}

int cx_suppressions_add(cx_store *s, const char *tenant, const char *address,
    const char *reason, const char *actor, int *changed, cx_err *err)
{
	if (!reason)
		return cx_err_set(err, CX_EXIT_USAGE, "a suppression needs a reason");
	return operator_change(s, tenant, address, reason, actor, changed, err);
}

int cx_suppressions_remove(cx_store *s, const char *tenant, const char *address,
    const char *actor, int *changed, cx_err *err)
{
	return operator_change(s, tenant, address, NULL, actor, changed, err);
}

static const char sql_check[] =
    "SELECT reason FROM email_suppressions WHERE address = ?1"
    " AND (scope = ?2 OR (?3 AND scope = '" CX_SUPPRESS_DEFAULT_PLAN "'))"
    " ORDER BY scope = ?2 DESC LIMIT 1";

int cx_suppressions_check(cx_store *s, const char *tenant, int default_plan,
    const char *address, char **reason, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_check, err);
	char *addr = lower(address);
	int rc;

	*reason = NULL;
	if (!st) {
		free(addr);
		return -1;
	}
	cx_stmt_text(st, 1, addr);
	cx_stmt_text(st, 2, tenant);
	cx_stmt_int(st, 3, default_plan != 0);
	if ((rc = cx_stmt_step(st, err)) == 1)
		*reason = cx_stmt_col_dup(st, 0);
	cx_stmt_reset(st);
	free(addr);
	return rc;
}

static const char sql_list[] =
    "SELECT scope, address, reason, source, created_at FROM email_suppressions"
    " WHERE ?1 IS NULL OR scope = ?1 ORDER BY scope, address";

int cx_suppressions_list(cx_store *s, const char *tenant, void (*each)(jv row, void *ctx),
    void *ctx, cx_err *err)
{
	static const char *const cols[] = { "scope", "address", "reason", "source" };
	cx_stmt *st = cx_store_prepare(s, sql_list, err);
	int rc;

	if (!st)
		return -1;
	cx_stmt_text(st, 1, tenant);
	while ((rc = cx_stmt_step(st, err)) == 1) {
		jv row = jv_object();

		for (int i = 0; i < 4; i++)
			row = jv_object_set(row, jv_string(cols[i]), cx_stmt_col_jv(st, i));
		row = jv_object_set(row, jv_string("created_at"), cx_stmt_col_time(st, 4));
		each(row, ctx);
	}
	cx_stmt_reset(st);
	return rc;
}
