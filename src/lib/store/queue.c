/* queue.c: the queue table: proposals (checked by the check the tools
 * hand in), decisions and edits, each with its audit row and counter in
 * one transaction. Reading items, claims and outcomes run in outbound.c,
 * on queue_table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "clock.h"
#include "crypto.h"
#include "exit.h"
#include "inbox.h"
#include "json.h"
#include "operators.h"
#include "queue.h"
#include "unicode.h"
#include "xalloc.h"

int cx_queue_state_ok(const char *s)
{
	return cx_outbound_state_ok(s);
}

/* --- checks --------------------------------------------------------------- */

/* The proposal fields that are columns; everything else is meta. */
static const char *const column_fields[] = {
	"channel", "kind", "workspace", "text", "in_reply_to", "correlation_id",
	"account", NULL,
};

/* A member that is absent or null. */
static int absent(jv obj, const char *key)
{
	jv v = jv_object_get(jv_copy(obj), jv_string(key));
	int none = !jv_is_valid(v) || jv_get_kind(v) == JV_KIND_NULL;

	jv_free(v);
	return none;
}

static int is_kind(jv obj, const char *key, jv_kind kind)
{
	jv v = jv_object_get(jv_copy(obj), jv_string(key));
	int ok = jv_is_valid(v) && jv_get_kind(v) == kind;

	jv_free(v);
	return ok;
}

int cx_queue_check_shape(jv p, const char **problem, cx_err *err)
{
	const char *code = NULL;

	if (jv_get_kind(p) != JV_KIND_OBJECT) {
		code = "not_object";
		cx_err_set(err, CX_EXIT_DATAERR, "a proposal is a JSON object");
	}
	for (const char *const *f = column_fields; !code && *f; f++)
		if (!absent(p, *f) && !is_kind(p, *f, JV_KIND_STRING)) {
			code = "invalid_field";
			cx_err_set(err, CX_EXIT_DATAERR, "%s must be a string", *f);
		}
	if (code && problem)
		*problem = code;
	return code ? -1 : 0;
}

/* --- reading items -------------------------------------------------------- */

#define ITEM_COLUMNS \
	"id, state, channel, kind, workspace, account, tenant, text, text_sha256," \
	" in_reply_to, meta, correlation_id, proposed_by, proposed_at, approved_by," \
	" rejected_by, decided_at, note, reason, attempts, next_attempt_at," \
	" lease_owner, lease_expires_at, provider_ref, error_code, error_detail," \
	" published_at, updated_at, result"

enum {
	C_ID, C_STATE, C_CHANNEL, C_KIND, C_WORKSPACE, C_ACCOUNT, C_TENANT, C_TEXT,
	C_SHA, C_REPLY, C_META, C_CID, C_PROPOSED_BY, C_PROPOSED_AT, C_APPROVED_BY,
	C_REJECTED_BY, C_DECIDED_AT, C_NOTE, C_REASON, C_ATTEMPTS, C_NEXT_AT,
	C_LEASE_OWNER, C_LEASE_EXPIRES, C_PROVIDER_REF, C_ERROR_CODE, C_ERROR_DETAIL,
	C_PUBLISHED_AT, C_UPDATED_AT, C_RESULT,
};

/* A time column; 0 or less is no time. */
static jv col_time(cx_stmt *st, int col)
{
	return cx_stmt_col_int(st, col) <= 0 ? jv_null() : cx_stmt_col_time(st, col);
}

static const cx_outbound_col item_cols[] = {
	{ "state", C_STATE, 0 }, { "channel", C_CHANNEL, 0 }, { "kind", C_KIND, 0 },
	{ "workspace", C_WORKSPACE, 0 }, { "account", C_ACCOUNT, 0 },
	{ "tenant", C_TENANT, 0 }, { "text", C_TEXT, 0 }, { "text_sha256", C_SHA, 0 },
	{ "in_reply_to", C_REPLY, 0 }, { "correlation_id", C_CID, 0 },
	{ "proposed_by", C_PROPOSED_BY, 0 }, { "proposed_at", C_PROPOSED_AT, 1 },
	{ "approved_by", C_APPROVED_BY, 0 }, { "rejected_by", C_REJECTED_BY, 0 },
	{ "decided_at", C_DECIDED_AT, 1 }, { "note", C_NOTE, 0 },
	{ "reason", C_REASON, 0 }, { "next_attempt_at", C_NEXT_AT, 1 },
	{ "lease_owner", C_LEASE_OWNER, 0 }, { "lease_expires_at", C_LEASE_EXPIRES, 1 },
	{ "provider_ref", C_PROVIDER_REF, 0 }, { "error_code", C_ERROR_CODE, 0 },
	{ "error_detail", C_ERROR_DETAIL, 0 }, { "published_at", C_PUBLISHED_AT, 1 },
	{ "updated_at", C_UPDATED_AT, 1 }, { "result", C_RESULT, CX_OUTBOUND_JSON },
};

static const cx_outbound_row item_row = {
	item_cols, sizeof item_cols / sizeof item_cols[0], C_ID, C_ATTEMPTS, C_META,
	col_time,
};

static const char *const queue_audit_fields[] = { "channel", "kind", NULL };
static const char *const queue_event_fields[] = {
	"channel", "kind", "workspace", "text", "in_reply_to", NULL,
};

static const cx_outbound_table queue_table = {
	.noun = "queue item",
	.subject = "queue",
	.id_key = "queue_id",
	.not_a_state = "not a queue state",
	.decided = 1,
	.audit_fields = queue_audit_fields,
	.event_fields = queue_event_fields,
	.row = &item_row,
	.sql = CX_OUTBOUND_SQL("queue", ITEM_COLUMNS),
};

int cx_queue_get(cx_store *s, int64_t id, jv *item, cx_err *err)
{
	return cx_outbound_get(&queue_table, s, id, item, err);
}

int cx_queue_list(cx_store *s, const char *state, const char *channel,
    void (*each)(jv item, void *ctx), void *ctx, cx_err *err)
{
	return cx_outbound_list(&queue_table, s, state, channel, each, ctx, err);
}

static const char sql_history[] =
    "SELECT sha256, action, actor, at FROM queue_text_history WHERE queue_id = ?1"
    " ORDER BY id";

int cx_queue_history(cx_store *s, int64_t id, void (*each)(jv row, void *ctx),
    void *ctx, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_history, err);
	int rc;

	if (!st)
		return -1;
	cx_stmt_int(st, 1, id);
	while ((rc = cx_stmt_step(st, err)) == 1) {
		jv row = jv_object();

		row = jv_object_set(row, jv_string("sha256"), cx_stmt_col_jv(st, 0));
		row = jv_object_set(row, jv_string("action"), cx_stmt_col_jv(st, 1));
		row = jv_object_set(row, jv_string("actor"), cx_stmt_col_jv(st, 2));
		row = jv_object_set(row, jv_string("at"), col_time(st, 3));
		each(row, ctx);
	}
	cx_stmt_reset(st);
	return rc;
}

/* --- events --------------------------------------------------------------- */

jv cx_queue_event(jv item, const char *state, const char *actor)
{
	return cx_outbound_event(&queue_table, item, state, actor);
}

/* --- changes -------------------------------------------------------------- */

static int blank(const char *s)
{
	return s[strspn(s, " \t\r\n\v\f")] == '\0';
}

static char *subject_of(int64_t id)
{
	return cx_xasprintf("%s:%lld", queue_table.subject, (long long)id);
}

static const char sql_insert[] =
    "INSERT INTO queue (channel, kind, workspace, account, tenant, text, text_sha256,"
    " in_reply_to, meta, state, correlation_id, proposed_by, proposed_at, updated_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', ?10, ?11, ?12, ?12)";
static const char sql_history_add[] =
    "INSERT INTO queue_text_history (queue_id, sha256, action, actor, at)"
    " VALUES (?1, ?2, ?3, ?4, ?5)";

static int add_history(cx_store *s, int64_t id, const char *sha, const char *action,
    const char *actor, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_history_add, err);

	if (!st)
		return -1;
	cx_stmt_int(st, 1, id);
	cx_stmt_text(st, 2, sha);
	cx_stmt_text(st, 3, action);
	cx_stmt_text(st, 4, actor);
	cx_stmt_int(st, 5, cx_clock_now());
	return cx_stmt_run(st, err);
}

/* The text of p in NFC (a new string; *len its length), put in *p when it
 * is whole: what is checked is what is stored. */
static char *nfc_text(jv *p, size_t *len)
{
	const char *text = cx_json_str(*p, "text");
	char *nfc = cx_unicode_nfc(text ? text : "", text ? strlen(text) : 0, len);

	if (text && strlen(text) == (size_t)jv_string_length_bytes(jv_object_get(jv_copy(*p),
	    jv_string("text"))))
		*p = jv_object_set(*p, jv_string("text"), jv_string_sized(nfc, (int)*len));
	return nfc;
}

/* Inserts proposal p (not consumed, checked as c) as pending with its text
 * nfc, in the caller's transaction; *id gets its id. */
static int insert(cx_store *s, jv p, const cx_queue_checked *c, const char *nfc,
    size_t len, const char *sha, const char *actor, int64_t *id, cx_err *err)
{
	const char *given = cx_json_str(p, "correlation_id"), *channel = cx_json_str(p, "channel");
	char cid[CX_CORRELATION_ID_LEN], *meta_json, *tenant;
	jv meta = jv_copy(p);
	cx_stmt *st;
	int rc = -1;

	if (!given)
		cx_inbox_new_correlation_id(cid);
	for (const char *const *f = column_fields; *f; f++)
		meta = jv_object_delete(meta, jv_string(*f));
	meta_json = cx_json_dump(meta);
	tenant = cx_accounts_tenant(s, channel, c->account ? c->account :
	    cx_json_str(p, "workspace"), err);
	if (tenant && (st = cx_store_prepare(s, sql_insert, err))) {
		cx_stmt_text(st, 1, channel);
		cx_stmt_text(st, 2, c->kind ? c->kind : cx_json_str(p, "kind"));
		cx_stmt_text(st, 3, cx_json_str(p, "workspace"));
		cx_stmt_text(st, 4, c->account);
		cx_stmt_text(st, 5, tenant);
		cx_stmt_textn(st, 6, nfc, len);
		cx_stmt_text(st, 7, sha);
		cx_stmt_text(st, 8, cx_json_str(p, "in_reply_to"));
		cx_stmt_text(st, 9, meta_json);
		cx_stmt_text(st, 10, given ? given : cid);
		cx_stmt_text(st, 11, actor);
		cx_stmt_int(st, 12, cx_clock_now());
		if ((rc = cx_stmt_run(st, err)) == 0)
			*id = cx_store_last_id(s);
	}
	free(tenant);
	free(meta_json);
	return rc;
}

static const char sql_by_key[] =
    "SELECT id FROM queue WHERE correlation_id = ?1 AND proposed_by = ?2"
    " AND json_extract(meta, '$.idempotency_key') = ?3 ORDER BY id LIMIT 1";

/* The item actor proposed with p's correlation id and idempotency key, in
 * the caller's transaction; *id 0 when there is none. */
static int find_key(cx_store *s, jv p, const char *actor, int64_t *id, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_by_key, err);
	int rc;

	*id = 0;
	if (!st)
		return -1;
	cx_stmt_text(st, 1, cx_json_str(p, "correlation_id"));
	cx_stmt_text(st, 2, actor);
	cx_stmt_text(st, 3, cx_json_str(p, "idempotency_key"));
	if ((rc = cx_stmt_step(st, err)) == 1)
		*id = cx_stmt_col_int(st, 0);
	cx_stmt_reset(st);
	return rc < 0 ? -1 : 0;
}

/* Both ways in: once (seen not NULL) finds an earlier item first. */
static int enqueue(cx_store *s, jv p, const char *actor, cx_queue_check *check,
    jv *event, int64_t *seen, const char **problem, cx_err *err)
{
	char sha[2 * CX_SHA256_LEN + 1];
	cx_queue_checked c;
	size_t len;
	char *nfc = nfc_text(&p, &len);
	int64_t id = 0;
	jv item;
	int rc = -1;

	if (check(p, &c, problem, err) < 0 || cx_store_begin(s, err) < 0)
		goto out;
	if (seen && (find_key(s, p, actor, seen, err) < 0 || *seen > 0)) {
		if (*seen > 0 && cx_store_commit(s, err) == 0) {
			*event = jv_null();
			rc = 0;
		} else {
			cx_store_rollback(s);
		}
		goto out;
	}
	cx_crypto_sha256_hex(nfc, len, sha);
	if (insert(s, p, &c, nfc, len, sha, actor, &id, err) < 0 ||
	    add_history(s, id, sha, "proposed", actor, err) < 0 ||
	    cx_queue_get(s, id, &item, err) < 0) {
		cx_store_rollback(s);
		goto out;
	}
	if (cx_outbound_audit(&queue_table, s, "post_proposed", actor, item,
	    jv_object_set(jv_object(), jv_string("text_sha256"), jv_string(sha)), err) < 0 ||
	    cx_outbound_count(s, "cx_queue_items_total", cx_json_str(p, "channel"), "state",
	    "proposed", err) < 0 || cx_store_commit(s, err) < 0) {
		jv_free(item);
		cx_store_rollback(s);
		goto out;
	}
	*event = cx_queue_event(item, "proposed", actor);
	rc = 0;
out:
	free(nfc);
	jv_free(p);
	return rc;
}

int cx_queue_enqueue(cx_store *s, jv p, const char *actor, cx_queue_check *check,
    jv *event, const char **problem, cx_err *err)
{
	return enqueue(s, p, actor, check, event, NULL, problem, err);
}

int cx_queue_enqueue_once(cx_store *s, jv p, const char *actor, cx_queue_check *check,
    jv *event, int64_t *seen, const char **problem, cx_err *err)
{
	*seen = 0;
	if (!cx_json_str(p, "correlation_id") || !cx_json_str(p, "idempotency_key")) {
		jv_free(p);
		return cx_err_set(err, CX_EXIT_USAGE, "a proposal queued once names its "
		    "correlation_id and idempotency_key");
	}
	return enqueue(s, p, actor, check, event, seen, problem, err);
}

static int require_pending(jv item, const char *verb, cx_err *err)
{
	const char *state = cx_json_str(item, "state");

	if (strcmp(state, "pending") == 0)
		return 0;
	return cx_err_set(err, CX_EXIT_SOME_FAILED,
	    "cannot %s queue item %lld: it is %s, not pending; nothing changed", verb,
	    (long long)jv_number_value(jv_object_get(jv_copy(item), jv_string("id"))),
	    state);
}

static const char sql_approve[] =
    "UPDATE queue SET state = 'approved', approved_by = ?2, decided_at = ?3,"
    " note = ?4, next_attempt_at = ?3, updated_at = ?3"
    " WHERE id = ?1 AND state = 'pending'";
static const char sql_reject[] =
    "UPDATE queue SET state = 'rejected', rejected_by = ?2, decided_at = ?3,"
    " reason = ?4, updated_at = ?3 WHERE id = ?1 AND state = 'pending'";

int cx_queue_decide(cx_store *s, int64_t id, const char *actor, int approve,
    const char *text, jv *event, cx_err *err)
{
	const char *verb = approve ? "approve" : "reject";
	char *subject = subject_of(id);
	jv item = jv_invalid(), detail;
	cx_stmt *st;
	int rc;

	if (!approve && (!text || blank(text))) {
		free(subject);
		return cx_err_set(err, CX_EXIT_USAGE, "a rejection needs a reason");
	}
	if (cx_store_begin(s, err) < 0) {
		free(subject);
		return -1;
	}
	rc = cx_operators_check(s, actor, CX_ROLE_ADMIN, "approval_denied", verb,
	    subject, err);
	free(subject);
	if (rc < 0)
		return cx_operators_end_refused(s, err);
	if (cx_queue_get(s, id, &item, err) < 0 || require_pending(item, verb, err) < 0 ||
	    !(st = cx_store_prepare(s, approve ? sql_approve : sql_reject, err)))
		goto fail;
	cx_stmt_int(st, 1, id);
	cx_stmt_text(st, 2, actor);
	cx_stmt_int(st, 3, cx_clock_now());
	cx_stmt_text(st, 4, text && *text ? text : NULL);
	if (cx_stmt_run(st, err) < 0)
		goto fail;
	jv_free(item);
	if (cx_queue_get(s, id, &item, err) < 0) {
		item = jv_invalid();
		goto fail;
	}
	detail = jv_object_set(jv_object(), jv_string(approve ? "note" : "reason"),
	    text && *text ? jv_string(text) : jv_null());
	cx_outbound_copy(&detail, item, "text_sha256", NULL);
	if (cx_outbound_audit(&queue_table, s, approve ? "post_approved" : "post_rejected", actor, item,
	    detail, err) < 0 ||
	    cx_outbound_count(s, "cx_queue_items_total", cx_json_str(item, "channel"), "state",
	    approve ? "approved" : "rejected", err) < 0 ||
	    cx_store_commit(s, err) < 0)
		goto fail;
	*event = cx_queue_event(item, approve ? "approved" : "rejected", actor);
	return 0;
fail:
	jv_free(item);
	cx_store_rollback(s);
	return -1;
}

/* The proposal an edit of item to text amounts to (a new value). */
static jv edited_proposal(jv item, const char *text)
{
	jv p = jv_object_get(jv_copy(item), jv_string("meta"));

	cx_outbound_copy(&p, item, "channel", NULL);
	cx_outbound_copy(&p, item, "kind", NULL);
	cx_outbound_copy(&p, item, "workspace", NULL);
	cx_outbound_copy(&p, item, "in_reply_to", NULL);
	return jv_object_set(p, jv_string("text"), jv_string(text));
}

static const char sql_edit[] =
    "UPDATE queue SET text = ?2, text_sha256 = ?3, updated_at = ?4"
    " WHERE id = ?1 AND state = 'pending'";

int cx_queue_edit(cx_store *s, int64_t id, const char *actor, const char *text,
    cx_queue_check *check, jv *out, const char **problem, cx_err *err)
{
	char sha[2 * CX_SHA256_LEN + 1], *subject = subject_of(id), *nfc = NULL;
	jv item = jv_invalid(), proposal, detail;
	cx_queue_checked c;
	cx_stmt *st;
	size_t len;
	int rc;

	if (cx_store_begin(s, err) < 0) {
		free(subject);
		return -1;
	}
	rc = cx_operators_check(s, actor, CX_ROLE_ADMIN, "approval_denied", "edit",
	    subject, err);
	free(subject);
	if (rc < 0)
		return cx_operators_end_refused(s, err);
	if (cx_queue_get(s, id, &item, err) < 0 || require_pending(item, "edit", err) < 0)
		goto fail;
	proposal = edited_proposal(item, text);
	if ((rc = check(proposal, &c, problem, err)) == 0) {
		nfc = cx_unicode_nfc(text, strlen(text), &len);
		/* the audit row gives the length of the text as stored, in NFC */
		proposal = jv_object_set(proposal, jv_string("text"), jv_string_sized(nfc, (int)len));
		check(proposal, &c, NULL, NULL);
	}
	jv_free(proposal);
	if (rc < 0)
		goto fail;
	cx_crypto_sha256_hex(nfc, len, sha);
	if (strcmp(sha, cx_json_str(item, "text_sha256")) == 0) {
		free(nfc);
		if (cx_store_commit(s, err) < 0)
			goto fail;
		if (out)
			*out = item;
		else
			jv_free(item);
		return 0;
	}
	if (!(st = cx_store_prepare(s, sql_edit, err)))
		goto fail;
	cx_stmt_int(st, 1, id);
	cx_stmt_textn(st, 2, nfc, len);
	cx_stmt_text(st, 3, sha);
	cx_stmt_int(st, 4, cx_clock_now());
	if (cx_stmt_run(st, err) < 0 || add_history(s, id, sha, "edited", actor, err) < 0)
		goto fail;
	detail = jv_object_set(jv_object(), jv_string("from_sha256"),
	    jv_string(cx_json_str(item, "text_sha256")));
	detail = jv_object_set(detail, jv_string("to_sha256"), jv_string(sha));
	jv_free(item);
	if (cx_queue_get(s, id, &item, err) < 0) {
		item = jv_invalid();
		jv_free(detail);
		goto fail;
	}
	detail = jv_object_set(detail, jv_string("length"), jv_number((double)c.length));
	if (cx_outbound_audit(&queue_table, s, "post_edited", actor, item, detail, err) < 0 ||
	    cx_store_commit(s, err) < 0)
		goto fail;
	free(nfc);
	if (out)
		*out = item;
	else
		jv_free(item);
	return 0;
fail:
	free(nfc);
	jv_free(item);
	cx_store_rollback(s);
	return -1;
}

/* --- cx-publish's side ---------------------------------------------------- */

int cx_queue_claim_in(cx_store *s, const char *channel, int64_t max,
    const char *owner, int64_t lease, jv *claimed, cx_err *err)
{
	return cx_outbound_claim_in(&queue_table, s, channel, max, 0, owner, lease, claimed,
	    err);
}

int cx_queue_settle(cx_store *s, int64_t id, const cx_queue_outcome *o,
    jv *event, cx_err *err)
{
	return cx_outbound_settle(&queue_table, s, id, o, event, err);
}

int cx_queue_settle_in(cx_store *s, int64_t id, const cx_queue_outcome *o,
    jv *event, cx_err *err)
{
	return cx_outbound_settle_in(&queue_table, s, id, o, event, err);
}

int cx_queue_expire_leases(cx_store *s, cx_lease_gone *gone, int64_t *expired, cx_err *err)
{
	return cx_outbound_expire_leases(&queue_table, s, gone, expired, err);
}
