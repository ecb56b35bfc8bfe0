/* commands.c: the publish_commands table: accepting commands under their
 * idempotency keys, with the audit row and counter in one transaction.
 * Reading commands, claims and outcomes run in outbound.c, on
 * commands_table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "clock.h"
#include "commands.h"
#include "crypto.h"
#include "exit.h"
#include "inbox.h"
#include "json.h"
#include "outbound.h"
#include "unicode.h"

#define COLUMNS \
	"id, state, channel, kind, workspace, account, tenant, text, text_sha256," \
	" in_reply_to, meta, idempotency_key, origin, correlation_id, requested_by," \
	" requested_at, attempts, next_attempt_at, lease_owner, lease_expires_at," \
	" provider_ref, error_code, error_detail, published_at, updated_at, result"

enum {
	C_ID, C_STATE, C_CHANNEL, C_KIND, C_WORKSPACE, C_ACCOUNT, C_TENANT, C_TEXT,
	C_SHA, C_REPLY, C_META, C_KEY, C_ORIGIN, C_CID, C_REQUESTED_BY,
	C_REQUESTED_AT, C_ATTEMPTS, C_NEXT_AT, C_LEASE_OWNER, C_LEASE_EXPIRES,
	C_PROVIDER_REF, C_ERROR_CODE, C_ERROR_DETAIL, C_PUBLISHED_AT, C_UPDATED_AT,
	C_RESULT,
};

/* The fields of a command that are columns; everything else is meta. */
static const char *const column_fields[] = {
	"channel", "kind", "workspace", "text", "in_reply_to", "correlation_id",
	"account", "idempotency_key", NULL,
};

static const cx_outbound_col item_cols[] = {
	{ "state", C_STATE, 0 }, { "channel", C_CHANNEL, 0 }, { "kind", C_KIND, 0 },
	{ "workspace", C_WORKSPACE, 0 }, { "account", C_ACCOUNT, 0 },
	{ "tenant", C_TENANT, 0 }, { "text", C_TEXT, 0 }, { "text_sha256", C_SHA, 0 },
	{ "in_reply_to", C_REPLY, 0 }, { "idempotency_key", C_KEY, 0 },
	{ "origin", C_ORIGIN, 0 }, { "correlation_id", C_CID, 0 },
	{ "requested_by", C_REQUESTED_BY, 0 }, { "requested_at", C_REQUESTED_AT, 1 },
	{ "next_attempt_at", C_NEXT_AT, 1 }, { "lease_owner", C_LEASE_OWNER, 0 },
	{ "lease_expires_at", C_LEASE_EXPIRES, 1 },
	{ "provider_ref", C_PROVIDER_REF, 0 }, { "error_code", C_ERROR_CODE, 0 },
	{ "error_detail", C_ERROR_DETAIL, 0 }, { "published_at", C_PUBLISHED_AT, 1 },
	{ "updated_at", C_UPDATED_AT, 1 }, { "result", C_RESULT, CX_OUTBOUND_JSON },
};

static const cx_outbound_row item_row = {
	item_cols, sizeof item_cols / sizeof item_cols[0], C_ID, C_ATTEMPTS, C_META,
	cx_stmt_col_time,
};

static const char *const command_audit_fields[] = {
	"channel", "kind", "idempotency_key", NULL,
};
static const char *const command_event_fields[] = {
	"idempotency_key", "channel", "kind", "workspace", "text", "in_reply_to",
	"origin", NULL,
};

static const cx_outbound_table commands_table = {
	.noun = "command",
	.subject = "command",
	.id_key = "command_id",
	.not_a_state = "not a state",
	.audit_fields = command_audit_fields,
	.event_fields = command_event_fields,
	.row = &item_row,
	.sql = CX_OUTBOUND_SQL("publish_commands", COLUMNS),
};

int cx_commands_get(cx_store *s, int64_t id, jv *item, cx_err *err)
{
	return cx_outbound_get(&commands_table, s, id, item, err);
}

int cx_commands_list(cx_store *s, const char *state, const char *channel,
    void (*each)(jv item, void *ctx), void *ctx, cx_err *err)
{
	return cx_outbound_list(&commands_table, s, state, channel, each, ctx, err);
}

jv cx_commands_event(jv item, const char *state, const char *actor)
{
	return cx_outbound_event(&commands_table, item, state, actor);
}

/* --- accepting ------------------------------------------------------------ */

static const char sql_by_key[] =
    "SELECT id FROM publish_commands WHERE channel = ?1 AND workspace = ?2"
    " AND idempotency_key = ?3";
static const char sql_insert[] =
    "INSERT INTO publish_commands (channel, kind, workspace, account, tenant, text,"
    " text_sha256, in_reply_to, meta, idempotency_key, origin, state, correlation_id,"
    " requested_by, requested_at, next_attempt_at, updated_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'approved', ?12, ?13,"
    " ?14, ?14, ?14)";

/* The id of the command stored under channel, workspace and key; 0 when
 * there is none. */
static int find_key(cx_store *s, const char *channel, const char *workspace,
    const char *key, int64_t *id, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_by_key, err);
	int rc;

	*id = 0;
	if (!st)
		return -1;
	cx_stmt_text(st, 1, channel);
	cx_stmt_text(st, 2, workspace);
	cx_stmt_text(st, 3, key);
	if ((rc = cx_stmt_step(st, err)) == 1)
		*id = cx_stmt_col_int(st, 0);
	cx_stmt_reset(st);
	return rc < 0 ? -1 : 0;
}

/* Keys travel in an Idempotency-Key header: visible ASCII only. */
static int key_ok(const char *key)
{
	size_t n = key ? strlen(key) : 0;

	if (n == 0 || n > 256)
		return 0;
	for (const char *p = key; *p; p++)
		if (*p < 0x21 || *p > 0x7e)
			return 0;
	return 1;
}

/* Inserts command c (not consumed, checked as ck) with its text nfc, in
 * the caller's transaction; *id gets its id. */
static int insert(cx_store *s, jv c, const cx_queue_checked *ck, const char *nfc,
    size_t len, const char *sha, const char *key, const char *origin,
    const char *actor, int64_t *id, cx_err *err)
{
	const char *channel = cx_json_str(c, "channel"), *workspace = cx_json_str(c, "workspace");
	const char *given = cx_json_str(c, "correlation_id");
	char cid[CX_CORRELATION_ID_LEN], *meta_json, *tenant;
	int64_t now = cx_clock_now();
	jv meta = jv_copy(c);
	cx_stmt *st;
	int rc = -1;

	if (!given)
		cx_inbox_new_correlation_id(cid);
	for (const char *const *f = column_fields; *f; f++)
		meta = jv_object_delete(meta, jv_string(*f));
	meta_json = cx_json_dump(meta);
	tenant = cx_accounts_tenant(s, channel, ck->account ? ck->account : workspace, err);
	if (tenant && (st = cx_store_prepare(s, sql_insert, err))) {
		cx_stmt_text(st, 1, channel);
		cx_stmt_text(st, 2, ck->kind ? ck->kind : cx_json_str(c, "kind"));
		cx_stmt_text(st, 3, workspace);
		cx_stmt_text(st, 4, ck->account);
		cx_stmt_text(st, 5, tenant);
		cx_stmt_textn(st, 6, nfc ? nfc : "", len);
		cx_stmt_text(st, 7, sha);
		cx_stmt_text(st, 8, cx_json_str(c, "in_reply_to"));
		cx_stmt_text(st, 9, meta_json);
		cx_stmt_text(st, 10, key);
		cx_stmt_text(st, 11, origin);
		cx_stmt_text(st, 12, given ? given : cid);
		cx_stmt_text(st, 13, actor);
		cx_stmt_int(st, 14, now);
		if ((rc = cx_stmt_run(st, err)) == 0)
			*id = cx_store_last_id(s);
	}
	free(tenant);
	free(meta_json);
	return rc;
}

/* Stores command c (checked as ck) in one transaction with its audit row
 * and counter, unless its key was seen before: *item gets the command, new
 * (*fresh 1) or earlier. The transaction is light (not fsynced): nothing
 * is acknowledged to anyone when a line is accepted, and the engine's
 * first commit, which is fsynced and makes the write-ahead log durable up
 * to it, comes before anything of the command is sent or printed. */
static int store(cx_store *s, jv c, const cx_queue_checked *ck, const char *nfc,
    size_t len, const char *origin, const char *key, const char *actor,
    const char *audit_action, jv *item, int *fresh, cx_err *err)
{
	const char *channel = cx_json_str(c, "channel");
	char sha[2 * CX_SHA256_LEN + 1];
	int64_t id;
	jv detail;

	cx_crypto_sha256_hex(nfc ? nfc : "", len, sha);
	if (cx_store_begin_light(s, err) < 0)
		return -1;
	if (find_key(s, channel, cx_json_str(c, "workspace"), key, &id, err) < 0)
		goto fail;
	if (id > 0) {
		if (cx_commands_get(s, id, item, err) < 0 || cx_store_commit(s, err) < 0)
			goto fail;
		return 0;
	}
	if (insert(s, c, ck, nfc, len, sha, key, origin, actor, &id, err) < 0 ||
	    cx_commands_get(s, id, item, err) < 0)
		goto fail;
	detail = jv_object_set(jv_object(), jv_string("origin"), jv_string(origin));
	detail = jv_object_set(detail, jv_string("text_sha256"), jv_string(sha));
	if (cx_outbound_audit(&commands_table, s, audit_action, actor, *item, detail, err) < 0 ||
	    cx_outbound_count(s, "cx_publish_commands_total", channel, "origin", origin, err) < 0 ||
	    cx_store_commit(s, err) < 0) {
		jv_free(*item);
		goto fail;
	}
	*fresh = 1;
	return 0;
fail:
	cx_store_rollback(s);
	return -1;
}

int cx_commands_accept(cx_store *s, jv c, const char *origin, const char *key,
    const char *actor, const char *audit_action, cx_queue_check *check, jv *item,
    int *fresh, const char **problem, cx_err *err)
{
	const char *text = cx_json_str(c, "text");
	cx_queue_checked ck;
	char *nfc = NULL;
	size_t len = 0;
	int rc = -1;

	*fresh = 0;
	if (!key_ok(key)) {
		jv_free(c);
		if (problem)
			*problem = "invalid_idempotency_key";
		return cx_err_set(err, CX_EXIT_DATAERR, "idempotency_key must be 1 to 256 "
		    "visible ASCII characters (it is sent as a header)");
	}
	if (text) {
		nfc = cx_unicode_nfc(text, strlen(text), &len);
		c = jv_object_set(c, jv_string("text"), jv_string_sized(nfc, (int)len));
	}
	if (check(c, &ck, problem, err) == 0)
		rc = store(s, c, &ck, nfc, len, origin, key, actor, audit_action, item, fresh, err);
	free(nfc);
	jv_free(c);
	return rc;
}

/* --- claims and outcomes -------------------------------------------------- */

int cx_commands_claim_in(cx_store *s, const char *channel, int64_t max,
    int64_t only_id, const char *owner, int64_t lease, jv *claimed, cx_err *err)
{
	return cx_outbound_claim_in(&commands_table, s, channel, max, only_id, owner, lease,
	    claimed, err);
}

int cx_commands_settle(cx_store *s, int64_t id, const cx_queue_outcome *o,
    jv *event, cx_err *err)
{
	return cx_outbound_settle(&commands_table, s, id, o, event, err);
}

int cx_commands_settle_in(cx_store *s, int64_t id, const cx_queue_outcome *o,
    jv *event, cx_err *err)
{
	return cx_outbound_settle_in(&commands_table, s, id, o, event, err);
}

int cx_commands_expire_leases(cx_store *s, cx_lease_gone *gone, int64_t *expired,
    cx_err *err)
{
	return cx_outbound_expire_leases(&commands_table, s, gone, expired, err);
}
