/* emaildomains.c: the email_domains table, one row per domain with its last
 * check, written with its audit row and counter in one transaction. */
#include <stdlib.h>

#include "audit.h"
#include "clock.h"
#include "emaildomains.h"
#include "json.h"
#include "metrics.h"

static const char sql_record[] =
    "INSERT INTO email_domains (domain, provider, ok, report, checked_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (domain) DO UPDATE SET"
    " provider = excluded.provider, ok = excluded.ok, report = excluded.report,"
    " checked_at = excluded.checked_at";

int cx_email_domains_record(cx_store *s, const char *domain, const char *provider,
    int ok, jv report, cx_err *err)
{
	cx_audit_entry e = { .action = "email_domain_checked", .subject = domain };
	char *json = cx_json_dump(report), *labels;
	cx_stmt *st;
	int rc;

	if (cx_store_begin(s, err) < 0) {
		free(json);
		return -1;
	}
	if (!(st = cx_store_prepare(s, sql_record, err)))
		goto fail;
	cx_stmt_text(st, 1, domain);
	cx_stmt_text(st, 2, provider);
	cx_stmt_int(st, 3, ok != 0);
	cx_stmt_text(st, 4, json);
	cx_stmt_int(st, 5, cx_clock_now());
	if (cx_stmt_run(st, err) < 0)
		goto fail;
	e.detail = jv_object_set(jv_object(), jv_string("provider"), jv_string(provider));
	e.detail = jv_object_set(e.detail, jv_string("ok"), jv_bool(ok));
	if (cx_audit_append(s, &e, err) < 0)
		goto fail;
	labels = cx_metrics_labels("provider", provider, "result", ok ? "ok" : "failed", NULL);
	rc = cx_metrics_add(s, "cx_email_domain_checks_total", labels, 1, err);
	free(labels);
	if (rc < 0 || cx_store_commit(s, err) < 0)
		goto fail;
	free(json);
	return 0;
fail:
	free(json);
	cx_store_rollback(s);
	return -1;
}

static const char sql_status[] =
    "SELECT ok, checked_at FROM email_domains WHERE domain = ?1";

int cx_email_domains_status(cx_store *s, const char *domain, int *checked, int *ok,
    int64_t *at, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_status, err);
	int rc;

	*checked = *ok = 0;
	*at = 0;
	if (!st)
		return -1;
	cx_stmt_text(st, 1, domain);
	if ((rc = cx_stmt_step(st, err)) == 1) {
		*checked = 1;
		*ok = cx_stmt_col_int(st, 0) != 0;
		*at = cx_stmt_col_int(st, 1);
	}
	cx_stmt_reset(st);
	return rc < 0 ? -1 : 0;
}
