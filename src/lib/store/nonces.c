/* nonces.c: the webhook_nonces table of migration 007. */
#include "nonces.h"

static const char sql_prune[] =
    "DELETE FROM webhook_nonces WHERE source = ?1 AND seen_at < ?2";
static const char sql_claim[] =
    "INSERT OR IGNORE INTO webhook_nonces (source, nonce, seen_at)"
    " VALUES (?1, ?2, ?3)";

int cx_nonce_claim(cx_store *s, const char *source, const char *nonce,
    int64_t now, int64_t keep, cx_err *err)
{
	cx_stmt *st;

	if (!(st = cx_store_prepare(s, sql_prune, err)))
		return -1;
	cx_stmt_text(st, 1, source);
	cx_stmt_int(st, 2, now - keep);
	if (cx_stmt_run(st, err) < 0)
		return -1;
	if (!(st = cx_store_prepare(s, sql_claim, err)))
		return -1;
	cx_stmt_text(st, 1, source);
	cx_stmt_text(st, 2, nonce);
	cx_stmt_int(st, 3, now);
	if (cx_stmt_run(st, err) < 0)
		return -1;
	return cx_store_changes(s) == 1;
}
