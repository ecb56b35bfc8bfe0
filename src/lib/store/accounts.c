/* accounts.c: the accounts table (channel, account) -> tenant, and the
 * tenant an unmapped account gets. */
#include <jv.h>

#include "accounts.h"
#include "audit.h"
#include "xalloc.h"

static const char sql_set[] =
    "INSERT INTO accounts (channel, account, tenant) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (channel, account) DO UPDATE SET tenant = excluded.tenant";

int cx_accounts_set(cx_store *s, const char *channel, const char *account,
    const char *tenant, cx_err *err)
{
	cx_audit_entry e = { .action = "account_mapped", .subject = account };
	cx_stmt *st;

	if (cx_store_begin(s, err) < 0)
		return -1;
	st = cx_store_prepare(s, sql_set, err);
	if (!st)
		goto fail;
	cx_stmt_text(st, 1, channel);
	cx_stmt_text(st, 2, account);
	cx_stmt_text(st, 3, tenant);
	if (cx_stmt_run(st, err) < 0)
		goto fail;
	e.detail = jv_object_set(jv_object(), jv_string("channel"), jv_string(channel));
	e.detail = jv_object_set(e.detail, jv_string("tenant"), jv_string(tenant));
	if (cx_audit_append(s, &e, err) < 0)
		goto fail;
	return cx_store_commit(s, err);
fail:
	cx_store_rollback(s);
	return -1;
}

/* A mapping wins; else a listed tenant named like the account (`cx tenants
 * set acme` makes workspace acme's items acme's); else "default". */
static const char sql_get[] =
    "SELECT coalesce((SELECT tenant FROM accounts WHERE channel = ?1 AND account = ?2),"
    " (SELECT name FROM tenants WHERE name = ?2), 'default')";

char *cx_accounts_tenant(cx_store *s, const char *channel, const char *account,
    cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_get, err);
	char *tenant;
	int rc;

	if (!st)
		return NULL;
	cx_stmt_text(st, 1, channel);
	cx_stmt_text(st, 2, account);
	rc = cx_stmt_step(st, err);
	if (rc < 0)
		return NULL;
	tenant = cx_xstrdup(rc == 1 ? cx_stmt_col_text(st, 0) : "default");
	cx_stmt_reset(st);
	return tenant;
}

static const char sql_list[] =
    "SELECT channel, account, tenant FROM accounts ORDER BY channel, account";

int cx_accounts_list(cx_store *s, void (*each)(jv row, void *ctx), void *ctx,
    cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_list, err);
	int rc;

	if (!st)
		return -1;
	while ((rc = cx_stmt_step(st, err)) == 1) {
		jv row = jv_object();

		row = jv_object_set(row, jv_string("channel"), jv_string(cx_stmt_col_text(st, 0)));
		row = jv_object_set(row, jv_string("account"), jv_string(cx_stmt_col_text(st, 1)));
		row = jv_object_set(row, jv_string("tenant"), jv_string(cx_stmt_col_text(st, 2)));
		each(row, ctx);
	}
	cx_stmt_reset(st);
	return rc;
}
