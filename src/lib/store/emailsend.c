/* emailsend.c: admitting an e-mail (quota, rate limits, its row) and
 * recording what became of it. */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "emailsend.h"
#include "exit.h"
#include "xalloc.h"

static const char sql_today[] =
    "SELECT count(*) FROM email_messages WHERE tenant = ?1 AND sent_at >= ?2"
    " AND status <> 'failed' AND message_id <> ?3";
static const char sql_put[] =
    "INSERT INTO email_messages (message_id, provider, tenant, item, correlation_id,"
    " recipients, template_id, template_version, status, sent_at, updated_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'sending', ?9, ?9)"
    " ON CONFLICT (message_id) DO UPDATE SET provider = excluded.provider,"
    " recipients = excluded.recipients, status = 'sending', sent_at = excluded.sent_at,"
    " updated_at = excluded.updated_at";
static const char sql_sent[] =
    "UPDATE email_messages SET status = ?2, provider_message_id = coalesce(?3,"
    " provider_message_id), updated_at = ?4 WHERE message_id = ?1";

static int today_count(cx_store *s, const cx_email_admission *a, int64_t day,
    int64_t *n, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_today, err);
	int rc;

	if (!st)
		return -1;
	cx_stmt_text(st, 1, a->tenant);
	cx_stmt_int(st, 2, day);
	cx_stmt_text(st, 3, a->message_id);
	if ((rc = cx_stmt_step(st, err)) < 0)
		return -1;
	*n = rc == 1 ? cx_stmt_col_int(st, 0) : 0;
	cx_stmt_reset(st);
	return 0;
}

/* One token of bucket prefix+name; *wait_ms > 0 when there was none. */
static int take(cx_store *s, const char *prefix, const char *name,
    const cx_ratelimit *limit, int64_t *wait_ms, cx_err *err)
{
	char *key = cx_xasprintf("%s%s", prefix, name);
	int granted = 0, rc;

	*wait_ms = 0;
	rc = cx_ratelimit_take_in(s, key, limit, 1, &granted, wait_ms, err);
	free(key);
	if (rc == 0 && granted == 1)
		*wait_ms = 0;
	else if (rc == 0 && *wait_ms <= 0)
		*wait_ms = 1;
	return rc;
}

/* Tokens for every recipient and each distinct domain; *wait_ms > 0 (the
 * longest wait) when one is missing. */
static int take_all(cx_store *s, const cx_email_admission *a, int64_t *wait_ms,
    cx_err *err)
{
	*wait_ms = 0;
	for (size_t i = 0; a->recipients[i]; i++) {
		const char *at = strrchr(a->recipients[i], '@');
		int64_t w = 0, seen = 0;

		for (size_t k = 0; k < i && at; k++) {
			const char *other = strrchr(a->recipients[k], '@');

			seen |= other && strcmp(other, at) == 0;
		}
		if (at && !seen && take(s, "email-domain:", at + 1, &a->per_domain, &w, err) < 0)
			return -1;
		if (w > *wait_ms)
			*wait_ms = w;
		if (take(s, "email-recipient:", a->recipients[i], &a->per_recipient, &w, err) < 0)
			return -1;
		if (w > *wait_ms)
			*wait_ms = w;
	}
	return 0;
}

static int put(cx_store *s, const cx_email_admission *a, int64_t now, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_put, err);
	int64_t n = 0;

	if (!st)
		return -1;
	while (a->recipients[n])
		n++;
	cx_stmt_text(st, 1, a->message_id);
	cx_stmt_text(st, 2, a->provider);
	cx_stmt_text(st, 3, a->tenant);
	cx_stmt_text(st, 4, a->item);
	cx_stmt_text(st, 5, a->correlation_id);
	cx_stmt_int(st, 6, n);
	cx_stmt_text(st, 7, a->template_id);
	cx_stmt_text(st, 8, a->template_version);
	cx_stmt_int(st, 9, now);
	return cx_stmt_run(st, err);
}

int cx_email_admit(cx_store *s, const cx_email_admission *a, cx_email_verdict *v,
    int64_t *until, cx_err *err)
{
	int64_t now = cx_clock_now(), day = now - now % 86400, n = 0, wait_ms = 0;

	*v = CX_EMAIL_ADMITTED;
	*until = 0;
	/* a crash or power loss after it leaves the item publishing: its lease
	 * runs out and it is reconciled, never sent blindly */
	if (cx_store_begin_light(s, err) < 0)
		return -1;
	if (a->quota >= 0 && today_count(s, a, day, &n, err) < 0)
		goto fail;
	if (a->quota >= 0 && n + 1 > a->quota) {
		*v = CX_EMAIL_OVER_QUOTA;
		*until = day + 86400;
		cx_store_rollback(s);
		return 0;
	}
	if (take_all(s, a, &wait_ms, err) < 0)
		goto fail;
	if (wait_ms > 0) {
		*v = CX_EMAIL_RATE_LIMITED;
		*until = now + (wait_ms + 999) / 1000;
		cx_store_rollback(s);
		return 0;
	}
	if (put(s, a, now, err) < 0 || cx_store_commit(s, err) < 0)
		goto fail;
	return 0;
fail:
	cx_store_rollback(s);
	return -1;
}

int cx_email_sent(cx_store *s, const char *message_id, const char *status,
    const char *provider_message_id, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_sent, err);

	if (!st)
		return -1;
	cx_stmt_text(st, 1, message_id);
	cx_stmt_text(st, 2, status);
	cx_stmt_text(st, 3, provider_message_id);
	cx_stmt_int(st, 4, cx_clock_now());
	return cx_stmt_run(st, err);
}
